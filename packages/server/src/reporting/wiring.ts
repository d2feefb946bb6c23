/**
 * One call for the composition root: the reporting store and service, and the delivery worker they feed
 * (a signature wakes the worker at once; it also polls, so rows of other nodes and retries are picked up).
 *
 *   const reporting = openReporting({ db, ris, hospitals, aes, ingest, aeTitle, log });
 *   reporting.worker.start();                       // after the server listens
 *   await registerReportingRoutes(app, { …, reporting: reporting.service, kickDelivery: () => reporting.worker.kick() });
 *   await reporting.close();                        // before the database closes
 */
import type { Kysely } from 'kysely';
import type { AeRepository, HospitalRepository } from '../archive/ports.ts';
import type { Schema } from '../db/schema.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { Log } from '../logger.ts';
import type { RisService } from '../ris/ports.ts';
import { createDeliver } from '../delivery/channels.ts';
import { OutboxWorker, type OutboxWorkerOptions } from '../delivery/outbox.ts';
import { ReportRepository } from './repository.ts';
import { ReportingService } from './service.ts';

export interface ReportingDeps {
  db: Kysely<Schema>;
  ris: RisService;
  hospitals: HospitalRepository;
  aes: AeRepository;
  ingest: Pick<IngestService, 'ingestPart10Stream'>;
  /** our AE title: calling AE of C-STORE to member PACS */
  aeTitle: string;
  log: Log;
  /** outbox tuning (poll period, lease, attempts, backoff) */
  worker?: Partial<Omit<OutboxWorkerOptions, 'db' | 'deliver' | 'log'>>;
}

export interface Reporting {
  store: ReportRepository;
  service: ReportingService;
  worker: OutboxWorker;
  close(): Promise<void>;
}

export function openReporting(deps: ReportingDeps): Reporting {
  const store = new ReportRepository(deps.db);
  const deliver = createDeliver({
    store,
    ris: deps.ris,
    hospitals: deps.hospitals,
    aes: deps.aes,
    ingest: deps.ingest,
    aeTitle: deps.aeTitle,
  });
  const worker = new OutboxWorker({ db: deps.db, deliver, log: deps.log, ...deps.worker });
  const service = new ReportingService({ store, ris: deps.ris, onSigned: () => worker.kick() });
  return {
    store,
    service,
    worker,
    close: () => worker.stop(),
  };
}
