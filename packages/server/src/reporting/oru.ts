/**
 * HL7 v2.5.1 ORU^R01 for a signed report version, as member hospitals' HIS/RIS receive results:
 *
 *   MSH  MSH-10 = the outbox idempotency key (a resend after a lost ACK carries the same control id, so the
 *        receiver can recognise the duplicate); MSH-18 = the hospital's charset (GB 18030-2000 | UNICODE UTF-8)
 *   PID  patient id^^^issuer, name (ideographic form first), birth date, sex
 *   PV1  patient class (O/I/E)
 *   ORC  RE, placer order number, filler = accession
 *   OBR  universal service id = exam items; observation time; OBR-22 report time; OBR-25 result status
 *        (F final, C correction/addendum); OBR-32 principal interpreter (signer), OBR-33 assistant
 *        (author), OBR-35 transcriptionist empty
 *   OBX  TX 影像所见 findings, TX 诊断意见 impression, TX 建议 recommendation, ST 阳性 Y/N, ST 危急值 Y/N,
 *        TX 补充 addendum, TX 更正原因 reason; line breaks as \.br\
 */
import { escapeHl7 } from '../hl7/message.ts';
import { charsetOf } from '../hl7/charset.ts';
import type { Exam } from '../ris/model.ts';
import type { ReportVersion } from './model.ts';

export interface OruOptions {
  controlId: string;
  /** HL7 or DICOM charset label (default UTF-8) */
  charset?: string;
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  /** message time (default now) */
  at?: Date;
  /** processing id P (production) | T (training) | D (debugging) */
  processingId?: string;
}

/** HL7 DTM in China Standard Time: YYYYMMDDHHMMSS+0800. */
export function hl7Time(iso: string | Date | null): string {
  if (iso === null) return '';
  const d = new Date(typeof iso === 'string' ? iso : iso.getTime());
  const t = new Date(d.getTime() + 8 * 3600_000);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(t.getUTCFullYear(), 4)}${p(t.getUTCMonth() + 1)}${p(t.getUTCDate())}${p(t.getUTCHours())}${p(t.getUTCMinutes())}${p(t.getUTCSeconds())}+0800`;
}

const PV1_CLASS: Record<string, string> = {
  outpatient: 'O',
  inpatient: 'I',
  emergency: 'E',
  physical_exam: 'O',
};

/** The message text (segments joined by CR) and the charset's HL7 name for MSH-18. */
export function buildOru(exam: Exam, v: ReportVersion, o: OruOptions): { text: string; charset: string } {
  const cs = charsetOf(o.charset ?? 'UTF-8');
  if (cs === undefined) throw new Error(`unsupported HL7 charset ${o.charset ?? ''}`);
  const e = (s: string | null | undefined): string => escapeHl7(s ?? '');
  const status = v.kind === 'final' ? 'F' : 'C';
  // XPN family^given: the ideographic name first (张^三 or 张三), the alphabetic one as a second repetition
  const groups = exam.patient.name.split('=');
  const pn = (g: string): string => g.split('^').map(e).join('^').replace(/\^+$/, '');
  const ideographic = groups.length > 1 ? (groups[1] ?? '') : '';
  const alphabetic = groups[0] ?? '';
  const xpn = [ideographic, alphabetic]
    .filter((g) => g.trim() !== '')
    .map(pn)
    .join('~');
  const items = exam.examItems;
  const service = `${e(items[0]?.code ?? exam.modality)}^${e(items.map((i) => i.name).join('、'))}^L`;
  const signer = v.signedBy === null ? '' : `${v.signedBy.userId}&${e(v.signedBy.name)}`;
  const author = `${v.author.userId}&${e(v.author.name)}`;
  const segs: string[] = [
    [
      'MSH',
      '^~\\&',
      e(o.sendingApplication ?? 'HUIYING'),
      e(o.sendingFacility ?? 'CENTER'),
      e(o.receivingApplication ?? ''),
      e(o.receivingFacility ?? ''),
      hl7Time(o.at ?? new Date()),
      '',
      'ORU^R01^ORU_R01',
      e(o.controlId),
      o.processingId ?? 'P',
      '2.5.1',
      '',
      '',
      'AL',
      'NE',
      '',
      cs.hl7,
    ].join('|'),
    [
      'PID',
      '1',
      '',
      `${e(exam.patient.patientId)}^^^${e(exam.patient.issuer)}`,
      '',
      xpn,
      '',
      e(exam.patient.birthDate),
      e(exam.patient.sex),
    ].join('|'),
    ['PV1', '1', exam.patientClass === null ? 'U' : (PV1_CLASS[exam.patientClass] ?? 'U')].join('|'),
    ['ORC', 'RE', e(exam.placerOrderNumber), e(exam.accessionNumber), '', 'CM'].join('|'),
  ];
  const obr: string[] = ['OBR', '1', e(exam.placerOrderNumber), e(exam.accessionNumber), service];
  obr[7] = hl7Time(exam.examinedAt ?? exam.registeredAt);
  obr[16] = e(exam.requestingPhysician);
  obr[22] = hl7Time(v.signedAt);
  obr[24] = e(exam.modality);
  obr[25] = status;
  obr[32] = signer;
  obr[33] = author;
  segs.push(Array.from(obr, (x) => x ?? '').join('|'));
  let n = 0;
  const obx = (type: string, code: string, label: string, value: string): void => {
    if (value === '') return;
    n++;
    segs.push(
      ['OBX', String(n), type, `${code}^${e(label)}^L`, '', e(value), '', '', '', '', '', status].join('|'),
    );
  };
  obx('TX', 'FINDINGS', '影像所见', v.findings);
  obx('TX', 'IMPRESSION', '诊断意见', v.impression);
  obx('TX', 'RECOMMENDATION', '建议', v.recommendation);
  obx('ST', 'POSITIVE', '阳性', v.positive ? 'Y' : 'N');
  obx('ST', 'CRITICAL', '危急值', v.critical ? 'Y' : 'N');
  obx('TX', 'ADDENDUM', '补充', v.addendum ?? '');
  obx('TX', 'CORRECTION_REASON', '更正原因', v.reason ?? '');
  return { text: segs.join('\r'), charset: cs.hl7 };
}
