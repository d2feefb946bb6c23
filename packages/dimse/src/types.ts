/**
 * Public contract of @huiying/dimse: our own DICOM upper layer (PS3.8) and DIMSE (PS3.7).
 * The network layer deals in bytes only: datasets travel as encoded bytes in the transfer syntax of
 * their presentation context; decoding them is the caller's business (@huiying/dicom).
 */
import type { Readable } from 'node:stream';
import type { TlsOptions } from 'node:tls';

/** DIMSE status codes used across the stack (PS3.7 Annex C). */
export const Status = {
  Success: 0x0000,
  Pending: 0xff00,
  PendingWarning: 0xff01,
  Cancel: 0xfe00,
  SubOpsWarning: 0xb000,
  CoercionOfDataElements: 0xb000,
  ElementsDiscarded: 0xb006,
  DataSetDoesNotMatchSopClassWarning: 0xb007,
  OutOfResources: 0xa700,
  OutOfResourcesMatches: 0xa701,
  OutOfResourcesSubOps: 0xa702,
  MoveDestinationUnknown: 0xa801,
  DataSetDoesNotMatchSopClass: 0xa900,
  IdentifierDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  UnableToProcess: 0xc001,
  SopClassNotSupported: 0x0122,
  NotAuthorized: 0x0124,
  DuplicateSopInstance: 0x0111,
  ProcessingFailure: 0x0110,
  InvalidArgumentValue: 0x0115,
  MistypedArgument: 0x0212,
} as const;

/** A failure with a DIMSE status and an Error Comment (0000,0902, max 64 chars). */
export class DimseError extends Error {
  readonly status: number;
  constructor(status: number, comment: string) {
    super(comment);
    this.name = 'DimseError';
    this.status = status;
  }
}

export interface UserIdentity {
  /** 1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT */
  type: number;
  primaryField: string;
  secondaryField?: string;
  positiveResponseRequested: boolean;
}

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
  /** SCP/SCU role selection proposed for this abstract syntax, if any */
  scuRole?: boolean;
  scpRole?: boolean;
}

export interface AcceptedContext {
  id: number;
  abstractSyntax: string;
  transferSyntax: string;
  /** the peer may act as SCU / SCP for this abstract syntax (after role selection) */
  scuRole: boolean;
  scpRole: boolean;
}

export interface AssociationRequest {
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  remotePort: number;
  tls: boolean;
  maxPduLength: number;
  implementationClassUid?: string;
  implementationVersionName?: string;
  userIdentity?: UserIdentity;
  contexts: ProposedContext[];
}

/** PS3.8 9.3.4 A-ASSOCIATE-RJ result/source/reason. */
export interface AssociateReject {
  result: 1 | 2; // 1 permanent, 2 transient
  source: 1 | 2 | 3; // 1 service-user, 2 service-provider (ACSE), 3 service-provider (presentation)
  reason: number; // source 1: 1 no reason, 2 app-context, 3 calling AE not recognized, 7 called AE not recognized
}

/** Per-association information handed to every service handler. `session` is what onAssociate returned. */
export interface AssociationContext<S> {
  request: AssociationRequest;
  accepted: AcceptedContext[];
  session: S;
  /** resolves/aborts when the association ends */
  signal: AbortSignal;
}

export interface StoreRequest {
  presentationContextId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  /** the accepted transfer syntax of the context the dataset arrives in */
  transferSyntax: string;
  priority: number;
  moveOriginatorAeTitle?: string;
  moveOriginatorMessageId?: number;
}

export interface StoreResult {
  status: number;
  errorComment?: string;
  /** for warnings: (0000,0901) Offending Element etc. are not needed here */
}

export interface QueryRequest {
  presentationContextId: number;
  sopClassUid: string;
  transferSyntax: string;
  priority: number;
  /** the encoded identifier dataset (no Part-10 meta) */
  identifier: Uint8Array;
  /** aborted on C-CANCEL or when the association ends */
  signal: AbortSignal;
}

export interface MoveRequest extends QueryRequest {
  moveDestination: string;
}

export interface RetrieveProgress {
  remaining: number;
  completed: number;
  failed: number;
  warning: number;
  failedSopInstanceUids?: string[];
}

/** Lets a C-GET handler send C-STORE sub-operations back over the same association. */
export interface SubOperationSender {
  /** transfer syntaxes the peer accepted (as SCP) for this SOP class */
  acceptedTransferSyntaxes(sopClassUid: string): string[];
  store(req: {
    sopClassUid: string;
    sopInstanceUid: string;
    transferSyntax: string;
    /** the dataset bytes (no Part-10 meta) in `transferSyntax` */
    data: Readable | Uint8Array;
  }): Promise<StoreResult>;
}

export interface ScpHandlers<S> {
  /**
   * Decide whether to accept an association. Return a session object (made available to every
   * handler) or a rejection. Throwing rejects with (permanent, service-user, no reason).
   */
  onAssociate(
    req: AssociationRequest,
  ): Promise<{ accept: S; userIdentityResponse?: Uint8Array } | { reject: AssociateReject }>;
  /** Choose a transfer syntax per proposed context; return null to reject the context. */
  chooseTransferSyntax?(ctx: ProposedContext, req: AssociationRequest): string | null;
  onRelease?(ctx: AssociationContext<S>): void;
  echo?(ctx: AssociationContext<S>): Promise<StoreResult>;
  /**
   * C-STORE. `data` streams the dataset bytes (no meta) as they arrive, with backpressure: the socket
   * is paused while the handler does not read. The handler must consume `data` fully (or destroy it)
   * and resolve only when the instance is durable.
   */
  store?(ctx: AssociationContext<S>, req: StoreRequest, data: Readable): Promise<StoreResult>;
  /** C-FIND: yield each matching identifier (encoded in req.transferSyntax); throw DimseError to fail. */
  find?(ctx: AssociationContext<S>, req: QueryRequest): AsyncIterable<Uint8Array>;
  /** C-MOVE: yield progress for pending responses; the return value is the final one. */
  move?(ctx: AssociationContext<S>, req: MoveRequest): AsyncGenerator<RetrieveProgress, RetrieveProgress>;
  /** C-GET: send sub-operations with `sender`; yield progress; return the final one. */
  get?(
    ctx: AssociationContext<S>,
    req: QueryRequest,
    sender: SubOperationSender,
  ): AsyncGenerator<RetrieveProgress, RetrieveProgress>;
}

export interface ServerOptions<S> {
  aeTitle: string;
  port: number;
  /** default 0.0.0.0 */
  host?: string;
  /** our max PDU receive length announced (default 256 KiB; 0 = unlimited not allowed here) */
  maxPduLength?: number;
  /** hard cap on an incoming PDU length; larger PDUs abort the association (default 16 MiB + header) */
  maxIncomingPduLength?: number;
  /** ARTIM timer, ms (default 30 000) */
  artimTimeoutMs?: number;
  /** idle timeout of an established association, ms (default 10 min) */
  idleTimeoutMs?: number;
  /** max concurrent associations (further ones get A-ASSOCIATE-RJ transient, local limit exceeded) */
  maxAssociations?: number;
  /** max operations invoked asynchronously we accept (default 1 = synchronous) */
  maxOpsInvoked?: number;
  tls?: TlsOptions;
  /** close(): how long to wait for in-flight operations and release before aborting, ms (default 10 000) */
  shutdownTimeoutMs?: number;
  /** buffer of the Readable handed to handlers.store before the socket is paused (default 1 MiB) */
  storeHighWaterMark?: number;
  handlers: ScpHandlers<S>;
  /** logger hooks; default: silent */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;
}
