import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  MllpClient,
  MllpFrameScanner,
  MllpServer,
  MllpTransportError,
  mllpFrame,
  type ScanEvent,
} from './mllp.ts';
import { buildAck, parseAck } from './message.ts';
import { charsetOf, decodeStrict, encodeText } from './charset.ts';

const frame = (s: string): Buffer => mllpFrame(Buffer.from(s, 'utf8'));
const frames = (evs: ScanEvent[]): string[] =>
  evs.flatMap((e) => (e.type === 'frame' ? [e.data.toString('utf8')] : []));

function msg(id: string, extra = ''): string {
  return `MSH|^~\\&|HIS|CHENCUN|HUIYING|CENTER|20260101120000||ORM^O01|${id}|P|2.5\rPID|1||P${id}||Zhang^San${extra}`;
}

/** An echo server: ACK AA for every message, recording the order in which messages were handled. */
async function echoServer(
  opts: { maxMessageBytes?: number; delayFirst?: boolean; dropFirst?: boolean; silent?: boolean } = {},
): Promise<{ server: MllpServer; port: number; seen: string[] }> {
  const seen: string[] = [];
  let first = true;
  const server = new MllpServer({
    host: '127.0.0.1',
    port: 0,
    closeGraceMs: 200,
    ...(opts.maxMessageBytes !== undefined ? { maxMessageBytes: opts.maxMessageBytes } : {}),
    async onMessage(bytes) {
      const text = bytes.toString('utf8');
      const id = /\|ORM\^O01\|([^|]*)\|/.exec(text)?.[1] ?? '';
      if (opts.dropFirst === true && first) {
        first = false;
        throw new Error('simulated crash before the ACK');
      }
      if (opts.silent === true) return new Promise<Buffer>(() => undefined);
      // later messages must not overtake a slow first one
      if (opts.delayFirst === true && first) {
        first = false;
        await new Promise((r) => setTimeout(r, 50));
      }
      seen.push(id);
      return Buffer.from(
        buildAck(
          {
            sendingApplication: 'HIS',
            sendingFacility: 'CHENCUN',
            receivingApplication: 'HUIYING',
            receivingFacility: 'CENTER',
            controlId: id,
            trigger: 'O01',
            processingId: 'P',
            version: '2.5',
            charset: '',
          },
          'AA',
        ),
        'utf8',
      );
    },
    onOversized: (head) =>
      Promise.resolve(
        Buffer.from(`MSH|^~\\&|HUIYING||||||ACK|X|P|2.5\rMSA|AR|${head.length}|too large`, 'utf8'),
      ),
  });
  const { port } = await server.listen();
  return { server, port, seen };
}

/** Connect a raw socket, write `chunks` (each separately, with a turn of the event loop between), and
 *  collect the answer frames until `expect` arrived or the peer closed. */
async function rawExchange(
  port: number,
  chunks: Buffer[],
  expect: number,
): Promise<{ answers: string[]; closed: boolean }> {
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const scanner = new MllpFrameScanner();
  const answers: string[] = [];
  let closed = false;
  const done = new Promise<void>((resolve) => {
    sock.on('data', (c: Buffer) => {
      answers.push(...frames(scanner.push(c)));
      if (answers.length >= expect) resolve();
    });
    sock.on('close', () => {
      closed = true;
      resolve();
    });
  });
  for (const c of chunks) {
    sock.write(c);
    await new Promise((r) => setImmediate(r));
  }
  await done;
  sock.destroy();
  return { answers, closed };
}

function ackIds(answers: string[]): string[] {
  return answers.map((a) => parseAck(a).ackControlId);
}

describe('MLLP frame scanner', () => {
  test('a frame split byte by byte', () => {
    const s = new MllpFrameScanner();
    const f = frame(msg('1', '张三'));
    const out: ScanEvent[] = [];
    for (const b of f) out.push(...s.push(Buffer.from([b])));
    assert.deepEqual(frames(out), [msg('1', '张三')]);
    assert.equal(s.pendingBytes, 0);
  });

  test('coalesced frames, garbage between, FS CR split across chunks, FS without CR', () => {
    const s = new MllpFrameScanner();
    const a = frame('A1');
    const evs = s.push(
      Buffer.concat([
        Buffer.from('\r\n junk'),
        a,
        Buffer.from('xx'),
        frame('B2'),
        frame('C3').subarray(0, 3),
      ]),
    );
    assert.deepEqual(frames(evs), ['A1', 'B2']);
    const garbage = evs
      .filter((e) => e.type === 'garbage')
      .reduce((n, e) => n + (e.type === 'garbage' ? e.bytes : 0), 0);
    assert.equal(garbage, 9);
    // rest of C3: FS now, CR in the next chunk (must not count as garbage)
    const e2 = s.push(Buffer.from([0x1c]));
    assert.deepEqual(frames(e2), ['C3']);
    const e3 = s.push(
      Buffer.concat([
        Buffer.from([0x0d]),
        Buffer.from([0x0b]),
        Buffer.from('D4'),
        Buffer.from([0x1c, 0x0b]),
        Buffer.from('E5'),
        Buffer.from([0x1c, 0x0d]),
      ]),
    );
    assert.deepEqual(frames(e3), ['D4', 'E5']);
    assert.equal(e3.filter((e) => e.type === 'garbage').length, 0);
  });

  test('a VT inside a frame restarts it; an oversized frame is reported once and skipped', () => {
    const s = new MllpFrameScanner(10);
    const evs = s.push(Buffer.concat([Buffer.from([0x0b]), Buffer.from('half'), frame('OK')]));
    assert.deepEqual(frames(evs), ['OK']);
    assert.ok(evs.some((e) => e.type === 'garbage' && e.bytes === 4));
    const big = s.push(Buffer.concat([Buffer.from([0x0b]), Buffer.from('0123456789ABCDEF')]));
    const over = big.filter((e) => e.type === 'oversized');
    assert.equal(over.length, 1);
    assert.deepEqual(
      frames(s.push(Buffer.concat([Buffer.from('more'), Buffer.from([0x1c, 0x0d]), frame('NEXT')]))),
      ['NEXT'],
    );
  });
});

describe('MLLP server', () => {
  test('200 pipelined messages written at once: each acknowledged exactly once, in order', async () => {
    const { server, port, seen } = await echoServer({ delayFirst: true });
    try {
      const ids = Array.from({ length: 200 }, (_, i) => `M${i}`);
      const { answers } = await rawExchange(port, [Buffer.concat(ids.map((id) => frame(msg(id))))], 200);
      assert.deepEqual(ackIds(answers), ids);
      assert.deepEqual(seen, ids);
    } finally {
      await server.close();
    }
  });

  test('frames split byte by byte and garbage between frames', async () => {
    const { server, port } = await echoServer();
    try {
      const all = Buffer.concat([
        frame(msg('S1', '张三')),
        Buffer.from('garbage\r\n'),
        frame(msg('S2')),
        frame(msg('S3')),
      ]);
      const chunks = [...all].map((b) => Buffer.from([b]));
      const { answers } = await rawExchange(port, chunks, 3);
      assert.deepEqual(ackIds(answers), ['S1', 'S2', 'S3']);
    } finally {
      await server.close();
    }
  });

  test('an oversized message gets the NAK after the earlier ACKs, then the connection is closed', async () => {
    const { server, port } = await echoServer({ maxMessageBytes: 1000 });
    try {
      const huge = frame(msg('BIG', 'x'.repeat(5000)));
      const { answers, closed } = await rawExchange(
        port,
        [Buffer.concat([frame(msg('OK1')), huge, frame(msg('LOST'))])],
        3,
      );
      assert.equal(answers.length, 2);
      assert.equal(parseAck(answers[0]!).code, 'AA');
      assert.equal(parseAck(answers[1]!).code, 'AR');
      assert.equal(closed, true);
    } finally {
      await server.close();
    }
  });

  test('max connections: the connection over the limit is closed', async () => {
    const seen: string[] = [];
    const server = new MllpServer({
      host: '127.0.0.1',
      port: 0,
      maxConnections: 1,
      onMessage(b) {
        seen.push(b.toString());
        return Promise.resolve(Buffer.from('MSH|^~\\&|A\rMSA|AA|1'));
      },
      onOversized: () => Promise.resolve(Buffer.alloc(0)),
    });
    const { port } = await server.listen();
    const first = net.connect({ port, host: '127.0.0.1' });
    try {
      await new Promise<void>((r) => first.once('connect', () => r()));
      // make sure the first is accepted before the second arrives
      first.write(frame('one'));
      await new Promise<void>((r) => first.once('data', () => r()));
      const second = await rawExchange(port, [frame('two')], 1);
      assert.equal(second.closed, true);
      assert.deepEqual(seen, ['one']);
    } finally {
      first.destroy();
      await server.close();
    }
  });
});

describe('MLLP client', () => {
  test('pipelined sendMessage: 100 concurrent messages, every ACK matched to its message', async () => {
    const { server, port } = await echoServer({ delayFirst: true });
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      const ids = Array.from({ length: 100 }, (_, i) => `C${i}`);
      const acks = await Promise.all(ids.map((id) => client.sendMessage(msg(id, '张三'))));
      assert.deepEqual(
        acks.map((a) => a.ackControlId),
        ids,
      );
      assert.ok(acks.every((a) => a.code === 'AA'));
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('a connection lost before the ACK is retried on a new connection', async () => {
    const { server, port, seen } = await echoServer({ dropFirst: true });
    const client = new MllpClient({ host: '127.0.0.1', port, retries: 2, retryDelayMs: 10 });
    try {
      const ack = await client.sendMessage(msg('R1'));
      assert.equal(ack.code, 'AA');
      assert.deepEqual(seen, ['R1']);
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('no answer: a transport error after the retries', async () => {
    const { server, port } = await echoServer({ silent: true });
    const client = new MllpClient({ host: '127.0.0.1', port, timeoutMs: 100, retries: 1, retryDelayMs: 10 });
    try {
      await assert.rejects(client.sendMessage(msg('T1')), MllpTransportError);
    } finally {
      await client.close();
      await server.close().catch(() => undefined);
    }
  });

  test('connection refused is a transport error', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const client = new MllpClient({ host: '127.0.0.1', port, retries: 0 });
    await assert.rejects(client.sendMessage(msg('X')), MllpTransportError);
    await client.close();
  });

  test('GB18030 text is encoded per MSH-18 and the ACK decoded with it', async () => {
    let received: Buffer | undefined;
    const server = new MllpServer({
      host: '127.0.0.1',
      port: 0,
      onMessage(b) {
        received = b;
        const cs = charsetOf('GB 18030-2000')!;
        return Promise.resolve(
          encodeText(
            'MSH|^~\\&|HUIYING|||||||ACK|A1|P|2.5||||||GB 18030-2000\rMSA|AE|G1|胸部CT平扫 张三',
            cs,
          ),
        );
      },
      onOversized: () => Promise.resolve(Buffer.alloc(0)),
    });
    const { port } = await server.listen();
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      const text = 'MSH|^~\\&|HIS|CHENCUN|||||ORM^O01|G1|P|2.5||||||GB 18030-2000\rPID|1||1||张^三';
      const ack = await client.sendMessage(text);
      assert.equal(ack.text, '胸部CT平扫 张三');
      assert.ok(ack.decoded.startsWith('MSH|'));
      assert.equal(ack.code, 'AE');
      assert.deepEqual(received, encodeText(text, charsetOf('GB18030')!));
      assert.ok(received !== undefined);
      assert.equal(decodeStrict(received, charsetOf('UTF-8')!), undefined);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
