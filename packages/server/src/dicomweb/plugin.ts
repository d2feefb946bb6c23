/**
 * DICOMweb (PS3.18) as a Fastify plugin: QIDO-RS, WADO-RS (instances, metadata, frames, bulk data),
 * WADO-URI (application/dicom) and STOW-RS. Every route first resolves the caller (`resolveScope`) and
 * passes the caller's AccessScope to every index call; nothing here filters on its own.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidUid, type DicomJson } from '@huiying/dicom';
import type { AccessScope, InstanceLocation } from '../archive/ports.ts';
import type { Archive } from '../app.ts';
import type { Log } from '../logger.ts';
import { HuiyingError, httpStatusOf, messageOf } from '../errors.ts';
import { describeOffer, frameMediaType, negotiate, notAcceptable, parseAccept, type Offer } from './media.ts';
import { closeDelimiter, newBoundary, partHeader } from './multipart.ts';
import { parseQido, rowToJson, type QidoLevel, type QueryParams } from './qido.ts';
import { toNativeXml } from './xml.ts';
import {
  BASE_PLACEHOLDER,
  Lru,
  blobStream,
  cacheKey,
  frameRanges,
  instancePath,
  readInstanceHeader,
  readPixelLayout,
  type PixelLayout,
} from './instances.ts';
import { storeInstances } from './stow.ts';
import { EXPLICIT_LE, Renderer } from '../rendering/renderer.ts';
import { registerRenderingRoutes } from '../rendering/routes.ts';
import { canTranscodeTo, IMPLICIT_LE, prepareTranscode } from '../rendering/transcode.ts';
import { IMAGE_TYPES, parseWadoUriRender } from '../rendering/params.ts';
import { dicomwebEvent, noteAudit } from '../audit/dicomweb-audit.ts';

/** Who is calling: what they may see, and (for STOW) the hospital they store for. */
export interface Caller {
  scope: AccessScope;
  hospitalId?: number;
}

export interface DicomwebOptions {
  /** with `audit`: every request is audited, reads refused (503) while auditing is impossible */
  archive: Pick<Archive, 'index' | 'blobs' | 'ingest' | 'hospitals'> & Partial<Pick<Archive, 'audit'>>;
  /** identify the caller; throw HuiyingError('unauthenticated') when there is no identity */
  resolveScope: (request: FastifyRequest) => Promise<Caller>;
  log: Log;
  /** route prefix, default `/dicomweb` (WADO-URI is `<prefix>/wado`) */
  prefix?: string;
  /** CORS: allowed origins (`*` for any); off when absent */
  cors?: { origins: string[] | '*' };
  qido?: { defaultLimit?: number; maxLimit?: number };
  stow?: { maxPartBytes?: number; maxTotalBytes?: number; concurrency?: number };
  /** bytes of instance metadata JSON kept in memory (default 256 MiB) */
  metadataCacheBytes?: number;
  /** rendered images, thumbnails and transcoded frames */
  rendering?: {
    /** decoder worker threads (0 = decode on the main thread); default 2 */
    workers?: number;
    /** bytes of rendered results kept in memory (default 128 MiB) */
    cacheBytes?: number;
    /** disk cache folder, e.g. `<dataDir>/cache/rendered`; memory only when absent */
    cacheDir?: string;
    cacheDiskBytes?: number;
    /** most instances in a series/study `rendered` multipart (default 100) */
    maxParts?: number;
  };
}

export interface DicomwebHandle {
  /** cache statistics (for benchmarks and the admin page) */
  stats(): {
    metadataBytes: number;
    metadataHits: number;
    metadataMisses: number;
    renderedBytes: number;
    renderedHits: number;
    renderedMisses: number;
  };
  clearCaches(): void;
}

const DICOM_JSON = 'application/dicom+json';
const CALLER = new WeakMap<FastifyRequest, Caller>();

function problem(reply: FastifyReply, status: number, title: string, detail?: string): FastifyReply {
  return reply
    .status(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title, status, ...(detail !== undefined ? { detail } : {}) });
}

function statusOf(err: unknown): number {
  if (err instanceof HuiyingError) {
    const s = err.detail?.status;
    return typeof s === 'number' && s >= 400 && s < 600 ? s : httpStatusOf(err.code);
  }
  const s = (err as { statusCode?: unknown }).statusCode;
  return typeof s === 'number' && s >= 400 && s < 600 ? s : 500;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

function etagOf(parts: string[]): string {
  const h = createHash('sha1');
  for (const p of parts) h.update(p).update('\n');
  return `"${h.digest('base64url')}"`;
}

function notModified(req: FastifyRequest, reply: FastifyReply, etag: string): boolean {
  reply.header('ETag', etag);
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    void reply.status(304).send();
    return true;
  }
  return false;
}

function uid(name: string, v: string | undefined): string {
  if (v === undefined || !isValidUid(v)) {
    throw new HuiyingError('invalid-input', `${name}: "${String(v).slice(0, 80)}" is not a valid UID`);
  }
  return v;
}

interface UidParams {
  study?: string;
  series?: string;
  instance?: string;
}

function acceptOf(req: FastifyRequest): string | undefined {
  const q = (req.query as QueryParams).accept;
  const fromQuery = Array.isArray(q) ? q.join(',') : q;
  return fromQuery ?? req.headers.accept;
}

/** Run `fn` over `items` with at most `n` in flight, keeping order. */
async function mapLimit<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

export async function registerDicomweb(app: FastifyInstance, opts: DicomwebOptions): Promise<DicomwebHandle> {
  const prefix = (opts.prefix ?? '/dicomweb').replace(/\/+$/, '');
  const { index, blobs, hospitals, audit } = opts.archive;
  const defaultLimit = opts.qido?.defaultLimit ?? 1000;
  const maxLimit = opts.qido?.maxLimit ?? 10000;
  const metaCache = new Lru<string>(opts.metadataCacheBytes ?? 256 * 1024 * 1024);
  const layoutCache = new Lru<PixelLayout>(32 * 1024 * 1024);
  const charsetCache = new Map<number, string | undefined>();
  const ro = opts.rendering ?? {};
  const renderer = new Renderer({
    blobs,
    ...(ro.workers !== undefined ? { workers: ro.workers } : {}),
    ...(ro.cacheBytes !== undefined ? { cacheBytes: ro.cacheBytes } : {}),
    ...(ro.cacheDir !== undefined ? { cacheDir: ro.cacheDir } : {}),
    ...(ro.cacheDiskBytes !== undefined ? { cacheDiskBytes: ro.cacheDiskBytes } : {}),
  });
  app.addHook('onClose', async () => {
    await renderer.close();
  });

  async function defaultCharset(hospitalId: number): Promise<string | undefined> {
    if (!charsetCache.has(hospitalId)) {
      const h = await hospitals.byId(hospitalId);
      charsetCache.set(hospitalId, h?.defaultCharset);
    }
    return charsetCache.get(hospitalId);
  }

  const baseOf = (req: FastifyRequest): string => `${req.protocol}://${req.host}${prefix}`;
  const callerOf = (req: FastifyRequest): Caller => {
    const c = CALLER.get(req);
    if (c === undefined) throw new HuiyingError('internal', 'caller not resolved');
    return c;
  };

  async function locate(req: FastifyRequest, p: UidParams): Promise<InstanceLocation[]> {
    const keys: Record<string, { kind: 'single'; value: string }> = {
      StudyInstanceUID: { kind: 'single', value: uid('StudyInstanceUID', p.study) },
    };
    if (p.series !== undefined)
      keys.SeriesInstanceUID = { kind: 'single', value: uid('SeriesInstanceUID', p.series) };
    if (p.instance !== undefined)
      keys.SOPInstanceUID = { kind: 'single', value: uid('SOPInstanceUID', p.instance) };
    const locs = await index.locate({ level: 'IMAGE', keys, scope: callerOf(req).scope });
    noteAudit(req, { instances: locs.length });
    if (locs.length === 0) {
      const what = p.instance !== undefined ? 'instance' : p.series !== undefined ? 'series' : 'study';
      throw new HuiyingError('not-found', `${what} not found`);
    }
    return locs;
  }

  async function instanceJson(loc: InstanceLocation): Promise<string> {
    const key = cacheKey(loc);
    const hit = metaCache.get(key);
    if (hit !== undefined) return hit;
    const header = await readInstanceHeader(blobs, loc, await defaultCharset(loc.hospitalId));
    const ds: DicomJson = { ...header.dataset };
    ds['00083002'] = { vr: 'UI', Value: [header.transferSyntaxUid] };
    if (header.pixel !== undefined) {
      ds[header.pixel.tag] = {
        vr: header.pixel.vr,
        BulkDataURI: `${BASE_PLACEHOLDER}${instancePath(loc)}/bulkdata/${header.pixel.tag}`,
      };
    }
    const sorted: DicomJson = {};
    for (const k of Object.keys(ds).sort()) sorted[k] = ds[k]!;
    const json = JSON.stringify(sorted);
    metaCache.set(key, json, json.length * 2 + 200);
    return json;
  }

  async function pixelLayout(loc: InstanceLocation): Promise<PixelLayout> {
    const key = cacheKey(loc);
    const hit = layoutCache.get(key);
    if (hit !== undefined) return hit;
    const header = await readInstanceHeader(blobs, loc, await defaultCharset(loc.hospitalId));
    const layout = await readPixelLayout(blobs, loc, header);
    layoutCache.set(key, layout, 200 + (layout.frames?.reduce((n, f) => n + f.length * 24, 0) ?? 0));
    return layout;
  }

  /** Stream `parts` as multipart/related; sets Content-Type and Content-Length. */
  function sendMultipart(
    reply: FastifyReply,
    type: string,
    params: Record<string, string>,
    parts: {
      headers: Record<string, string>;
      size: number;
      body: () => Promise<AsyncIterable<Buffer | string> | Iterable<Buffer | string>>;
    }[],
  ): FastifyReply {
    const boundary = newBoundary();
    const heads = parts.map((p, i) =>
      partHeader(boundary, { ...p.headers, 'Content-Length': String(p.size) }, i === 0),
    );
    const close = closeDelimiter(boundary, parts.length > 0);
    const length = heads.reduce((n, h, i) => n + h.length + parts[i]!.size, close.length);
    async function* gen(): AsyncGenerator<Buffer | string> {
      for (let i = 0; i < parts.length; i++) {
        yield heads[i]!;
        yield* await parts[i]!.body();
      }
      yield close;
    }
    const ps = Object.entries(params)
      .map(([k, v]) => `; ${k}=${v}`)
      .join('');
    reply.header('Content-Type', `multipart/related; type="${type}"${ps}; boundary=${boundary}`);
    reply.header('Content-Length', String(length));
    return reply.send(Readable.from(gen(), { objectMode: false }));
  }

  async function* rangesBody(loc: InstanceLocation, ranges: [number, number][]): AsyncGenerator<Buffer> {
    for (const [start, len] of ranges) {
      if (len === 0) continue;
      const s = await blobStream(blobs, loc.blobKey, { start, end: start + len - 1 });
      for await (const c of s as AsyncIterable<Buffer>) yield c;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // routes
  // ---------------------------------------------------------------------------------------------
  await app.register(
    (r, _o, registered) => {
      r.removeAllContentTypeParsers();
      r.addContentTypeParser('*', (_req, payload, done) => {
        done(null, payload);
      });

      r.setErrorHandler((err, req, reply) => {
        const status = statusOf(err);
        if (status >= 500) {
          opts.log('error', 'dicomweb request failed', {
            method: req.method,
            url: req.url.split('?')[0],
            error: messageOf(err),
          });
        }
        // an error before the request body was read (e.g. a refused STOW): close the connection rather than
        // leave the client blocked sending a body nobody reads
        if (status === 413 || (req.method === 'POST' && !req.raw.readableEnded))
          reply.header('Connection', 'close');
        if (status === 401)
          reply.header('WWW-Authenticate', 'Bearer realm="huiying", Basic realm="huiying", charset="UTF-8"');
        const detail = status >= 500 && !(err instanceof HuiyingError) ? undefined : messageOf(err);
        return problem(reply, status, TITLES[status] ?? 'Error', detail);
      });

      const cors = opts.cors;
      const originAllowed = (origin: string | undefined): string | undefined => {
        if (cors === undefined || origin === undefined) return undefined;
        if (cors.origins === '*') return '*';
        return cors.origins.includes(origin) ? origin : undefined;
      };

      r.addHook('onRequest', async (req, reply) => {
        const allow = originAllowed(req.headers.origin);
        if (allow !== undefined) {
          reply.header('Access-Control-Allow-Origin', allow);
          if (allow !== '*') reply.header('Vary', 'Origin');
          reply.header(
            'Access-Control-Expose-Headers',
            'Warning, ETag, Content-Type, Content-Length, Content-Location',
          );
        }
        if (req.method === 'OPTIONS') return;
        CALLER.set(req, await opts.resolveScope(req));
        // fail-closed: no reads of patient data that cannot be audited (audit/audit-log.ts)
        if (audit !== undefined && req.method !== 'POST' && !audit.acceptingReads())
          throw new HuiyingError('unavailable', 'audit trail unavailable: reads are refused');
      });
      if (audit !== undefined) {
        r.addHook('onResponse', async (req, reply) => {
          if (req.method === 'OPTIONS') return;
          audit.record(dicomwebEvent(req, reply.statusCode, CALLER.get(req)));
        });
      }

      if (cors !== undefined) {
        r.options('/*', async (req, reply) => {
          reply.header('Access-Control-Allow-Methods', 'GET, HEAD, POST, OPTIONS');
          reply.header(
            'Access-Control-Allow-Headers',
            req.headers['access-control-request-headers'] ?? 'Accept, Authorization, Content-Type',
          );
          reply.header('Access-Control-Max-Age', '600');
          return reply.status(204).send();
        });
      }

      // ---- QIDO-RS ----
      const qidoOffers: Offer[] = [
        { kind: 'single', partType: DICOM_JSON },
        { kind: 'single', partType: 'application/json' },
        { kind: 'multipart', partType: 'application/dicom+xml' },
        { kind: 'single', partType: 'application/dicom+xml' },
      ];
      const qido = (level: QidoLevel) => async (req: FastifyRequest, reply: FastifyReply) => {
        const p = req.params as UidParams;
        const caller = callerOf(req);
        const path: { StudyInstanceUID?: string; SeriesInstanceUID?: string } = {};
        if (p.study !== undefined) path.StudyInstanceUID = uid('StudyInstanceUID', p.study);
        if (p.series !== undefined) path.SeriesInstanceUID = uid('SeriesInstanceUID', p.series);
        const q = parseQido(level, req.query as QueryParams, path, { defaultLimit, maxLimit });
        const { offer } = negotiate(parseAccept(acceptOf(req)), qidoOffers);
        let rows = await index.query({
          level,
          keys: q.keys,
          scope: caller.scope,
          fuzzy: q.fuzzy,
          limit: q.limit + 1,
          offset: q.offset,
        });
        noteAudit(req, { matches: Math.min(rows.length, q.limit) });
        if (rows.length > q.limit) {
          rows = rows.slice(0, q.limit);
          reply.header('Warning', `299 ${req.host}: "There are additional results that can be requested"`);
        }
        const base = baseOf(req);
        const results = rows.map((row) => rowToJson(q, row, base));
        reply.header('Cache-Control', 'no-cache, private');
        if (offer.partType.endsWith('+xml')) {
          const docs = results.map(toNativeXml);
          return sendMultipart(
            reply,
            'application/dicom+xml',
            {},
            docs.map((d) => {
              const b = Buffer.from(d, 'utf8');
              return {
                headers: { 'Content-Type': 'application/dicom+xml; charset=utf-8' },
                size: b.length,
                body: () => Promise.resolve([b]),
              };
            }),
          );
        }
        return reply.type(`${offer.partType}; charset=utf-8`).send(JSON.stringify(results));
      };
      r.get('/studies', qido('STUDY'));
      r.get('/series', qido('SERIES'));
      r.get('/instances', qido('IMAGE'));
      r.get('/studies/:study/series', qido('SERIES'));
      r.get('/studies/:study/instances', qido('IMAGE'));
      r.get('/studies/:study/series/:series/instances', qido('IMAGE'));

      // ---- WADO-RS: instances ----
      const retrieve = async (req: FastifyRequest, reply: FastifyReply) => {
        const p = req.params as UidParams;
        const locs = await locate(req, p);
        const tss = [...new Set(locs.map((l) => l.transferSyntaxUid))];
        const uniform = tss.length === 1 ? tss[0] : undefined;
        const single = p.instance !== undefined && locs.length === 1;
        // `transfer-syntax` absent or `*`: as stored. PS3.18 makes Explicit VR LE the default, but OHIF
        // and most clients expect the stored bytes when they do not ask, so the as-stored offers come
        // first. An explicit Explicit/Implicit VR LE request is met by transcoding (rendering/transcode.ts);
        // other syntaxes only when stored so (there is no compression encoder) — else 406.
        const offers: Offer[] = [
          {
            kind: 'multipart',
            partType: 'application/dicom',
            ...(uniform !== undefined ? { transferSyntax: uniform } : {}),
          },
        ];
        if (single) {
          offers.push({ kind: 'single', partType: 'application/dicom', transferSyntax: uniform! });
        }
        for (const target of [EXPLICIT_LE, IMPLICIT_LE]) {
          if (uniform === target || !locs.every((l) => canTranscodeTo(l.transferSyntaxUid, target))) continue;
          const t: Offer = {
            kind: 'multipart',
            partType: 'application/dicom',
            transferSyntax: target,
            acceptsTransferSyntaxes: [target],
          };
          offers.push(t);
          if (single) offers.push({ ...t, kind: 'single' });
        }
        const ranges = parseAccept(acceptOf(req));
        let offer: Offer;
        try {
          ({ offer } = negotiate(ranges, offers));
        } catch (err) {
          // say why when an uncompressed syntax was asked for and some instance cannot be decoded
          const asked = ranges.some((r) =>
            [EXPLICIT_LE, IMPLICIT_LE].includes(r.params['transfer-syntax'] ?? ''),
          );
          const bad = locs.find((l) => !canTranscodeTo(l.transferSyntaxUid, EXPLICIT_LE));
          if (asked && bad !== undefined) {
            throw new HuiyingError(
              'unsupported',
              `instance ${bad.sopInstanceUid} is stored as ${bad.transferSyntaxUid}, whose pixel data cannot be decoded: it can only be retrieved as stored (transfer-syntax=*)`,
              { detail: { status: 406 } },
            );
          }
          throw err;
        }
        const target = offer.transferSyntax;
        const transcode = target !== undefined && target !== uniform;
        if (notModified(req, reply, etagOf([...locs.map(cacheKey), describeOffer(offer)]))) return reply;
        // every transcoding is checked (header, layout, codec) before the first byte is sent
        const charset = transcode ? await defaultCharset(locs[0]!.hospitalId) : undefined;
        const prepared = transcode
          ? await mapLimit(locs, 8, (loc) =>
              loc.transferSyntaxUid === target
                ? Promise.resolve(undefined)
                : prepareTranscode({ blobs, pool: renderer.pool }, loc, target, {
                    firstFrame: single,
                    ...(charset !== undefined ? { defaultCharset: charset } : {}),
                  }),
            )
          : locs.map(() => undefined);
        reply.header(
          'Cache-Control',
          p.instance !== undefined ? 'private, max-age=3600' : 'private, no-cache',
        );
        if (offer.kind === 'single') {
          const loc = locs[0]!;
          const t = prepared[0];
          reply.header(
            'Content-Type',
            `application/dicom; transfer-syntax=${target ?? loc.transferSyntaxUid}`,
          );
          if (t !== undefined) {
            reply.header('Content-Length', String(t.size));
            return reply.send(Readable.from(await t.body(), { objectMode: false }));
          }
          reply.header('Content-Length', String(loc.size));
          return reply.send(await blobStream(blobs, loc.blobKey));
        }
        const base = baseOf(req);
        return sendMultipart(
          reply,
          'application/dicom',
          target !== undefined ? { 'transfer-syntax': target } : {},
          locs.map((loc, i) => {
            const t = prepared[i];
            return {
              headers: {
                'Content-Type': `application/dicom; transfer-syntax=${t?.transferSyntaxUid ?? loc.transferSyntaxUid}`,
                'Content-Location': `${base}${instancePath(loc)}`,
              },
              size: t?.size ?? loc.size,
              body: async () =>
                t !== undefined
                  ? t.body()
                  : (blobStream(blobs, loc.blobKey) as Promise<AsyncIterable<Buffer>>),
            };
          }),
        );
      };
      r.get('/studies/:study', retrieve);
      r.get('/studies/:study/series/:series', retrieve);
      r.get('/studies/:study/series/:series/instances/:instance', retrieve);

      // ---- WADO-RS: metadata ----
      const metadataOffers: Offer[] = [
        { kind: 'single', partType: DICOM_JSON },
        { kind: 'single', partType: 'application/json' },
        { kind: 'multipart', partType: 'application/dicom+xml' },
      ];
      const metadata = async (req: FastifyRequest, reply: FastifyReply) => {
        const p = req.params as UidParams;
        const { offer } = negotiate(parseAccept(acceptOf(req)), metadataOffers);
        const locs = await locate(req, p);
        const base = baseOf(req);
        if (notModified(req, reply, etagOf([base, offer.partType, ...locs.map(cacheKey)]))) return reply;
        const jsons = await mapLimit(locs, 16, instanceJson);
        reply.header(
          'Cache-Control',
          p.instance !== undefined ? 'private, max-age=3600' : 'private, no-cache',
        );
        if (offer.kind === 'multipart') {
          const docs = jsons.map((j) =>
            Buffer.from(toNativeXml(JSON.parse(j.replaceAll(BASE_PLACEHOLDER, base)) as DicomJson)),
          );
          return sendMultipart(
            reply,
            'application/dicom+xml',
            {},
            docs.map((b) => ({
              headers: { 'Content-Type': 'application/dicom+xml; charset=utf-8' },
              size: b.length,
              body: () => Promise.resolve([b]),
            })),
          );
        }
        const body = `[${jsons.join(',')}]`.replaceAll(BASE_PLACEHOLDER, base);
        return reply.type(`${offer.partType}; charset=utf-8`).send(body);
      };
      r.get('/studies/:study/metadata', metadata);
      r.get('/studies/:study/series/:series/metadata', metadata);
      r.get('/studies/:study/series/:series/instances/:instance/metadata', metadata);

      // ---- WADO-RS: frames ----
      const framesOffers = (layout: PixelLayout, count: number): Offer[] => {
        const ts = layout.transferSyntaxUid;
        if (!layout.encapsulated) {
          const le = ts !== '1.2.840.10008.1.2.2';
          const out = le ? '1.2.840.10008.1.2.1' : ts;
          const accepts = le ? ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2', ts] : [ts];
          const offers: Offer[] = [
            {
              kind: 'multipart',
              partType: 'application/octet-stream',
              transferSyntax: out,
              acceptsTransferSyntaxes: accepts,
            },
          ];
          if (count === 1) {
            offers.push({
              kind: 'single',
              partType: 'application/octet-stream',
              transferSyntax: out,
              acceptsTransferSyntaxes: accepts,
            });
          }
          return offers;
        }
        const media = frameMediaType(ts);
        const offers: Offer[] = [{ kind: 'multipart', partType: media, transferSyntax: ts }];
        if (media !== 'application/octet-stream') {
          offers.push({ kind: 'multipart', partType: 'application/octet-stream', transferSyntax: ts });
        }
        if (count === 1) offers.push({ kind: 'single', partType: media, transferSyntax: ts });
        if (renderer.canTranscode(ts)) {
          // decoded to native pixels only when asked for explicitly (transfer-syntax=1.2.840.10008.1.2.1)
          const transcoded: Offer = {
            kind: 'multipart',
            partType: 'application/octet-stream',
            transferSyntax: EXPLICIT_LE,
            acceptsTransferSyntaxes: [EXPLICIT_LE],
          };
          offers.push(transcoded);
          if (count === 1) offers.push({ ...transcoded, kind: 'single' });
        }
        return offers;
      };
      async function sendFrames(
        req: FastifyRequest,
        reply: FastifyReply,
        loc: InstanceLocation,
        layout: PixelLayout,
        numbers: number[],
      ): Promise<FastifyReply> {
        const ranges = numbers.map((n) => frameRanges(layout, n));
        const { offer } = negotiate(parseAccept(acceptOf(req)), framesOffers(layout, numbers.length));
        const ts = offer.transferSyntax!;
        if (notModified(req, reply, etagOf([cacheKey(loc), numbers.join(','), describeOffer(offer)])))
          return reply;
        reply.header('Cache-Control', 'private, max-age=3600');
        if (layout.encapsulated && ts === EXPLICIT_LE) {
          const raws = await mapLimit(numbers, 2, (n) => renderer.transcodeFrame(loc, n));
          const type = `application/octet-stream; transfer-syntax=${EXPLICIT_LE}`;
          if (offer.kind === 'single') return reply.header('Content-Type', type).send(raws[0]!);
          return sendMultipart(
            reply,
            'application/octet-stream',
            { 'transfer-syntax': EXPLICIT_LE },
            raws.map((b) => ({
              headers: { 'Content-Type': type },
              size: b.length,
              body: () => Promise.resolve([b]),
            })),
          );
        }
        if (offer.kind === 'single') {
          const rr = ranges[0]!;
          reply.header('Content-Type', `${offer.partType}; transfer-syntax=${ts}`);
          reply.header('Content-Length', String(rr.reduce((n, [, l]) => n + l, 0)));
          return reply.send(Readable.from(rangesBody(loc, rr)));
        }
        return sendMultipart(
          reply,
          offer.partType,
          { 'transfer-syntax': ts },
          ranges.map((rr) => ({
            headers: { 'Content-Type': `${offer.partType}; transfer-syntax=${ts}` },
            size: rr.reduce((n, [, l]) => n + l, 0),
            body: () => Promise.resolve(rangesBody(loc, rr)),
          })),
        );
      }
      r.get('/studies/:study/series/:series/instances/:instance/frames/:frames', async (req, reply) => {
        const p = req.params as UidParams & { frames: string };
        const numbers = p.frames.split(',').map((s) => {
          const t = s.trim();
          if (!/^\d+$/.test(t) || Number(t) < 1) {
            throw new HuiyingError('invalid-input', `frame list: "${t.slice(0, 20)}" is not a frame number`);
          }
          return Number(t);
        });
        if (numbers.length > 10000) throw new HuiyingError('invalid-input', 'too many frames requested');
        const loc = (await locate(req, p))[0]!;
        const layout = await pixelLayout(loc);
        return sendFrames(req, reply, loc, layout, numbers);
      });

      // ---- WADO-RS: bulk data ----
      r.get('/studies/:study/series/:series/instances/:instance/bulkdata/:tag', async (req, reply) => {
        const p = req.params as UidParams & { tag: string };
        if (!/^[0-9A-Fa-f]{8}$/.test(p.tag))
          throw new HuiyingError('invalid-input', 'bulk data tag must be 8 hex digits');
        const tag = p.tag.toUpperCase();
        const loc = (await locate(req, p))[0]!;
        const q = req.query as QueryParams;
        const offS = typeof q.offset === 'string' ? q.offset : undefined;
        const lenS = typeof q.length === 'string' ? q.length : undefined;
        let range: [number, number] | undefined;
        if (offS !== undefined || lenS !== undefined) {
          if (offS === undefined || lenS === undefined || !/^\d+$/.test(offS) || !/^\d+$/.test(lenS)) {
            throw new HuiyingError(
              'invalid-input',
              'bulk data offset and length must be non-negative integers',
            );
          }
          const o = Number(offS);
          const l = Number(lenS);
          if (o + l > loc.size)
            throw new HuiyingError('not-found', 'bulk data range lies beyond the instance');
          range = [o, l];
        } else if (tag.startsWith('7FE0')) {
          const layout = await pixelLayout(loc);
          if (layout.encapsulated) {
            return sendFrames(
              req,
              reply,
              loc,
              layout,
              Array.from({ length: layout.numberOfFrames }, (_, i) => i + 1),
            );
          }
          range = [layout.valueOffset, layout.valueLength];
        } else {
          const meta = JSON.parse(await instanceJson(loc)) as DicomJson;
          const uri = meta[tag]?.BulkDataURI;
          const m = uri === undefined ? null : /offset=(\d+)&length=(\d+)/.exec(uri);
          if (m === null) throw new HuiyingError('not-found', `no bulk data for ${tag}`);
          range = [Number(m[1]), Number(m[2])];
        }
        const offers: Offer[] = [
          { kind: 'multipart', partType: 'application/octet-stream' },
          { kind: 'single', partType: 'application/octet-stream' },
        ];
        const { offer } = negotiate(parseAccept(acceptOf(req)), offers);
        if (notModified(req, reply, etagOf([cacheKey(loc), String(range)]))) return reply;
        reply.header('Cache-Control', 'private, max-age=3600');
        const rr: [number, number][] = [range];
        if (offer.kind === 'single') {
          reply.header('Content-Type', 'application/octet-stream');
          reply.header('Content-Length', String(range[1]));
          return reply.send(Readable.from(rangesBody(loc, rr)));
        }
        return sendMultipart(reply, 'application/octet-stream', {}, [
          {
            headers: { 'Content-Type': 'application/octet-stream' },
            size: range[1],
            body: () => Promise.resolve(rangesBody(loc, rr)),
          },
        ]);
      });

      // ---- WADO-URI ----
      r.get('/wado', async (req, reply) => {
        const q = req.query as QueryParams;
        const get = (n: string): string | undefined => {
          const v = q[n];
          return Array.isArray(v) ? v[0] : v;
        };
        if (get('requestType') !== 'WADO')
          throw new HuiyingError('invalid-input', 'requestType must be WADO');
        const contentType = (get('contentType') ?? 'image/jpeg')
          .split(',')
          .map((s) => s.trim().toLowerCase());
        const imageType = contentType.includes('application/dicom')
          ? undefined
          : IMAGE_TYPES.find((t) => contentType.includes(t));
        if (
          imageType === undefined &&
          !contentType.includes('application/dicom') &&
          !contentType.includes('*/*')
        ) {
          throw new HuiyingError(
            'unsupported',
            `WADO-URI contentType ${contentType.join(',')} is not available; ask for image/jpeg, image/png, image/gif or application/dicom`,
            { detail: { status: 406 } },
          );
        }
        const rendering = imageType !== undefined ? parseWadoUriRender(q) : undefined;
        const locs = await locate(req, {
          study: get('studyUID'),
          series: get('seriesUID'),
          instance: get('objectUID'),
        });
        const loc = locs[0]!;
        if (imageType !== undefined && rendering !== undefined) {
          const img = await renderer.render(loc, rendering.frame, imageType, rendering.options);
          reply.header('Cache-Control', 'private, max-age=3600');
          if (notModified(req, reply, img.etag)) return reply;
          return reply.type(img.mediaType).send(img.body);
        }
        const ts = get('transferSyntax');
        if (ts !== undefined && ts !== loc.transferSyntaxUid) {
          throw notAcceptable(
            `transfer syntax ${ts} is not available for this instance (stored as ${loc.transferSyntaxUid})`,
          );
        }
        if (notModified(req, reply, etagOf([cacheKey(loc)]))) return reply;
        reply.header('Cache-Control', 'private, max-age=3600');
        reply.header('Content-Type', 'application/dicom');
        reply.header('Content-Length', String(loc.size));
        return reply.send(await blobStream(blobs, loc.blobKey));
      });

      // ---- STOW-RS ----
      const stow = async (req: FastifyRequest, reply: FastifyReply) => {
        const p = req.params as UidParams;
        const caller = callerOf(req);
        const study = p.study !== undefined ? uid('StudyInstanceUID', p.study) : undefined;
        const result = await storeInstances({
          ingest: opts.archive.ingest,
          caller,
          contentType: req.headers['content-type'],
          body: req.body as AsyncIterable<Buffer>,
          study,
          base: baseOf(req),
          limits: {
            maxPartBytes: opts.stow?.maxPartBytes ?? 2 * 1024 * 1024 * 1024,
            maxTotalBytes: opts.stow?.maxTotalBytes ?? 16 * 1024 * 1024 * 1024,
          },
          concurrency: opts.stow?.concurrency ?? 4,
          log: opts.log,
        });
        return reply
          .status(result.status)
          .type(`${DICOM_JSON}; charset=utf-8`)
          .send(JSON.stringify(result.body));
      };
      registerRenderingRoutes(r, {
        renderer,
        locate,
        acceptOf,
        baseOf,
        ...(ro.maxParts !== undefined ? { maxParts: ro.maxParts } : {}),
      });
      r.post('/studies', stow);
      r.post('/studies/:study', stow);
      registered();
    },
    { prefix },
  );

  return {
    stats: () => ({
      metadataBytes: metaCache.bytes,
      metadataHits: metaCache.hits,
      metadataMisses: metaCache.misses,
      renderedBytes: renderer.cache.memoryBytes,
      renderedHits: renderer.cache.hits,
      renderedMisses: renderer.cache.misses,
    }),
    clearCaches() {
      metaCache.clear();
      layoutCache.clear();
      charsetCache.clear();
      renderer.clear();
    },
  };
}
