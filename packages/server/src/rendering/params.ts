/**
 * Query parameters of rendered resources (PS3.18 §8.3.5.1: `window`, `viewport`, `quality`,
 * `annotation` (ignored)) and of WADO-URI (§9.5: `windowCenter`, `windowWidth`, `rows`, `columns`,
 * `frameNumber`, `imageQuality`), normalised to one RenderParams.
 */
import { HuiyingError } from '../errors.ts';
import type { QueryParams } from '../dicomweb/qido.ts';

export type ImageType = 'image/jpeg' | 'image/png' | 'image/gif';
export const IMAGE_TYPES: ImageType[] = ['image/jpeg', 'image/png', 'image/gif'];

export interface Viewport {
  width: number;
  height: number;
  /** source region (pixels of the frame); negative sw/sh flip */
  region?: { x: number; y: number; w: number; h: number };
}

export interface RenderOptions {
  window?: { center: number; width: number };
  viewport?: Viewport;
  /** JPEG quality 1–100 */
  quality: number;
}

export const DEFAULT_QUALITY = 90;
export const THUMBNAIL_SIZE = 128;
const MAX_SIDE = 16384;

function bad(msg: string): HuiyingError {
  return new HuiyingError('invalid-input', msg);
}

function one(q: QueryParams, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

function finite(s: string, what: string): number {
  const t = s.trim();
  const n = t === '' ? NaN : Number(t);
  if (!Number.isFinite(n)) throw bad(`${what}: "${s.slice(0, 40)}" is not a number`);
  return n;
}

function int(s: string, what: string, min: number, max: number): number {
  const n = finite(s, what);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw bad(`${what}: ${s.slice(0, 40)} is not an integer in ${min}..${max}`);
  }
  return n;
}

export function parseWindow(s: string): { center: number; width: number } {
  const parts = s.split(',');
  if (parts.length < 2 || parts.length > 3) throw bad('window must be center,width[,function]');
  const center = finite(parts[0]!, 'window center');
  const width = finite(parts[1]!, 'window width');
  if (width < 1) throw bad('window width must be at least 1');
  const fn = (parts[2] ?? 'linear').trim().toLowerCase();
  if (fn !== 'linear') {
    if (fn === 'linear-exact' || fn === 'linear_exact' || fn === 'sigmoid') {
      throw bad(`window function ${fn} is not supported (only linear)`);
    }
    throw bad(`window function "${fn.slice(0, 20)}" is not linear, linear-exact or sigmoid`);
  }
  return { center, width };
}

export function parseViewport(s: string): Viewport {
  const p = s.split(',');
  if (p.length !== 2 && p.length !== 6) throw bad('viewport must be vw,vh or vw,vh,sx,sy,sw,sh');
  const width = int(p[0]!, 'viewport width', 1, MAX_SIDE);
  const height = int(p[1]!, 'viewport height', 1, MAX_SIDE);
  if (p.length === 2) return { width, height };
  const x = int(p[2]!, 'viewport sx', 0, 1 << 20);
  const y = int(p[3]!, 'viewport sy', 0, 1 << 20);
  const w = int(p[4]!, 'viewport sw', -(1 << 20), 1 << 20);
  const h = int(p[5]!, 'viewport sh', -(1 << 20), 1 << 20);
  if (w === 0 || h === 0) throw bad('viewport sw and sh must not be 0');
  return { width, height, region: { x, y, w, h } };
}

/** Parameters of a WADO-RS rendered/thumbnail request. */
export function parseRenderQuery(q: QueryParams, thumbnail: boolean): RenderOptions {
  const w = one(q, 'window');
  const v = one(q, 'viewport');
  const qs = one(q, 'quality');
  const out: RenderOptions = {
    quality: qs !== undefined ? int(qs, 'quality', 1, 100) : thumbnail ? 75 : DEFAULT_QUALITY,
  };
  if (w !== undefined) out.window = parseWindow(w);
  if (v !== undefined) out.viewport = parseViewport(v);
  else if (thumbnail) out.viewport = { width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE };
  return out;
}

/** Parameters of a WADO-URI rendered request, and its frame number (1-based). */
export function parseWadoUriRender(q: QueryParams): { options: RenderOptions; frame: number } {
  const wc = one(q, 'windowCenter');
  const ww = one(q, 'windowWidth');
  const rows = one(q, 'rows');
  const cols = one(q, 'columns');
  const fn = one(q, 'frameNumber');
  const iq = one(q, 'imageQuality');
  const options: RenderOptions = {
    quality: iq !== undefined ? int(iq, 'imageQuality', 1, 100) : DEFAULT_QUALITY,
  };
  if ((wc === undefined) !== (ww === undefined)) throw bad('windowCenter and windowWidth go together');
  if (wc !== undefined && ww !== undefined) {
    const width = finite(ww, 'windowWidth');
    if (width < 1) throw bad('windowWidth must be at least 1');
    options.window = { center: finite(wc, 'windowCenter'), width };
  }
  if (rows !== undefined || cols !== undefined) {
    const h = rows !== undefined ? int(rows, 'rows', 1, MAX_SIDE) : MAX_SIDE;
    const w = cols !== undefined ? int(cols, 'columns', 1, MAX_SIDE) : MAX_SIDE;
    options.viewport = { width: w, height: h };
  }
  const frame = fn !== undefined ? int(fn, 'frameNumber', 1, 1 << 30) : 1;
  return { options, frame };
}

/** Canonical text of the options, for cache keys. */
export function optionsKey(o: RenderOptions): string {
  const w = o.window !== undefined ? `${o.window.center},${o.window.width}` : '-';
  const v = o.viewport !== undefined ? `${o.viewport.width},${o.viewport.height}` : '-';
  const r = o.viewport?.region !== undefined ? Object.values(o.viewport.region).join(',') : '-';
  return `w=${w}|v=${v}|r=${r}|q=${o.quality}`;
}
