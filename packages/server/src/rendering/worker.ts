/** Worker thread for the render pool: runs codec jobs off the main event loop. */
import { parentPort } from 'node:worker_threads';
import { initCodecs, runJob, type Job } from './codec.ts';

interface Request {
  id: number;
  job: Job;
}

const port = parentPort;
if (port !== null) {
  port.on('message', (msg: Request) => {
    void (async () => {
      try {
        await initCodecs();
        const result = runJob(msg.job);
        const transfer = 'rgba' in result ? [result.rgba] : [result.raw];
        port.postMessage({ id: msg.id, result }, transfer);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        // a WebAssembly trap may leave the codec's memory inconsistent: answer, then let the pool
        // replace this worker
        const fatal = err instanceof Error && err.name === 'RuntimeError';
        port.postMessage({ id: msg.id, error: fatal ? `codec aborted (${message})` : message });
        if (fatal) process.exit(1);
      }
    })();
  });
}
