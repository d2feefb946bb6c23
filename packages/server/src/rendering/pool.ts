/**
 * A small pool of worker threads for decoding and VOI rendering (J2K of a 2000×2500 CR takes ~200 ms;
 * that must not stall DIMSE or HTTP traffic on the main loop). `size` 0 runs jobs inline (tests,
 * benchmarks). A worker that dies fails its job and is replaced.
 */
import { Worker } from 'node:worker_threads';
import {
  initCodecs,
  runJob,
  type DecodeJob,
  type DecodeResult,
  type Job,
  type RenderJob,
  type RenderResult,
} from './codec.ts';

interface Pending {
  job: Job;
  transfer: ArrayBuffer[];
  resolve: (v: RenderResult | DecodeResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy?: { id: number; pending: Pending };
}

export class CodecError extends Error {}

export class RenderPool {
  readonly #size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #closed = false;

  constructor(size: number) {
    this.#size = Math.max(0, Math.floor(size));
  }

  render(job: RenderJob): Promise<RenderResult> {
    return this.#run(job, [job.part10]) as Promise<RenderResult>;
  }

  decode(job: DecodeJob): Promise<DecodeResult> {
    return this.#run(job, [job.data]) as Promise<DecodeResult>;
  }

  async #run(job: Job, transfer: ArrayBuffer[]): Promise<RenderResult | DecodeResult> {
    if (this.#closed) throw new CodecError('render pool is closed');
    if (this.#size === 0) {
      await initCodecs();
      try {
        return runJob(job);
      } catch (err) {
        throw new CodecError(err instanceof Error ? err.message : String(err));
      }
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, transfer, resolve, reject });
      this.#pump();
    });
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./worker.ts', import.meta.url));
    worker.unref();
    const slot: Slot = { worker };
    worker.on('message', (msg: { id: number; result?: RenderResult | DecodeResult; error?: string }) => {
      const busy = slot.busy;
      if (busy === undefined || busy.id !== msg.id) return;
      slot.busy = undefined;
      if (msg.error !== undefined) busy.pending.reject(new CodecError(msg.error));
      else busy.pending.resolve(msg.result!);
      this.#pump();
    });
    const fail = (err: Error): void => {
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots.splice(i, 1);
      slot.busy?.pending.reject(new CodecError(`render worker failed: ${err.message}`));
      slot.busy = undefined;
      if (!this.#closed) this.#pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.#slots.includes(slot)) fail(new Error(`exited with code ${code}`));
    });
    this.#slots.push(slot);
    return slot;
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.busy === undefined);
      if (slot === undefined && this.#slots.length < this.#size) slot = this.#spawn();
      if (slot === undefined) return;
      const pending = this.#queue.shift()!;
      const id = this.#nextId++;
      slot.busy = { id, pending };
      slot.worker.ref();
      slot.worker.postMessage({ id, job: pending.job }, pending.transfer);
    }
    for (const s of this.#slots) if (s.busy === undefined) s.worker.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const slots = this.#slots.splice(0);
    for (const p of this.#queue.splice(0)) p.reject(new CodecError('render pool is closed'));
    for (const s of slots) s.busy?.pending.reject(new CodecError('render pool is closed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
