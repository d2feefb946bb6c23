/**
 * Cross-hospital isolation end to end in headless Debian Chromium (playwright-core): a member-hospital
 * user of 陈村医院 (A) logs in through the web app and cannot see 杏坛医院 (B)'s study — not in the viewer's
 * study list, not by opening /viewer/viewer?StudyInstanceUIDs=<B> (no image, no B patient name), not by a
 * fetch of /dicomweb/studies/<B>/metadata from the page (404) — but opens A's own study (a non-blank
 * canvas). Screenshots go to .test-artifacts/access/.
 *
 * Skips (with the reason) when /usr/bin/chromium, the built web UI or the viewer dist is missing;
 * HUIYING_REQUIRE_ALL=1 (CI) turns a skip into a failure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, chromiumMissing, CANVAS_PROBE } from '../../testing/chromium.ts';
import { startTestServer, type TestServer } from '../../testing/test-server.ts';
import { demoUid, seedDemo } from '../../demo/seed.ts';
import { defaultWebDir } from '../../webapp/plugin.ts';
import { defaultViewerDir } from '../../viewer/plugin.ts';

const ARTIFACTS = resolve(import.meta.dirname, '..', '..', '..', '..', '..', '.test-artifacts', 'access');
const PW = 'Cross-Hospital-2026!';
/** A's first patient (陈建国) CT study, B's first patient (麦淑芬) CT study */
const A_STUDY = demoUid('CHENCUN/CC000001/0');
const B_STUDY = demoUid('XINGTAN/XT000001/0');
const B_NAMES = /麦淑芬|罗国华|区嘉欣|Mai, Shufen|Luo, Guohua|Ou, Jiaxin/;

function skipReason(): string | undefined {
  if (chromiumMissing() !== undefined) return chromiumMissing();
  if (!existsSync(join(defaultWebDir(), 'index.html')))
    return `the web application is not built in ${defaultWebDir()} (npm run -w @huiying/web build)`;
  if (!existsSync(join(defaultViewerDir(), 'index.html')))
    return `the OHIF viewer is not installed in ${defaultViewerDir()} (npm run viewer:install)`;
  return undefined;
}
const reason = skipReason();
if (reason !== undefined && process.env.HUIYING_REQUIRE_ALL === '1')
  throw new Error(`cross-hospital e2e prerequisites missing: ${reason}`);

/** Runs in the page: a viewport canvas with an image on it (as in viewer.e2e.test.ts). */

describe(
  'a member hospital cannot open another hospital’s study (headless Chromium)',
  { skip: reason ?? false, timeout: 180_000 },
  () => {
    let srv: TestServer;
    let base: string;
    let browser: Browser;
    let page: Page;
    const bRequests: string[] = [];

    before(async () => {
      srv = await startTestServer();
      base = `http://127.0.0.1:${srv.httpPort}`;
      await seedDemo(srv.server.archive, { password: PW, print: () => undefined });
      await mkdir(ARTIFACTS, { recursive: true });
      browser = await launchChromium();
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
      page = await ctx.newPage();
      page.setDefaultTimeout(15_000);
      page.on('response', (r) => {
        // any non-empty successful DICOMweb answer about B's study is a leak (QIDO answers 200 [] or 204)
        if (!r.url().includes('/dicomweb/') || !r.url().includes(B_STUDY) || r.status() >= 300) return;
        void r
          .text()
          .then((t) => {
            if (t.trim() !== '[]' && t.trim() !== '')
              bRequests.push(`${r.status()} ${r.url()} ${t.slice(0, 120)}`);
          })
          .catch(() => undefined);
      });
      // log in through the web app
      await page.goto(`${base}/`);
      await page.locator('#login-username').fill('chencun.doctor');
      await page.locator('#login-password').fill(PW);
      await page.getByTestId('login-submit').click();
      await page.getByTestId('home-welcome').waitFor();
      await page.screenshot({ path: join(ARTIFACTS, '01-logged-in.png'), fullPage: true });
    });

    after(async () => {
      await browser?.close();
      await srv?.stop();
    });

    it('the viewer study list shows A’s patients, none of B’s', async () => {
      await page.goto(`${base}/viewer/`);
      await page
        .getByText(/陈建国/)
        .first()
        .waitFor({ timeout: 45_000 });
      await page.screenshot({ path: join(ARTIFACTS, '02-study-list.png'), fullPage: true });
      const body = (await page.locator('body').textContent()) ?? '';
      assert.doesNotMatch(body, B_NAMES, 'a patient of B is listed');
    });

    it('opening B’s study in the viewer shows no image and no B data', async () => {
      await page.goto(`${base}/viewer/viewer?StudyInstanceUIDs=${B_STUDY}`);
      const lit = await page
        .waitForFunction(CANVAS_PROBE, undefined, { timeout: 12_000, polling: 500 })
        .then((h) => h.jsonValue())
        .catch(() => false);
      await page.screenshot({ path: join(ARTIFACTS, '03-viewer-b-study.png'), fullPage: true });
      assert.equal(lit, false, `an image of B is drawn: ${JSON.stringify(lit)}`);
      const body = (await page.locator('body').textContent()) ?? '';
      assert.doesNotMatch(body, B_NAMES, "B's patient name is shown");
      assert.deepEqual(bRequests, [], "successful answers about B's study");
    });

    it('a fetch from the page of B’s metadata answers 404; A’s answers 200', async () => {
      const statuses = await page.evaluate<number[]>(
        `Promise.all(['${B_STUDY}', '${A_STUDY}'].map((s) => fetch('/dicomweb/studies/' + s + '/metadata', { credentials: 'same-origin' }).then((r) => r.status)))`,
      );
      assert.deepEqual(statuses, [404, 200]);
    });

    it('the same user opens A’s study: a non-blank canvas', async () => {
      await page.goto(`${base}/viewer/viewer?StudyInstanceUIDs=${A_STUDY}`);
      const handle = await page.waitForFunction(CANVAS_PROBE, undefined, { timeout: 45_000, polling: 500 });
      const stats = (await handle.jsonValue()) as { lit: number };
      await page.screenshot({ path: join(ARTIFACTS, '04-viewer-a-study.png'), fullPage: true });
      assert.ok(stats.lit > 500, `canvas looks blank: ${JSON.stringify(stats)}`);
      assert.deepEqual(bRequests, []);
    });
  },
);
