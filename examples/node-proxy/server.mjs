// A server-side proxy for Docent: the browser talks to this server, which adds the
// secret key (never sent to the browser) and re-streams Docent's SSE frames as they
// arrive. Node 18+ (global fetch), no dependencies.
//
//   DOCENT_URL=http://127.0.0.1:8080 DOCENT_KEY=sk_… PORT=3000 node examples/node-proxy/server.mjs
//   curl -N localhost:3000/chat -H 'Content-Type: application/json' -d '{"message":"How do refunds work?"}'

import { createServer } from 'node:http';
import { Readable } from 'node:stream';

const DOCENT_URL = process.env.DOCENT_URL || 'http://127.0.0.1:8080';
const KEY = process.env.DOCENT_KEY;
const BOT = process.env.DOCENT_BOT || 'docs';
if (!KEY) throw new Error('set DOCENT_KEY to a secret key with the chat scope');

const server = createServer(async (req, res) => {
  if (req.method !== 'POST' || req.url !== '/chat') {
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"POST /chat"}');
    return;
  }
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > 64 * 1024) return res.writeHead(413).end();
  }
  let input;
  try {
    input = JSON.parse(raw);
  } catch {
    return res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":"send JSON"}');
  }
  // Only what the visitor may choose is passed on; the bot and the key are ours.
  const body = { bot_id: BOT, message: String(input.message ?? ''), conversation_id: input.conversation_id ?? null, stream: true };
  const ctl = new AbortController();
  res.on('close', () => ctl.abort()); // the visitor left: cancel the answer upstream
  let upstream;
  try {
    upstream = await fetch(`${DOCENT_URL}/v1/chat`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal: ctl.signal,
    });
  } catch {
    return res.writeHead(502, { 'Content-Type': 'application/json' }).end('{"error":"docent unreachable"}');
  }
  const headers = { 'Content-Type': upstream.headers.get('content-type') || 'application/json', 'Cache-Control': 'no-cache' };
  const retry = upstream.headers.get('retry-after');
  if (retry) headers['Retry-After'] = retry;
  res.writeHead(upstream.status, headers);
  res.flushHeaders();
  Readable.fromWeb(upstream.body).on('error', () => res.end()).pipe(res);
});

server.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
  console.log(`proxy on http://127.0.0.1:${server.address().port}/chat -> ${DOCENT_URL}`);
});
