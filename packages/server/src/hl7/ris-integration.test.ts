/**
 * HL7 v2 over MLLP into the real reading workflow (ris/service.ts) of a real archive, on SQLite and
 * PostgreSQL: orders (NW/XO/CA), patient update (A08), merge (A40), duplicates, pipelining.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openArchive, type Archive } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { silentLog } from '../logger.ts';
import { createTestPostgresDatabase, needPostgres } from '../db/test-databases.ts';
import type { Hospital } from '../archive/ports.ts';
import { startHl7Listener, type Hl7Listener } from './listener.ts';
import { MllpClient } from './mllp.ts';
import { Hl7Repository } from './repository.ts';

const pgSkip = await needPostgres();

let seq = 0;
function orm(
  control: 'NW' | 'XO' | 'CA',
  acc: string,
  o: { pid?: string; items?: string[]; charset?: string } = {},
): string {
  const items = o.items ?? ['CT001^胸部CT平扫', 'CT002^上腹部CT平扫'];
  const msh = `MSH|^~\\&|HIS|CHENCUN|HUIYING|CENTER|20261126083000||ORM^O01|I${++seq}|P|2.5||||||${o.charset ?? 'GB 18030-2000'}`;
  return [
    msh,
    `PID|1||${o.pid ?? 'P001'}^^^CHENCUN^PI||Zhang^San~张^三||19800101|M|||||13800138000`,
    'PV1|1|E|急诊科',
    `ORC|${control}|PL${acc}|||||||20261126083000|||D001^李^医生||||||^患者要求取消`,
    ...items.map(
      (it, i) => `OBR|${i + 1}|PL${acc}||${it}|S||||||||突发胸痛2小时|||D001^李^医生||${acc}||||||CT`,
    ),
    'NTE|1||胸痛伴气促',
    'DG1|1||I21.9^急性心肌梗死？^ICD10',
  ].join('\r');
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(
    `HL7 into the reading workflow (${dialect})`,
    { skip: dialect === 'postgres' ? pgSkip : false },
    () => {
      let dir: string;
      let archive: Archive;
      let dropPg: (() => Promise<void>) | undefined;
      let listener: Hl7Listener;
      let client: MllpClient;
      let chencun: Hospital;

      before(async () => {
        dir = await mkdtemp(join(tmpdir(), 'huiying-hl7-'));
        let databaseUrl: string | undefined;
        if (dialect === 'postgres') {
          const pg = await createTestPostgresDatabase();
          databaseUrl = pg.url;
          dropPg = pg.drop;
        }
        const config = loadConfig({
          HUIYING_DATA_DIR: join(dir, 'data'),
          HUIYING_WORKFLOW_TICK_MS: '0',
          HUIYING_SYNC_MODE: 'normal',
          HUIYING_BIND_ADDRESS: '127.0.0.1',
          HUIYING_HL7_PORT: '0',
          ...(databaseUrl !== undefined ? { HUIYING_DATABASE_URL: databaseUrl } : {}),
        });
        archive = await openArchive(config, silentLog);
        chencun = await archive.hospitals.create({ code: 'CHENCUN', name: '陈村医院' });
        await new Hl7Repository(archive.database.db).addSender({
          hospitalId: chencun.id,
          sendingFacility: 'CHENCUN',
        });
        listener = await startHl7Listener({
          config,
          hospitals: archive.hospitals,
          ris: archive.ris,
          db: archive.database.db,
          log: silentLog,
          audit: archive.audit,
        });
        client = new MllpClient({ host: '127.0.0.1', port: listener.port });
      });

      after(async () => {
        await client?.close();
        await listener?.close();
        await archive?.close();
        await dropPg?.();
        await rm(dir, { recursive: true, force: true });
      });

      test('NW creates the exam (GB18030, two items); a resend is acknowledged without a second exam', async () => {
        const text = orm('NW', 'H0001');
        const ack = await client.sendMessage(text);
        assert.equal(ack.code, 'AA', ack.text);
        const exam = await archive.ris.findExamByAccession(chencun.id, 'H0001');
        assert.ok(exam);
        assert.equal(exam.status, 'registered');
        assert.equal(exam.source, 'hl7');
        assert.equal(exam.patient.name, 'Zhang^San=张^三');
        assert.equal(exam.patient.issuer, 'CHENCUN');
        assert.deepEqual(
          exam.examItems.map((i) => i.name),
          ['胸部CT平扫', '上腹部CT平扫'],
        );
        assert.equal(exam.modality, 'CT');
        assert.equal(exam.priority, 'emergency');
        assert.equal(exam.patientClass, 'emergency');
        assert.equal(exam.clinicalHistory, '突发胸痛2小时');
        assert.equal(exam.symptoms, '胸痛伴气促');
        assert.equal(exam.clinicalDiagnosis, '急性心肌梗死？');
        assert.equal(exam.requestingPhysician, '李医生');
        const again = await client.sendMessage(text);
        assert.equal(again.code, 'AA');
        const msgs = await new Hl7Repository(archive.database.db).listMessages({ limit: 2 });
        assert.deepEqual(
          msgs.messages.map((m) => m.outcome),
          ['duplicate', 'accepted'],
        );
        assert.equal(msgs.messages[1]?.examId, exam.id);
      });

      test('XO changes the order, CA cancels it, CA of an unknown order is AE', async () => {
        assert.equal((await client.sendMessage(orm('NW', 'H0002'))).code, 'AA');
        const xo = await client.sendMessage(orm('XO', 'H0002', { items: ['CT010^胸部CT增强'] }));
        assert.equal(xo.code, 'AA', xo.text);
        const changed = await archive.ris.findExamByAccession(chencun.id, 'H0002');
        assert.deepEqual(
          changed?.examItems.map((i) => i.name),
          ['胸部CT增强'],
        );
        const ca = await client.sendMessage(orm('CA', 'H0002'));
        assert.equal(ca.code, 'AA', ca.text);
        assert.equal((await archive.ris.findExamByAccession(chencun.id, 'H0002'))?.status, 'cancelled');
        const unknown = await client.sendMessage(orm('CA', 'NOSUCH'));
        assert.equal(unknown.code, 'AE');
        assert.equal(unknown.errors[0]?.code, '204');
      });

      test('A08 updates the patient; A40 merges the prior patient into the survivor', async () => {
        assert.equal((await client.sendMessage(orm('NW', 'H0003', { pid: 'P002' }))).code, 'AA');
        const a08 = [
          `MSH|^~\\&|HIS|CHENCUN|HUIYING|CENTER|20261126090000||ADT^A08^ADT_A01|I${++seq}|P|2.5||||||UNICODE UTF-8`,
          'EVN|A08|20261126090000',
          'PID|1||P002^^^CHENCUN||Li^Si~李^四||19700202|F|||||13900139000',
        ].join('\r');
        const u = await client.sendMessage(a08);
        assert.equal(u.code, 'AA', u.text);
        const p2 = await archive.ris.findPatient(chencun.id, 'P002', 'CHENCUN');
        assert.equal(p2?.name, 'Li^Si=李^四');
        assert.equal(p2?.birthDate, '19700202');
        const a40 = [
          `MSH|^~\\&|HIS|CHENCUN|HUIYING|CENTER|20261126090000||ADT^A40^ADT_A39|I${++seq}|P|2.5||||||UNICODE UTF-8`,
          'EVN|A40|20261126090000',
          'PID|1||P001^^^CHENCUN||Zhang^San~张^三||19800101|M',
          'MRG|P002^^^CHENCUN',
        ].join('\r');
        const m = await client.sendMessage(a40);
        assert.equal(m.code, 'AA', m.text);
        const p1 = await archive.ris.findPatient(chencun.id, 'P001', 'CHENCUN');
        const merged = await archive.ris.findPatient(chencun.id, 'P002', 'CHENCUN');
        assert.equal(merged?.mergedInto, p1?.id);
        assert.equal((await archive.ris.findExamByAccession(chencun.id, 'H0003'))?.patient.patientId, 'P001');
      });

      test('50 orders pipelined on one connection: 50 AA in order, 50 exams', async () => {
        const accs = Array.from({ length: 50 }, (_, i) => `HP${String(i).padStart(4, '0')}`);
        const acks = await Promise.all(accs.map((a) => client.sendMessage(orm('NW', a, { pid: `PP${a}` }))));
        assert.ok(
          acks.every((a) => a.code === 'AA'),
          acks.find((a) => a.code !== 'AA')?.text,
        );
        for (const a of accs) assert.ok(await archive.ris.findExamByAccession(chencun.id, a), a);
      });
    },
  );
}
