/**
 * SCU helpers against a registered remote AE: echo, find, move, get (pull into our archive), send.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { connect, DimseError, Status } from '@huiying/dimse';
import { decodeDataset, encodeDataset, readHeader, readPart10, type DicomJson } from '@huiying/dicom';
import type { Archive } from '../app.ts';
import type { ApplicationEntity } from '../archive/ports.ts';
import { QUERY_KEY_BY_KEYWORD } from '../archive/query-keys.ts';
import { HuiyingError } from '../errors.ts';
import { SOP, openDataset } from '../dimse-adapter/scp.ts';
import { personNameFromString } from '../dimse-adapter/identifier.ts';
import { collectFiles } from './import.ts';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';

export async function remoteAe(
  archive: Archive,
  title: string,
): Promise<ApplicationEntity & { host: string; port: number }> {
  const ae = await archive.aes.byTitle(title);
  if (ae === undefined) throw new HuiyingError('not-found', `AE ${title} is not registered (huiying ae add)`);
  if (ae.host === undefined || ae.port === undefined)
    throw new HuiyingError('invalid-input', `AE ${title} has no host/port`);
  return { ...ae, host: ae.host, port: ae.port };
}

/** Build a C-FIND/C-MOVE/C-GET identifier from `Keyword=value` pairs (value may be empty: return key). */
export function buildIdentifier(level: string, keys: string[], charset = 'ISO_IR 192'): DicomJson {
  const ds: DicomJson = {
    '00080005': { vr: 'CS', Value: [charset] },
    '00080052': { vr: 'CS', Value: [level.toUpperCase()] },
  };
  for (const kv of keys) {
    const eq = kv.indexOf('=');
    const keyword = eq < 0 ? kv : kv.slice(0, eq);
    const value = eq < 0 ? '' : kv.slice(eq + 1);
    const key = QUERY_KEY_BY_KEYWORD.get(keyword);
    if (key === undefined) throw new HuiyingError('invalid-input', `unknown query key ${keyword}`);
    if (value === '') ds[key.tag] = { vr: key.vr };
    else if (key.vr === 'PN') ds[key.tag] = { vr: 'PN', Value: [personNameFromString(value)] };
    else ds[key.tag] = { vr: key.vr, Value: [value] };
  }
  return ds;
}

function qrSop(root: 'study' | 'patient', op: 'find' | 'move' | 'get'): string {
  if (root === 'patient')
    return op === 'find' ? SOP.PatientRootFind : op === 'move' ? SOP.PatientRootMove : SOP.PatientRootGet;
  return op === 'find' ? SOP.StudyRootFind : op === 'move' ? SOP.StudyRootMove : SOP.StudyRootGet;
}

export async function scuEcho(archive: Archive, title: string): Promise<number> {
  const ae = await remoteAe(archive, title);
  const assoc = await connect({
    host: ae.host,
    port: ae.port,
    callingAeTitle: archive.config.aeTitle,
    calledAeTitle: ae.aeTitle,
    contexts: [{ abstractSyntax: SOP.Verification, transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE] }],
  });
  try {
    const r = await assoc.echo();
    return r.status;
  } finally {
    await assoc.release();
  }
}

type Association = Awaited<ReturnType<typeof connect>>;
type ProposedContext = Parameters<typeof connect>[0]['contexts'][number];

/**
 * Associate with a registered remote AE for one Q/R operation, build the identifier in the accepted
 * transfer syntax, run `fn`, release.
 */
async function withQr<T>(
  archive: Archive,
  title: string,
  opts: { level: string; root: 'study' | 'patient'; keys: string[] },
  op: 'find' | 'move' | 'get',
  fn: (a: {
    assoc: Association;
    sop: string;
    identifier: Uint8Array;
    transferSyntax: string;
    ae: ApplicationEntity;
  }) => Promise<T>,
  extraContexts: ProposedContext[] = [],
): Promise<T> {
  const ae = await remoteAe(archive, title);
  const sop = qrSop(opts.root, op);
  const assoc = await connect({
    host: ae.host,
    port: ae.port,
    callingAeTitle: archive.config.aeTitle,
    calledAeTitle: ae.aeTitle,
    contexts: [{ abstractSyntax: sop, transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE] }, ...extraContexts],
  });
  try {
    const ctx = assoc.accepted.find((c) => c.abstractSyntax === sop);
    if (ctx === undefined) {
      throw new HuiyingError(
        'unsupported',
        `${ae.aeTitle} does not accept ${opts.root} root C-${op.toUpperCase()}`,
      );
    }
    const identifier = encodeDataset(buildIdentifier(opts.level, opts.keys), {
      transferSyntax: ctx.transferSyntax,
      charset: 'ISO_IR 192',
    });
    return await fn({ assoc, sop, identifier, transferSyntax: ctx.transferSyntax, ae });
  } finally {
    await assoc.release();
  }
}

export function scuFind(
  archive: Archive,
  title: string,
  opts: { level: string; root: 'study' | 'patient'; keys: string[] },
): Promise<DicomJson[]> {
  return withQr(archive, title, opts, 'find', async ({ assoc, sop, identifier, transferSyntax }) => {
    const out: DicomJson[] = [];
    for await (const bytes of assoc.find(sop, identifier)) out.push(decodeDataset(bytes, { transferSyntax }));
    return out;
  });
}

export interface RetrieveSummary {
  completed: number;
  failed: number;
  warning: number;
  status: number;
}

/** Run a C-MOVE/C-GET generator to its end and summarise the final response. */
async function summarise(
  gen: AsyncGenerator<unknown, { completed: number; failed: number; warning: number }>,
): Promise<RetrieveSummary> {
  let last = await gen.next();
  while (last.done !== true) last = await gen.next();
  const final = last.value;
  return {
    completed: final.completed,
    failed: final.failed,
    warning: final.warning,
    status: final.failed > 0 ? Status.SubOpsWarning : Status.Success,
  };
}

export function scuMove(
  archive: Archive,
  title: string,
  opts: { level: string; root: 'study' | 'patient'; keys: string[]; destination: string },
): Promise<RetrieveSummary> {
  return withQr(archive, title, opts, 'move', ({ assoc, sop, identifier }) =>
    summarise(assoc.move(sop, identifier, opts.destination)),
  );
}

/** C-GET from a remote AE; received instances go through our ingest pipeline under that AE's hospital. */
export function scuGet(
  archive: Archive,
  title: string,
  opts: {
    level: string;
    root: 'study' | 'patient';
    keys: string[];
    sopClasses: string[];
    transferSyntaxes?: string[];
  },
): Promise<RetrieveSummary> {
  const tss = opts.transferSyntaxes ?? [EXPLICIT_LE, IMPLICIT_LE];
  return withQr(
    archive,
    title,
    opts,
    'get',
    ({ assoc, sop, identifier, ae }) =>
      summarise(
        assoc.get(sop, identifier, async (req, data) => {
          try {
            await archive.ingest.ingestDataset({
              hospitalId: ae.hospitalId,
              receivedFromAe: ae.aeTitle,
              sopClassUid: req.sopClassUid,
              sopInstanceUid: req.sopInstanceUid,
              transferSyntaxUid: req.transferSyntax,
              data,
            });
            return { status: Status.Success };
          } catch (err) {
            data.resume();
            return {
              status: Status.ProcessingFailure,
              errorComment: err instanceof Error ? err.message.slice(0, 64) : 'failed',
            };
          }
        }),
      ),
    opts.sopClasses.map((s) => ({ abstractSyntax: s, transferSyntaxes: tss, scpRole: true })),
  );
}

/** C-STORE Part-10 files (or a stored study: `study:<uid>`) to a remote AE. */
export async function scuSend(
  archive: Archive,
  title: string,
  inputs: string[],
): Promise<{ sent: number; failed: Array<{ item: string; reason: string }> }> {
  const ae = await remoteAe(archive, title);
  interface Item {
    label: string;
    sopClassUid: string;
    sopInstanceUid: string;
    transferSyntaxUid: string;
    open(): Promise<NodeJS.ReadableStream>;
  }
  const items: Item[] = [];
  const failed: Array<{ item: string; reason: string }> = [];
  for (const input of inputs) {
    if (input.startsWith('study:')) {
      const uid = input.slice(6);
      const locs = await archive.index.locate({
        level: 'STUDY',
        keys: { StudyInstanceUID: { kind: 'single', value: uid } },
        scope: { kind: 'all' },
      });
      for (const l of locs) {
        items.push({
          label: l.sopInstanceUid,
          sopClassUid: l.sopClassUid,
          sopInstanceUid: l.sopInstanceUid,
          transferSyntaxUid: l.transferSyntaxUid,
          open: () => openDataset(archive.blobs, l),
        });
      }
      continue;
    }
    for (const f of await collectFiles([input])) {
      try {
        const fh = await open(f, 'r');
        const head = Buffer.alloc(64 * 1024);
        const { bytesRead } = await fh.read(head, 0, head.length, 0);
        await fh.close();
        const { meta, datasetOffset } = readPart10(head.subarray(0, bytesRead));
        let sopClassUid = meta.mediaStorageSopClassUid;
        let sopInstanceUid = meta.mediaStorageSopInstanceUid;
        if (sopClassUid === undefined || sopInstanceUid === undefined) {
          const h = await readHeader(f);
          sopClassUid = h.attributes.SOPClassUID;
          sopInstanceUid = h.attributes.SOPInstanceUID;
        }
        items.push({
          label: f,
          sopClassUid,
          sopInstanceUid,
          transferSyntaxUid: meta.transferSyntaxUid,
          open: () => Promise.resolve(createReadStream(f, { start: datasetOffset })),
        });
      } catch (err) {
        failed.push({ item: f, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  if (items.length === 0) return { sent: 0, failed };
  const pairs = new Map<string, { abstractSyntax: string; transferSyntaxes: string[] }>();
  for (const i of items)
    pairs.set(`${i.sopClassUid}|${i.transferSyntaxUid}`, {
      abstractSyntax: i.sopClassUid,
      transferSyntaxes: [i.transferSyntaxUid],
    });
  const assoc = await connect({
    host: ae.host,
    port: ae.port,
    callingAeTitle: archive.config.aeTitle,
    calledAeTitle: ae.aeTitle,
    contexts: [...pairs.values()],
  });
  let sent = 0;
  try {
    for (const i of items) {
      try {
        const data = await i.open();
        const r = await assoc.store({
          sopClassUid: i.sopClassUid,
          sopInstanceUid: i.sopInstanceUid,
          transferSyntax: i.transferSyntaxUid,
          data: data as Readable,
        });
        if (r.status === Status.Success || (r.status & 0xf000) === 0xb000) sent++;
        else throw new DimseError(r.status, r.errorComment ?? `status 0x${r.status.toString(16)}`);
      } catch (err) {
        failed.push({ item: i.label, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    await assoc.release();
  }
  return { sent, failed };
}
