/**
 * Text differences between report versions: a line diff, refined to characters inside changed lines
 * (Chinese has no word boundaries, so characters are the unit), and the change ratio (修改率) that QC
 * measures between the preliminary and the final text.
 */

export type DiffOp = 'equal' | 'insert' | 'delete';
export interface DiffPart {
  op: DiffOp;
  text: string;
}

/** Largest LCS table we build (cells); beyond it the changed block is one delete + one insert. */
const MAX_CELLS = 4_000_000;

/** LCS diff of two token arrays. */
function diffTokens(a: readonly string[], b: readonly string[]): { op: DiffOp; tokens: string[] }[] {
  // trim the common prefix and suffix first (most edits are local)
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf])
    suf++;
  const ma = a.slice(pre, a.length - suf);
  const mb = b.slice(pre, b.length - suf);
  const out: { op: DiffOp; tokens: string[] }[] = [];
  const push = (op: DiffOp, t: string): void => {
    const last = out[out.length - 1];
    if (last !== undefined && last.op === op) last.tokens.push(t);
    else out.push({ op, tokens: [t] });
  };
  for (const t of a.slice(0, pre)) push('equal', t);
  const n = ma.length;
  const m = mb.length;
  if (n * m > MAX_CELLS) {
    for (const t of ma) push('delete', t);
    for (const t of mb) push('insert', t);
  } else if (n > 0 || m > 0) {
    // lcs[i][j] = LCS length of ma[i..] and mb[j..]
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] =
          ma[i] === mb[j]
            ? (lcs[(i + 1) * w + j + 1] ?? 0) + 1
            : Math.max(lcs[(i + 1) * w + j] ?? 0, lcs[i * w + j + 1] ?? 0);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (ma[i] === mb[j]) {
        push('equal', ma[i] ?? '');
        i++;
        j++;
      } else if ((lcs[(i + 1) * w + j] ?? 0) >= (lcs[i * w + j + 1] ?? 0)) {
        push('delete', ma[i] ?? '');
        i++;
      } else {
        push('insert', mb[j] ?? '');
        j++;
      }
    }
    while (i < n) push('delete', ma[i++] ?? '');
    while (j < m) push('insert', mb[j++] ?? '');
  }
  for (const t of a.slice(a.length - suf)) push('equal', t);
  return out;
}

function lines(s: string): string[] {
  return s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/**
 * The difference from `a` to `b`: lines first, then characters within each replaced block of lines.
 * Concatenating the equal+delete parts gives `a`, equal+insert parts give `b`.
 */
export function diffText(a: string, b: string): DiffPart[] {
  const out: DiffPart[] = [];
  const push = (op: DiffOp, text: string): void => {
    if (text === '') return;
    const last = out[out.length - 1];
    if (last !== undefined && last.op === op) last.text += text;
    else out.push({ op, text });
  };
  const blocks = diffTokens(lines(a), lines(b));
  for (let k = 0; k < blocks.length; k++) {
    const blk = blocks[k];
    if (blk === undefined) continue;
    const next = blocks[k + 1];
    if (blk.op === 'delete' && next?.op === 'insert') {
      for (const p of diffTokens(Array.from(blk.tokens.join('')), Array.from(next.tokens.join(''))))
        push(p.op, p.tokens.join(''));
      k++;
    } else {
      push(blk.op, blk.tokens.join(''));
    }
  }
  return out;
}

/** Characters inserted + deleted (code points). */
export function editSize(parts: readonly DiffPart[]): number {
  let n = 0;
  for (const p of parts) if (p.op !== 'equal') n += Array.from(p.text).length;
  return n;
}

/**
 * 修改率: changed characters / characters of the preliminary text (0 when identical; may exceed 1 when the
 * reviewer rewrote more than there was). Whitespace-only changes count.
 */
export function changeRatio(before: string, after: string): number {
  if (before === after) return 0;
  const size = editSize(diffText(before, after));
  const base = Math.max(Array.from(before).length, 1);
  return Math.round((size / base) * 10000) / 10000;
}
