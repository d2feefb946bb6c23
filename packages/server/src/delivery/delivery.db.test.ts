import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import iconv from 'iconv-lite';
import { testDatabaseKinds } from '../db/test-databases.ts';
import { MllpServer } from '../hl7/mllp.ts';
import type { Exam } from '../ris/model.ts';
import type { Hospital } from '../archive/ports.ts';
import { openFixture, type Fixture } from '../reporting/test-fixture.ts';
import type { OutboxEntry } from '../reporting/model.ts';
import { OutboxWorker } from './outbox.ts';
import { createDeliver } from './channels.ts';
import { ENCAPSULATED_PDF_STORAGE } from '../reporting/encapsulated-pdf.ts';

const FINDINGS = '肝脏形态、大小正常，肝实质密度均匀；胆囊不大，壁不厚。\n脾、胰腺未见异常。';
const IMPRESSION = '上腹部CT平扫未见明显异常。';

interface Received {
  raw: Buffer;
  controlId: string;
}

/** An MLLP listener answering with the codes in `answers` (then AA). */
async function hl7Listener(
  answers: string[],
  encoding = 'utf8',
): Promise<{ port: number; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = new MllpServer({
    host: '127.0.0.1',
    port: 0,
    onMessage: (raw) => {
      const msh = raw.subarray(0, raw.indexOf(0x0d)).toString('latin1').split('|');
      const controlId = msh[9] ?? '';
      got.push({ raw, controlId });
      const code = answers.shift() ?? 'AA';
      const err = code === 'AA' ? '' : '\rERR|||207^Application internal error^HL70357|E||||数据库繁忙';
      // the acknowledgement in the message's charset (no MSH-18, as many HIS answer)
      return Promise.resolve(
        iconv.encode(
          `MSH|^~\\&|HIS|H|HUIYING|CENTER|20260101000000||ACK^R01^ACK|A${got.length}|P|2.5.1\rMSA|${code}|${controlId}${err}`,
          encoding,
        ),
      );
    },
    onOversized: () => Promise.resolve(Buffer.from('')),
  });
  const { port } = await server.listen();
  return { port, got, close: () => server.close() };
}

async function signDirect(f: Fixture, h: Hospital): Promise<{ exam: Exam; versionId: number }> {
  await f.setReview(h, 'never');
  const exam = await f.matchedExam(h, { patientName: 'Li^Si=李^四' });
  const r = await f.reporting.saveDraft(
    exam.id,
    { findings: FINDINGS, impression: IMPRESSION, positive: false },
    undefined,
    f.users.attending,
  );
  const s = await f.reporting.submit(exam.id, r.version, f.users.attending);
  assert.ok(s.signed !== null);
  return { exam, versionId: s.signed.id };
}

function byKind(rows: OutboxEntry[], kind: string, hospitalId: number): OutboxEntry {
  const r = rows.find((o) => o.channelKind === kind && o.hospitalId === hospitalId);
  assert.ok(r !== undefined, `${kind} row of hospital ${hospitalId}`);
  return r;
}

for (const kind of await testDatabaseKinds()) {
  describe(`report delivery on ${kind.dialect}`, { skip: kind.skip }, () => {
    test('ORU over MLLP in GB18030 and UTF-8, NAK and a down FHIR endpoint retried with backoff, archive copy, one delivery per row', async () => {
      const f = await openFixture(kind.dialect);
      const gb = await hl7Listener(['AE'], 'gb18030');
      const utf = await hl7Listener([]);
      const fhirGot: { body: string; ifNoneExist: string | undefined }[] = [];
      let fhirDown = true;
      const http = createServer((req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (fhirDown) {
            res.writeHead(503, { 'content-type': 'application/fhir+json' });
            res.end(
              JSON.stringify({
                resourceType: 'OperationOutcome',
                issue: [{ diagnostics: '维护中 maintenance' }],
              }),
            );
            return;
          }
          fhirGot.push({
            body: Buffer.concat(chunks).toString('utf8'),
            ifNoneExist: req.headers['if-none-exist'] as string | undefined,
          });
          res.writeHead(201, { location: `${req.url ?? ''}/dr1/_history/1` });
          res.end('{}');
        });
      });
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
      const httpPort = (http.address() as AddressInfo).port;
      try {
        const now = new Date().toISOString();
        await f.repo.createChannel(
          {
            hospitalId: f.chencun.id,
            kind: 'hl7',
            name: '陈村 HIS',
            config: { host: '127.0.0.1', port: gb.port },
            enabled: true,
          },
          now,
        );
        await f.repo.createChannel(
          {
            hospitalId: f.chencun.id,
            kind: 'fhir',
            name: '陈村 FHIR',
            config: { baseUrl: `http://127.0.0.1:${httpPort}/fhir/` },
            enabled: true,
          },
          now,
        );
        await f.repo.createChannel(
          {
            hospitalId: f.xingtan.id,
            kind: 'hl7',
            name: '杏坛 HIS',
            config: { host: '127.0.0.1', port: utf.port, charset: 'UTF-8' },
            enabled: true,
          },
          now,
        );
        const a = await signDirect(f, f.chencun);
        const b = await signDirect(f, f.xingtan);

        let offset = 0;
        const deliver = createDeliver({
          store: f.repo,
          ris: f.ris,
          hospitals: f.archive.hospitals,
          aes: f.archive.aes,
          ingest: f.archive.ingest,
          aeTitle: 'HUIYING',
          timeoutMs: 5000,
        });
        const mk = (): OutboxWorker =>
          new OutboxWorker({
            db: f.archive.database.db,
            deliver,
            pollMs: 0,
            now: () => new Date(Date.now() + offset),
          });
        const w1 = mk();
        const w2 = mk();
        // two workers on the same database: every row is attempted by exactly one of them
        const [n1, n2] = await Promise.all([w1.runOnce(), w2.runOnce()]);
        assert.equal(n1 + n2, 5); // chencun: archive, hl7, fhir; xingtan: archive, hl7

        let rows = await f.repo.outbox({});
        assert.equal(rows.length, 5);
        // UTF-8 hospital delivered at once
        const ux = byKind(rows, 'hl7', f.xingtan.id);
        assert.equal(ux.state, 'delivered');
        assert.equal(ux.attempts, 1);
        assert.match(ux.receipt ?? '', /^MSA\|AA\|/);
        assert.equal(utf.got.length, 1);
        const utfText = utf.got[0]?.raw.toString('utf8') ?? '';
        assert.match(utfText, /\|UNICODE UTF-8(\r|$)/);
        assert.ok(
          utfText.includes('肝脏形态、大小正常，肝实质密度均匀；胆囊不大，壁不厚。\\.br\\脾、胰腺未见异常。'),
          utfText,
        );
        assert.ok(utfText.includes('|李^四~Li^Si|'), utfText);
        assert.equal(utf.got[0]?.controlId, ux.idempotencyKey);
        assert.ok(ux.idempotencyKey.startsWith(`${b.versionId}:`));

        // GB18030 hospital: NAK'd first → pending with backoff and a clear error
        const gx = byKind(rows, 'hl7', f.chencun.id);
        assert.equal(gx.state, 'pending');
        assert.equal(gx.attempts, 1);
        assert.match(gx.lastError ?? '', /HL7 NAK AE .*数据库繁忙/);
        assert.ok(Date.parse(gx.nextAt) > Date.now() + 3000, 'backoff');
        const fx = byKind(rows, 'fhir', f.chencun.id);
        assert.equal(fx.state, 'pending');
        assert.match(fx.lastError ?? '', /HTTP 503 维护中 maintenance/);
        // archive copies stored through the ingest pipeline, same study as the exam
        for (const h of [f.chencun, f.xingtan]) {
          const ar = byKind(rows, 'archive', h.id);
          assert.equal(ar.state, 'delivered', ar.lastError ?? '');
        }
        const stored = await f.archive.database.db
          .selectFrom('instances')
          .innerJoin('studies', 'studies.id', 'instances.study_fk')
          .select(['instances.sop_class_uid', 'studies.study_instance_uid', 'instances.hospital_id'])
          .where('instances.sop_class_uid', '=', ENCAPSULATED_PDF_STORAGE)
          .execute();
        assert.equal(stored.length, 2);
        assert.ok(
          stored.some(
            (s) => s.study_instance_uid === a.exam.studyInstanceUid && s.hospital_id === f.chencun.id,
          ),
        );

        // nothing is due before the backoff expires
        assert.equal(await w1.runOnce(), 0);
        // later: the endpoint is back, the HIS accepts
        fhirDown = false;
        offset = 10 * 60_000;
        assert.equal(await w2.runOnce(), 2);
        rows = await f.repo.outbox({});
        assert.ok(
          rows.every((r) => r.state === 'delivered'),
          JSON.stringify(rows.map((r) => [r.channelKind, r.state, r.lastError])),
        );
        // the resend after the NAK carried the same control id; Chinese intact in GB18030
        assert.equal(gb.got.length, 2);
        assert.equal(gb.got[0]?.controlId, gb.got[1]?.controlId);
        assert.equal(gb.got[1]?.controlId, gx.idempotencyKey);
        const raw = gb.got[1]?.raw ?? Buffer.alloc(0);
        assert.equal(raw.indexOf(Buffer.from('肝脏', 'utf8')), -1, 'not UTF-8');
        const gbText = iconv.decode(raw, 'gb18030');
        assert.match(gbText, /\|GB 18030-2000(\r|$)/);
        assert.ok(gbText.includes(IMPRESSION), gbText);
        assert.ok(
          gbText.includes('OBX|2|TX|IMPRESSION^诊断意见^L||上腹部CT平扫未见明显异常。||||||F'),
          gbText,
        );
        // FHIR: conditional create with the version identifier, references, PDF attached
        assert.equal(fhirGot.length, 1);
        assert.equal(
          fhirGot[0]?.ifNoneExist,
          `identifier=${encodeURIComponent(`urn:huiying:report-version|${fx.idempotencyKey}`)}`,
        );
        const dr = JSON.parse(fhirGot[0]?.body ?? '{}') as {
          status: string;
          conclusion: string;
          imagingStudy: { identifier: { value: string } }[];
          basedOn: { identifier: { value: string } }[];
          presentedForm: { contentType: string; data: string }[];
        };
        assert.equal(dr.status, 'final');
        assert.equal(dr.conclusion, IMPRESSION);
        assert.equal(dr.imagingStudy[0]?.identifier.value, `urn:oid:${a.exam.studyInstanceUid}`);
        assert.equal(dr.basedOn[0]?.identifier.value, a.exam.accessionNumber);
        assert.equal(
          Buffer.from(dr.presentedForm[0]?.data ?? '', 'base64')
            .subarray(0, 5)
            .toString(),
          '%PDF-',
        );
        assert.match(
          byKind(rows, 'fhir', f.chencun.id).receipt ?? '',
          /^HTTP 201 \/fhir\/DiagnosticReport\/dr1/,
        );

        // an administrator retry of a delivered row is refused; nothing more is sent
        await assert.rejects(f.repo.retryOutbox(gx.id, new Date().toISOString()), /only failed or pending/);
        assert.equal(await w1.runOnce(), 0);
        assert.equal(gb.got.length, 2);
      } finally {
        await gb.close();
        await utf.close();
        await new Promise((r) => http.close(r));
        await f.close();
      }
    });

    test('a claim whose node died is taken over after the lease; max attempts → failed; admin retry', async () => {
      const f = await openFixture(kind.dialect);
      const his = await hl7Listener(['AE', 'AE']);
      try {
        await f.repo.createChannel(
          {
            hospitalId: f.xingtan.id,
            kind: 'hl7',
            name: 'HIS',
            config: { host: '127.0.0.1', port: his.port },
            enabled: true,
          },
          new Date().toISOString(),
        );
        const f2 = await signDirect(f, f.xingtan);
        let offset = 0;
        const clock = (): Date => new Date(Date.now() + offset);
        const deliver = createDeliver({
          store: f.repo,
          ris: f.ris,
          hospitals: f.archive.hospitals,
          aes: f.archive.aes,
          ingest: f.archive.ingest,
          aeTitle: 'HUIYING',
          timeoutMs: 5000,
        });
        // a node claims the HL7 row and dies before answering (no completion is ever written)
        const dead = new OutboxWorker({
          db: f.archive.database.db,
          deliver,
          pollMs: 0,
          now: clock,
          leaseMs: 60_000,
        });
        const rows = await f.repo.outbox({});
        const hl7 = rows.find((r) => r.channelKind === 'hl7');
        assert.ok(hl7 !== undefined);
        assert.ok(hl7.idempotencyKey.startsWith(`${f2.versionId}:`));
        const claimed = await dead.claim(hl7.id);
        assert.equal(claimed?.state, 'delivering');
        const worker = new OutboxWorker({
          db: f.archive.database.db,
          deliver,
          pollMs: 0,
          now: clock,
          maxAttempts: 3,
        });
        // within the lease nobody else touches it (the archive row is delivered meanwhile)
        assert.equal(await worker.runOnce(), 1);
        assert.equal((await f.repo.outboxEntry(hl7.id))?.state, 'delivering');
        assert.equal(await dead.claim(hl7.id), undefined);
        // after the lease: attempt 2 (NAK) → pending; attempt 3 (NAK) → failed (max 3)
        offset = 61_000;
        assert.equal(await worker.runOnce(), 1);
        let e = await f.repo.outboxEntry(hl7.id);
        assert.equal(e?.state, 'pending');
        assert.equal(e?.attempts, 2);
        offset = 10 * 60_000;
        assert.equal(await worker.runOnce(), 1);
        e = await f.repo.outboxEntry(hl7.id);
        assert.equal(e?.state, 'failed');
        assert.equal(e?.attempts, 3);
        assert.match(e?.lastError ?? '', /NAK AE/);
        assert.equal(await worker.runOnce(), 0);
        // the administrator retries it: delivered, same control id every time
        await f.repo.retryOutbox(hl7.id, clock().toISOString());
        assert.equal(await worker.runOnce(), 1);
        assert.equal((await f.repo.outboxEntry(hl7.id))?.state, 'delivered');
        assert.equal(his.got.length, 3);
        assert.ok(his.got.every((g) => g.controlId === hl7.idempotencyKey));
        // the stale claim of the dead node can no longer complete or fail the row
        assert.equal(await dead.claim(hl7.id), undefined);
      } finally {
        await his.close();
        await f.close();
      }
    });
  });
}
