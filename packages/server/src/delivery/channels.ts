/**
 * The delivery channels behind the outbox (delivery/outbox.ts):
 *
 * - `archive`: the Encapsulated PDF into our own archive through the one ingest pipeline (same study as
 *   the exam, the exam's hospital);
 * - `hl7`: ORU^R01 over MLLP in the hospital's charset (MSH-18), MSH-10 = the outbox key; success = ACK
 *   with MSA-1 AA/CA acknowledging that control id, anything else (AE/AR, no answer) is retried;
 * - `fhir`: DiagnosticReport by conditional create (`If-None-Exist: identifier=…|<key>`); 2xx = done;
 *   5xx, 408, 429 and network errors are retried; other 4xx are permanent (configuration or content);
 * - `dicom`: the Encapsulated PDF by C-STORE to the hospital's PACS AE (a registered AE with host+port);
 *   success or warning statuses = done.
 */
import { Readable } from 'node:stream';
import { connect, pickContext } from '@huiying/dimse';
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from '@huiying/dicom';
import type { AeRepository, HospitalRepository } from '../archive/ports.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import { MllpClient } from '../hl7/mllp.ts';
import type { RisService } from '../ris/ports.ts';
import { loadVersionDocument, renderDocument, type VersionDocument } from '../reporting/documents.ts';
import {
  ENCAPSULATED_PDF_STORAGE,
  encapsulatedPdfDatasetBytes,
  encapsulatedPdfPart10,
  reportInstanceUid,
} from '../reporting/encapsulated-pdf.ts';
import { buildDiagnosticReport, REPORT_VERSION_SYSTEM } from '../reporting/fhir.ts';
import type {
  DicomChannelConfig,
  FhirChannelConfig,
  Hl7ChannelConfig,
  OutboxEntry,
} from '../reporting/model.ts';
import { buildOru } from '../reporting/oru.ts';
import type { ReportStore } from '../reporting/ports.ts';
import type { Deliver, DeliveryResult } from './outbox.ts';

export interface ChannelDeps {
  store: ReportStore;
  ris: Pick<RisService, 'getExam'>;
  hospitals: HospitalRepository;
  aes: AeRepository;
  /** the archive's ingest pipeline (absent: `archive` rows fail) */
  ingest?: Pick<IngestService, 'ingestPart10Stream'>;
  /** our AE title (calling AE of C-STORE), also MSH-3/4 sender */
  aeTitle: string;
  /** MSH-4 sending facility (default: the center hospital's code, else HUIYING) */
  sendingFacility?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const OK_DIMSE = new Set([0x0000, 0xb000, 0xb006, 0xb007]);

export function createDeliver(deps: ChannelDeps): Deliver {
  const timeoutMs = deps.timeoutMs ?? 30_000;
  const doFetch = deps.fetch ?? fetch;

  async function hl7(entry: OutboxEntry, d: VersionDocument, cfg: Hl7ChannelConfig): Promise<DeliveryResult> {
    const charset = cfg.charset ?? d.hospital.defaultCharset ?? 'UTF-8';
    const { text } = buildOru(d.exam, d.version, {
      controlId: entry.idempotencyKey,
      charset,
      sendingApplication: 'HUIYING',
      sendingFacility: deps.sendingFacility ?? 'CENTER',
      ...(cfg.receivingApplication !== undefined ? { receivingApplication: cfg.receivingApplication } : {}),
      receivingFacility: cfg.receivingFacility ?? d.hospital.code,
    });
    const client = new MllpClient({
      host: cfg.host,
      port: cfg.port,
      retries: 0,
      timeoutMs,
      connectTimeoutMs: Math.min(timeoutMs, 10_000),
    });
    try {
      const ack = await client.sendMessage(text, { charset });
      const receipt = `MSA|${ack.code}|${ack.ackControlId}${ack.text !== '' ? `|${ack.text}` : ''}`;
      if (ack.code !== 'AA' && ack.code !== 'CA') {
        const why = ack.errors.map((e) => e.message || e.code).join('; ') || ack.text || 'no reason given';
        throw new HuiyingError('unavailable', `HL7 NAK ${ack.code} from ${cfg.host}:${cfg.port}: ${why}`);
      }
      return { receipt };
    } catch (err) {
      if (err instanceof HuiyingError && err.code === 'unavailable') throw err;
      throw new HuiyingError('unavailable', `HL7 ${cfg.host}:${cfg.port}: ${messageOf(err)}`, { cause: err });
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  async function fhir(
    entry: OutboxEntry,
    d: VersionDocument,
    cfg: FhirChannelConfig,
  ): Promise<DeliveryResult> {
    const pdf = await renderDocument(d);
    const resource = buildDiagnosticReport(d.exam, d.hospital.code, d.version, entry.idempotencyKey, pdf);
    const url = `${cfg.baseUrl.replace(/\/+$/, '')}/DiagnosticReport`;
    let res: Response;
    try {
      res = await doFetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/fhir+json; charset=utf-8',
          Accept: 'application/fhir+json',
          'If-None-Exist': `identifier=${encodeURIComponent(`${REPORT_VERSION_SYSTEM}|${entry.idempotencyKey}`)}`,
          ...(cfg.authorization !== undefined ? { Authorization: cfg.authorization } : {}),
        },
        body: JSON.stringify(resource),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new HuiyingError('unavailable', `FHIR ${url}: ${messageOf(err)}`, { cause: err });
    }
    const body = await res.text().catch(() => '');
    if (res.ok) {
      const loc = res.headers.get('location') ?? res.headers.get('content-location') ?? '';
      return { receipt: `HTTP ${res.status}${loc !== '' ? ` ${loc}` : ''}` };
    }
    let detail = body.slice(0, 300);
    try {
      const oo = JSON.parse(body) as { issue?: { diagnostics?: string; details?: { text?: string } }[] };
      const d0 = oo.issue?.map((i) => i.diagnostics ?? i.details?.text ?? '').filter((x) => x !== '');
      if (d0 !== undefined && d0.length > 0) detail = d0.join('; ');
    } catch {
      // not an OperationOutcome
    }
    const retry = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new HuiyingError(
      retry ? 'unavailable' : res.status === 401 || res.status === 403 ? 'forbidden' : 'invalid-input',
      `FHIR ${url}: HTTP ${res.status} ${detail}`.trim(),
    );
  }

  async function dicom(d: VersionDocument, cfg: DicomChannelConfig): Promise<DeliveryResult> {
    const ae = await deps.aes.byTitle(cfg.aeTitle);
    if (ae === undefined) throw new HuiyingError('not-found', `PACS AE ${cfg.aeTitle} is not registered`);
    if (ae.hospitalId !== d.hospital.id)
      throw new HuiyingError(
        'forbidden',
        `PACS AE ${cfg.aeTitle} does not belong to ${d.hospital.code}; reports go only to the hospital's own PACS`,
      );
    if (ae.host === undefined || ae.port === undefined)
      throw new HuiyingError('invalid-input', `PACS AE ${cfg.aeTitle} has no host/port`);
    const pdf = await renderDocument(d);
    const sop = reportInstanceUid(d.version);
    let assoc;
    try {
      assoc = await connect({
        host: ae.host,
        port: ae.port,
        callingAeTitle: deps.aeTitle,
        calledAeTitle: ae.aeTitle,
        contexts: [
          {
            abstractSyntax: ENCAPSULATED_PDF_STORAGE,
            transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN],
          },
        ],
        timeouts: { connectMs: Math.min(timeoutMs, 10_000) },
      });
    } catch (err) {
      throw new HuiyingError(
        'unavailable',
        `C-STORE to ${ae.aeTitle}@${ae.host}:${ae.port}: ${messageOf(err)}`,
        {
          cause: err,
        },
      );
    }
    try {
      const ctx = pickContext(assoc.contexts, ENCAPSULATED_PDF_STORAGE);
      if (ctx === undefined)
        throw new HuiyingError('unsupported', `${ae.aeTitle} does not accept Encapsulated PDF Storage`);
      const res = await assoc.store({
        sopClassUid: ENCAPSULATED_PDF_STORAGE,
        sopInstanceUid: sop,
        transferSyntax: ctx.transferSyntax,
        data: encapsulatedPdfDatasetBytes(d.exam, d.version, pdf, ctx.transferSyntax),
      });
      if (!OK_DIMSE.has(res.status))
        throw new HuiyingError(
          'unavailable',
          `C-STORE to ${ae.aeTitle}: status 0x${res.status.toString(16).padStart(4, '0')}${res.errorComment !== undefined ? ` ${res.errorComment}` : ''}`,
        );
      await assoc.release().catch(() => assoc.abort());
      return { receipt: `C-STORE 0x${res.status.toString(16).padStart(4, '0')} ${sop}` };
    } catch (err) {
      assoc.abort();
      if (err instanceof HuiyingError) throw err;
      throw new HuiyingError('unavailable', `C-STORE to ${ae.aeTitle}: ${messageOf(err)}`, { cause: err });
    }
  }

  async function archive(d: VersionDocument): Promise<DeliveryResult> {
    if (deps.ingest === undefined) throw new HuiyingError('unavailable', 'no archive ingest configured');
    const pdf = await renderDocument(d);
    const bytes = encapsulatedPdfPart10(d.exam, d.version, pdf);
    const out = await deps.ingest.ingestPart10Stream({
      hospitalId: d.exam.hospitalId,
      source: 'import',
      data: Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]),
    });
    return { receipt: `${out.outcome} ${out.sopInstanceUid}` };
  }

  return async (entry) => {
    const d = await loadVersionDocument(deps, entry.reportVersionId);
    if (
      d.exam.studyInstanceUid === null &&
      (entry.channelKind === 'archive' || entry.channelKind === 'dicom')
    )
      throw new HuiyingError('invalid-input', `exam ${d.exam.accessionNumber} has no linked study`);
    if (entry.channelKind === 'archive') return archive(d);
    if (entry.channelId === null)
      throw new HuiyingError('invalid-input', `outbox ${entry.id} has no channel`);
    const ch = await deps.store.channel(entry.channelId);
    if (ch === undefined)
      throw new HuiyingError('not-found', `delivery channel ${entry.channelId} no longer exists`);
    if (!ch.enabled) throw new HuiyingError('invalid-input', `delivery channel ${ch.name} is disabled`);
    switch (ch.kind) {
      case 'hl7':
        return hl7(entry, d, ch.config as Hl7ChannelConfig);
      case 'fhir':
        return fhir(entry, d, ch.config as FhirChannelConfig);
      case 'dicom':
        return dicom(d, ch.config as DicomChannelConfig);
    }
  };
}
