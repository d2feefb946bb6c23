/**
 * `openBlobStore(url, dataDir)`: a plain path (relative paths resolve against dataDir) or `file:///…` →
 * FolderBlobStore; `s3://bucket[/prefix]?endpoint=http://127.0.0.1:4569&region=…&accessKeyId=…&
 * secretAccessKey=…&forcePathStyle=true` → S3BlobStore. Unset S3 parameters fall back to the AWS_*
 * environment (AWS_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
 * and the SDK's default credential chain).
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlobStore } from './blob-store.ts';
import { FolderBlobStore } from './folder-blob-store.ts';
import type { S3BlobStoreOptions } from './s3-blob-store.ts';

/** The S3 SDK (≈12 MB resident) is loaded only when an s3:// URL is configured. */
export async function openBlobStore(
  url: string,
  dataDir: string,
  options: { sync?: boolean } = {},
): Promise<BlobStore> {
  if (url.startsWith('s3://')) {
    const u = new URL(url);
    if (u.hostname === '') throw new Error(`storage URL ${url}: missing bucket`);
    const q = u.searchParams;
    const opt = (name: string): string | undefined => q.get(name) ?? undefined;
    const o: S3BlobStoreOptions = { bucket: u.hostname };
    const prefix = decodeURIComponent(u.pathname.replace(/^\/+/, ''));
    if (prefix !== '') o.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
    const endpoint = opt('endpoint');
    const region = opt('region');
    const accessKeyId = opt('accessKeyId') ?? process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = opt('secretAccessKey') ?? process.env.AWS_SECRET_ACCESS_KEY;
    const fps = opt('forcePathStyle');
    if (endpoint !== undefined) o.endpoint = endpoint;
    if (region !== undefined) o.region = region;
    if (accessKeyId !== undefined && secretAccessKey !== undefined) {
      o.accessKeyId = accessKeyId;
      o.secretAccessKey = secretAccessKey;
    }
    if (fps !== undefined) o.forcePathStyle = fps === 'true' || fps === '1';
    const { S3BlobStore } = await import('./s3-blob-store.ts');
    return new S3BlobStore(o);
  }
  if (url.startsWith('file:')) return new FolderBlobStore(fileURLToPath(url), options);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new Error(`unsupported storage URL: ${url}`);
  return new FolderBlobStore(isAbsolute(url) ? resolve(url) : resolve(dataDir, url), options);
}
