import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needOrthanc, startOrthanc } from '../testing/orthanc.ts';
import { needCommand } from '../testing/peers.ts';
import { openFixture } from '../reporting/test-fixture.ts';
import { ENCAPSULATED_PDF_STORAGE } from '../reporting/encapsulated-pdf.ts';
import { OutboxWorker } from './outbox.ts';
import { createDeliver } from './channels.ts';

const skip = needOrthanc() || needCommand('pdftotext');

test(
  'Orthanc as a member PACS receives the signed report as Encapsulated PDF (same study), once',
  { skip },
  async () => {
    const orthanc = await startOrthanc({ aet: 'CHENCUN_PACS' });
    const f = await openFixture('sqlite');
    const dir = await mkdtemp(join(tmpdir(), 'hy-epdf-'));
    try {
      await f.archive.aes.create({
        aeTitle: 'CHENCUN_PACS',
        hospitalId: f.chencun.id,
        host: '127.0.0.1',
        port: orthanc.dicomPort,
      });
      await f.repo.createChannel(
        {
          hospitalId: f.chencun.id,
          kind: 'dicom',
          name: '陈村 PACS',
          config: { aeTitle: 'CHENCUN_PACS' },
          enabled: true,
        },
        new Date().toISOString(),
      );
      await f.setReview(f.chencun, 'never');
      const exam = await f.matchedExam(f.chencun, { patientName: 'Wang^Wu=王^五' });
      const findings = '头颅CT平扫：脑实质内未见异常密度影，脑室系统未见扩大。';
      const impression = '头颅CT平扫未见明显异常。';
      const r = await f.reporting.saveDraft(exam.id, { findings, impression }, undefined, f.users.chief);
      const s = await f.reporting.submit(exam.id, r.version, f.users.chief);
      assert.ok(s.signed !== null);

      const deliver = createDeliver({
        store: f.repo,
        ris: f.ris,
        hospitals: f.archive.hospitals,
        aes: f.archive.aes,
        ingest: f.archive.ingest,
        aeTitle: 'HUIYING',
      });
      const worker = new OutboxWorker({ db: f.archive.database.db, deliver, pollMs: 0 });
      assert.equal(await worker.runOnce(), 2);
      const rows = await f.repo.outbox({ reportId: s.report.id });
      const dicom = rows.find((o) => o.channelKind === 'dicom');
      assert.equal(dicom?.state, 'delivered', dicom?.lastError ?? '');
      assert.match(dicom?.receipt ?? '', /^C-STORE 0x0000 2\.25\.\d+$/);

      const ids = await orthanc.restJson<string[]>('/instances');
      assert.equal(ids.length, 1);
      const tags = await orthanc.restJson<Record<string, string>>(`/instances/${ids[0]}/simplified-tags`);
      assert.equal(tags.SOPClassUID, ENCAPSULATED_PDF_STORAGE);
      assert.equal(tags.StudyInstanceUID, exam.studyInstanceUid);
      assert.equal(tags.AccessionNumber, exam.accessionNumber);
      assert.equal(tags.MIMETypeOfEncapsulatedDocument, 'application/pdf');
      assert.equal(tags.PatientName, 'Wang^Wu=王^五');
      assert.equal(tags.Modality, 'DOC');
      const pdf = Buffer.from(await (await orthanc.rest(`/instances/${ids[0]}/pdf`)).arrayBuffer());
      await writeFile(join(dir, 'r.pdf'), pdf);
      const text = execFileSync('pdftotext', ['-enc', 'UTF-8', join(dir, 'r.pdf'), '-'], {
        encoding: 'utf8',
      }).replace(/\s+/g, '');
      assert.ok(text.includes(findings), text);
      assert.ok(text.includes(impression), text);
      assert.ok(text.includes('陈村医院'), text);

      // a resend of the same version (e.g. after a lost C-STORE-RSP) is the same SOP instance: one copy
      if (dicom === undefined) throw new Error('no dicom row');
      await deliver(dicom);
      assert.equal((await orthanc.restJson<string[]>('/instances')).length, 1);
    } finally {
      await f.close();
      await orthanc.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
