// The widget's SSE parser on its own: every way a stream can be cut into reads.
//   node --test test/sse.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from '../src/sse.js';

const STREAM =
  ': ping\n\n' +
  'event: start\nid: 1\ndata: {"type":"start","conversation_id":"conv_1"}\n\n' +
  'event: delta\r\nid: 2\r\ndata: {"type":"delta","delta":"Refunds é "}\r\n\r\n' +
  'event: mystery\rid: 3\rdata: {"type":"mystery"}\r\r' +
  'event: delta\nid: 4\ndata:{"type":"delta",\ndata: "delta":"30 days [1]."}\n\n' +
  ': ping\n\n' +
  'event: error\nid: 5\ndata: {"type":"error","error":{"message":"boom","retryable":true}}\n\n' +
  'event: delta\ndata: {"never":"dispatched: no blank line"}';

function parse(pieces) {
  const out = [];
  const p = new SseParser((e) => out.push(e));
  for (const piece of pieces) p.push(piece);
  p.end();
  return out;
}

const EXPECTED = [
  { event: 'start', id: '1', data: '{"type":"start","conversation_id":"conv_1"}' },
  { event: 'delta', id: '2', data: '{"type":"delta","delta":"Refunds é "}' },
  { event: 'mystery', id: '3', data: '{"type":"mystery"}' },
  { event: 'delta', id: '4', data: '{"type":"delta",\n"delta":"30 days [1]."}' },
  { event: 'error', id: '5', data: '{"type":"error","error":{"message":"boom","retryable":true}}' },
];

test('one read', () => {
  assert.deepEqual(parse([STREAM]), EXPECTED);
});

test('every split point, including inside CRLF pairs', () => {
  for (let i = 1; i < STREAM.length; i++) {
    assert.deepEqual(parse([STREAM.slice(0, i), STREAM.slice(i)]), EXPECTED, `split at ${i}`);
  }
});

test('one character per read', () => {
  assert.deepEqual(parse([...STREAM]), EXPECTED);
});

test('comments and blank lines alone dispatch nothing', () => {
  assert.deepEqual(parse([': ping\n\n\n: ping\r\n\r\n']), []);
});

test('data-only frames get the default event name', () => {
  assert.deepEqual(parse(['data: {"type":"delta"}\n\n']), [{ event: 'message', id: '', data: '{"type":"delta"}' }]);
});
