/** A ~400 MB instance streams SCU -> SCP with bounded memory (no whole-dataset buffering anywhere). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { DimseServer } from './server.ts';
import { connect } from './client.ts';
import { SopClass, TransferSyntax } from './uids.ts';

const TOTAL = 400 * 1024 * 1024;

function syntheticDataset(total: number): Readable {
  let sent = 0;
  return new Readable({
    highWaterMark: 256 * 1024,
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(256 * 1024, total - sent);
      const b = Buffer.allocUnsafe(n);
      b.fill(sent & 0xff);
      sent += n;
      this.push(b);
    },
  });
}

test('streaming a 400 MB instance keeps RSS growth under 150 MB (buffering it would need 400 MB)', async () => {
  let received = 0;
  let slowReads = 0;
  const server = new DimseServer<null>({
    aeTitle: 'SCP',
    port: 0,
    host: '127.0.0.1',
    maxPduLength: 256 * 1024,
    handlers: {
      onAssociate: () => Promise.resolve({ accept: null }),
      async store(_ctx, _req, data) {
        for await (const c of data) {
          received += (c as Buffer).length;
          // a slow consumer now and then: the socket must be paused, not buffered
          if (++slowReads % 500 === 0) await new Promise((r) => setTimeout(r, 5));
        }
        return { status: 0 };
      },
    },
  });
  const { port } = await server.listen();
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const a = await connect({
      host: '127.0.0.1',
      port,
      callingAeTitle: 'SCU',
      calledAeTitle: 'SCP',
      contexts: [
        {
          abstractSyntax: SopClass.CtImageStorage,
          transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
        },
      ],
    });
    const r = await a.store({
      sopClassUid: SopClass.CtImageStorage,
      sopInstanceUid: '1.2.3',
      transferSyntax: TransferSyntax.ExplicitVRLittleEndian,
      data: syntheticDataset(TOTAL),
    });
    assert.equal(r.status, 0);
    await a.release();
  } finally {
    clearInterval(timer);
    await server.close();
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  assert.equal(received, TOTAL);
  const growthMb = (peak - base) / 1024 / 1024;
  assert.ok(growthMb < 150, `RSS grew by ${growthMb.toFixed(1)} MB`);
});
