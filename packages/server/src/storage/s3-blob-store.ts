/**
 * Blob store on S3-compatible object storage (@aws-sdk/client-s3; lib-storage `Upload` for streams,
 * multipart when large). Flexible checksums are set to WHEN_REQUIRED: with the SDK default a streaming
 * PutObject is stored with its aws-chunked framing by some servers (s3rver, older MinIO) and comes back
 * corrupted. The sha256 is computed while streaming.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobNotFoundError, type BlobStore, type PutResult } from './blob-store.ts';
import { checkBlobKey } from './folder-blob-store.ts';

export interface S3BlobStoreOptions {
  bucket: string;
  /** key prefix inside the bucket, e.g. `huiying/` */
  prefix?: string;
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle?: boolean;
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return err?.name === 'NoSuchKey' || err?.name === 'NotFound' || err?.$metadata?.httpStatusCode === 404;
}

export class S3BlobStore implements BlobStore {
  readonly description: string;
  readonly client: S3Client;
  readonly bucket: string;
  readonly #prefix: string;

  constructor(o: S3BlobStoreOptions) {
    this.bucket = o.bucket;
    this.#prefix = o.prefix ?? '';
    const config: S3ClientConfig = {
      region: o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      forcePathStyle: o.forcePathStyle ?? o.endpoint !== undefined,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    const endpoint = o.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    if (endpoint !== undefined) config.endpoint = endpoint;
    if (o.accessKeyId !== undefined && o.secretAccessKey !== undefined) {
      config.credentials = { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey };
    }
    this.client = new S3Client(config);
    this.description = `s3://${o.bucket}${this.#prefix === '' ? '' : `/${this.#prefix}`}${endpoint !== undefined ? `@${endpoint}` : ''}`;
  }

  #key(key: string): string {
    return this.#prefix + checkBlobKey(key);
  }

  async putFile(key: string, sourcePath: string): Promise<PutResult> {
    const r = await this.putStream(key, createReadStream(sourcePath));
    await rm(sourcePath, { force: true });
    return r;
  }

  async putBuffer(
    key: string,
    data: Uint8Array,
    known?: { size: number; sha256: string },
  ): Promise<PutResult> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.#key(key),
        Body: data,
        ContentType: 'application/dicom',
      }),
    );
    return {
      key,
      size: known?.size ?? data.length,
      sha256: known?.sha256 ?? createHash('sha256').update(data).digest('hex'),
    };
  }

  async putStream(key: string, data: Readable): Promise<PutResult> {
    const k = this.#key(key);
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb): void {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    data.on('error', (e) => tap.destroy(e));
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: k, Body: data.pipe(tap), ContentType: 'application/dicom' },
      queueSize: 4,
      partSize: 8 * 1024 * 1024,
      leavePartsOnError: false,
    });
    await upload.done();
    return { key, size, sha256: hash.digest('hex') };
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.#key(key),
          ...(range !== undefined ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
      if (r.Body === undefined) throw new BlobNotFoundError(key);
      return r.Body as Readable;
    } catch (e) {
      if (isNotFound(e)) throw new BlobNotFoundError(key);
      throw e;
    }
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
      return { size: r.ContentLength ?? 0 };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
  }

  localPath(): undefined {
    return undefined;
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}
