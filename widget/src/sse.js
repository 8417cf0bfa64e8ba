// A streaming parser for `text/event-stream` bodies read with fetch (EventSource
// cannot POST). Follows the HTML spec's rules: lines end in CRLF, LF or CR, and a
// line may be split across reads; `:` lines are comments (`: ping` keep-alives);
// a blank line dispatches the event; `data:` lines accumulate.

/**
 * @typedef {{event: string, data: string, id: string}} SseEvent
 */

export class SseParser {
  /** @param {(e: SseEvent) => void} onEvent */
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.event = '';
    this.data = [];
    this.id = '';
    this.pendingCR = false;
  }

  /** Feed decoded text (any split). @param {string} text */
  push(text) {
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buf += text;
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (c !== '\n' && c !== '\r') continue;
      this.line(this.buf.slice(start, i));
      if (c === '\r') {
        if (i + 1 === this.buf.length) this.pendingCR = true;
        else if (this.buf[i + 1] === '\n') i++;
      }
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
  }

  /** The stream ended: an unterminated event is dropped, as the spec says. */
  end() {
    this.buf = '';
    this.data = [];
    this.event = '';
  }

  /** @param {string} line */
  line(line) {
    if (line === '') {
      if (this.data.length) {
        this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line[0] === ':') return; // comment: keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    // `retry` and unknown fields are ignored.
  }
}

/**
 * Read a fetch Response body as SSE, calling onEvent per event.
 * @param {Response} res
 * @param {(e: SseEvent) => void} onEvent
 */
export async function readSse(res, onEvent) {
  const parser = new SseParser(onEvent);
  const reader = /** @type {ReadableStream<Uint8Array>} */ (res.body).getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(decoder.decode(value, { stream: true }));
  }
  parser.push(decoder.decode());
  parser.end();
}
