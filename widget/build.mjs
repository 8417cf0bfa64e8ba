// Builds dist/widget.js (one minified IIFE) and prints its size, gzip size and the
// SRI hash to pin it with. `node build.mjs` from widget/ (or `make widget`).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist', 'widget.js');
mkdirSync(dirname(out), { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'widget.js')],
  outfile: out,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  loader: { '.css': 'text' },
  legalComments: 'none',
  logLevel: 'warning',
});
const bytes = readFileSync(out);
const gzip = gzipSync(bytes, { level: 9 }).length;
const sri = 'sha384-' + createHash('sha384').update(bytes).digest('base64');
writeFileSync(join(here, 'dist', 'widget.js.sri'), sri + '\n');
const limit = 20 * 1024;
console.log(`widget: dist/widget.js ${bytes.length} bytes, ${gzip} bytes gzip (budget ${limit})`);
console.log(`widget: integrity="${sri}"`);
if (gzip > limit) {
  console.error(`widget: over the ${limit}-byte gzip budget`);
  process.exit(1);
}
