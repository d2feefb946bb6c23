/**
 * The one ingest pipeline (DIMSE C-STORE, STOW-RS, CLI import):
 *   stream → staging file (fsync in `full` sync mode) → header parse (never pixel data) → validation →
 *   duplicate policy → blob store (durable) → index (group commit) → acknowledged.
 * An instance is reported stored only once both its blob and its index row are durable.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { copyFile, mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  buildFileMeta,
  readHeader,
  readHeaderFromBuffer,
  DicomParseError,
  type HeaderResult,
  type InstanceAttributes,
} from '@huiying/dicom';
import type { ArchiveIndex, DuplicatePolicy, Hospital, HospitalRepository } from '../archive/ports.ts';
import type { BlobStore, KnownContent } from '../storage/blob-store.ts';
import type { SyncMode } from '../config/config.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import { GroupCommitter } from './group-committer.ts';
import { checkStructure, checkValues } from './integrity.ts';

/** The header prefix kept in memory while staging (covers the header of almost every instance). */
const HEADER_PREFIX = 64 * 1024;

/** Instances up to this size are received in memory and written to storage in one go. */
const MEMORY_LIMIT = 2 * 1024 * 1024;

interface Staged {
  known: KnownContent;
  /** the first bytes (or all of them) for the header parse */
  head: Buffer;
  /** the whole instance when it was small enough to keep in memory (no staging file then) */
  bytes?: Buffer;
}

/** Remove a staging file that may already have been renamed into the store. */
async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export type IngestSource = 'dimse' | 'stow' | 'import';

export interface IngestOutcome {
  outcome: 'stored' | 'duplicate-kept' | 'replaced';
  sopInstanceUid: string;
  sopClassUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  transferSyntaxUid: string;
  /** non-fatal remarks: charset repaired, patient identity conflict in the study… */
  warnings: string[];
}

export interface IngestDeps {
  index: ArchiveIndex;
  blobs: BlobStore;
  hospitals: HospitalRepository;
  stagingDir: string;
  syncMode: SyncMode;
  duplicatePolicy: DuplicatePolicy;
  batchSize: number;
  batchWaitMs: number;
  implementationClassUid: string;
  implementationVersionName: string;
  /** refuse instances with invalid values (bad UIDs, non-numeric IS/DS); lenient mode stores them with a warning */
  strict: boolean;
}

/** Where an instance's blob lives: `<HOSPITAL>/<study>/<series>/<sop>.dcm` (UIDs are validated digits and dots). */
export function blobKeyOf(hospitalCode: string, a: InstanceAttributes): string {
  return `${hospitalCode}/${a.StudyInstanceUID}/${a.SeriesInstanceUID}/${a.SOPInstanceUID}.dcm`;
}

export class IngestService {
  readonly #deps: IngestDeps;
  readonly committer: GroupCommitter;
  readonly #hospitalCache = new Map<number, Hospital>();
  #stagingReady: Promise<unknown> | undefined;
  readonly #storedListeners: ((hospitalId: number, studyInstanceUid: string) => void)[] = [];

  constructor(deps: IngestDeps) {
    this.#deps = deps;
    this.committer = new GroupCommitter(deps.index, deps.duplicatePolicy, deps.batchSize, deps.batchWaitMs);
  }

  /** Called after each instance is durable and indexed (the workflow tracks study arrivals with it). */
  onStored(listener: (hospitalId: number, studyInstanceUid: string) => void): void {
    this.#storedListeners.push(listener);
  }

  /**
   * A dataset received over DIMSE (no Part-10 meta): the meta is written from the command's UIDs and the
   * accepted transfer syntax, then the data streamed behind it.
   */
  async ingestDataset(input: {
    hospitalId: number;
    receivedFromAe?: string;
    sopClassUid: string;
    sopInstanceUid: string;
    transferSyntaxUid: string;
    data: Readable;
  }): Promise<IngestOutcome> {
    const staging = await this.#stagingPath();
    try {
      const meta = buildFileMeta({
        sopClassUid: input.sopClassUid,
        sopInstanceUid: input.sopInstanceUid,
        transferSyntaxUid: input.transferSyntaxUid,
        implementationClassUid: this.#deps.implementationClassUid,
        implementationVersionName: this.#deps.implementationVersionName,
        ...(input.receivedFromAe !== undefined ? { sourceAeTitle: input.receivedFromAe } : {}),
      });
      // `flush` fsyncs the file before it is closed (sync mode full)
      const staged = await this.#receive(staging, input.data, meta);
      return await this.#ingestStaged(staging, {
        staged,
        hospitalId: input.hospitalId,
        source: 'dimse',
        ...(input.receivedFromAe !== undefined ? { receivedFromAe: input.receivedFromAe } : {}),
        expect: { sopClassUid: input.sopClassUid, sopInstanceUid: input.sopInstanceUid },
      });
    } finally {
      await removeQuietly(staging);
    }
  }

  /** A Part-10 stream (STOW-RS part). */
  async ingestPart10Stream(input: {
    hospitalId: number;
    source: IngestSource;
    data: Readable;
  }): Promise<IngestOutcome> {
    const staging = await this.#stagingPath();
    try {
      const staged = await this.#receive(staging, input.data);
      return await this.#ingestStaged(staging, {
        staged,
        hospitalId: input.hospitalId,
        source: input.source,
      });
    } finally {
      await removeQuietly(staging);
    }
  }

  /** A Part-10 file on disk (CLI import). The source file is left untouched. */
  async ingestFile(input: { hospitalId: number; path: string }): Promise<IngestOutcome> {
    const staging = await this.#stagingPath();
    try {
      await copyFile(input.path, staging);
      if (this.#deps.syncMode === 'full') {
        const fh = await open(staging, 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      return await this.#ingestStaged(staging, { hospitalId: input.hospitalId, source: 'import' });
    } finally {
      await removeQuietly(staging);
    }
  }

  async close(): Promise<void> {
    await this.committer.drain();
  }

  async #hospital(id: number): Promise<Hospital> {
    let h = this.#hospitalCache.get(id);
    if (h === undefined) {
      h = await this.#deps.hospitals.byId(id);
      if (h === undefined) throw new HuiyingError('not-found', `hospital ${id} does not exist`);
      this.#hospitalCache.set(id, h);
    }
    return h;
  }

  /** Forget cached hospital settings (after an admin change). */
  invalidateHospital(id?: number): void {
    if (id === undefined) this.#hospitalCache.clear();
    else this.#hospitalCache.delete(id);
  }

  /**
   * Receive an instance: hashed on the way; kept in memory while it is small (≤ 2 MiB: most CT/MR slices),
   * else spilled to the staging file (fsynced before close in sync mode full) with the first bytes kept in
   * memory for the header parse. Memory stays bounded whatever the instance size.
   */
  async #receive(staging: string, data: Readable, prefix?: Uint8Array): Promise<Staged> {
    const hash = createHash('sha256');
    const synced = this.#deps.syncMode === 'full';
    let size = 0;
    let chunks: Buffer[] = [];
    let head: Buffer | undefined;
    let ws: WriteStream | undefined;
    const add = async (c: Buffer): Promise<void> => {
      hash.update(c);
      size += c.length;
      if (ws === undefined) {
        chunks.push(c);
        if (size <= MEMORY_LIMIT) return;
        head = Buffer.from(Buffer.concat(chunks, Math.min(size, HEADER_PREFIX)));
        ws = createWriteStream(staging, { flush: synced, highWaterMark: 1 << 20 });
        for (const x of chunks) ws.write(x);
        chunks = [];
        if (ws.writableNeedDrain) await once(ws, 'drain');
      } else if (!ws.write(c)) {
        await once(ws, 'drain');
      }
    };
    try {
      if (prefix !== undefined) await add(Buffer.from(prefix));
      for await (const c of data) await add(c as Buffer);
      if (ws !== undefined) {
        const w: WriteStream = ws;
        w.end();
        await finished(w);
      }
    } catch (err) {
      ws?.destroy();
      throw err;
    }
    const known = { size, sha256: hash.digest('hex'), synced };
    if (ws === undefined) {
      const bytes = Buffer.concat(chunks, size);
      return { known: { ...known, synced: false }, head: bytes, bytes };
    }
    return { known, head: head ?? Buffer.alloc(0) };
  }

  /** Header of the staged file: from the in-memory prefix when it holds the header, else from the file. */
  async #readHeader(
    staging: string,
    staged: Staged | undefined,
    options: { defaultCharset?: string },
  ): Promise<HeaderResult> {
    if (staged !== undefined) {
      const complete = staged.head.length >= staged.known.size;
      try {
        return readHeaderFromBuffer(staged.head, { ...options, complete });
      } catch (err) {
        if (!(err instanceof DicomParseError && err.truncated === true && !complete)) throw err;
      }
    }
    return readHeader(staging, options);
  }

  async #stagingPath(): Promise<string> {
    this.#stagingReady ??= mkdir(this.#deps.stagingDir, { recursive: true });
    await this.#stagingReady;
    return join(this.#deps.stagingDir, `${randomUUID()}.part`);
  }

  async #ingestStaged(
    staging: string,
    ctx: {
      staged?: Staged;
      hospitalId: number;
      source: IngestSource;
      receivedFromAe?: string;
      expect?: { sopClassUid: string; sopInstanceUid: string };
    },
  ): Promise<IngestOutcome> {
    const hospital = await this.#hospital(ctx.hospitalId);
    let header;
    try {
      header = await this.#readHeader(
        staging,
        ctx.staged,
        hospital.defaultCharset !== undefined ? { defaultCharset: hospital.defaultCharset } : {},
      );
    } catch (err) {
      if (err instanceof DicomParseError || err instanceof HuiyingError) {
        throw new HuiyingError('invalid-input', `not a valid DICOM instance: ${messageOf(err)}`, {
          cause: err,
        });
      }
      throw err;
    }
    const a = header.attributes;
    const warnings: string[] = [];
    const structural = await checkStructure(ctx.staged?.bytes ?? staging, header);
    if (structural.length > 0) throw new HuiyingError('invalid-input', structural.join('; '));
    const valueProblems = checkValues(header.dataset);
    if (valueProblems.length > 0) {
      if (this.#deps.strict) throw new HuiyingError('invalid-input', valueProblems.join('; '));
      warnings.push(...valueProblems);
    }
    if (header.charsetRepaired === true) {
      warnings.push(`text decoded with the hospital default charset ${hospital.defaultCharset ?? ''}`);
    }
    if (ctx.expect !== undefined) {
      if (a.SOPInstanceUID !== ctx.expect.sopInstanceUid) {
        throw new HuiyingError(
          'invalid-input',
          `SOP Instance UID in the dataset (${a.SOPInstanceUID}) differs from the request (${ctx.expect.sopInstanceUid})`,
        );
      }
      if (a.SOPClassUID !== ctx.expect.sopClassUid) {
        throw new HuiyingError(
          'unsupported',
          `SOP Class UID in the dataset (${a.SOPClassUID}) differs from the request (${ctx.expect.sopClassUid})`,
        );
      }
    }
    if (this.#deps.duplicatePolicy === 'keep') {
      const existing = await this.#deps.index.findInstance(hospital.id, a.SOPInstanceUID);
      if (existing !== undefined) {
        return this.#outcome('duplicate-kept', a, existing.transferSyntaxUid, warnings);
      }
    }
    const key = blobKeyOf(hospital.code, a);
    let put;
    try {
      const staged = ctx.staged;
      put =
        staged?.bytes !== undefined
          ? await this.#deps.blobs.putBuffer(key, staged.bytes, staged.known)
          : await this.#deps.blobs.putFile(key, staging, staged?.known);
    } catch (err) {
      throw new HuiyingError('unavailable', `storage failed: ${messageOf(err)}`, { cause: err });
    }
    let result;
    try {
      result = await this.committer.submit({
        hospitalId: hospital.id,
        attributes: a,
        blobKey: put.key,
        size: put.size,
        sha256: put.sha256,
        transferSyntaxUid: header.transferSyntaxUid,
        ...(ctx.receivedFromAe !== undefined ? { receivedFromAe: ctx.receivedFromAe } : {}),
        source: ctx.source,
        receivedAt: new Date().toISOString(),
      });
    } catch (err) {
      throw new HuiyingError('unavailable', `index failed: ${messageOf(err)}`, { cause: err });
    }
    if (result.orphanedBlobKey !== undefined && result.orphanedBlobKey !== put.key) {
      await this.#deps.blobs.delete(result.orphanedBlobKey).catch(() => undefined);
    }
    if (result.patientConflict !== undefined)
      warnings.push(`patient identity conflict: ${result.patientConflict}`);
    for (const listener of this.#storedListeners) {
      try {
        listener(hospital.id, a.StudyInstanceUID);
      } catch {
        // a listener (the workflow's arrival tracker) never fails a store
      }
    }
    return this.#outcome(result.outcome, a, header.transferSyntaxUid, warnings);
  }

  #outcome(
    outcome: IngestOutcome['outcome'],
    a: InstanceAttributes,
    ts: string,
    warnings: string[],
  ): IngestOutcome {
    return {
      outcome,
      sopInstanceUid: a.SOPInstanceUID,
      sopClassUid: a.SOPClassUID,
      studyInstanceUid: a.StudyInstanceUID,
      seriesInstanceUid: a.SeriesInstanceUID,
      transferSyntaxUid: ts,
      warnings,
    };
  }
}

/** Read a stored instance's dataset (bytes after the Part-10 meta). */
export function datasetOffsetFromPrefix(prefix: Uint8Array): number {
  // preamble (128) + 'DICM' + (0002,0000) UL: tag 4 + VR 2 + len 2 + value 4
  if (
    prefix.length < 144 ||
    prefix[128] !== 0x44 ||
    prefix[129] !== 0x49 ||
    prefix[130] !== 0x43 ||
    prefix[131] !== 0x4d
  ) {
    throw new HuiyingError('internal', 'stored instance has no Part-10 header');
  }
  const dv = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (dv.getUint16(132, true) !== 0x0002 || dv.getUint16(134, true) !== 0x0000) {
    throw new HuiyingError('internal', 'stored instance has no File Meta Information Group Length');
  }
  return 144 + dv.getUint32(140, true);
}
