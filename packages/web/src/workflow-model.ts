/**
 * The workflow's constants and display helpers, free of React and the DOM (so server-side tests can check
 * them against the domain model): statuses, legal transitions, code lists, patient names, ages, times.
 */
import type { Exam, ExamStatus, PatientClass, Priority } from '../../server/src/ris/model.ts';

export const STATUSES: readonly ExamStatus[] = [
  'registered',
  'examined',
  'matched',
  'reported',
  'reviewed',
  'cancelled',
  'returned',
];
export const PATIENT_CLASSES: readonly PatientClass[] = [
  'outpatient',
  'inpatient',
  'emergency',
  'physical_exam',
];
export const PRIORITIES: readonly Priority[] = ['emergency', 'routine'];
export const MODALITIES = ['CT', 'MR', 'DX', 'CR', 'DR', 'US', 'MG', 'RF', 'XA', 'NM', 'PT', 'ES', 'OT'];
export const BODY_PARTS = [
  'HEAD',
  'BRAIN',
  'NECK',
  'CHEST',
  'ABDOMEN',
  'PELVIS',
  'CSPINE',
  'TSPINE',
  'LSPINE',
  'SPINE',
  'EXTREMITY',
  'SHOULDER',
  'KNEE',
  'HIP',
  'HAND',
  'FOOT',
  'BREAST',
  'HEART',
  'WHOLEBODY',
];

export const STATUS_COLOR: Record<ExamStatus, string> = {
  registered: 'default',
  examined: 'processing',
  matched: 'cyan',
  reported: 'purple',
  reviewed: 'success',
  cancelled: 'default',
  returned: 'warning',
};

/** legal transitions (mirror of EXAM_TRANSITIONS in the server's model; the server decides) */
export const TRANSITIONS: Readonly<Record<ExamStatus, readonly ExamStatus[]>> = {
  registered: ['examined', 'cancelled', 'returned'],
  examined: ['matched', 'registered', 'cancelled', 'returned'],
  matched: ['reported', 'examined', 'cancelled', 'returned'],
  reported: ['reviewed', 'matched'],
  reviewed: [],
  cancelled: ['registered'],
  returned: ['registered', 'cancelled'],
};

// ------------------------------------------------------------------------------------ display helpers

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;

/** A DICOM PN ("Zhang^San=张^三") or plain name for display: the ideographic group when there is one. */
export function personName(pn: string | null | undefined): string {
  if (pn == null || pn === '') return '';
  const groups = pn.split('=');
  const ideo = groups[1]?.trim();
  const chosen = ideo !== undefined && ideo !== '' ? ideo : (groups[0] ?? '');
  const parts = chosen.split('^').filter((p) => p.trim() !== '');
  return CJK.test(chosen) ? parts.join('') : parts.join(' ');
}

/** YYYYMMDD (or YYYY-MM-DD) → Date, undefined when invalid. */
function parseDicomDate(d: string | null | undefined): Date | undefined {
  if (d == null) return undefined;
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(d.trim());
  if (m === null) return undefined;
  const date = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function formatDicomDate(d: string | null | undefined): string {
  const date = parseDicomDate(d);
  if (date === undefined) return d ?? '';
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
}

/** Age as {value, unit} (years; months under 2 years; days under 1 month), relative to `at`. */
export function ageOf(
  birthDate: string | null | undefined,
  at: Date = new Date(),
): { value: number; unit: 'y' | 'm' | 'd' } | undefined {
  const b = parseDicomDate(birthDate);
  if (b === undefined || b.getTime() > at.getTime()) return undefined;
  let months = (at.getFullYear() - b.getFullYear()) * 12 + (at.getMonth() - b.getMonth());
  if (at.getDate() < b.getDate()) months--;
  if (months >= 24) return { value: Math.floor(months / 12), unit: 'y' };
  if (months >= 1) return { value: months, unit: 'm' };
  return { value: Math.floor((at.getTime() - b.getTime()) / 86_400_000), unit: 'd' };
}

export function formatTime(iso: string | null | undefined): string {
  if (iso == null || iso === '') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Signed remaining time split for display: "1:05:09" style, negative when overdue. */
export function remaining(dueAt: string, now: number): { overdue: boolean; text: string; ms: number } {
  const ms = Date.parse(dueAt) - now;
  const abs = Math.abs(ms);
  const s = Math.floor(abs / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const p = (n: number): string => String(n).padStart(2, '0');
  const text = h >= 48 ? `${Math.floor(h / 24)}d ${h % 24}h` : `${h}:${p(m)}:${p(sec)}`;
  return { overdue: ms < 0, text, ms };
}

/** the report is still outstanding: the countdown matters */
export function awaitingReport(e: Exam): boolean {
  return e.status === 'examined' || e.status === 'matched';
}

export function isOverdue(e: Exam, now: number): boolean {
  return awaitingReport(e) && e.dueAt !== null && Date.parse(e.dueAt) < now;
}
