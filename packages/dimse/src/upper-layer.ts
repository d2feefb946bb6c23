/**
 * One DICOM association over one socket (PS3.8 upper layer state machine, both roles) plus DIMSE
 * message framing: commands and datasets in and out of P-DATA-TF PDUs, response routing by Message ID
 * Being Responded To, streaming of incoming C-STORE datasets with backpressure onto the socket.
 *
 * Negotiation policy and services live in server.ts / client.ts; this file is policy free.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { DatasetStream } from './dataset-stream.ts';
import {
  AbortReason,
  AbortSource,
  PduError,
  PduReader,
  PduType,
  decodeAbort,
  decodeAssociateAc,
  decodeAssociateRj,
  decodeAssociateRq,
  decodePData,
  encodeAbort,
  encodeReleaseRp,
  encodeReleaseRq,
  pDataHeader,
} from './pdu.ts';
import type { AssociateAc, AssociateRj, AssociateRq } from './pdu.ts';
import { CommandField, decodeCommand, encodeCommandWithHeadroom, hasDataset, isResponse } from './command.ts';
import type { Command } from './command.ts';

export const IMPLEMENTATION_CLASS_UID = '2.25.75791142499623414931514613656696600176';
export const IMPLEMENTATION_VERSION_NAME = 'HUIYING_010';

/**
 * Max PDU length we announce by default (SCP and SCU). Peers send P-DATA at (up to) this size; the
 * reader streams PDV pieces without assembling PDUs, so a large value costs no memory here and means
 * fewer PDVs per dataset (DCMTK caps its outgoing PDUs at 128 KiB).
 */
export const DEFAULT_MAX_PDU = 256 * 1024;

export type LogFn = (
  level: 'debug' | 'info' | 'warn' | 'error',
  msg: string,
  extra?: Record<string, unknown>,
) => void;

/** A complete (or, for C-STORE-RQ, starting) incoming DIMSE message. */
export interface IncomingMessage {
  pcId: number;
  command: Command;
  /** buffered dataset, when the message has one and is not streamed */
  dataset: Buffer | null;
  /** streamed dataset (C-STORE-RQ): bytes arrive as they are received */
  stream: Readable | null;
  /** true once the last fragment has arrived, false if the association ended first */
  complete: Promise<boolean>;
  /** what `complete` resolved to, once it has (null while the dataset is still arriving) */
  completed: boolean | null;
}

export interface ResponseListener {
  onResponse(msg: IncomingMessage): void;
  onEnd(err: Error): void;
}

export interface UpperLayerHooks {
  onAssociateRq?(rq: AssociateRq): void;
  onAssociateAc?(ac: AssociateAc): void;
  onAssociateRj?(rj: AssociateRj): void;
  /** an incoming request (RQ) message */
  onRequest(msg: IncomingMessage): void;
  /** the peer asked for release; resolve when we may answer A-RELEASE-RP (e.g. operations done) */
  onReleaseRequested?(): Promise<void>;
  /** true while operations are in progress (the idle timer does not fire then) */
  isBusy?(): boolean;
  onClose?(info: { graceful: boolean; reason: string }): void;
}

export interface UpperLayerOptions {
  role: 'acceptor' | 'requestor';
  /** hard cap on an incoming P-DATA-TF PDU body length */
  maxIncomingPduLength: number;
  /** ARTIM (association establishment / release / close waits), ms */
  artimTimeoutMs: number;
  /** idle timeout once established, ms (0 = none) */
  idleTimeoutMs: number;
  /** buffer limit of a non-streamed dataset (identifiers), bytes */
  maxBufferedDataset?: number;
  /** high water mark of streamed incoming datasets */
  streamHighWaterMark?: number;
  log?: LogFn;
}

type State =
  | 'awaiting-associate' // acceptor: waiting for RQ (ARTIM); requestor: waiting for AC/RJ
  | 'negotiating' // acceptor: RQ received, deciding
  | 'established'
  | 'release-sent'
  | 'release-received'
  | 'collision-requestor'
  | 'collision-acceptor'
  | 'closing' // we sent RJ / RP / ABORT and wait for the peer to close (ARTIM)
  | 'closed';

const noop = (): void => {};

export class AssociationEndedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssociationEndedError';
  }
}

interface Assembly {
  pcId: number;
  cmdParts: Buffer[];
  cmdLength: number;
  msg: IncomingMessage | null;
  dsParts: Buffer[];
  dsLength: number;
  resolveComplete: (ok: boolean) => void;
  isResponse: boolean;
  /** the streamed dataset (C-STORE-RQ) */
  stream: DatasetStream | null;
}

export class UpperLayer {
  readonly socket: Socket;
  readonly role: 'acceptor' | 'requestor';
  hooks: UpperLayerHooks;
  /** max PDU length the peer can receive (0 = unlimited) */
  peerMaxPdu = 16384;

  #opts: UpperLayerOptions;
  #log: LogFn;
  #state: State = 'awaiting-associate';
  #reader: PduReader;
  #timer: NodeJS.Timeout | undefined;
  #controller = new AbortController();
  #closed: Promise<void>;
  #resolveClosed: () => void = noop;
  #releaseDone: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #sendTail: Promise<void> = Promise.resolve();
  /** messages queued or being sent */
  #sending = 0;
  #drain: Promise<void> | undefined;
  #listeners = new Map<number, ResponseListener>();
  #messageId = 0;
  #asm: Assembly | null = null;
  #pausedBy: Readable | null = null;
  #ended = false;
  #graceful = false;

  constructor(socket: Socket, opts: UpperLayerOptions, hooks: UpperLayerHooks) {
    this.socket = socket;
    this.role = opts.role;
    this.hooks = hooks;
    this.#opts = opts;
    this.#log = opts.log ?? noop;
    this.#reader = new PduReader(opts.maxIncomingPduLength);
    this.#closed = new Promise((r) => (this.#resolveClosed = r));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e) => this.#end(false, `socket error: ${e.message}`));
    socket.on('close', () => this.#end(this.#graceful, this.#graceful ? 'released' : 'connection closed'));
    socket.on('timeout', () => this.#onIdle());
    if (this.role === 'acceptor') this.#startArtim('no A-ASSOCIATE-RQ');
  }

  get state(): string {
    return this.#state;
  }
  get signal(): AbortSignal {
    return this.#controller.signal;
  }
  /** resolves when the socket is closed (never rejects) */
  get closed(): Promise<void> {
    return this.#closed;
  }
  get isOpen(): boolean {
    return (
      this.#state === 'established' || this.#state === 'release-sent' || this.#state === 'release-received'
    );
  }

  nextMessageId(): number {
    this.#messageId = (this.#messageId % 0xffff) + 1;
    return this.#messageId;
  }

  // ------------------------------------------------------------------------------------------
  // timers

  #startArtim(why: string): void {
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#log('warn', `ARTIM expired: ${why}`);
      this.#destroy(`ARTIM expired: ${why}`);
    }, this.#opts.artimTimeoutMs);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onIdle(): void {
    if (this.#state !== 'established') return;
    if (this.hooks.isBusy?.() === true || this.#listeners.size > 0 || this.#asm !== null) return;
    this.#log('info', 'idle timeout: aborting association');
    this.abort();
  }

  // ------------------------------------------------------------------------------------------
  // state transitions used by the owners

  /** Requestor: send the A-ASSOCIATE-RQ bytes and start waiting (ARTIM) for AC/RJ. */
  sendAssociateRq(pdu: Buffer): void {
    this.#startArtim('no A-ASSOCIATE-AC/RJ');
    this.socket.write(pdu);
  }

  /** Acceptor: send the A-ASSOCIATE-AC bytes; the association is established. */
  sendAssociateAc(pdu: Buffer, peerMaxPdu: number): void {
    if (this.#state !== 'negotiating') return;
    this.peerMaxPdu = peerMaxPdu;
    this.#clearTimer();
    this.#state = 'established';
    this.socket.write(pdu);
    this.#armIdle();
  }

  /** Acceptor: send an A-ASSOCIATE-RJ and wait for the peer to close. */
  sendAssociateRj(pdu: Buffer): void {
    if (this.#state !== 'negotiating' && this.#state !== 'awaiting-associate') return;
    this.#state = 'closing';
    this.socket.write(pdu);
    this.#startArtim('peer did not close after A-ASSOCIATE-RJ');
  }

  /** Requestor: AC received and checked. */
  established(peerMaxPdu: number): void {
    this.peerMaxPdu = peerMaxPdu;
    this.#clearTimer();
    this.#state = 'established';
    this.#armIdle();
  }

  #armIdle(): void {
    if (this.#opts.idleTimeoutMs > 0) this.socket.setTimeout(this.#opts.idleTimeoutMs);
  }

  /** Ask for release; resolves when the association is released (rejects if aborted). */
  release(): Promise<void> {
    if (this.#state !== 'established') {
      if (this.#state === 'closed') return Promise.resolve();
      return Promise.reject(new AssociationEndedError(`cannot release in state ${this.#state}`));
    }
    this.#state = 'release-sent';
    const p = new Promise<void>((resolve, reject) => (this.#releaseDone = { resolve, reject }));
    void this.#sendTail.then(() => {
      if (this.#state === 'release-sent' || this.#state.startsWith('collision'))
        this.socket.write(encodeReleaseRq());
    });
    this.#startArtim('no A-RELEASE-RP');
    return p;
  }

  /** A-ABORT (service user) and close. */
  abort(source: number = AbortSource.ServiceUser, reason: number = 0): void {
    if (this.#state === 'closed') return;
    if (this.#state !== 'closing' && !this.socket.destroyed) {
      this.socket.write(encodeAbort(source, reason));
    }
    this.#state = 'closing';
    this.#failEverything(new AssociationEndedError('association aborted'));
    this.socket.end();
    this.#startArtim('peer did not close after A-ABORT');
  }

  #protocolError(e: unknown): void {
    const reason = e instanceof PduError ? e.abortReason : AbortReason.NotSpecified;
    this.#log('warn', `protocol error, aborting: ${e instanceof Error ? e.message : String(e)}`);
    this.#reader.stop();
    this.abort(AbortSource.ServiceProvider, reason);
  }

  #destroy(reason: string): void {
    this.socket.destroy();
    this.#end(this.#graceful, reason);
  }

  #end(graceful: boolean, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#state = 'closed';
    this.#clearTimer();
    this.#reader.stop();
    if (!this.socket.destroyed) this.socket.destroy();
    this.#failEverything(new AssociationEndedError(`association ended: ${reason}`));
    if (this.#releaseDone !== undefined) {
      if (graceful) this.#releaseDone.resolve();
      else this.#releaseDone.reject(new AssociationEndedError(`release failed: ${reason}`));
      this.#releaseDone = undefined;
    }
    this.#controller.abort(new AssociationEndedError(reason));
    this.#resolveClosed();
    try {
      this.hooks.onClose?.({ graceful, reason });
    } catch (e) {
      this.#log('error', 'onClose hook threw', { error: String(e) });
    }
  }

  #failEverything(err: Error): void {
    const asm = this.#asm;
    this.#asm = null;
    if (asm !== null) {
      asm.msg?.stream?.destroy(err);
      asm.resolveComplete(false);
    }
    if (this.#pausedBy !== null) {
      this.#pausedBy = null;
    }
    const ls = [...this.#listeners.values()];
    this.#listeners.clear();
    for (const l of ls) l.onEnd(err);
  }

  // ------------------------------------------------------------------------------------------
  // incoming

  #onData(chunk: Buffer): void {
    try {
      this.#reader.feed(chunk, (type, body) => this.#onPdu(type, body), this.#onPdv);
    } catch (e) {
      this.#protocolError(e);
    }
  }

  #unexpected(type: number): never {
    throw new PduError(`unexpected PDU type ${type} in state ${this.#state}`, AbortReason.UnexpectedPdu);
  }

  #onPdu(type: number, body: Buffer): void {
    const st = this.#state;
    if (st === 'closed') return;
    if (type === PduType.Abort) {
      const a = decodeAbort(body);
      this.#log('info', `A-ABORT received (source ${a.source}, reason ${a.reason})`);
      this.#reader.stop();
      this.#destroy(`A-ABORT received (source ${a.source}, reason ${a.reason})`);
      return;
    }
    if (st === 'closing') return; // ignore everything while waiting for the close
    switch (type) {
      case PduType.AssociateRq:
        if (this.role !== 'acceptor' || st !== 'awaiting-associate') this.#unexpected(type);
        this.#clearTimer();
        this.#state = 'negotiating';
        this.hooks.onAssociateRq?.(decodeAssociateRq(body));
        return;
      case PduType.AssociateAc:
        if (this.role !== 'requestor' || st !== 'awaiting-associate') this.#unexpected(type);
        this.#clearTimer();
        this.#state = 'negotiating';
        this.hooks.onAssociateAc?.(decodeAssociateAc(body));
        return;
      case PduType.AssociateRj:
        if (this.role !== 'requestor' || st !== 'awaiting-associate') this.#unexpected(type);
        this.#clearTimer();
        this.#state = 'closing';
        this.hooks.onAssociateRj?.(decodeAssociateRj(body));
        this.socket.end();
        this.#startArtim('close after A-ASSOCIATE-RJ');
        return;
      case PduType.PData:
        if (st !== 'established' && st !== 'release-sent' && st !== 'release-received')
          this.#unexpected(type);
        this.#onPData(body);
        return;
      case PduType.ReleaseRq:
        this.#onReleaseRq(st);
        return;
      case PduType.ReleaseRp:
        this.#onReleaseRp(st);
        return;
      default:
        this.#unexpected(type);
    }
  }

  #onReleaseRq(st: State): void {
    if (st === 'established') {
      this.#state = 'release-received';
      const ready = this.hooks.onReleaseRequested?.() ?? Promise.resolve();
      ready
        .catch(noop)
        .then(() => this.#sendTail)
        .then(() => {
          if (this.#state !== 'release-received') return;
          this.#state = 'closing';
          this.#graceful = true;
          this.socket.write(encodeReleaseRp());
          this.#startArtim('peer did not close after A-RELEASE-RP');
        }, noop);
    } else if (st === 'release-sent') {
      // release collision (PS3.8 Table 9-10 AR-8)
      if (this.role === 'requestor') {
        this.#state = 'collision-requestor';
        this.socket.write(encodeReleaseRp());
      } else {
        this.#state = 'collision-acceptor';
      }
    } else this.#unexpected(PduType.ReleaseRq);
  }

  #onReleaseRp(st: State): void {
    if (st === 'release-sent' || st === 'collision-requestor') {
      // we asked: we close the transport (AR-3)
      this.#state = 'closing';
      this.#graceful = true;
      this.socket.end();
      this.#startArtim('close after A-RELEASE-RP');
      this.#releaseResolved();
    } else if (st === 'collision-acceptor') {
      this.#state = 'closing';
      this.#graceful = true;
      this.socket.write(encodeReleaseRp());
      this.#startArtim('peer did not close after release collision');
      this.#releaseResolved();
    } else this.#unexpected(PduType.ReleaseRp);
  }

  #releaseResolved(): void {
    this.#releaseDone?.resolve();
    this.#releaseDone = undefined;
  }

  #onPData(body: Buffer): void {
    for (const pdv of decodePData(body)) this.#onPdv(pdv.pcId, pdv.command, pdv.last, pdv.data, true);
  }

  /** A piece of a PDV (`end`: its last piece); `last` is the PDV's last-fragment flag. */
  #onPdv = (pcId: number, command: boolean, lastFlag: boolean, data: Buffer, end: boolean): void => {
    const st = this.#state;
    if (st === 'closing' || st === 'closed') return;
    if (st !== 'established' && st !== 'release-sent' && st !== 'release-received')
      this.#unexpected(PduType.PData);
    const last = lastFlag && end;
    let asm = this.#asm;
    if (command) {
      if (asm !== null && asm.msg !== null)
        throw new PduError('command fragment while a dataset is expected');
      if (asm === null) {
        asm = {
          pcId,
          cmdParts: [],
          cmdLength: 0,
          msg: null,
          dsParts: [],
          dsLength: 0,
          resolveComplete: noop,
          isResponse: false,
          stream: null,
        };
        this.#asm = asm;
      } else if (asm.pcId !== pcId)
        throw new PduError('command fragments on different presentation contexts');
      if (data.length > 0) {
        asm.cmdParts.push(data);
        asm.cmdLength += data.length;
      }
      if (asm.cmdLength > 65536) throw new PduError('command set too large');
      if (last) this.#commandComplete(asm);
      return;
    }
    if (asm === null || asm.msg === null) throw new PduError('dataset fragment without a command');
    if (asm.pcId !== pcId) throw new PduError('dataset fragment on another presentation context');
    const msg = asm.msg;
    const s = asm.stream;
    if (s !== null) {
      if (!s.destroyed && data.length > 0) {
        if (!s.pushPiece(data) && !s.destroyed) this.#pause(s);
      }
      if (last) {
        if (!s.destroyed) s.push(null);
        this.#asm = null;
        asm.resolveComplete(true);
      }
      return;
    }
    if (data.length > 0) {
      asm.dsParts.push(data);
      asm.dsLength += data.length;
    }
    if (asm.dsLength > (this.#opts.maxBufferedDataset ?? 64 << 20))
      throw new PduError('dataset too large to buffer');
    if (last) {
      msg.dataset =
        asm.dsParts.length === 1
          ? (asm.dsParts[0] ?? Buffer.alloc(0))
          : Buffer.concat(asm.dsParts, asm.dsLength);
      this.#asm = null;
      asm.resolveComplete(true);
      this.#deliver(msg, asm.isResponse);
    }
  };

  #commandComplete(asm: Assembly): void {
    const bytes =
      asm.cmdParts.length === 1 ? (asm.cmdParts[0] ?? Buffer.alloc(0)) : Buffer.concat(asm.cmdParts);
    let command: Command;
    try {
      command = decodeCommand(bytes);
    } catch (e) {
      throw new PduError(`bad command set: ${e instanceof Error ? e.message : String(e)}`);
    }
    const resp = isResponse(command.commandField);
    let settle: (ok: boolean) => void = noop;
    const complete = new Promise<boolean>((r) => (settle = r));
    const msg: IncomingMessage = {
      pcId: asm.pcId,
      command,
      dataset: null,
      stream: null,
      complete,
      completed: null,
    };
    const resolveComplete = (ok: boolean): void => {
      if (msg.completed === null) msg.completed = ok;
      settle(ok);
    };
    asm.isResponse = resp;
    if (!hasDataset(command)) {
      this.#asm = null;
      resolveComplete(true);
      this.#deliver(msg, resp);
      return;
    }
    asm.msg = msg;
    asm.resolveComplete = resolveComplete;
    if (!resp && command.commandField === CommandField.CStoreRq) {
      const stream: DatasetStream = new DatasetStream(this.#opts.streamHighWaterMark ?? 1 << 20, () => {
        if (this.#pausedBy === stream) this.#resume();
      });
      stream.once('close', () => {
        if (this.#pausedBy === stream) this.#resume();
      });
      msg.stream = stream;
      asm.stream = stream;
      this.#deliver(msg, false);
    }
  }

  #deliver(msg: IncomingMessage, response: boolean): void {
    if (response) {
      const id = msg.command.messageIdBeingRespondedTo ?? -1;
      const l = this.#listeners.get(id);
      if (l === undefined) {
        this.#log('warn', `response to unknown message id ${id} ignored`);
        return;
      }
      l.onResponse(msg);
    } else {
      this.hooks.onRequest(msg);
    }
  }

  #pause(s: Readable): void {
    if (this.#pausedBy !== null) return;
    this.#pausedBy = s;
    this.socket.pause();
  }

  #resume(): void {
    this.#pausedBy = null;
    if (this.#state !== 'closed') this.socket.resume();
  }

  // ------------------------------------------------------------------------------------------
  // responses

  /** Route responses to `messageId` to `listener` until `stopListening`. */
  listen(messageId: number, listener: ResponseListener): void {
    if (this.#state === 'closed' || this.#state === 'closing') {
      listener.onEnd(new AssociationEndedError('association is closed'));
      return;
    }
    this.#listeners.set(messageId, listener);
  }

  stopListening(messageId: number): void {
    this.#listeners.delete(messageId);
  }

  // ------------------------------------------------------------------------------------------
  // outgoing

  /**
   * Send one DIMSE message (command + optional dataset), serialized with other messages. The dataset is
   * cut into PDVs no larger than the peer's max PDU; a Readable is streamed with backpressure.
   */
  send(pcId: number, command: Command, data?: Uint8Array | Readable | null): Promise<void> {
    const run = (): Promise<void> => this.#sendNow(pcId, command, data ?? null);
    // nothing being sent: start right away (a response goes out in the same tick as the handler's
    // result, before stream clean-up callbacks); otherwise queue behind the previous message
    const p = this.#sending === 0 && this.#state === 'established' ? run() : this.#sendTail.then(run);
    this.#sending++;
    const done = (): void => {
      this.#sending--;
    };
    this.#sendTail = p.then(done, done);
    return p;
  }

  #checkWritable(): void {
    const st = this.#state;
    if (
      st !== 'established' &&
      st !== 'release-sent' &&
      st !== 'release-received' &&
      !st.startsWith('collision')
    ) {
      throw new AssociationEndedError(`association not open (${st})`);
    }
    if (this.socket.destroyed) throw new AssociationEndedError('socket destroyed');
  }

  #fragmentSize(): number {
    const max = this.peerMaxPdu === 0 ? 1 << 20 : Math.min(this.peerMaxPdu, 1 << 24);
    return Math.max(max - 6, 64);
  }

  #waitDrain(): Promise<void> {
    // the socket may have drained (and emitted 'drain') while we were reading the next chunk
    if (!this.socket.writableNeedDrain && !this.socket.destroyed) return Promise.resolve();
    if (this.#drain === undefined) {
      this.#drain = new Promise<void>((resolve, reject) => {
        const done = (): void => {
          this.socket.off('drain', onDrain);
          this.socket.off('close', onClose);
          this.#drain = undefined;
        };
        const onDrain = (): void => {
          done();
          resolve();
        };
        const onClose = (): void => {
          done();
          reject(new AssociationEndedError('connection closed while sending'));
        };
        this.socket.on('drain', onDrain);
        this.socket.on('close', onClose);
      });
    }
    return this.#drain;
  }

  /** Write one PDV (possibly made of several pieces); returns false when the socket buffer is full. */
  #writePdv(pcId: number, command: boolean, last: boolean, pieces: Uint8Array[], length: number): boolean {
    const s = this.socket;
    s.cork();
    let ok = s.write(pDataHeader(pcId, command, last, length));
    for (const p of pieces) ok = s.write(p);
    s.uncork();
    return ok;
  }

  async #sendNow(pcId: number, command: Command, data: Uint8Array | Readable | null): Promise<void> {
    this.#checkWritable();
    const frag = this.#fragmentSize();
    const pdu = encodeCommandWithHeadroom(command, 12);
    const cmd = pdu.subarray(12);
    let ok = true;
    if (cmd.length <= frag) {
      // the usual case: the whole command in one PDU, one buffer, one write (no cork/writev)
      pdu[0] = PduType.PData;
      pdu[1] = 0;
      pdu.writeUInt32BE(cmd.length + 6, 2);
      pdu.writeUInt32BE(cmd.length + 2, 6);
      pdu[10] = pcId;
      pdu[11] = 3; // command, last fragment
      ok = this.socket.write(pdu);
    } else {
      for (let off = 0; off < cmd.length; off += frag) {
        const end = Math.min(cmd.length, off + frag);
        ok = this.#writePdv(pcId, true, end === cmd.length, [cmd.subarray(off, end)], end - off);
      }
    }
    if (data === null) {
      if (!ok) await this.#waitDrain();
      return;
    }
    if (data instanceof Uint8Array) {
      if (data.length === 0) ok = this.#writePdv(pcId, false, true, [], 0);
      for (let off = 0; off < data.length; off += frag) {
        if (!ok) {
          await this.#waitDrain();
          this.#checkWritable();
        }
        const end = Math.min(data.length, off + frag);
        ok = this.#writePdv(pcId, false, end === data.length, [data.subarray(off, end)], end - off);
      }
      if (!ok) await this.#waitDrain();
      return;
    }
    // streamed dataset: keep at most one fragment plus one chunk queued
    const queue: Uint8Array[] = [];
    let queued = 0;
    const take = (n: number): Uint8Array[] => {
      const out: Uint8Array[] = [];
      let need = n;
      while (need > 0) {
        const head = queue[0];
        if (head === undefined) break;
        if (head.length <= need) {
          out.push(head);
          queue.shift();
          need -= head.length;
        } else {
          out.push(head.subarray(0, need));
          queue[0] = head.subarray(need);
          need = 0;
        }
      }
      queued -= n - need;
      return out;
    };
    for await (const chunk of data as AsyncIterable<Buffer | string>) {
      const c = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      if (c.length === 0) continue;
      queue.push(c);
      queued += c.length;
      while (queued > frag) {
        if (!ok) {
          await this.#waitDrain();
        }
        this.#checkWritable();
        ok = this.#writePdv(pcId, false, false, take(frag), frag);
      }
    }
    this.#checkWritable();
    const n = queued;
    ok = this.#writePdv(pcId, false, true, take(n), n);
    if (!ok) await this.#waitDrain();
  }
}
