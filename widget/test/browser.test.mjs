// The widget in headless Chromium against a real `docent serve`.
//
// Set-up: index corpus/ plus a hostile page into a temporary data dir, create a
// public key for the test's origin, start the server on a free loopback port. Then
// drive /demo with playwright-core: streaming, citations, follow-up, history after
// a reload, the fallback, hostile content, feedback (stored, replaced, shown after a
// reload), handoff (button and phrase: the bot stops answering until an admin gives
// the conversation back), stop, 429 and network failure, keyboard and phone width.
// Every wait is on a condition.
//
//   node test/browser.test.mjs   (env: DOCENT_BIN, CHROMIUM, DOCENT_MODELS)

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, existsSync, rmSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const bin = process.env.DOCENT_BIN || join(process.env.CARGO_TARGET_DIR || join(repo, 'target'), 'release', 'docent');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = join(repo, 'target', 'widget');
const widgetFile = join(repo, 'widget', 'dist', 'widget.js');
const WAIT = 30_000;

const SHADOW = () => document.querySelector('#docent-widget')?.shadowRoot;

async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => ok(port));
    });
  });
}

async function waitReady(base, server) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`docent serve exited with ${server.exitCode}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error('docent serve did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const results = [];
async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    results.push([true, name]);
    console.log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push([false, name]);
    console.log(`FAIL ${name}\n     ${String(e?.stack || e).split('\n').join('\n     ')}`);
  }
}

// ---- set-up ---------------------------------------------------------------
assert.ok(existsSync(bin), `no docent binary at ${bin} (cargo build --release)`);
assert.ok(existsSync(widgetFile), `no ${widgetFile} (npm run build)`);
const tmp = mkdtempSync(join(tmpdir(), 'docent-widget-'));
const data = join(tmp, 'data');
const extra = join(tmp, 'extra');
mkdirSync(join(data, 'bots', 'docs'), { recursive: true });
mkdirSync(extra, { recursive: true });
// A page whose text is markup: it must reach the widget as text, never as HTML.
const HOSTILE = `<img src=x onerror="window.__pwned=1">`;
// Markdown escapes keep the markup as text through extraction, as a docs page
// explaining HTML would.
const md = (t) => t.replace(/</g, '\\<');
writeFileSync(
  join(extra, 'zorblax-notice.md'),
  `# Zorblax ${md(`<img src=x onerror="window.__pwned=2">`)} notice\n\n## Zorblax marker\n\n` +
    `The Zorblax marker of the ledger export is ${md(HOSTILE)} and the support team keeps the Zorblax marker as typed text.\n`,
);
// Reuse embeddings computed by an earlier `make run` (pure speed-up: a cache by text hash).
const cache = join(repo, 'data', 'bots', 'docs', 'embeddings.cache');
if (existsSync(cache)) copyFileSync(cache, join(data, 'bots', 'docs', 'embeddings.cache'));
execFileSync(
  bin,
  ['ingest', join(repo, 'corpus'), extra, '--bot', 'docs', '--data', data, '--base-url', 'https://help.lumenledger.example/', '-q'],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const key = execFileSync(
  bin,
  ['keys', 'create', '--data', data, '--public', '--bot', 'docs', '--origin', base, '--name', 'widget-test'],
  { stdio: ['ignore', 'pipe', 'ignore'] },
)
  .toString()
  .trim();
assert.match(key, /^pk_/);
writeFileSync(join(data, 'demo-key.txt'), key + '\n');
// A secret admin key for the test's own reads and the "give back" of a handoff.
const adminKey = execFileSync(bin, ['keys', 'create', '--data', data, '--scopes', 'admin', '--name', 'widget-test-admin'], {
  stdio: ['ignore', 'pipe', 'ignore'],
})
  .toString()
  .trim();
assert.match(adminKey, /^sk_/);
const config = join(tmp, 'docent.toml');
writeFileSync(
  config,
  `[widget]\nfile = ${JSON.stringify(widgetFile)}\n\n[[bots]]\nid = "docs"\n` +
    `rate_limit = { per_minute = 600, burst = 60, public_per_minute = 120, public_burst = 30 }\n` +
    // Words arrive as separate reads, so progressive rendering is observable.
    `pacing_ms = 20\n`,
);
mkdirSync(artifacts, { recursive: true });
const log = openSync(join(artifacts, 'server.log'), 'w');
const server = spawn(bin, ['serve', '--config', config, '--data', data, '--listen', `127.0.0.1:${port}`], {
  stdio: ['ignore', log, log],
});
let browser;
try {
  await waitReady(base, server);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await run(browser);
} finally {
  await browser?.close();
  server.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
const failed = results.filter(([ok]) => !ok).length;
console.log(`\n${results.length - failed} passed, ${failed} failed; screenshot and server log in ${artifacts}`);
process.exit(failed ? 1 : 0);

// ---- the tests --------------------------------------------------------------

/** An admin call to the server (outside the page): `{status, body}`. */
async function admin(method, path) {
  const r = await fetch(`${base}${path}`, { method, headers: { Authorization: `Bearer ${adminKey}` } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** Whether the widget shows its "handed to a person" banner. */
async function bannerShown(page) {
  return page.evaluate(() => {
    const b = document.querySelector('#docent-widget').shadowRoot.querySelector('.dw-banner');
    return !!b && !b.hidden && getComputedStyle(b).display !== 'none';
  });
}

/** The last answer bubble's state. */
async function lastAnswer(page) {
  return page.evaluate(() => {
    const root = document.querySelector('#docent-widget').shadowRoot;
    const bots = [...root.querySelectorAll('.dw-bot:not(.dw-greeting)')];
    const b = bots[bots.length - 1];
    return b
      ? {
          count: bots.length,
          text: b.querySelector('.dw-body')?.textContent || '',
          finish: b.dataset.finish || null,
          id: b.dataset.messageId || null,
          cites: [...b.querySelectorAll('.dw-body a.dw-cite')].map((a) => a.href),
          sources: [...b.querySelectorAll('.dw-sources a')].map((a) => a.href),
          imgs: b.querySelectorAll('img').length,
        }
      : null;
  });
}

/** Ask through the form and wait for the answer bubble number `n` to finish. */
async function ask(page, question, n) {
  await page.locator('.dw-input').fill(question);
  await page.locator('.dw-input').press('Enter');
  await page.waitForFunction(
    (n) => {
      const bots = document.querySelector('#docent-widget').shadowRoot.querySelectorAll('.dw-bot:not(.dw-greeting)');
      return bots.length === n && (bots[n - 1].dataset.finish || bots[n - 1].classList.contains('dw-failed'));
    },
    n,
    { timeout: WAIT },
  );
  return lastAnswer(page);
}

async function run(browser) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 850 } });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const chatBodies = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/chat') && r.method() === 'POST') chatBodies.push(JSON.parse(r.postData() || '{}'));
  });

  await step('GET /widget.js is cacheable with an ETag and a 304 revalidation', async () => {
    const r = await fetch(`${base}/widget.js`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /javascript/);
    assert.match(r.headers.get('cache-control') || '', /max-age=\d+/);
    const etag = r.headers.get('etag');
    assert.ok(etag, 'ETag');
    const again = await fetch(`${base}/widget.js`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    const demo = await (await fetch(`${base}/demo`)).text();
    assert.ok(demo.includes(`data-key="${key}"`), 'the demo embeds the public key');
    assert.ok(!/sk_/.test(demo), 'no secret key in the page');
  });

  await step('the demo page opens the widget from the keyboard with focus in the input', async () => {
    await page.goto(`${base}/demo`);
    const launcher = page.locator('.dw-launcher');
    await launcher.waitFor({ state: 'visible', timeout: WAIT });
    await launcher.focus();
    await page.keyboard.press('Enter');
    await page.locator('.dw-panel').waitFor({ state: 'visible' });
    assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
    assert.equal(await page.evaluate(() => document.querySelector('#docent-widget').shadowRoot.activeElement?.className), 'dw-input');
    assert.equal(await page.locator('.dw-log').getAttribute('aria-live'), 'polite');
    await page.keyboard.press('Escape');
    await page.locator('.dw-panel').waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.querySelector('#docent-widget').shadowRoot.activeElement?.className), 'dw-launcher');
    await page.keyboard.press('Enter');
    await page.locator('.dw-panel').waitFor({ state: 'visible' });
  });

  let conversation = null;
  await step('a sample question streams progressively and cites the refunds page', async () => {
    // Record every text state of the answer that renders before it is finished.
    await page.evaluate(() => {
      const root = document.querySelector('#docent-widget').shadowRoot;
      window.__states = [];
      new MutationObserver(() => {
        const bots = root.querySelectorAll('.dw-bot:not(.dw-greeting)');
        const b = bots[bots.length - 1];
        if (!b || b.dataset.finish) return;
        const t = b.querySelector('.dw-body')?.textContent || '';
        if (t && window.__states[window.__states.length - 1] !== t) window.__states.push(t);
      }).observe(root.querySelector('.dw-log'), { childList: true, subtree: true, characterData: true });
    });
    const a = await ask(page, 'What is the refund window for Lumen Ledger subscriptions?', 1);
    assert.equal(a.finish, 'stop', JSON.stringify(a));
    const states = await page.evaluate(() => window.__states);
    assert.ok(states.length >= 2, `at least two intermediate states before done, saw ${states.length}`);
    assert.notEqual(states[0], states[1]);
    assert.ok(a.text.startsWith(states[0].slice(0, 10)) || a.text.length >= states[0].length, 'states grow towards the answer');
    assert.match(a.text, /30 days/);
    assert.ok(a.cites.length > 0, 'numbered citation links');
    assert.ok(
      a.cites.some((h) => h.startsWith('https://help.lumenledger.example/billing/refunds#')),
      `a citation links the refunds page with its anchor: ${a.cites}`,
    );
    assert.ok(a.sources.some((h) => h.startsWith('https://help.lumenledger.example/billing/refunds')), 'sources list');
    conversation = await page.evaluate(() => localStorage.getItem('docent:docs:conversation'));
    assert.match(conversation || '', /^conv_/);
    assert.equal(chatBodies[0].stream, true);
    assert.equal(chatBodies[0].conversation_id, null);
    await page.screenshot({ path: join(artifacts, 'answered.png') });
  });

  await step('a follow-up goes to the same conversation and is answered in its context', async () => {
    const a = await ask(page, 'How long until the refunded money shows up on my card?', 2);
    assert.equal(chatBodies[1].conversation_id, conversation);
    assert.equal(await page.evaluate(() => localStorage.getItem('docent:docs:conversation')), conversation);
    assert.match(a.text, /business days/, a.text);
    assert.ok(a.cites.some((h) => h.startsWith('https://help.lumenledger.example/billing/refunds#')), `${a.cites}`);
  });

  await step('feedback is stored on the answer and shows as pressed after a reload', async () => {
    const { id } = await lastAnswer(page);
    assert.match(id || '', /^msg_/);
    const bubble = page.locator('.dw-bot:not(.dw-greeting)').last();
    const [fb] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/v1/messages/${id}/feedback`) && r.request().method() === 'POST'),
      bubble.locator('.dw-up').click(),
    ]);
    assert.deepEqual(JSON.parse(fb.request().postData()), { rating: 'up' });
    assert.equal(fb.status(), 201);
    assert.equal(await bubble.locator('.dw-up').getAttribute('aria-pressed'), 'true');
    await bubble.locator('.dw-note').filter({ hasText: 'Thanks for the feedback' }).waitFor();
    // Stored: the conversation read (admin) shows it on that message.
    const c = await admin('GET', `/v1/conversations/${conversation}?limit=100`);
    assert.equal(c.status, 200);
    const stored = c.body.messages.data.find((m) => m.id === id);
    assert.equal(stored?.feedback?.rating, 'up', JSON.stringify(stored));
    // A change of mind replaces it.
    const [again] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/v1/messages/${id}/feedback`)),
      bubble.locator('.dw-down').click(),
    ]);
    assert.equal(again.status(), 200);
    const after = await admin('GET', `/v1/conversations/${conversation}?limit=100`);
    assert.equal(after.body.messages.data.find((m) => m.id === id)?.feedback?.rating, 'down');
    assert.equal(await bubble.locator('.dw-up').getAttribute('aria-pressed'), 'false');
  });

  await step('"Talk to a human" hands the conversation off: the bot stops answering until it is given back', async () => {
    const bubble = page.locator('.dw-bot:not(.dw-greeting)').last();
    const [ho] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/v1/conversations/${conversation}/handoff`)),
      bubble.locator('.dw-handoff').click(),
    ]);
    assert.equal(ho.request().method(), 'POST');
    assert.equal(ho.status(), 200);
    assert.deepEqual(JSON.parse(ho.request().postData()), { reason: 'visitor asked from the widget' });
    await bubble.locator('.dw-note').filter({ hasText: 'A person will follow up' }).waitFor();
    assert.equal(await bannerShown(page), true, 'the handoff banner is shown');
    assert.equal((await admin('GET', `/v1/conversations/${conversation}`)).body.state, 'handoff');
    // The next question is not answered: the widget says a person has it, no retry.
    const a = await ask(page, 'Which roles can manage API keys?', 3);
    assert.equal(a.finish, 'handed_off', JSON.stringify(a));
    assert.match(a.text, /handed to a person/);
    assert.equal(await page.locator('.dw-bot:not(.dw-greeting)').last().locator('.dw-retry').count(), 0);
    assert.equal(await bannerShown(page), true);
    // An admin gives it back; the refused question left nothing in the history.
    const back = await admin('DELETE', `/v1/conversations/${conversation}/handoff`);
    assert.equal(back.status, 200);
    assert.equal(back.body.state, 'open');
    const c = await admin('GET', `/v1/conversations/${conversation}?limit=100`);
    assert.equal(c.body.messages.data.length, 4, 'two questions and two answers');
  });

  await step('after a reload the history is shown again', async () => {
    await page.reload();
    await page.locator('.dw-launcher').click();
    await page.waitForFunction(() => document.querySelector('#docent-widget').shadowRoot.querySelectorAll('.dw-user').length === 2, null, {
      timeout: WAIT,
    });
    const users = await page.locator('.dw-user').allTextContents();
    assert.deepEqual(users, [
      'What is the refund window for Lumen Ledger subscriptions?',
      'How long until the refunded money shows up on my card?',
    ]);
    const a = await lastAnswer(page);
    assert.equal(a.count, 2);
    assert.match(a.text, /business days/);
    assert.ok(a.cites.length > 0, 'history keeps the citation links');
    const last = page.locator('.dw-bot:not(.dw-greeting)').last();
    assert.equal(await last.locator('.dw-down').getAttribute('aria-pressed'), 'true', 'stored feedback shows as pressed');
    assert.equal(await bannerShown(page), false, 'given back: no handoff banner');
  });

  await step('an unanswerable question gets the fallback, not an invented answer', async () => {
    const a = await ask(page, "What's the weather in Paris today?", 3);
    assert.equal(a.finish, 'no_answer', JSON.stringify(a));
    assert.match(a.text, /couldn't find this in the documentation/);
    assert.equal(a.cites.length, 0);
  });

  await step('hostile markup in a source renders as text', async () => {
    const a = await ask(page, 'What is the Zorblax marker of the ledger export?', 4);
    assert.equal(a.finish, 'stop', JSON.stringify(a));
    assert.ok(a.text.includes('<img src=x onerror='), `the markup is shown as text: ${a.text}`);
    assert.equal(a.imgs, 0, 'no <img> element was created');
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no handler ran');
    const titles = await page.locator('.dw-bot:not(.dw-greeting)').last().locator('.dw-sources a').allTextContents();
    assert.ok(titles.some((t) => t.includes('Zorblax <img src=x')), `the title is text too: ${titles}`);
  });

  await step('text meets WCAG AA contrast (4.5:1) in the light and dark themes', async () => {
    for (const theme of ['light', 'dark']) {
      const worst = await page.evaluate((theme) => {
        const host = document.querySelector('#docent-widget');
        host.dataset.theme = theme;
        const root = host.shadowRoot;
        const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => {
          const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
          return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const bg = (el) => {
          for (let e = el; e; e = e.parentElement || e.getRootNode().host) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
          }
          return [255, 255, 255];
        };
        const sel = ['.dw-launcher', '.dw-title', '.dw-send', '.dw-user p', '.dw-bot .dw-body p', '.dw-cite', '.dw-sources a',
          '.dw-sources-title', '.dw-note', '.dw-error', '.dw-btn', '.dw-input'];
        let min = { ratio: Infinity, seen: new Set() };
        for (const s of sel) {
          for (const el of root.querySelectorAll(s)) {
            const a = lum(rgb(getComputedStyle(el).color).slice(0, 3));
            const b = lum(bg(el));
            const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            min.seen.add(s);
            if (ratio < min.ratio) min = { ...min, ratio, s };
          }
        }
        return { ...min, seen: [...min.seen] };
      }, theme);
      assert.ok(worst.seen.length >= 10, `measured ${worst.seen}`);
      assert.ok(worst.ratio >= 4.5, `${theme}: ${worst.s} has contrast ${worst.ratio.toFixed(2)}`);
    }
    await page.evaluate(() => (document.querySelector('#docent-widget').dataset.theme = 'light'));
  });

  await step('"New conversation" forgets the conversation', async () => {
    await page.locator('.dw-new').click();
    assert.equal(await page.locator('.dw-user').count(), 0);
    assert.equal(await page.evaluate(() => localStorage.getItem('docent:docs:conversation')), null);
    assert.equal(await page.evaluate(() => document.querySelector('#docent-widget').shadowRoot.activeElement?.className), 'dw-input');
  });

  await step('stop aborts the request', async () => {
    let hung;
    await page.route('**/v1/chat', (route) => {
      hung = route; // never answered: the answer is "still streaming"
    });
    const failedReq = page.waitForEvent('requestfailed', (r) => r.url().endsWith('/v1/chat'));
    await page.locator('.dw-input').fill('Which roles can manage API keys?');
    await page.locator('.dw-input').press('Enter');
    await page.locator('.dw-stop').waitFor({ state: 'visible' });
    await page.locator('.dw-stop').click();
    await failedReq;
    await page.locator('.dw-bot[data-finish="cancelled"]').waitFor();
    await page.locator('.dw-send').waitFor({ state: 'visible' });
    assert.ok(hung, 'the request reached the route');
    await page.unroute('**/v1/chat');
  });

  await step('429 is a retryable message honouring Retry-After', async () => {
    let calls = 0;
    await page.route('**/v1/chat', (route) => {
      calls++;
      if (calls === 1) {
        return route.fulfill({
          status: 429,
          headers: { 'Retry-After': '2', 'Content-Type': 'application/json' },
          body: JSON.stringify({ error: { type: 'rate_limit_error', code: 'rate_limited', message: 'slow down' } }),
        });
      }
      return route.continue();
    });
    await page.locator('.dw-new').click();
    await page.locator('.dw-input').fill('Which roles can manage API keys?');
    await page.locator('.dw-input').press('Enter');
    const retry = page.locator('.dw-retry');
    await retry.waitFor();
    assert.match(await page.locator('.dw-failed .dw-error').textContent(), /retry in 2 seconds/);
    assert.equal(await retry.isDisabled(), true, 'no retry before Retry-After');
    await page.waitForFunction(() => !document.querySelector('#docent-widget').shadowRoot.querySelector('.dw-retry')?.disabled, null, {
      timeout: WAIT,
    });
    await retry.click();
    await page.locator('.dw-bot[data-finish="stop"]').waitFor({ timeout: WAIT });
    assert.equal(calls, 2);
    assert.equal(await page.locator('.dw-user').count(), 1, 'the retry does not repeat the question bubble');
    await page.unroute('**/v1/chat');
  });

  await step('a network failure is a retryable message', async () => {
    await page.route('**/v1/chat', (route) => route.abort('connectionrefused'));
    await page.locator('.dw-new').click();
    await page.locator('.dw-input').fill('How much does the Pro plan cost per month?');
    await page.locator('.dw-input').press('Enter');
    await page.locator('.dw-failed .dw-error').filter({ hasText: 'Could not reach the assistant' }).waitFor();
    await page.locator('.dw-failed .dw-retry:not([disabled])').waitFor();
    await page.unroute('**/v1/chat');
  });

  await step('asking for a person is answered with the handoff text and pauses the bot', async () => {
    await page.locator('.dw-new').click();
    assert.equal(await bannerShown(page), false);
    const a = await ask(page, 'Can I talk to a human, please?', 1);
    assert.equal(a.finish, 'handoff', JSON.stringify(a));
    assert.match(a.text, /person from our team/);
    assert.equal(a.sources.length, 0, 'no sources for a handoff');
    assert.equal(await bannerShown(page), true);
    const id = await page.evaluate(() => localStorage.getItem('docent:docs:conversation'));
    assert.equal((await admin('GET', `/v1/conversations/${id}`)).body.state, 'handoff');
    const next = await ask(page, 'What is the refund window?', 2);
    assert.equal(next.finish, 'handed_off', JSON.stringify(next));
    await page.screenshot({ path: join(artifacts, 'handoff.png') });
  });

  await step('at phone width the panel fills the screen', async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 700 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    await p.goto(`${base}/demo`);
    await p.locator('.dw-launcher').click();
    const box = await p.locator('.dw-panel').boundingBox();
    assert.ok(box && Math.round(box.width) === 375 && box.x === 0, JSON.stringify(box));
    await p.screenshot({ path: join(artifacts, 'phone.png') });
    await phone.close();
  });

  await step('no script errors on the page', async () => {
    assert.deepEqual(pageErrors, []);
  });
  await context.close();
}
