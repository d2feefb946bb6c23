/** Test support for the DICOMweb tests: a real archive (SQLite + folder) behind a real HTTP listener. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { openArchive, type Archive } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { silentLog } from '../logger.ts';
import { HuiyingError } from '../errors.ts';
import type { Hospital } from '../archive/ports.ts';
import { registerDicomweb, type Caller, type DicomwebHandle, type DicomwebOptions } from './plugin.ts';
import { MultipartReader } from './multipart.ts';
import { parseMediaType } from './media.ts';

export interface TestServer {
  archive: Archive;
  app: FastifyInstance;
  handle: DicomwebHandle;
  url: string;
  hospitals: { a: Hospital; b: Hospital; center: Hospital };
  close(): Promise<void>;
}

/** Users by the `x-test-user` header: `a`, `b` (member hospitals), `center` (all), none → 401. */
export async function startTestServer(extra: Partial<DicomwebOptions> = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'huiying-dicomweb-'));
  const archive = await openArchive(
    loadConfig({ HUIYING_DATA_DIR: dir, HUIYING_SYNC_MODE: 'normal', HUIYING_LOG_LEVEL: 'error' }),
    silentLog,
  );
  const a = await archive.hospitals.create({ code: 'HOSPA', name: '甲医院' });
  const b = await archive.hospitals.create({ code: 'HOSPB', name: '乙医院' });
  const center = await archive.hospitals.create({ code: 'CENTER', name: '影像中心', isCenter: true });
  const users: Record<string, Caller> = {
    a: { scope: { kind: 'hospitals', hospitalIds: [a.id] }, hospitalId: a.id },
    b: { scope: { kind: 'hospitals', hospitalIds: [b.id] }, hospitalId: b.id },
    center: { scope: { kind: 'all' }, hospitalId: center.id },
    viewer: { scope: { kind: 'hospitals', hospitalIds: [a.id] } },
  };
  const app = Fastify({ logger: false });
  const handle = await registerDicomweb(app, {
    archive,
    log: silentLog,
    resolveScope: (req) => {
      const u = req.headers['x-test-user'];
      const c = typeof u === 'string' ? users[u] : undefined;
      if (c === undefined) return Promise.reject(new HuiyingError('unauthenticated', 'no identity'));
      return Promise.resolve(c);
    },
    ...extra,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    archive,
    app,
    handle,
    url: `http://127.0.0.1:${port}/dicomweb`,
    hospitals: { a, b, center },
    async close() {
      await app.close();
      await archive.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function stowBody(
  parts: Uint8Array[],
  boundary = 'XbOuNdArY-123',
): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
    chunks.push(Buffer.from(p));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: Buffer.concat(chunks),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

export async function stow(
  url: string,
  user: string,
  parts: Uint8Array[],
): Promise<{ status: number; json: Record<string, { vr: string; Value?: unknown[] }> }> {
  const { body, contentType } = stowBody(parts);
  const res = await fetch(`${url}/studies`, {
    method: 'POST',
    headers: { 'content-type': contentType, 'x-test-user': user, accept: 'application/dicom+json' },
    body,
  });
  return {
    status: res.status,
    json: (await res.json()) as Record<string, { vr: string; Value?: unknown[] }>,
  };
}

/** Parse a whole multipart response body. */
export async function parseMultipart(
  res: Response,
): Promise<{ headers: Record<string, string>; body: Buffer }[]> {
  const ct = parseMediaType(res.headers.get('content-type') ?? '');
  const boundary = ct.params.boundary;
  if (ct.mediaType !== 'multipart/related' || boundary === undefined) {
    throw new Error(`not multipart: ${res.headers.get('content-type')}`);
  }
  const buf = Buffer.from(await res.arrayBuffer());
  const reader = new MultipartReader([buf], boundary, { maxPartBytes: 1e12, maxTotalBytes: 1e12 });
  const out: { headers: Record<string, string>; body: Buffer }[] = [];
  for await (const p of reader.parts()) {
    const chunks: Buffer[] = [];
    for await (const c of p.body) chunks.push(c);
    out.push({ headers: p.headers, body: Buffer.concat(chunks) });
  }
  return out;
}
