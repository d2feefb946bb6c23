/**
 * MLLP (Minimal Lower Layer Protocol, HL7 v2 over TCP): our own transport, because every npm package we
 * measured framed by "does this TCP chunk end with FS CR" (see ../shared/notes/dependencies.md §7).
 *
 * A frame is VT (0x0b) · message bytes · FS (0x1c) CR (0x0d). {@link MllpFrameScanner} finds frames in a
 * byte stream whatever the TCP segmentation: a frame split over many packets (down to one byte each),
 * several frames in one packet, pipelined frames, garbage between frames (counted and skipped), a missing
 * trailing CR (FS alone ends a frame), oversized frames (reported once, then skipped up to their FS).
 *
 * {@link MllpServer}: one handler call per frame, strictly in order per connection; every frame gets
 * exactly one answer, written in order. Limits: max message size (→ the oversize handler's NAK, then the
 * connection is closed), idle timeout, max connections. The socket is paused while too many frames wait.
 *
 * {@link MllpClient}: send a frame and get the answer frame; requests may be pipelined (answers are
 * matched first-in first-out); per-request timeout; on a timeout or a broken connection the connection is
 * dropped (a late answer would shift the FIFO) and the request is retried on a new connection.
 */
import net from 'node:net';
import type { Log } from '../logger.ts';
import { HuiyingError } from '../errors.ts';
import {
  charsetOf,
  declaredCharset,
  decodeLenient,
  decodeStrict,
  encodeText,
  peekMsh,
  DEFAULT_CHARSET,
} from './charset.ts';
import { parseAck, type ParsedAck } from './message.ts';

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export type ScanEvent =
  | { type: 'frame'; data: Buffer }
  /** a frame exceeded the limit: `head` = its first bytes (for the NAK); the rest is discarded */
  | { type: 'oversized'; head: Buffer; size: number }
  /** bytes outside any frame (skipped) */
  | { type: 'garbage'; bytes: number };

/** How many leading bytes of an oversized frame are kept (the MSH segment, to address the NAK). */
const OVERSIZE_HEAD = 4096;

export class MllpFrameScanner {
  readonly maxFrameBytes: number;
  private inFrame = false;
  private discarding = false;
  private skipCr = false;
  private parts: Buffer[] = [];
  private size = 0;
  private discardSize = 0;

  constructor(maxFrameBytes = 1024 * 1024) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes of an unfinished frame held (for tests and diagnostics). */
  get pendingBytes(): number {
    return this.size;
  }

  push(chunk: Buffer): ScanEvent[] {
    const events: ScanEvent[] = [];
    let pos = 0;
    const n = chunk.length;
    if (this.skipCr && n > 0) {
      if (chunk[0] === CR) pos = 1;
      this.skipCr = false;
    }
    while (pos < n) {
      if (!this.inFrame) {
        const vt = chunk.indexOf(VT, pos);
        if (vt < 0) {
          events.push({ type: 'garbage', bytes: n - pos });
          return events;
        }
        if (vt > pos) events.push({ type: 'garbage', bytes: vt - pos });
        this.inFrame = true;
        this.discarding = false;
        this.parts = [];
        this.size = 0;
        pos = vt + 1;
        continue;
      }
      // inside a frame: up to FS (end) or VT (a new frame starts: the unfinished one is garbage)
      let end = -1;
      let restart = false;
      for (let i = pos; i < n; i++) {
        const b = chunk[i];
        if (b === FS) {
          end = i;
          break;
        }
        if (b === VT) {
          end = i;
          restart = true;
          break;
        }
      }
      const stop = end < 0 ? n : end;
      this.append(chunk.subarray(pos, stop), events);
      if (end < 0) return events;
      if (restart) {
        events.push({ type: 'garbage', bytes: this.discarding ? this.discardSize : this.size });
        this.inFrame = false;
        this.discarding = false;
        this.parts = [];
        this.size = 0;
        pos = end; // the VT starts the next frame
        continue;
      }
      // FS: end of frame; a CR should follow (possibly in the next chunk)
      if (!this.discarding) {
        events.push({
          type: 'frame',
          data: this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size),
        });
      }
      this.inFrame = false;
      this.discarding = false;
      this.parts = [];
      this.size = 0;
      pos = end + 1;
      if (pos < n) {
        if (chunk[pos] === CR) pos++;
      } else {
        this.skipCr = true;
      }
    }
    return events;
  }

  private append(bytes: Buffer, events: ScanEvent[]): void {
    if (bytes.length === 0) return;
    if (this.discarding) {
      this.discardSize += bytes.length;
      return;
    }
    if (this.size + bytes.length > this.maxFrameBytes) {
      // keep the head for the NAK, drop the rest up to the FS
      const all = Buffer.concat([...this.parts, bytes]);
      events.push({ type: 'oversized', head: Buffer.from(all.subarray(0, OVERSIZE_HEAD)), size: all.length });
      this.discarding = true;
      this.discardSize = all.length;
      this.parts = [];
      this.size = 0;
      return;
    }
    // copy: the chunk buffer may be reused by the caller
    this.parts.push(Buffer.from(bytes));
    this.size += bytes.length;
  }
}

/** Wrap message bytes in an MLLP frame. */
export function mllpFrame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(message.length + 3);
  out[0] = VT;
  message.copy(out, 1);
  out[message.length + 1] = FS;
  out[message.length + 2] = CR;
  return out;
}

// ------------------------------------------------------------------------------------------- server

export interface MllpPeer {
  /** remote address:port */
  peer: string;
  /** a number per connection, for logs */
  connectionId: number;
}

export interface MllpServerOptions {
  host?: string;
  port: number;
  /** largest accepted message (bytes between VT and FS); default 1 MiB */
  maxMessageBytes?: number;
  /** a connection without traffic for this long is closed; default 30 min; 0 = never */
  idleTimeoutMs?: number;
  /** concurrent connections; more are refused (closed at once); default 64 */
  maxConnections?: number;
  /** close(): how long to wait for messages in progress before connections are destroyed; default 10 s */
  closeGraceMs?: number;
  /** answers one message with its acknowledgement bytes (not framed). Should not throw: a throw closes the
   *  connection without an answer (the sender will resend). */
  onMessage(message: Buffer, peer: MllpPeer): Promise<Buffer>;
  /** the NAK for an oversized message (its first bytes); the connection is closed after it is sent */
  onOversized(head: Buffer, size: number, peer: MllpPeer): Promise<Buffer>;
  log?: Log;
}

/** Frames waiting on one connection before its socket is paused. */
const MAX_QUEUED = 256;

interface Connection {
  socket: net.Socket;
  info: MllpPeer;
  queue: Promise<void>;
  queued: number;
  paused: boolean;
  closing: boolean;
}

export class MllpServer {
  private readonly opts: MllpServerOptions;
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private nextId = 1;
  private closed = false;

  constructor(opts: MllpServerOptions) {
    this.opts = opts;
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.maxConnections = opts.maxConnections ?? 64;
    this.server.on('drop', (d) => {
      opts.log?.('warn', 'hl7: connection refused, too many connections', {
        peer: d === undefined ? undefined : `${d.remoteAddress ?? '?'}:${d.remotePort ?? '?'}`,
        maxConnections: this.server.maxConnections,
      });
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  listen(): Promise<{ port: number; address: string }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        const a = this.server.address() as net.AddressInfo;
        resolve({ port: a.port, address: a.address });
      });
    });
  }

  /** Stop accepting; finish the messages already received (each is answered), then close connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const grace = this.opts.closeGraceMs ?? 10_000;
    await Promise.all(
      [...this.connections].map(async (c) => {
        c.closing = true;
        c.socket.pause();
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([
          c.queue.then(() => false),
          new Promise<boolean>((r) => {
            timer = setTimeout(() => r(true), grace);
          }),
        ]);
        clearTimeout(timer);
        if (late) c.socket.destroy();
        else c.socket.end();
        c.socket.destroySoon();
      }),
    );
    await stopped;
  }

  private accept(socket: net.Socket): void {
    const info: MllpPeer = {
      peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`,
      connectionId: this.nextId++,
    };
    const c: Connection = {
      socket,
      info,
      queue: Promise.resolve(),
      queued: 0,
      paused: false,
      closing: false,
    };
    this.connections.add(c);
    const log = this.opts.log;
    log?.('debug', 'hl7: connection', { peer: info.peer, connection: info.connectionId });
    const scanner = new MllpFrameScanner(this.opts.maxMessageBytes ?? 1024 * 1024);
    const idle = this.opts.idleTimeoutMs ?? 30 * 60 * 1000;
    if (idle > 0) {
      socket.setTimeout(idle, () => {
        if (c.queued === 0) {
          log?.('info', 'hl7: idle connection closed', { peer: info.peer, idleTimeoutMs: idle });
          socket.end();
        }
      });
    }
    socket.on('data', (chunk: Buffer) => {
      if (c.closing) return;
      for (const ev of scanner.push(chunk)) {
        if (ev.type === 'garbage') {
          log?.('warn', 'hl7: bytes outside an MLLP frame skipped', { peer: info.peer, bytes: ev.bytes });
        } else if (ev.type === 'frame') {
          this.enqueue(c, () => this.opts.onMessage(ev.data, info), false);
        } else {
          log?.('warn', 'hl7: message too large, connection closed', {
            peer: info.peer,
            size: ev.size,
            maxMessageBytes: scanner.maxFrameBytes,
          });
          this.enqueue(c, () => this.opts.onOversized(ev.head, ev.size, info), true);
          c.closing = true;
          return;
        }
      }
    });
    socket.on('error', (err) => {
      log?.('debug', 'hl7: connection error', { peer: info.peer, error: err.message });
    });
    socket.on('close', () => {
      this.connections.delete(c);
      log?.('debug', 'hl7: connection closed', { peer: info.peer, connection: info.connectionId });
    });
  }

  /** Process one frame after the previous ones of the connection; write its answer in order. */
  private enqueue(c: Connection, answer: () => Promise<Buffer>, closeAfter: boolean): void {
    c.queued++;
    if (c.queued >= MAX_QUEUED && !c.paused) {
      c.paused = true;
      c.socket.pause();
    }
    c.queue = c.queue.then(async () => {
      try {
        if (c.socket.destroyed) return;
        let ack: Buffer;
        try {
          ack = await answer();
        } catch (err) {
          this.opts.log?.('error', 'hl7: message handler failed, connection closed', {
            peer: c.info.peer,
            error: err instanceof Error ? err.message : String(err),
          });
          c.closing = true;
          c.socket.destroy();
          return;
        }
        if (c.socket.destroyed) return;
        c.socket.write(mllpFrame(ack));
        if (closeAfter) c.socket.end();
      } finally {
        c.queued--;
        if (c.paused && c.queued < MAX_QUEUED / 2 && !c.closing) {
          c.paused = false;
          c.socket.resume();
        }
      }
    });
  }
}

// ------------------------------------------------------------------------------------------- client

export interface MllpClientOptions {
  host: string;
  port: number;
  /** per request: time to wait for the answer frame; default 30 s */
  timeoutMs?: number;
  /** connect timeout; default 10 s */
  connectTimeoutMs?: number;
  /** resends after a timeout or a broken connection; default 2 */
  retries?: number;
  /** wait before a resend (doubles each time); default 500 ms */
  retryDelayMs?: number;
  /** largest answer accepted; default 1 MiB */
  maxAnswerBytes?: number;
  log?: Log;
}

interface Pending {
  resolve(answer: Buffer): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** A parsed acknowledgement with its bytes and decoded text. */
export interface MllpAck extends ParsedAck {
  /** the acknowledgement's bytes (unframed) */
  raw: Buffer;
  /** the acknowledgement decoded (segments separated by CR) */
  decoded: string;
}

/** Raised for transport failures (connect, timeout, closed connection): the request may be resent. */
export class MllpTransportError extends HuiyingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
    this.name = 'MllpTransportError';
  }
}

/** One MLLP connection to a peer, opened on first use and reopened after a failure. */
export class MllpClient {
  readonly host: string;
  readonly port: number;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly maxAnswerBytes: number;
  private readonly log: Log | undefined;
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  /** outstanding requests of each open socket, in send order */
  private readonly pending = new Map<net.Socket, Pending[]>();
  private closed = false;

  constructor(opts: MllpClientOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.retries = opts.retries ?? 2;
    this.retryDelayMs = opts.retryDelayMs ?? 500;
    this.maxAnswerBytes = opts.maxAnswerBytes ?? 1024 * 1024;
    this.log = opts.log;
  }

  /** Open the connection now (otherwise the first send does). */
  async connect(): Promise<void> {
    await this.ensureSocket();
  }

  /**
   * Send one message (bytes, unframed) and resolve with the peer's answer (unframed). Several calls may be
   * outstanding (pipelining): answers are matched in order. Transport failures are retried `retries` times
   * on a fresh connection, then rejected with {@link MllpTransportError}.
   */
  async send(message: Buffer): Promise<Buffer> {
    let delay = this.retryDelayMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.exchange(message);
      } catch (err) {
        if (!(err instanceof MllpTransportError) || attempt >= this.retries || this.closed) throw err;
        this.log?.('warn', 'hl7: resending after a transport failure', {
          peer: `${this.host}:${this.port}`,
          attempt: attempt + 1,
          error: err.message,
        });
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  /**
   * Send an HL7 message and parse the acknowledgement. Text is encoded in `charset` (an HL7 table 0211 or
   * DICOM label; default: the message's MSH-18, else UTF-8); bytes are sent as they are. The answer is
   * decoded with its own MSH-18, else the message's charset. Throws when the answer is not an ACK of this
   * message (MSA-2 ≠ MSH-10).
   */
  async sendMessage(message: string | Buffer, opts: { charset?: string } = {}): Promise<MllpAck> {
    let bytes: Buffer;
    let label = opts.charset;
    if (typeof message === 'string') {
      const text = message.replace(/\r\n|\n/g, '\r');
      const msh = peekMsh(Buffer.from(text.slice(0, text.search(/\r|$/)), 'latin1'));
      label ??= msh === undefined ? undefined : declaredCharset(msh) || undefined;
      const cs = label === undefined ? DEFAULT_CHARSET : charsetOf(label);
      if (cs === undefined)
        throw new HuiyingError('invalid-input', `unsupported character set '${label ?? ''}'`);
      bytes = encodeText(text, cs);
    } else {
      bytes = message;
      if (label === undefined) {
        const msh = peekMsh(bytes);
        label = msh === undefined ? undefined : declaredCharset(msh) || undefined;
      }
    }
    const sentMsh = peekMsh(bytes);
    const controlId =
      sentMsh === undefined ? '' : (sentMsh.fields[10] ?? '').split(sentMsh.fields[2]?.[0] ?? '^')[0]!.trim();
    const raw = await this.send(bytes);
    const ackMsh = peekMsh(raw);
    const ackLabel = (ackMsh === undefined ? '' : declaredCharset(ackMsh)) || label;
    const cs = (ackLabel === undefined ? undefined : charsetOf(ackLabel)) ?? DEFAULT_CHARSET;
    const text = decodeStrict(raw, cs) ?? decodeLenient(raw, cs);
    let ack: ParsedAck;
    try {
      ack = parseAck(text);
    } catch (err) {
      throw new HuiyingError(
        'invalid-input',
        `the answer of ${this.host}:${this.port} is not an HL7 ACK: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (controlId !== '' && ack.ackControlId !== controlId)
      throw new HuiyingError(
        'invalid-input',
        `the ACK acknowledges message ${ack.ackControlId}, not ${controlId}`,
      );
    return { ...ack, raw, decoded: text };
  }

  /** Close the connection; outstanding requests are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    const s = this.socket ?? (await this.connecting?.catch(() => undefined));
    if (s !== undefined) this.fail(s, new MllpTransportError('the MLLP client was closed'));
    if (s !== undefined && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.end();
        setTimeout(() => s.destroy(), 1000).unref();
      });
    }
  }

  private async exchange(message: Buffer): Promise<Buffer> {
    if (this.closed) throw new HuiyingError('unavailable', 'the MLLP client was closed');
    const socket = await this.ensureSocket();
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        // the answer may still come and would shift the FIFO: drop the connection and everything on it
        this.drop(
          socket,
          new MllpTransportError(`no answer from ${this.host}:${this.port} within ${this.timeoutMs} ms`),
        );
      }, this.timeoutMs);
      const list = this.pending.get(socket);
      if (list === undefined) {
        clearTimeout(timer);
        reject(new MllpTransportError('the connection was closed'));
        return;
      }
      list.push({ resolve, reject, timer });
      socket.write(mllpFrame(message));
    });
  }

  private ensureSocket(): Promise<net.Socket> {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: this.host, port: this.port, noDelay: true });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new MllpTransportError(`connect to ${this.host}:${this.port} timed out`));
      }, this.connectTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', onConnectError);
        this.attach(s);
        resolve(s);
      });
      const onConnectError = (err: Error): void => {
        clearTimeout(timer);
        reject(new MllpTransportError(`cannot connect to ${this.host}:${this.port}: ${err.message}`));
      };
      s.once('error', onConnectError);
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private attach(s: net.Socket): void {
    this.socket = s;
    this.pending.set(s, []);
    const scanner = new MllpFrameScanner(this.maxAnswerBytes);
    s.on('data', (chunk: Buffer) => {
      for (const ev of scanner.push(chunk)) {
        if (ev.type === 'frame') {
          const p = this.pending.get(s)?.shift();
          if (p === undefined) {
            this.log?.('warn', 'hl7: unsolicited frame from peer ignored', {
              peer: `${this.host}:${this.port}`,
            });
            continue;
          }
          clearTimeout(p.timer);
          p.resolve(ev.data);
        } else if (ev.type === 'oversized') {
          this.drop(s, new MllpTransportError(`answer larger than ${this.maxAnswerBytes} bytes`));
          return;
        }
      }
    });
    s.on('error', (err) => this.drop(s, new MllpTransportError(`connection error: ${err.message}`)));
    s.on('close', () => this.drop(s, new MllpTransportError('the peer closed the connection')));
  }

  private drop(s: net.Socket, err: Error): void {
    if (this.socket === s) this.socket = undefined;
    if (!s.destroyed) s.destroy();
    this.fail(s, err);
  }

  private fail(s: net.Socket, err: Error): void {
    const p = this.pending.get(s) ?? [];
    this.pending.delete(s);
    for (const x of p) {
      clearTimeout(x.timer);
      x.reject(err);
    }
  }
}
