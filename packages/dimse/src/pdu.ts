/**
 * PS3.8 upper-layer PDUs: encoding, decoding and an incremental reader for a byte stream.
 * Everything here is pure (no sockets), so it can be unit tested byte by byte.
 */
import type { UserIdentity } from './types.ts';

export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PData: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

/** A-ABORT source (PS3.8 9.3.8): 0 service-user, 2 service-provider. */
export const AbortSource = { ServiceUser: 0, ServiceProvider: 2 } as const;
/** A-ABORT reasons when the source is the service provider. */
export const AbortReason = {
  NotSpecified: 0,
  UnrecognizedPdu: 1,
  UnexpectedPdu: 2,
  UnrecognizedPduParameter: 4,
  UnexpectedPduParameter: 5,
  InvalidPduParameterValue: 6,
} as const;

/** Presentation context results in an A-ASSOCIATE-AC (PS3.8 9.3.3.2). */
export const ContextResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;

export class PduError extends Error {
  readonly abortReason: number;
  constructor(message: string, abortReason: number = AbortReason.InvalidPduParameterValue) {
    super(message);
    this.name = 'PduError';
    this.abortReason = abortReason;
  }
}

export interface RoleSelection {
  sopClassUid: string;
  scuRole: boolean;
  scpRole: boolean;
}

export interface UserInformation {
  /** 0 = unlimited */
  maxPduLength: number;
  implementationClassUid?: string;
  implementationVersionName?: string;
  asyncOps?: { invoked: number; performed: number };
  roles: RoleSelection[];
  /** user identity negotiation, RQ */
  userIdentity?: UserIdentity;
  /** user identity negotiation, AC (server response, may be empty) */
  userIdentityResponse?: Uint8Array;
}

export interface RequestedContextItem {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface AcceptedContextItem {
  id: number;
  result: number;
  /** absent (empty) when rejected */
  transferSyntax: string;
}

export interface AssociateRq {
  type: 0x01;
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  contexts: RequestedContextItem[];
  userInfo: UserInformation;
}

export interface AssociateAc {
  type: 0x02;
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  contexts: AcceptedContextItem[];
  userInfo: UserInformation;
}

export interface AssociateRj {
  type: 0x03;
  result: number;
  source: number;
  reason: number;
}

export interface Pdv {
  pcId: number;
  command: boolean;
  last: boolean;
  data: Buffer;
}

export interface Abort {
  type: 0x07;
  source: number;
  reason: number;
}

// ---------------------------------------------------------------------------------------------
// small helpers

const latin1 = (b: Buffer, start: number, end: number): string => b.toString('latin1', start, end);

/** AE title as 16 bytes, space padded. */
function aeBytes(ae: string): Buffer {
  const out = Buffer.alloc(16, 0x20);
  out.write(ae.slice(0, 16), 'latin1');
  return out;
}

/** Strip leading/trailing spaces and NULs (UIDs are sometimes NUL padded, AE titles space padded). */
export function trimValue(s: string): string {
  return s.replace(/^[\s\0]+|[\s\0]+$/g, '');
}

function item(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

function uidItem(type: number, uid: string): Buffer {
  return item(type, Buffer.from(uid, 'latin1'));
}

function pduHeader(type: number, length: number): Buffer {
  const h = Buffer.alloc(6);
  h[0] = type;
  h.writeUInt32BE(length, 2);
  return h;
}

// ---------------------------------------------------------------------------------------------
// encoding

function encodeUserInfo(u: UserInformation, isRq: boolean): Buffer {
  const sub: Buffer[] = [];
  const max = Buffer.alloc(4);
  max.writeUInt32BE(u.maxPduLength >>> 0, 0);
  sub.push(item(0x51, max));
  if (u.implementationClassUid !== undefined) sub.push(uidItem(0x52, u.implementationClassUid));
  if (u.asyncOps !== undefined) {
    const b = Buffer.alloc(4);
    b.writeUInt16BE(u.asyncOps.invoked & 0xffff, 0);
    b.writeUInt16BE(u.asyncOps.performed & 0xffff, 2);
    sub.push(item(0x53, b));
  }
  for (const r of u.roles) {
    const uid = Buffer.from(r.sopClassUid, 'latin1');
    const b = Buffer.alloc(2 + uid.length + 2);
    b.writeUInt16BE(uid.length, 0);
    uid.copy(b, 2);
    b[2 + uid.length] = r.scuRole ? 1 : 0;
    b[3 + uid.length] = r.scpRole ? 1 : 0;
    sub.push(item(0x54, b));
  }
  if (u.implementationVersionName !== undefined) {
    sub.push(item(0x55, Buffer.from(u.implementationVersionName.slice(0, 16), 'latin1')));
  }
  if (isRq && u.userIdentity !== undefined) {
    const id = u.userIdentity;
    const p = Buffer.from(id.primaryField, 'utf8');
    const s = Buffer.from(id.secondaryField ?? '', 'utf8');
    const b = Buffer.alloc(2 + 2 + p.length + 2 + s.length);
    b[0] = id.type;
    b[1] = id.positiveResponseRequested ? 1 : 0;
    b.writeUInt16BE(p.length, 2);
    p.copy(b, 4);
    b.writeUInt16BE(s.length, 4 + p.length);
    s.copy(b, 6 + p.length);
    sub.push(item(0x58, b));
  }
  if (!isRq && u.userIdentityResponse !== undefined) {
    const r = Buffer.from(u.userIdentityResponse);
    const b = Buffer.alloc(2 + r.length);
    b.writeUInt16BE(r.length, 0);
    r.copy(b, 2);
    sub.push(item(0x59, b));
  }
  return item(0x50, Buffer.concat(sub));
}

function encodeAssociateHeader(
  type: number,
  pv: number,
  called: string,
  calling: string,
  items: Buffer[],
): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(pv, 0);
  aeBytes(called).copy(fixed, 4);
  aeBytes(calling).copy(fixed, 20);
  const body = Buffer.concat([fixed, ...items]);
  return Buffer.concat([pduHeader(type, body.length), body]);
}

export function encodeAssociateRq(rq: Omit<AssociateRq, 'type'>): Buffer {
  const items: Buffer[] = [uidItem(0x10, rq.applicationContext)];
  for (const c of rq.contexts) {
    const sub = [uidItem(0x30, c.abstractSyntax), ...c.transferSyntaxes.map((t) => uidItem(0x40, t))];
    items.push(item(0x20, Buffer.concat([Buffer.from([c.id, 0, 0, 0]), ...sub])));
  }
  items.push(encodeUserInfo(rq.userInfo, true));
  return encodeAssociateHeader(
    PduType.AssociateRq,
    rq.protocolVersion,
    rq.calledAeTitle,
    rq.callingAeTitle,
    items,
  );
}

export function encodeAssociateAc(ac: Omit<AssociateAc, 'type'>): Buffer {
  const items: Buffer[] = [uidItem(0x10, ac.applicationContext)];
  for (const c of ac.contexts) {
    const ts =
      c.result === ContextResult.Acceptance
        ? [uidItem(0x40, c.transferSyntax)]
        : [item(0x40, Buffer.alloc(0))];
    items.push(item(0x21, Buffer.concat([Buffer.from([c.id, 0, c.result, 0]), ...ts])));
  }
  items.push(encodeUserInfo(ac.userInfo, false));
  return encodeAssociateHeader(
    PduType.AssociateAc,
    ac.protocolVersion,
    ac.calledAeTitle,
    ac.callingAeTitle,
    items,
  );
}

export function encodeAssociateRj(result: number, source: number, reason: number): Buffer {
  return Buffer.concat([pduHeader(PduType.AssociateRj, 4), Buffer.from([0, result, source, reason])]);
}

export function encodeReleaseRq(): Buffer {
  return Buffer.concat([pduHeader(PduType.ReleaseRq, 4), Buffer.alloc(4)]);
}

export function encodeReleaseRp(): Buffer {
  return Buffer.concat([pduHeader(PduType.ReleaseRp, 4), Buffer.alloc(4)]);
}

export function encodeAbort(source: number, reason: number): Buffer {
  return Buffer.concat([pduHeader(PduType.Abort, 4), Buffer.from([0, 0, source, reason])]);
}

/**
 * Header (PDU header + PDV header, 12 bytes) of a P-DATA-TF PDU carrying a single PDV of `dataLength`
 * bytes; the data itself is written separately (no copy).
 */
export function pDataHeader(pcId: number, command: boolean, last: boolean, dataLength: number): Buffer {
  const h = Buffer.allocUnsafe(12);
  h[0] = PduType.PData;
  h[1] = 0;
  h.writeUInt32BE(dataLength + 6, 2);
  h.writeUInt32BE(dataLength + 2, 6);
  h[10] = pcId;
  h[11] = (command ? 1 : 0) | (last ? 2 : 0);
  return h;
}

/** A whole P-DATA-TF PDU with several PDVs (tests, small messages). */
export function encodePData(
  pdvs: { pcId: number; command: boolean; last: boolean; data: Uint8Array }[],
): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  for (const p of pdvs) {
    const h = Buffer.alloc(6);
    h.writeUInt32BE(p.data.length + 2, 0);
    h[4] = p.pcId;
    h[5] = (p.command ? 1 : 0) | (p.last ? 2 : 0);
    parts.push(h, Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength));
    len += 6 + p.data.length;
  }
  return Buffer.concat([pduHeader(PduType.PData, len), ...parts]);
}

// ---------------------------------------------------------------------------------------------
// decoding (bodies: the bytes after the 6-byte PDU header)

interface Item {
  type: number;
  body: Buffer;
}

function* items(b: Buffer, start: number, end: number): Generator<Item> {
  let off = start;
  while (off < end) {
    if (off + 4 > end) throw new PduError('truncated item header');
    const type = b[off] ?? 0;
    const len = b.readUInt16BE(off + 2);
    if (off + 4 + len > end) throw new PduError(`item 0x${type.toString(16)} overruns its parent`);
    yield { type, body: b.subarray(off + 4, off + 4 + len) };
    off += 4 + len;
  }
}

function decodeUserInfo(b: Buffer): UserInformation {
  const u: UserInformation = { maxPduLength: 0, roles: [] };
  for (const it of items(b, 0, b.length)) {
    const x = it.body;
    switch (it.type) {
      case 0x51:
        if (x.length !== 4) throw new PduError('bad maximum length item');
        u.maxPduLength = x.readUInt32BE(0);
        break;
      case 0x52:
        u.implementationClassUid = trimValue(latin1(x, 0, x.length));
        break;
      case 0x55:
        u.implementationVersionName = trimValue(latin1(x, 0, x.length));
        break;
      case 0x53:
        if (x.length !== 4) throw new PduError('bad asynchronous operations window item');
        u.asyncOps = { invoked: x.readUInt16BE(0), performed: x.readUInt16BE(2) };
        break;
      case 0x54: {
        if (x.length < 4) throw new PduError('bad role selection item');
        const n = x.readUInt16BE(0);
        if (2 + n + 2 !== x.length) throw new PduError('bad role selection item');
        u.roles.push({
          sopClassUid: trimValue(latin1(x, 2, 2 + n)),
          scuRole: x[2 + n] === 1,
          scpRole: x[3 + n] === 1,
        });
        break;
      }
      case 0x58: {
        if (x.length < 6) throw new PduError('bad user identity item');
        const pl = x.readUInt16BE(2);
        if (4 + pl + 2 > x.length) throw new PduError('bad user identity item');
        const sl = x.readUInt16BE(4 + pl);
        if (6 + pl + sl > x.length) throw new PduError('bad user identity item');
        const id: UserIdentity = {
          type: x[0] ?? 0,
          positiveResponseRequested: x[1] === 1,
          primaryField: x.toString('utf8', 4, 4 + pl),
        };
        if (sl > 0) id.secondaryField = x.toString('utf8', 6 + pl, 6 + pl + sl);
        u.userIdentity = id;
        break;
      }
      case 0x59: {
        if (x.length < 2) throw new PduError('bad user identity AC item');
        const n = x.readUInt16BE(0);
        if (2 + n > x.length) throw new PduError('bad user identity AC item');
        u.userIdentityResponse = Uint8Array.prototype.slice.call(x, 2, 2 + n);
        break;
      }
      default:
        // SOP class (common) extended negotiation and unknown sub-items are ignored
        break;
    }
  }
  return u;
}

function decodeAssociateCommon(body: Buffer): {
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  variable: Generator<Item>;
} {
  if (body.length < 68) throw new PduError('A-ASSOCIATE PDU too short');
  return {
    protocolVersion: body.readUInt16BE(0),
    calledAeTitle: trimValue(latin1(body, 4, 20)),
    callingAeTitle: trimValue(latin1(body, 20, 36)),
    variable: items(body, 68, body.length),
  };
}

export function decodeAssociateRq(body: Buffer): AssociateRq {
  const c = decodeAssociateCommon(body);
  const rq: AssociateRq = {
    type: PduType.AssociateRq,
    protocolVersion: c.protocolVersion,
    calledAeTitle: c.calledAeTitle,
    callingAeTitle: c.callingAeTitle,
    applicationContext: '',
    contexts: [],
    userInfo: { maxPduLength: 0, roles: [] },
  };
  let sawUserInfo = false;
  for (const it of c.variable) {
    if (it.type === 0x10) rq.applicationContext = trimValue(latin1(it.body, 0, it.body.length));
    else if (it.type === 0x20) {
      if (it.body.length < 4) throw new PduError('bad presentation context item');
      const ctx: RequestedContextItem = { id: it.body[0] ?? 0, abstractSyntax: '', transferSyntaxes: [] };
      for (const s of items(it.body, 4, it.body.length)) {
        const v = trimValue(latin1(s.body, 0, s.body.length));
        if (s.type === 0x30) ctx.abstractSyntax = v;
        else if (s.type === 0x40) ctx.transferSyntaxes.push(v);
      }
      rq.contexts.push(ctx);
    } else if (it.type === 0x50) {
      rq.userInfo = decodeUserInfo(it.body);
      sawUserInfo = true;
    }
  }
  if (rq.applicationContext === '') throw new PduError('A-ASSOCIATE-RQ without application context');
  if (!sawUserInfo) throw new PduError('A-ASSOCIATE-RQ without user information');
  return rq;
}

export function decodeAssociateAc(body: Buffer): AssociateAc {
  const c = decodeAssociateCommon(body);
  const ac: AssociateAc = {
    type: PduType.AssociateAc,
    protocolVersion: c.protocolVersion,
    calledAeTitle: c.calledAeTitle,
    callingAeTitle: c.callingAeTitle,
    applicationContext: '',
    contexts: [],
    userInfo: { maxPduLength: 0, roles: [] },
  };
  for (const it of c.variable) {
    if (it.type === 0x10) ac.applicationContext = trimValue(latin1(it.body, 0, it.body.length));
    else if (it.type === 0x21) {
      if (it.body.length < 4) throw new PduError('bad presentation context item');
      const ctx: AcceptedContextItem = { id: it.body[0] ?? 0, result: it.body[2] ?? 2, transferSyntax: '' };
      for (const s of items(it.body, 4, it.body.length)) {
        if (s.type === 0x40) ctx.transferSyntax = trimValue(latin1(s.body, 0, s.body.length));
      }
      ac.contexts.push(ctx);
    } else if (it.type === 0x50) ac.userInfo = decodeUserInfo(it.body);
  }
  return ac;
}

export function decodeAssociateRj(body: Buffer): AssociateRj {
  if (body.length !== 4) throw new PduError('bad A-ASSOCIATE-RJ length');
  return { type: PduType.AssociateRj, result: body[1] ?? 0, source: body[2] ?? 0, reason: body[3] ?? 0 };
}

export function decodeAbort(body: Buffer): Abort {
  if (body.length !== 4) throw new PduError('bad A-ABORT length');
  return { type: PduType.Abort, source: body[2] ?? 0, reason: body[3] ?? 0 };
}

/** PDVs of a P-DATA-TF body; each PDV's data is a view into `body` (no copy). */
export function decodePData(body: Buffer): Pdv[] {
  const out: Pdv[] = [];
  let off = 0;
  const end = body.length;
  if (end === 0) throw new PduError('empty P-DATA-TF');
  while (off < end) {
    if (off + 6 > end) throw new PduError('truncated PDV header');
    const len = body.readUInt32BE(off);
    if (len < 2 || off + 4 + len > end) throw new PduError('bad PDV length');
    const pcId = body[off + 4] ?? 0;
    const mch = body[off + 5] ?? 0;
    out.push({
      pcId,
      command: (mch & 1) !== 0,
      last: (mch & 2) !== 0,
      data: body.subarray(off + 6, off + 4 + len),
    });
    off += 4 + len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// incremental reader

/** Largest non-P-DATA PDU we accept (an A-ASSOCIATE-RQ with 128 contexts is ~30 KB). */
const MAX_ASSOCIATE_PDU = 1 << 20;

/**
 * Splits a TCP byte stream into PDUs. Holds at most one partial PDU plus the unread rest of the
 * current chunk; a PDU that fits in a chunk is handed over as a view (no copy). Throws PduError on an
 * unknown PDU type or an oversized PDU (the caller aborts the association).
 */
export class PduReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #expected = 0;
  #maxPdu: number;
  #stopped = false;

  /** `maxPduLength`: cap on the PDU body length (P-DATA-TF); other PDU types have fixed caps */
  constructor(maxPduLength: number) {
    this.#maxPdu = maxPduLength;
  }

  /** stop delivering PDUs (after an abort); further data is dropped */
  stop(): void {
    this.#stopped = true;
    this.#chunks = [];
    this.#buffered = 0;
  }

  get buffered(): number {
    return this.#buffered;
  }

  #check(type: number, len: number): void {
    switch (type) {
      case PduType.PData:
        if (len > this.#maxPdu)
          throw new PduError(
            `PDU length ${len} exceeds limit ${this.#maxPdu}`,
            AbortReason.InvalidPduParameterValue,
          );
        return;
      case PduType.AssociateRq:
      case PduType.AssociateAc:
        if (len > MAX_ASSOCIATE_PDU) throw new PduError(`A-ASSOCIATE PDU length ${len} too large`);
        return;
      case PduType.AssociateRj:
      case PduType.ReleaseRq:
      case PduType.ReleaseRp:
      case PduType.Abort:
        if (len !== 4) throw new PduError(`PDU type ${type} with length ${len}`);
        return;
      default:
        throw new PduError(`unrecognized PDU type 0x${type.toString(16)}`, AbortReason.UnrecognizedPdu);
    }
  }

  /**
   * Feed bytes; `onPdu` is called synchronously for every complete PDU (body is a view). With `onPdv`,
   * P-DATA-TF PDUs are not assembled: their PDVs are handed over in pieces as the bytes arrive (views
   * into the socket chunks, no copy); `end` marks the last piece of a PDV.
   */
  feed(chunk: Buffer, onPdu: (type: number, body: Buffer) => void, onPdv?: PdvSink): void {
    if (onPdv === undefined || this.#chunks.length > 0) {
      this.#feedAssembled(chunk, onPdu, onPdv);
      return;
    }
    let off = 0;
    const len = chunk.length;
    while (!this.#stopped && off < len) {
      if (this.#pduLeft > 0 || this.#pdvLeft > 0) {
        // inside a streamed P-DATA-TF
        if (this.#pdvLeft === 0) {
          // PDV header (6 bytes), possibly split
          if (this.#pduLeft < 6) throw new PduError('truncated PDV header');
          const need = 6 - this.#hdrFill;
          const n = Math.min(need, len - off);
          chunk.copy(this.#hdr, this.#hdrFill, off, off + n);
          this.#hdrFill += n;
          off += n;
          if (this.#hdrFill < 6) return;
          this.#hdrFill = 0;
          const pdvLen = this.#hdr.readUInt32BE(0);
          if (pdvLen < 2 || pdvLen + 4 > this.#pduLeft) throw new PduError('bad PDV length');
          this.#pduLeft -= pdvLen + 4;
          this.#pdvLeft = pdvLen - 2;
          this.#pdvPc = this.#hdr[4] ?? 0;
          this.#pdvMch = this.#hdr[5] ?? 0;
          if (this.#pdvLeft === 0) {
            onPdv(
              this.#pdvPc,
              (this.#pdvMch & 1) !== 0,
              (this.#pdvMch & 2) !== 0,
              chunk.subarray(off, off),
              true,
            );
            continue;
          }
        }
        const n = Math.min(this.#pdvLeft, len - off);
        this.#pdvLeft -= n;
        const piece = chunk.subarray(off, off + n);
        off += n;
        onPdv(this.#pdvPc, (this.#pdvMch & 1) !== 0, (this.#pdvMch & 2) !== 0, piece, this.#pdvLeft === 0);
        continue;
      }
      // at a PDU boundary
      if (len - off < 6) {
        this.#chunks.push(chunk.subarray(off));
        this.#buffered = len - off;
        return;
      }
      const type = chunk[off] ?? 0;
      const pduLen = chunk.readUInt32BE(off + 2);
      this.#check(type, pduLen);
      if (type === PduType.PData) {
        if (pduLen === 0) throw new PduError('empty P-DATA-TF');
        off += 6;
        this.#pduLeft = pduLen;
        this.#pdvLeft = 0;
        this.#hdrFill = 0;
        continue;
      }
      if (len - off >= 6 + pduLen) {
        const body = chunk.subarray(off + 6, off + 6 + pduLen);
        off += 6 + pduLen;
        onPdu(type, body);
        continue;
      }
      this.#chunks.push(chunk.subarray(off));
      this.#buffered = len - off;
      this.#expected = 6 + pduLen;
      return;
    }
  }

  #pduLeft = 0;
  #pdvLeft = 0;
  #pdvPc = 0;
  #pdvMch = 0;
  #hdr = Buffer.alloc(6);
  #hdrFill = 0;

  /** Assemble whole PDUs (all types, or non-P-DATA ones and split PDU headers when streaming). */
  #feedAssembled(chunk: Buffer, onPdu: (type: number, body: Buffer) => void, onPdv?: PdvSink): void {
    let off = 0;
    while (!this.#stopped && off < chunk.length) {
      if (this.#buffered === 0) {
        if (onPdv !== undefined) {
          this.feed(chunk.subarray(off), onPdu, onPdv);
          return;
        }
        const avail = chunk.length - off;
        if (avail >= 6) {
          const type = chunk[off] ?? 0;
          const len = chunk.readUInt32BE(off + 2);
          this.#check(type, len);
          if (avail >= 6 + len) {
            const body = chunk.subarray(off + 6, off + 6 + len);
            off += 6 + len;
            onPdu(type, body);
            continue;
          }
          this.#expected = 6 + len;
        }
        const rest = chunk.subarray(off);
        this.#chunks.push(rest);
        this.#buffered = rest.length;
        return;
      }
      // a partial PDU is pending
      const rest = chunk.subarray(off);
      const before = this.#buffered;
      this.#chunks.push(rest);
      this.#buffered += rest.length;
      if (this.#expected === 0) {
        if (this.#buffered < 6) return;
        const head = Buffer.concat(this.#chunks, 6);
        const type = head[0] ?? 0;
        const len = head.readUInt32BE(2);
        this.#check(type, len);
        if (type === PduType.PData && onPdv !== undefined) {
          // streamed: continue after the PDU header
          off += 6 - before;
          this.#chunks = [];
          this.#buffered = 0;
          if (len === 0) throw new PduError('empty P-DATA-TF');
          this.#pduLeft = len;
          this.#pdvLeft = 0;
          this.#hdrFill = 0;
          this.feed(chunk.subarray(off), onPdu, onPdv);
          return;
        }
        this.#expected = 6 + len;
      }
      if (this.#buffered < this.#expected) return;
      const whole = Buffer.concat(this.#chunks, this.#expected);
      off += this.#expected - before;
      const type = whole[0] ?? 0;
      this.#chunks = [];
      this.#buffered = 0;
      this.#expected = 0;
      onPdu(type, whole.subarray(6));
    }
  }
}

/** Receives PDV data as it arrives (see PduReader.feed). */
export type PdvSink = (pcId: number, command: boolean, last: boolean, data: Buffer, end: boolean) => void;
