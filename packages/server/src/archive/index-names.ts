/**
 * Person-name normalization for the index (stored columns and query values).
 *
 * Internal stand-in until @huiying/dicom exports its person-name helpers: every caller goes through
 * `normalizePersonName` / `normalizeNameForMatch`, so swapping the implementation is a one-file change.
 *
 * A DICOM PN value is `Alphabetic=Ideographic=Phonetic`, each group `Family^Given^Middle^Prefix^Suffix`.
 * Normalized form of a group: NFKC, upper case, each component trimmed, trailing empty components
 * dropped (`Zhang^San^^` → `ZHANG^SAN`). Empty groups become undefined.
 * The fuzzy form is every non-empty component of every group, space separated, with a leading and a
 * trailing space (` ZHANG SAN 张 三 `), so "some component starts with X" is `LIKE '% X%'`.
 */

export interface NormalizedPersonName {
  alphabetic?: string;
  ideographic?: string;
  phonetic?: string;
  /** component-insensitive form: ` C1 C2 … ` */
  fuzzy?: string;
}

/** NFKC + upper case (full-width Latin letters become ASCII, ideographs are unchanged). */
export function normalizeText(s: string): string {
  return s.normalize('NFKC').toUpperCase();
}

function normalizeGroup(group: string): string | undefined {
  const comps = normalizeText(group)
    .split('^')
    .map((c) => c.trim().replace(/\s+/g, ' '));
  while (comps.length > 0 && comps[comps.length - 1] === '') comps.pop();
  const out = comps.join('^');
  return out === '' ? undefined : out;
}

export function normalizePersonName(value: string | undefined): NormalizedPersonName {
  if (value === undefined || value.trim() === '') return {};
  const [a = '', i = '', p = ''] = value.split('=');
  const alphabetic = normalizeGroup(a);
  const ideographic = normalizeGroup(i);
  const phonetic = normalizeGroup(p);
  const tokens = fuzzyTokens(value);
  return {
    alphabetic,
    ideographic,
    phonetic,
    fuzzy: tokens.length > 0 ? ` ${tokens.join(' ')} ` : undefined,
  };
}

/** Components of all groups, normalized, split on `^`, `=` and spaces (for fuzzy matching). */
export function fuzzyTokens(value: string): string[] {
  return normalizeText(value)
    .split(/[\^=\s]+/)
    .filter((t) => t !== '');
}

/**
 * A query value (single value or wildcard pattern) for one group: same normalization as stored values,
 * keeping `*` and `?` as they are.
 */
export function normalizeNameForMatch(value: string): { groups: (string | undefined)[] } {
  return { groups: value.split('=').map((g) => normalizeGroup(g)) };
}
