/**
 * STOW-RS (PS3.18 10.5): a streaming multipart/related body, each part piped into the one ingest
 * pipeline (IngestService.ingestPart10Stream) as it arrives; the response lists stored and failed
 * instances (10.5.3). While part N is indexed (group commit), part N+1 is already being received.
 */
import { Readable } from 'node:stream';
import { readHeaderFromBuffer, DicomParseError, type DicomJson } from '@huiying/dicom';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { Log } from '../logger.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import { parseMediaType } from './media.ts';
import { MultipartReader, malformed, type MultipartLimits, type MultipartPart } from './multipart.ts';
import type { Caller } from './plugin.ts';

/** Failure Reason (0008,1197) values, PS3.18 Table 10.5.3-2 / PS3.4 B.2.3. */
export const FAILURE = {
  processingFailure: 0x0110,
  outOfResources: 0xa700,
  classMismatch: 0xa900,
  cannotUnderstand: 0xc000,
} as const;

interface PartResult {
  ok: boolean;
  sopClassUid?: string;
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  reason?: number;
  message?: string;
}

export interface StowInput {
  ingest: Pick<IngestService, 'ingestPart10Stream'>;
  caller: Caller;
  contentType: string | undefined;
  body: AsyncIterable<Buffer> | undefined;
  /** StudyInstanceUID from the path (`POST /studies/{study}`) */
  study: string | undefined;
  base: string;
  limits: MultipartLimits;
  concurrency: number;
  log: Log;
}

function reasonOf(err: unknown): number {
  if (err instanceof HuiyingError) {
    switch (err.code) {
      case 'invalid-input':
        return FAILURE.cannotUnderstand;
      case 'unsupported':
        return FAILURE.classMismatch;
      case 'unavailable':
        return FAILURE.outOfResources;
      default:
        return FAILURE.processingFailure;
    }
  }
  return FAILURE.processingFailure;
}

const PEEK_MAX = 64 * 1024 * 1024;

/** Read the part until its header (everything before pixel data) parses; returns the chunks read. */
async function peekHeader(
  it: AsyncIterator<Buffer>,
): Promise<{ chunks: Buffer[]; ended: boolean; ds?: DicomJson; error?: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tried = 0;
  for (;;) {
    const r = await it.next();
    const ended = r.done === true;
    if (!ended) {
      chunks.push(r.value);
      size += r.value.length;
    }
    if (ended || size >= tried * 2 || size >= PEEK_MAX) {
      tried = size;
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      try {
        const h = readHeaderFromBuffer(buf, { complete: ended, validate: false });
        return { chunks, ended, ds: h.dataset };
      } catch (err) {
        const truncated = err instanceof DicomParseError && err.truncated;
        if (!truncated || ended) return { chunks, ended, error: messageOf(err) };
        if (size >= PEEK_MAX) return { chunks, ended, error: 'header larger than 64 MiB' };
      }
    }
    if (ended) return { chunks, ended };
  }
}

function str(ds: DicomJson | undefined, tag: string): string | undefined {
  const v = ds?.[tag]?.Value?.[0];
  return typeof v === 'string' ? v : undefined;
}

async function processPart(input: StowInput, part: MultipartPart, hospitalId: number): Promise<PartResult> {
  const ct = part.headers['content-type'];
  if (ct !== undefined && parseMediaType(ct).mediaType !== 'application/dicom') {
    return {
      ok: false,
      reason: FAILURE.cannotUnderstand,
      message: `part ${part.index + 1}: media type ${ct} is not application/dicom`,
    };
  }
  let data: Readable;
  let peeked: DicomJson | undefined;
  if (input.study !== undefined) {
    const it = part.body[Symbol.asyncIterator]();
    const p = await peekHeader(it);
    if (p.ds === undefined) {
      return {
        ok: false,
        reason: FAILURE.cannotUnderstand,
        message: `not a valid DICOM instance: ${p.error ?? 'empty'}`,
      };
    }
    peeked = p.ds;
    const studyUid = str(p.ds, '0020000D');
    if (studyUid !== input.study) {
      return {
        ok: false,
        reason: FAILURE.classMismatch,
        sopClassUid: str(p.ds, '00080016'),
        sopInstanceUid: str(p.ds, '00080018'),
        message: `study UID mismatch: the instance belongs to study ${String(studyUid)}, not ${input.study}`,
      };
    }
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield* p.chunks;
      if (p.ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield r.value;
      }
    };
    data = Readable.from(rest(), { objectMode: false });
  } else {
    data = Readable.from(part.body, { objectMode: false });
  }
  try {
    const out = await input.ingest.ingestPart10Stream({ hospitalId, source: 'stow', data });
    return {
      ok: true,
      sopClassUid: out.sopClassUid,
      sopInstanceUid: out.sopInstanceUid,
      studyInstanceUid: out.studyInstanceUid,
      seriesInstanceUid: out.seriesInstanceUid,
    };
  } catch (err) {
    const res: PartResult = { ok: false, reason: reasonOf(err), message: messageOf(err) };
    const cls = str(peeked, '00080016');
    const inst = str(peeked, '00080018');
    if (cls !== undefined) res.sopClassUid = cls;
    if (inst !== undefined) res.sopInstanceUid = inst;
    return res;
  }
}

export async function storeInstances(input: StowInput): Promise<{ status: number; body: DicomJson }> {
  const hospitalId = input.caller.hospitalId;
  if (hospitalId === undefined) {
    throw new HuiyingError('forbidden', 'the caller has no hospital to store instances for');
  }
  if (input.contentType === undefined) {
    throw new HuiyingError(
      'unsupported',
      'STOW-RS needs Content-Type multipart/related; type="application/dicom"',
    );
  }
  const ct = parseMediaType(input.contentType);
  const type = ct.params.type?.toLowerCase();
  if (ct.mediaType !== 'multipart/related' || (type !== undefined && type !== 'application/dicom')) {
    throw new HuiyingError(
      'unsupported',
      `STOW-RS accepts multipart/related; type="application/dicom" (got ${input.contentType.slice(0, 200)})`,
    );
  }
  const boundary = ct.params.boundary;
  if (boundary === undefined || boundary === '') throw malformed('Content-Type has no boundary parameter');
  if (input.body === undefined) throw malformed('no body');
  const reader = new MultipartReader(input.body, boundary, input.limits);
  const inflight: Promise<PartResult>[] = [];
  const results: PartResult[] = [];
  let fatal: unknown;
  try {
    for await (const part of reader.parts()) {
      const run = processPart(input, part, hospitalId).catch((err: unknown): PartResult => ({
        ok: false,
        reason: reasonOf(err),
        message: messageOf(err),
      }));
      inflight.push(run);
      // move on once the part's bytes are consumed; indexing continues in the background
      await Promise.race([part.bodyDone, run]);
      if (reader.failure !== undefined) break;
      while (inflight.length - results.length >= input.concurrency) {
        results.push(await inflight[results.length]!);
      }
    }
  } catch (err) {
    fatal = err;
  }
  const all = await Promise.all(inflight);
  const failure = reader.failure ?? fatal;
  if (failure !== undefined) {
    throw failure instanceof HuiyingError ? failure : malformed(messageOf(failure));
  }
  if (all.length === 0) throw malformed('no parts');
  for (const r of all) {
    if (!r.ok) {
      input.log('warn', 'STOW-RS instance not stored', {
        hospitalId,
        sopInstanceUid: r.sopInstanceUid,
        reason: r.reason,
        error: r.message,
      });
    }
  }
  return { status: statusFor(all), body: responseBody(all, input) };
}

function statusFor(all: PartResult[]): number {
  const failed = all.filter((r) => !r.ok).length;
  if (failed === 0) return 200;
  if (failed === all.length) return 409;
  return 202;
}

function responseBody(all: PartResult[], input: StowInput): DicomJson {
  const base = input.base;
  const ok = all.filter((r) => r.ok);
  const failed = all.filter((r) => !r.ok);
  const body: DicomJson = {};
  const studies = new Set(ok.map((r) => r.studyInstanceUid));
  const study = input.study ?? (studies.size === 1 ? [...studies][0] : undefined);
  if (study !== undefined) body['00081190'] = { vr: 'UR', Value: [`${base}/studies/${study}`] };
  if (failed.length > 0) {
    body['00081198'] = {
      vr: 'SQ',
      Value: failed.map((r) => {
        const item: DicomJson = {};
        if (r.sopClassUid !== undefined) item['00081150'] = { vr: 'UI', Value: [r.sopClassUid] };
        if (r.sopInstanceUid !== undefined) item['00081155'] = { vr: 'UI', Value: [r.sopInstanceUid] };
        item['00081197'] = { vr: 'US', Value: [r.reason ?? FAILURE.processingFailure] };
        return item;
      }),
    };
  }
  if (ok.length > 0) {
    body['00081199'] = {
      vr: 'SQ',
      Value: ok.map((r) => ({
        '00081150': { vr: 'UI', Value: [r.sopClassUid] },
        '00081155': { vr: 'UI', Value: [r.sopInstanceUid] },
        '00081190': {
          vr: 'UR',
          Value: [
            `${base}/studies/${String(r.studyInstanceUid)}/series/${String(r.seriesInstanceUid)}/instances/${String(r.sopInstanceUid)}`,
          ],
        },
      })),
    };
  }
  return body;
}
