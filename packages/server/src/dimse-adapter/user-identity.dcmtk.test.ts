/**
 * DIMSE user identity negotiation (username + passcode) under the hospital policy, with DCMTK's storescu
 * (the only DCMTK 3.6.7 SCU with --user/--password) and our own SCU (C-ECHO, C-FIND); HTTP Basic for
 * DICOMweb service accounts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { decodeDataset, encodeDataset } from '@huiying/dicom';
import { connect, type UserIdentity } from '@huiying/dimse';
import { needDcmtk, runDcmtk } from '../testing/dcmtk.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { KyselyHospitalRepository } from '../archive/index-repositories.ts';
import { hashPassword } from '../accounts/passwords.ts';

const skip = needDcmtk();
const host = '127.0.0.1';
const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const VERIFICATION = '1.2.840.10008.1.1';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const PW = 'Str0ng-Passw0rd!';

describe('DIMSE user identity and HTTP Basic', { skip }, () => {
  let srv: TestServer;
  let work: string;
  let file: string;
  const studyUid = makeUid();

  const user = async (
    username: string,
    hospitalCode: string,
    roles: string[],
    opts: { mustChange?: boolean } = {},
  ): Promise<number> => {
    const a = srv.server.archive;
    const h = await a.hospitals.byCode(hospitalCode);
    assert.ok(h);
    const { user: u } = await a.accounts.createUser(
      'system',
      { username, displayName: username, hospitalId: h.id, roles },
      PW,
    );
    await a.accounts.users.setPassword(u.id, await hashPassword(PW), opts.mustChange === true, new Date());
    return u.id;
  };

  const setPolicy = async (code: string, on: boolean): Promise<void> => {
    await new KyselyHospitalRepository(srv.server.archive.database.db).update(code, {
      requireUserIdentity: on,
    });
  };

  const storescu = (calling: string, creds?: { user: string; password: string }) =>
    runDcmtk('storescu', [
      '-aet',
      calling,
      '-aec',
      'HUIYING',
      ...(creds !== undefined ? ['--user', creds.user, '--password', creds.password] : []),
      host,
      String(srv.dicomPort),
      file,
    ]);

  const associate = async (calling: string, identity?: UserIdentity) =>
    connect({
      host,
      port: srv.dicomPort,
      callingAeTitle: calling,
      calledAeTitle: 'HUIYING',
      contexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_LE] },
        { abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [EXPLICIT_LE] },
      ],
      ...(identity !== undefined ? { userIdentity: identity } : {}),
    });

  const creds = (username: string, password: string): UserIdentity => ({
    type: 2,
    primaryField: username,
    secondaryField: password,
    positiveResponseRequested: true,
  });

  const rejections = async (): Promise<string[]> => {
    await srv.server.archive.audit.flush();
    const evs = await srv.server.archive.audit.search({ action: 'association_rejected' });
    return evs.map((e) => e.detail ?? '');
  };

  before(async () => {
    srv = await startTestServer();
    work = await mkdtemp(join(tmpdir(), 'hy-uid-'));
    await srv.hospital('CENTER', { center: true });
    await srv.hospital('CHENCUN');
    await srv.hospital('XINGTAN');
    await srv.ae('CHENCUN_CT', 'CHENCUN');
    await srv.ae('XINGTAN_CT', 'XINGTAN');
    await user('cc.tech', 'CHENCUN', ['member_technologist']);
    await user('cc.locked', 'CHENCUN', ['member_technologist']);
    await user('cc.newpw', 'CHENCUN', ['member_technologist'], { mustChange: true });
    await user('cc.admin', 'CHENCUN', ['hospital_admin']);
    await user('xt.tech', 'XINGTAN', ['member_technologist']);
    await user('center.rad', 'CENTER', ['center_radiologist']);
    file = join(work, 'ct.dcm');
    await writeFile(
      file,
      makeInstance({
        patientId: 'UID001',
        patientName: 'Wang^Wu',
        studyUid,
        seriesUid: makeUid(),
        sopUid: makeUid(),
        modality: 'CT',
      }),
    );
    // stored by the member hospital while its policy is off
    const r = await storescu('CHENCUN_CT');
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    await srv?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('policy on (DCMTK storescu): no identity, wrong password, locked user rejected; right one accepted', async () => {
    await setPolicy('CHENCUN', true);
    try {
      const none = await storescu('CHENCUN_CT');
      assert.notEqual(none.code, 0);
      assert.match(none.stderr + none.stdout, /reject/i);
      const wrong = await storescu('CHENCUN_CT', { user: 'cc.tech', password: 'nope' });
      assert.notEqual(wrong.code, 0);
      const ok = await storescu('CHENCUN_CT', { user: 'cc.tech', password: PW });
      assert.equal(ok.code, 0, ok.stderr);
      // another hospital's user, a user without a data role, a pending password change: rejected
      for (const u of ['xt.tech', 'cc.admin', 'cc.newpw']) {
        const r = await storescu('CHENCUN_CT', { user: u, password: PW });
        assert.notEqual(r.code, 0, u);
      }
      // a center user is accepted
      const center = await storescu('CHENCUN_CT', { user: 'center.rad', password: PW });
      assert.equal(center.code, 0, center.stderr);
      // lockout: failed DIMSE logins count
      for (let i = 0; i < 5; i++) await storescu('CHENCUN_CT', { user: 'cc.locked', password: 'bad' });
      const locked = await storescu('CHENCUN_CT', { user: 'cc.locked', password: PW });
      assert.notEqual(locked.code, 0);
      const why = await rejections();
      assert.ok(why.some((d) => d.includes('user identity required')));
      assert.ok(why.some((d) => d.includes('invalid username or password')));
      await srv.server.archive.audit.flush();
      const lockedEv = await srv.server.archive.audit.search({ action: 'account_locked' });
      assert.ok(lockedEv.some((e) => e.protocol === 'dimse' && e.actorName === 'cc.locked'));
      const fails = await srv.server.archive.audit.search({ action: 'login_failed' });
      assert.ok(fails.some((e) => e.protocol === 'dimse' && (e.source ?? '').startsWith('CHENCUN_CT@')));
    } finally {
      await setPolicy('CHENCUN', false);
    }
  });

  test('policy on (our SCU): positive response, then C-FIND in the hospital scope', async () => {
    await setPolicy('CHENCUN', true);
    try {
      await assert.rejects(associate('CHENCUN_CT'));
      await assert.rejects(associate('CHENCUN_CT', creds('cc.tech', 'wrong')));
      await assert.rejects(
        associate('CHENCUN_CT', { type: 1, primaryField: 'cc.tech', positiveResponseRequested: false }),
      );
      const a = await associate('CHENCUN_CT', creds('cc.tech', PW));
      try {
        assert.ok(a.userIdentityResponse !== undefined, 'a positive response was requested');
        await a.echo();
        const identifier = encodeDataset(
          {
            '00080052': { vr: 'CS', Value: ['STUDY'] },
            '0020000D': { vr: 'UI' },
            '00100020': { vr: 'LO' },
          },
          { transferSyntax: EXPLICIT_LE },
        );
        const uids: string[] = [];
        for await (const bytes of a.find(STUDY_ROOT_FIND, identifier)) {
          const ds = decodeDataset(bytes, { transferSyntax: EXPLICIT_LE });
          const v = ds['0020000D']?.Value?.[0];
          uids.push(typeof v === 'string' ? v : '');
        }
        assert.deepEqual(uids, [studyUid]);
      } finally {
        await a.release();
      }
    } finally {
      await setPolicy('CHENCUN', false);
    }
  });

  test('policy off: accepted without identity, but wrong credentials are never ignored', async () => {
    const none = await storescu('XINGTAN_CT');
    assert.equal(none.code, 0, none.stderr);
    const wrong = await storescu('XINGTAN_CT', { user: 'xt.tech', password: 'wrong' });
    assert.notEqual(wrong.code, 0);
    const right = await storescu('XINGTAN_CT', { user: 'xt.tech', password: PW });
    assert.equal(right.code, 0, right.stderr);
    const a = await associate('XINGTAN_CT');
    await a.release();
    await assert.rejects(associate('XINGTAN_CT', creds('xt.tech', 'wrong')));
  });

  test('HTTP Basic: right/wrong password, lockout, member scope, audit', async () => {
    const base = `http://${host}:${srv.httpPort}/dicomweb/studies`;
    const basic = (u: string, p: string): Record<string, string> => ({
      authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
    });
    const ok = await fetch(base, { headers: basic('cc.tech', PW) });
    assert.equal(ok.status, 200);
    const studies = (await ok.json()) as Record<string, { Value?: unknown[] }>[];
    assert.deepEqual(
      studies.map((s) => s['0020000D']?.Value?.[0]),
      [studyUid],
    );
    // another member hospital's service account sees none of CHENCUN's studies
    await srv.hospital('DALIANG');
    await user('dl.tech', 'DALIANG', ['member_technologist']);
    const other = await fetch(base, { headers: basic('dl.tech', PW) });
    assert.ok(other.status === 200 || other.status === 204);
    const otherBody = other.status === 200 ? ((await other.json()) as unknown[]) : [];
    assert.equal(otherBody.length, 0);
    assert.equal((await fetch(base, { headers: basic('cc.tech', 'wrong') })).status, 401);
    assert.equal((await fetch(base, { headers: basic('cc.newpw', PW) })).status, 401);
    assert.equal((await fetch(base, { headers: basic('cc.admin', PW) })).status, 401);
    assert.equal((await fetch(base, { headers: { authorization: 'Basic !!!' } })).status, 401);
    await user('cc.svc', 'CHENCUN', ['member_clinician']);
    for (let i = 0; i < 5; i++) await fetch(base, { headers: basic('cc.svc', 'bad') });
    assert.equal((await fetch(base, { headers: basic('cc.svc', PW) })).status, 401);
    await srv.server.archive.audit.flush();
    const logins = await srv.server.archive.audit.search({ action: 'login' });
    assert.ok(logins.some((e) => e.protocol === 'dicomweb' && e.actorName === 'cc.tech'));
    const locked = await srv.server.archive.audit.search({ action: 'account_locked' });
    assert.ok(locked.some((e) => e.protocol === 'dicomweb' && e.actorName === 'cc.svc'));
  });
});
