/**
 * An incremental parser for Server-Sent Events (`text/event-stream`).
 *
 * Bytes go in as they arrive, cut anywhere (even inside a UTF-8 character or between the
 * CR and LF of a line end); the `data` of each complete event comes out. Lines end with
 * CRLF, LF or CR; the `data:` lines of one event are joined with newlines; comments and
 * the `event`/`id`/`retry` fields are read past; an event ends at a blank line.
 */
export class SSEDecoder {
  private readonly text = new TextDecoder('utf-8');
  private buffer = '';
  private data: string[] = [];
  private pendingCR = false;

  /** Takes the next bytes (or text) of the stream; returns the events they complete. */
  feed(chunk: Uint8Array | string): string[] {
    let text = typeof chunk === 'string' ? chunk : this.text.decode(chunk, { stream: true });
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buffer += text;
    const events: string[] = [];
    const buffer = this.buffer;
    let start = 0;
    for (;;) {
      const cr = buffer.indexOf('\r', start);
      const lf = buffer.indexOf('\n', start);
      if (cr < 0 && lf < 0) break;
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      const line = buffer.slice(start, end);
      if (buffer[end] === '\r') {
        if (end + 1 === buffer.length) {
          this.pendingCR = true; // maybe a CRLF split across chunks
          start = end + 1;
        } else {
          start = buffer[end + 1] === '\n' ? end + 2 : end + 1;
        }
      } else {
        start = end + 1;
      }
      const event = this.line(line);
      if (event !== undefined) events.push(event);
    }
    this.buffer = buffer.slice(start);
    return events;
  }

  private line(line: string): string | undefined {
    if (line === '') {
      if (this.data.length === 0) return undefined;
      const data = this.data.join('\n');
      this.data = [];
      return data;
    }
    if (line.startsWith(':')) return undefined; // a comment
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    if (name !== 'data') return undefined; // event, id, retry and unknown fields
    const value = colon < 0 ? '' : line.slice(colon + 1);
    this.data.push(value.startsWith(' ') ? value.slice(1) : value);
    return undefined;
  }
}
