/**
 * The archive's DIMSE SCP: association policy (registered calling AEs only, each mapped to its hospital),
 * C-ECHO, C-STORE into the ingest pipeline, C-FIND over the index, C-MOVE to registered AEs, C-GET.
 */
import type { Readable } from 'node:stream';
import {
  DimseError,
  Status,
  connect,
  type AssociationContext,
  type AssociationRequest,
  type ProposedContext,
  type RetrieveProgress,
  type ScpHandlers,
  type SubOperationSender,
  type StoreResult,
} from '@huiying/dimse';
import { decodeDataset, encodeDataset, chooseResponseCharset, type DicomJson } from '@huiying/dicom';
import type {
  AccessScope,
  AeRepository,
  ApplicationEntity,
  ArchiveIndex,
  Hospital,
  HospitalRepository,
  InstanceLocation,
} from '../archive/ports.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import { datasetOffsetFromPrefix } from '../ingest/ingest-service.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import {
  callerOfUser,
  passwordOnlyRefusal,
  scopeOf,
  type PasswordVerifier,
  type UserCaller,
} from '../access/scope.ts';
import { errorComment, queryFailure, storeStatusOf } from './status.ts';
import { identifierToQuery, rowToIdentifier, elementString, type QueryModel } from './identifier.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { DimseAudit } from '../audit/dimse-audit.ts';

export const SOP = {
  Verification: '1.2.840.10008.1.1',
  PatientRootFind: '1.2.840.10008.5.1.4.1.2.1.1',
  PatientRootMove: '1.2.840.10008.5.1.4.1.2.1.2',
  PatientRootGet: '1.2.840.10008.5.1.4.1.2.1.3',
  StudyRootFind: '1.2.840.10008.5.1.4.1.2.2.1',
  StudyRootMove: '1.2.840.10008.5.1.4.1.2.2.2',
  StudyRootGet: '1.2.840.10008.5.1.4.1.2.2.3',
} as const;

const QR_MODEL: Record<string, QueryModel> = {
  [SOP.PatientRootFind]: 'patient-root',
  [SOP.PatientRootMove]: 'patient-root',
  [SOP.PatientRootGet]: 'patient-root',
  [SOP.StudyRootFind]: 'study-root',
  [SOP.StudyRootMove]: 'study-root',
  [SOP.StudyRootGet]: 'study-root',
};

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** What an accepted association may do: who called, for which hospital, what it may see. */
export interface DimseSession {
  ae: ApplicationEntity;
  hospital: Hospital;
  scope: AccessScope;
  /** the user authenticated by user identity negotiation (username + passcode), if any */
  user?: UserCaller;
}

export interface ScpDeps {
  aeTitle: string;
  aes: AeRepository;
  hospitals: HospitalRepository;
  index: ArchiveIndex;
  blobs: BlobStore;
  ingest: IngestService;
  /** verifies user identity (username + passcode) with the login checks; absent: type 2 identities are refused */
  accounts?: PasswordVerifier;
  /** the audit trail; reads are refused (A700) while it cannot record (fail-closed) */
  audit?: AuditLog;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;
}

function modelOf(sopClassUid: string): QueryModel {
  const m = QR_MODEL[sopClassUid];
  if (m === undefined) throw new DimseError(Status.SopClassNotSupported, 'SOP class not supported');
  return m;
}

function decodeIdentifier(bytes: Uint8Array, ts: string): DicomJson {
  try {
    return decodeDataset(bytes, { transferSyntax: ts });
  } catch (err) {
    throw new DimseError(Status.CannotUnderstand, errorComment(`identifier unreadable: ${messageOf(err)}`));
  }
}

function refuseReadsWithoutAudit(audit: DimseAudit): void {
  if (!audit.readsAllowed())
    throw new DimseError(Status.OutOfResources, 'audit trail unavailable: query/retrieve refused');
}

export function createScpHandlers(deps: ScpDeps): ScpHandlers<DimseSession> {
  const audit = new DimseAudit(deps.audit);
  const handlers: ScpHandlers<DimseSession> = {
    async onAssociate(req: AssociationRequest) {
      if (req.calledAeTitle.trim() !== deps.aeTitle) {
        deps.log('warn', 'association rejected: called AE not recognised', {
          called: req.calledAeTitle,
          calling: req.callingAeTitle,
          from: req.remoteAddress,
        });
        audit.rejected(req, 'called AE not recognised', 7);
        return { reject: { result: 1, source: 1, reason: 7 } };
      }
      const ae = await deps.aes.byTitle(req.callingAeTitle.trim());
      if (ae === undefined) {
        deps.log('warn', 'association rejected: calling AE not registered', {
          calling: req.callingAeTitle,
          from: req.remoteAddress,
        });
        audit.rejected(req, 'calling AE not registered', 3);
        return { reject: { result: 1, source: 1, reason: 3 } };
      }
      const hospital = await deps.hospitals.byId(ae.hospitalId);
      if (hospital === undefined) {
        audit.rejected(req, "calling AE's hospital missing", 3);
        return { reject: { result: 1, source: 1, reason: 3 } };
      }
      const identified = await verifyUserIdentity(deps, req, ae, hospital);
      if (typeof identified === 'string') {
        deps.log('warn', `association rejected: ${identified}`, {
          calling: ae.aeTitle,
          hospital: hospital.code,
          from: req.remoteAddress,
        });
        audit.rejected(req, identified, 1);
        return { reject: { result: 1, source: 1, reason: 1 } };
      }
      audit.accepted(req, { ae, hospital });
      deps.log('debug', 'association accepted', {
        calling: ae.aeTitle,
        hospital: hospital.code,
        from: req.remoteAddress,
        ...(identified !== undefined ? { user: identified.username } : {}),
      });
      const session: DimseSession = { ae, hospital, scope: scopeOf(hospital) };
      if (identified !== undefined) session.user = identified;
      // the server answers a requested positive response (empty server response for username + passcode)
      return req.userIdentity?.positiveResponseRequested === true
        ? { accept: session, userIdentityResponse: new Uint8Array(0) }
        : { accept: session };
    },

    chooseTransferSyntax(ctx: ProposedContext): string | null {
      if (ctx.abstractSyntax === SOP.Verification || QR_MODEL[ctx.abstractSyntax] !== undefined) {
        if (ctx.transferSyntaxes.includes(EXPLICIT_LE)) return EXPLICIT_LE;
        if (ctx.transferSyntaxes.includes(IMPLICIT_LE)) return IMPLICIT_LE;
        return null;
      }
      // storage (any SOP class, incl. private): stored as received
      return ctx.transferSyntaxes[0] ?? null;
    },

    echo(): Promise<StoreResult> {
      return Promise.resolve({ status: Status.Success });
    },

    async store(ctx, req, data) {
      try {
        const r = await deps.ingest.ingestDataset({
          hospitalId: ctx.session.hospital.id,
          receivedFromAe: ctx.session.ae.aeTitle,
          sopClassUid: req.sopClassUid,
          sopInstanceUid: req.sopInstanceUid,
          transferSyntaxUid: req.transferSyntax,
          data,
        });
        if (r.warnings.length > 0) {
          deps.log('info', 'instance stored with warnings', { sop: r.sopInstanceUid, warnings: r.warnings });
        }
        audit.stored(ctx, r.studyInstanceUid, r.outcome === 'duplicate-kept' ? 'duplicate' : 'stored');
        return { status: Status.Success };
      } catch (err) {
        data.resume(); // drain whatever the pipeline did not consume
        const s = storeStatusOf(err);
        deps.log('warn', 'C-STORE failed', {
          calling: ctx.session.ae.aeTitle,
          sop: req.sopInstanceUid,
          status: s.status.toString(16),
          error: messageOf(err),
        });
        audit.stored(ctx, '', 'failed');
        return s;
      }
    },

    async *find(ctx, req) {
      refuseReadsWithoutAudit(audit);
      let model: QueryModel;
      let identifier: DicomJson;
      let rows;
      let level;
      let keys;
      try {
        model = modelOf(req.sopClassUid);
        identifier = decodeIdentifier(req.identifier, req.transferSyntax);
        const q = identifierToQuery(identifier, model, ctx.session.scope);
        level = q.level;
        keys = q.keys;
        rows = await deps.index.query(q);
      } catch (err) {
        const f = queryFailure(err);
        audit.query(ctx, { model: req.sopClassUid, level, keys }, 0, {
          status: `0x${f.status.toString(16)}`,
          message: messageOf(err),
        });
        throw f;
      }
      audit.query(ctx, { model, level, keys }, rows.length);
      const requestedCharset = elementString(identifier['00080005']);
      for (const row of rows) {
        if (req.signal.aborted) return;
        const draft = rowToIdentifier(row, identifier, level, deps.aeTitle, undefined);
        const charset = chooseResponseCharset(
          draft,
          requestedCharset === '' ? ctx.session.hospital.defaultCharset : requestedCharset,
        );
        if (charset !== undefined) draft['00080005'] = { vr: 'CS', Value: charset.split('\\') };
        yield encodeDataset(draft, { transferSyntax: req.transferSyntax, charset: charset ?? '' });
      }
    },

    async *move(ctx, req): AsyncGenerator<RetrieveProgress, RetrieveProgress> {
      refuseReadsWithoutAudit(audit);
      let locations: InstanceLocation[];
      let dest: ApplicationEntity | undefined;
      try {
        const model = modelOf(req.sopClassUid);
        dest = await deps.aes.byTitle(req.moveDestination.trim());
        if (dest?.host === undefined || dest.port === undefined) {
          throw new DimseError(
            Status.MoveDestinationUnknown,
            errorComment(`move destination ${req.moveDestination.trim()} unknown`),
          );
        }
        const q = identifierToQuery(
          decodeIdentifier(req.identifier, req.transferSyntax),
          model,
          ctx.session.scope,
          { retrieve: true },
        );
        locations = await deps.index.locate(q);
      } catch (err) {
        audit.retrieve(ctx, 'C-MOVE', [], undefined, req.moveDestination.trim(), messageOf(err));
        throw queryFailure(err);
      }
      let final: RetrieveProgress | undefined;
      try {
        final = yield* sendToRemote(deps, ctx, dest, locations, req.signal);
        return final;
      } finally {
        audit.retrieve(
          ctx,
          'C-MOVE',
          locations,
          final,
          dest.aeTitle,
          final === undefined ? 'aborted' : undefined,
        );
      }
    },

    async *get(ctx, req, sender): AsyncGenerator<RetrieveProgress, RetrieveProgress> {
      refuseReadsWithoutAudit(audit);
      let locations: InstanceLocation[];
      try {
        const model = modelOf(req.sopClassUid);
        const q = identifierToQuery(
          decodeIdentifier(req.identifier, req.transferSyntax),
          model,
          ctx.session.scope,
          { retrieve: true },
        );
        locations = await deps.index.locate(q);
      } catch (err) {
        audit.retrieve(ctx, 'C-GET', [], undefined, undefined, messageOf(err));
        throw queryFailure(err);
      }
      let final: RetrieveProgress | undefined;
      try {
        final = yield* sendOverAssociation(deps, sender, locations, req.signal);
        return final;
      } finally {
        audit.retrieve(
          ctx,
          'C-GET',
          locations,
          final,
          undefined,
          final === undefined ? 'aborted' : undefined,
        );
      }
    },
  };
  return handlers;
}

/**
 * User identity negotiation (PS3.7 D.3.3.7) under the hospital's policy. When the calling AE's hospital
 * requires it, the association must carry type 2 (username + passcode) of an active user of the AE's
 * hospital or of the center, holding a data role, with no password change pending; the login's lockout
 * and audit apply. A type 2 identity is verified even when not required (a wrong password is never
 * ignored); other types are not verifiable here and are ignored unless required. Returns the user,
 * undefined (no identity), or the reason for rejecting the association.
 */
async function verifyUserIdentity(
  deps: ScpDeps,
  req: AssociationRequest,
  ae: ApplicationEntity,
  hospital: Hospital,
): Promise<UserCaller | undefined | string> {
  const id = req.userIdentity;
  const required = hospital.requireUserIdentity === true;
  if (id === undefined) return required ? 'user identity required by the hospital policy' : undefined;
  if (id.type !== 2)
    return required ? `user identity type ${id.type} not accepted (username + passcode required)` : undefined;
  if (deps.accounts === undefined) return 'user identity cannot be verified (no account service)';
  let userHospital: Hospital | undefined;
  try {
    const v = await deps.accounts.verifyCredentials(
      id.primaryField,
      id.secondaryField ?? '',
      { protocol: 'dimse', source: `${ae.aeTitle}@${req.remoteAddress}` },
      async (user) => {
        const refusal = passwordOnlyRefusal(user);
        if (refusal !== undefined) return refusal;
        userHospital = await deps.hospitals.byId(user.hospitalId);
        if (userHospital === undefined || (userHospital.id !== hospital.id && !userHospital.isCenter))
          return 'user_not_of_ae_hospital';
        return undefined;
      },
    );
    if (userHospital === undefined) return 'user identity rejected';
    return callerOfUser(v.user, userHospital, v.privileges);
  } catch (err) {
    if (err instanceof HuiyingError && err.code === 'unauthenticated')
      return 'user identity rejected: invalid username or password, or the account is locked';
    throw err;
  }
}

/** Open an instance's dataset (without its Part-10 meta) from storage. */
export async function openDataset(blobs: BlobStore, loc: InstanceLocation): Promise<Readable> {
  const head = await blobs.get(loc.blobKey, { start: 0, end: 1023 });
  const chunks: Buffer[] = [];
  for await (const c of head) chunks.push(c as Buffer);
  const offset = datasetOffsetFromPrefix(Buffer.concat(chunks));
  return blobs.get(loc.blobKey, { start: offset });
}

/**
 * Run C-MOVE / C-GET sub-operations: one C-STORE per instance through `store`, yielding progress before
 * each (pending responses) and returning the final counts. A failed sub-operation is counted and logged,
 * never fatal.
 */
async function* runSubOperations(
  deps: ScpDeps,
  locations: InstanceLocation[],
  aborted: () => boolean,
  label: string,
  store: (loc: InstanceLocation, data: Readable) => Promise<StoreResult>,
  canSend: (loc: InstanceLocation) => string | undefined,
): AsyncGenerator<RetrieveProgress, RetrieveProgress> {
  const p: RetrieveProgress = {
    remaining: locations.length,
    completed: 0,
    failed: 0,
    warning: 0,
    failedSopInstanceUids: [],
  };
  for (const loc of locations) {
    if (aborted()) break;
    yield { ...p };
    try {
      const refusal = canSend(loc);
      if (refusal !== undefined) throw new HuiyingError('unsupported', refusal);
      const r = await store(loc, await openDataset(deps.blobs, loc));
      if (r.status === Status.Success) p.completed++;
      else if ((r.status & 0xf000) === 0xb000) p.warning++;
      else throw new Error(`status 0x${r.status.toString(16)}`);
    } catch (err) {
      p.failed++;
      p.failedSopInstanceUids?.push(loc.sopInstanceUid);
      deps.log('warn', `${label} sub-operation failed`, { sop: loc.sopInstanceUid, error: messageOf(err) });
    }
    p.remaining--;
  }
  return p;
}

function sendOverAssociation(
  deps: ScpDeps,
  sender: SubOperationSender,
  locations: InstanceLocation[],
  signal: AbortSignal,
): AsyncGenerator<RetrieveProgress, RetrieveProgress> {
  return runSubOperations(
    deps,
    locations,
    () => signal.aborted,
    'C-GET',
    (loc, data) =>
      sender.store({
        sopClassUid: loc.sopClassUid,
        sopInstanceUid: loc.sopInstanceUid,
        transferSyntax: loc.transferSyntaxUid,
        data,
      }),
    (loc) =>
      sender.acceptedTransferSyntaxes(loc.sopClassUid).includes(loc.transferSyntaxUid)
        ? undefined
        : `peer accepts no context for ${loc.sopClassUid} in ${loc.transferSyntaxUid}`,
  );
}

async function* sendToRemote(
  deps: ScpDeps,
  ctx: AssociationContext<DimseSession>,
  dest: ApplicationEntity,
  locations: InstanceLocation[],
  signal: AbortSignal,
): AsyncGenerator<RetrieveProgress, RetrieveProgress> {
  if (locations.length === 0) return { remaining: 0, completed: 0, failed: 0, warning: 0 };
  // one presentation context per (SOP class, stored transfer syntax)
  const pairs = new Map<string, { abstractSyntax: string; transferSyntaxes: string[] }>();
  for (const l of locations) {
    const k = `${l.sopClassUid}|${l.transferSyntaxUid}`;
    if (!pairs.has(k))
      pairs.set(k, { abstractSyntax: l.sopClassUid, transferSyntaxes: [l.transferSyntaxUid] });
  }
  if (pairs.size > 128)
    throw new DimseError(Status.OutOfResourcesSubOps, 'too many SOP class/transfer syntax pairs');
  let assoc;
  try {
    assoc = await connect({
      host: dest.host ?? '',
      port: dest.port ?? 0,
      callingAeTitle: deps.aeTitle,
      calledAeTitle: dest.aeTitle,
      contexts: [...pairs.values()],
    });
  } catch (err) {
    throw new DimseError(
      Status.OutOfResourcesSubOps,
      errorComment(`cannot reach ${dest.aeTitle}: ${messageOf(err)}`),
    );
  }
  const a = assoc;
  try {
    return yield* runSubOperations(
      deps,
      locations,
      () => signal.aborted || ctx.signal.aborted,
      `C-MOVE to ${dest.aeTitle}`,
      (loc, data) =>
        a.store({
          sopClassUid: loc.sopClassUid,
          sopInstanceUid: loc.sopInstanceUid,
          transferSyntax: loc.transferSyntaxUid,
          data,
          moveOriginator: { aeTitle: ctx.session.ae.aeTitle, messageId: 0 },
        }),
      (loc) =>
        a.accepted.some(
          (c) => c.abstractSyntax === loc.sopClassUid && c.transferSyntax === loc.transferSyntaxUid,
        )
          ? undefined
          : `${dest.aeTitle} accepts no context for ${loc.sopClassUid} in ${loc.transferSyntaxUid}`,
    );
  } finally {
    await a.release().catch(() => a.abort());
  }
}
