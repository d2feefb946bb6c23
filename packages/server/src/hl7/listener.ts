/**
 * The HL7 v2 listener: MLLP server (mllp.ts) → intake service (intake.ts) → RisService.
 *
 *   const hl7 = await startHl7Listener({ config, hospitals, ris, db, log });
 *   …
 *   await hl7.close();
 *
 * `config.hl7.port` -1 disables it (then `enabled` is false, `port` -1 and close() does nothing).
 */
import type { Kysely } from 'kysely';
import type { HospitalRepository } from '../archive/ports.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Config } from '../config/config.ts';
import type { Schema } from '../db/schema.ts';
import type { Log } from '../logger.ts';
import type { RisService } from '../ris/ports.ts';
import { Hl7Intake } from './intake.ts';
import { MllpServer } from './mllp.ts';
import { Hl7Repository } from './repository.ts';

export interface Hl7ListenerOptions {
  config: Pick<Config, 'bindAddress' | 'hl7'>;
  hospitals: HospitalRepository;
  ris: RisService;
  db: Kysely<Schema>;
  log: Log;
  /** refused messages are audited (action `hl7_message`); accepted ones through the RisService */
  audit?: AuditLog;
}

export interface Hl7Listener {
  enabled: boolean;
  /** the bound port (-1 when disabled) */
  port: number;
  /** the bound address */
  address: string;
  intake: Hl7Intake | undefined;
  close(): Promise<void>;
}

export async function startHl7Listener(opts: Hl7ListenerOptions): Promise<Hl7Listener> {
  const cfg = opts.config.hl7;
  if (cfg.port < 0) {
    opts.log('info', 'hl7: listener disabled (HUIYING_HL7_PORT=off)');
    return { enabled: false, port: -1, address: '', intake: undefined, close: () => Promise.resolve() };
  }
  const intake = new Hl7Intake({
    repo: new Hl7Repository(opts.db),
    hospitals: opts.hospitals,
    ris: opts.ris,
    log: opts.log,
    ...(opts.audit !== undefined ? { audit: opts.audit } : {}),
    defaultUtcOffset: cfg.defaultUtcOffset,
  });
  const host = cfg.bindAddress ?? opts.config.bindAddress;
  const server = new MllpServer({
    host,
    port: cfg.port,
    maxMessageBytes: cfg.maxMessageBytes,
    idleTimeoutMs: cfg.idleTimeoutMs,
    maxConnections: cfg.maxConnections,
    log: opts.log,
    onMessage: async (bytes, peer) => (await intake.handle(bytes, peer.peer)).ack,
    onOversized: (head, size, peer) => intake.oversized(head, size, peer.peer, cfg.maxMessageBytes),
  });
  const { port, address } = await server.listen();
  opts.log('info', 'hl7: MLLP listener started', {
    port,
    bind: address,
    maxMessageBytes: cfg.maxMessageBytes,
  });
  return {
    enabled: true,
    port,
    address,
    intake,
    close: () => server.close(),
  };
}
