/**
 * HL7 intake throughput: ORM^O01 NW messages (GB18030, two exam items each, a new patient every 4th)
 * over MLLP through the listener into the real reading workflow (ris/service.ts) of a fresh archive on
 * SQLite (temp dir). 1 and 4 connections; each connection keeps `window` messages outstanding (1 = the
 * classic send-and-wait of a HIS). Median of 3 runs per row. Prints a table, asserts only that every
 * message was acknowledged AA and created its exam.
 *
 * `ris=fake` replaces the RisService by the in-memory fake (hl7/fake-ris.ts): what the HL7 layer itself
 * costs (MLLP, charset, parsing, mapping, the message log in SQLite).
 *
 * Usage: node packages/server/bench/hl7-intake.ts [messages=300] [window=1] [syncMode=full|normal] [ris=real|fake]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openArchive } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { silentLog } from '../src/logger.ts';
import { startHl7Listener } from '../src/hl7/listener.ts';
import { MllpClient } from '../src/hl7/mllp.ts';
import { Hl7Repository } from '../src/hl7/repository.ts';
import { charsetOf, encodeText } from '../src/hl7/charset.ts';
import { FakeRisService } from '../src/hl7/fake-ris.ts';

const total = Number(process.argv[2] ?? 300);
const windowSize = Number(process.argv[3] ?? 1);
const syncMode = process.argv[4] ?? 'full';
const risKind = process.argv[5] ?? 'real';
const GB = charsetOf('GB18030')!;

function message(run: number, i: number): Buffer {
  const acc = `B${run}${String(i).padStart(7, '0')}`;
  const pid = `P${run}-${Math.floor(i / 4)}`;
  const text = [
    `MSH|^~\\&|HIS|CHENCUN|HUIYING|CENTER|20261126083000||ORM^O01^ORM_O01|${acc}|P|2.5||||||GB 18030-2000`,
    `PID|1||${pid}^^^CHENCUN^PI||Zhang^San~张^三||19800101|M|||||13800138000`,
    'PV1|1|O|呼吸内科门诊',
    `ORC|NW|PL${acc}|||||^^^20261126090000^^R||20261126083000|||D001^李^医生||||||0301^呼吸内科`,
    `OBR|1|PL${acc}||CT001^胸部CT平扫|R|20261126090000|||||||咳嗽两周|||D001^李^医生||${acc}||||||CT`,
    `OBR|2|PL${acc}||CT002^上腹部CT平扫|R|20261126090000|||||||咳嗽两周|||D001^李^医生||${acc}||||||CT`,
    'NTE|1||发热 38.5℃',
    'DG1|1||J18.900^肺炎^ICD10',
  ].join('\r');
  return encodeText(text, GB);
}

async function oneRun(run: number, connections: number): Promise<number> {
  // a stalled service would also stall the archive's close: give up on the whole bench
  const watchdog = setTimeout(() => {
    process.stderr.write(`run ${run}: no progress for 120 s, the service stalled\n`);
    process.exit(1);
  }, 120_000);
  const dir = await mkdtemp(join(tmpdir(), 'hy-hl7-bench-'));
  const config = loadConfig({
    HUIYING_DATA_DIR: dir,
    HUIYING_SYNC_MODE: syncMode,
    HUIYING_WORKFLOW_TICK_MS: '0',
    HUIYING_BIND_ADDRESS: '127.0.0.1',
    HUIYING_HL7_PORT: '0',
  });
  const archive = await openArchive(config, silentLog);
  try {
    const h = await archive.hospitals.create({ code: 'CHENCUN', name: '陈村医院' });
    await new Hl7Repository(archive.database.db).addSender({ hospitalId: h.id, sendingFacility: 'CHENCUN' });
    const ris = risKind === 'fake' ? new FakeRisService() : archive.ris;
    const listener = await startHl7Listener({
      config,
      hospitals: archive.hospitals,
      ris,
      db: archive.database.db,
      log: silentLog,
    });
    const messages = Array.from({ length: total }, (_, i) => message(run, i));
    const clients = Array.from(
      { length: connections },
      () => new MllpClient({ host: '127.0.0.1', port: listener.port, timeoutMs: 20_000, retries: 0 }),
    );
    await Promise.all(clients.map((c) => c.connect()));
    let bad = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      clients.map(async (c, k) => {
        const mine = messages.filter((_, i) => i % connections === k);
        let next = 0;
        const lane = async (): Promise<void> => {
          while (next < mine.length) {
            const m = mine[next++]!;
            const ack = await c.sendMessage(m);
            if (ack.code !== 'AA') bad++;
          }
        };
        await Promise.all(Array.from({ length: windowSize }, lane));
      }),
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await Promise.all(clients.map((c) => c.close()));
    await listener.close();
    if (bad > 0) throw new Error(`${bad} messages were not acknowledged AA`);
    const last = await ris.findExamByAccession(h.id, `B${run}${String(total - 1).padStart(7, '0')}`);
    if (last === undefined) throw new Error('the last order created no exam');
    return total / seconds;
  } finally {
    await archive.close();
    await rm(dir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows: string[] = [];
let run = 0;
for (const connections of [1, 4]) {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    try {
      rates.push(await oneRun(++run, connections));
    } catch (err) {
      // a stalled service would also stall the archive's close: report and stop
      process.stderr.write(
        `run ${run} (${connections} connections) failed: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exit(1);
    }
  }
  rows.push(
    `| ${risKind} | ${connections} | ${windowSize} | ${syncMode} | ${total} | ${median(rates).toFixed(0)} | ${rates.map((r) => r.toFixed(0)).join(', ')} |`,
  );
}
process.stdout.write(
  [
    `HL7 ORM^O01 NW over MLLP → intake → RisService (${risKind}), SQLite, ${total} messages per run, median of 3`,
    '| RisService | connections | outstanding per connection | sync mode | messages | msg/s (median) | runs |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'),
);
