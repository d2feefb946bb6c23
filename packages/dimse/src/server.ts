/**
 * DimseServer: the SCP side. Accepts associations (PS3.8), negotiates presentation contexts and
 * dispatches C-ECHO / C-STORE / C-FIND / C-MOVE / C-GET / C-CANCEL to the handlers (PS3.7, PS3.4).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import { DimseError, Status } from './types.ts';
import type {
  AcceptedContext,
  AssociateReject,
  AssociationContext,
  AssociationRequest,
  MoveRequest,
  ProposedContext,
  QueryRequest,
  RetrieveProgress,
  ServerOptions,
  StoreRequest,
  StoreResult,
  SubOperationSender,
} from './types.ts';
import { ContextResult, encodeAssociateAc, encodeAssociateRj } from './pdu.ts';
import type { AcceptedContextItem, AssociateRq, RoleSelection } from './pdu.ts';
import { CommandField, HAS_DATASET, NO_DATASET, isPending, isResponse } from './command.ts';
import type { Command } from './command.ts';
import {
  DEFAULT_MAX_PDU,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  UpperLayer,
} from './upper-layer.ts';
import type { IncomingMessage, LogFn } from './upper-layer.ts';
import { ApplicationContextName, TransferSyntax, serviceKind } from './uids.ts';
import { encodeFailedUidList } from './identifier.ts';

const noop = (): void => {};

/** Status/comment for a thrown value: DimseError keeps its status, anything else gets `fallback`. */
export function errorToResult(e: unknown, fallback: number): StoreResult {
  if (e instanceof DimseError) return { status: e.status, errorComment: e.message };
  const msg = e instanceof Error ? e.message : String(e);
  return { status: fallback, errorComment: msg };
}

/** Default transfer syntax choice (see ScpHandlers.chooseTransferSyntax). */
export function defaultTransferSyntax(ctx: ProposedContext): string | null {
  if (serviceKind(ctx.abstractSyntax) === 'storage') return ctx.transferSyntaxes[0] ?? null;
  for (const ts of [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian]) {
    if (ctx.transferSyntaxes.includes(ts)) return ts;
  }
  return null;
}

function commentOf(r: StoreResult): { errorComment?: string } {
  return r.errorComment !== undefined && r.errorComment !== ''
    ? { errorComment: r.errorComment.slice(0, 64) }
    : {};
}

export class DimseServer<S = unknown> {
  readonly options: ServerOptions<S>;
  #server: net.Server;
  #associations = new Set<ServerAssociation<S>>();
  #log: LogFn;
  #closing = false;

  constructor(options: ServerOptions<S>) {
    this.options = options;
    this.#log = options.log ?? noop;
    const onSocket = (socket: net.Socket): void => this.#accept(socket);
    this.#server =
      options.tls !== undefined
        ? tls.createServer(options.tls, onSocket)
        : net.createServer({ noDelay: true }, onSocket);
    this.#server.on('error', (e) => this.#log('error', `server error: ${e.message}`));
    if (options.tls !== undefined) {
      this.#server.on('tlsClientError', (e: Error) =>
        this.#log('warn', `TLS handshake failed: ${e.message}`),
      );
    }
  }

  listen(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.#server.once('error', onError);
      this.#server.listen(this.options.port, this.options.host ?? '0.0.0.0', () => {
        this.#server.off('error', onError);
        resolve({ port: this.address()?.port ?? this.options.port });
      });
    });
  }

  address(): { address: string; port: number } | null {
    const a = this.#server.address();
    return a !== null && typeof a === 'object' ? { address: a.address, port: a.port } : null;
  }

  /** number of open associations (incl. ones being negotiated) */
  get associationCount(): number {
    return this.#associations.size;
  }

  /**
   * Stop listening, let running operations finish, release every association (abort those that do not
   * answer within shutdownTimeoutMs).
   */
  async close(): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    const timeout = this.options.shutdownTimeoutMs ?? 10_000;
    await Promise.all([...this.#associations].map((a) => a.shutdown(timeout)));
    await closed;
  }

  #accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const a = new ServerAssociation<S>(
      this.options,
      socket,
      this.#log,
      () => this.#associations.size - 1,
      () => {
        this.#associations.delete(a);
      },
    );
    this.#associations.add(a);
  }
}

interface Running {
  controller: AbortController;
  cancelled: boolean;
}

class ServerAssociation<S> {
  #opts: ServerOptions<S>;
  #log: LogFn;
  #ul: UpperLayer;
  #others: () => number;
  #onGone: () => void;
  #request: AssociationRequest | undefined;
  #ctx: AssociationContext<S> | undefined;
  #contexts = new Map<number, AcceptedContext>();
  #window = 1;
  #queue: IncomingMessage[] = [];
  #active = 0;
  #running = new Map<number, Running>();
  #idleWaiters: (() => void)[] = [];

  constructor(
    opts: ServerOptions<S>,
    socket: net.Socket,
    log: LogFn,
    others: () => number,
    onGone: () => void,
  ) {
    this.#opts = opts;
    this.#others = others;
    this.#onGone = onGone;
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.#log = (level, msg, extra) => log(level, `[${remote}] ${msg}`, extra);
    this.#ul = new UpperLayer(
      socket,
      {
        role: 'acceptor',
        maxIncomingPduLength: opts.maxIncomingPduLength ?? (16 << 20) + 6,
        artimTimeoutMs: opts.artimTimeoutMs ?? 30_000,
        idleTimeoutMs: opts.idleTimeoutMs ?? 600_000,
        streamHighWaterMark: opts.storeHighWaterMark ?? 1 << 20,
        log: this.#log,
      },
      {
        onAssociateRq: (rq) => void this.#onAssociateRq(rq, socket),
        onRequest: (msg) => this.#onRequest(msg),
        onReleaseRequested: () => this.#whenIdle(),
        isBusy: () => this.#active > 0 || this.#queue.length > 0,
        onClose: (info) => {
          this.#log('debug', `association closed: ${info.reason}`);
          for (const r of this.#running.values()) r.controller.abort();
          if (info.graceful && this.#ctx !== undefined) {
            try {
              this.#opts.handlers.onRelease?.(this.#ctx);
            } catch (e) {
              this.#log('error', 'onRelease threw', { error: String(e) });
            }
          }
          this.#onGone();
        },
      },
    );
  }

  async shutdown(timeoutMs: number): Promise<void> {
    const ul = this.#ul;
    if (ul.state === 'closed') return;
    const timer = setTimeout(() => ul.abort(), timeoutMs);
    try {
      if (ul.state === 'established') {
        await this.#whenIdle();
        if (ul.state === 'established') await ul.release().catch(noop);
      } else if (ul.state !== 'release-received' && ul.state !== 'closing' && ul.state !== 'release-sent') {
        ul.abort();
      }
      await ul.closed;
    } finally {
      clearTimeout(timer);
    }
  }

  #whenIdle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  // ---------------------------------------------------------------------------------------------
  // negotiation

  async #onAssociateRq(rq: AssociateRq, socket: net.Socket): Promise<void> {
    const ul = this.#ul;
    const reject = (r: AssociateReject, why: string): void => {
      this.#log('info', `association rejected: ${why}`, { ...r });
      ul.sendAssociateRj(encodeAssociateRj(r.result, r.source, r.reason));
    };
    if ((rq.protocolVersion & 1) === 0)
      return reject({ result: 1, source: 2, reason: 2 }, 'protocol version');
    if (rq.applicationContext !== ApplicationContextName) {
      return reject({ result: 1, source: 1, reason: 2 }, `application context ${rq.applicationContext}`);
    }
    if (rq.calledAeTitle !== this.#opts.aeTitle) {
      return reject({ result: 1, source: 1, reason: 7 }, `called AE ${rq.calledAeTitle}`);
    }
    const max = this.#opts.maxAssociations;
    if (max !== undefined && this.#others() >= max) {
      return reject({ result: 2, source: 3, reason: 2 }, 'too many associations');
    }
    const roles = new Map<string, RoleSelection>(rq.userInfo.roles.map((r) => [r.sopClassUid, r]));
    const contexts: ProposedContext[] = rq.contexts.map((c) => {
      const p: ProposedContext = {
        id: c.id,
        abstractSyntax: c.abstractSyntax,
        transferSyntaxes: c.transferSyntaxes,
      };
      const role = roles.get(c.abstractSyntax);
      if (role !== undefined) {
        p.scuRole = role.scuRole;
        p.scpRole = role.scpRole;
      }
      return p;
    });
    const isTls = socket instanceof tls.TLSSocket;
    const req: AssociationRequest = {
      callingAeTitle: rq.callingAeTitle,
      calledAeTitle: rq.calledAeTitle,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      tls: isTls,
      maxPduLength: rq.userInfo.maxPduLength,
      contexts,
    };
    if (rq.userInfo.implementationClassUid !== undefined)
      req.implementationClassUid = rq.userInfo.implementationClassUid;
    if (rq.userInfo.implementationVersionName !== undefined) {
      req.implementationVersionName = rq.userInfo.implementationVersionName;
    }
    if (rq.userInfo.userIdentity !== undefined) req.userIdentity = rq.userInfo.userIdentity;

    let decision: Awaited<ReturnType<ServerOptions<S>['handlers']['onAssociate']>>;
    try {
      decision = await this.#opts.handlers.onAssociate(req);
    } catch (e) {
      return reject({ result: 1, source: 1, reason: 1 }, `onAssociate threw: ${String(e)}`);
    }
    if (ul.state !== 'negotiating') return; // aborted meanwhile
    if ('reject' in decision) return reject(decision.reject, 'by onAssociate');

    const h = this.#opts.handlers;
    const items: AcceptedContextItem[] = [];
    const accepted: AcceptedContext[] = [];
    const roleReplies: RoleSelection[] = [];
    for (const p of contexts) {
      const kind = serviceKind(p.abstractSyntax);
      const supported =
        kind === 'verification' ||
        (kind === 'find' && h.find !== undefined) ||
        (kind === 'move' && h.move !== undefined) ||
        (kind === 'get' && h.get !== undefined) ||
        (kind === 'storage' && (h.store !== undefined || (h.get !== undefined && p.scpRole === true)));
      let result: number = ContextResult.AbstractSyntaxNotSupported;
      let ts = '';
      if (supported) {
        let chosen: string | null;
        try {
          chosen =
            h.chooseTransferSyntax !== undefined ? h.chooseTransferSyntax(p, req) : defaultTransferSyntax(p);
        } catch (e) {
          this.#log('error', 'chooseTransferSyntax threw', { error: String(e) });
          chosen = null;
        }
        if (chosen !== null && p.transferSyntaxes.includes(chosen)) {
          result = ContextResult.Acceptance;
          ts = chosen;
        } else result = ContextResult.TransferSyntaxesNotSupported;
      }
      items.push({ id: p.id, result, transferSyntax: ts });
      if (result === ContextResult.Acceptance) {
        const hasRole = p.scuRole !== undefined || p.scpRole !== undefined;
        const a: AcceptedContext = {
          id: p.id,
          abstractSyntax: p.abstractSyntax,
          transferSyntax: ts,
          scuRole: hasRole ? p.scuRole === true : true,
          scpRole: hasRole ? p.scpRole === true : false,
        };
        accepted.push(a);
        this.#contexts.set(p.id, a);
        if (hasRole && !roleReplies.some((r) => r.sopClassUid === p.abstractSyntax)) {
          roleReplies.push({ sopClassUid: p.abstractSyntax, scuRole: a.scuRole, scpRole: a.scpRole });
        }
      }
    }
    const limit = Math.max(1, this.#opts.maxOpsInvoked ?? 1);
    const async = rq.userInfo.asyncOps;
    if (async !== undefined) {
      const theirInvoked = async.invoked === 0 ? Infinity : async.invoked;
      this.#window = Math.max(1, Math.min(theirInvoked, limit));
    }
    const ourMax = this.#opts.maxPduLength ?? DEFAULT_MAX_PDU;
    const ac = encodeAssociateAc({
      protocolVersion: 1,
      calledAeTitle: rq.calledAeTitle,
      callingAeTitle: rq.callingAeTitle,
      applicationContext: ApplicationContextName,
      contexts: items,
      userInfo: {
        maxPduLength: ourMax,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
        ...(async !== undefined ? { asyncOps: { invoked: 1, performed: this.#window } } : {}),
        roles: roleReplies,
        ...(rq.userInfo.userIdentity?.positiveResponseRequested === true
          ? { userIdentityResponse: decision.userIdentityResponse ?? new Uint8Array(0) }
          : {}),
      },
    });
    this.#request = req;
    this.#ctx = { request: req, accepted, session: decision.accept, signal: ul.signal };
    this.#log('info', `association accepted: ${req.callingAeTitle} -> ${req.calledAeTitle}`, {
      accepted: accepted.length,
      proposed: contexts.length,
    });
    ul.sendAssociateAc(ac, rq.userInfo.maxPduLength);
  }

  // ---------------------------------------------------------------------------------------------
  // dispatch

  #onRequest(msg: IncomingMessage): void {
    const cmd = msg.command;
    if (cmd.commandField === CommandField.CCancelRq) {
      const r = this.#running.get(cmd.messageIdBeingRespondedTo ?? -1);
      if (r !== undefined) {
        r.cancelled = true;
        r.controller.abort();
      }
      return;
    }
    if (!this.#contexts.has(msg.pcId)) {
      this.#log('warn', `message on presentation context ${msg.pcId} which is not accepted`);
      this.#ul.abort(2, 6);
      return;
    }
    // a C-STORE's dataset streams while it waits in the queue (paused by backpressure)
    this.#queue.push(msg);
    this.#pump();
  }

  #pump(): void {
    while (this.#active < this.#window && this.#queue.length > 0) {
      const msg = this.#queue.shift();
      if (msg === undefined) break;
      this.#active++;
      this.#run(msg)
        .catch((e: unknown) => this.#log('error', 'operation failed', { error: String(e) }))
        .finally(() => {
          this.#active--;
          this.#pump();
          if (this.#active === 0 && this.#queue.length === 0) {
            const ws = this.#idleWaiters;
            this.#idleWaiters = [];
            for (const w of ws) w();
          }
        });
    }
  }

  async #respond(pcId: number, cmd: Command, data?: Uint8Array): Promise<void> {
    if (!this.#ul.isOpen) return;
    try {
      await this.#ul.send(pcId, cmd, data ?? null);
    } catch (e) {
      this.#log('warn', `could not send response: ${String(e)}`);
    }
  }

  async #run(msg: IncomingMessage): Promise<void> {
    const cmd = msg.command;
    const ctx = this.#ctx;
    if (ctx === undefined) return;
    switch (cmd.commandField) {
      case CommandField.CEchoRq: {
        let r: StoreResult = { status: Status.Success };
        if (this.#opts.handlers.echo !== undefined) {
          try {
            r = await this.#opts.handlers.echo(ctx);
          } catch (e) {
            r = errorToResult(e, Status.UnableToProcess);
          }
        }
        return this.#respond(msg.pcId, {
          commandField: CommandField.CEchoRsp,
          affectedSopClassUid: cmd.affectedSopClassUid ?? '',
          messageIdBeingRespondedTo: cmd.messageId ?? 0,
          commandDataSetType: NO_DATASET,
          status: r.status,
          ...commentOf(r),
        });
      }
      case CommandField.CStoreRq:
        return this.#runStore(msg, ctx);
      case CommandField.CFindRq:
        return this.#runFind(msg, ctx);
      case CommandField.CMoveRq:
      case CommandField.CGetRq:
        return this.#runRetrieve(msg, ctx);
      default: {
        if (isResponse(cmd.commandField)) return;
        await msg.complete;
        return this.#respond(msg.pcId, {
          commandField: (cmd.commandField | 0x8000) & 0xffff,
          messageIdBeingRespondedTo: cmd.messageId ?? 0,
          commandDataSetType: NO_DATASET,
          status: 0x0211, // unrecognized operation
          ...(cmd.affectedSopClassUid !== undefined ? { affectedSopClassUid: cmd.affectedSopClassUid } : {}),
          errorComment: 'unsupported DIMSE command',
        });
      }
    }
  }

  async #runStore(msg: IncomingMessage, ctx: AssociationContext<S>): Promise<void> {
    const cmd = msg.command;
    const pc = this.#contexts.get(msg.pcId);
    const stream = msg.stream as Readable;
    const req: StoreRequest = {
      presentationContextId: msg.pcId,
      sopClassUid: cmd.affectedSopClassUid ?? '',
      sopInstanceUid: cmd.affectedSopInstanceUid ?? '',
      transferSyntax: pc?.transferSyntax ?? '',
      priority: cmd.priority ?? 0,
    };
    if (cmd.moveOriginatorAeTitle !== undefined) req.moveOriginatorAeTitle = cmd.moveOriginatorAeTitle;
    if (cmd.moveOriginatorMessageId !== undefined) req.moveOriginatorMessageId = cmd.moveOriginatorMessageId;
    let r: StoreResult;
    const h = this.#opts.handlers;
    if (h.store === undefined) {
      stream.destroy();
      r = { status: Status.SopClassNotSupported, errorComment: 'storage not supported' };
    } else {
      try {
        r = await h.store(ctx, req, stream);
      } catch (e) {
        r = errorToResult(e, Status.OutOfResources);
      }
    }
    if (!stream.readableEnded) stream.destroy();
    if (!(msg.completed ?? (await msg.complete))) return;
    return this.#respond(msg.pcId, {
      commandField: CommandField.CStoreRsp,
      affectedSopClassUid: req.sopClassUid,
      affectedSopInstanceUid: req.sopInstanceUid,
      messageIdBeingRespondedTo: cmd.messageId ?? 0,
      commandDataSetType: NO_DATASET,
      status: r.status,
      ...commentOf(r),
    });
  }

  #startOperation(cmd: Command): { running: Running; done: () => void } {
    const running: Running = { controller: new AbortController(), cancelled: false };
    const id = cmd.messageId ?? 0;
    this.#running.set(id, running);
    const onEnd = (): void => running.controller.abort();
    this.#ul.signal.addEventListener('abort', onEnd, { once: true });
    return {
      running,
      done: () => {
        this.#running.delete(id);
        this.#ul.signal.removeEventListener('abort', onEnd);
      },
    };
  }

  #queryRequest(msg: IncomingMessage, signal: AbortSignal): QueryRequest {
    const cmd = msg.command;
    return {
      presentationContextId: msg.pcId,
      sopClassUid: cmd.affectedSopClassUid ?? '',
      transferSyntax: this.#contexts.get(msg.pcId)?.transferSyntax ?? '',
      priority: cmd.priority ?? 0,
      identifier: msg.dataset ?? new Uint8Array(0),
      signal,
    };
  }

  async #runFind(msg: IncomingMessage, ctx: AssociationContext<S>): Promise<void> {
    const cmd = msg.command;
    const { running, done } = this.#startOperation(cmd);
    const base = {
      commandField: CommandField.CFindRsp,
      affectedSopClassUid: cmd.affectedSopClassUid ?? '',
      messageIdBeingRespondedTo: cmd.messageId ?? 0,
    };
    let final: StoreResult = { status: Status.Success };
    try {
      const h = this.#opts.handlers;
      if (h.find === undefined) throw new DimseError(Status.SopClassNotSupported, 'C-FIND not supported');
      const req = this.#queryRequest(msg, running.controller.signal);
      for await (const identifier of h.find(ctx, req)) {
        if (running.controller.signal.aborted) break;
        await this.#ul.send(
          msg.pcId,
          { ...base, commandDataSetType: HAS_DATASET, status: Status.Pending },
          identifier,
        );
        if (running.controller.signal.aborted) break;
      }
      if (running.cancelled) final = { status: Status.Cancel };
    } catch (e) {
      final = running.cancelled ? { status: Status.Cancel } : errorToResult(e, Status.UnableToProcess);
      if (isPending(final.status))
        final = { status: Status.UnableToProcess, errorComment: 'bad status from handler' };
    } finally {
      done();
    }
    return this.#respond(msg.pcId, {
      ...base,
      commandDataSetType: NO_DATASET,
      status: final.status,
      ...commentOf(final),
    });
  }

  async #runRetrieve(msg: IncomingMessage, ctx: AssociationContext<S>): Promise<void> {
    const cmd = msg.command;
    const isMove = cmd.commandField === CommandField.CMoveRq;
    const { running, done } = this.#startOperation(cmd);
    const base = {
      commandField: isMove ? CommandField.CMoveRsp : CommandField.CGetRsp,
      affectedSopClassUid: cmd.affectedSopClassUid ?? '',
      messageIdBeingRespondedTo: cmd.messageId ?? 0,
    };
    const counts = (p: RetrieveProgress, withRemaining: boolean): Partial<Command> => ({
      ...(withRemaining ? { remaining: p.remaining } : {}),
      completed: p.completed,
      failed: p.failed,
      warning: p.warning,
    });
    let last: RetrieveProgress = { remaining: 0, completed: 0, failed: 0, warning: 0 };
    let status: number = Status.Success;
    let comment: { errorComment?: string } = {};
    try {
      const req = this.#queryRequest(msg, running.controller.signal);
      let gen: AsyncGenerator<RetrieveProgress, RetrieveProgress>;
      if (isMove) {
        const h = this.#opts.handlers;
        if (h.move === undefined) throw new DimseError(Status.SopClassNotSupported, 'C-MOVE not supported');
        const mreq: MoveRequest = { ...req, moveDestination: cmd.moveDestination ?? '' };
        gen = h.move(ctx, mreq);
      } else {
        const h = this.#opts.handlers;
        if (h.get === undefined) throw new DimseError(Status.SopClassNotSupported, 'C-GET not supported');
        gen = h.get(ctx, req, this.#subOperationSender());
      }
      for (;;) {
        const r = running.controller.signal.aborted ? await gen.return(last) : await gen.next();
        last = r.value;
        if (r.done === true) break;
        await this.#ul.send(msg.pcId, {
          ...base,
          commandDataSetType: NO_DATASET,
          status: Status.Pending,
          ...counts(last, true),
        });
      }
      if (running.cancelled) status = Status.Cancel;
      else if (last.failed > 0 || last.warning > 0) status = Status.SubOpsWarning;
    } catch (e) {
      if (running.cancelled) status = Status.Cancel;
      else {
        const r = errorToResult(e, Status.UnableToProcess);
        status = isPending(r.status) ? Status.UnableToProcess : r.status;
        comment = commentOf(r);
      }
    } finally {
      done();
    }
    const failedUids = last.failedSopInstanceUids ?? [];
    const withIdentifier = status !== Status.Success && failedUids.length > 0;
    const ts = this.#contexts.get(msg.pcId)?.transferSyntax ?? TransferSyntax.ImplicitVRLittleEndian;
    return this.#respond(
      msg.pcId,
      {
        ...base,
        commandDataSetType: withIdentifier ? HAS_DATASET : NO_DATASET,
        status,
        ...counts(last, status === Status.Cancel),
        ...comment,
      },
      withIdentifier ? encodeFailedUidList(failedUids, ts) : undefined,
    );
  }

  #subOperationSender(): SubOperationSender {
    const contextsFor = (sop: string): AcceptedContext[] =>
      [...this.#contexts.values()].filter((c) => c.abstractSyntax === sop && c.scpRole);
    return {
      acceptedTransferSyntaxes: (sop) => [...new Set(contextsFor(sop).map((c) => c.transferSyntax))],
      store: async (req) => {
        const pc = contextsFor(req.sopClassUid).find((c) => c.transferSyntax === req.transferSyntax);
        if (pc === undefined) {
          if (!(req.data instanceof Uint8Array)) req.data.destroy();
          throw new DimseError(
            Status.SopClassNotSupported,
            `no presentation context for ${req.sopClassUid} in ${req.transferSyntax} with SCP role`,
          );
        }
        const ul = this.#ul;
        const id = ul.nextMessageId();
        const response = new Promise<StoreResult>((resolve, reject) => {
          ul.listen(id, {
            onResponse: (m) => {
              ul.stopListening(id);
              const c = m.command;
              resolve({
                status: c.status ?? Status.ProcessingFailure,
                ...commentOf({ status: 0, errorComment: c.errorComment ?? '' }),
              });
            },
            onEnd: reject,
          });
        });
        response.catch(noop);
        try {
          await ul.send(
            pc.id,
            {
              commandField: CommandField.CStoreRq,
              messageId: id,
              affectedSopClassUid: req.sopClassUid,
              affectedSopInstanceUid: req.sopInstanceUid,
              priority: 0,
              commandDataSetType: HAS_DATASET,
            },
            req.data,
          );
        } catch (e) {
          ul.stopListening(id);
          throw e;
        }
        return response;
      },
    };
  }

  get request(): AssociationRequest | undefined {
    return this.#request;
  }
}
