/**
 * The audit hooks through real servers: DIMSE with DCMTK peers (storescu, findscu, echoscu), DICOMweb
 * (QIDO, WADO, STOW) with callers, and the fail-closed policy when the audit table is unusable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { needDcmtk, runDcmtk } from '../testing/dcmtk.ts';
import {
  startTestServer as startDimseServer,
  type TestServer as DimseTestServer,
} from '../testing/test-server.ts';
import {
  startTestServer as startWebServer,
  stow,
  type TestServer as WebTestServer,
} from '../dicomweb/test-helpers.ts';
import type { AuditLog } from './audit-log.ts';
import type { DatabaseHandle } from '../db/database.ts';

async function breakAuditStore(db: DatabaseHandle, audit: AuditLog): Promise<void> {
  await sql`alter table audit_events rename to audit_events_away`.execute(db.db);
  audit.record({ actorType: 'system', protocol: 'cli', action: 'probe', outcome: 'success' });
  await assert.rejects(audit.flush());
  assert.equal(audit.acceptingReads(), false);
}

async function repairAuditStore(db: DatabaseHandle, audit: AuditLog): Promise<void> {
  await sql`alter table audit_events_away rename to audit_events`.execute(db.db);
  for (let i = 0; i < 100 && !audit.acceptingReads(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(audit.acceptingReads(), true);
}

describe('DIMSE audit hooks with DCMTK peers', { skip: needDcmtk() }, () => {
  let srv: DimseTestServer;
  let work: string;
  const studyUid = makeUid();
  const files: string[] = [];
  const host = '127.0.0.1';
  const port = (): string => String(srv.dicomPort);
  const audit = (): AuditLog => srv.server.archive.audit;

  before(async () => {
    srv = await startDimseServer({ HUIYING_SYNC_MODE: 'normal' });
    work = await mkdtemp(join(tmpdir(), 'hy-audit-'));
    await srv.hospital('CHENCUN', { name: '陈村医院' });
    await srv.ae('CHENCUN_CT', 'CHENCUN');
    const seriesUid = makeUid();
    for (let i = 1; i <= 3; i++) {
      const f = join(work, `ct${i}.dcm`);
      await writeFile(
        f,
        makeInstance({
          patientId: 'AUD001',
          studyUid,
          seriesUid,
          sopUid: makeUid(),
          modality: 'CT',
          instanceNumber: i,
        }),
      );
      files.push(f);
    }
  });

  after(async () => {
    await srv?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function findscu(aet: string): Promise<{ code: number | null; out: string }> {
    const dump = join(work, 'q.dump');
    await writeFile(
      dump,
      ['(0008,0052) CS [STUDY]', '(0010,0020) LO [AUD001]', '(0020,000d) UI []'].join('\n') + '\n',
    );
    const q = join(work, 'q.dcm');
    assert.equal((await runDcmtk('dump2dcm', [dump, q])).code, 0);
    const r = await runDcmtk('findscu', ['-v', '-S', '-aet', aet, '-aec', 'HUIYING', host, port(), q]);
    return { code: r.code, out: r.stdout + r.stderr };
  }

  test('association rejected, C-STORE aggregated per study, C-FIND with keys and matches', async () => {
    const bad = await runDcmtk('echoscu', ['-aet', 'STRANGER', '-aec', 'HUIYING', host, port()]);
    assert.notEqual(bad.code, 0);
    const st = await runDcmtk('storescu', ['-aet', 'CHENCUN_CT', '-aec', 'HUIYING', host, port(), ...files]);
    assert.equal(st.code, 0, st.stderr);
    const f = await findscu('CHENCUN_CT');
    assert.equal(f.code, 0, f.out);
    await new Promise((r) => setTimeout(r, 100)); // association end → store event
    await audit().flush();

    const [rej] = await audit().search({ action: 'association_rejected' });
    assert.equal(rej?.actorId, 'STRANGER');
    assert.equal(rej?.outcome, 'denied');
    assert.match(rej?.source ?? '', /^STRANGER@127\.0\.0\.1/);

    const stores = await audit().search({ action: 'store' });
    assert.equal(stores.length, 1);
    assert.equal(stores[0]?.studyUid, studyUid);
    assert.equal(stores[0]?.actorId, 'CHENCUN_CT');
    assert.equal(stores[0]?.object, 'stored 3 instance(s)');

    const [q] = await audit().search({ action: 'query' });
    assert.equal(q?.patientId, 'AUD001');
    assert.equal(q?.object, 'C-FIND STUDY: 1 match(es)');
    assert.equal(q?.protocol, 'dimse');
    assert.ok((await audit().search({ action: 'association', actor: 'CHENCUN_CT' })).length >= 2);
    assert.equal((await audit().verify()).ok, true);
  });

  test('fail-closed: C-FIND refused (A700) while the audit store is broken; C-STORE still stored', async () => {
    const db = srv.server.archive.database;
    await breakAuditStore(db, audit());
    try {
      const f = await findscu('CHENCUN_CT');
      assert.match(f.out, /a700|Out ?of ?Resources/i);
      const extra = join(work, 'extra.dcm');
      await writeFile(
        extra,
        makeInstance({ patientId: 'AUD001', studyUid, seriesUid: makeUid(), sopUid: makeUid() }),
      );
      const st = await runDcmtk('storescu', ['-aet', 'CHENCUN_CT', '-aec', 'HUIYING', host, port(), extra]);
      assert.equal(st.code, 0, st.stderr);
    } finally {
      await repairAuditStore(db, audit());
    }
    assert.equal((await findscu('CHENCUN_CT')).code, 0);
  });
});

describe('DICOMweb audit hook', () => {
  let srv: WebTestServer;
  const studyUid = makeUid();
  const audit = (): AuditLog => {
    const a = srv.archive.audit;
    return a;
  };

  before(async () => {
    srv = await startWebServer();
    const r = await stow(srv.url, 'a', [makeInstance({ studyUid, patientId: 'WEB001', sopUid: makeUid() })]);
    assert.equal(r.status, 200);
  });
  after(async () => {
    await srv?.close();
  });

  test('QIDO, WADO metadata and retrieve, STOW and a refused request produce events with the caller', async () => {
    const qido = await fetch(`${srv.url}/studies?PatientID=WEB001`, { headers: { 'x-test-user': 'a' } });
    assert.equal(qido.status, 200);
    await qido.arrayBuffer();
    const meta = await fetch(`${srv.url}/studies/${studyUid}/metadata`, { headers: { 'x-test-user': 'a' } });
    assert.equal(meta.status, 200);
    await meta.arrayBuffer();
    const wado = await fetch(`${srv.url}/studies/${studyUid}`, { headers: { 'x-test-user': 'center' } });
    assert.equal(wado.status, 200);
    await wado.arrayBuffer();
    const anon = await fetch(`${srv.url}/studies`);
    assert.equal(anon.status, 401);
    await anon.arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
    await audit().flush();

    const [q] = await audit().search({ action: 'query', patientId: 'WEB001' });
    assert.equal(q?.protocol, 'dicomweb');
    assert.equal(q?.hospitalId, srv.hospitals.a.id);
    assert.equal(q?.object, '1 match(es)');
    assert.equal(q?.status, '200');
    assert.equal(q?.source, '127.0.0.1');
    const [m] = await audit().search({ action: 'view_metadata' });
    assert.equal(m?.studyUid, studyUid);
    const [w] = await audit().search({ action: 'retrieve', studyUid });
    assert.equal(w?.hospitalId, srv.hospitals.center.id);
    assert.equal(w?.object, '1 instance(s)');
    const [s] = await audit().search({ action: 'store' });
    assert.equal(s?.outcome, 'success');
    const [d] = await audit().search({ outcome: 'denied' });
    assert.equal(d?.actorType, 'anonymous');
    assert.equal(d?.status, '401');
    assert.equal((await audit().verify()).ok, true);
  });

  test('fail-closed: reads answer 503 while the audit store is broken; STOW still stores', async () => {
    const db = srv.archive.database;
    await breakAuditStore(db, audit());
    try {
      const r = await fetch(`${srv.url}/studies`, { headers: { 'x-test-user': 'a' } });
      assert.equal(r.status, 503);
      assert.match(await r.text(), /audit/);
      const st = await stow(srv.url, 'a', [
        makeInstance({ studyUid, patientId: 'WEB001', sopUid: makeUid() }),
      ]);
      assert.equal(st.status, 200);
    } finally {
      await repairAuditStore(db, audit());
    }
    const ok = await fetch(`${srv.url}/studies`, { headers: { 'x-test-user': 'a' } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
  });
});
