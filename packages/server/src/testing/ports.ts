/** Free TCP ports for test peers (bind port 0 on loopback, read the port, close). */
import { connect, createServer } from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago (another process may still take it: retry on EADDRINUSE). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close((err) => (err ? reject(err) : port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once host:port accepts a TCP connection; rejects after `timeoutMs` or when `alive()` turns false. */
export async function waitForPort(
  port: number,
  {
    host = '127.0.0.1',
    timeoutMs = 20_000,
    alive,
  }: { host?: string; timeoutMs?: number; alive?: () => boolean } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ port, host });
      const done = (v: boolean): void => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false));
      sock.once('connect', () => done(true));
      sock.once('error', () => done(false));
    });
    if (ok) return;
    if (alive !== undefined && !alive())
      throw new Error(`process exited before ${host}:${port} accepted connections`);
    if (Date.now() > deadline)
      throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
