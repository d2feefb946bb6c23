/**
 * End to end in headless Debian Chromium (playwright-core, never a downloaded browser): the first-run
 * administrator logs in, must change the password, adds the hospital 陈村医院 and a user in it (the
 * one-time password is shown), switches the UI to English and back, logs out; five wrong passwords show
 * the lockout message. Screenshots go to .test-artifacts/webapp/.
 *
 * Skips (with the reason) when /usr/bin/chromium or the built UI is missing; HUIYING_REQUIRE_ALL=1 (CI)
 * turns a skip into a failure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, chromiumMissing } from '../testing/chromium.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { hashPassword } from '../accounts/passwords.ts';
import { defaultWebDir } from './plugin.ts';

const ARTIFACTS = resolve(import.meta.dirname, '..', '..', '..', '..', '.test-artifacts', 'webapp');
const ADMIN_PW = 'Erste-Kennwort-2025';
const NEW_PW = 'Neues-Kennwort-2025!';

function skipReason(): string | undefined {
  if (chromiumMissing() !== undefined) return chromiumMissing();
  if (!existsSync(join(defaultWebDir(), 'index.html')))
    return `the web application is not built in ${defaultWebDir()} (npm run -w @huiying/web build)`;
  return undefined;
}
const reason = skipReason();
if (reason !== undefined && process.env.HUIYING_REQUIRE_ALL === '1')
  throw new Error(`webapp e2e prerequisites missing: ${reason}`);

describe('web application in headless Chromium', { skip: reason ?? false, timeout: 60_000 }, () => {
  let srv: TestServer;
  let base: string;
  let browser: Browser;

  before(async () => {
    const prev = process.env.HUIYING_ADMIN_PASSWORD;
    process.env.HUIYING_ADMIN_PASSWORD = ADMIN_PW;
    try {
      srv = await startTestServer();
    } finally {
      if (prev === undefined) delete process.env.HUIYING_ADMIN_PASSWORD;
      else process.env.HUIYING_ADMIN_PASSWORD = prev;
    }
    base = `http://127.0.0.1:${srv.httpPort}`;
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  async function newPage(): Promise<{ page: Page; errors: string[]; close: () => Promise<void> }> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
    const page = await ctx.newPage();
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    return { page, errors, close: () => ctx.close() };
  }

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  // antd puts a space between two CJK characters in a button: 保存 → "保 存"
  const modalButton = (page: Page, name: string) => page.getByRole('button', { name });

  async function userMenu(page: Page, submenu: string | undefined, item: string): Promise<void> {
    await page.getByTestId('user-menu').click();
    if (submenu !== undefined)
      await page.locator('.ant-dropdown-menu-submenu-title:visible', { hasText: submenu }).hover();
    await page.locator('.ant-dropdown-menu-item:visible', { hasText: new RegExp(`^${item}$`) }).click();
  }

  it('first login, forced password change, hospital and user, language switch, logout', async () => {
    const { page, errors, close } = await newPage();
    try {
      await page.goto(`${base}/`);
      await page.locator('#login-username').fill('admin');
      await page.locator('#login-password').fill(ADMIN_PW);
      await shot(page, '01-login');
      await page.getByTestId('login-submit').click();

      await page.getByTestId('forced-change-hint').waitFor();
      await page.locator('#pw-current').fill(ADMIN_PW);
      await page.locator('#pw-next').fill(NEW_PW);
      await page.locator('#pw-repeat').fill(NEW_PW);
      await shot(page, '02-forced-password-change');
      await page.getByTestId('pw-submit').click();
      await page.getByTestId('home-welcome').waitFor();
      assert.match((await page.getByTestId('home-welcome').textContent()) ?? '', /欢迎/);
      await shot(page, '03-home');

      // hospitals
      await page.locator('.ant-layout-sider .ant-menu-item', { hasText: /^医院$/ }).click();
      await page.waitForURL(/\/admin\/hospitals$/);
      await page.getByTestId('hospital-add').click();
      await page.locator('#hospital-code').fill('CHENCUN');
      await page.locator('#hospital-name').fill('陈村医院');
      await modalButton(page, '保 存').click();
      await page.locator('.ant-table-row', { hasText: '陈村医院' }).waitFor();
      await shot(page, '04-hospitals');
      assert.ok((await srv.server.archive.hospitals.byCode('CHENCUN')) !== undefined);

      // a user in 陈村医院 (reload on the deep link: the server's SPA fallback)
      await page.goto(`${base}/admin/users`);
      await page.getByTestId('user-add').click();
      await page.locator('#user-username').fill('cc-tech');
      await page.locator('#user-displayname').fill('陈村技师');
      await page.locator('#user-hospital').click();
      await page.locator('.ant-select-item-option', { hasText: '陈村医院' }).click();
      await page.locator('#user-roles').click();
      await page.locator('.ant-select-item-option', { hasText: '成员医院技师' }).click();
      await page.locator('.ant-modal-title:visible').click();
      await modalButton(page, '保 存').click();
      const temp = page.getByTestId('temp-password');
      await temp.waitFor();
      assert.ok(((await temp.textContent()) ?? '').length >= 10, 'one-time password shown');
      await shot(page, '05-user-created');
      await modalButton(page, '关 闭').click();
      await page.locator('.ant-table-row', { hasText: 'cc-tech' }).waitFor();
      const u = await srv.server.archive.accounts.users.byUsername('cc-tech');
      const chencun = await srv.server.archive.hospitals.byCode('CHENCUN');
      assert.equal(u?.hospitalId, chencun?.id);

      // English and back
      await userMenu(page, '语言', 'English');
      await page.locator('.ant-card-head-title', { hasText: 'Users' }).waitFor();
      await shot(page, '06-english');
      await userMenu(page, 'Language', '中文');
      await page.locator('.ant-card-head-title', { hasText: '用户' }).waitFor();

      await userMenu(page, undefined, '退出登录');
      await page.getByTestId('login-submit').waitFor();
      await shot(page, '07-logged-out');
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });

  it('shows the lockout message after 5 wrong passwords', async () => {
    const acc = srv.server.archive.accounts;
    const center = (await srv.server.archive.hospitals.list()).find((h) => h.isCenter);
    assert.ok(center !== undefined);
    const { user } = await acc.createUser('system', {
      username: 'lock-me',
      displayName: 'lock-me',
      hospitalId: center.id,
      roles: ['auditor'],
    });
    await acc.users.setPassword(user.id, await hashPassword(NEW_PW), false, new Date());
    const { page, close } = await newPage();
    try {
      await page.goto(`${base}/`);
      await page.locator('#login-username').fill('lock-me');
      for (let i = 1; i <= 5; i++) {
        await page.locator('#login-password').fill(`Wrong-Password-${i}`);
        await page.getByTestId('login-submit').click();
        await page.getByTestId(i < 5 ? 'login-error-invalid' : 'login-error-locked').waitFor();
      }
      // locked on the server too: the right password is refused now
      await page.locator('#login-password').fill(NEW_PW);
      await page.getByTestId('login-submit').click();
      await page.getByTestId('login-error-locked').waitFor();
      await shot(page, '08-lockout');
      const locked = await acc.users.byUsername('lock-me');
      assert.ok(locked?.lockedUntil != null && Date.parse(locked.lockedUntil) > Date.now());
    } finally {
      await close();
    }
  });
});
