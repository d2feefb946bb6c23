/**
 * Optional structured fields of a report: the standard assessment categories a radiologist records next
 * to the free text (BI-RADS, Lung-RADS, TI-RADS, PI-RADS, LI-RADS), offered by modality and body part and
 * stored as a flat JSON object `{ "BI-RADS": "4A", … }` in the report's `structured` field.
 */

export interface StructuredScheme {
  key: string;
  /** modalities the scheme applies to */
  modalities: readonly string[];
  /** body parts it applies to (empty: any) */
  bodyParts: readonly string[];
  /** words in exam items / body part that suggest it */
  hints: RegExp;
  options: readonly { value: string; zh: string; en: string }[];
}

export const STRUCTURED_SCHEMES: readonly StructuredScheme[] = [
  {
    key: 'BI-RADS',
    modalities: ['MG', 'US', 'MR'],
    bodyParts: ['BREAST'],
    hints: /乳腺|BREAST|钼靶/i,
    options: [
      { value: '0', zh: '0 类：需要进一步影像评估', en: '0: incomplete, needs more imaging' },
      { value: '1', zh: '1 类：阴性', en: '1: negative' },
      { value: '2', zh: '2 类：良性', en: '2: benign' },
      { value: '3', zh: '3 类：可能良性', en: '3: probably benign' },
      { value: '4A', zh: '4A 类：低度可疑恶性', en: '4A: low suspicion' },
      { value: '4B', zh: '4B 类：中度可疑恶性', en: '4B: moderate suspicion' },
      { value: '4C', zh: '4C 类：高度可疑恶性', en: '4C: high suspicion' },
      { value: '5', zh: '5 类：高度提示恶性', en: '5: highly suggestive of malignancy' },
      { value: '6', zh: '6 类：活检证实恶性', en: '6: known biopsy-proven malignancy' },
    ],
  },
  {
    key: 'Lung-RADS',
    modalities: ['CT'],
    bodyParts: ['CHEST'],
    hints: /胸|肺|CHEST|LUNG/i,
    options: [
      { value: '0', zh: '0 类：不完整', en: '0: incomplete' },
      { value: '1', zh: '1 类：阴性', en: '1: negative' },
      { value: '2', zh: '2 类：良性表现', en: '2: benign appearance' },
      { value: '3', zh: '3 类：可能良性', en: '3: probably benign' },
      { value: '4A', zh: '4A 类：可疑', en: '4A: suspicious' },
      { value: '4B', zh: '4B 类：非常可疑', en: '4B: very suspicious' },
      { value: '4X', zh: '4X 类：附加特征', en: '4X: additional features' },
    ],
  },
  {
    key: 'TI-RADS',
    modalities: ['US'],
    bodyParts: ['NECK'],
    hints: /甲状腺|THYROID/i,
    options: [
      { value: 'TR1', zh: 'TR1：良性', en: 'TR1: benign' },
      { value: 'TR2', zh: 'TR2：不可疑', en: 'TR2: not suspicious' },
      { value: 'TR3', zh: 'TR3：轻度可疑', en: 'TR3: mildly suspicious' },
      { value: 'TR4', zh: 'TR4：中度可疑', en: 'TR4: moderately suspicious' },
      { value: 'TR5', zh: 'TR5：高度可疑', en: 'TR5: highly suspicious' },
    ],
  },
  {
    key: 'PI-RADS',
    modalities: ['MR'],
    bodyParts: ['PELVIS'],
    hints: /前列腺|PROSTATE/i,
    options: [1, 2, 3, 4, 5].map((n) => ({
      value: String(n),
      zh: `${n} 类`,
      en: `${n}`,
    })),
  },
  {
    key: 'LI-RADS',
    modalities: ['CT', 'MR'],
    bodyParts: ['ABDOMEN'],
    hints: /肝|LIVER/i,
    options: ['LR-1', 'LR-2', 'LR-3', 'LR-4', 'LR-5', 'LR-M', 'LR-TIV'].map((v) => ({
      value: v,
      zh: v,
      en: v,
    })),
  },
];

/** The schemes that fit an exam (modality plus body part or exam item names). */
export function schemesFor(
  modality: string,
  bodyPart: string | null,
  items: readonly string[],
): StructuredScheme[] {
  const text = [bodyPart ?? '', ...items].join(' ');
  return STRUCTURED_SCHEMES.filter(
    (s) =>
      s.modalities.includes(modality) &&
      ((bodyPart !== null && s.bodyParts.includes(bodyPart)) || s.hints.test(text)),
  );
}

/** The structured object's entries as printable [key, value] pairs (strings, numbers, booleans). */
export function structuredEntries(o: Record<string, unknown> | null | undefined): [string, string][] {
  if (o == null) return [];
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(o)) {
    if (v === null || v === undefined || v === '') continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.push([k, String(v)]);
    else out.push([k, JSON.stringify(v)]);
  }
  return out;
}
