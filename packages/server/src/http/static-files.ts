/**
 * Serving files of a built single-page app (the web application at `/`, the OHIF viewer at `/viewer/`):
 * content types, ETag/Last-Modified revalidation, cache policies, path safety, problem+json answers.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import type { FastifyReply } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.xml': 'application/xml; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** For content-hashed files. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** For everything else: revalidate with the ETag. */
export const REVALIDATE = 'no-cache';

/** `..`, dotfiles and NUL never reach the file system. */
export function isUnsafePath(rel: string): boolean {
  return rel.includes('\0') || rel.split('/').some((s) => s === '..' || (s.startsWith('.') && s.length > 1));
}

/** The `If-None-Match` header matches `etag`. */
export function etagMatches(ifNoneMatch: string | string[] | undefined, etag: string): boolean {
  return typeof ifNoneMatch === 'string' && ifNoneMatch.split(/\s*,\s*/).includes(etag);
}

export function problem(reply: FastifyReply, status: number, title: string, detail?: string): FastifyReply {
  return reply
    .status(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title, status, ...(detail !== undefined ? { detail } : {}) });
}

/** Send a file with cache headers (304 when revalidated); undefined when it is not a regular file. */
export async function sendStaticFile(
  reply: FastifyReply,
  file: string,
  cache: string,
  ifNoneMatch: string | string[] | undefined,
): Promise<FastifyReply | undefined> {
  let st;
  try {
    st = await stat(file);
  } catch {
    return undefined;
  }
  if (!st.isFile()) return undefined;
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  void reply.header('cache-control', cache).header('etag', etag);
  void reply.header('last-modified', st.mtime.toUTCString());
  if (etagMatches(ifNoneMatch, etag)) return reply.status(304).send();
  void reply.type(TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
  void reply.header('content-length', st.size);
  return reply.send(createReadStream(file));
}
