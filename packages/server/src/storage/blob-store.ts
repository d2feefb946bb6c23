/**
 * Blob storage port: where instance files (Part 10, stored as received) live.
 * Implementations: folder (default, `file:` / plain path) and S3-compatible (`s3://bucket?endpoint=…`).
 */
import type { Readable } from 'node:stream';

export interface PutResult {
  key: string;
  size: number;
  /** lowercase hex sha256 of the bytes written */
  sha256: string;
}

/** Size and digest the caller computed while writing the source file (saves re-reading it). */
export interface KnownContent {
  size: number;
  sha256: string;
  /** the caller already fsynced the file */
  synced: boolean;
}

export interface BlobStore {
  /** A short description for logs, e.g. `folder:/data/blobs` or `s3://bucket@http://127.0.0.1:4569`. */
  readonly description: string;
  /**
   * Store a local file (already fsynced by the caller or not) under `key`; durable when the promise resolves
   * (folder: rename + fsync of the directory; S3: upload acknowledged). The source file is consumed:
   * the folder store renames it when on the same filesystem, otherwise copies; the caller must not reuse it.
   */
  putFile(key: string, sourcePath: string, known?: KnownContent): Promise<PutResult>;
  /** Store bytes held in memory under `key` (durable when resolved); `known` saves hashing them again. */
  putBuffer(key: string, data: Uint8Array, known?: { size: number; sha256: string }): Promise<PutResult>;
  /** Store a stream under `key` (durable when resolved). */
  putStream(key: string, data: Readable): Promise<PutResult>;
  /** Read a whole blob or a byte range [start, end] (inclusive end, like HTTP). Rejects with BlobNotFoundError. */
  get(key: string, range?: { start: number; end?: number }): Promise<Readable>;
  /** Size in bytes, or undefined when absent. */
  stat(key: string): Promise<{ size: number } | undefined>;
  delete(key: string): Promise<void>;
  /** A local filesystem path when the store is a folder (fast paths may use it), else undefined. */
  localPath?(key: string): string | undefined;
  close(): Promise<void>;
}

export class BlobNotFoundError extends Error {
  constructor(key: string) {
    super(`blob not found: ${key}`);
    this.name = 'BlobNotFoundError';
  }
}
