/**
 * Composition root: opens the index, the blob store and the services over them (the "archive"), and
 * starts the network listeners (`startServer`). Everything is closed in reverse order.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { DimseServer, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '@huiying/dimse';
import type { Config } from './config/config.ts';
import { openDatabase, optimizeStatistics, type DatabaseHandle } from './db/database.ts';
import { openIndexServices } from './archive/index-writer.ts';
import { openBlobStore } from './storage/open-blob-store.ts';
import type { BlobStore } from './storage/blob-store.ts';
import type { AeRepository, ArchiveIndex, HospitalRepository } from './archive/ports.ts';
import { IngestService } from './ingest/ingest-service.ts';
import { ApiTokenRepository } from './access/api-tokens.ts';
import { AccountService } from './accounts/service.ts';
import { ensureInitialAdmin } from './accounts/bootstrap.ts';
import { createScpHandlers, type DimseSession } from './dimse-adapter/scp.ts';
import { createHttpServer } from './http/server.ts';
import { createLogger, type Log } from './logger.ts';
import { AuditLog } from './audit/audit-log.ts';
import { AuditRepository } from './audit/repository.ts';
import { auditConfigFrom } from './audit/config.ts';
import { openEventBus, type LiveEventBus } from './events/bus.ts';
import { createRisService, type RisServiceHandle } from './ris/service.ts';
import { startHl7Listener, type Hl7Listener } from './hl7/listener.ts';
import { openReporting, type Reporting } from './reporting/wiring.ts';

export { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME };

export interface Archive {
  config: Config;
  log: Log;
  database: DatabaseHandle;
  hospitals: HospitalRepository;
  aes: AeRepository;
  index: ArchiveIndex;
  blobs: BlobStore;
  ingest: IngestService;
  tokens: ApiTokenRepository;
  /** users, sessions, grade rules; login and user administration (accounts/service.ts) */
  accounts: AccountService;
  /** the audit trail (audit/audit-log.ts) */
  audit: AuditLog;
  /** live exam events (in-process on SQLite, LISTEN/NOTIFY across nodes on PostgreSQL) */
  bus: LiveEventBus;
  /** the reading workflow: orders, exam states, matching, worklist (ris/service.ts) */
  ris: RisServiceHandle;
  /** reports (drafts, review, signing, versions, PDF) and their delivery outbox (reporting/wiring.ts) */
  reporting: Reporting;
  close(): Promise<void>;
}

export async function openArchive(
  config: Config,
  log: Log = createLogger(config.logLevel),
): Promise<Archive> {
  const database = await openDatabase(config.databaseUrl);
  const blobs = await openBlobStore(config.storageUrl, config.dataDir, { sync: config.syncMode === 'full' });
  // SQLite file: index writes in a worker thread (its own connection), off the DICOM event loop;
  // sync mode `full` → `synchronous = FULL` on both connections
  const indexServices = await openIndexServices(database, {
    writerWorker: config.ingest.writerThread,
    syncFull: config.syncMode === 'full',
  });
  const { index, hospitals, aes } = indexServices;
  const ingest = new IngestService({
    index,
    blobs,
    hospitals,
    stagingDir: join(config.dataDir, 'staging'),
    syncMode: config.syncMode,
    duplicatePolicy: config.duplicatePolicy,
    batchSize: config.ingest.batchSize,
    batchWaitMs: config.ingest.batchWaitMs,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
    strict: config.ingest.strict,
  });
  const audit = new AuditLog(new AuditRepository(database.db, database.dialect), { log });
  // planner statistics (SQLite): now and every hour
  await optimizeStatistics(database, true).catch((err: unknown) =>
    log('warn', 'pragma optimize failed', { error: err instanceof Error ? err.message : String(err) }),
  );
  const optimizer = setInterval(() => void optimizeStatistics(database).catch(() => undefined), 3_600_000);
  optimizer.unref();
  const bus = openEventBus({ dialect: database.dialect, databaseUrl: config.databaseUrl, log });
  const ris = createRisService({
    db: database.db,
    dialect: database.dialect,
    hospitals,
    audit,
    bus,
    log,
    tickMs: config.workflow.tickMs,
  });
  ingest.onStored((hospitalId, studyUid) => ris.studyReceived(hospitalId, studyUid));
  const reporting = openReporting({
    db: database.db,
    ris,
    hospitals,
    aes,
    ingest,
    aeTitle: config.aeTitle,
    log,
  });
  return {
    config,
    log,
    database,
    hospitals,
    aes,
    index,
    blobs,
    ingest,
    tokens: new ApiTokenRepository(database.db),
    accounts: new AccountService(database.db, hospitals, audit),
    audit,
    bus,
    ris,
    reporting,
    async close() {
      clearInterval(optimizer);
      await reporting.close();
      await ingest.close();
      await ris.close();
      await bus.close();
      await audit.close();
      await indexServices.close();
      await blobs.close();
      await database.close();
    },
  };
}

export interface RunningServer {
  archive: Archive;
  dimse: DimseServer<DimseSession>;
  dicomPort: number;
  httpPort: number;
  /** the HL7 v2 MLLP port (-1 when disabled) */
  hl7Port: number;
  close(): Promise<void>;
}

export async function startServer(
  config: Config,
  log: Log = createLogger(config.logLevel),
): Promise<RunningServer> {
  const retention = auditConfigFrom();
  const archive = await openArchive(config, log);
  try {
    // first run: the administrator (password from HUIYING_ADMIN_PASSWORD, or printed once to stderr)
    await ensureInitialAdmin(archive.accounts, archive.hospitals, {
      ...(process.env.HUIYING_ADMIN_PASSWORD !== undefined
        ? { password: process.env.HUIYING_ADMIN_PASSWORD }
        : {}),
      print: (text) => process.stderr.write(text),
    });
  } catch (err) {
    await archive.close();
    throw err;
  }
  archive.audit.startRetention(retention.retentionDays);
  const handlers = createScpHandlers({
    aeTitle: config.aeTitle,
    aes: archive.aes,
    hospitals: archive.hospitals,
    index: archive.index,
    blobs: archive.blobs,
    ingest: archive.ingest,
    accounts: archive.accounts,
    audit: archive.audit,
    log,
  });
  const tls =
    config.dimse.tlsCertFile !== undefined && config.dimse.tlsKeyFile !== undefined
      ? {
          cert: readFileSync(config.dimse.tlsCertFile),
          key: readFileSync(config.dimse.tlsKeyFile),
          ...(config.dimse.tlsCaFile !== undefined
            ? { ca: readFileSync(config.dimse.tlsCaFile), requestCert: true }
            : {}),
        }
      : undefined;
  const dimse = new DimseServer<DimseSession>({
    aeTitle: config.aeTitle,
    port: config.dicomPort,
    host: config.bindAddress,
    maxPduLength: config.dimse.maxPduLength,
    maxAssociations: config.dimse.maxAssociations,
    artimTimeoutMs: config.dimse.artimTimeoutMs,
    idleTimeoutMs: config.dimse.idleTimeoutMs,
    ...(tls !== undefined ? { tls } : {}),
    handlers,
    log,
  });
  const http = await createHttpServer({ archive, config, log });
  let dicomPort: number;
  let httpPort: number;
  let hl7: Hl7Listener | undefined;
  try {
    dicomPort = (await dimse.listen()).port;
    httpPort = await http.listen(config.httpPort, config.bindAddress);
    hl7 = await startHl7Listener({
      config,
      hospitals: archive.hospitals,
      ris: archive.ris,
      db: archive.database.db,
      log,
      audit: archive.audit,
    });
  } catch (err) {
    await dimse.close().catch(() => undefined);
    await http.close().catch(() => undefined);
    await archive.close();
    throw err;
  }
  const hl7Listener = hl7;
  // deliveries of signed reports (outbox rows of every node; survives restarts)
  archive.reporting.worker.start();
  log('info', 'huiying listening', {
    aeTitle: config.aeTitle,
    dicomPort,
    httpPort,
    hl7Port: hl7Listener.port,
    bind: config.bindAddress,
    database: archive.database.dialect,
    storage: archive.blobs.description,
  });
  return {
    archive,
    dimse,
    dicomPort,
    httpPort,
    hl7Port: hl7Listener.port,
    async close() {
      await hl7Listener.close();
      await dimse.close();
      await http.close();
      await archive.close();
    },
  };
}
