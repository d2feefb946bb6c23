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
