/**
 * C-FIND / QIDO matching → SQL, shared by SQLite and PostgreSQL (raw Kysely `sql` fragments).
 *
 * Tables and aliases: p = patients, st = studies, se = series, i = instances. A query at level L selects
 * from L's table joined to every higher level (study-root style: a SERIES query may filter on study and
 * patient keys); keys of lower levels become one correlated EXISTS (relational matching).
 *
 * Matchers:
 * - universal → no condition;
 * - single value → `=` (PN: normalized, against any group);
 * - wildcard: a pure prefix (`ABC*`) → `col >= 'ABC' AND col < 'ABD'` (index range scan on both
 *   dialects; PostgreSQL text columns are collate "C"), any other pattern → `LIKE … ESCAPE '!'` with
 *   `%`, `_` and `!` escaped. Non-PN matching is case-sensitive (as DICOM says; SQLite runs with
 *   case_sensitive_like), PN matching is case-insensitive through the upper-cased normalized columns;
 * - range (DA/TM/DT as strings): `col >= from AND col < next(to)` so `to` includes everything it prefixes
 *   (`-10` for TM includes 10:59:59);
 * - list → `IN (…)`.
 * Combined DA+TM range matching is not done: each key is matched on its own.
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Matcher, QueryLevel } from '@huiying/dicom';
import { fuzzyTokens, normalizeNameForMatch } from './index-names.ts';

export type Alias = 'p' | 'st' | 'se' | 'i';

type Kind = 'text' | 'pn' | 'date' | 'time' | 'int' | 'multi' | 'modalities' | 'sopclasses' | 'count';

export interface KeyDef {
  keyword: string;
  level: QueryLevel;
  column: string;
  kind: Kind;
  /** PN: normalized group columns and the fuzzy column */
  pn?: { a: string; i: string; p: string; fz: string };
}

const LEVEL_ALIAS: Record<QueryLevel, Alias> = { PATIENT: 'p', STUDY: 'st', SERIES: 'se', IMAGE: 'i' };
const LEVEL_ORDER: Record<QueryLevel, number> = { PATIENT: 0, STUDY: 1, SERIES: 2, IMAGE: 3 };
const LEVELS: QueryLevel[] = ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'];

const d = (
  level: QueryLevel,
  keyword: string,
  column: string,
  kind: Kind,
  extra?: Partial<KeyDef>,
): KeyDef => ({
  level,
  keyword,
  column,
  kind,
  ...extra,
});

export const KEY_DEFS: readonly KeyDef[] = [
  d('PATIENT', 'PatientName', 'patient_name', 'pn', {
    pn: { a: 'name_a', i: 'name_i', p: 'name_p', fz: 'name_fz' },
  }),
  d('PATIENT', 'PatientID', 'patient_id', 'text'),
  d('PATIENT', 'IssuerOfPatientID', 'issuer', 'text'),
  d('PATIENT', 'PatientBirthDate', 'birth_date', 'date'),
  d('PATIENT', 'PatientBirthTime', 'birth_time', 'time'),
  d('PATIENT', 'PatientSex', 'sex', 'text'),
  d('PATIENT', 'OtherPatientIDs', 'other_ids', 'multi'),
  d('PATIENT', 'NumberOfPatientRelatedStudies', 'num_studies', 'count'),
  d('PATIENT', 'NumberOfPatientRelatedSeries', 'num_series', 'count'),
  d('PATIENT', 'NumberOfPatientRelatedInstances', 'num_instances', 'count'),
  d('STUDY', 'StudyInstanceUID', 'study_instance_uid', 'text'),
  d('STUDY', 'StudyDate', 'study_date', 'date'),
  d('STUDY', 'StudyTime', 'study_time', 'time'),
  d('STUDY', 'AccessionNumber', 'accession_number', 'text'),
  d('STUDY', 'IssuerOfAccessionNumber', 'accession_issuer', 'text'),
  d('STUDY', 'StudyID', 'study_id', 'text'),
  d('STUDY', 'StudyDescription', 'description', 'text'),
  d('STUDY', 'ReferringPhysicianName', 'ref_phys_name', 'pn', {
    pn: { a: 'ref_phys_a', i: 'ref_phys_i', p: 'ref_phys_p', fz: 'ref_phys_fz' },
  }),
  d('STUDY', 'InstitutionName', 'institution_name', 'text'),
  d('STUDY', 'PatientAge', 'patient_age', 'text'),
  d('STUDY', 'PatientSize', 'patient_size', 'text'),
  d('STUDY', 'PatientWeight', 'patient_weight', 'text'),
  d('STUDY', 'ModalitiesInStudy', 'modalities', 'modalities'),
  d('STUDY', 'SOPClassesInStudy', 'sop_classes', 'sopclasses'),
  d('STUDY', 'NumberOfStudyRelatedSeries', 'num_series', 'count'),
  d('STUDY', 'NumberOfStudyRelatedInstances', 'num_instances', 'count'),
  d('SERIES', 'SeriesInstanceUID', 'series_instance_uid', 'text'),
  d('SERIES', 'Modality', 'modality', 'text'),
  d('SERIES', 'SeriesNumber', 'series_number', 'int'),
  d('SERIES', 'SeriesDescription', 'description', 'text'),
  d('SERIES', 'SeriesDate', 'series_date', 'date'),
  d('SERIES', 'SeriesTime', 'series_time', 'time'),
  d('SERIES', 'BodyPartExamined', 'body_part', 'text'),
  d('SERIES', 'StationName', 'station_name', 'text'),
  d('SERIES', 'Manufacturer', 'manufacturer', 'text'),
  d('SERIES', 'PerformedProcedureStepStartDate', 'pps_start_date', 'date'),
  d('SERIES', 'PerformedProcedureStepStartTime', 'pps_start_time', 'time'),
  d('SERIES', 'NumberOfSeriesRelatedInstances', 'num_instances', 'count'),
  d('IMAGE', 'SOPInstanceUID', 'sop_instance_uid', 'text'),
  d('IMAGE', 'SOPClassUID', 'sop_class_uid', 'text'),
  d('IMAGE', 'InstanceNumber', 'instance_number', 'int'),
  d('IMAGE', 'ContentDate', 'content_date', 'date'),
  d('IMAGE', 'ContentTime', 'content_time', 'time'),
  d('IMAGE', 'AcquisitionDate', 'acquisition_date', 'date'),
  d('IMAGE', 'NumberOfFrames', 'number_of_frames', 'int'),
  d('IMAGE', 'Rows', 'pixel_rows', 'int'),
  d('IMAGE', 'Columns', 'pixel_columns', 'int'),
  d('IMAGE', 'BitsAllocated', 'bits_allocated', 'int'),
  d('IMAGE', 'TransferSyntaxUID', 'transfer_syntax_uid', 'text'),
];

export const KEY_DEF_BY_KEYWORD: ReadonlyMap<string, KeyDef> = new Map(KEY_DEFS.map((k) => [k.keyword, k]));

type Cond = RawBuilder<SqlBool>;

const TRUE: Cond = sql<SqlBool>`1 = 1`;
const FALSE: Cond = sql<SqlBool>`1 = 0`;

function col(alias: string, column: string): RawBuilder<unknown> {
  return sql.ref(`${alias}.${column}`);
}

function and(conds: Cond[]): Cond {
  if (conds.length === 0) return TRUE;
  if (conds.length === 1) return conds[0]!;
  return sql<SqlBool>`(${sql.join(conds, sql` and `)})`;
}

function or(conds: Cond[]): Cond {
  if (conds.length === 0) return FALSE;
  if (conds.length === 1) return conds[0]!;
  return sql<SqlBool>`(${sql.join(conds, sql` or `)})`;
}

/**
 * The smallest string greater than every string starting with `prefix` (code-point order, which is
 * UTF-8 byte order: SQLite BINARY and PostgreSQL collate "C"); undefined when there is none.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    const last = cps.pop()!.codePointAt(0)!;
    let next = last + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
    if (next <= 0x10ffff) return cps.join('') + String.fromCodePoint(next);
  }
  return undefined;
}

function prefixRange(c: RawBuilder<unknown>, prefix: string): Cond {
  const hi = prefixUpperBound(prefix);
  if (prefix === '') return sql<SqlBool>`${c} is not null`;
  return hi === undefined
    ? sql<SqlBool>`${c} >= ${prefix}`
    : sql<SqlBool>`(${c} >= ${prefix} and ${c} < ${hi})`;
}

/** `*`/`?` pattern → LIKE pattern with `!` as escape character. */
export function likePattern(pattern: string): string {
  let out = '';
  for (const ch of pattern) {
    if (ch === '*') out += '%';
    else if (ch === '?') out += '_';
    else if (ch === '%' || ch === '_' || ch === '!') out += `!${ch}`;
    else out += ch;
  }
  return out;
}

function like(c: RawBuilder<unknown>, likePat: string): Cond {
  return sql<SqlBool>`${c} like ${likePat} escape '!'`;
}

/** Pure prefix: only a trailing run of `*`, no `?` (`ABC*`). */
function purePrefix(pattern: string): string | undefined {
  const m = /^([^*?]*)\*+$/.exec(pattern);
  return m === null ? undefined : m[1];
}

function textWildcard(c: RawBuilder<unknown>, pattern: string): Cond {
  if (/^\*+$/.test(pattern)) return TRUE;
  const prefix = purePrefix(pattern);
  if (prefix !== undefined) return prefixRange(c, prefix);
  if (!/[*?]/.test(pattern)) return sql<SqlBool>`${c} = ${pattern}`;
  return like(c, likePattern(pattern));
}

function rangeCond(c: RawBuilder<unknown>, from: string | undefined, to: string | undefined): Cond {
  const conds: Cond[] = [];
  if (from !== undefined && from !== '') conds.push(sql<SqlBool>`${c} >= ${from}`);
  if (to !== undefined && to !== '') {
    const hi = prefixUpperBound(to);
    conds.push(hi === undefined ? sql<SqlBool>`${c} is not null` : sql<SqlBool>`${c} < ${hi}`);
  }
  if (conds.length === 0) return TRUE;
  return and(conds);
}

function pnGroupMatch(c: RawBuilder<unknown>, group: string): Cond {
  return textWildcard(c, group);
}

function pnValueCond(alias: string, def: KeyDef, value: string, fuzzy: boolean): Cond {
  const pn = def.pn!;
  if (fuzzy) {
    const tokens = fuzzyTokens(value).filter((t) => !/^\*+$/.test(t));
    if (tokens.length === 0) return TRUE;
    // every query component must start some stored component (any group, any order)
    return and(tokens.map((t) => like(col(alias, pn.fz), `% ${likePattern(t)}%`)));
  }
  const { groups } = normalizeNameForMatch(value);
  const cols = [pn.a, pn.i, pn.p];
  if (groups.length <= 1) {
    const g = groups[0];
    if (g === undefined || /^\*+$/.test(g)) return TRUE;
    return or(cols.map((cn) => pnGroupMatch(col(alias, cn), g)));
  }
  const conds: Cond[] = [];
  groups.forEach((g, idx) => {
    const cn = cols[idx];
    if (g !== undefined && cn !== undefined && !/^\*+$/.test(g)) conds.push(pnGroupMatch(col(alias, cn), g));
  });
  return and(conds);
}

function intValue(s: string): number | undefined {
  const t = s.trim();
  return /^[+-]?\d+$/.test(t) ? Number(t) : undefined;
}

let existsCounter = 0;

function derivedExists(alias: string, def: KeyDef, valueCond: (c: RawBuilder<unknown>) => Cond): Cond {
  const x = `dx${existsCounter++ % 1000}`;
  if (def.kind === 'modalities') {
    return sql<SqlBool>`exists (select 1 from series as ${sql.id(x)} where ${col(x, 'study_fk')} = ${col(alias, 'id')} and ${valueCond(col(x, 'modality'))})`;
  }
  return sql<SqlBool>`exists (select 1 from instances as ${sql.id(x)} where ${col(x, 'study_fk')} = ${col(alias, 'id')} and ${valueCond(col(x, 'sop_class_uid'))})`;
}

/** SQL condition for one key on table alias `alias`. */
export function keyCondition(alias: string, def: KeyDef, m: Matcher, fuzzy: boolean): Cond {
  if (m.kind === 'universal') return TRUE;
  if (def.kind === 'count') return TRUE; // return-only
  if (def.kind === 'modalities' || def.kind === 'sopclasses') {
    const plain: KeyDef = { ...def, kind: 'text' };
    return derivedExists(alias, def, (c) => simpleCond(c, plain, m));
  }
  if (def.kind === 'pn') {
    switch (m.kind) {
      case 'single':
        return pnValueCond(alias, def, m.value, fuzzy);
      case 'wildcard':
        return pnValueCond(alias, def, m.pattern, fuzzy);
      case 'list':
        return or(m.values.map((v) => pnValueCond(alias, def, v, fuzzy)));
      case 'range':
        return rangeCond(col(alias, def.pn!.a), m.from, m.to);
    }
  }
  if (def.kind === 'multi') {
    const c = col(alias, def.column);
    const one = (v: string): Cond => {
      const e = v.split('*').map(likePattern).join('%');
      return or([
        sql<SqlBool>`${c} = ${v}`,
        like(c, `${e}\\%`),
        like(c, `%\\${e}`),
        like(c, `%\\${e}\\%`),
        ...(e !== v ? [like(c, e)] : []),
      ]);
    };
    switch (m.kind) {
      case 'single':
        return one(m.value);
      case 'wildcard':
        return one(m.pattern.replace(/\?/g, '*'));
      case 'list':
        return or(m.values.map(one));
      case 'range':
        return TRUE;
    }
  }
  return simpleCond(col(alias, def.column), def, m);
}

function simpleCond(c: RawBuilder<unknown>, def: KeyDef, m: Matcher): Cond {
  if (def.kind === 'int') {
    switch (m.kind) {
      case 'single': {
        const n = intValue(m.value);
        return n === undefined ? FALSE : sql<SqlBool>`${c} = ${n}`;
      }
      case 'list': {
        const ns = m.values.map(intValue).filter((n): n is number => n !== undefined);
        return ns.length === 0 ? FALSE : sql<SqlBool>`${c} in (${sql.join(ns)})`;
      }
      case 'range': {
        const conds: Cond[] = [];
        const from = m.from === undefined ? undefined : intValue(m.from);
        const to = m.to === undefined ? undefined : intValue(m.to);
        if (from !== undefined) conds.push(sql<SqlBool>`${c} >= ${from}`);
        if (to !== undefined) conds.push(sql<SqlBool>`${c} <= ${to}`);
        return and(conds);
      }
      default:
        return TRUE; // wildcards on numbers: not supported, treated as universal
    }
  }
  switch (m.kind) {
    case 'universal':
      return TRUE;
    case 'single':
      return sql<SqlBool>`${c} = ${m.value}`;
    case 'wildcard':
      return textWildcard(c, m.pattern);
    case 'range':
      return rangeCond(c, m.from, m.to);
    case 'list':
      return m.values.length === 0 ? FALSE : sql<SqlBool>`${c} in (${sql.join(m.values)})`;
  }
}

export class UnknownQueryKeyError extends Error {
  constructor(keyword: string) {
    super(`unsupported query key: ${keyword}`);
    this.name = 'UnknownQueryKeyError';
  }
}

/** Keys grouped by level, unknown keywords ignored (returned empty, as C-FIND SCPs may). */
function keysByLevel(keys: Record<string, Matcher>): Map<QueryLevel, [KeyDef, Matcher][]> {
  const out = new Map<QueryLevel, [KeyDef, Matcher][]>();
  for (const [kw, m] of Object.entries(keys)) {
    const def = KEY_DEF_BY_KEYWORD.get(kw);
    if (def === undefined || m.kind === 'universal' || def.kind === 'count') continue;
    const list = out.get(def.level) ?? [];
    list.push([def, m]);
    out.set(def.level, list);
  }
  return out;
}

/** Whether any key actually restricts the result (retrieve identifiers must have one). */
export function hasRestrictingKey(keys: Record<string, Matcher>): boolean {
  return keysByLevel(keys).size > 0;
}

/** The FROM clause of level `level`: its table joined to every higher level. */
export function fromClause(level: QueryLevel): RawBuilder<unknown> {
  switch (level) {
    case 'PATIENT':
      return sql`patients as p`;
    case 'STUDY':
      return sql`studies as st join patients as p on p.id = st.patient_fk`;
    case 'SERIES':
      return sql`series as se join studies as st on st.id = se.study_fk join patients as p on p.id = st.patient_fk`;
    case 'IMAGE':
      return sql`instances as i join series as se on se.id = i.series_fk join studies as st on st.id = se.study_fk join patients as p on p.id = st.patient_fk`;
  }
}

/**
 * WHERE conditions of a query at `level`: keys at or above the level directly, keys below in one EXISTS
 * over the lower tables correlated to the level's row.
 */
export function whereConditions(level: QueryLevel, keys: Record<string, Matcher>, fuzzy: boolean): Cond[] {
  const byLevel = keysByLevel(keys);
  const conds: Cond[] = [];
  const lower: Cond[] = [];
  let deepest = level;
  for (const lv of LEVELS) {
    for (const [def, m] of byLevel.get(lv) ?? []) {
      const c = keyCondition(LEVEL_ALIAS[lv], def, m, fuzzy);
      if (LEVEL_ORDER[lv] <= LEVEL_ORDER[level]) conds.push(c);
      else {
        lower.push(c);
        if (LEVEL_ORDER[lv] > LEVEL_ORDER[deepest]) deepest = lv;
      }
    }
  }
  if (lower.length > 0) {
    // tables strictly below `level` down to `deepest`, correlated to the level's alias
    const chain: RawBuilder<unknown>[] = [];
    const start = LEVEL_ORDER[level] + 1;
    const first = LEVELS[start]!;
    const parentLink: Record<QueryLevel, string> = {
      PATIENT: '',
      STUDY: 'st.patient_fk = p.id',
      SERIES: 'se.study_fk = st.id',
      IMAGE: 'i.series_fk = se.id',
    };
    const tableOf: Record<QueryLevel, string> = {
      PATIENT: 'patients as p',
      STUDY: 'studies as st',
      SERIES: 'series as se',
      IMAGE: 'instances as i',
    };
    chain.push(sql.raw(tableOf[first]));
    for (let o = start + 1; o <= LEVEL_ORDER[deepest]; o++) {
      const lv = LEVELS[o]!;
      chain.push(sql.raw(`join ${tableOf[lv]} on ${parentLink[lv]}`));
    }
    conds.push(
      sql<SqlBool>`exists (select 1 from ${sql.join(chain, sql` `)} where ${sql.raw(parentLink[first])} and ${and(lower)})`,
    );
  }
  return conds;
}

/** Select list: every key at or above `level` as its keyword, plus ids. */
export function selectList(level: QueryLevel): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  for (const def of KEY_DEFS) {
    if (LEVEL_ORDER[def.level] > LEVEL_ORDER[level]) continue;
    parts.push(sql`${col(LEVEL_ALIAS[def.level], def.column)} as ${sql.id(def.keyword)}`);
  }
  const a = LEVEL_ALIAS[level];
  parts.push(sql`${col(a, 'id')} as ${sql.id('_id')}`);
  parts.push(sql`${col(a, 'hospital_id')} as ${sql.id('_hospital_id')}`);
  if (LEVEL_ORDER[level] >= 1) {
    parts.push(sql`st.patient_conflict as ${sql.id('_patient_conflict')}`);
    parts.push(sql`st.conflict_detail as ${sql.id('_conflict_detail')}`);
  }
  return sql.join(parts);
}

export function orderBy(level: QueryLevel): RawBuilder<unknown> {
  switch (level) {
    case 'PATIENT':
      return sql`p.id`;
    case 'STUDY':
      return sql`st.id`;
    case 'SERIES':
      return sql`se.study_fk, (se.series_number is null), se.series_number, se.id`;
    case 'IMAGE':
      return sql`i.series_fk, (i.instance_number is null), i.instance_number, i.id`;
  }
}

export function levelAlias(level: QueryLevel): Alias {
  return LEVEL_ALIAS[level];
}

export function keyDefsAtOrAbove(level: QueryLevel): KeyDef[] {
  return KEY_DEFS.filter((k) => LEVEL_ORDER[k.level] <= LEVEL_ORDER[level]);
}
