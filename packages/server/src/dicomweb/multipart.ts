/**
 * Streaming multipart/related (RFC 2046 / RFC 2387) for STOW-RS: a pull parser over a byte stream that
 * scans for the delimiter across chunk borders and hands out one part at a time; a part's body is an
 * async iterable of chunks, never buffered whole. Limits: per-part and total size (→ 413), header block
 * and preamble size (→ 400).
 */
import { randomBytes } from 'node:crypto';
import { HuiyingError } from '../errors.ts';

export interface MultipartLimits {
  /** largest part body in bytes */
  maxPartBytes: number;
  /** largest request body in bytes */
  maxTotalBytes: number;
  /** largest header block of one part (default 16 KiB) */
  maxHeaderBytes?: number;
  /** largest preamble before the first delimiter (default 64 KiB) */
  maxPreambleBytes?: number;
}

export interface MultipartPart {
  /** lower-case header names */
  headers: Record<string, string>;
  /** index of the part (0-based) */
  index: number;
  /** the part's body; must be consumed (or left: the reader drains it) before the next part is asked for */
  body: AsyncIterable<Buffer>;
  /** resolves when the body has been read to its end (consumed or drained) */
  bodyDone: Promise<void>;
}

export function malformed(message: string): HuiyingError {
  return new HuiyingError('invalid-input', `malformed multipart body: ${message}`);
}

export function tooLarge(message: string): HuiyingError {
  return new HuiyingError('invalid-input', message, { detail: { status: 413 } });
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

export class MultipartReader {
  readonly #source: AsyncIterator<Buffer | Uint8Array | string>;
  readonly #delimiter: Buffer; // CRLF--boundary
  readonly #limits: Required<MultipartLimits>;
  #buf: Buffer;
  #eof = false;
  #total = 0;
  #state: 'start' | 'headers' | 'body' | 'end' = 'start';
  #partBytes = 0;
  #bodyResolve: (() => void) | undefined;

  constructor(
    source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>,
    boundary: string,
    limits: MultipartLimits,
  ) {
    // RFC 2046 allows 70 characters; real senders use more (Orthanc 1.7: 73), so accept up to 256
    if (boundary === '' || boundary.length > 256) throw malformed('boundary must have 1 to 256 characters');
    if (Symbol.asyncIterator in source) this.#source = source[Symbol.asyncIterator]();
    else {
      const it = source[Symbol.iterator]();
      this.#source = { next: () => Promise.resolve(it.next()) };
    }
    this.#delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    this.#limits = { maxHeaderBytes: 16 * 1024, maxPreambleBytes: 64 * 1024, ...limits };
    // a virtual CRLF lets the first delimiter (at the very start of the body) match like the others
    this.#buf = Buffer.from(CRLF);
  }

  /** Total body bytes read so far. */
  get bytesRead(): number {
    return this.#total;
  }

  async #pull(): Promise<boolean> {
    if (this.#eof) return false;
    const r = await this.#source.next();
    if (r.done === true) {
      this.#eof = true;
      return false;
    }
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : Buffer.from(r.value);
    this.#total += chunk.length;
    if (this.#total > this.#limits.maxTotalBytes) {
      throw tooLarge(`request body exceeds the limit of ${this.#limits.maxTotalBytes} bytes`);
    }
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    return true;
  }

  /** Ensure at least n buffered bytes; false when the stream ended first. */
  async #need(n: number): Promise<boolean> {
    while (this.#buf.length < n) if (!(await this.#pull())) return false;
    return true;
  }

  /** After a delimiter: `--` ends the body, else transport padding then CRLF. Returns false at the end. */
  async #afterDelimiter(): Promise<boolean> {
    if (!(await this.#need(2))) throw malformed('body ends right after a boundary');
    if (this.#buf[0] === 0x2d && this.#buf[1] === 0x2d) {
      this.#state = 'end';
      this.#buf = Buffer.alloc(0);
      // the epilogue is ignored, but read so the connection stays usable
      while (await this.#pull()) this.#buf = Buffer.alloc(0);
      return false;
    }
    for (;;) {
      const idx = this.#buf.indexOf(CRLF);
      if (idx >= 0) {
        if (!/^[ \t]*$/.test(this.#buf.subarray(0, idx).toString('latin1'))) {
          throw malformed('unexpected characters after a boundary');
        }
        this.#buf = this.#buf.subarray(idx + 2);
        this.#state = 'headers';
        return true;
      }
      if (this.#buf.length > 1024) throw malformed('boundary line too long');
      if (!(await this.#pull())) throw malformed('body ends inside a boundary line');
    }
  }

  async #readHeaders(): Promise<Record<string, string>> {
    const headers: Record<string, string> = {};
    // a part without headers starts with CRLF directly
    if (!(await this.#need(2))) throw malformed('body ends inside part headers');
    let block: string;
    if (this.#buf[0] === 0x0d && this.#buf[1] === 0x0a) {
      this.#buf = this.#buf.subarray(2);
      block = '';
    } else {
      for (;;) {
        const idx = this.#buf.indexOf(HEADER_END);
        if (idx >= 0) {
          block = this.#buf.subarray(0, idx).toString('utf8');
          this.#buf = this.#buf.subarray(idx + 4);
          break;
        }
        if (this.#buf.length > this.#limits.maxHeaderBytes) throw malformed('part headers too large');
        if (!(await this.#pull())) throw malformed('body ends inside part headers');
      }
    }
    for (const line of block.split('\r\n')) {
      if (line === '') continue;
      const c = line.indexOf(':');
      if (c <= 0) throw malformed(`bad part header line "${line.slice(0, 80)}"`);
      headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    this.#state = 'body';
    this.#partBytes = 0;
    return headers;
  }

  /** Next chunk of the current part's body, or null at its end (the delimiter is consumed). */
  async #bodyChunk(): Promise<Buffer | null> {
    if (this.#state !== 'body') return null;
    const dl = this.#delimiter.length;
    for (;;) {
      const idx = this.#buf.indexOf(this.#delimiter);
      if (idx >= 0) {
        const out = this.#buf.subarray(0, idx);
        this.#buf = this.#buf.subarray(idx + dl);
        this.#state = 'headers'; // provisional: #afterDelimiter decides
        this.#count(out.length);
        this.#finishBody();
        return out.length > 0 ? out : null;
      }
      // keep a tail that could be the start of a delimiter split across chunks
      const safe = this.#buf.length - (dl - 1);
      if (safe > 0) {
        const out = this.#buf.subarray(0, safe);
        this.#buf = this.#buf.subarray(safe);
        this.#count(out.length);
        return out;
      }
      if (!(await this.#pull())) throw malformed('body ends inside a part (no closing boundary)');
    }
  }

  #count(n: number): void {
    this.#partBytes += n;
    if (this.#partBytes > this.#limits.maxPartBytes) {
      throw tooLarge(`a part exceeds the limit of ${this.#limits.maxPartBytes} bytes`);
    }
  }

  #ended = false;
  /** the first error of the stream itself (malformed, too large); the whole request fails with it */
  failure: HuiyingError | Error | undefined;

  async #guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    }
  }

  #finishBody(): void {
    this.#ended = true;
    const r = this.#bodyResolve;
    this.#bodyResolve = undefined;
    r?.();
  }

  /** sequence number of the current part: a body iterator of an earlier part never reads a later one */
  #seq = 0;

  async *#iterateBody(seq: number): AsyncGenerator<Buffer> {
    while (seq === this.#seq && !this.#ended) {
      const c = await this.#guard(this.#bodyChunk());
      if (c !== null) yield c;
    }
  }

  /** The parts, one at a time. */
  async *parts(): AsyncGenerator<MultipartPart> {
    // preamble: skip to the first delimiter
    for (;;) {
      const idx = this.#buf.indexOf(this.#delimiter);
      if (idx >= 0) {
        this.#buf = this.#buf.subarray(idx + this.#delimiter.length);
        break;
      }
      if (this.#buf.length > this.#limits.maxPreambleBytes) throw malformed('no boundary found');
      if (!(await this.#pull())) throw malformed('no boundary found');
    }
    let index = 0;
    while (await this.#afterDelimiter()) {
      const headers = await this.#readHeaders();
      const seq = ++this.#seq;
      this.#ended = false;
      const bodyDone = new Promise<void>((resolve) => {
        this.#bodyResolve = resolve;
      });
      const body: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => this.#iterateBody(seq) };
      yield { headers, index: index++, body, bodyDone };
      // drain whatever the consumer left
      while (!this.#ended) await this.#guard(this.#bodyChunk());
    }
  }
}

/** Boundary parameter of a multipart Content-Type. */
export function newBoundary(): string {
  return `huiying-${randomBytes(12).toString('hex')}`;
}

/** Bytes that open one part (the delimiter line and the part headers). */
export function partHeader(boundary: string, headers: Record<string, string>, first: boolean): Buffer {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return Buffer.from(`${first ? '' : '\r\n'}--${boundary}\r\n${lines.join('')}\r\n`, 'utf8');
}

/** The close delimiter. */
export function closeDelimiter(boundary: string, any: boolean): Buffer {
  return Buffer.from(`${any ? '\r\n' : ''}--${boundary}--\r\n`, 'latin1');
}
