/**
 * `huiying hl7 …` as a user runs it (child processes), against a live listener in this process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openTestSqlite } from '../db/test-databases.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { KyselyHospitalRepository } from '../archive/index-repositories.ts';
import { silentLog } from '../logger.ts';
import { charsetOf, encodeText } from './charset.ts';
import { splitMessages } from './cli.ts';
import { FakeRisService } from './fake-ris.ts';
import { startHl7Listener, type Hl7Listener } from './listener.ts';
import { mllpFrame } from './mllp.ts';
import { Hl7Repository } from './repository.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'huiying.js');

test('splitMessages: several messages per file (LF, CRLF), or MLLP frames', () => {
  const a = 'MSH|^~\\&|A|B|||||ORM^O01|1|P|2.5\nPID|1||1||张三\n';
  const b = 'MSH|^~\\&|A|B|||||ORM^O01|2|P|2.5\r\nPID|1||2||李四\r\n\r\n';
  const split = splitMessages(Buffer.from(a + '\n' + b, 'utf8'));
  assert.deepEqual(
    split.map((m) => m.toString('utf8')),
    [
      'MSH|^~\\&|A|B|||||ORM^O01|1|P|2.5\rPID|1||1||张三',
      'MSH|^~\\&|A|B|||||ORM^O01|2|P|2.5\rPID|1||2||李四',
    ],
  );
  const framed = Buffer.concat([
    mllpFrame(Buffer.from('MSH|x')),
    Buffer.from('\n'),
    mllpFrame(Buffer.from('MSH|y')),
  ]);
  assert.deepEqual(
    splitMessages(framed).map((m) => m.toString()),
    ['MSH|x', 'MSH|y'],
  );
});

describe('huiying hl7 (CLI)', () => {
  let dir: string;
  let h: DatabaseHandle;
  let listener: Hl7Listener;
  const ris = new FakeRisService();
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
    dir = await mkdtemp(join(tmpdir(), 'hy-hl7-cli-'));
    h = await openTestSqlite();
    const hospitals = new KyselyHospitalRepository(h.db);
    const cc = await hospitals.create({ code: 'CHENCUN', name: '陈村医院' });
    await new Hl7Repository(h.db).addSender({ hospitalId: cc.id, sendingFacility: 'CHENCUN' });
    listener = await startHl7Listener({
      config: {
        bindAddress: '127.0.0.1',
        hl7: {
          port: 0,
          maxMessageBytes: 1 << 20,
          idleTimeoutMs: 60_000,
          maxConnections: 8,
          defaultUtcOffset: '+08:00',
        },
      },
      hospitals,
      ris,
      db: h.db,
      log: silentLog,
    });
  });
  after(async () => {
    await listener?.close();
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('hl7 send: GB18030 file with two messages; one accepted, one rejected → exit 1', async () => {
    const gb = charsetOf('GB18030')!;
    const msg = (id: string, birth: string): string =>
      [
        `MSH|^~\\&|HIS|CHENCUN|HUIYING|CENTER|20260301083000||ORM^O01|${id}|P|2.5||||||GB 18030-2000`,
        `PID|1||P9||张^三||${birth}|M`,
        'PV1|1|O',
        'ORC|NW|PL9',
        `OBR|1|PL9||CT001^胸部CT平扫|R|||||||||||||ACC${id}||||||CT`,
      ].join('\n');
    const file = join(dir, 'orders.hl7');
    await writeFile(
      file,
      Buffer.concat([
        encodeText(msg('CLI1', '19800101'), gb),
        Buffer.from('\n'),
        encodeText(msg('CLI2', '19801301'), gb),
      ]),
    );
    const r = await run(['hl7', 'send', '--host', '127.0.0.1', '--port', String(listener.port), file]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /#1\tCLI1\tAA/);
    assert.match(lines[1]!, /#2\tCLI2\tAE\t出生日期无效/);
    assert.match(lines[2]!, /sent 2, not accepted 1/);
    const exam = ris.exams.get('1|ACCCLI1');
    assert.equal(exam?.patient.name, '张^三');
    assert.equal(exam?.examItems[0]?.name, '胸部CT平扫');
  });

  test('hl7 sender add / list / remove', async () => {
    assert.equal((await run(['hospital', 'add', 'XINGTAN', '--name', '杏坛医院'])).code, 0);
    const add = await run([
      'hl7',
      'sender',
      'add',
      'xingtan',
      '--hospital',
      'XINGTAN',
      '--application',
      'his',
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /XINGTAN\/HIS added for XINGTAN/);
    const dup = await run([
      'hl7',
      'sender',
      'add',
      'XINGTAN',
      '--hospital',
      'XINGTAN',
      '--application',
      'HIS',
    ]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already registered/);
    const list = await run(['hl7', 'sender', 'list']);
    assert.match(list.stdout, /\tXINGTAN\tHIS\tXINGTAN/);
    const rm1 = await run(['hl7', 'sender', 'remove', 'XINGTAN', '--application', 'HIS']);
    assert.equal(rm1.code, 0, rm1.stderr);
    assert.equal((await run(['hl7', 'sender', 'list'])).stdout.trim(), '');
    const help = await run(['hl7', '--help']);
    assert.match(help.stdout, /huiying hl7 send --host HOST/);
  });
});
