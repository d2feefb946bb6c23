/**
 * C-FIND / C-MOVE / C-GET identifiers ↔ archive queries. Pure functions over the DICOM JSON model.
 */
import { parseMatcher, type DicomJson, type Matcher, type QueryLevel } from '@huiying/dicom';
import type { AccessScope, IndexQuery, IndexRow } from '../archive/ports.ts';
import { QUERY_KEY_BY_TAG, keysAtOrAbove, levelOrder } from '../archive/query-keys.ts';
import { HuiyingError } from '../errors.ts';

const QR_LEVEL = '00080052';
const SCS = '00080005';

export type QueryModel = 'patient-root' | 'study-root';

interface PersonNameValue {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}

/** A PN JSON value in its DICOM string form `A=I=P`, trailing empty groups dropped. */
export function personNameToString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || typeof v !== 'object') return '';
  const pn = v as PersonNameValue;
  const groups = [pn.Alphabetic ?? '', pn.Ideographic ?? '', pn.Phonetic ?? ''];
  while (groups.length > 1 && groups[groups.length - 1] === '') groups.pop();
  return groups.join('=');
}

export function personNameFromString(s: string): PersonNameValue {
  const [a, i, p] = s.split('=');
  const out: PersonNameValue = {};
  if (a !== undefined && a !== '') out.Alphabetic = a;
  if (i !== undefined && i !== '') out.Ideographic = i;
  if (p !== undefined && p !== '') out.Phonetic = p;
  return out;
}

/** The element's value as the DICOM string a matcher is parsed from (multi-values joined by `\`). */
export function elementString(el: DicomJson[string] | undefined): string {
  if (el?.Value === undefined || el.Value.length === 0) return '';
  return el.Value.map((v) =>
    el.vr === 'PN' ? personNameToString(v) : v === null ? '' : String(v as string | number),
  ).join('\\');
}

export function queryLevelOf(identifier: DicomJson, model: QueryModel): QueryLevel {
  const raw = elementString(identifier[QR_LEVEL]).trim().toUpperCase();
  if (raw === '') throw new HuiyingError('invalid-input', 'Query/Retrieve Level (0008,0052) missing');
  if (raw !== 'PATIENT' && raw !== 'STUDY' && raw !== 'SERIES' && raw !== 'IMAGE') {
    throw new HuiyingError('invalid-input', `unknown Query/Retrieve Level '${raw}'`);
  }
  if (raw === 'PATIENT' && model === 'study-root') {
    throw new HuiyingError('invalid-input', 'PATIENT level is not valid in the Study Root model');
  }
  return raw;
}

/**
 * Build the index query from an identifier. Keys above the query level act as filters (relational
 * queries are accepted); keys we do not index are returned empty and not matched (PS3.4 allows this
 * for optional keys). Sequence keys are ignored.
 */
export function identifierToQuery(
  identifier: DicomJson,
  model: QueryModel,
  scope: AccessScope,
  opts: { retrieve?: boolean } = {},
): IndexQuery {
  const level = queryLevelOf(identifier, model);
  const allowed = new Set(keysAtOrAbove(level).map((k) => k.tag));
  const keys: Record<string, Matcher> = {};
  for (const [tag, el] of Object.entries(identifier)) {
    const key = QUERY_KEY_BY_TAG.get(tag);
    if (key === undefined || !allowed.has(tag) || key.derived === true) continue;
    const raw = elementString(el);
    if (raw === '') continue;
    const m = parseMatcher(key.vr, raw);
    if (m.kind !== 'universal') keys[key.keyword] = m;
  }
  if (opts.retrieve === true) {
    // C-MOVE / C-GET: the unique key of the level (and of levels above) must be given
    const unique = keysAtOrAbove(level).filter(
      (k) => k.unique === true && levelOrder(k.level) === levelOrder(level),
    );
    for (const u of unique) {
      if (keys[u.keyword] === undefined) {
        throw new HuiyingError('invalid-input', `retrieve at ${level} level needs ${u.keyword}`);
      }
    }
  }
  return { level, keys, scope };
}

/** The response identifier for one row: every requested key, with the archive's value or empty. */
export function rowToIdentifier(
  row: IndexRow,
  request: DicomJson,
  level: QueryLevel,
  retrieveAeTitle: string,
  charset: string | undefined,
): DicomJson {
  const out: DicomJson = {};
  if (charset !== undefined) out[SCS] = { vr: 'CS', Value: charset.split('\\') };
  out[QR_LEVEL] = { vr: 'CS', Value: [level] };
  for (const [tag, el] of Object.entries(request)) {
    if (tag === QR_LEVEL || tag === SCS) continue;
    if (tag === '00080054') {
      out[tag] = { vr: 'AE', Value: [retrieveAeTitle] };
      continue;
    }
    const key = QUERY_KEY_BY_TAG.get(tag);
    const v = key === undefined ? undefined : row.values[key.keyword];
    if (v === undefined || v === '') {
      out[tag] = { vr: el.vr };
      continue;
    }
    const s = String(v);
    if (el.vr === 'PN') out[tag] = { vr: 'PN', Value: [personNameFromString(s)] };
    else if (
      el.vr === 'US' ||
      el.vr === 'UL' ||
      el.vr === 'SS' ||
      el.vr === 'SL' ||
      el.vr === 'IS' ||
      el.vr === 'DS'
    ) {
      out[tag] = { vr: el.vr, Value: s.split('\\').map((x) => Number(x)) };
    } else out[tag] = { vr: el.vr, Value: s.split('\\') };
  }
  // the unique keys of the level and above are always returned (PS3.4 C.4.1.1.3.2)
  for (const key of keysAtOrAbove(level)) {
    if (key.unique !== true || out[key.tag] !== undefined) continue;
    if (key.level === 'PATIENT' && level !== 'PATIENT') continue;
    const v = row.values[key.keyword];
    if (v !== undefined) out[key.tag] = { vr: key.vr, Value: [String(v)] };
  }
  return out;
}
