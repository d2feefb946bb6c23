/**
 * Media types and Accept negotiation (PS3.18 8.7): media ranges with q-values and the `type` and
 * `transfer-syntax` parameters of `multipart/related`, e.g.
 * `multipart/related; type="application/octet-stream"; transfer-syntax=*`.
 */
import { HuiyingError } from '../errors.ts';

export interface MediaRange {
  /** lower-case `type/subtype` (`*` allowed) */
  mediaType: string;
  /** lower-case parameter names; values unquoted (case kept) */
  params: Record<string, string>;
  q: number;
  /** order in the header (ties on q keep header order) */
  index: number;
}

/** Split on `sep` outside double quotes. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQ = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') inQ = !inQ;
    if (c === '\\' && inQ && i + 1 < s.length) {
      cur += c + s[i + 1]!;
      i++;
      continue;
    }
    if (c === sep && !inQ) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1).replace(/\\(.)/g, '$1');
  return t;
}

/** Parse one media type with parameters (Content-Type or one Accept element). */
export function parseMediaType(s: string): { mediaType: string; params: Record<string, string> } {
  const [head, ...rest] = splitOutsideQuotes(s, ';');
  const mediaType = (head ?? '').trim().toLowerCase();
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    if (name !== '') params[name] = unquote(p.slice(eq + 1));
  }
  return { mediaType, params };
}

/** Parse an Accept header (absent or empty → `*\/*`). Ranges with q=0 are dropped. Sorted by q desc. */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (header === undefined || header.trim() === '') {
    return [{ mediaType: '*/*', params: {}, q: 1, index: 0 }];
  }
  const out: MediaRange[] = [];
  splitOutsideQuotes(header, ',').forEach((part, index) => {
    if (part.trim() === '') return;
    const { mediaType, params } = parseMediaType(part);
    if (!/^[\w.+*-]+\/[\w.+*-]+$/.test(mediaType)) {
      throw new HuiyingError('invalid-input', `malformed media range in Accept: ${part.trim()}`);
    }
    let q = 1;
    if (params.q !== undefined) {
      const n = Number(params.q);
      if (!Number.isFinite(n) || n < 0 || n > 1) {
        throw new HuiyingError('invalid-input', `malformed q-value in Accept: ${part.trim()}`);
      }
      q = n;
      delete params.q;
    }
    if (q > 0) out.push({ mediaType, params, q, index });
  });
  return out.sort((a, b) => b.q - a.q || a.index - b.index);
}

/** Whether range `pattern` (`*\/*`, `image/*`, `image/jpeg`) covers `mediaType`. */
export function rangeMatches(pattern: string, mediaType: string): boolean {
  if (pattern === '*/*' || pattern === '*') return true;
  const [pt, ps] = pattern.split('/');
  const [mt, ms] = mediaType.split('/');
  return (pt === '*' || pt === mt) && (ps === '*' || ps === ms);
}

/**
 * One thing the server can produce: `single` (the payload as is) or `multipart` (multipart/related with
 * parts of `partType`), and the transfer syntax of the payload.
 */
export interface Offer {
  kind: 'single' | 'multipart';
  partType: string;
  transferSyntax?: string;
  /** transfer syntaxes a client may ask for explicitly and still get this offer (default: transferSyntax) */
  acceptsTransferSyntaxes?: string[];
}

/**
 * Pick the first offer acceptable to the highest-q media range. A range `multipart/related` without
 * `type` matches every multipart offer whose part type is in `defaultPartTypes` (default: all);
 * `transfer-syntax` absent or `*` accepts the stored syntax; an explicit one must be in the offer's
 * accepted list. Throws HuiyingError (406) when nothing fits.
 */
export function negotiate(ranges: MediaRange[], offers: Offer[]): { offer: Offer; range: MediaRange } {
  for (const range of ranges) {
    for (const offer of offers) {
      if (fits(range, offer)) return { offer, range };
    }
  }
  const wanted = ranges
    .map((r) => [r.mediaType, ...Object.entries(r.params).map(([k, v]) => `${k}=${v}`)].join('; '))
    .join(', ');
  throw notAcceptable(
    `none of the requested media types can be produced (asked: ${wanted}; available: ${offers
      .map(describeOffer)
      .join(', ')})`,
  );
}

function fits(range: MediaRange, offer: Offer): boolean {
  const ts = range.params['transfer-syntax'];
  if (ts !== undefined && ts !== '*') {
    const ok = offer.acceptsTransferSyntaxes ?? (offer.transferSyntax ? [offer.transferSyntax] : []);
    if (!ok.includes(ts)) return false;
  }
  if (range.mediaType === 'multipart/related') {
    if (offer.kind !== 'multipart') return false;
    const t = range.params.type;
    return t === undefined || rangeMatches(t.toLowerCase(), offer.partType);
  }
  if (offer.kind === 'multipart') return range.mediaType === '*/*' || range.mediaType === 'multipart/*';
  return rangeMatches(range.mediaType, offer.partType);
}

export function describeOffer(o: Offer): string {
  const ts = o.transferSyntax ? `; transfer-syntax=${o.transferSyntax}` : '';
  return o.kind === 'multipart' ? `multipart/related; type="${o.partType}"${ts}` : `${o.partType}${ts}`;
}

export function notAcceptable(message: string): HuiyingError {
  return new HuiyingError('unsupported', message, { detail: { status: 406 } });
}

/** Media type of a frame's pixel data in `transferSyntax` (PS3.18 Table 8.7.3-5). */
export function frameMediaType(transferSyntax: string): string {
  switch (transferSyntax) {
    case '1.2.840.10008.1.2.4.50':
    case '1.2.840.10008.1.2.4.51':
    case '1.2.840.10008.1.2.4.57':
    case '1.2.840.10008.1.2.4.70':
      return 'image/jpeg';
    case '1.2.840.10008.1.2.4.80':
    case '1.2.840.10008.1.2.4.81':
      return 'image/jls';
    case '1.2.840.10008.1.2.4.90':
    case '1.2.840.10008.1.2.4.91':
      return 'image/jp2';
    case '1.2.840.10008.1.2.4.92':
    case '1.2.840.10008.1.2.4.93':
      return 'image/jpx';
    case '1.2.840.10008.1.2.4.201':
    case '1.2.840.10008.1.2.4.202':
    case '1.2.840.10008.1.2.4.203':
      return 'image/jphc';
    case '1.2.840.10008.1.2.5':
      return 'image/dicom-rle';
    case '1.2.840.10008.1.2.4.100':
    case '1.2.840.10008.1.2.4.101':
      return 'video/mpeg';
    case '1.2.840.10008.1.2.4.102':
    case '1.2.840.10008.1.2.4.103':
    case '1.2.840.10008.1.2.4.104':
    case '1.2.840.10008.1.2.4.105':
    case '1.2.840.10008.1.2.4.106':
      return 'video/mp4';
    case '1.2.840.10008.1.2.4.107':
    case '1.2.840.10008.1.2.4.108':
      return 'video/H265';
    default:
      return 'application/octet-stream';
  }
}
