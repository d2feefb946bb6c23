/**
 * Validation of order content from any source (HL7, FHIR, the registration form): clear messages that
 * name the field, limits on every length, and normalisation (codes upper-cased, text trimmed).
 */
import { HuiyingError } from '../errors.ts';
import type {
  ExamItem,
  OrderChange,
  OrderInput,
  OrderSource,
  PatientClass,
  Priority,
  RisPatientInput,
} from './model.ts';

const CODE = /^[A-Z0-9_]{1,16}$/;
const DATE = /^\d{8}$/;
const ACCESSION = /^[\x21-\x7e]{1,16}$/;
const PATIENT_ID = /^[^\\\r\n\t]{1,64}$/;
const PRIORITIES: readonly Priority[] = ['emergency', 'routine'];
const CLASSES: readonly PatientClass[] = ['outpatient', 'inpatient', 'emergency', 'physical_exam'];
const SOURCES: readonly OrderSource[] = ['hl7', 'fhir', 'form'];

function bad(message: string): HuiyingError {
  return new HuiyingError('invalid-input', message);
}

function optText(where: string, v: unknown, max: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${where} must be text`);
  const t = v.trim();
  if (t.length > max) throw bad(`${where} is longer than ${max} characters`);
  return t === '' ? undefined : t;
}

function reqText(where: string, v: unknown, max: number): string {
  const t = optText(where, v, max);
  if (t === undefined) throw bad(`${where} is required`);
  return t;
}

/** A calendar date YYYYMMDD that exists (e.g. not 20260230). */
export function isValidDate(d: string): boolean {
  if (!DATE.test(d)) return false;
  const y = Number(d.slice(0, 4));
  const m = Number(d.slice(4, 6));
  const day = Number(d.slice(6, 8));
  const dt = new Date(Date.UTC(y, m - 1, day));
  return y >= 1850 && dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === day;
}

function optDate(where: string, v: unknown): string | undefined {
  const t = optText(where, v, 10);
  if (t === undefined) return undefined;
  const d = t.replaceAll('-', '');
  if (!isValidDate(d)) throw bad(`${where} must be a date YYYYMMDD (got "${t}")`);
  return d;
}

function optTime(where: string, v: unknown): string | undefined {
  const t = optText(where, v, 40);
  if (t === undefined) return undefined;
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) throw bad(`${where} must be an ISO date-time (got "${t}")`);
  return new Date(ms).toISOString();
}

function optCode(where: string, v: unknown): string | undefined {
  const t = optText(where, v, 16);
  if (t === undefined) return undefined;
  const c = t.toUpperCase().replaceAll(' ', '_');
  if (!CODE.test(c)) throw bad(`${where} must be a code of letters and digits (got "${t}")`);
  return c;
}

export function parsePatient(v: unknown, where = 'patient'): RisPatientInput {
  if (typeof v !== 'object' || v === null) throw bad(`${where} is required`);
  const o = v as Record<string, unknown>;
  const patientId = reqText(`${where}.patientId`, o.patientId, 64);
  if (!PATIENT_ID.test(patientId)) throw bad(`${where}.patientId contains a backslash or control character`);
  const p: RisPatientInput = { patientId, name: reqText(`${where}.name`, o.name, 200) };
  const issuer = optText(`${where}.issuer`, o.issuer, 64);
  if (issuer !== undefined) p.issuer = issuer;
  const sex = optText(`${where}.sex`, o.sex, 1);
  if (sex !== undefined) {
    const s = sex.toUpperCase();
    if (!['M', 'F', 'O'].includes(s)) throw bad(`${where}.sex must be M, F or O`);
    p.sex = s;
  }
  const bd = optDate(`${where}.birthDate`, o.birthDate);
  if (bd !== undefined) p.birthDate = bd;
  const phone = optText(`${where}.phone`, o.phone, 32);
  if (phone !== undefined) p.phone = phone;
  return p;
}

function parseItems(v: unknown): ExamItem[] {
  if (!Array.isArray(v) || v.length === 0) throw bad('examItems: at least one exam item is required');
  if (v.length > 20) throw bad('examItems: at most 20 items');
  return v.map((x, i) => {
    if (typeof x !== 'object' || x === null) throw bad(`examItems[${i}] must be an object`);
    const o = x as Record<string, unknown>;
    const item: ExamItem = { name: reqText(`examItems[${i}].name`, o.name, 100) };
    const code = optText(`examItems[${i}].code`, o.code, 32);
    if (code !== undefined) item.code = code;
    return item;
  });
}

/** The order fields shared by a new order and a change; `partial` = only validate what is present. */
function parseOrderFields(o: Record<string, unknown>, partial: boolean): OrderChange {
  const out: OrderChange = {};
  if (!partial || o.patient !== undefined) out.patient = parsePatient(o.patient);
  if (!partial || o.examItems !== undefined) out.examItems = parseItems(o.examItems);
  if (!partial || o.modality !== undefined) {
    const m = optCode('modality', o.modality);
    if (m === undefined) throw bad('modality is required');
    out.modality = m;
  }
  if (!partial || o.priority !== undefined) {
    const p = o.priority ?? 'routine';
    if (typeof p !== 'string' || !(PRIORITIES as readonly string[]).includes(p))
      throw bad(`priority must be one of ${PRIORITIES.join(', ')}`);
    out.priority = p as Priority;
  }
  const bodyPart = optCode('bodyPart', o.bodyPart);
  if (bodyPart !== undefined) out.bodyPart = bodyPart;
  if (o.patientClass !== undefined && o.patientClass !== null) {
    if (typeof o.patientClass !== 'string' || !(CLASSES as readonly string[]).includes(o.patientClass))
      throw bad(`patientClass must be one of ${CLASSES.join(', ')}`);
    out.patientClass = o.patientClass as PatientClass;
  }
  if (o.complex !== undefined && o.complex !== null) {
    if (typeof o.complex !== 'boolean') throw bad('complex must be true or false');
    out.complex = o.complex;
  }
  const texts: [keyof OrderChange, number][] = [
    ['clinicalHistory', 2000],
    ['symptoms', 2000],
    ['clinicalDiagnosis', 500],
    ['examPurpose', 500],
    ['requestingDepartment', 100],
    ['requestingPhysician', 100],
    ['placerOrderNumber', 64],
  ];
  for (const [k, max] of texts) {
    const t = optText(k, o[k], max);
    if (t !== undefined) (out as Record<string, unknown>)[k] = t;
  }
  const at = optTime('scheduledAt', o.scheduledAt);
  if (at !== undefined) out.scheduledAt = at;
  return out;
}

export function parseOrder(v: unknown): OrderInput {
  if (typeof v !== 'object' || v === null) throw bad('order must be an object');
  const o = v as Record<string, unknown>;
  if (typeof o.hospitalId !== 'number' || !Number.isInteger(o.hospitalId) || o.hospitalId < 1)
    throw bad('hospitalId is required');
  if (typeof o.source !== 'string' || !(SOURCES as readonly string[]).includes(o.source))
    throw bad(`source must be one of ${SOURCES.join(', ')}`);
  const fields = parseOrderFields(o, false);
  const order: OrderInput = {
    ...fields,
    hospitalId: o.hospitalId,
    source: o.source as OrderSource,
    patient: fields.patient as RisPatientInput,
    examItems: fields.examItems as ExamItem[],
    modality: fields.modality as string,
    priority: fields.priority as Priority,
  };
  const acc = optText('accessionNumber', o.accessionNumber, 16);
  if (acc !== undefined) {
    if (!ACCESSION.test(acc)) throw bad('accessionNumber must be 1–16 printable ASCII characters, no spaces');
    order.accessionNumber = acc;
  }
  return order;
}

export function parseOrderChange(v: unknown): OrderChange {
  if (typeof v !== 'object' || v === null) throw bad('change must be an object');
  return parseOrderFields(v as Record<string, unknown>, true);
}
