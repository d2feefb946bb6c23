/**
 * Group commit for the index: concurrent ingests (several associations, STOW parts) are gathered into
 * one transaction. While a batch is being committed, newly arriving items queue up and form the next
 * batch, so a single sender never waits for a timer and many senders share each commit.
 * A batch that fails as a whole is retried item by item, so one bad instance cannot fail its neighbours.
 */
import type { ArchiveIndex, DuplicatePolicy, IndexInstance, IndexResult } from '../archive/ports.ts';

interface Pending {
  item: IndexInstance;
  resolve: (r: IndexResult) => void;
  reject: (e: unknown) => void;
}

export class GroupCommitter {
  readonly #index: ArchiveIndex;
  readonly #policy: DuplicatePolicy;
  readonly #batchSize: number;
  readonly #waitMs: number;
  #queue: Pending[] = [];
  #flushing = false;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #idle: Array<() => void> = [];
  /** number of transactions committed and instances in them (for metrics/tests) */
  stats = { batches: 0, instances: 0, largestBatch: 0 };

  constructor(index: ArchiveIndex, policy: DuplicatePolicy, batchSize: number, waitMs: number) {
    this.#index = index;
    this.#policy = policy;
    this.#batchSize = Math.max(1, batchSize);
    this.#waitMs = Math.max(0, waitMs);
  }

  submit(item: IndexInstance): Promise<IndexResult> {
    return new Promise<IndexResult>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves when every submitted item has been committed (or failed). */
  async drain(): Promise<void> {
    if (!this.#flushing && this.#queue.length === 0) return;
    await new Promise<void>((r) => this.#idle.push(r));
  }

  #schedule(): void {
    if (this.#flushing || this.#scheduled) return; // the running/pending flush picks the queue up
    if (this.#queue.length >= this.#batchSize) {
      this.#clearTimer();
      void this.#flush();
    } else if (this.#waitMs === 0) {
      // after the current I/O phase: instances whose data completed in the same loop turn join the batch
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.#flush();
      });
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#flush();
      }, this.#waitMs);
    }
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#batchSize);
        await this.#commit(batch);
      }
    } finally {
      this.#flushing = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const r of idle) r();
    }
  }

  async #commit(batch: Pending[]): Promise<void> {
    try {
      const results = await this.#index.indexInstances(
        batch.map((p) => p.item),
        this.#policy,
      );
      this.stats.batches++;
      this.stats.instances += batch.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
      batch.forEach((p, i) => {
        const r = results[i];
        if (r === undefined) p.reject(new Error('index returned fewer results than instances'));
        else p.resolve(r);
      });
    } catch (err) {
      if (batch.length === 1) {
        batch[0]?.reject(err);
        return;
      }
      // isolate the failing item(s)
      for (const p of batch) await this.#commit([p]);
    }
  }
}
