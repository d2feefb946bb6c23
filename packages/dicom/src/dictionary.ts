/**
 * Data dictionary lookups (tag → VR, keyword ↔ tag) backed by a compact table generated from dcmjs
 * (see scripts/gen-dictionary.ts). Parsed lazily on first use (~1 ms).
 */
import { DICTIONARY_DATA } from './dictionary-data.ts';

interface DictEntry {
  vr: string;
  keyword: string;
}

let byTag: Map<number, DictEntry> | undefined;
let byKeyword: Map<string, number> | undefined;

function load(): Map<number, DictEntry> {
  if (byTag) return byTag;
  byTag = new Map();
  byKeyword = new Map();
  for (const line of DICTIONARY_DATA.split('\n')) {
    const tag = parseInt(line.slice(0, 8), 16);
    const vr = line.slice(8, 10);
    const keyword = line.slice(10);
    byTag.set(tag, { vr, keyword });
    byKeyword.set(keyword, tag);
  }
  return byTag;
}

/** Tag number (group << 16 | element, unsigned) → 8 upper-case hex digits. */
export function tagToHex(tag: number): string {
  return (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

/** `(GGGG,EEEE)` display form. */
export function formatTag(tag: number): string {
  const h = tagToHex(tag);
  return `(${h.slice(0, 4)},${h.slice(4)})`;
}

function lookup(tag: number): DictEntry | undefined {
  const d = load();
  const hit = d.get(tag);
  if (hit) return hit;
  const group = tag >>> 16;
  // repeating groups: overlays 60xx, curves 50xx (even groups only)
  if ((group & 0xff00) === 0x6000 || (group & 0xff00) === 0x5000) {
    if ((group & 1) === 0) return d.get((((group & 0xff00) << 16) | (tag & 0xffff)) >>> 0);
  }
  return undefined;
}

/**
 * The VR used to interpret an element in implicit VR: the dictionary VR for public tags, `UL` for group
 * lengths, `LO` for private creators, `UN` otherwise. Ambiguous dictionary VRs resolve to `OW` / `US`.
 */
export function dictionaryVr(tag: number): string {
  const group = tag >>> 16;
  const element = tag & 0xffff;
  if (element === 0) return 'UL';
  if (group & 1) {
    if (element >= 0x0010 && element <= 0x00ff) return 'LO';
    return 'UN';
  }
  return lookup(tag)?.vr ?? 'UN';
}

/** True when the tag is a public tag the dictionary knows. */
export function isKnownPublicTag(tag: number): boolean {
  return ((tag >>> 16) & 1) === 0 && lookup(tag) !== undefined;
}

/** Keyword (e.g. `PatientName`) of a public tag, or undefined. */
export function tagKeyword(tag: number): string | undefined {
  return lookup(tag)?.keyword;
}

/** Tag number of a keyword (e.g. `PatientName` → 0x00100010), or undefined. */
export function keywordToTag(keyword: string): number | undefined {
  load();
  return byKeyword?.get(keyword);
}
