/**
 * Rough indexInstances rate: 10,000 instances (100 studies × 2 series × 50) in batches of 50, on SQLite
 * (temp file) and PostgreSQL (fresh database, skipped when unreachable). Prints, asserts nothing.
 *
 * Usage: node packages/server/bench/index-rate.ts [count] [batch]
 */
import type { InstanceAttributes } from '@huiying/dicom';
import { createIndexServices } from '../src/archive/index-kysely.ts';
import type { IndexInstance } from '../src/archive/ports.ts';
import type { DatabaseHandle } from '../src/db/database.ts';
import { needPostgres, openTestPostgres, openTestSqlite } from '../src/db/test-databases.ts';

const count = Number(process.argv[2] ?? 10_000);
const batchSize = Number(process.argv[3] ?? 50);

function make(hospitalId: number, i: number): IndexInstance {
  const study = Math.floor(i / 100);
  const series = Math.floor(i / 50);
  const a: InstanceAttributes = {
    PatientID: `P${study}`,
    PatientName: `Zhang^San${study}=张^三${study}`,
    PatientBirthDate: '19800101',
    PatientSex: 'M',
    StudyInstanceUID: `1.2.826.0.1.3680043.2.1.${study}`,
    StudyDate: '20240101',
    StudyTime: '101010',
    AccessionNumber: `A${study}`,
    StudyDescription: 'CT chest 胸部平扫',
    SeriesInstanceUID: `1.2.826.0.1.3680043.2.1.${study}.${series}`,
    SeriesNumber: String((series % 2) + 1),
    Modality: 'CT',
    SOPInstanceUID: `1.2.826.0.1.3680043.2.1.${study}.${series}.${i}`,
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
    InstanceNumber: String((i % 50) + 1),
    Rows: '512',
    Columns: '512',
    BitsAllocated: '16',
    SpecificCharacterSet: 'GB18030',
  };
  return {
    hospitalId,
    attributes: a,
    blobKey: `H/${a.StudyInstanceUID}/${a.SeriesInstanceUID}/${a.SOPInstanceUID}.dcm`,
    size: 525_350,
    sha256: 'ab'.repeat(32),
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    receivedFromAe: 'CT1',
    source: 'dimse',
    receivedAt: new Date().toISOString(),
  };
}

async function run(name: string, h: DatabaseHandle): Promise<void> {
  try {
    const s = createIndexServices(h);
    const hosp = await s.hospitals.create({ code: 'BENCH', name: '基准医院' });
    const all = Array.from({ length: count }, (_, i) => make(hosp.id, i));
    const t0 = performance.now();
    for (let i = 0; i < all.length; i += batchSize) {
      await s.index.indexInstances(all.slice(i, i + batchSize), 'keep');
    }
    const ms = performance.now() - t0;
    const q0 = performance.now();
    const rows = await s.index.query({
      level: 'STUDY',
      keys: { PatientName: { kind: 'wildcard', pattern: '张*' } },
      scope: { kind: 'all' },
      limit: 50,
    });
    const qms = performance.now() - q0;
    console.log(
      `${name}: ${count} instances in batches of ${batchSize}: ${ms.toFixed(0)} ms, ${Math.round((count / ms) * 1000)} instances/s; ` +
        `STUDY query PatientName=张* (limit 50, ${rows.length} rows): ${qms.toFixed(1)} ms`,
    );
  } finally {
    await h.close();
  }
}

await run('sqlite', await openTestSqlite());
const skip = await needPostgres();
if (skip === false) await run('postgres', await openTestPostgres());
else console.log(`postgres: skipped (${skip})`);
