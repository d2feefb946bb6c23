/**
 * End to end: a real Huiying server, the installed OHIF dist, headless Debian Chromium (playwright-core,
 * never a downloaded browser). A 256×256 CT series renders on the cornerstone canvas; a GB18030 study
 * shows its Chinese patient name in the study list; the Chinese UI follows a zh-CN browser.
 * Screenshots go to .test-artifacts/viewer/.
 *
 * Skips (with the reason) when /usr/bin/chromium or the viewer dist is missing; HUIYING_REQUIRE_ALL=1
 * (CI) turns a skip into a failure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, chromiumMissing, CANVAS_PROBE } from '../testing/chromium.ts';
import { CHINESE_FIXTURES, makeInstance, makeUid } from '@huiying/dicom/testing';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { defaultViewerDir } from './plugin.ts';

const ARTIFACTS = resolve(import.meta.dirname, '..', '..', '..', '..', '.test-artifacts', 'viewer');
const viewerDir = defaultViewerDir();

function skipReason(): string | undefined {
  if (chromiumMissing() !== undefined) return chromiumMissing();
  if (!existsSync(join(viewerDir, 'index.html')))
    return `the OHIF viewer is not installed in ${viewerDir} (npm run viewer:install)`;
  return undefined;
}
const reason = skipReason();
if (reason !== undefined && process.env.HUIYING_REQUIRE_ALL === '1')
  throw new Error(`viewer e2e prerequisites missing: ${reason}`);

const SLICES = 12;
const SIZE = 256;

/** A CT slice with a real-looking gradient: a bright disc ("body") over a dark background, varying by slice. */
function ctPixels(slice: number): Uint8Array {
  const px = new Uint16Array(SIZE * SIZE);
  const c = SIZE / 2;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const r = Math.hypot(x - c, y - c);
      // stored value + rescale intercept -1024 = HU: air -1000 outside, soft tissue ~40 inside, a bone ring
      let hu = -1000;
      if (r < 100) hu = 40 + Math.round(60 * Math.sin((x + slice * 4) / 12) * Math.cos(y / 15));
      if (r > 90 && r < 100) hu = 700;
      px[y * SIZE + x] = hu + 1024;
    }
  }
  return new Uint8Array(px.buffer);
}

describe('OHIF viewer end to end (headless Chromium)', { skip: reason ?? false, timeout: 120_000 }, () => {
  let srv: TestServer;
  let base: string;
  let browser: Browser;
  const ctStudy = makeUid();
  const ctSeries = makeUid();
  let zhStudy = '';

  before(async () => {
    srv = await startTestServer({ HUIYING_HTTP_LOOPBACK_HOSPITAL: 'CENTER', HUIYING_SYNC_MODE: 'normal' });
    const center = await srv.hospital('CENTER', { name: '影像中心', center: true });
    base = `http://127.0.0.1:${srv.httpPort}`;
    const ingest = async (bytes: Uint8Array): Promise<void> => {
      await srv.server.archive.ingest.ingestPart10Stream({
        hospitalId: center.id,
        source: 'import',
        data: Readable.from([Buffer.from(bytes)]),
      });
    };
    for (let i = 0; i < SLICES; i++) {
      await ingest(
        makeInstance({
          patientName: 'Test^Gradient',
          patientId: 'CT0001',
          studyUid: ctStudy,
          seriesUid: ctSeries,
          studyDescription: 'CT gradient phantom',
          seriesDescription: 'Axial 5mm',
          modality: 'CT',
          rows: SIZE,
          cols: SIZE,
          instanceNumber: i + 1,
          pixelBytes: ctPixels(i),
          extra: {
            '00200032': { vr: 'DS', Value: [-128, -128, -i * 5] },
            '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
            '00280030': { vr: 'DS', Value: [1, 1] },
            '00180050': { vr: 'DS', Value: [5] },
            '00201041': { vr: 'DS', Value: [-i * 5] },
            '00281050': { vr: 'DS', Value: [40] },
            '00281051': { vr: 'DS', Value: [400] },
            '00281052': { vr: 'DS', Value: [-1024] },
            '00281053': { vr: 'DS', Value: [1] },
            '00280101': { vr: 'US', Value: [12] },
            '00200052': { vr: 'UI', Value: [ctStudy + '.1'] },
          },
        }),
      );
    }
    zhStudy = makeUid();
    await ingest(CHINESE_FIXTURES.gb18030({ studyUid: zhStudy, rows: 64, cols: 64 }));

    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  async function newPage(
    locale: string,
  ): Promise<{ page: Page; errors: string[]; close: () => Promise<void> }> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
    });
    return { page, errors, close: () => ctx.close() };
  }

  it('renders a CT series on the cornerstone canvas', async () => {
    const { page, errors, close } = await newPage('en-US');
    try {
      await page.goto(`${base}/viewer/viewer?StudyInstanceUIDs=${ctStudy}`);
      // Wait for a viewport canvas with non-background pixels (the image, not just overlays).
      const handle = await page.waitForFunction(CANVAS_PROBE, undefined, { timeout: 45_000, polling: 500 });
      const stats = (await handle.jsonValue()) as { lit: number; levels: number };
      await page.screenshot({ path: join(ARTIFACTS, 'ct-viewer.png') });
      assert.ok(stats.lit > 500, `canvas looks blank: ${JSON.stringify(stats)}`);
      // No onboarding tour and no investigational-use banner.
      assert.equal(await page.locator('.shepherd-element').count(), 0, 'the onboarding tour is showing');
      assert.equal(await page.getByText(/investigational use/i).count(), 0, 'investigational banner shown');
      assert.deepEqual(
        errors.filter((e) => !/favicon|\.map$/.test(e)),
        [],
        'page errors or failed requests',
      );
    } finally {
      await close();
    }
  });

  it('shows the GB18030 Chinese patient name in the study list (zh-CN browser)', async () => {
    const { page, errors, close } = await newPage('zh-CN');
    try {
      await page.goto(`${base}/viewer/`);
      // OHIF shows the Alphabetic group only; the installed dist is patched to show `张三 (Zhang, San)`.
      await page.getByText('张三 (Zhang, San)').first().waitFor({ timeout: 30_000 });
      await page.getByText('胸部CT平扫').first().waitFor({ timeout: 5_000 });
      await page.screenshot({ path: join(ARTIFACTS, 'study-list-zh.png') });
      // app-config.js chose OHIF's Chinese resources for a zh-CN browser.
      assert.equal(await page.evaluate(() => localStorage.getItem('i18nextLng')), 'zh');
      assert.deepEqual(errors, [], 'page errors or failed requests');
    } finally {
      await close();
    }
  });

  it('opens the GB18030 study in the viewer with a Chinese UI and name', async () => {
    const { page, errors, close } = await newPage('zh-CN');
    try {
      await page.goto(`${base}/viewer/viewer?StudyInstanceUIDs=${zhStudy}`);
      // The side panel title "Studies" in OHIF's zh resources.
      await page.getByText('检查', { exact: true }).first().waitFor({ timeout: 30_000 });
      await page.getByText('胸部CT平扫').first().waitFor({ timeout: 10_000 });
      await page.screenshot({ path: join(ARTIFACTS, 'gb18030-viewer.png') });
      // The header's patient button expands the patient details.
      const patient = page.getByText(/^(Patient|患者)$/).first();
      if ((await patient.count()) > 0) {
        await patient.click();
        await page.getByText(/张三/).first().waitFor({ timeout: 10_000 });
        await page.screenshot({ path: join(ARTIFACTS, 'gb18030-viewer-patient.png') });
      }
      assert.deepEqual(errors, [], 'page errors or failed requests');
    } finally {
      await close();
    }
  });
});
