/**
 * DimseClient: the SCU side. `connect()` opens an association; the returned ClientAssociation offers
 * C-ECHO, C-STORE (streamed), C-FIND, C-MOVE, C-GET (with incoming C-STOREs), C-CANCEL, release, abort.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import { DimseError, Status } from './types.ts';
import type { RetrieveProgress, StoreRequest, StoreResult, UserIdentity } from './types.ts';
import { ContextResult, encodeAssociateRq } from './pdu.ts';
import type { AssociateAc, AssociateRj, RoleSelection } from './pdu.ts';
import { CommandField, HAS_DATASET, NO_DATASET, Priority, isPending, isSuccessLike } from './command.ts';
import type { Command } from './command.ts';
import {
  AssociationEndedError,
  DEFAULT_MAX_PDU,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  UpperLayer,
} from './upper-layer.ts';
import type { IncomingMessage, LogFn } from './upper-layer.ts';
import { ApplicationContextName, SopClass, TransferSyntax } from './uids.ts';
import { readFailedUidList } from './identifier.ts';

export interface ContextProposal {
  abstractSyntax: string;
  transferSyntaxes: string[];
  /** propose SCP role for this abstract syntax (C-GET storage contexts) */
  scpRole?: boolean;
  /** with scpRole: also keep the SCU role (default true unless scpRole is set) */
  scuRole?: boolean;
}

export interface ClientTimeouts {
  /** TCP (+TLS) connection, ms (default 10 000) */
  connectMs?: number;
  /** waiting for A-ASSOCIATE-AC/RJ, and for A-RELEASE-RP, ms (default 30 000) */
  associateMs?: number;
  /** waiting for each DIMSE response (pending responses restart it), ms (default 0 = none) */
  dimseMs?: number;
  /** abort an idle association after, ms (default 0 = never) */
  idleMs?: number;
}

export interface ConnectOptions {
  host: string;
  port: number;
  callingAeTitle: string;
  calledAeTitle: string;
  contexts: ContextProposal[];
  /** our max receive PDU length (default 256 KiB) */
  maxPduLength?: number;
  /** hard cap on incoming PDUs (default 16 MiB) */
  maxIncomingPduLength?: number;
  userIdentity?: UserIdentity;
  tls?: tls.ConnectionOptions;
  timeouts?: ClientTimeouts;
  /** propose an asynchronous operations window (invoked by us) */
  maxOpsInvoked?: number;
  /** handles C-STORE requests arriving outside a C-GET (default: refused) */
  onStore?: StoreHandler;
  log?: LogFn;
}

/** Receives a C-STORE sub-operation (C-GET): read `data` fully, resolve when durable. */
export type StoreHandler = (req: StoreRequest, data: Readable) => Promise<StoreResult>;

/** A negotiated presentation context as seen by the requestor. Roles are OUR roles. */
export interface NegotiatedContext {
  id: number;
  abstractSyntax: string;
  /** 0 acceptance, 1 user rejection, 2 no reason, 3 abstract syntax not supported, 4 transfer syntaxes not supported */
  result: number;
  transferSyntax: string;
  /** we may act as SCU / SCP for this abstract syntax */
  scuRole: boolean;
  scpRole: boolean;
}

export class AssociationRejectedError extends Error {
  readonly result: number;
  readonly source: number;
  readonly reason: number;
  constructor(rj: { result: number; source: number; reason: number }) {
    super(`association rejected (result ${rj.result}, source ${rj.source}, reason ${rj.reason})`);
    this.name = 'AssociationRejectedError';
    this.result = rj.result;
    this.source = rj.source;
    this.reason = rj.reason;
  }
}

export interface RetrieveStatus extends RetrieveProgress {
  status: number;
  errorComment?: string;
}

export interface StoreParams {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntax: string;
  data: Readable | Uint8Array;
  priority?: number;
  moveOriginator?: { aeTitle: string; messageId: number };
}

const noop = (): void => {};

/**
 * Presentation contexts to propose for sending files as they are: one context per distinct
 * (SOP class, transfer syntax), plus Verification. Pair with `ClientAssociation.contextFor`.
 */
export function storageContexts(files: { sopClassUid: string; transferSyntax: string }[]): ContextProposal[] {
  const seen = new Set<string>();
  const out: ContextProposal[] = [
    { abstractSyntax: SopClass.Verification, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
  ];
  for (const f of files) {
    const key = `${f.sopClassUid} ${f.transferSyntax}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ abstractSyntax: f.sopClassUid, transferSyntaxes: [f.transferSyntax] });
  }
  if (out.length > 128) throw new RangeError('more than 128 presentation contexts');
  return out;
}

/** Accepted context for `abstractSyntax` whose transfer syntax equals `transferSyntax` (any when omitted). */
export function pickContext(
  contexts: NegotiatedContext[],
  abstractSyntax: string,
  transferSyntax?: string,
  role: 'scu' | 'scp' = 'scu',
): NegotiatedContext | undefined {
  return contexts.find(
    (c) =>
      c.result === ContextResult.Acceptance &&
      c.abstractSyntax === abstractSyntax &&
      (transferSyntax === undefined || c.transferSyntax === transferSyntax) &&
      (role === 'scu' ? c.scuRole : c.scpRole),
  );
}

/** Open an association. Rejects with AssociationRejectedError on A-ASSOCIATE-RJ. */
export async function connect(opts: ConnectOptions): Promise<ClientAssociation> {
  const t = opts.timeouts ?? {};
  const socket = await openSocket(opts, t.connectMs ?? 10_000);
  const ul = new UpperLayer(
    socket,
    {
      role: 'requestor',
      maxIncomingPduLength: opts.maxIncomingPduLength ?? (16 << 20) + 6,
      artimTimeoutMs: t.associateMs ?? 30_000,
      idleTimeoutMs: t.idleMs ?? 0,
      log: opts.log,
    },
    { onRequest: noop },
  );
  if (opts.contexts.length === 0 || opts.contexts.length > 128) {
    socket.destroy();
    throw new RangeError('between 1 and 128 presentation contexts must be proposed');
  }
  const proposed = opts.contexts.map((c, i) => ({ ...c, id: 2 * i + 1 }));
  const roles: RoleSelection[] = [];
  for (const c of proposed) {
    if (c.scpRole === true && !roles.some((r) => r.sopClassUid === c.abstractSyntax)) {
      roles.push({ sopClassUid: c.abstractSyntax, scuRole: c.scuRole ?? false, scpRole: true });
    }
  }
  const rq = encodeAssociateRq({
    protocolVersion: 1,
    calledAeTitle: opts.calledAeTitle,
    callingAeTitle: opts.callingAeTitle,
    applicationContext: ApplicationContextName,
    contexts: proposed.map((c) => ({
      id: c.id,
      abstractSyntax: c.abstractSyntax,
      transferSyntaxes: c.transferSyntaxes,
    })),
    userInfo: {
      maxPduLength: opts.maxPduLength ?? DEFAULT_MAX_PDU,
      implementationClassUid: IMPLEMENTATION_CLASS_UID,
      implementationVersionName: IMPLEMENTATION_VERSION_NAME,
      ...(opts.maxOpsInvoked !== undefined && opts.maxOpsInvoked !== 1
        ? { asyncOps: { invoked: opts.maxOpsInvoked, performed: 1 } }
        : {}),
      roles,
      ...(opts.userIdentity !== undefined ? { userIdentity: opts.userIdentity } : {}),
    },
  });
  const answer = await new Promise<AssociateAc>((resolve, reject) => {
    ul.hooks = {
      onRequest: noop,
      onAssociateAc: resolve,
      onAssociateRj: (rj: AssociateRj) => reject(new AssociationRejectedError(rj)),
      onClose: (i) => reject(new AssociationEndedError(`association not established: ${i.reason}`)),
    };
    ul.sendAssociateRq(rq);
  });
  const byId = new Map(proposed.map((c) => [c.id, c]));
  const acRoles = new Map(answer.userInfo.roles.map((r) => [r.sopClassUid, r]));
  const contexts: NegotiatedContext[] = answer.contexts.map((c) => {
    const p = byId.get(c.id);
    const abstractSyntax = p?.abstractSyntax ?? '';
    let scuRole = true;
    let scpRole = false;
    if (p?.scpRole === true) {
      const r = acRoles.get(abstractSyntax);
      // PS3.8 D.3.3.4: no reply item means the default roles
      if (r !== undefined) {
        scuRole = r.scuRole && (p.scuRole ?? false);
        scpRole = r.scpRole;
      }
    }
    return {
      id: c.id,
      abstractSyntax,
      result:
        p === undefined || !p.transferSyntaxes.includes(c.transferSyntax)
          ? c.result || ContextResult.NoReason
          : c.result,
      transferSyntax: c.transferSyntax,
      scuRole,
      scpRole,
    };
  });
  const assoc = new ClientAssociation(ul, opts, contexts, answer);
  ul.established(answer.userInfo.maxPduLength);
  return assoc;
}

function openSocket(opts: ConnectOptions, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      opts.tls !== undefined
        ? tls.connect({ ...opts.tls, host: opts.host, port: opts.port })
        : net.connect({ host: opts.host, port: opts.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${opts.host}:${opts.port} timed out`));
    }, timeoutMs);
    const ok = (): void => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    };
    const fail = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    socket.once(opts.tls !== undefined ? 'secureConnect' : 'connect', ok);
    socket.once('error', fail);
  });
}

/** A FIFO of responses for one operation, consumed by an async generator. */
class ResponseQueue {
  #items: IncomingMessage[] = [];
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  push(m: IncomingMessage): void {
    this.#items.push(m);
    this.#wake?.();
  }
  fail(e: Error): void {
    this.#error = e;
    this.#wake?.();
  }
  async next(): Promise<IncomingMessage> {
    for (;;) {
      const m = this.#items.shift();
      if (m !== undefined) return m;
      if (this.#error !== undefined) throw this.#error;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = undefined;
    }
  }
}

export class ClientAssociation {
  /** every context as answered by the peer (see `accepted` for the usable ones) */
  readonly contexts: NegotiatedContext[];
  readonly maxPduLength: number;
  readonly peerImplementationClassUid: string | undefined;
  readonly peerImplementationVersionName: string | undefined;
  readonly userIdentityResponse: Uint8Array | undefined;
  #ul: UpperLayer;
  #opts: ConnectOptions;
  #window: number;
  #inFlight = 0;
  #slotWaiters: (() => void)[] = [];
  #getStore: StoreHandler | undefined;

  constructor(ul: UpperLayer, opts: ConnectOptions, contexts: NegotiatedContext[], ac: AssociateAc) {
    this.#ul = ul;
    this.#opts = opts;
    this.contexts = contexts;
    this.maxPduLength = ac.userInfo.maxPduLength;
    this.peerImplementationClassUid = ac.userInfo.implementationClassUid;
    this.peerImplementationVersionName = ac.userInfo.implementationVersionName;
    this.userIdentityResponse = ac.userInfo.userIdentityResponse;
    const w = ac.userInfo.asyncOps;
    this.#window =
      w === undefined
        ? 1
        : w.performed === 0
          ? (opts.maxOpsInvoked ?? 1)
          : Math.max(1, Math.min(w.performed, opts.maxOpsInvoked ?? 1));
    ul.hooks = {
      onRequest: (m) => void this.#onRequest(m),
      isBusy: () => this.#inFlight > 0,
    };
  }

  /** accepted contexts */
  get accepted(): NegotiatedContext[] {
    return this.contexts.filter((c) => c.result === ContextResult.Acceptance);
  }
  /** aborted when the association ends */
  get signal(): AbortSignal {
    return this.#ul.signal;
  }
  /** resolves once the connection is closed */
  get closed(): Promise<void> {
    return this.#ul.closed;
  }
  get isOpen(): boolean {
    return this.#ul.state === 'established';
  }

  /** the accepted context to send `abstractSyntax` in, optionally with exactly `transferSyntax` */
  contextFor(abstractSyntax: string, transferSyntax?: string): NegotiatedContext | undefined {
    return pickContext(this.contexts, abstractSyntax, transferSyntax);
  }

  #requireContext(abstractSyntax: string, transferSyntax?: string): NegotiatedContext {
    const c = this.contextFor(abstractSyntax, transferSyntax);
    if (c === undefined) {
      throw new DimseError(
        Status.SopClassNotSupported,
        `no accepted presentation context for ${abstractSyntax}${transferSyntax !== undefined ? ` in ${transferSyntax}` : ''}`,
      );
    }
    return c;
  }

  async #acquire(): Promise<void> {
    while (this.#inFlight >= this.#window) await new Promise<void>((r) => this.#slotWaiters.push(r));
    this.#inFlight++;
  }

  #releaseSlot(): void {
    this.#inFlight--;
    this.#slotWaiters.shift()?.();
  }

  /** Send a request and return a queue receiving its responses; caller must call `finish`. */
  #start(
    pcId: number,
    cmd: Command,
    data: Uint8Array | Readable | null,
  ): { id: number; queue: ResponseQueue; sent: Promise<void>; finish: () => void } {
    const ul = this.#ul;
    const id = ul.nextMessageId();
    const queue = new ResponseQueue();
    let timer: NodeJS.Timeout | undefined;
    const dimseMs = this.#opts.timeouts?.dimseMs ?? 0;
    const arm = (): void => {
      if (dimseMs <= 0) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => {
        queue.fail(new Error('DIMSE response timeout'));
        ul.abort();
      }, dimseMs);
    };
    ul.listen(id, {
      onResponse: (m) => {
        arm();
        queue.push(m);
      },
      onEnd: (e) => queue.fail(e),
    });
    const sent = ul.send(pcId, { ...cmd, messageId: id }, data).then(arm, (e: unknown) => {
      queue.fail(e instanceof Error ? e : new Error(String(e)));
      throw e;
    });
    sent.catch(noop);
    return {
      id,
      queue,
      sent,
      finish: () => {
        if (timer !== undefined) clearTimeout(timer);
        ul.stopListening(id);
      },
    };
  }

  /** C-ECHO */
  async echo(): Promise<StoreResult> {
    const pc = this.#requireContext(SopClass.Verification);
    await this.#acquire();
    const op = this.#start(
      pc.id,
      {
        commandField: CommandField.CEchoRq,
        affectedSopClassUid: pc.abstractSyntax,
        commandDataSetType: NO_DATASET,
      },
      null,
    );
    try {
      const m = await op.queue.next();
      return resultOf(m.command);
    } finally {
      op.finish();
      this.#releaseSlot();
    }
  }

  /** C-STORE: streams `data` (dataset bytes, no Part-10 meta) in PDVs sized to the peer's max PDU. */
  async store(p: StoreParams): Promise<StoreResult> {
    const pc = this.#requireContext(p.sopClassUid, p.transferSyntax);
    await this.#acquire();
    const cmd: Command = {
      commandField: CommandField.CStoreRq,
      affectedSopClassUid: p.sopClassUid,
      affectedSopInstanceUid: p.sopInstanceUid,
      priority: p.priority ?? Priority.Medium,
      commandDataSetType: HAS_DATASET,
    };
    if (p.moveOriginator !== undefined) {
      cmd.moveOriginatorAeTitle = p.moveOriginator.aeTitle;
      cmd.moveOriginatorMessageId = p.moveOriginator.messageId;
    }
    const op = this.#start(pc.id, cmd, p.data);
    try {
      await op.sent;
      const m = await op.queue.next();
      return resultOf(m.command);
    } finally {
      op.finish();
      this.#releaseSlot();
    }
  }

  /**
   * C-FIND: yields each pending identifier (encoded in the context's transfer syntax); returns the final
   * status (Success, or Cancel after `signal` aborted or the consumer stopped early). Throws DimseError on a
   * failure status.
   */
  async *find(
    sopClassUid: string,
    identifier: Uint8Array,
    options: { signal?: AbortSignal; priority?: number; transferSyntax?: string } = {},
  ): AsyncGenerator<Uint8Array, number> {
    const pc = this.#requireContext(sopClassUid, options.transferSyntax);
    await this.#acquire();
    const op = this.#start(
      pc.id,
      {
        commandField: CommandField.CFindRq,
        affectedSopClassUid: sopClassUid,
        priority: options.priority ?? 0,
        commandDataSetType: HAS_DATASET,
      },
      identifier,
    );
    const cancel = this.#canceller(pc.id, op.id, options.signal);
    let final = false;
    try {
      for (;;) {
        const m = await op.queue.next();
        const status = m.command.status ?? Status.ProcessingFailure;
        if (isPending(status)) {
          if (m.dataset !== null && !cancel.sent) yield m.dataset;
          continue;
        }
        final = true;
        if (status === Status.Success || status === Status.Cancel) return status;
        throw new DimseError(
          status,
          m.command.errorComment ?? `C-FIND failed with status 0x${status.toString(16)}`,
        );
      }
    } finally {
      cancel.dispose();
      if (!final && this.#ul.isOpen) {
        // the consumer stopped early: cancel and wait for the final response
        cancel.send();
        try {
          for (;;) {
            const m = await op.queue.next();
            if (!isPending(m.command.status ?? 0)) break;
          }
        } catch {
          // association ended
        }
      }
      op.finish();
      this.#releaseSlot();
    }
  }

  #canceller(
    pcId: number,
    id: number,
    signal: AbortSignal | undefined,
  ): { sent: boolean; send: () => void; dispose: () => void } {
    const state = {
      sent: false,
      send: (): void => {
        if (state.sent || !this.#ul.isOpen) return;
        state.sent = true;
        this.#ul
          .send(pcId, {
            commandField: CommandField.CCancelRq,
            messageIdBeingRespondedTo: id,
            commandDataSetType: NO_DATASET,
          })
          .catch(noop);
      },
      dispose: (): void => signal?.removeEventListener('abort', state.send),
    };
    if (signal !== undefined) {
      if (signal.aborted) state.send();
      else signal.addEventListener('abort', state.send, { once: true });
    }
    return state;
  }

  /** C-MOVE: yields pending progress, returns the final status; throws DimseError on failure statuses. */
  move(
    sopClassUid: string,
    identifier: Uint8Array,
    destination: string,
    options: { signal?: AbortSignal; priority?: number } = {},
  ): AsyncGenerator<RetrieveStatus, RetrieveStatus> {
    return this.#retrieve(
      {
        commandField: CommandField.CMoveRq,
        affectedSopClassUid: sopClassUid,
        moveDestination: destination,
        priority: options.priority ?? 0,
        commandDataSetType: HAS_DATASET,
      },
      identifier,
      options.signal,
      undefined,
    );
  }

  /** C-GET: incoming C-STOREs go to `onStore`; yields pending progress, returns the final status. */
  get(
    sopClassUid: string,
    identifier: Uint8Array,
    onStore: StoreHandler,
    options: { signal?: AbortSignal; priority?: number } = {},
  ): AsyncGenerator<RetrieveStatus, RetrieveStatus> {
    return this.#retrieve(
      {
        commandField: CommandField.CGetRq,
        affectedSopClassUid: sopClassUid,
        priority: options.priority ?? 0,
        commandDataSetType: HAS_DATASET,
      },
      identifier,
      options.signal,
      onStore,
    );
  }

  async *#retrieve(
    cmd: Command,
    identifier: Uint8Array,
    signal: AbortSignal | undefined,
    onStore: StoreHandler | undefined,
  ): AsyncGenerator<RetrieveStatus, RetrieveStatus> {
    const pc = this.#requireContext(cmd.affectedSopClassUid ?? '');
    await this.#acquire();
    if (onStore !== undefined) this.#getStore = onStore;
    const op = this.#start(pc.id, cmd, identifier);
    const cancel = this.#canceller(pc.id, op.id, signal);
    let final = false;
    try {
      for (;;) {
        const m = await op.queue.next();
        const c = m.command;
        const status = c.status ?? Status.ProcessingFailure;
        const progress: RetrieveStatus = {
          status,
          remaining: c.remaining ?? 0,
          completed: c.completed ?? 0,
          failed: c.failed ?? 0,
          warning: c.warning ?? 0,
        };
        if (c.errorComment !== undefined) progress.errorComment = c.errorComment;
        if (isPending(status)) {
          yield progress;
          continue;
        }
        final = true;
        if (m.dataset !== null) {
          const uids = readFailedUidList(m.dataset, pc.transferSyntax);
          if (uids !== undefined) progress.failedSopInstanceUids = uids;
        }
        if (status === Status.Success || status === Status.Cancel || isSuccessLike(status)) return progress;
        throw new DimseError(
          status,
          c.errorComment ??
            `${cmd.commandField === CommandField.CGetRq ? 'C-GET' : 'C-MOVE'} failed with status 0x${status.toString(16)}`,
        );
      }
    } finally {
      cancel.dispose();
      if (!final && this.#ul.isOpen) {
        cancel.send();
        try {
          for (;;) {
            const m = await op.queue.next();
            if (!isPending(m.command.status ?? 0)) break;
          }
        } catch {
          // association ended
        }
      }
      if (onStore !== undefined && this.#getStore === onStore) this.#getStore = undefined;
      op.finish();
      this.#releaseSlot();
    }
  }

  async #onRequest(msg: IncomingMessage): Promise<void> {
    const cmd = msg.command;
    const ul = this.#ul;
    const reply = async (c: Command): Promise<void> => {
      if (!ul.isOpen) return;
      await ul.send(msg.pcId, c).catch(noop);
    };
    if (cmd.commandField === CommandField.CEchoRq) {
      return reply({
        commandField: CommandField.CEchoRsp,
        affectedSopClassUid: cmd.affectedSopClassUid ?? '',
        messageIdBeingRespondedTo: cmd.messageId ?? 0,
        commandDataSetType: NO_DATASET,
        status: Status.Success,
      });
    }
    if (cmd.commandField !== CommandField.CStoreRq || msg.stream === null) {
      await msg.complete;
      return reply({
        commandField: (cmd.commandField | 0x8000) & 0xffff,
        messageIdBeingRespondedTo: cmd.messageId ?? 0,
        commandDataSetType: NO_DATASET,
        status: 0x0211,
      });
    }
    const stream = msg.stream;
    const pc = this.contexts.find((c) => c.id === msg.pcId);
    const req: StoreRequest = {
      presentationContextId: msg.pcId,
      sopClassUid: cmd.affectedSopClassUid ?? '',
      sopInstanceUid: cmd.affectedSopInstanceUid ?? '',
      transferSyntax: pc?.transferSyntax ?? '',
      priority: cmd.priority ?? 0,
    };
    if (cmd.moveOriginatorAeTitle !== undefined) req.moveOriginatorAeTitle = cmd.moveOriginatorAeTitle;
    if (cmd.moveOriginatorMessageId !== undefined) req.moveOriginatorMessageId = cmd.moveOriginatorMessageId;
    const handler = this.#getStore ?? this.#opts.onStore;
    let r: StoreResult;
    if (handler === undefined || pc === undefined || !pc.scpRole) {
      stream.destroy();
      r = { status: Status.SopClassNotSupported, errorComment: 'no C-STORE handler' };
    } else {
      try {
        r = await handler(req, stream);
      } catch (e) {
        r =
          e instanceof DimseError
            ? { status: e.status, errorComment: e.message }
            : { status: Status.OutOfResources, errorComment: e instanceof Error ? e.message : String(e) };
      }
    }
    if (!stream.readableEnded) stream.destroy();
    if (!(msg.completed ?? (await msg.complete))) return;
    const rsp: Command = {
      commandField: CommandField.CStoreRsp,
      affectedSopClassUid: req.sopClassUid,
      affectedSopInstanceUid: req.sopInstanceUid,
      messageIdBeingRespondedTo: cmd.messageId ?? 0,
      commandDataSetType: NO_DATASET,
      status: r.status,
    };
    if (r.errorComment !== undefined && r.errorComment !== '') rsp.errorComment = r.errorComment.slice(0, 64);
    return reply(rsp);
  }

  /** A-RELEASE; waits for running operations first. */
  async release(): Promise<void> {
    while (this.#inFlight > 0 && this.#ul.state === 'established') {
      await new Promise<void>((r) => this.#slotWaiters.push(r));
      this.#slotWaiters.forEach((w) => w());
    }
    await this.#ul.release();
    await this.#ul.closed;
  }

  /** A-ABORT */
  abort(): void {
    this.#ul.abort();
  }
}

function resultOf(c: Command): StoreResult {
  const r: StoreResult = { status: c.status ?? Status.ProcessingFailure };
  if (c.errorComment !== undefined && c.errorComment !== '') r.errorComment = c.errorComment;
  return r;
}
