/**
 * Matching keys of a C-FIND identifier or a QIDO-RS query, parsed from their DICOM string form
 * (PS3.4 C.2.2.2). The archive's query layer turns each matcher into SQL.
 */
export type Matcher =
  /** zero-length value: matches everything (and asks for the attribute to be returned) */
  | { kind: 'universal' }
  /** exact value (for PN: normalized comparison, see normalizePersonNameForMatch) */
  | { kind: 'single'; value: string }
  /** `*` and `?` wildcards; `prefix` is set when the pattern is a pure prefix (`ZHA*`) */
  | { kind: 'wildcard'; pattern: string; prefix?: string }
  /** date/time range; `from`/`to` inclusive, either may be missing (`-20240101`, `20240101-`) */
  | { kind: 'range'; from?: string; to?: string }
  /** list of UIDs (`uid1\uid2`) */
  | { kind: 'list'; values: string[] };

export type QueryLevel = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';

const RANGE_VRS = new Set(['DA', 'TM', 'DT']);
const WILDCARD_VRS = new Set(['AE', 'CS', 'LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UR', 'UT']);

/**
 * Parse the value of one matching key (PS3.4 C.2.2.2) given its VR:
 * - '' (or only padding) → `universal`; a lone `*` is also universal (C.2.2.2.4: matches every value;
 *   we also return it for attributes that are present but empty, which is a harmless superset);
 * - DA/TM/DT containing `-` → `range` (`a-b`, `-b`, `a-`), bounds as given (the query layer compares
 *   them as strings, which is correct for DA and for TM/DT of equal precision);
 * - a value with `\` → `list` of values (UID list matching, C.2.2.2.2; also accepted for other VRs as
 *   "any of");
 * - `*` / `?` in a VR that allows wildcards → `wildcard`; `prefix` is set when the only wildcard is one
 *   trailing `*` (`ZHA*` → prefix `ZHA`) so the query layer can use an index range scan;
 * - otherwise `single`.
 * Values are trimmed of leading/trailing spaces (and UI of trailing NUL) first; case is kept (the caller
 * decides case sensitivity: PN matching here is case-insensitive via normalizePersonName).
 */
export function parseMatcher(vr: string, rawString: string): Matcher {
  const raw = rawString.replace(/^[ \0]+|[ \0]+$/g, '');
  if (raw === '' || raw === '*') return { kind: 'universal' };
  if (raw.includes('\\')) {
    const values = raw
      .split('\\')
      .map((v) => v.replace(/^[ \0]+|[ \0]+$/g, ''))
      .filter((v) => v !== '');
    if (values.length === 0) return { kind: 'universal' };
    if (values.length > 1) return { kind: 'list', values };
    return parseMatcher(vr, values[0]!);
  }
  if (RANGE_VRS.has(vr) && raw.includes('-')) {
    // DT values may carry a UTC offset "-0500": the range dash is the one not followed by 4 digits at
    // the end; for DA/TM there is exactly one dash
    let idx = raw.indexOf('-');
    if (vr === 'DT') {
      const m = /^(\d{0,14}(?:\.\d{1,6})?(?:[+-]\d{4})?)-(.*)$/.exec(raw);
      idx = m ? m[1]!.length : idx;
    }
    const from = raw.slice(0, idx).trim();
    const to = raw.slice(idx + 1).trim();
    const r: Matcher = { kind: 'range' };
    if (from) r.from = from;
    if (to) r.to = to;
    if (!from && !to) return { kind: 'universal' };
    return r;
  }
  if (WILDCARD_VRS.has(vr) && /[*?]/.test(raw)) {
    const m: Matcher = { kind: 'wildcard', pattern: raw };
    const first = raw.search(/[*?]/);
    if (first === raw.length - 1 && raw.endsWith('*')) m.prefix = raw.slice(0, -1);
    return m;
  }
  return { kind: 'single', value: raw };
}

/** Wildcard match of a normalized value against a pattern (`*` any run, `?` one character). */
export function wildcardMatch(value: string, pattern: string): boolean {
  const re = new RegExp(
    `^${[...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`,
    'su',
  );
  return re.test(value);
}

/**
 * Evaluate a matcher against a stored value (reference semantics for in-memory matching and tests; the
 * SQL layer must implement the same). `list`: equality with any; `range`: inclusive string comparison.
 */
export function matchValue(m: Matcher, value: string | undefined): boolean {
  switch (m.kind) {
    case 'universal':
      return true;
    case 'single':
      return value === m.value;
    case 'list':
      return value !== undefined && m.values.includes(value);
    case 'wildcard':
      return value !== undefined && wildcardMatch(value, m.pattern);
    case 'range':
      if (value === undefined || value === '') return false;
      if (m.from !== undefined && value < m.from) return false;
      if (m.to !== undefined && value.slice(0, m.to.length) > m.to) return false;
      return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Person names
// ---------------------------------------------------------------------------------------------

/**
 * Normalized searchable forms of a stored Person Name. Every form is NFKC-normalized (full-width
 * letters and digits become ASCII, half-width katakana full-width) and upper-cased; inner whitespace
 * runs collapse to one space; each group loses trailing empty components (`ZHANG^SAN^^` → `ZHANG^SAN`).
 *
 * - `alphabetic`, `ideographic`, `phonetic`: the three component groups (`''` when absent);
 * - `fuzzy`: component-insensitive tokens for fuzzy matching, space-separated with a leading and trailing
 *   space (` ZHANG SAN ZHANGSAN 张 三 张三 `): every non-empty component of every group, plus each group's
 *   components concatenated without separators and spaces. A fuzzy query token matches when it is a
 *   prefix of some stored token — i.e. SQL `fuzzy LIKE '% ' || token || '%'`.
 */
export interface NormalizedPersonName {
  alphabetic: string;
  ideographic: string;
  phonetic: string;
  fuzzy: string;
}

function normText(s: string): string {
  return s.normalize('NFKC').toUpperCase().replace(/\s+/g, ' ').trim();
}

function normGroup(g: string | undefined): string {
  if (!g) return '';
  const comps = normText(g)
    .split('^')
    .map((c) => c.trim());
  while (comps.length > 0 && comps[comps.length - 1] === '') comps.pop();
  return comps.join('^');
}

function splitPn(pn: string | { Alphabetic?: string; Ideographic?: string; Phonetic?: string }): string[] {
  if (typeof pn === 'string') return pn.split('=');
  return [pn.Alphabetic ?? '', pn.Ideographic ?? '', pn.Phonetic ?? ''];
}

/** Normalized forms of a stored PN (`Zhang^San=张^三` or a JSON-model PN object). See {@link NormalizedPersonName}. */
export function normalizePersonName(
  pn: string | { Alphabetic?: string; Ideographic?: string; Phonetic?: string } | undefined,
): NormalizedPersonName {
  const [a, i, p] = pn === undefined ? [] : splitPn(pn);
  const groups = [normGroup(a), normGroup(i), normGroup(p)];
  const tokens = new Set<string>();
  for (const g of groups) {
    if (!g) continue;
    const comps = g.split('^').filter((c) => c !== '');
    for (const c of comps) {
      tokens.add(c);
      for (const w of c.split(' ')) if (w) tokens.add(w);
    }
    tokens.add(comps.join('').replace(/ /g, ''));
  }
  tokens.delete('');
  return {
    alphabetic: groups[0]!,
    ideographic: groups[1]!,
    phonetic: groups[2]!,
    fuzzy: tokens.size ? ` ${[...tokens].join(' ')} ` : '',
  };
}

export type PersonNameGroup = 'alphabetic' | 'ideographic' | 'phonetic';

/**
 * A PN query key, normalized like the stored forms:
 * - `universal`: empty or `*`;
 * - otherwise `groups`: one entry per non-empty query group. A query without `=` has a single group
 *   matched against ANY of the three stored groups (`target: 'any'`), so `ZHANG*` finds the alphabetic
 *   group and `张*` the ideographic one of `Zhang^San=张^三`. A query with `=` (`Zhang^San=张^三`) matches
 *   each given group against the same stored group, all must match.
 *   Each group's matcher is `single` (equality with the normalized stored group) or `wildcard`
 *   (`prefix` when it is a pure trailing `*`). Trailing empty components are dropped on both sides, so
 *   `ZHANG^SAN^` equals `Zhang^San`.
 * - `fuzzy`: only with `{ fuzzy: true }` (DICOMweb `fuzzymatching=true`, or a hospital setting): the
 *   query's tokens (components/words, wildcards removed, plus their concatenation) — a stored name
 *   matches when EVERY query token is a prefix of some stored fuzzy token. `ZHANG` matches
 *   `Zhang^San=张^三`; `张三` matches `张^三` and `张三`; `san zhang` matches `Zhang^San`.
 */
export type PersonNameQuery =
  | { kind: 'universal' }
  | {
      kind: 'match';
      groups: { target: PersonNameGroup | 'any'; matcher: Matcher }[];
      fuzzy?: string[];
    };

export function personNameQueryForms(query: string, options: { fuzzy?: boolean } = {}): PersonNameQuery {
  const q = query.trim();
  if (q === '' || q === '*') return { kind: 'universal' };
  const rawGroups = q.split('=');
  const groups: { target: PersonNameGroup | 'any'; matcher: Matcher }[] = [];
  const names: PersonNameGroup[] = ['alphabetic', 'ideographic', 'phonetic'];
  rawGroups.slice(0, 3).forEach((g, idx) => {
    const n = normGroup(g);
    if (n === '') return;
    const m = parseMatcher('PN', n);
    if (m.kind === 'universal') return;
    groups.push({ target: rawGroups.length === 1 ? 'any' : names[idx]!, matcher: m });
  });
  if (groups.length === 0) return { kind: 'universal' };
  const out: PersonNameQuery = { kind: 'match', groups };
  if (options.fuzzy) {
    const toks = new Set<string>();
    for (const g of rawGroups) {
      const n = normGroup(g).replace(/[*?]/g, '');
      const comps = n.split('^').filter((c) => c.trim() !== '');
      if (comps.length === 1) {
        for (const w of comps[0]!.split(' ')) if (w) toks.add(w);
      } else {
        for (const c of comps) toks.add(c.replace(/ /g, ''));
      }
    }
    if (toks.size) out.fuzzy = [...toks];
  }
  return out;
}

/**
 * Reference implementation of PN matching (in-memory use, and the specification for the SQL layer).
 * With fuzzy tokens, a name matches when the exact/wildcard groups match OR every fuzzy token is a prefix
 * of a stored fuzzy token.
 */
export function matchPersonName(stored: NormalizedPersonName, query: PersonNameQuery): boolean {
  if (query.kind === 'universal') return true;
  const exact = query.groups.every(({ target, matcher }) => {
    const cands =
      target === 'any' ? [stored.alphabetic, stored.ideographic, stored.phonetic] : [stored[target]];
    return cands.some((c) => c !== '' && matchValue(matcher, c));
  });
  if (exact) return true;
  if (query.fuzzy && stored.fuzzy) {
    return query.fuzzy.every((t) => stored.fuzzy.includes(` ${t}`));
  }
  return false;
}
