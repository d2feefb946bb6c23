/**
 * Headless Debian Chromium for end-to-end tests (playwright-core, never a downloaded browser). The flags
 * keep Chromium from reaching for the network, which this machine refuses (see the env notes).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.HUIYING_CHROMIUM ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // No --user-data-dir: Playwright refuses it and launches with a new empty profile of its own.
    ],
  });
}

/** A skip reason when Chromium is missing, else undefined. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
}

/**
 * Runs in the page (a string: the project compiles without DOM types). Finds a viewport canvas with an
 * image on it: enough non-black pixels and more than a few grey levels (text overlays alone are not).
 */
export const CANVAS_PROBE = `(() => {
  const canvases = Array.from(document.querySelectorAll('canvas'));
  for (const c of canvases) {
    if (c.width < 64 || c.height < 64) continue;
    const probe = document.createElement('canvas');
    probe.width = c.width;
    probe.height = c.height;
    const ctx = probe.getContext('2d');
    if (ctx === null) continue;
    ctx.drawImage(c, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    const levels = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) {
      const v = d[i] + d[i + 1] + d[i + 2];
      if (v > 30) lit++;
      levels.add(v >> 3);
    }
    if (lit > 500 && levels.size > 8) return { lit, levels: levels.size, w: c.width, h: c.height };
  }
  return false;
})()`;
