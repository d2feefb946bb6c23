/**
 * WADO-RS rendered resources and thumbnails (PS3.18 §8.3.5, §9.5 thumbnails) registered inside the
 * DICOMweb plugin's scope (which resolves the caller and maps errors to problem+json):
 *
 *   …/instances/{i}/rendered, …/instances/{i}/frames/{list}/rendered,
 *   /studies/{s}/series/{se}/rendered, /studies/{s}/rendered  (multipart of each instance, capped),
 *   /studies/{s}[/series/{se}[/instances/{i}[/frames/{n}]]]/thumbnail  (one small image, cached).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InstanceLocation } from '../archive/ports.ts';
import { HuiyingError } from '../errors.ts';
import { negotiate, parseAccept, type Offer } from '../dicomweb/media.ts';
import { closeDelimiter, newBoundary, partHeader } from '../dicomweb/multipart.ts';
import type { QueryParams } from '../dicomweb/qido.ts';
import { instancePath } from '../dicomweb/instances.ts';
import { IMAGE_TYPES, parseRenderQuery, type ImageType, type RenderOptions } from './params.ts';
import type { Renderer } from './renderer.ts';

export interface UidParams {
  study?: string;
  series?: string;
  instance?: string;
}

export interface RenderRouteContext {
  renderer: Renderer;
  locate: (req: FastifyRequest, p: UidParams) => Promise<InstanceLocation[]>;
  acceptOf: (req: FastifyRequest) => string | undefined;
  baseOf: (req: FastifyRequest) => string;
  /** most instances in a series/study `rendered` multipart (default 100) */
  maxParts?: number;
}

const single: Offer[] = IMAGE_TYPES.map((t) => ({ kind: 'single', partType: t }));
const multi: Offer[] = IMAGE_TYPES.map((t) => ({ kind: 'multipart', partType: t }));

function notModified(req: FastifyRequest, reply: FastifyReply, etag: string): boolean {
  reply.header('ETag', etag);
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    void reply.status(304).send();
    return true;
  }
  return false;
}

function parseFrameList(s: string): number[] {
  const out = s.split(',').map((x) => {
    const t = x.trim();
    if (!/^\d+$/.test(t) || Number(t) < 1) {
      throw new HuiyingError('invalid-input', `frame list: "${t.slice(0, 20)}" is not a frame number`);
    }
    return Number(t);
  });
  if (out.length > 1000) throw new HuiyingError('invalid-input', 'too many frames requested');
  return out;
}

function sendMultipart(
  reply: FastifyReply,
  type: string,
  parts: { body: Buffer; location?: string }[],
): FastifyReply {
  const boundary = newBoundary();
  const chunks: Buffer[] = [];
  parts.forEach((p, i) => {
    chunks.push(
      partHeader(
        boundary,
        {
          'Content-Type': type,
          'Content-Length': String(p.body.length),
          ...(p.location !== undefined ? { 'Content-Location': p.location } : {}),
        },
        i === 0,
      ),
      p.body,
    );
  });
  chunks.push(closeDelimiter(boundary, parts.length > 0));
  const body = Buffer.concat(chunks);
  reply.header('Content-Type', `multipart/related; type="${type}"; boundary=${boundary}`);
  return reply.send(body);
}

export function registerRenderingRoutes(r: FastifyInstance, ctx: RenderRouteContext): void {
  const { renderer } = ctx;
  const maxParts = ctx.maxParts ?? 100;

  async function sendOne(
    req: FastifyRequest,
    reply: FastifyReply,
    loc: InstanceLocation,
    frame: number,
    type: ImageType,
    o: RenderOptions,
  ): Promise<FastifyReply> {
    const img = await renderer.render(loc, frame, type, o);
    reply.header('Cache-Control', 'private, max-age=3600');
    if (notModified(req, reply, img.etag)) return reply;
    return reply.type(img.mediaType).send(img.body);
  }

  /** The instance to show for a study or series: the middle one that has pixel data, and its middle frame. */
  async function representative(locs: InstanceLocation[]): Promise<{ loc: InstanceLocation; frame: number }> {
    const sorted = [...locs].sort(
      (a, b) =>
        a.seriesInstanceUid.localeCompare(b.seriesInstanceUid) ||
        a.sopInstanceUid.localeCompare(b.sopInstanceUid),
    );
    const mid = Math.floor(sorted.length / 2);
    const order = [...sorted.slice(mid), ...sorted.slice(0, mid).reverse()].slice(0, 16);
    for (const loc of order) {
      try {
        const n = await renderer.numberOfFrames(loc);
        return { loc, frame: Math.ceil(n / 2) };
      } catch (err) {
        if (err instanceof HuiyingError && (err.code === 'not-found' || err.code === 'unsupported')) continue;
        throw err;
      }
    }
    throw new HuiyingError('not-found', 'no instance with pixel data to show');
  }

  // ---- rendered ----
  r.get('/studies/:study/series/:series/instances/:instance/rendered', async (req, reply) => {
    const o = parseRenderQuery(req.query as QueryParams, false);
    const { offer } = negotiate(parseAccept(ctx.acceptOf(req)), [...single, ...multi]);
    const loc = (await ctx.locate(req, req.params as UidParams))[0]!;
    const type = offer.partType as ImageType;
    if (offer.kind === 'single') return sendOne(req, reply, loc, 1, type, o);
    const n = Math.min(await renderer.numberOfFrames(loc), maxParts);
    const parts = [];
    for (let f = 1; f <= n; f++) parts.push({ body: (await renderer.render(loc, f, type, o)).body });
    reply.header('Cache-Control', 'private, max-age=3600');
    return sendMultipart(reply, type, parts);
  });

  r.get('/studies/:study/series/:series/instances/:instance/frames/:frames/rendered', async (req, reply) => {
    const p = req.params as UidParams & { frames: string };
    const frames = parseFrameList(p.frames);
    const o = parseRenderQuery(req.query as QueryParams, false);
    const { offer } = negotiate(
      parseAccept(ctx.acceptOf(req)),
      frames.length === 1 ? [...single, ...multi] : multi,
    );
    const loc = (await ctx.locate(req, p))[0]!;
    const type = offer.partType as ImageType;
    if (offer.kind === 'single') return sendOne(req, reply, loc, frames[0]!, type, o);
    const parts = [];
    for (const f of frames) parts.push({ body: (await renderer.render(loc, f, type, o)).body });
    reply.header('Cache-Control', 'private, max-age=3600');
    return sendMultipart(reply, type, parts);
  });

  const renderedMany = async (req: FastifyRequest, reply: FastifyReply) => {
    const o = parseRenderQuery(req.query as QueryParams, false);
    const { offer } = negotiate(parseAccept(ctx.acceptOf(req)), [...multi, ...single]);
    const locs = await ctx.locate(req, req.params as UidParams);
    const type = offer.partType as ImageType;
    if (offer.kind === 'single') {
      const { loc, frame } = await representative(locs);
      return sendOne(req, reply, loc, frame, type, o);
    }
    const base = ctx.baseOf(req);
    const parts: { body: Buffer; location: string }[] = [];
    for (const loc of locs) {
      if (parts.length >= maxParts) {
        reply.header('Warning', `299 ${req.host}: "Only the first ${maxParts} instances were rendered"`);
        break;
      }
      try {
        const img = await renderer.render(loc, 1, type, o);
        parts.push({ body: img.body, location: `${base}${instancePath(loc)}/rendered` });
      } catch (err) {
        // instances without pixel data (SR, KOS, …) have no rendered form here
        if (err instanceof HuiyingError && (err.code === 'not-found' || err.code === 'unsupported')) continue;
        throw err;
      }
    }
    if (parts.length === 0) throw new HuiyingError('not-found', 'no instance with pixel data to render');
    reply.header('Cache-Control', 'private, no-cache');
    return sendMultipart(reply, type, parts);
  };
  r.get('/studies/:study/rendered', renderedMany);
  r.get('/studies/:study/series/:series/rendered', renderedMany);

  // ---- thumbnails ----
  const thumbnail = async (req: FastifyRequest, reply: FastifyReply) => {
    const p = req.params as UidParams & { frames?: string };
    const o = parseRenderQuery(req.query as QueryParams, true);
    const { offer } = negotiate(parseAccept(ctx.acceptOf(req)), single);
    const type = offer.partType as ImageType;
    const locs = await ctx.locate(req, p);
    if (p.instance !== undefined) {
      const loc = locs[0]!;
      let frame: number;
      if (p.frames !== undefined) {
        const list = parseFrameList(p.frames);
        if (list.length !== 1) throw new HuiyingError('invalid-input', 'a thumbnail is of one frame');
        frame = list[0]!;
      } else frame = Math.ceil((await renderer.numberOfFrames(loc)) / 2);
      return sendOne(req, reply, loc, frame, type, o);
    }
    const { loc, frame } = await representative(locs);
    return sendOne(req, reply, loc, frame, type, o);
  };
  r.get('/studies/:study/thumbnail', thumbnail);
  r.get('/studies/:study/series/:series/thumbnail', thumbnail);
  r.get('/studies/:study/series/:series/instances/:instance/thumbnail', thumbnail);
  r.get('/studies/:study/series/:series/instances/:instance/frames/:frames/thumbnail', thumbnail);
}
