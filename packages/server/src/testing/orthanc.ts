/**
 * A private Orthanc (Debian package) as a test peer: own config, storage, index and free ports in a
 * temp dir, started as a child process and removed by stop(). Independent of any system Orthanc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export const ORTHANC_BIN = process.env.HUIYING_ORTHANC_BIN ?? '/usr/sbin/Orthanc';
export const ORTHANC_DICOMWEB_PLUGIN =
  process.env.HUIYING_ORTHANC_DICOMWEB ?? '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

/** `false` when Orthanc (and, if asked, its DICOMweb plugin) is installed, else a skip reason. */
export function needOrthanc(opts: { dicomWeb?: boolean } = {}): false | string {
  if (!existsSync(ORTHANC_BIN)) return `${ORTHANC_BIN} not installed (apt-get install orthanc)`;
  if (opts.dicomWeb === true && !existsSync(ORTHANC_DICOMWEB_PLUGIN)) {
    return `${ORTHANC_DICOMWEB_PLUGIN} not installed (apt-get install orthanc-dicomweb)`;
  }
  return false;
}

export interface OrthancOptions {
  /** Orthanc's own AE title (default ORTHANC). */
  aet?: string;
  dicomPort?: number;
  httpPort?: number;
  /** Known peers for C-MOVE / outgoing C-STORE: `{ NAME: [aet, host, port] }`. */
  modalities?: Record<string, [string, string, number]>;
  /** Load the DICOMweb plugin (root `/dicom-web/`). */
  dicomWeb?: boolean;
  /** Merged over the generated configuration (top level). */
  extraConfig?: Record<string, unknown>;
  /** Milliseconds to wait for `/system` (default 30 s). */
  startTimeoutMs?: number;
}

export interface UploadResult {
  ID: string;
  ParentPatient: string;
  ParentStudy: string;
  ParentSeries: string;
  Path: string;
  Status: string;
}

export interface Orthanc {
  aet: string;
  dicomPort: number;
  httpPort: number;
  /** http://127.0.0.1:<httpPort> */
  baseUrl: string;
  /** DICOMweb root (only meaningful with `dicomWeb: true`): http://127.0.0.1:<httpPort>/dicom-web */
  dicomWebUrl: string;
  /** The temp dir holding config, storage, index and log. */
  dir: string;
  /** fetch() against the REST API (`path` starts with `/`). */
  rest(path: string, init?: RequestInit): Promise<Response>;
  /** GET/POST returning parsed JSON; throws on a non-2xx status. */
  restJson<T>(path: string, init?: RequestInit): Promise<T>;
  /** POST /instances with a DICOM file (path or bytes). */
  uploadFile(file: string | Uint8Array): Promise<UploadResult>;
  /** Orthanc's log so far. */
  log(): Promise<string>;
  /** Kills the process and removes the temp dir. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startOrthanc(opts: OrthancOptions = {}): Promise<Orthanc> {
  const reason = needOrthanc({ dicomWeb: opts.dicomWeb === true });
  if (reason !== false) throw new Error(reason);
  const aet = opts.aet ?? 'ORTHANC';
  const dir = await mkdtemp(join(tmpdir(), 'huiying-orthanc-'));
  const dicomPort = opts.dicomPort ?? (await freePort());
  let httpPort = opts.httpPort ?? (await freePort());
  while (httpPort === dicomPort) httpPort = await freePort();
  const config: Record<string, unknown> = {
    Name: `HUIYING-TEST-${aet}`,
    StorageDirectory: join(dir, 'storage'),
    IndexDirectory: join(dir, 'index'),
    StorageCompression: false,
    ConcurrentJobs: 2,
    SaveJobs: false,
    Plugins: opts.dicomWeb === true ? [ORTHANC_DICOMWEB_PLUGIN] : [],
    HttpServerEnabled: true,
    HttpPort: httpPort,
    HttpDescribeErrors: true,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    TcpNoDelay: true, // HTTP sockets; DIMSE Nagle is dcmtk's TCP_NODELAY=1 in the environment below
    DicomServerEnabled: true,
    DicomAet: aet,
    DicomPort: dicomPort,
    DicomCheckCalledAet: false,
    DicomAlwaysAllowEcho: true,
    DicomAlwaysAllowStore: true,
    DicomAlwaysAllowFind: true,
    DicomAlwaysAllowMove: true,
    DicomAlwaysAllowGet: true,
    DicomAssociationCloseDelay: 0,
    DicomScuTimeout: 10,
    UnknownSopClassAccepted: true,
    DefaultEncoding: 'Utf8',
    DicomModalities: opts.modalities ?? {},
    ...(opts.dicomWeb === true
      ? { DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: false, Ssl: false } }
      : {}),
    ...opts.extraConfig,
  };
  const configPath = join(dir, 'orthanc.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const logPath = join(dir, 'orthanc.log');
  const logFd = openSync(logPath, 'a');
  const child = spawn(ORTHANC_BIN, [configPath], {
    cwd: dir,
    env: { ...process.env, TCP_NODELAY: '1' },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  running.add(child);
  child.unref();
  let exited = false;
  const closed = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    }),
  );
  child.once('error', () => {
    exited = true;
  });

  const baseUrl = `http://127.0.0.1:${httpPort}`;
  const rest = (path: string, init?: RequestInit): Promise<Response> => fetch(`${baseUrl}${path}`, init);
  const restJson = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await rest(path, init);
    const text = await res.text();
    if (!res.ok) throw new Error(`Orthanc ${init?.method ?? 'GET'} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await closed;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    try {
      const res = await rest('/system', { signal: AbortSignal.timeout(2000) });
      if (res.ok) {
        await res.body?.cancel();
        break;
      }
    } catch {
      // not listening yet
    }
    if (exited || Date.now() > deadline) {
      const log = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n') : '';
      await stop();
      throw new Error(`Orthanc did not start (${exited ? 'process exited' : 'timeout'}):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    aet,
    dicomPort,
    httpPort,
    baseUrl,
    dicomWebUrl: `${baseUrl}/dicom-web`,
    dir,
    rest,
    restJson,
    uploadFile: async (file) => {
      const body = typeof file === 'string' ? await readFile(file) : file;
      return restJson<UploadResult>('/instances', {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/dicom' },
      });
    },
    log: async () => (existsSync(logPath) ? readFile(logPath, 'utf8') : ''),
    stop,
  };
}
