/**
 * Configuration: defaults < JSON file < environment variables. See docs/configuration.md.
 */
import { readFileSync, existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { HuiyingError } from '../errors.ts';

export type SyncMode = 'full' | 'normal';

export interface Config {
  /** root of the embedded data: SQLite file, blob folder, staging */
  dataDir: string;
  /** bind address for HTTP and DICOM listeners (default 0.0.0.0) */
  bindAddress: string;
  httpPort: number;
  dicomPort: number;
  aeTitle: string;
  /** `sqlite:<path>` / plain path, or `postgres://…`; default SQLite in the data dir */
  databaseUrl: string;
  /** folder path, `file://…`, or `s3://bucket?endpoint=…`; default `<dataDir>/blobs` */
  storageUrl: string;
  /** what to do when a SOP Instance UID arrives again for the same hospital */
  duplicatePolicy: 'keep' | 'replace';
  /**
   * full: fsync every instance file and the index commit before acknowledging (survives power loss);
   * normal: acknowledge once written to the OS and committed (survives a process crash, not power loss)
   */
  syncMode: SyncMode;
  dimse: {
    maxPduLength: number;
    maxAssociations: number;
    artimTimeoutMs: number;
    idleTimeoutMs: number;
    /** TLS for the DICOM port: PEM file paths; off when cert/key are absent */
    tlsCertFile?: string;
    tlsKeyFile?: string;
    tlsCaFile?: string;
  };
  /** group commit: max instances per index transaction and max wait (ms) to gather a batch */
  /** writerThread: SQLite index writes run in a worker thread (off: on the main thread, lower latency) */
  ingest: { batchSize: number; batchWaitMs: number; strict: boolean; writerThread: boolean };
  /** the reading workflow: how often stable study arrivals are processed (ms; 0 = never, tests) */
  workflow: { tickMs: number };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** HL7 v2 over MLLP: orders and patient updates from member hospitals' HIS (packages/server/src/hl7) */
  hl7: {
    /** MLLP port; -1 = disabled (`HUIYING_HL7_PORT=off`); 0 = ephemeral (tests) */
    port: number;
    /** bind address; undefined = the server's bindAddress */
    bindAddress?: string;
    /** largest message accepted (bytes); larger → NAK AR and the connection is closed */
    maxMessageBytes: number;
    /** a connection without traffic for this long is closed (ms); 0 = never */
    idleTimeoutMs: number;
    maxConnections: number;
    /** UTC offset of HL7 times without a zone, e.g. +08:00 */
    defaultUtcOffset: string;
  };
  http: {
    /** allowed CORS origins for DICOMweb (`*` for any); off when empty */
    corsOrigins: string[];
    /**
     * DEVELOPMENT/BENCHMARK ONLY: unauthenticated HTTP requests from 127.0.0.1/::1 act for this hospital.
     * Unset (the default) = every HTTP request needs a credential.
     */
    loopbackHospital?: string;
  };
}

type Env = Record<string, string | undefined>;

function intOf(name: string, v: string | number | undefined, def: number, min = 0, max = 2 ** 31): number {
  if (v === undefined || v === '') return def;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HuiyingError(
      'invalid-input',
      `configuration ${name}: expected an integer in [${min}, ${max}], got ${v}`,
    );
  }
  return n;
}

function boolOf(name: string, v: string | boolean | undefined, def: boolean): boolean {
  if (v === undefined || v === '') return def;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new HuiyingError('invalid-input', `configuration ${name}: expected true or false, got ${v}`);
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[], def: T): T {
  if (v === undefined || v === '') return def;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  throw new HuiyingError(
    'invalid-input',
    `configuration ${name}: expected one of ${allowed.join(', ')}, got ${v}`,
  );
}

const AE_RE = /^[\x20-\x5b\x5d-\x7e]{1,16}$/; // printable, no backslash

/** A JSON config file: same keys as Config (partial). */
type FileConfig = Partial<Omit<Config, 'dimse' | 'ingest' | 'http' | 'workflow' | 'hl7'>> & {
  workflow?: Partial<Config['workflow']>;
  hl7?: Partial<Omit<Config['hl7'], 'port'>> & { port?: number | string };
  http?: Partial<Config['http']>;
  dimse?: Partial<Config['dimse']>;
  ingest?: Partial<Config['ingest']>;
};

function hl7Of(env: Env, f: NonNullable<FileConfig['hl7']>): Config['hl7'] {
  const rawPort = env.HUIYING_HL7_PORT ?? f.port;
  const port =
    rawPort === 'off' || rawPort === '-1' || rawPort === -1
      ? -1
      : intOf('HUIYING_HL7_PORT', rawPort, 2575, 0, 65535);
  const offset = env.HUIYING_HL7_UTC_OFFSET ?? f.defaultUtcOffset ?? '+08:00';
  if (!/^[+-](0\d|1[0-4]):[0-5]\d$/.test(offset))
    throw new HuiyingError('invalid-input', `HUIYING_HL7_UTC_OFFSET: expected ±HH:MM, got ${offset}`);
  const bind = env.HUIYING_HL7_BIND ?? f.bindAddress;
  return {
    port,
    ...(bind !== undefined && bind !== '' ? { bindAddress: bind } : {}),
    maxMessageBytes: intOf(
      'HUIYING_HL7_MAX_MESSAGE_BYTES',
      env.HUIYING_HL7_MAX_MESSAGE_BYTES ?? f.maxMessageBytes,
      1024 * 1024,
      1024,
      64 * 1024 * 1024,
    ),
    idleTimeoutMs: intOf(
      'HUIYING_HL7_IDLE_MS',
      env.HUIYING_HL7_IDLE_MS ?? f.idleTimeoutMs,
      30 * 60 * 1000,
      0,
    ),
    maxConnections: intOf(
      'HUIYING_HL7_MAX_CONNECTIONS',
      env.HUIYING_HL7_MAX_CONNECTIONS ?? f.maxConnections,
      64,
      1,
      10000,
    ),
    defaultUtcOffset: offset,
  };
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const configPath = env.HUIYING_CONFIG;
  let file: FileConfig = {};
  if (configPath !== undefined && configPath !== '') {
    if (!existsSync(configPath))
      throw new HuiyingError('invalid-input', `HUIYING_CONFIG: ${configPath} does not exist`);
    try {
      file = JSON.parse(readFileSync(configPath, 'utf8')) as FileConfig;
    } catch (err) {
      throw new HuiyingError('invalid-input', `HUIYING_CONFIG: ${configPath} is not valid JSON`, {
        cause: err,
      });
    }
  }
  const dataDirRaw = env.HUIYING_DATA_DIR ?? file.dataDir ?? './data';
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(cwd, dataDirRaw);
  const aeTitle = (env.HUIYING_AE_TITLE ?? file.aeTitle ?? 'HUIYING').trim();
  if (!AE_RE.test(aeTitle))
    throw new HuiyingError('invalid-input', `HUIYING_AE_TITLE: invalid AE title '${aeTitle}'`);
  const fd = file.dimse ?? {};
  const cfg: Config = {
    dataDir,
    bindAddress: env.HUIYING_BIND_ADDRESS ?? file.bindAddress ?? '0.0.0.0',
    httpPort: intOf('HUIYING_HTTP_PORT', env.HUIYING_HTTP_PORT ?? file.httpPort, 8080, 0, 65535),
    dicomPort: intOf('HUIYING_DICOM_PORT', env.HUIYING_DICOM_PORT ?? file.dicomPort, 11112, 0, 65535),
    aeTitle,
    databaseUrl: env.HUIYING_DATABASE_URL ?? file.databaseUrl ?? join(dataDir, 'huiying.sqlite'),
    storageUrl: env.HUIYING_STORAGE_URL ?? file.storageUrl ?? join(dataDir, 'blobs'),
    duplicatePolicy: oneOf(
      'HUIYING_DUPLICATE_POLICY',
      env.HUIYING_DUPLICATE_POLICY ?? file.duplicatePolicy,
      ['keep', 'replace'],
      'keep',
    ),
    syncMode: oneOf('HUIYING_SYNC_MODE', env.HUIYING_SYNC_MODE ?? file.syncMode, ['full', 'normal'], 'full'),
    dimse: {
      maxPduLength: intOf(
        'HUIYING_DIMSE_MAX_PDU',
        env.HUIYING_DIMSE_MAX_PDU ?? fd.maxPduLength,
        262144,
        4096,
        16 * 1024 * 1024,
      ),
      maxAssociations: intOf(
        'HUIYING_DIMSE_MAX_ASSOCIATIONS',
        env.HUIYING_DIMSE_MAX_ASSOCIATIONS ?? fd.maxAssociations,
        64,
        1,
        10000,
      ),
      artimTimeoutMs: intOf(
        'HUIYING_DIMSE_ARTIM_MS',
        env.HUIYING_DIMSE_ARTIM_MS ?? fd.artimTimeoutMs,
        30000,
        100,
      ),
      idleTimeoutMs: intOf(
        'HUIYING_DIMSE_IDLE_MS',
        env.HUIYING_DIMSE_IDLE_MS ?? fd.idleTimeoutMs,
        600000,
        100,
      ),
    },
    ingest: {
      strict: boolOf('HUIYING_INGEST_STRICT', env.HUIYING_INGEST_STRICT ?? file.ingest?.strict, true),
      writerThread: boolOf(
        'HUIYING_INDEX_WRITER_THREAD',
        env.HUIYING_INDEX_WRITER_THREAD ?? file.ingest?.writerThread,
        false,
      ),
      batchSize: intOf(
        'HUIYING_INGEST_BATCH',
        env.HUIYING_INGEST_BATCH ?? file.ingest?.batchSize,
        64,
        1,
        10000,
      ),
      batchWaitMs: intOf(
        'HUIYING_INGEST_BATCH_WAIT_MS',
        env.HUIYING_INGEST_BATCH_WAIT_MS ?? file.ingest?.batchWaitMs,
        0,
        0,
        1000,
      ),
    },
    hl7: hl7Of(env, file.hl7 ?? {}),
    http: { corsOrigins: [] },
    workflow: {
      tickMs: intOf(
        'HUIYING_WORKFLOW_TICK_MS',
        env.HUIYING_WORKFLOW_TICK_MS ?? file.workflow?.tickMs,
        1000,
        0,
        3_600_000,
      ),
    },
    logLevel: oneOf(
      'HUIYING_LOG_LEVEL',
      env.HUIYING_LOG_LEVEL ?? file.logLevel,
      ['debug', 'info', 'warn', 'error'],
      'info',
    ),
  };
  const cors = env.HUIYING_CORS_ORIGINS ?? file.http?.corsOrigins?.join(',') ?? '';
  cfg.http.corsOrigins = cors
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  const loopback = env.HUIYING_HTTP_LOOPBACK_HOSPITAL ?? file.http?.loopbackHospital;
  if (loopback !== undefined && loopback !== '') cfg.http.loopbackHospital = loopback;
  const cert = env.HUIYING_DIMSE_TLS_CERT ?? fd.tlsCertFile;
  const key = env.HUIYING_DIMSE_TLS_KEY ?? fd.tlsKeyFile;
  const ca = env.HUIYING_DIMSE_TLS_CA ?? fd.tlsCaFile;
  if ((cert === undefined) !== (key === undefined)) {
    throw new HuiyingError(
      'invalid-input',
      'DICOM TLS needs both HUIYING_DIMSE_TLS_CERT and HUIYING_DIMSE_TLS_KEY',
    );
  }
  if (cert !== undefined) cfg.dimse.tlsCertFile = cert;
  if (key !== undefined) cfg.dimse.tlsKeyFile = key;
  if (ca !== undefined) cfg.dimse.tlsCaFile = ca;
  return cfg;
}
