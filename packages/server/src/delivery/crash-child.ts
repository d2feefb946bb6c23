/**
 * Test helper process (delivery/crash.test.ts): opens an existing archive and runs one outbox pass with
 * a long HL7 timeout, so the test can kill it with SIGKILL in the middle of a delivery.
 *
 *   node crash-child.ts <dataDir> [databaseUrl]
 */
import { openArchive } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { silentLog } from '../logger.ts';
import { ReportRepository } from '../reporting/repository.ts';
import { createDeliver } from './channels.ts';
import { OutboxWorker } from './outbox.ts';

const [dataDir, databaseUrl] = process.argv.slice(2);
if (dataDir === undefined) throw new Error('usage: crash-child.ts <dataDir> [databaseUrl]');
const archive = await openArchive(
  loadConfig({
    HUIYING_DATA_DIR: dataDir,
    HUIYING_SYNC_MODE: 'normal',
    ...(databaseUrl !== undefined ? { HUIYING_DATABASE_URL: databaseUrl } : {}),
  }),
  silentLog,
);
const store = new ReportRepository(archive.database.db);
const deliver = createDeliver({
  store,
  ris: archive.ris,
  hospitals: archive.hospitals,
  aes: archive.aes,
  ingest: archive.ingest,
  aeTitle: 'HUIYING',
  timeoutMs: 600_000,
});
const worker = new OutboxWorker({ db: archive.database.db, deliver, pollMs: 0, leaseMs: 60_000 });
process.stdout.write('ready\n');
await worker.runOnce();
process.stdout.write('done\n');
await archive.close();
