/** Our SCU against our SCP, plus upper-layer robustness over real sockets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { DimseServer } from './server.ts';
import { AssociationRejectedError, connect } from './client.ts';
import type { ConnectOptions } from './client.ts';
import { DimseError, Status } from './types.ts';
import type { ScpHandlers, ServerOptions } from './types.ts';
import { PduType, encodeAssociateRq, pDataHeader } from './pdu.ts';
import { SopClass, TransferSyntax } from './uids.ts';
import { encodeDataset } from './test-helpers.ts';

const CT = SopClass.CtImageStorage;
const ELE = TransferSyntax.ExplicitVRLittleEndian;
const ILE = TransferSyntax.ImplicitVRLittleEndian;

const baseHandlers: ScpHandlers<null> = {
  onAssociate: (req) =>
    Promise.resolve(
      req.callingAeTitle === 'BAD' ? { reject: { result: 1, source: 1, reason: 3 } } : { accept: null },
    ),
  async store(_ctx, _req, data) {
    for await (const _ of data) {
      // discard
    }
    return { status: 0 };
  },
  async *find(_ctx, req) {
    for (let i = 0; i < 1000; i++) {
      if (req.signal.aborted) return;
      await new Promise((r) => setTimeout(r, 2));
      yield encodeDataset([{ tag: 0x00100020, vr: 'LO', value: `ID${i}` }], req.transferSyntax);
    }
  },
};

async function withServer(
  opts: Partial<ServerOptions<null>>,
  fn: (port: number, server: DimseServer<null>) => Promise<void>,
): Promise<void> {
  const server = new DimseServer<null>({
    aeTitle: 'SCP',
    port: 0,
    host: '127.0.0.1',
    handlers: baseHandlers,
    ...opts,
  });
  const { port } = await server.listen();
  try {
    await fn(port, server);
  } finally {
    await server.close();
  }
}

function clientOpts(port: number, extra: Partial<ConnectOptions> = {}): ConnectOptions {
  return {
    host: '127.0.0.1',
    port,
    callingAeTitle: 'SCU',
    calledAeTitle: 'SCP',
    contexts: [
      { abstractSyntax: SopClass.Verification, transferSyntaxes: [ILE] },
      { abstractSyntax: CT, transferSyntaxes: [TransferSyntax.JpegLossless, ELE] },
      { abstractSyntax: SopClass.StudyRootFind, transferSyntaxes: [ILE, ELE] },
      { abstractSyntax: SopClass.PatientRootMove, transferSyntaxes: [ELE] },
      { abstractSyntax: '1.2.3.4.5.6.7.8.9', transferSyntaxes: ['1.2.3.4.5'] },
    ],
    ...extra,
  };
}

/** Raw socket helper: send bytes, collect everything until the peer closes. */
function rawExchange(
  port: number,
  send: (s: net.Socket) => void,
  onData?: (all: Buffer, s: net.Socket) => void,
  timeoutMs = 3000,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => send(s));
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => {
      parts.push(d);
      onData?.(Buffer.concat(parts), s);
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(parts));
    });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('peer did not close'));
    }, timeoutMs);
  });
}

const rqBytes = encodeAssociateRq({
  protocolVersion: 1,
  calledAeTitle: 'SCP',
  callingAeTitle: 'RAW',
  applicationContext: '1.2.840.10008.3.1.1.1',
  contexts: [{ id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [ILE] }],
  userInfo: { maxPduLength: 16384, roles: [] },
});

test('negotiation: default transfer syntax choice, rejected contexts, echo', async () => {
  await withServer({}, async (port) => {
    const a = await connect(clientOpts(port));
    const by = (s: string) => a.contexts.find((c) => c.abstractSyntax === s);
    assert.equal(by(SopClass.Verification)?.transferSyntax, ILE);
    // storage: the first proposed transfer syntax, whatever it is
    assert.equal(by(CT)?.transferSyntax, TransferSyntax.JpegLossless);
    // Q/R: explicit VR LE preferred
    assert.equal(by(SopClass.StudyRootFind)?.transferSyntax, ELE);
    // no move handler: abstract syntax not supported
    assert.equal(by(SopClass.PatientRootMove)?.result, 3);
    // unknown/private SOP classes are storage: accepted as proposed
    assert.equal(by('1.2.3.4.5.6.7.8.9')?.result, 0);
    assert.deepEqual(await a.echo(), { status: 0 });
    await a.release();
    assert.equal(a.isOpen, false);
  });
});

test('negotiation: transfer syntaxes not supported (result 4), chooseTransferSyntax override', async () => {
  await withServer(
    {
      handlers: { ...baseHandlers, chooseTransferSyntax: (ctx) => (ctx.abstractSyntax === CT ? ELE : null) },
    },
    async (port) => {
      const a = await connect(clientOpts(port));
      assert.equal(a.contextFor(CT)?.transferSyntax, ELE);
      assert.equal(a.contexts.find((c) => c.abstractSyntax === SopClass.Verification)?.result, 4);
      await a.release();
    },
  );
  await withServer({}, async (port) => {
    const a = await connect(
      clientOpts(port, {
        contexts: [
          { abstractSyntax: SopClass.StudyRootFind, transferSyntaxes: [TransferSyntax.ExplicitVRBigEndian] },
        ],
      }),
    );
    assert.equal(a.contexts[0]?.result, 4);
    assert.equal(a.accepted.length, 0);
    await a.release();
  });
});

test('rejections: calling AE (onAssociate), called AE, max associations', async () => {
  await withServer({ maxAssociations: 1 }, async (port) => {
    await assert.rejects(connect(clientOpts(port, { callingAeTitle: 'BAD' })), (e: unknown) => {
      assert.ok(e instanceof AssociationRejectedError);
      assert.deepEqual([e.result, e.source, e.reason], [1, 1, 3]);
      return true;
    });
    await assert.rejects(connect(clientOpts(port, { calledAeTitle: 'OTHER' })), (e: unknown) => {
      assert.ok(e instanceof AssociationRejectedError);
      assert.deepEqual([e.result, e.source, e.reason], [1, 1, 7]);
      return true;
    });
    const first = await connect(clientOpts(port));
    await assert.rejects(connect(clientOpts(port)), (e: unknown) => {
      assert.ok(e instanceof AssociationRejectedError);
      assert.deepEqual([e.result, e.source, e.reason], [2, 3, 2]);
      return true;
    });
    await first.release();
  });
});

test('C-STORE from Uint8Array and Readable, handler statuses and error comments', async () => {
  const got: Buffer[] = [];
  await withServer(
    {
      maxPduLength: 4096,
      handlers: {
        ...baseHandlers,
        async store(_ctx, req, data) {
          const b = await buffer(data);
          if (req.sopInstanceUid === '9') throw new DimseError(0xa900, 'does not match');
          if (req.sopInstanceUid === '8') throw new Error('boom '.repeat(30));
          got.push(b);
          return { status: 0xb007, errorComment: 'warning here' };
        },
      },
    },
    async (port) => {
      const a = await connect(clientOpts(port));
      const data = Buffer.alloc(100_000);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      const r1 = await a.store({
        sopClassUid: CT,
        sopInstanceUid: '1',
        transferSyntax: TransferSyntax.JpegLossless,
        data,
      });
      assert.deepEqual(r1, { status: 0xb007, errorComment: 'warning here' });
      const chunks = [data.subarray(0, 7), data.subarray(7, 50_000), data.subarray(50_000)];
      await a.store({
        sopClassUid: CT,
        sopInstanceUid: '2',
        transferSyntax: TransferSyntax.JpegLossless,
        data: Readable.from(chunks),
      });
      assert.ok(got[0]?.equals(data));
      assert.ok(got[1]?.equals(data));
      const r3 = await a.store({
        sopClassUid: CT,
        sopInstanceUid: '9',
        transferSyntax: TransferSyntax.JpegLossless,
        data,
      });
      assert.deepEqual(r3, { status: 0xa900, errorComment: 'does not match' });
      const r4 = await a.store({
        sopClassUid: CT,
        sopInstanceUid: '8',
        transferSyntax: TransferSyntax.JpegLossless,
        data,
      });
      assert.equal(r4.status, Status.OutOfResources);
      assert.equal(r4.errorComment?.length, 64);
      // empty dataset
      await a.store({
        sopClassUid: CT,
        sopInstanceUid: '3',
        transferSyntax: TransferSyntax.JpegLossless,
        data: new Uint8Array(0),
      });
      assert.equal(got[2]?.length, 0);
      await assert.rejects(
        a.store({ sopClassUid: CT, sopInstanceUid: '4', transferSyntax: ELE, data }),
        DimseError,
      );
      await a.release();
    },
  );
});

test('C-FIND: pending identifiers, early stop and signal send C-CANCEL, final Cancel', async () => {
  await withServer({}, async (port) => {
    const a = await connect(clientOpts(port));
    const ids: string[] = [];
    for await (const id of a.find(SopClass.StudyRootFind, encodeDataset([], ELE))) {
      ids.push(Buffer.from(id).toString('latin1'));
      if (ids.length === 3) break;
    }
    assert.equal(ids.length, 3);
    assert.match(ids[2] ?? '', /ID2/);
    const ac = new AbortController();
    const gen = a.find(SopClass.StudyRootFind, encodeDataset([], ELE), { signal: ac.signal });
    let n = 0;
    let r = await gen.next();
    while (r.done !== true) {
      if (++n === 5) ac.abort();
      r = await gen.next();
    }
    assert.equal(r.value, Status.Cancel);
    assert.ok(n < 50);
    // the association is still usable
    assert.equal((await a.echo()).status, 0);
    await a.release();
  });
});

test('C-FIND failure status is thrown as DimseError', async () => {
  await withServer(
    {
      handlers: {
        ...baseHandlers,
        // eslint-disable-next-line require-yield
        async *find() {
          await Promise.resolve();
          throw new DimseError(0xa900, 'identifier does not match');
        },
      },
    },
    async (port) => {
      const a = await connect(clientOpts(port));
      await assert.rejects(
        async () => {
          for await (const _ of a.find(SopClass.StudyRootFind, new Uint8Array(0))) {
            // none
          }
        },
        (e: unknown) =>
          e instanceof DimseError && e.status === 0xa900 && e.message === 'identifier does not match',
      );
      await a.release();
    },
  );
});

test('upper layer: garbage bytes get an A-ABORT and the server keeps serving', async () => {
  await withServer({}, async (port) => {
    const reply = await rawExchange(port, (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(reply[0], PduType.Abort);
    const a = await connect(clientOpts(port));
    assert.equal((await a.echo()).status, 0);
    await a.release();
  });
});

test('upper layer: oversized PDU aborts the association without buffering it', async () => {
  await withServer({ maxIncomingPduLength: 100_000 }, async (port) => {
    let sent = false;
    const reply = await rawExchange(
      port,
      (s) => s.write(rqBytes),
      (all, s) => {
        if (!sent && all[0] === PduType.AssociateAc) {
          sent = true;
          s.write(pDataHeader(1, false, true, 50_000_000));
        }
      },
    );
    assert.equal(reply[0], PduType.AssociateAc);
    const acLen = reply.readUInt32BE(2) + 6;
    assert.equal(reply[acLen], PduType.Abort);
  });
});

test('upper layer: A-ASSOCIATE-RQ split byte by byte is understood; release', async () => {
  await withServer({}, async (port) => {
    const reply = await rawExchange(
      port,
      (s) => {
        let i = 0;
        const next = (): void => {
          if (i < rqBytes.length) {
            s.write(rqBytes.subarray(i, i + 1));
            i++;
            setImmediate(next);
          } else s.write(Buffer.from([PduType.ReleaseRq, 0, 0, 0, 0, 4, 0, 0, 0, 0]));
        };
        next();
      },
      (all, s) => {
        // the release requestor closes the transport after A-RELEASE-RP
        if (all.length > 6 && all[all.readUInt32BE(2) + 6] === PduType.ReleaseRp) s.end();
      },
    );
    assert.equal(reply[0], PduType.AssociateAc);
    const acLen = reply.readUInt32BE(2) + 6;
    assert.equal(reply[acLen], PduType.ReleaseRp);
  });
});

test('upper layer: ARTIM closes a connection that never sends A-ASSOCIATE-RQ; idle timeout aborts', async () => {
  await withServer({ artimTimeoutMs: 150, idleTimeoutMs: 200 }, async (port) => {
    const t0 = Date.now();
    const reply = await rawExchange(port, () => {});
    assert.equal(reply.length, 0);
    assert.ok(Date.now() - t0 >= 100);
    const a = await connect(clientOpts(port));
    await a.closed;
    assert.equal(a.isOpen, false);
  });
});

test('server close() releases open associations gracefully', async () => {
  const server = new DimseServer<null>({
    aeTitle: 'SCP',
    port: 0,
    host: '127.0.0.1',
    handlers: baseHandlers,
  });
  const { port } = await server.listen();
  const a = await connect(clientOpts(port));
  assert.equal(server.associationCount, 1);
  await server.close();
  await a.closed;
  assert.equal(a.isOpen, false);
  assert.equal(server.associationCount, 0);
});

test('release collision: both sides ask at once and both end released', async () => {
  let serverAssocReleased = false;
  const server = new DimseServer<null>({
    aeTitle: 'SCP',
    port: 0,
    host: '127.0.0.1',
    handlers: { ...baseHandlers, onRelease: () => void (serverAssocReleased = true) },
  });
  const { port } = await server.listen();
  const a = await connect(clientOpts(port));
  await Promise.all([a.release(), server.close()]);
  assert.equal(a.isOpen, false);
  assert.equal(serverAssocReleased, true);
});

test('user identity negotiation and TLS', { skip: opensslMissing() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dimse-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'c.pem'));
    const key = readFileSync(join(dir, 'k.pem'));
    let seen: unknown;
    await withServer(
      {
        tls: { cert, key },
        handlers: {
          ...baseHandlers,
          onAssociate: (req) => {
            seen = { tls: req.tls, id: req.userIdentity };
            return Promise.resolve({ accept: null, userIdentityResponse: new Uint8Array([0x41]) });
          },
        },
      },
      async (port) => {
        const a = await connect(
          clientOpts(port, {
            tls: { ca: cert, servername: 'localhost' },
            userIdentity: {
              type: 2,
              primaryField: 'alice',
              secondaryField: 'secret',
              positiveResponseRequested: true,
            },
          }),
        );
        assert.deepEqual(seen, {
          tls: true,
          id: { type: 2, primaryField: 'alice', secondaryField: 'secret', positiveResponseRequested: true },
        });
        assert.deepEqual([...(a.userIdentityResponse ?? [])], [0x41]);
        assert.equal((await a.echo()).status, 0);
        await a.store({
          sopClassUid: CT,
          sopInstanceUid: '1',
          transferSyntax: TransferSyntax.JpegLossless,
          data: Buffer.alloc(300_000, 3),
        });
        await a.release();
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function opensslMissing(): false | string {
  try {
    execFileSync('sh', ['-c', 'command -v openssl'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'openssl not installed';
  }
}
