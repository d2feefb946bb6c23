/**
 * The `huiying` command as a user runs it: a child process per command, sharing one data dir.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHINESE_FIXTURES, makeInstance, makeUid } from '@huiying/dicom/testing';
import { samplesDir } from '../testing/peers.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'huiying.js');

describe('huiying CLI', () => {
  let dir: string;
  const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { env: { ...process.env, HUIYING_DATA_DIR: join(dir, 'data') }, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hy-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('--help everywhere; unknown commands are refused', async () => {
    const main = await run(['--help']);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /import <paths…>/);
    const cmds = ['serve', 'import', 'hospital', 'ae', 'token', 'echo', 'find', 'move', 'get', 'send'];
    const results = await Promise.all(cmds.map((cmd) => run([cmd, '--help'])));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, cmds[i]);
      assert.match(r.stdout, /Usage/, cmds[i]);
    });
    const bad = await run(['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command/);
  });

  test('hospital and AE registry', async () => {
    assert.equal(
      (await run(['hospital', 'add', 'CENTER', '--name', '区域医学影像诊断中心', '--center'])).code,
      0,
    );
    assert.equal(
      (await run(['hospital', 'add', 'CHENCUN', '--name', '陈村医院', '--charset', 'GB18030'])).code,
      0,
    );
    const dup = await run(['hospital', 'add', 'CHENCUN', '--name', 'again']);
    assert.notEqual(dup.code, 0);
    const list = await run(['hospital', 'list']);
    assert.match(list.stdout, /CENTER\t区域医学影像诊断中心\t\[center\]/);
    assert.match(list.stdout, /CHENCUN\t陈村医院\tcharset=GB18030/);
    assert.equal((await run(['ae', 'add', 'CHENCUN_CT', '--hospital', 'CHENCUN'])).code, 0);
    assert.equal(
      (await run(['ae', 'add', 'PACS1', '--hospital', 'CHENCUN', '--host', '127.0.0.1', '--port', '4242']))
        .code,
      0,
    );
    assert.equal((await run(['ae', 'add', 'BAD\\AE', '--hospital', 'CHENCUN'])).code, 2);
    assert.equal((await run(['ae', 'add', 'X', '--hospital', 'NOPE'])).code, 1);
    const aes = await run(['ae', 'list']);
    assert.match(aes.stdout, /PACS1\tCHENCUN\t127\.0\.0\.1:4242/);
    assert.equal((await run(['ae', 'remove', 'PACS1'])).code, 0);
    assert.doesNotMatch((await run(['ae', 'list'])).stdout, /PACS1/);
  });

  test('import: folders with a non-DICOM file, summary with reasons, duplicates on re-import', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    const study = makeUid();
    await writeFile(join(src, 'a.dcm'), CHINESE_FIXTURES.gb18030({ studyUid: study }));
    await writeFile(join(src, 'sub', 'b.dcm'), makeInstance({ studyUid: study, sopUid: makeUid() }));
    await writeFile(join(src, 'readme.txt'), 'not an image');
    const r = await run(['import', '--hospital', 'CHENCUN', src]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /files: 3, stored: 2, replaced: 0, duplicates: 0, failed: 1/);
    assert.match(r.stdout, /failed: .*readme\.txt: not a valid DICOM instance/);
    const again = await run(['import', '--hospital', 'CHENCUN', join(src, 'a.dcm')]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /stored: 0, replaced: 0, duplicates: 1, failed: 0/);
    assert.equal((await run(['import', src])).code, 2, '--hospital is required');
  });

  test(
    'import of a DICOMDIR takes exactly the files it references',
    { skip: samplesDir() === undefined ? 'no ../shared/dicom-samples' : false },
    async () => {
      const dicomdir = join(samplesDir() ?? '', 'fileset', 'dicomdirtests', 'DICOMDIR');
      const r = await run(['import', '--hospital', 'CENTER', dicomdir]);
      assert.match(
        r.stdout,
        /files: 31, stored: 31, replaced: 0, duplicates: 0, failed: 0/,
        r.stdout + r.stderr,
      );
      assert.equal(r.code, 0);
    },
  );

  test('token create/list/revoke', async () => {
    const c = await run(['token', 'create', '--hospital', 'CHENCUN', '--name', 'his']);
    assert.equal(c.code, 0);
    assert.match(c.stdout.trim(), /^hy_[A-Za-z0-9_-]{40,}$/);
    assert.match((await run(['token', 'list'])).stdout, /1\tCHENCUN\this/);
    assert.equal((await run(['token', 'revoke', '1'])).code, 0);
    assert.match((await run(['token', 'list'])).stdout, /revoked/);
    assert.equal((await run(['token', 'revoke', '1'])).code, 1);
  });
});
