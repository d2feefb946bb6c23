/**
 * The access matrix: every HTTP endpoint family × every caller kind × target hospital, against one real
 * server seeded with the demo region (A = 陈村医院 CHENCUN, B = 杏坛医院 XINGTAN, center = CENTER).
 *
 * Expected status (from the "One access policy" and access/scope.ts):
 *
 *   caller             | DICOMweb read A / B   | QIDO A / B | STOW | /api/auth/me | admin read (hospitals) | AEs/tokens/users list | user A / B | create AE/token/user in A / B | hospital create | audit
 *   anonymous          | 401 / 401             | 401 / 401  | 401  | 401          | 401                    | 401                   | 401 / 401  | 401 / 401                     | 401             | 401
 *   techA, clinA       | 200 / 404             | 200 / 204  | 200  | 200          | 200                    | 403                   | 403 / 403  | 403 / 403                     | 403             | 403
 *   hospital_admin A   | 200 / 404             | 200 / 204  | 200  | 200          | 200                    | 200 (own only)        | 200 / 404  | 201 / 403                     | 403             | 403
 *   center radiologist | 200 / 200             | 200 / 200  | 200  | 200          | 200                    | 403                   | 403 / 403  | 403 / 403                     | 403             | 403
 *   center QC manager  | 200 / 200             | 200 / 200  | 200  | 200          | 200                    | 403                   | 403 / 403  | 403 / 403                     | 403             | 403
 *   auditor            | 200 / 200             | 200 / 200  | 403  | 200          | 200                    | 403                   | 403 / 403  | 403 / 403                     | 403             | 200
 *   system_admin       | 200 / 200             | 200 / 200  | 200  | 200          | 200                    | 200                   | 200 / 200  | 201 / 201                     | 201             | 200
 *   API token of A     | 200 / 404             | 200 / 204  | 200  | 401          | 401 (admin API is session-only)
 *   API token, center  | 200 / 200             | 200 / 200  | 200  | 401          | 401
 *   revoked token      | 401 everywhere
 *   must-change-pw     | 403 everywhere except /api/auth/me (200)
 *   disabled user's old session | 401 everywhere
 *
 * "DICOMweb read" = WADO-RS retrieve (study/series/instance), metadata (3 levels), frames, bulkdata,
 * rendered (instance/frame/series/study), thumbnail (4 levels), WADO-URI; another hospital's data is
 * "not found" (404), never 403, so its existence is not revealed. QIDO with no match answers 204.
 * Besides the statuses, every caller's unfiltered QIDO (studies, series, instances) must contain only
 * studies of hospitals in its scope, and the admin lists of a hospital_admin only its own hospital.
 *
 * The DIMSE part (C-FIND / C-MOVE / C-GET of B's study by an AE of A and an AE of the center, DCMTK)
 * is at the end; it skips when DCMTK is missing.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeInstance } from '@huiying/dicom/testing';
import { cliActor } from '../../accounts/service.ts';
import { demoUid, seedDemo } from '../../demo/seed.ts';
import { startTestServer, type TestServer } from '../../testing/test-server.ts';
import { needDcmtk, runDcmtk, startStorescp } from '../../testing/dcmtk.ts';
import { loginSession } from '../../testing/http-session.ts';

const PW = 'Matrix-Region-2026!';
const A = 'CHENCUN';
const B = 'XINGTAN';
const PREFIX: Record<string, string> = { CHENCUN: 'CC', XINGTAN: 'XT', DALIANG: 'DL', JUNAN: 'JA' };

type CallerKind =
  | 'anonymous'
  | 'techA'
  | 'clinA'
  | 'hadminA'
  | 'radiologist'
  | 'qc'
  | 'auditor'
  | 'sysadmin'
  | 'tokenA'
  | 'tokenCenter'
  | 'tokenRevoked'
  | 'mustChange'
  | 'disabled';

const CALLERS: CallerKind[] = [
  'anonymous',
  'techA',
  'clinA',
  'hadminA',
  'radiologist',
  'qc',
  'auditor',
  'sysadmin',
  'tokenA',
  'tokenCenter',
  'tokenRevoked',
  'mustChange',
  'disabled',
];

interface Creds {
  cookie?: string;
  csrf?: string;
  bearer?: string;
}

/** A demo study of a hospital: its first patient's CT study, first series, first image. */
function demoStudy(code: string): { study: string; series: string; sop: string; patientId: string } {
  const patientId = `${PREFIX[code] ?? ''}000001`;
  const key = `${code}/${patientId}/0`;
  return { study: demoUid(key), series: demoUid(`${key}/0`), sop: demoUid(`${key}/0/1`), patientId };
}

/** What a caller's scope is: 'A' (own member hospital), 'all', or no access. */
type Reach = 'A' | 'all' | 401 | 403;
const REACH: Record<CallerKind, Reach> = {
  anonymous: 401,
  techA: 'A',
  clinA: 'A',
  hadminA: 'A',
  radiologist: 'all',
  qc: 'all',
  auditor: 'all',
  sysadmin: 'all',
  tokenA: 'A',
  tokenCenter: 'all',
  tokenRevoked: 401,
  mustChange: 403,
  disabled: 401,
};
const isUser = (c: CallerKind): boolean => !c.startsWith('token') && c !== 'anonymous';
/** callers with a live, usable session */
const LIVE_USER = (c: CallerKind): boolean => isUser(c) && c !== 'mustChange' && c !== 'disabled';

function dicomwebRead(c: CallerKind, target: string, found = 200): number {
  const r = REACH[c];
  if (typeof r === 'number') return r;
  return r === 'all' || target === A ? found : 404;
}
/** QIDO: no match is an empty answer (200 [] or 204), checked separately; -1 stands for "empty" */
const EMPTY = -1;
function qido(c: CallerKind, target: string): number {
  return dicomwebRead(c, target) === 404 ? EMPTY : dicomwebRead(c, target);
}
function stow(c: CallerKind): number {
  const r = REACH[c];
  if (typeof r === 'number') return r;
  return c === 'auditor' ? 403 : 200;
}
/** session-only admin API: the pre-check every admin route makes */
function session(c: CallerKind): number | undefined {
  if (c === 'mustChange') return 403;
  if (!LIVE_USER(c)) return 401;
  return undefined;
}
function me(c: CallerKind): number {
  return c === 'mustChange' ? 200 : (session(c) ?? 200);
}
function adminList(c: CallerKind): number {
  return session(c) ?? (c === 'sysadmin' || c === 'hadminA' ? 200 : 403);
}
function userGet(c: CallerKind, target: string): number {
  const s = session(c);
  if (s !== undefined) return s;
  if (c === 'sysadmin') return 200;
  if (c === 'hadminA') return target === A ? 200 : 404;
  return 403;
}
function adminCreate(c: CallerKind, target: string): number {
  const s = session(c);
  if (s !== undefined) return s;
  if (c === 'sysadmin') return 201;
  if (c === 'hadminA') return target === A ? 201 : 403;
  return 403;
}
function hospitalCreate(c: CallerKind): number {
  return session(c) ?? (c === 'sysadmin' ? 201 : 403);
}
function audit(c: CallerKind): number {
  return session(c) ?? (c === 'sysadmin' || c === 'auditor' ? 200 : 403);
}

interface Cell {
  caller: CallerKind;
  target: string;
  name: string;
  method: 'GET' | 'POST';
  path: string;
  accept?: string;
  body?: () => { type: string; data: Uint8Array | string };
  expect: number;
}

const MP_DICOM = 'multipart/related; type="application/dicom"';
const MP_OCTET = 'multipart/related; type="application/octet-stream"';
let seq = 0;
const uniq = (p: string): string => `${p}${Date.now().toString(36).slice(-4)}${(seq++).toString(36)}`;

function stowBody(): { type: string; data: Uint8Array } {
  const boundary = 'matrixboundary';
  const n = seq++;
  const bytes = makeInstance({
    patientName: 'Matrix^Stow',
    patientId: `MX${n}`,
    studyUid: `2.25.${BigInt(Date.now()) * 1000n + BigInt(n)}1`,
    seriesUid: `2.25.${BigInt(Date.now()) * 1000n + BigInt(n)}2`,
    sopUid: `2.25.${BigInt(Date.now()) * 1000n + BigInt(n)}3`,
    modality: 'OT',
    rows: 8,
    cols: 8,
    pixelBytes: new Uint8Array(128),
  });
  const head = Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    type: `multipart/related; type="application/dicom"; boundary=${boundary}`,
    data: Buffer.concat([head, Buffer.from(bytes), tail]),
  };
}

function cellsFor(
  c: CallerKind,
  target: string,
  ids: Record<string, number>,
  userIds: Record<string, number>,
): Cell[] {
  const s = demoStudy(target);
  const st = `/dicomweb/studies/${s.study}`;
  const se = `${st}/series/${s.series}`;
  const inst = `${se}/instances/${s.sop}`;
  const read = dicomwebRead(c, target);
  const q = qido(c, target);
  const cells: Omit<Cell, 'caller' | 'target'>[] = [
    {
      name: 'QIDO studies?StudyInstanceUID',
      method: 'GET',
      path: `/dicomweb/studies?StudyInstanceUID=${s.study}`,
      expect: q,
    },
    {
      name: 'QIDO studies?PatientID',
      method: 'GET',
      path: `/dicomweb/studies?PatientID=${s.patientId}`,
      expect: q,
    },
    {
      name: 'QIDO series?StudyInstanceUID',
      method: 'GET',
      path: `/dicomweb/series?StudyInstanceUID=${s.study}`,
      expect: q,
    },
    {
      name: 'QIDO instances?SOPInstanceUID',
      method: 'GET',
      path: `/dicomweb/instances?SOPInstanceUID=${s.sop}`,
      expect: q,
    },
    { name: 'QIDO studies/{s}/series', method: 'GET', path: `${st}/series`, expect: q },
    { name: 'QIDO studies/{s}/instances', method: 'GET', path: `${st}/instances`, expect: q },
    { name: 'QIDO series/{s}/instances', method: 'GET', path: `${se}/instances`, expect: q },
    { name: 'WADO study', method: 'GET', path: st, accept: MP_DICOM, expect: read },
    { name: 'WADO series', method: 'GET', path: se, accept: MP_DICOM, expect: read },
    { name: 'WADO instance', method: 'GET', path: inst, accept: MP_DICOM, expect: read },
    { name: 'metadata study', method: 'GET', path: `${st}/metadata`, expect: read },
    { name: 'metadata series', method: 'GET', path: `${se}/metadata`, expect: read },
    { name: 'metadata instance', method: 'GET', path: `${inst}/metadata`, expect: read },
    { name: 'frames', method: 'GET', path: `${inst}/frames/1`, accept: MP_OCTET, expect: read },
    { name: 'bulkdata', method: 'GET', path: `${inst}/bulkdata/7FE00010`, accept: MP_OCTET, expect: read },
    {
      name: 'rendered instance',
      method: 'GET',
      path: `${inst}/rendered`,
      accept: 'image/jpeg',
      expect: read,
    },
    {
      name: 'rendered frame',
      method: 'GET',
      path: `${inst}/frames/1/rendered`,
      accept: 'image/png',
      expect: read,
    },
    {
      name: 'rendered series',
      method: 'GET',
      path: `${se}/rendered`,
      accept: 'multipart/related; type="image/jpeg"',
      expect: read,
    },
    {
      name: 'rendered study',
      method: 'GET',
      path: `${st}/rendered`,
      accept: 'multipart/related; type="image/jpeg"',
      expect: read,
    },
    { name: 'thumbnail study', method: 'GET', path: `${st}/thumbnail`, accept: 'image/jpeg', expect: read },
    { name: 'thumbnail series', method: 'GET', path: `${se}/thumbnail`, accept: 'image/jpeg', expect: read },
    {
      name: 'thumbnail instance',
      method: 'GET',
      path: `${inst}/thumbnail`,
      accept: 'image/jpeg',
      expect: read,
    },
    {
      name: 'thumbnail frame',
      method: 'GET',
      path: `${inst}/frames/1/thumbnail`,
      accept: 'image/jpeg',
      expect: read,
    },
    {
      name: 'WADO-URI dicom',
      method: 'GET',
      path: `/dicomweb/wado?requestType=WADO&studyUID=${s.study}&seriesUID=${s.series}&objectUID=${s.sop}&contentType=application%2Fdicom`,
      expect: read,
    },
    {
      name: 'WADO-URI jpeg',
      method: 'GET',
      path: `/dicomweb/wado?requestType=WADO&studyUID=${s.study}&seriesUID=${s.series}&objectUID=${s.sop}`,
      expect: read,
    },
    {
      name: 'admin user by id',
      method: 'GET',
      path: `/api/admin/users/${userIds[target] ?? 0}`,
      expect: userGet(c, target),
    },
    {
      name: 'admin create AE',
      method: 'POST',
      path: '/api/admin/aes',
      body: () => ({
        type: 'application/json',
        data: JSON.stringify({ aeTitle: uniq('MX'), hospitalId: ids[target] }),
      }),
      expect: adminCreate(c, target),
    },
    {
      name: 'admin create token',
      method: 'POST',
      path: '/api/admin/tokens',
      body: () => ({
        type: 'application/json',
        data: JSON.stringify({ name: uniq('mx-'), hospitalId: ids[target] }),
      }),
      expect: adminCreate(c, target),
    },
    {
      name: 'admin create user',
      method: 'POST',
      path: '/api/admin/users',
      body: () => ({
        type: 'application/json',
        data: JSON.stringify({
          username: uniq('mx.'),
          displayName: 'Matrix',
          hospitalId: ids[target],
          roles: ['member_clinician'],
        }),
      }),
      expect: adminCreate(c, target),
    },
  ];
  if (target === A) {
    // target-independent endpoints: once per caller
    cells.push(
      { name: 'STOW-RS', method: 'POST', path: '/dicomweb/studies', body: stowBody, expect: stow(c) },
      { name: 'auth me', method: 'GET', path: '/api/auth/me', expect: me(c) },
      {
        name: 'admin hospitals list',
        method: 'GET',
        path: '/api/admin/hospitals',
        expect: session(c) ?? 200,
      },
      {
        name: 'admin hospital create',
        method: 'POST',
        path: '/api/admin/hospitals',
        body: () => ({
          type: 'application/json',
          data: JSON.stringify({ code: uniq('MXH'), name: '矩阵医院' }),
        }),
        expect: hospitalCreate(c),
      },
      { name: 'admin AEs list', method: 'GET', path: '/api/admin/aes', expect: adminList(c) },
      { name: 'admin tokens list', method: 'GET', path: '/api/admin/tokens', expect: adminList(c) },
      { name: 'admin users list', method: 'GET', path: '/api/admin/users', expect: adminList(c) },
      { name: 'audit search', method: 'GET', path: '/api/admin/audit?limit=5', expect: audit(c) },
      { name: 'audit export', method: 'GET', path: '/api/admin/audit/export', expect: audit(c) },
    );
  }
  return cells.map((x) => ({ ...x, caller: c, target }));
}

async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) {
        const t = items[i++] as T;
        await fn(t);
      }
    }),
  );
}

describe('access matrix', { timeout: 120_000 }, () => {
  let srv: TestServer;
  let base: string;
  const creds = new Map<CallerKind, Creds>();
  const hospitalIds: Record<string, number> = {};
  const hospitalOfId = new Map<number, string>();
  const userIds: Record<string, number> = {};

  const login = (username: string, password = PW): Promise<Creds> => loginSession(base, username, password);

  function headersOf(
    c: CallerKind,
    extra: Record<string, string> = {},
    post = false,
  ): Record<string, string> {
    const k = creds.get(c) ?? {};
    const h: Record<string, string> = { ...extra };
    if (k.bearer !== undefined) h.authorization = `Bearer ${k.bearer}`;
    if (k.cookie !== undefined) h.cookie = k.cookie;
    if (post && k.csrf !== undefined) h['x-csrf-token'] = k.csrf;
    return h;
  }

  before(async () => {
    srv = await startTestServer();
    base = `http://127.0.0.1:${srv.httpPort}`;
    const a = srv.server.archive;
    const seeded = await seedDemo(a, { password: PW, print: () => undefined });
    for (const h of await a.hospitals.list()) {
      hospitalIds[h.code] = h.id;
      hospitalOfId.set(h.id, h.code);
    }
    const center = seeded.centerCode;
    for (const code of [A, B]) {
      const u = await a.accounts.users.byUsername(`${code.toLowerCase()}.tech`);
      userIds[code] = u?.id ?? 0;
    }
    const logins: [CallerKind, string][] = [
      ['techA', 'chencun.tech'],
      ['clinA', 'chencun.doctor'],
      ['hadminA', 'chencun.admin'],
      ['radiologist', 'sdh.attending'],
      ['qc', 'sdh.qc'],
      ['auditor', 'sdh.auditor'],
      ['sysadmin', 'sdh.sysadmin'],
    ];
    await Promise.all(logins.map(async ([k, u]) => creds.set(k, await login(u))));
    creds.set('anonymous', {});
    creds.set('tokenA', { bearer: (await a.tokens.create(hospitalIds[A] ?? 0, 'matrix A')).token });
    creds.set('tokenCenter', {
      bearer: (await a.tokens.create(hospitalIds[center] ?? 0, 'matrix center')).token,
    });
    const revoked = await a.tokens.create(hospitalIds[A] ?? 0, 'matrix revoked');
    await a.tokens.revoke(revoked.record.id);
    creds.set('tokenRevoked', { bearer: revoked.token });
    // a new user of A: a temporary password, must change it
    const fresh = await a.accounts.createUser(cliActor('matrix'), {
      username: 'matrix.fresh',
      displayName: 'Matrix fresh',
      hospitalId: hospitalIds[A] ?? 0,
      roles: ['member_clinician'],
      grade: null,
    });
    const mc = await login('matrix.fresh', fresh.temporaryPassword);
    creds.set('mustChange', mc);
    // a center radiologist logs in, then is disabled: the old session must stop working
    const gone = await a.accounts.createUser(cliActor('matrix'), {
      username: 'matrix.gone',
      displayName: 'Matrix gone',
      hospitalId: hospitalIds[center] ?? 0,
      roles: ['center_radiologist'],
      grade: 'attending',
    });
    const goneUser = await a.accounts.users.byUsername('matrix.gone');
    const { hashPassword } = await import('../../accounts/passwords.ts');
    await a.accounts.users.setPassword(gone.user.id, await hashPassword(PW), false, new Date());
    assert.ok(goneUser !== undefined);
    const old = await login('matrix.gone');
    await a.accounts.setDisabled(cliActor('matrix'), gone.user.id, true);
    creds.set('disabled', old);
  });
  after(async () => {
    await srv?.stop();
  });

  test('every endpoint × caller × hospital answers the expected status', async () => {
    const cells = CALLERS.flatMap((c) => [A, B].flatMap((t) => cellsFor(c, t, hospitalIds, userIds)));
    const failures: string[] = [];
    await pool(cells, 16, async (cell) => {
      const body = cell.body?.();
      const r = await fetch(`${base}${cell.path}`, {
        method: cell.method,
        headers: headersOf(
          cell.caller,
          {
            ...(cell.accept !== undefined ? { accept: cell.accept } : {}),
            ...(body !== undefined ? { 'content-type': body.type } : {}),
          },
          cell.method !== 'GET',
        ),
        ...(body !== undefined ? { body: body.data } : {}),
      });
      const text = await r.text();
      const empty = r.status === 204 || (r.status === 200 && text.trim() === '[]');
      if (cell.expect === EMPTY) {
        if (!empty)
          failures.push(`${cell.caller} ${cell.target} ${cell.name}: LEAK ${r.status} ${text.slice(0, 200)}`);
        return;
      }
      if (cell.expect === 200 && cell.name.startsWith('QIDO') && empty)
        failures.push(`${cell.caller} ${cell.target} ${cell.name}: empty, expected a match`);
      if (r.status !== cell.expect)
        failures.push(
          `${cell.caller.padEnd(12)} ${cell.target.padEnd(8)} ${cell.name}: ${r.status} (expected ${cell.expect}) ${text.slice(0, 160)}`,
        );
      // whatever the status: a refused or empty answer never carries B's data
      if (
        dicomwebRead(cell.caller, B) !== 200 &&
        cell.target === B &&
        r.status < 300 &&
        cell.path.startsWith('/dicomweb')
      )
        failures.push(`${cell.caller} ${cell.name}: LEAK of ${B} data (${r.status}, ${text.length} bytes)`);
    });
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${cells.length} cells differ:\n${failures.join('\n')}`,
    );
  });

  test("unfiltered QIDO never returns a study outside the caller's scope", async () => {
    const failures: string[] = [];
    const readers = CALLERS.filter((c) => typeof REACH[c] !== 'number');
    await pool(
      readers.flatMap((c) => ['studies', 'series', 'instances'].map((level) => ({ c, level }))),
      8,
      async ({ c, level }) => {
        const r = await fetch(`${base}/dicomweb/${level}?limit=10000&includefield=00100020`, {
          headers: headersOf(c, { accept: 'application/dicom+json' }),
        });
        assert.ok(r.status === 200 || r.status === 204, `${c} ${level}: ${r.status}`);
        const rows = r.status === 204 ? [] : ((await r.json()) as Record<string, { Value?: string[] }>[]);
        const prefixes = new Set(rows.map((x) => (x['00100020']?.Value?.[0] ?? '').slice(0, 2)));
        if (REACH[c] === 'A') {
          for (const p of prefixes)
            if (p !== 'CC' && p !== 'MX')
              failures.push(`${c} ${level}: a study of another hospital (PatientID ${p}…)`);
          if (!prefixes.has('CC')) failures.push(`${c} ${level}: its own hospital's studies are missing`);
        } else {
          for (const p of ['CC', 'XT', 'DL', 'JA'])
            if (!prefixes.has(p)) failures.push(`${c} ${level}: center scope misses ${p}`);
        }
      },
    );
    assert.deepEqual(failures, [], failures.join('\n'));
  });

  test("a hospital administrator's admin lists hold only its own hospital", async () => {
    const h = headersOf('hadminA');
    const get = async <T>(p: string): Promise<T> => {
      const r = await fetch(`${base}${p}`, { headers: h });
      assert.equal(r.status, 200, p);
      return (await r.json()) as T;
    };
    const { aes } = await get<{ aes: { hospitalId: number }[] }>('/api/admin/aes');
    const { tokens } = await get<{ tokens: { hospitalId: number }[] }>('/api/admin/tokens');
    const { users } = await get<{ users: { hospitalId: number }[] }>('/api/admin/users');
    assert.ok(aes.length > 0 && users.length > 0);
    for (const x of [...aes, ...tokens, ...users]) assert.equal(hospitalOfId.get(x.hospitalId), A);
  });

  describe('DIMSE: an AE of A vs an AE of the center, on B’s study', { skip: needDcmtk() }, () => {
    let work: string;
    const b = demoStudy(B);
    const host = '127.0.0.1';
    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'huiying-matrix-'));
    });
    after(async () => {
      await rm(work, { recursive: true, force: true });
    });

    async function cfind(aet: string, level: string, keys: string[]): Promise<number> {
      const dir = await mkdtemp(join(work, 'find-'));
      const dump = join(dir, 'q.dump');
      await writeFile(dump, [`(0008,0052) CS [${level}]`, ...keys].join('\n') + '\n', 'utf8');
      const q = join(dir, 'q.dcm');
      assert.equal((await runDcmtk('dump2dcm', [dump, q])).code, 0);
      const r = await runDcmtk('findscu', [
        '-S',
        '-aet',
        aet,
        '-aec',
        srv.aeTitle,
        '-X',
        '-od',
        dir,
        host,
        String(srv.dicomPort),
        q,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return (await readdir(dir)).filter((n) => n.startsWith('rsp')).length;
    }

    test('C-FIND at STUDY, SERIES and IMAGE level: A finds nothing of B, the center finds it', async () => {
      const sets: [string, string[]][] = [
        ['STUDY', [`(0020,000d) UI [${b.study}]`]],
        ['STUDY', [`(0010,0020) LO [${b.patientId}]`, '(0020,000d) UI []']],
        ['SERIES', [`(0020,000d) UI [${b.study}]`, '(0020,000e) UI []']],
        ['IMAGE', [`(0020,000d) UI [${b.study}]`, `(0020,000e) UI [${b.series}]`, '(0008,0018) UI []']],
      ];
      for (const [level, keys] of sets) {
        assert.equal(await cfind(`${A}_CT`, level, keys), 0, `A sees B at ${level}`);
        assert.ok((await cfind('SDH_WS', level, keys)) > 0, `center misses B at ${level}`);
      }
      // the unscoped wildcard query by A returns only A's patients
      const dir = await mkdtemp(join(work, 'all-'));
      await writeFile(join(dir, 'q.dump'), '(0008,0052) CS [STUDY]\n(0010,0020) LO [*]\n(0020,000d) UI []\n');
      await runDcmtk('dump2dcm', [join(dir, 'q.dump'), join(dir, 'q.dcm')]);
      const r = await runDcmtk('findscu', [
        '-S',
        '-aet',
        `${A}_CT`,
        '-aec',
        srv.aeTitle,
        '-X',
        '-od',
        dir,
        host,
        String(srv.dicomPort),
        join(dir, 'q.dcm'),
      ]);
      assert.equal(r.code, 0, r.stderr);
      for (const n of (await readdir(dir)).filter((x) => x.startsWith('rsp'))) {
        const d = await runDcmtk('dcmdump', ['+U8', join(dir, n)]);
        assert.match(d.stdout, /\(0010,0020\) LO \[(CC|MX)/, d.stdout);
      }
    });

    test('C-GET of B’s study: A gets nothing, the center gets it', async () => {
      for (const [aet, want] of [
        [`${A}_CT`, false],
        ['SDH_WS', true],
      ] as const) {
        const out = join(work, `get-${aet}`);
        await mkdir(out, { recursive: true });
        const r = await runDcmtk('getscu', [
          '-S',
          '-aet',
          aet,
          '-aec',
          srv.aeTitle,
          '-od',
          out,
          '-k',
          '0008,0052=STUDY',
          '-k',
          `0020,000d=${b.study}`,
          host,
          String(srv.dicomPort),
        ]);
        const got = (await readdir(out)).length;
        if (want) assert.equal(got, 12, r.stderr);
        else assert.equal(got, 0, `A retrieved ${got} instances of B by C-GET`);
      }
    });

    test('C-MOVE of B’s study: A moves nothing, the center moves it', async () => {
      const scp = await startStorescp({ aet: 'MXDEST', dir: join(work, 'moved') });
      try {
        await srv.ae('MXDEST', A, { host, port: scp.port });
        const move = (aet: string) =>
          runDcmtk('movescu', [
            '-S',
            '-aet',
            aet,
            '-aec',
            srv.aeTitle,
            '-aem',
            'MXDEST',
            '-k',
            '0008,0052=STUDY',
            '-k',
            `0020,000d=${b.study}`,
            host,
            String(srv.dicomPort),
          ]);
        await move(`${A}_CT`);
        assert.equal((await scp.files()).length, 0, `A moved B's study: ${scp.log()}`);
        const r = await move('SDH_WS');
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await scp.files()).length, 12, scp.log());
      } finally {
        await scp.stop();
      }
    });
  });
});
