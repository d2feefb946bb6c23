/**
 * One Huiying server node as a child process, for the multi-node tests (events/two-nodes.test.ts):
 * `node testing-node.ts` with HUIYING_DATABASE_URL (and any HUIYING_* setting) in the environment starts a
 * server on free loopback ports (own temp data dir), prints one JSON line `{"httpPort":…,"dicomPort":…}`
 * on stdout, and stops cleanly on SIGTERM or when stdin closes (the parent died).
 */
import { startTestServer } from '../testing/test-server.ts';

// every HUIYING_* setting except where this node lives (its own temp dir and free ports)
const OWN = new Set(['HUIYING_DATA_DIR', 'HUIYING_HTTP_PORT', 'HUIYING_DICOM_PORT', 'HUIYING_BIND_ADDRESS']);
const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env))
  if (k.startsWith('HUIYING_') && !OWN.has(k) && v !== undefined) env[k] = v;
const srv = await startTestServer(env);
process.stdout.write(`${JSON.stringify({ httpPort: srv.httpPort, dicomPort: srv.dicomPort })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await srv.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
