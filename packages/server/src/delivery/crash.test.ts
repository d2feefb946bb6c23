import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { testDatabaseKinds } from '../db/test-databases.ts';
import { MllpServer } from '../hl7/mllp.ts';
import { openFixture } from '../reporting/test-fixture.ts';
import { createDeliver } from './channels.ts';
import { OutboxWorker } from './outbox.ts';

const CHILD = join(import.meta.dirname, 'crash-child.ts');

for (const kind of await testDatabaseKinds()) {
  describe(`outbox after kill -9 on ${kind.dialect}`, { skip: kind.skip }, () => {
    test('a node killed in the middle of an HL7 delivery: the row is reclaimed after its lease and delivered with the same control id', async () => {
      const f = await openFixture(kind.dialect);
      const got: string[] = [];
      let answer = false;
      const releases: (() => void)[] = [];
      const server = new MllpServer({
        host: '127.0.0.1',
        port: 0,
        onMessage: (raw) => {
          const controlId = raw.subarray(0, raw.indexOf(0x0d)).toString('latin1').split('|')[9] ?? '';
          got.push(controlId);
          const ack = Buffer.from(
            `MSH|^~\\&|HIS|H|HUIYING|CENTER|20260101000000||ACK^R01^ACK|A${got.length}|P|2.5.1\rMSA|AA|${controlId}`,
          );
          if (answer) return Promise.resolve(ack);
          // the first delivery never gets its ACK: the sender dies waiting
          return new Promise<Buffer>((resolve) => releases.push(() => resolve(ack)));
        },
        onOversized: () => Promise.resolve(Buffer.from('')),
      });
      const { port } = await server.listen();
      try {
        await f.repo.createChannel(
          {
            hospitalId: f.xingtan.id,
            kind: 'hl7',
            name: 'HIS',
            config: { host: '127.0.0.1', port },
            enabled: true,
          },
          new Date().toISOString(),
        );
        await f.setReview(f.xingtan, 'never');
        const exam = await f.matchedExam(f.xingtan);
        const r = await f.reporting.saveDraft(
          exam.id,
          { findings: '双侧胸腔少量积液。', impression: '双侧胸腔积液。' },
          undefined,
          f.users.attending,
        );
        await f.reporting.submit(exam.id, r.version, f.users.attending);

        const child = spawn(
          process.execPath,
          [CHILD, f.dataDir, ...(f.databaseUrl !== undefined ? [f.databaseUrl] : [])],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // wait until the HIS has the message, then kill the sender before it reads the ACK
        for (let i = 0; i < 600 && got.length === 0; i++) {
          if (child.exitCode !== null) break;
          await new Promise((res) => setTimeout(res, 50));
        }
        assert.equal(got.length, 1, `the child sent nothing: ${stderr}`);
        child.kill('SIGKILL');
        await exited;

        const rows = await f.repo.outbox({});
        const hl7 = rows.find((o) => o.channelKind === 'hl7');
        assert.equal(hl7?.state, 'delivering');
        assert.equal(hl7.attempts, 1);
        assert.equal(got[0], hl7.idempotencyKey);

        // a restarted node: nothing before the lease expires, then the row is delivered again
        let offset = 0;
        const worker = new OutboxWorker({
          db: f.archive.database.db,
          deliver: createDeliver({
            store: f.repo,
            ris: f.ris,
            hospitals: f.archive.hospitals,
            aes: f.archive.aes,
            ingest: f.archive.ingest,
            aeTitle: 'HUIYING',
            timeoutMs: 5000,
          }),
          pollMs: 0,
          now: () => new Date(Date.now() + offset),
        });
        answer = true;
        const before = await worker.runOnce();
        assert.equal((await f.repo.outboxEntry(hl7.id))?.state, 'delivering', `attempted ${before}`);
        offset = 61_000;
        await worker.runOnce();
        const after = await f.repo.outboxEntry(hl7.id);
        assert.equal(after?.state, 'delivered', after?.lastError ?? '');
        assert.equal(after.attempts, 2);
        // the HIS saw the same control id twice and can drop the repeat
        assert.deepEqual(got, [hl7.idempotencyKey, hl7.idempotencyKey]);
        assert.ok((await f.repo.outbox({})).every((o) => o.state === 'delivered'));
      } finally {
        for (const r of releases) r();
        await server.close();
        await f.close();
      }
    });
  });
}
