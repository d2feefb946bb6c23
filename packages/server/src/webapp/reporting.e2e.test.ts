/**
 * Reporting end to end in headless Debian Chromium (playwright-core, never a downloaded browser):
 *
 *   a resident (住院医师) opens a matched CT exam, takes the normal-findings template with Alt+T, edits
 *   the findings, sees 已自动保存 and submits with Ctrl+Enter (已报告) → an attending (主治医师) returns it
 *   with a review opinion (审查意见) → the resident sees the opinion live, revises and resubmits → the
 *   attending edits the impression directly and signs (审核签发) → the resident's worklist shows 已审核
 *   WITHOUT a reload → the attending adds an addendum (补充): a new signed version whose difference is
 *   shown in the version history, as are the reviewer's edits (insertions and deletions).
 *
 * More tests: two editors of one draft (the second autosave is refused: 他人已修改, reload); the
 * administrator configures 陈村医院's report header with a preview, then the print view shows that header
 * and the Chinese findings on the A4 sheet and the PDF downloads; a member-hospital clinician sees the
 * signed report read-only and prints it; templates/phrases and delivery outbox admin pages.
 *
 * On SQLite and on PostgreSQL (live events over LISTEN/NOTIFY). Screenshots go to .test-artifacts/reporting/
 * (PostgreSQL: …/reporting/postgresql/). Skips (with the reason) when Chromium or the built web
 * application is missing; HUIYING_REQUIRE_ALL=1 (CI) turns a skip into a failure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { crc32, deflateSync } from 'node:zlib';
import { createServer, type AddressInfo } from 'node:net';
import type { Browser, Locator, Page } from 'playwright-core';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { chromiumMissing, launchChromium } from '../testing/chromium.ts';
import { needCommand } from '../testing/peers.ts';
import { createTestDatabase, pgSkipReason, type TestDatabase } from '../testing/pg.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { hashPassword } from '../accounts/passwords.ts';
import type { Grade, Role } from '../accounts/model.ts';
import type { Hospital } from '../archive/ports.ts';
import type { Exam } from '../ris/model.ts';
import { defaultWebDir } from './plugin.ts';

const exec = promisify(execFile);
const ARTIFACTS_ROOT = resolve(import.meta.dirname, '..', '..', '..', '..', '.test-artifacts', 'reporting');
const PASSWORD = 'Baogao-Shenhe-2026!';

/** the built web application must contain the reporting UI (its strings are in the bundle) */
async function webHasReporting(dir: string): Promise<boolean> {
  try {
    const assets = join(dir, 'assets');
    for (const f of await readdir(assets))
      if (f.endsWith('.js') && readFileSync(join(assets, f), 'utf8').includes('已自动保存')) return true;
  } catch {
    return false;
  }
  return false;
}

function skipReason(): string | undefined {
  if (chromiumMissing() !== undefined) return chromiumMissing();
  const poppler = needCommand('pdftotext') || needCommand('pdfinfo');
  if (poppler !== false) return poppler;
  if (!existsSync(join(defaultWebDir(), 'index.html')))
    return `the web application is not built in ${defaultWebDir()} (npm run -w @huiying/web build)`;
  return undefined;
}
const reason = skipReason();
if (reason !== undefined && process.env.HUIYING_REQUIRE_ALL === '1')
  throw new Error(`reporting e2e prerequisites missing: ${reason}`);

const TEMPLATE = {
  name: '胸部CT平扫 正常',
  findings:
    '胸廓对称，气管居中。双肺纹理清晰，走行自然，双肺野未见明确实变及结节影。双侧肺门不大。心影大小形态未见异常。双侧胸腔未见积液。',
  impression: '胸部CT平扫未见明显异常。',
};
const RESIDENT_EDIT = '右肺上叶尖段见一直径约6mm磨玻璃结节，边界清楚。';
const OPINION = '请补充描述纵隔淋巴结情况，并给出随访建议。';
const REVISION = '纵隔内未见肿大淋巴结。';
const ATTENDING_IMPRESSION = '右肺上叶尖段磨玻璃小结节，考虑良性可能大，建议年度复查。';
const ADDENDUM = '补充：与2025年外院CT对比，结节大小无明显变化。';

/** A 48×48 PNG logo: a red cross on white (valid CRCs). */
function logoPng(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, c]);
  };
  const n = 48;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(n, 0);
  ihdr.writeUInt32BE(n, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.alloc(n * (1 + 3 * n), 255);
  for (let y = 0; y < n; y++) {
    raw[y * (1 + 3 * n)] = 0;
    for (let x = 0; x < n; x++) {
      const cross = (x >= 18 && x < 30 && y >= 6 && y < 42) || (y >= 18 && y < 30 && x >= 6 && x < 42);
      if (!cross) continue;
      const o = y * (1 + 3 * n) + 1 + 3 * x;
      raw[o] = 200;
      raw[o + 1] = 20;
      raw[o + 2] = 30;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const pgSkip = reason ?? (await pgSkipReason());
if (pgSkip !== false && process.env.HUIYING_REQUIRE_ALL === '1')
  throw new Error(`reporting e2e on PostgreSQL: ${pgSkip}`);

for (const dialect of ['sqlite', 'postgresql'] as const) {
  describe(
    `reporting in headless Chromium (${dialect})`,
    { skip: dialect === 'sqlite' ? (reason ?? false) : pgSkip, timeout: 300_000 },
    () => {
      /** SQLite screenshots in .test-artifacts/reporting/, PostgreSQL ones in …/reporting/postgresql/ */
      const ARTIFACTS = dialect === 'sqlite' ? ARTIFACTS_ROOT : join(ARTIFACTS_ROOT, 'postgresql');
      let pgDb: TestDatabase | undefined;
      let srv: TestServer;
      let base: string;
      let browser: Browser;
      let center: Hospital;
      let chencun: Hospital;
      let signedExam: Exam | undefined;

      before(async () => {
        if (dialect === 'postgresql') pgDb = await createTestDatabase();
        srv = await startTestServer({
          HUIYING_SYNC_MODE: 'normal',
          HUIYING_WORKFLOW_TICK_MS: '200',
          ...(pgDb !== undefined ? { HUIYING_DATABASE_URL: pgDb.url } : {}),
        });
        base = `http://127.0.0.1:${srv.httpPort}`;
        const a = srv.server.archive;
        assert.ok(
          await webHasReporting(defaultWebDir()),
          'the built web application contains the reporting UI',
        );
        const c = (await a.hospitals.list()).find((h) => h.isCenter);
        assert.ok(c !== undefined, 'the first start creates the center');
        center = c;
        chencun = await srv.hospital('CHENCUN', { name: '陈村医院', charset: 'GB18030' });

        const users: [string, string, number, Role[], Grade | undefined][] = [
          ['dr-li', '李住院', center.id, ['center_radiologist'], 'resident'],
          ['dr-wang', '王主治', center.id, ['center_radiologist'], 'attending'],
          ['sys', '系统管理员', center.id, ['system_admin'], undefined],
          ['cc-doc', '陈村临床', chencun.id, ['member_clinician'], undefined],
        ];
        for (const [username, displayName, hospitalId, roles, grade] of users) {
          const { user } = await a.accounts.createUser('system', {
            username,
            displayName,
            hospitalId,
            roles,
            ...(grade !== undefined ? { grade } : {}),
          });
          await a.accounts.users.setPassword(user.id, await hashPassword(PASSWORD), false, new Date());
        }
        // the center-wide normal-findings template
        await a.reporting.store.createTemplate(
          {
            scope: 'center',
            hospitalId: null,
            ownerId: null,
            modality: 'CT',
            bodyPart: 'CHEST',
            name: TEMPLATE.name,
            findings: TEMPLATE.findings,
            impression: TEMPLATE.impression,
            recommendation: '',
          },
          new Date().toISOString(),
        );
        // the phrase library (center-wide)
        for (const [category, text] of [
          ['肺', '双肺纹理清晰。'],
          ['纵隔', REVISION],
          ['建议', '建议12个月后复查胸部CT。'],
        ] as const)
          await a.reporting.store.createPhrase(
            { scope: 'center', hospitalId: null, ownerId: null, category, text },
            new Date().toISOString(),
          );
        await mkdir(ARTIFACTS, { recursive: true });
        browser = await launchChromium();
      });

      after(async () => {
        await browser?.close();
        await srv?.stop();
        await pgDb?.drop();
      });

      /** a CT chest order of 陈村医院 with a stored study of the same accession number → matched */
      async function matchedExam(patientName: string, patientId: string): Promise<Exam> {
        const a = srv.server.archive;
        const accession = `CC${Date.now().toString().slice(-7)}${Math.floor(Math.random() * 90 + 10)}`;
        await a.ris.placeOrder(
          {
            hospitalId: chencun.id,
            source: 'form',
            patient: { patientId, name: patientName, sex: 'M', birthDate: '19700315' },
            accessionNumber: accession,
            examItems: [{ name: '胸部CT平扫' }],
            modality: 'CT',
            bodyPart: 'CHEST',
            priority: 'routine',
            patientClass: 'outpatient',
            clinicalHistory: '体检发现肺结节',
            clinicalDiagnosis: '肺结节待查',
            requestingDepartment: '呼吸内科',
            requestingPhysician: '李建国',
          },
          { type: 'system', id: 'test', name: 'test' },
        );
        await a.ingest.ingestPart10Stream({
          hospitalId: chencun.id,
          source: 'import',
          data: Readable.from([
            Buffer.from(
              makeInstance({
                patientName,
                patientId,
                charset: 'ISO_IR 192',
                studyUid: makeUid(),
                accessionNumber: accession,
                modality: 'CT',
                studyDescription: '胸部CT平扫',
                bodyPartExamined: 'CHEST',
              }),
            ),
          ]),
        });
        await a.ris.flushArrivals();
        await a.ris.tick({ settleAll: true });
        const e = await a.ris.findExamByAccession(chencun.id, accession);
        assert.equal(e?.status, 'matched', 'the exam is matched');
        return e;
      }

      async function login(
        username: string,
      ): Promise<{ page: Page; errors: string[]; close: () => Promise<void> }> {
        const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, locale: 'zh-CN' });
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

      const attrs = async (loc: Locator, name: string): Promise<(string | null)[]> =>
        Promise.all((await loc.all()).map((l) => l.getAttribute(name)));

      const shot = (page: Page, name: string) =>
        page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

      const panelMode = (page: Page, mode: string) =>
        page.locator(`[data-testid="report-panel"][data-mode="${mode}"]`).waitFor();

      const reportStatus = (page: Page, status: string) =>
        page.locator(`[data-testid="report-status"][data-status="${status}"]`).waitFor();

      it('draft from a template → return with opinion → revise → sign → live 已审核 → addendum with diff', async () => {
        const exam = await matchedExam('Chen^Jianguo=陈^建国', 'CC7001');
        const res = await login('dr-li');
        const att = await login('dr-wang');
        try {
          // ---- the resident writes from the template (Alt+T, Enter), edits, autosaves, submits (Ctrl+Enter)
          const rp = res.page;
          await rp.goto(`${base}/exams/${exam.id}`);
          await panelMode(rp, 'edit');
          await reportStatus(rp, 'none');
          assert.match((await rp.getByTestId('review-required').textContent()) ?? '', /需上级审核/);
          await rp.getByTestId('report-findings').click();
          await rp.keyboard.press('Alt+t');
          await rp.getByTestId('template-search').waitFor();
          await rp.locator('[data-testid="template-item"]', { hasText: TEMPLATE.name }).waitFor();
          await shot(rp, '01-template-picker');
          await rp.getByTestId('template-search').press('Enter');
          await rp.getByTestId('template-search').waitFor({ state: 'hidden' });
          assert.equal(await rp.getByTestId('report-findings').inputValue(), TEMPLATE.findings);
          assert.equal(await rp.getByTestId('report-impression').inputValue(), TEMPLATE.impression);
          // the resident adds a finding at the end and changes the impression
          await rp.getByTestId('report-findings').focus();
          await rp.keyboard.press('Control+End');
          await rp.keyboard.insertText(RESIDENT_EDIT);
          await rp.getByTestId('report-impression').fill('右肺上叶尖段磨玻璃小结节。');
          await rp.getByTestId('report-positive').click();
          // a structured category offered for CT chest
          await rp.getByTestId('structured-Lung-RADS').click();
          await rp.locator('.ant-select-item-option', { hasText: '2 类：良性表现' }).click();
          const saved = rp.locator('[data-testid="autosave-status"][data-state="saved"]');
          await saved.waitFor();
          assert.match((await saved.textContent()) ?? '', /已自动保存 \d{1,2}:\d{2}:\d{2}/);
          await reportStatus(rp, 'draft');
          const draft = (await srv.server.archive.reporting.store.byExam(exam.id))?.draft;
          assert.equal(
            draft?.findings,
            TEMPLATE.findings + RESIDENT_EDIT,
            'the autosaved draft holds the findings',
          );
          assert.equal(draft.positive, true);
          assert.deepEqual(draft.structured, { 'Lung-RADS': '2' });
          // starting the report claimed the exam
          assert.equal(
            (await srv.server.archive.ris.getExam(exam.id, { kind: 'all' })).assignedTo?.name,
            '李住院',
          );
          // the keyboard help is there
          await rp.getByTestId('shortcut-button').hover();
          await rp.getByTestId('shortcut-help').waitFor();
          assert.match((await rp.getByTestId('shortcut-help').textContent()) ?? '', /Ctrl\+Enter.*Alt\+T/s);
          await shot(rp, '02-resident-draft-autosaved');
          await rp.mouse.move(10, 10);
          await rp.getByTestId('report-findings').focus();
          await rp.keyboard.press('Control+Enter');
          await reportStatus(rp, 'preliminary');
          await panelMode(rp, 'waiting');
          assert.equal((await srv.server.archive.ris.getExam(exam.id, { kind: 'all' })).status, 'reported');
          await shot(rp, '03-resident-submitted');

          // ---- the attending returns it with a review opinion
          const ap = att.page;
          await ap.goto(`${base}/exams/${exam.id}`);
          await panelMode(ap, 'review');
          assert.match((await ap.getByTestId('review-banner').textContent()) ?? '', /李住院/);
          await ap.getByTestId('report-return').click();
          await ap.getByTestId('return-opinion').fill(OPINION);
          await shot(ap, '04-attending-return');
          await ap.getByTestId('return-opinion-ok').click();
          await reportStatus(ap, 'draft');
          assert.equal((await srv.server.archive.ris.getExam(exam.id, { kind: 'all' })).status, 'matched');

          // ---- the resident sees the opinion without reloading, revises and resubmits
          await rp.evaluate('window.__notReloaded = true');
          await rp.getByTestId('review-opinion').waitFor();
          assert.match(
            (await rp.getByTestId('review-opinion').textContent()) ?? '',
            /请补充描述纵隔淋巴结情况/,
          );
          assert.match((await rp.getByTestId('review-opinion').textContent()) ?? '', /王主治/);
          await panelMode(rp, 'edit');
          // the revision comes from the phrase library, inserted at the caret (the end of the findings)
          await rp.getByTestId('report-findings').focus();
          await rp.keyboard.press('Control+End');
          await rp.locator('[data-testid="phrase-item"] a', { hasText: REVISION }).click();
          assert.ok(
            (await rp.getByTestId('report-findings').inputValue()).endsWith(RESIDENT_EDIT + REVISION),
          );
          await rp.getByTestId('report-recommendation').fill('建议12个月后复查胸部CT。');
          await rp.locator('[data-testid="autosave-status"][data-state="saved"]').waitFor();
          await shot(rp, '05-resident-revises');
          await rp.getByTestId('report-submit').click();
          await reportStatus(rp, 'preliminary');
          assert.equal(await rp.evaluate('window.__notReloaded'), true, 'the case page was not reloaded');

          // ---- the resident watches the worklist while the attending signs
          const wl = await res.page.context().newPage();
          await wl.goto(`${base}/worklist`);
          const row = wl.locator(`tr[data-accession="${exam.accessionNumber}"]`);
          await row.waitFor();
          await wl.locator('[data-testid="live-state"][data-state="open"]').waitFor();
          assert.equal(await row.getAttribute('data-status'), 'reported');
          await wl.evaluate('window.__notReloaded = true');

          // ---- the attending edits the impression directly and signs (Ctrl+Enter → confirm)
          await panelMode(ap, 'review');
          assert.ok((await ap.getByTestId('report-findings').inputValue()).endsWith(REVISION));
          await ap.getByTestId('report-impression').fill(ATTENDING_IMPRESSION);
          await ap.getByTestId('review-edited').waitFor();
          await ap.keyboard.press('Control+Enter');
          await ap.getByTestId('approve-ok').waitFor();
          await shot(ap, '06-attending-approve');
          const signing = Date.now();
          await ap.getByTestId('approve-ok').click();
          await reportStatus(ap, 'signed');
          await panelMode(ap, 'signed');
          assert.equal(await ap.getByTestId('ro-impression').textContent(), ATTENDING_IMPRESSION);

          // ---- the worklist shows 已审核 without a reload
          await wl.locator(`tr[data-accession="${exam.accessionNumber}"][data-status="reviewed"]`).waitFor({
            timeout: 5_000,
          });
          const liveMs = Date.now() - signing;
          console.log(
            `# 已审核 appeared on the worklist ${liveMs} ms after the attending confirmed the signature`,
          );
          assert.match((await row.textContent()) ?? '', /已审核/);
          assert.equal(await wl.evaluate('window.__notReloaded'), true, 'the worklist was not reloaded');
          await shot(wl, '07-worklist-reviewed-live');

          // ---- an addendum: a new signed version, its difference in the history
          await ap.getByTestId('report-addendum').click();
          await ap.getByTestId('addendum-text').fill(ADDENDUM);
          await ap.getByTestId('addendum-text-ok').click();
          await ap.getByTestId('ro-addendum').waitFor();
          assert.match((await ap.getByTestId('ro-addendum').textContent()) ?? '', /与2025年外院CT对比/);
          const history = ap.getByTestId('version-history');
          await history.waitFor();
          // 修改率: the reviewer changed the impression; one return
          const revision = (await ap.getByTestId('revision-stats').textContent()) ?? '';
          assert.match(revision, /审核修改率 \d+(\.\d)?%/);
          assert.match(revision, /退回 1 次/);
          const kinds = await attrs(ap.locator('[data-testid="version-row"]'), 'data-kind');
          assert.deepEqual(
            [...kinds].reverse(),
            ['preliminary', 'preliminary', 'final', 'addendum'],
            `versions: ${kinds.join(',')}`,
          );
          // the newest (the addendum) is selected: its text is an insertion
          const diff = ap.getByTestId('version-diff');
          assert.match(
            (await diff.locator('[data-testid="diff-insert"]').allTextContents()).join(''),
            /外院CT对比/,
          );
          await shot(ap, '08-addendum-diff');
          // the final version against the resident's resubmitted preliminary: the attending's edit
          await ap.locator('[data-testid="version-row"][data-kind="final"]').click();
          const ins = (await diff.locator('[data-testid="diff-insert"]').allTextContents()).join('');
          const del = (await diff.locator('[data-testid="diff-delete"]').allTextContents()).join('');
          assert.ok(ins.includes('考虑良性可能大'), `inserted: ${ins}`);
          assert.ok(del.length > 0 || ins.length > 0, 'the reviewer edit shows as a difference');
          await shot(ap, '09-reviewer-edit-diff');
          // the second preliminary against the first: the resident's revision
          await ap.locator('[data-testid="version-row"][data-kind="preliminary"]').first().click();
          assert.match(
            (await diff.locator('[data-testid="diff-insert"]').allTextContents()).join(''),
            /纵隔内未见肿大淋巴结/,
          );
          signedExam = exam;
          assert.deepEqual(res.errors, []);
          assert.deepEqual(att.errors, []);
        } finally {
          await res.close();
          await att.close();
        }
      });

      it('two editors of one draft: the stale autosave is refused and shown as 他人已修改', async () => {
        const exam = await matchedExam('Liang^Wei=梁^伟', 'CC7002');
        const res = await login('dr-li');
        try {
          const a = res.page;
          await a.goto(`${base}/exams/${exam.id}`);
          await panelMode(a, 'edit');
          await a.getByTestId('report-findings').fill('双肺纹理清晰。');
          await a.locator('[data-testid="autosave-status"][data-state="saved"]').waitFor();
          // a second tab loads the same draft
          const b = await a.context().newPage();
          b.on('pageerror', (e) => res.errors.push(e.message));
          await b.goto(`${base}/exams/${exam.id}`);
          await panelMode(b, 'edit');
          // the first tab saves again; the second tab's version is now stale
          await a.getByTestId('report-findings').fill('双肺纹理清晰，未见实变。');
          const typed = Date.now();
          await a.locator('[data-testid="autosave-status"][data-state="saved"]').waitFor();
          console.log(`# autosaved ${Date.now() - typed} ms after the last keystroke (debounce 1200 ms)`);
          await b.getByTestId('report-findings').fill('第二个窗口的文字。');
          await b.getByTestId('report-conflict').waitFor();
          assert.match((await b.getByTestId('report-conflict').textContent()) ?? '', /他人已修改/);
          assert.equal(
            await b.getByTestId('report-findings').inputValue(),
            '第二个窗口的文字。',
            'nothing is lost',
          );
          await shot(b, '10-conflict');
          await b.getByTestId('report-reload').click();
          await b.getByTestId('report-conflict').waitFor({ state: 'hidden' });
          assert.equal(await b.getByTestId('report-findings').inputValue(), '双肺纹理清晰，未见实变。');
          // the text as a personal template, offered by the template picker afterwards
          await b.getByTestId('save-template').click();
          await b.getByTestId('template-name').fill('我的胸部CT模板');
          await b.getByTestId('template-save-ok').click();
          await b.getByText('已存为个人模板').waitFor();
          await b.getByTestId('template-name').waitFor({ state: 'hidden' });
          await b.keyboard.press('Alt+t');
          await b.locator('[data-testid="template-item"][data-name="我的胸部CT模板"]').waitFor();
          await b.keyboard.press('Escape');
          // Alt+N from the signed case: the next case waiting for a report (this one)
          assert.ok(signedExam !== undefined);
          await b.goto(`${base}/exams/${signedExam.id}`);
          await panelMode(b, 'signed');
          await b.keyboard.press('Alt+n');
          await b.waitForURL(new RegExp(`/exams/${exam.id}$`));
          await panelMode(b, 'edit');
          assert.deepEqual(res.errors, []);
        } finally {
          await res.close();
        }
      });

      it('a signed report is corrected (更正) with a reason: a new signed version, shown and printed', async () => {
        const exam = await matchedExam('Huang^Min=黄^敏', 'CC7003');
        const res = await login('dr-li');
        const att = await login('dr-wang');
        try {
          const rp = res.page;
          await rp.goto(`${base}/exams/${exam.id}`);
          await panelMode(rp, 'edit');
          await rp.getByTestId('report-findings').fill('左肺下叶背段见斑片状高密度影。');
          await rp.getByTestId('report-impression').fill('左肺下叶炎症。');
          await rp.getByTestId('report-submit').click();
          await reportStatus(rp, 'preliminary');
          const ap = att.page;
          await ap.goto(`${base}/exams/${exam.id}`);
          await panelMode(ap, 'review');
          await ap.getByTestId('report-approve').click();
          await ap.getByTestId('approve-ok').click();
          await panelMode(ap, 'signed');
          // signed text is read-only
          assert.equal(await ap.locator('[data-testid="report-panel"] textarea').count(), 0);
          await ap.getByTestId('report-correction').click();
          await ap.getByTestId('correction-impression').fill('左肺下叶背段炎症，建议抗炎治疗后复查。');
          // the reason is required
          await ap.getByTestId('correction-ok').click();
          await ap.getByText('请填写更正原因').waitFor();
          await ap.getByTestId('correction-reason').fill('诊断意见表述不完整');
          await shot(ap, '10b-correction');
          await ap.getByTestId('correction-ok').click();
          await ap.locator('[data-testid="ro-impression"]', { hasText: '建议抗炎治疗后复查' }).waitFor();
          await ap.locator('[data-testid="version-row"][data-kind="correction"]').waitFor();
          const ins = (
            await ap.getByTestId('version-diff').locator('[data-testid="diff-insert"]').allTextContents()
          ).join('');
          assert.match(ins, /背段/);
          assert.match((await ap.getByTestId('report-readonly').textContent()) ?? '', /诊断意见表述不完整/);
          await ap.goto(`${base}/exams/${exam.id}/report/print`);
          assert.match(
            (await ap.getByTestId('sheet-correction').textContent()) ?? '',
            /更正报告（原因：诊断意见表述不完整）/,
          );
          await shot(ap, '10c-correction-print');
          assert.deepEqual(res.errors, []);
          assert.deepEqual(att.errors, []);
        } finally {
          await res.close();
          await att.close();
        }
      });

      it('report header admin with preview → print view with the header and Chinese findings, PDF', async () => {
        assert.ok(signedExam !== undefined, 'the first test signed a report');
        const exam = signedExam;
        const adm = await login('sys');
        try {
          const p = adm.page;
          await p.goto(`${base}/admin/report-header`);
          await p.getByTestId('header-form').waitFor();
          await p.getByTestId('header-hospital').click();
          await p.locator('.ant-select-item-option', { hasText: /^陈村医院$/ }).click();
          await p.locator('#header-line-0').waitFor();
          await p.locator('#header-line-0').fill('佛山市顺德区陈村医院');
          await p.locator('#header-line-2').fill('CT 检查报告单');
          await p.locator('#header-footer').fill('本报告仅供临床参考。陈村医院 · 顺德区域医学影像诊断中心');
          // the logo: a PNG upload; anything else is refused in the browser
          await p.locator('input[type="file"]').setInputFiles({
            name: 'logo.gif',
            mimeType: 'image/png',
            buffer: Buffer.from('GIF89a not a png'),
          });
          await p.getByText('Logo 必须是 PNG 图片').waitFor();
          await p.locator('input[type="file"]').setInputFiles({
            name: 'logo.png',
            mimeType: 'image/png',
            buffer: logoPng(),
          });
          // the preview follows the form
          const preview = p.getByTestId('header-preview');
          await preview.getByText('佛山市顺德区陈村医院').waitFor();
          await preview.getByTestId('sheet-logo').waitFor();
          await shot(p, '11-header-admin');
          await p.getByTestId('header-save').click();
          await p.locator('.ant-message-success').waitFor();
          const r = await p.request.get(`${base}/api/admin/hospitals/${chencun.id}/report-header`);
          const { header } = (await r.json()) as {
            header: { lines: string[]; logoPngBase64: string | null };
          };
          assert.deepEqual(header.lines, ['佛山市顺德区陈村医院', '区域医学影像诊断中心', 'CT 检查报告单']);
          assert.equal(header.logoPngBase64, logoPng().toString('base64'));

          // the print view of the signed report
          await p.goto(`${base}/exams/${exam.id}/report/print`);
          const sheet = p.getByTestId('report-sheet');
          await sheet.waitFor();
          const lines = (await p.getByTestId('sheet-header-lines').textContent()) ?? '';
          assert.match(lines, /佛山市顺德区陈村医院/);
          assert.match(lines, /区域医学影像诊断中心/);
          assert.match(lines, /CT 检查报告单/);
          const findings = (await p.getByTestId('sheet-findings').textContent()) ?? '';
          assert.ok(findings.includes(TEMPLATE.findings + RESIDENT_EDIT + REVISION), findings);
          assert.equal(await p.getByTestId('sheet-impression').textContent(), ATTENDING_IMPRESSION);
          const fields = (await p.getByTestId('sheet-fields').textContent()) ?? '';
          assert.match(fields, /姓名：陈建国/);
          assert.match(fields, new RegExp(`检查号：${exam.accessionNumber}`));
          assert.match(
            (await p.getByTestId('sheet-signatures').textContent()) ?? '',
            /报告医师：李住院.*审核医师：王主治/s,
          );
          assert.match((await p.getByTestId('sheet-addendum').textContent()) ?? '', /外院CT对比/);
          assert.equal(
            await p.getByTestId('sheet-watermark').count(),
            0,
            'a signed version has no watermark',
          );
          assert.match((await p.getByTestId('report-sheet').textContent()) ?? '', /Lung-RADS：2/);
          await p.getByTestId('sheet-logo').waitFor();
          await shot(p, '12-print-view');
          // print media: only the sheet, one A4 page (what the browser's print dialog produces)
          await p.emulateMedia({ media: 'print' });
          assert.equal(await p.locator('.ant-layout-sider').isVisible(), false);
          assert.equal(await p.getByTestId('print-button').isVisible(), false);
          const printed = join(ARTIFACTS, '13-print-view.pdf');
          await p.pdf({ path: printed, preferCSSPageSize: true, printBackground: true });
          await p.emulateMedia({ media: 'screen' });
          const info = (await exec('pdfinfo', [printed])).stdout;
          assert.match(info, /Pages:\s+1\n/, info);
          assert.match(info, /Page size:\s+59\d\.\d+ x 84\d\.\d+ pts \(A4\)/, info);
          const printedText = (await exec('pdftotext', ['-layout', printed, '-'])).stdout;
          assert.match(printedText, /佛山市顺德区陈村医院/);
          assert.match(printedText, /区域医学影像诊断中心/);
          assert.match(printedText, /纵隔内\s*未见肿大淋巴结/);
          assert.doesNotMatch(printedText, /工作列表|下载 PDF/, 'no navigation or toolbar on paper');
          // the PDF download
          const href = await p.getByTestId('print-pdf').getAttribute('href');
          assert.ok(href !== null);
          const pdf = await p.request.get(`${base}${href}`);
          assert.equal(pdf.status(), 200);
          assert.equal(pdf.headers()['content-type'], 'application/pdf');
          assert.equal((await pdf.body()).subarray(0, 5).toString('latin1'), '%PDF-');
          assert.deepEqual(adm.errors, []);
        } finally {
          await adm.close();
        }

        // the member hospital's clinician: the signed report, read-only, printable
        const doc = await login('cc-doc');
        try {
          const p = doc.page;
          await p.goto(`${base}/exams/${exam.id}`);
          await p.getByTestId('report-readonly').waitFor();
          assert.equal(await p.getByTestId('ro-impression').textContent(), ATTENDING_IMPRESSION);
          assert.equal(await p.getByTestId('report-submit').count(), 0);
          assert.equal(await p.getByTestId('report-addendum').count(), 0);
          assert.equal(
            await p.locator('[data-testid="report-panel"] textarea').count(),
            0,
            'nothing is editable',
          );
          await shot(p, '14-member-readonly');
          await p.goto(`${base}/exams/${exam.id}/report/print`);
          await p.getByTestId('report-sheet').waitFor();
          assert.match(
            (await p.getByTestId('sheet-header-lines').textContent()) ?? '',
            /佛山市顺德区陈村医院/,
          );
          // English user interface: the panel in English, the Chinese report text untouched
          await p.evaluate("localStorage.setItem('huiying.lang', 'en')");
          await p.goto(`${base}/exams/${exam.id}`);
          await p.getByTestId('report-readonly').waitFor();
          assert.match(
            (await p.getByTestId('report-panel').textContent()) ?? '',
            /Report.*Findings.*Impression/s,
          );
          assert.equal(await p.getByTestId('ro-impression').textContent(), ATTENDING_IMPRESSION);
          await shot(p, '15-member-english');
          assert.deepEqual(doc.errors, []);
        } finally {
          await doc.close();
        }
      });

      it('templates and phrases admin, delivery outbox admin', async () => {
        const adm = await login('sys');
        try {
          const p = adm.page;
          await p.goto(`${base}/admin/report-templates`);
          await p.locator('tr', { hasText: TEMPLATE.name }).waitFor();
          await p.getByTestId('template-new').click();
          await p.locator('#template-name-input').fill('头颅CT平扫 正常');
          await p
            .locator('#template-findings-input')
            .fill('脑实质内未见异常密度影，脑室系统未见扩张，中线结构居中。');
          await p.locator('#template-impression-input').fill('头颅CT平扫未见明显异常。');
          await shot(p, '16-template-edit');
          await p.locator('.ant-modal-footer .ant-btn-primary').click();
          await p.locator('tr', { hasText: '头颅CT平扫 正常' }).waitFor();
          await shot(p, '17-templates');

          // delivery: the archive copies of the signed versions were delivered
          await p.goto(`${base}/admin/delivery`);
          await p
            .locator('[data-testid="outbox-row"][data-state="delivered"]')
            .first()
            .waitFor({ timeout: 20_000 });
          // an HL7 channel for 陈村医院 whose receiver is down
          const closed = createServer();
          await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
          const port = (closed.address() as AddressInfo).port;
          await new Promise<void>((r) => closed.close(() => r()));
          await p.getByRole('tab', { name: '分发通道' }).click();
          await p.getByTestId('channel-new').click();
          await p.locator('#channel-hospital').click();
          await p.locator('.ant-select-item-option', { hasText: /^陈村医院$/ }).click();
          await p.locator('#channel-name').fill('陈村 HIS 报告接口');
          await p.locator('#channel-host').fill('127.0.0.1');
          await p.locator('#channel-port').fill(String(port));
          await p.getByTestId('channel-ok').click();
          await p.locator('tr', { hasText: '陈村 HIS 报告接口' }).waitFor();
          await shot(p, '18-channels');
          // a new signed version (an addendum by the attending over the REST API) goes to that channel too
          assert.ok(signedExam !== undefined);
          const login = await fetch(`${base}/api/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: 'dr-wang', password: PASSWORD }),
          });
          const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
          const { csrfToken } = (await login.json()) as { csrfToken: string };
          const state = (await (
            await fetch(`${base}/api/exams/${signedExam.id}/report`, { headers: { cookie } })
          ).json()) as { report: { version: number } };
          const add = await fetch(`${base}/api/exams/${signedExam.id}/report/addendum`, {
            method: 'POST',
            headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
            body: JSON.stringify({ version: state.report.version, text: '补充：病理结果待回报。' }),
          });
          assert.equal(add.status, 200, await add.clone().text());
          await p.getByRole('tab', { name: '分发队列' }).click();
          const hl7Row = p.locator('[data-testid="outbox-row"][data-state="pending"]', {
            hasText: `127.0.0.1:${port}`,
          });
          await hl7Row.filter({ hasText: /ECONNREFUSED|refused|connect/i }).waitFor({ timeout: 20_000 });
          assert.match((await hl7Row.textContent()) ?? '', /HL7 ORU/);
          await shot(p, '19-outbox-failing');
          await hl7Row.getByTestId('outbox-retry').click();
          await p.getByText('已安排重试').waitFor();
          // every signed version's archive copy is delivered (2 + 2 signed versions above, this addendum)
          await p
            .locator('[data-testid="outbox-row"][data-state="delivered"]')
            .nth(4)
            .waitFor({ timeout: 20_000 });
          assert.deepEqual(adm.errors, []);
        } finally {
          await adm.close();
        }
      });
    },
  );
}
