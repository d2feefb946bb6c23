/**
 * QIDO-RS (PS3.18 10.6): query parameters → IndexQuery, index rows → DICOM JSON. The attribute table is
 * archive/query-keys.ts (QUERY_KEYS); nothing here is duplicated from it.
 */
import {
  isValidUid,
  parseMatcher,
  textValues,
  keywordToTag,
  type DicomJson,
  type Matcher,
} from '@huiying/dicom';
import type { QueryLevel } from '@huiying/dicom';
import type { IndexRow } from '../archive/ports.ts';
import {
  QUERY_KEY_BY_KEYWORD,
  QUERY_KEY_BY_TAG,
  keysAtOrAbove,
  type QueryKey,
} from '../archive/query-keys.ts';
import { HuiyingError } from '../errors.ts';

export type QidoLevel = Exclude<QueryLevel, 'PATIENT'>;

/** Parameters that are not matching keys. */
const CONTROL_PARAMS = new Set(['limit', 'offset', 'fuzzymatching', 'includefield', 'accept', 'charset']);

const DEFAULTS: Record<QidoLevel, string[]> = {
  STUDY: [
    'StudyDate',
    'StudyTime',
    'AccessionNumber',
    'ModalitiesInStudy',
    'ReferringPhysicianName',
    'PatientName',
    'PatientID',
    'PatientBirthDate',
    'PatientSex',
    'StudyInstanceUID',
    'StudyID',
    'StudyDescription',
    'NumberOfStudyRelatedSeries',
    'NumberOfStudyRelatedInstances',
  ],
  SERIES: [
    'Modality',
    'SeriesDescription',
    'SeriesInstanceUID',
    'SeriesNumber',
    'SeriesDate',
    'SeriesTime',
    'PerformedProcedureStepStartDate',
    'PerformedProcedureStepStartTime',
    'NumberOfSeriesRelatedInstances',
    'StudyInstanceUID',
  ],
  IMAGE: [
    'SOPClassUID',
    'SOPInstanceUID',
    'InstanceNumber',
    'Rows',
    'Columns',
    'BitsAllocated',
    'NumberOfFrames',
    'SeriesInstanceUID',
    'StudyInstanceUID',
  ],
};

export interface QidoRequest {
  level: QidoLevel;
  keys: Record<string, Matcher>;
  fuzzy: boolean;
  limit: number;
  offset: number;
  /** keywords to return (beyond the synthetic ones) */
  returnKeys: QueryKey[];
}

function bad(message: string): HuiyingError {
  return new HuiyingError('invalid-input', message);
}

/** The query key named by `name`: a keyword or an 8-digit hex tag. */
export function resolveKey(name: string): QueryKey | undefined {
  if (/^[0-9A-Fa-f]{8}$/.test(name)) return QUERY_KEY_BY_TAG.get(name.toUpperCase());
  return QUERY_KEY_BY_KEYWORD.get(name);
}

function isKnownAttribute(name: string): boolean {
  return /^[0-9A-Fa-f]{8}$/.test(name) || keywordToTag(name) !== undefined;
}

const DA = /^\d{8}$/;
const TM = /^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/;
const DT = /^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$/;

function checkValue(key: QueryKey, raw: string): Matcher {
  const name = key.keyword;
  if (raw.length > 4096) throw bad(`${name}: value too long`);
  if (key.derived === true && key.vr === 'IS') throw bad(`${name} is a return-only attribute`);
  if (key.vr === 'UI') {
    const values = raw.split(/[,\\]/).map((v) => v.trim());
    if (raw.trim() === '') return { kind: 'universal' };
    for (const v of values) {
      const shown = v.slice(0, 80);
      if (!isValidUid(v)) throw bad(`${name}: "${shown}" is not a valid UID`);
    }
    return values.length === 1 ? { kind: 'single', value: values[0]! } : { kind: 'list', values };
  }
  const m = parseMatcher(key.vr, raw);
  const check = (re: RegExp, v: string | undefined): void => {
    if (v !== undefined && !re.test(v))
      throw bad(`${name}: "${v.slice(0, 80)}" is not a valid ${key.vr} value`);
  };
  if (key.vr === 'DA' || key.vr === 'TM' || key.vr === 'DT') {
    const re = key.vr === 'DA' ? DA : key.vr === 'TM' ? TM : DT;
    if (m.kind === 'range') {
      check(re, m.from);
      check(re, m.to);
      if (m.from !== undefined && m.to !== undefined && m.from > m.to) {
        throw bad(`${name}: range start ${m.from} is after its end ${m.to}`);
      }
    } else if (m.kind === 'single') check(re, m.value);
    else if (m.kind === 'list') m.values.forEach((v) => check(re, v));
    else if (m.kind === 'wildcard') throw bad(`${name}: wildcards are not allowed for ${key.vr}`);
  }
  if (key.vr === 'IS' || key.vr === 'US') {
    const ints = m.kind === 'single' ? [m.value] : m.kind === 'list' ? m.values : [];
    for (const v of ints)
      if (!/^[+-]?\d+$/.test(v)) throw bad(`${name}: "${v.slice(0, 80)}" is not an integer`);
    if (m.kind === 'wildcard') throw bad(`${name}: wildcards are not allowed for ${key.vr}`);
  }
  return m;
}

function intParam(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined || v === '') return def;
  if (!/^\d+$/.test(v)) throw bad(`${name} must be a non-negative integer, got "${v.slice(0, 40)}"`);
  const n = Number(v);
  if (n < min) throw bad(`${name} must be at least ${min}`);
  return Math.min(n, max);
}

export type QueryParams = Record<string, string | string[] | undefined>;

function one(params: QueryParams, name: string): string | undefined {
  const v = params[name];
  if (Array.isArray(v)) {
    if (v.length > 1) throw bad(`query parameter ${name} is given more than once`);
    return v[0];
  }
  return v;
}

/** Parse a QIDO request. `path` holds the UIDs from the URL path (already validated). */
export function parseQido(
  level: QidoLevel,
  params: QueryParams,
  path: { StudyInstanceUID?: string; SeriesInstanceUID?: string },
  limits: { defaultLimit: number; maxLimit: number },
): QidoRequest {
  const keys: Record<string, Matcher> = {};
  const allowed = new Set(keysAtOrAbove(level).map((k) => k.keyword));
  const returned = new Set<string>(DEFAULTS[level]);
  if (level !== 'STUDY' && path.StudyInstanceUID === undefined)
    DEFAULTS.STUDY.forEach((k) => returned.add(k));
  if (level === 'IMAGE' && path.SeriesInstanceUID === undefined)
    DEFAULTS.SERIES.forEach((k) => returned.add(k));
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || CONTROL_PARAMS.has(name)) continue;
    const key = resolveKey(name);
    if (key === undefined) {
      throw bad(
        isKnownAttribute(name)
          ? `${name} is not a supported matching key`
          : `unknown query parameter or attribute: ${name.slice(0, 80)}`,
      );
    }
    const raw = one(params, name) ?? '';
    if (keys[key.keyword] !== undefined) throw bad(`${key.keyword} is given more than once`);
    if (key.derived === true && key.vr === 'IS') throw bad(`${key.keyword} is a return-only attribute`);
    keys[key.keyword] = checkValue(key, raw);
    if (allowed.has(key.keyword)) returned.add(key.keyword);
  }
  if (path.StudyInstanceUID !== undefined)
    keys.StudyInstanceUID = { kind: 'single', value: path.StudyInstanceUID };
  if (path.SeriesInstanceUID !== undefined)
    keys.SeriesInstanceUID = { kind: 'single', value: path.SeriesInstanceUID };
  const fz = one(params, 'fuzzymatching');
  if (fz !== undefined && fz !== 'true' && fz !== 'false') throw bad('fuzzymatching must be true or false');
  const inc = params.includefield;
  const incs = (Array.isArray(inc) ? inc : inc === undefined ? [] : [inc]).flatMap((s) => s.split(','));
  for (const f of incs.map((s) => s.trim()).filter((s) => s !== '')) {
    if (f === 'all') {
      allowed.forEach((k) => returned.add(k));
      continue;
    }
    const key = resolveKey(f);
    if (key === undefined) {
      // an attribute the archive does not index cannot be returned; unknown names are an error
      if (!isKnownAttribute(f) && !/^[0-9A-Fa-f]{8}(\.[0-9A-Fa-f]{8})*$/.test(f)) {
        throw bad(`includefield: unknown attribute ${f.slice(0, 80)}`);
      }
      continue;
    }
    if (allowed.has(key.keyword)) returned.add(key.keyword);
  }
  const limit = intParam('limit', one(params, 'limit'), limits.defaultLimit, 1, limits.maxLimit);
  const offset = intParam('offset', one(params, 'offset'), 0, 0, Number.MAX_SAFE_INTEGER);
  return {
    level,
    keys,
    fuzzy: fz === 'true',
    limit,
    offset,
    returnKeys: [...returned].map((k) => QUERY_KEY_BY_KEYWORD.get(k)!).filter((k) => allowed.has(k.keyword)),
  };
}

function jsonValue(vr: string, v: string | number): unknown[] | undefined {
  if (typeof v === 'number') return [v];
  if (vr === 'US' || vr === 'UL' || vr === 'SS' || vr === 'SL') {
    return v.split('\\').map((x) => (/^[+-]?\d+$/.test(x.trim()) ? Number(x) : x));
  }
  return textValues(v, vr);
}

/** One index row → DICOM JSON with the requested attributes, charset, availability and RetrieveURL. */
export function rowToJson(q: QidoRequest, row: IndexRow, base: string): DicomJson {
  const out: DicomJson = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080056': { vr: 'CS', Value: ['ONLINE'] },
  };
  for (const key of q.returnKeys) {
    const v = row.values[key.keyword];
    const el: { vr: string; Value?: unknown[] } = { vr: key.vr };
    if (v !== undefined && v !== '') {
      const value = jsonValue(key.vr, v);
      if (value !== undefined) el.Value = value;
    }
    out[key.tag] = el;
  }
  const s = row.values.StudyInstanceUID;
  const se = row.values.SeriesInstanceUID;
  const i = row.values.SOPInstanceUID;
  let url = `${base}/studies/${String(s)}`;
  if (q.level !== 'STUDY') url += `/series/${String(se)}`;
  if (q.level === 'IMAGE') url += `/instances/${String(i)}`;
  out['00081190'] = { vr: 'UR', Value: [url] };
  const sorted: DicomJson = {};
  for (const k of Object.keys(out).sort()) sorted[k] = out[k]!;
  return sorted;
}
