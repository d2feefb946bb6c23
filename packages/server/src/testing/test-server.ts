/**
 * A real Huiying server for integration tests: temp data dir (or a given database/storage URL),
 * listeners on free loopback ports, helpers to register hospitals and AEs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/config.ts';
import { startServer, type RunningServer } from '../app.ts';
import { silentLog, createLogger } from '../logger.ts';
import type { ApplicationEntity, Hospital } from '../archive/ports.ts';

export interface TestServer {
  server: RunningServer;
  dataDir: string;
  dicomPort: number;
  httpPort: number;
  /** the HL7 v2 MLLP port */
  hl7Port: number;
  aeTitle: string;
  hospital(code: string, opts?: { name?: string; center?: boolean; charset?: string }): Promise<Hospital>;
  ae(
    title: string,
    hospitalCode: string,
    opts?: { host?: string; port?: number },
  ): Promise<ApplicationEntity>;
  stop(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'huiying-srv-'));
  const config = loadConfig({
    HUIYING_DATA_DIR: dataDir,
    HUIYING_DICOM_PORT: '0',
    HUIYING_HTTP_PORT: '0',
    HUIYING_BIND_ADDRESS: '127.0.0.1',
    HUIYING_AE_TITLE: 'HUIYING',
    // the HL7 listener on an ephemeral port (parallel test files never collide on 2575)
    HUIYING_HL7_PORT: '0',
    ...env,
  });
  const log = process.env.HUIYING_TEST_LOG === '1' ? createLogger('debug') : silentLog;
  const server = await startServer(config, log);
  const a = server.archive;
  return {
    server,
    dataDir,
    dicomPort: server.dicomPort,
    httpPort: server.httpPort,
    hl7Port: server.hl7Port,
    aeTitle: config.aeTitle,
    async hospital(code, opts = {}) {
      return (
        (await a.hospitals.byCode(code)) ??
        a.hospitals.create({
          code,
          name: opts.name ?? code,
          isCenter: opts.center ?? false,
          ...(opts.charset !== undefined ? { defaultCharset: opts.charset } : {}),
        })
      );
    },
    async ae(title, hospitalCode, opts = {}) {
      const h = await a.hospitals.byCode(hospitalCode);
      if (h === undefined) throw new Error(`no hospital ${hospitalCode}`);
      return a.aes.create({ aeTitle: title, hospitalId: h.id, ...opts });
    },
    async stop() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
