/**
 * The Readable an incoming C-STORE dataset is delivered through.
 *
 * A plain byte-mode Readable answers `read()` (no size) with everything buffered, concatenated into a
 * fresh Buffer. The async iterator (`for await (const c of stream)`) and `'readable'` consumers call
 * exactly that, so with the dataset arriving as several PDV pieces per socket read every piece would be
 * copied once more into a newly allocated buffer. Here `read()` without a size hands out the buffered
 * pieces one by one instead (what flowing mode does anyway), so the bytes the socket delivered are
 * passed on as zero-copy views. `read(n)` keeps its usual meaning.
 */
import { Readable } from 'node:stream';

export class DatasetStream extends Readable {
  /** lengths of the pieces still in the internal buffer, oldest first (from `#head`) */
  #lengths: number[] = [];
  #head = 0;
  /** sum of the tracked lengths; equals readableLength unless bytes left without read() */
  #tracked = 0;
  #onRead: () => void;

  constructor(highWaterMark: number, onRead: () => void) {
    super({ highWaterMark });
    this.#onRead = onRead;
  }

  override _read(): void {
    this.#onRead();
  }

  /** push() one piece, remembering its length while it waits in the buffer */
  pushPiece(piece: Buffer): boolean {
    const before = this.readableLength;
    const ok = this.push(piece);
    const added = this.readableLength - before;
    if (added > 0) {
      this.#lengths.push(added);
      this.#tracked += added;
    }
    return ok;
  }

  override read(size?: number): Buffer | null {
    if (size !== undefined || this.readableEncoding !== null) return super.read(size) as Buffer | null;
    this.#sync();
    const first = this.#lengths[this.#head];
    if (first === undefined || first >= this.readableLength) return super.read() as Buffer | null;
    // several pieces buffered: hand out the oldest one as it is
    return super.read(first) as Buffer | null;
  }

  /** account for bytes that left the buffer (read by size, or flowed without buffering) */
  #sync(): void {
    const len = this.readableLength;
    let excess = this.#tracked - len;
    if (excess < 0) {
      // bytes entered some other way (unshift): stop tracking, plain Readable behaviour
      this.#forget();
      return;
    }
    while (excess > 0) {
      const h = this.#lengths[this.#head] ?? 0;
      if (h <= excess) {
        excess -= h;
        this.#tracked -= h;
        this.#head++;
      } else {
        this.#lengths[this.#head] = h - excess;
        this.#tracked -= excess;
        excess = 0;
      }
    }
    if (this.#head > 64 && this.#head * 2 > this.#lengths.length) {
      this.#lengths = this.#lengths.slice(this.#head);
      this.#head = 0;
    }
  }

  #forget(): void {
    this.#lengths = [];
    this.#head = 0;
    this.#tracked = 0;
  }
}
