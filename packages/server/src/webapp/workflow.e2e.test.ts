/**
 * The reading workflow end to end in headless Debian Chromium (playwright-core, never a downloaded browser):
 *
 *   a center radiologist (also system administrator) logs in, registers 陈村医院's HIS as an HL7 sender and
 *   sets its policy (一院一策) to a 1-second stable time → opens the center worklist → an ORM^O01 in
 *   GB18030 arrives over MLLP → the exam appears as 已登记 WITHOUT a reload (live events) → DCMTK storescu
 *   sends a CT series with that accession number → the row turns 已匹配 (history: 已登记 → 已检查 → 已匹配)
 *   → a double-click opens the case page with the Chinese clinical information and the series thumbnail
 *   → "open in the viewer" (new tab) and the embedded viewer show the images on OHIF's canvas.
 *
 * Further tests: the registration form (validation, generated accession number), the member hospital's
 * own exams, the matching queue (a suggestion for a study without an accession number, linked after a
 * confirmation), unlinking with a reason, an identity conflict flagged; claim by two radiologists (the
 * second gets the 409 explained), assignment, an overdue row in red, the keyboard, English; the HL7 log.
 *
 * The suite runs on SQLite and on PostgreSQL (live events over LISTEN/NOTIFY there). Screenshots go to
 * .test-artifacts/workflow/ (PostgreSQL: …/workflow/postgresql/). Skips (with the reason) when Chromium,
 * DCMTK, the built web application or the OHIF viewer is missing (PostgreSQL: when unreachable);
 * HUIYING_REQUIRE_ALL=1 (CI) turns a skip into a failure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import iconv from 'iconv-lite';
import type { Browser, Page } from 'playwright-core';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { CANVAS_PROBE, chromiumMissing, launchChromium } from '../testing/chromium.ts';
import { needDcmtk, runDcmtk } from '../testing/dcmtk.ts';
import { createTestDatabase, pgSkipReason, type TestDatabase } from '../testing/pg.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { hashPassword } from '../accounts/passwords.ts';
import type { Hospital } from '../archive/ports.ts';
import { MllpClient } from '../hl7/mllp.ts';
import { defaultViewerDir } from '../viewer/plugin.ts';
import { defaultWebDir } from './plugin.ts';

const ARTIFACTS_ROOT = resolve(import.meta.dirname, '..', '..', '..', '..', '.test-artifacts', 'workflow');
const PASSWORD = 'Yingxiang-Zhongxin-2026!';

function skipReason(): string | undefined {
  if (chromiumMissing() !== undefined) return chromiumMissing();
  const dcmtk = needDcmtk();
  if (dcmtk !== false) return dcmtk;
  if (!existsSync(join(defaultWebDir(), 'index.html')))
    return `the web application is not built in ${defaultWebDir()} (npm run -w @huiying/web build)`;
  if (!existsSync(join(defaultViewerDir(), 'index.html')))
    return `the OHIF viewer is not installed in ${defaultViewerDir()} (npm run viewer:install)`;
  return undefined;
}
const reason = skipReason();
if (reason !== undefined && process.env.HUIYING_REQUIRE_ALL === '1')
  throw new Error(`workflow e2e prerequisites missing: ${reason}`);

const SIZE = 256;
/** A CT slice: a bright disc with texture over air, so OHIF's canvas shows a real image. */
function ctPixels(slice: number): Uint8Array {
  const px = new Uint16Array(SIZE * SIZE);
  const c = SIZE / 2;
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) {
      const r = Math.hypot(x - c, y - c);
      let hu = -1000;
      if (r < 100) hu = 40 + Math.round(60 * Math.sin((x + slice * 4) / 12) * Math.cos(y / 15));
      if (r > 90 && r < 100) hu = 700;
      px[y * SIZE + x] = hu + 1024;
    }
  return new Uint8Array(px.buffer);
}

function ctSeries(o: {
  accession: string | undefined;
  patientId: string;
  patientName: string;
  studyUid: string;
  slices: number;
  studyDate?: string;
}): Uint8Array[] {
  const series = makeUid();
  return Array.from({ length: o.slices }, (_, i) =>
    makeInstance({
      patientName: o.patientName,
      patientId: o.patientId,
      patientSex: 'M',
      patientBirthDate: '19800315',
      charset: 'GB18030',
      studyUid: o.studyUid,
      seriesUid: series,
      ...(o.accession !== undefined ? { accessionNumber: o.accession } : {}),
      ...(o.studyDate !== undefined ? { studyDate: o.studyDate } : {}),
      studyDescription: '胸部CT平扫',
      seriesDescription: '肺窗 5mm',
      bodyPartExamined: 'CHEST',
      modality: 'CT',
      seriesNumber: 2,
      instanceNumber: i + 1,
      rows: SIZE,
      cols: SIZE,
      pixelBytes: ctPixels(i),
      extra: {
        '00200032': { vr: 'DS', Value: [-128, -128, -i * 5] },
        '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
        '00280030': { vr: 'DS', Value: [1, 1] },
        '00180050': { vr: 'DS', Value: [5] },
        '00281050': { vr: 'DS', Value: [40] },
        '00281051': { vr: 'DS', Value: [400] },
        '00281052': { vr: 'DS', Value: [-1024] },
        '00281053': { vr: 'DS', Value: [1] },
        '00280101': { vr: 'US', Value: [12] },
      },
    }),
  );
}

/** An HL7 segment from numbered fields (1-based; MSH counts its field separator as MSH-1). */
function seg(name: string, fields: Record<number, string>): string {
  const n = Math.max(...Object.keys(fields).map(Number));
  const out: string[] = [name];
  for (let i = 1; i <= n; i++) out.push(fields[i] ?? '');
  return out.join('|');
}

/** An ORM^O01 new order from 陈村医院's HIS (GB18030, as Chinese HIS systems send). */
function ormO01(o: { controlId: string; accession: string; patientId: string }): Buffer {
  const text = [
    'MSH|^~\\&|HIS|CHENCUN|HUIYING|CENTER|20261126093000||ORM^O01|' +
      `${o.controlId}|P|2.5|||||GB 18030-2000`,
    seg('PID', {
      1: '1',
      3: `${o.patientId}^^^CHENCUN`,
      5: '陈^小明',
      7: '19800315',
      8: 'M',
      13: '13800138000',
    }),
    seg('PV1', { 1: '1', 2: 'O', 3: '呼吸内科门诊' }),
    seg('ORC', { 1: 'NW', 2: `PL${o.accession}`, 3: o.accession, 12: '1001^李^建国', 17: '0301^呼吸内科' }),
    seg('OBR', {
      1: '1',
      2: `PL${o.accession}`,
      3: o.accession,
      4: 'CT0012^胸部CT平扫',
      5: 'S',
      13: '吸烟二十年，高血压病史五年',
      18: o.accession,
      24: 'CT',
    }),
    seg('NTE', { 1: '1', 3: '咳嗽、咳痰两周，发热三天', 4: 'SYM' }),
    seg('NTE', { 1: '2', 3: '排除肺部感染及占位', 4: 'PUR' }),
    seg('DG1', { 1: '1', 3: 'J18.9^社区获得性肺炎' }),
  ].join('\r');
  return iconv.encode(text, 'gb18030');
}

const pgSkip = reason ?? (await pgSkipReason());
if (pgSkip !== false && process.env.HUIYING_REQUIRE_ALL === '1')
  throw new Error(`workflow e2e on PostgreSQL: ${pgSkip}`);

for (const dialect of ['sqlite', 'postgresql'] as const) {
  const skip = dialect === 'sqlite' ? (reason ?? false) : pgSkip;
  describe(`reading workflow in headless Chromium (${dialect})`, { skip, timeout: 240_000 }, () => {
    let srv: TestServer;
    let pgDb: TestDatabase | undefined;
    /** SQLite screenshots in .test-artifacts/workflow/, PostgreSQL ones in …/workflow/postgresql/ */
    const ARTIFACTS = dialect === 'sqlite' ? ARTIFACTS_ROOT : join(ARTIFACTS_ROOT, 'postgresql');
    let base: string;
    let browser: Browser;
    let chencun: Hospital;
    let hl7: MllpClient;
    let work: string;
    /** the HL7 order of the first test */
    let hl7Accession = '';

    before(async () => {
      if (dialect === 'postgresql') pgDb = await createTestDatabase();
      srv = await startTestServer({
        HUIYING_SYNC_MODE: 'normal',
        HUIYING_WORKFLOW_TICK_MS: '200',
        ...(pgDb !== undefined ? { HUIYING_DATABASE_URL: pgDb.url } : {}),
      });
      base = `http://127.0.0.1:${srv.httpPort}`;
      const a = srv.server.archive;
      const center = (await a.hospitals.list()).find((h) => h.isCenter);
      assert.ok(center !== undefined, 'the first start creates the center');
      chencun = await srv.hospital('CHENCUN', { name: '陈村医院', charset: 'GB18030' });
      await srv.ae('CHENCUN_CT', 'CHENCUN');

      const users: [
        string,
        string,
        number,
        ('system_admin' | 'center_radiologist' | 'member_technologist')[],
      ][] = [
        ['dr-wang', '王医生', center.id, ['center_radiologist', 'system_admin']],
        ['dr-li', '李医生', center.id, ['center_radiologist']],
        ['cc-tech', '陈村技师', chencun.id, ['member_technologist']],
      ];
      for (const [username, displayName, hospitalId, roles] of users) {
        const { user } = await a.accounts.createUser('system', {
          username,
          displayName,
          hospitalId,
          roles,
          ...(roles.includes('center_radiologist') ? { grade: 'attending' } : {}),
        });
        await a.accounts.users.setPassword(user.id, await hashPassword(PASSWORD), false, new Date());
      }

      // the server's HL7 listener (MLLP, ephemeral port); the sender is registered in the first test's UI
      hl7 = new MllpClient({ host: '127.0.0.1', port: srv.hl7Port, timeoutMs: 10_000 });

      work = await mkdtemp(join(tmpdir(), 'huiying-wf-e2e-'));
      await mkdir(ARTIFACTS, { recursive: true });
      browser = await launchChromium();
    });

    after(async () => {
      await browser?.close();
      await hl7?.close();
      await srv?.stop();
      await pgDb?.drop();
      if (work !== undefined) await rm(work, { recursive: true, force: true });
    });

    async function login(
      username: string,
    ): Promise<{ page: Page; errors: string[]; close: () => Promise<void> }> {
      const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
      const page = await ctx.newPage();
      page.setDefaultTimeout(15_000);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('response', (r) => {
        if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`);
      });
      await page.goto(`${base}/`);
      await page.locator('#login-username').fill(username);
      await page.locator('#login-password').fill(PASSWORD);
      await page.getByTestId('login-submit').click();
      await page.getByTestId('home-welcome').waitFor();
      return { page, errors, close: () => ctx.close() };
    }

    /** Waits until `expression` is true in the page (the web app's CSP forbids waitForFunction's eval). */
    async function poll(page: Page, expression: string, what: string, timeoutMs = 15_000): Promise<void> {
      const end = Date.now() + timeoutMs;
      while ((await page.evaluate(expression)) !== true) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    const shot = (page: Page, name: string) =>
      page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    async function storescu(files: Uint8Array[], tag: string): Promise<void> {
      const dir = join(work, tag);
      await mkdir(dir, { recursive: true });
      const paths: string[] = [];
      for (const [i, f] of files.entries()) {
        const p = join(dir, `${i}.dcm`);
        await writeFile(p, f);
        paths.push(p);
      }
      const r = await runDcmtk(
        'storescu',
        ['-aet', 'CHENCUN_CT', '-aec', srv.aeTitle, '127.0.0.1', String(srv.dicomPort), ...paths],
        {
          timeoutMs: 60_000,
        },
      );
      assert.equal(r.code, 0, `storescu failed: ${r.stderr}`);
    }

    it('HL7 order → live worklist → images over DIMSE → 已匹配 → case page with thumbnails → viewer', async () => {
      const { page, errors, close } = await login('dr-wang');
      try {
        // HL7 接口: register 陈村医院's HIS (MSH-4 CHENCUN) as a sender
        await page.locator('.ant-layout-sider .ant-menu-item', { hasText: /^HL7 接口$/ }).click();
        await page.waitForURL(/\/admin\/hl7$/);
        await page.getByRole('tab', { name: '发送方' }).click();
        await page.getByTestId('hl7-sender-add').click();
        await page.locator('#hl7-sender-hospital').click();
        await page.locator('.ant-select-item-option', { hasText: '陈村医院' }).click();
        await page.locator('#hl7-sender-facility').fill('CHENCUN');
        await page.getByRole('button', { name: '保 存' }).click();
        await page.locator('.ant-table-row', { hasText: 'CHENCUN' }).waitFor();
        await shot(page, '00-hl7-senders');

        // 一院一策: a 1-second stable time for 陈村医院, set in the policy editor
        await page.goto(`${base}/admin/hospitals/${chencun.id}/policy`);
        await page.getByTestId('time-limits').waitFor();
        await page.locator('#policy-stable').fill('1');
        await shot(page, '01-policy');
        await page.getByTestId('policy-save').click();
        await page.locator('.ant-message-success').waitFor();
        assert.equal((await srv.server.archive.ris.policy(chencun.id)).stableSeconds, 1);

        // the center worklist, connected to the live events
        await page.locator('.ant-layout-sider .ant-menu-item', { hasText: /^工作列表$/ }).click();
        await page.waitForURL(/\/worklist$/);
        await page.locator('[data-testid="live-state"][data-state="open"]').waitFor();
        await page.evaluate('window.__notReloaded = true');
        await shot(page, '02-worklist-empty');

        // the order arrives over MLLP
        const accession = `CC${String(Date.now()).slice(-8)}`;
        hl7Accession = accession;
        const sent = Date.now();
        const ack = iconv.decode(
          await hl7.send(ormO01({ controlId: `C${accession}`, accession, patientId: 'CC0001' })),
          'gb18030',
        );
        assert.match(ack, /MSA\|AA\|/, ack);
        const ackMs = Date.now() - sent;
        const row = page.locator(`tr[data-accession="${accession}"]`);
        await row.waitFor({ timeout: 5_000 });
        const appearedMs = Date.now() - sent;
        assert.equal(await row.getAttribute('data-status'), 'registered');
        assert.match((await row.textContent()) ?? '', /已登记/);
        assert.match((await row.textContent()) ?? '', /陈小明/);
        assert.match((await row.textContent()) ?? '', /急诊/);
        assert.equal(await page.evaluate('window.__notReloaded'), true, 'the page was not reloaded');
        console.log(`# HL7 order: ACK after ${ackMs} ms, on the worklist ${appearedMs} ms after it was sent`);
        assert.ok(appearedMs < 1_000, `the new exam took ${appearedMs} ms to appear (expected < 1 s)`);
        assert.equal(await page.getByTestId('count-registered').textContent(), '1');
        await shot(page, '03-worklist-registered');

        // images with that accession number over DIMSE: examined (stable after 1 s), then matched
        const studyUid = makeUid();
        await storescu(
          ctSeries({
            accession,
            patientId: 'CC0001',
            patientName: 'Chen^Xiaoming=陈^小明',
            studyUid,
            slices: 6,
          }),
          'matched',
        );
        await page
          .locator(`tr[data-accession="${accession}"][data-status="matched"]`)
          .waitFor({ timeout: 20_000 });
        assert.match((await row.textContent()) ?? '', /已匹配/);
        assert.equal(await page.evaluate('window.__notReloaded'), true, 'the page was not reloaded');
        await shot(page, '04-worklist-matched');

        // double-click → the case page
        await row.dblclick();
        await page.waitForURL(/\/exams\/\d+$/);
        const info = page.getByTestId('clinical-info');
        await info.waitFor();
        const text = (await info.textContent()) ?? '';
        for (const s of [
          '胸部CT平扫',
          '吸烟二十年，高血压病史五年',
          '咳嗽、咳痰两周，发热三天',
          '社区获得性肺炎',
          '排除肺部感染及占位',
          '呼吸内科',
          '门诊',
        ])
          assert.ok(text.includes(s), `the clinical information shows ${s}: ${text}`);
        assert.equal(await page.getByTestId('exam-patient-name').textContent(), '陈小明');
        const history = (await page.getByTestId('history').textContent()) ?? '';
        assert.match(history, /已登记 → 已检查/);
        assert.match(history, /已检查 → 已匹配/);
        await page.getByTestId('series-thumbnail').first().waitFor();
        // the thumbnail (WADO-RS over the session cookie) decodes as an image
        await poll(
          page,
          `Array.from(document.querySelectorAll('[data-testid="series-thumbnail"]')).some((i) => i.complete && i.naturalWidth > 0)`,
          'a decoded series thumbnail',
        ).catch(async (err: unknown) => {
          await shot(page, '05-case-page-failed');
          console.log(
            await page.evaluate(
              `JSON.stringify(Array.from(document.querySelectorAll('img')).map((i) => [i.src, i.complete, i.naturalWidth]))`,
            ),
          );
          throw err;
        });
        await page.getByTestId('report-panel').waitFor();
        await shot(page, '05-case-page');

        // open in the viewer (a new tab): the CT renders on OHIF's canvas
        const [viewer] = await Promise.all([
          page.context().waitForEvent('page'),
          page.getByTestId('open-viewer').click(),
        ]);
        await viewer.waitForLoadState();
        assert.match(
          viewer.url(),
          new RegExp(`/viewer/viewer\\?StudyInstanceUIDs=${studyUid.replace(/\./g, '\\.')}`),
        );
        const probe = await viewer.waitForFunction(CANVAS_PROBE, undefined, {
          timeout: 60_000,
          polling: 500,
        });
        const stats = (await probe.jsonValue()) as { lit: number };
        assert.ok(stats.lit > 500);
        await viewer.screenshot({ path: join(ARTIFACTS, '06-viewer.png') });
        await viewer.close();

        // the same images in the viewer embedded in the case page
        await page.getByTestId('embed-viewer').click();
        await page.locator('iframe[title="viewer"]').waitFor();
        let frame = page.frames().find((f) => f.url().includes('/viewer/viewer'));
        for (let i = 0; frame === undefined && i < 100; i++) {
          await new Promise((r) => setTimeout(r, 100));
          frame = page.frames().find((f) => f.url().includes('/viewer/viewer'));
        }
        assert.ok(frame !== undefined, 'the embedded viewer frame');
        await frame.waitForFunction(CANVAS_PROBE, undefined, { timeout: 60_000, polling: 500 });
        await shot(page, '06b-embedded-viewer');
        assert.deepEqual(errors, []);
      } finally {
        await close();
      }
    });

    it('registration form, matching queue, HL7 log and the member hospital view', async () => {
      // a technologist of 陈村医院 registers an exam in the form
      const tech = await login('cc-tech');
      let accession: string;
      try {
        const { page } = tech;
        await page.locator('.ant-layout-sider .ant-menu-item', { hasText: /^检查登记$/ }).click();
        await page.waitForURL(/\/register$/);
        await page.locator('#reg-patient-id').fill('CC0002');
        await page.locator('#reg-name').fill('黄丽华');
        await page.locator('#reg-sex').getByText('女').click();
        await page.locator('#reg-item-0').fill('上腹部CT平扫');
        await page.getByTestId('reg-add-item').click();
        await page.locator('#reg-item-1').fill('盆腔CT平扫');
        await page.locator('#reg-modality').click();
        await page.locator('.ant-select-item-option', { hasText: /^CT$/ }).click();
        await page.locator('#reg-class').getByText('住院').click();
        await page.locator('#reg-clinicalHistory').fill('胆囊结石术后三年');
        await page.locator('#reg-clinicalDiagnosis').fill('腹痛待查');
        await page.locator('#reg-dept').fill('普外科');
        await page.locator('#reg-physician').fill('赵医生');
        // validation: the patient ID must not contain ^
        await page.locator('#reg-patient-id').fill('CC^2');
        await page.getByTestId('register-submit').click();
        await page.getByText('最多 64 个字符，不能含 ^ \\ =').waitFor();
        await page.locator('#reg-patient-id').fill('CC0002');
        await shot(page, '07-register-form');
        await page.getByTestId('register-submit').click();
        const acc = page.getByTestId('accession-number');
        await acc.waitFor();
        accession = ((await acc.textContent()) ?? '').trim();
        assert.ok(accession.length > 0, 'an accession number is generated');
        await shot(page, '08-registered');
        const exam = await srv.server.archive.ris.findExamByAccession(chencun.id, accession);
        assert.equal(exam?.patient.name, '黄丽华');
        assert.deepEqual(
          exam?.examItems.map((i) => i.name),
          ['上腹部CT平扫', '盆腔CT平扫'],
        );
        assert.equal(exam?.patientClass, 'inpatient');
        assert.equal(exam?.clinicalHistory, '胆囊结石术后三年');

        // the case page: correct the order (修改申请单)
        await page.getByRole('button', { name: '查看病例' }).click();
        await page.waitForURL(/\/exams\/\d+$/);
        await page.getByTestId('edit-order').click();
        await page.locator('#reg-symptoms').fill('右上腹痛一周');
        await shot(page, '08b-edit-order');
        await page.getByRole('button', { name: '保 存' }).click();
        await page.getByTestId('clinical-info').getByText('右上腹痛一周').waitFor();
        const edited = await srv.server.archive.ris.findExamByAccession(chencun.id, accession);
        assert.equal(edited?.symptoms, '右上腹痛一周');
        assert.equal(edited?.clinicalHistory, '胆囊结石术后三年');
        assert.ok(edited.version > (exam?.version ?? 0));

        // 本院检查: the member's own exams, both orders of 陈村医院
        await page.locator('.ant-layout-sider .ant-menu-item', { hasText: /^本院检查$/ }).click();
        await page.waitForURL(/\/my-exams$/);
        await page.locator(`tr[data-accession="${accession}"]`).waitFor();
        assert.equal(await page.locator('tr.hy-exam-row').count(), 2);
        await shot(page, '09-my-exams');
        assert.deepEqual(tech.errors, []);
      } finally {
        await tech.close();
      }

      // images WITHOUT an accession number: a suggestion only; the center links them explicitly
      const studyUid = makeUid();
      await storescu(
        ctSeries({
          accession: undefined,
          patientId: 'CC0002',
          patientName: 'Huang^Lihua=黄^丽华',
          studyUid,
          slices: 2,
          studyDate: new Date().toISOString().slice(0, 10).replace(/-/g, ''),
        }),
        'unmatched',
      );
      const dr = await login('dr-wang');
      try {
        const { page } = dr;
        await page.locator('.ant-layout-sider .ant-menu-item', { hasText: /^匹配$/ }).click();
        await page.waitForURL(/\/matching$/);
        const orderRow = page.locator('tr', { hasText: accession });
        await orderRow.waitFor();
        const studyRow = page
          .locator('tr', { hasText: 'CC0002' })
          .filter({ hasText: '黄丽华' })
          .filter({ hasNotText: accession });
        // the study becomes stable after the policy's stable time (the page refreshes by itself)
        await studyRow.filter({ hasText: '已完成' }).first().waitFor({ timeout: 30_000 });
        await orderRow.click();
        const suggestion = page.getByTestId('suggestion-link').first();
        await suggestion.waitFor();
        await shot(page, '10-matching-suggestion');
        await suggestion.click();
        await page.locator('.ant-modal-confirm').waitFor();
        await shot(page, '11-matching-confirm');
        await page.getByTestId('link-ok').click();
        await page.locator('.ant-message-success').waitFor();
        const linked = await srv.server.archive.ris.findExamByAccession(chencun.id, accession);
        assert.ok(linked?.studyInstanceUid === studyUid, 'the study is linked to the order');
        assert.equal(linked.status, 'matched');
        await orderRow.waitFor({ state: 'detached' });

        // unlink on the case page, with a reason
        await page.goto(`${base}/exams/${linked.id}`);
        await page.getByTestId('unlink').click();
        await page.getByTestId('reason-input').fill('患者信息核对有误');
        await page.getByRole('button', { name: '确 定' }).click();
        await page.locator('.ant-message-success').waitFor();
        const unlinked = await srv.server.archive.ris.findExamByAccession(chencun.id, accession);
        assert.equal(unlinked?.studyId, null);
        await page.getByTestId('history').getByText('患者信息核对有误').waitFor();

        // images with this accession number but another patient: linked, and flagged 身份冲突
        await storescu(
          ctSeries({
            accession,
            patientId: 'CC0999',
            patientName: 'Zhou^Jie=周^杰',
            studyUid: makeUid(),
            slices: 1,
          }),
          'conflict',
        );
        const flag = page.getByTestId('identity-conflict');
        await flag.waitFor({ timeout: 20_000 });
        assert.match((await flag.textContent()) ?? '', /身份冲突.*CC0999/);
        await shot(page, '12b-identity-conflict');
        await shot(page, '12-unlinked');
        assert.deepEqual(dr.errors, []);
      } finally {
        await dr.close();
      }
    });

    it('claim, a 409 conflict for another radiologist, assign, overdue highlighted, keyboard, English', async () => {
      assert.ok(hl7Accession !== '', 'runs after the HL7 test');
      const a = srv.server.archive;
      const exam = await a.ris.findExamByAccession(chencun.id, hl7Accession);
      assert.ok(exam !== undefined);
      const wang = await login('dr-wang');
      const li = await login('dr-li');
      try {
        await wang.page.goto(`${base}/worklist`);
        await li.page.goto(`${base}/worklist`);
        const rowW = wang.page.locator(`tr[data-accession="${hl7Accession}"]`);
        const rowL = li.page.locator(`tr[data-accession="${hl7Accession}"]`);
        await rowW.waitFor();
        await rowL.waitFor();
        // 王医生 claims; 李医生's list shows it live
        await rowW.getByTestId('row-claim').click();
        await rowW.getByTestId('row-release').waitFor();
        await rowL.getByText('王医生').waitFor();
        // 李医生 presses "claim" too → 409, shown as a conflict dialog with the server's reason
        await rowL.getByTestId('row-claim').click();
        const conflict = li.page.getByTestId('conflict-message');
        await conflict.waitFor();
        assert.ok(((await conflict.textContent()) ?? '').length > 0);
        await shot(li.page, '13-claim-conflict');
        await li.page.getByRole('button', { name: /知道了|OK|确/ }).click();

        // 王医生 (administrator) assigns it to 李医生
        await rowW.locator('button[aria-label="操作"]').click();
        await wang.page.locator('.ant-dropdown-menu-item:visible', { hasText: /^分配$/ }).click();
        await wang.page.getByTestId('assign-select').click();
        await wang.page.locator('.ant-select-item-option', { hasText: '李医生' }).click();
        await wang.page.getByTestId('assign-ok').click();
        await rowW.getByText('李医生').waitFor();
        assert.equal((await a.ris.getExam(exam.id, { kind: 'all' })).assignedTo?.name, '李医生');
        await rowL.getByTestId('row-release').waitFor();

        // overdue: the due time passed → the row turns red and the countdown counts up
        await a.database.db
          .updateTable('exams')
          .set({ due_at: new Date(Date.now() - 5 * 60_000).toISOString() })
          .where('id', '=', exam.id)
          .execute();
        await wang.page.getByRole('button', { name: /刷\s*新/ }).click();
        await wang.page.locator(`tr.hy-overdue[data-accession="${hl7Accession}"]`).waitFor();
        assert.match((await rowW.getByTestId('countdown').textContent()) ?? '', /^超时 0:0[45]:\d\d$/);
        await wang.page.getByTestId('filter-overdue').click();
        await wang.page.locator(`tr.hy-overdue[data-accession="${hl7Accession}"]`).waitFor();
        await shot(wang.page, '14-overdue');

        // the keyboard: "/" focuses the search; a selected row opens with Enter
        await wang.page.getByTestId('filter-overdue').click();
        await wang.page.locator('body').press('/');
        assert.equal(await wang.page.evaluate('document.activeElement?.tagName'), 'INPUT');
        await rowW.locator('td').nth(3).click();
        await wang.page.getByTestId('worklist').press('Enter');
        await wang.page.waitForURL(new RegExp(`/exams/${exam.id}$`));
        await wang.page.goBack();
        await rowW.waitFor();

        // English
        await wang.page.getByTestId('user-menu').click();
        await wang.page.locator('.ant-dropdown-menu-submenu-title:visible', { hasText: '语言' }).hover();
        await wang.page.locator('.ant-dropdown-menu-item:visible', { hasText: /^English$/ }).click();
        await wang.page.locator('.ant-card-head-title', { hasText: 'Worklist' }).waitFor();
        await wang.page.getByTestId('tab-matched').getByText('Matched').waitFor();
        await shot(wang.page, '14b-worklist-english');
        assert.deepEqual(wang.errors, []);
        assert.deepEqual(li.errors, []);
      } finally {
        await wang.close();
        await li.close();
      }
    });

    it('HL7 message log: the ORM with its decoded Chinese text', async () => {
      const dr = await login('dr-wang');
      try {
        const { page } = dr;
        await page.goto(`${base}/admin/hl7`);
        const msgRow = page.locator('tr', { hasText: 'ORM^O01' }).first();
        await msgRow.waitFor();
        await msgRow.click();
        await page.getByTestId('hl7-text').waitFor();
        assert.match((await page.getByTestId('hl7-text').textContent()) ?? '', /陈\^小明/);
        await shot(page, '15-hl7-log');
        assert.deepEqual(dr.errors, []);
      } finally {
        await dr.close();
      }
    });
  });
}
