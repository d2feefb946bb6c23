import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PduError,
  PduReader,
  PduType,
  decodeAssociateAc,
  decodeAssociateRq,
  decodePData,
  encodeAbort,
  encodeAssociateAc,
  encodeAssociateRq,
  encodePData,
  encodeReleaseRq,
  pDataHeader,
} from './pdu.ts';
import { CommandField, NO_DATASET, decodeCommand, encodeCommand } from './command.ts';
import { encodeFailedUidList, readFailedUidList } from './identifier.ts';
import { TransferSyntax } from './uids.ts';

const rq = {
  protocolVersion: 1,
  calledAeTitle: 'ARCHIVE',
  callingAeTitle: 'CT1',
  applicationContext: '1.2.840.10008.3.1.1.1',
  contexts: [
    { id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] },
    {
      id: 3,
      abstractSyntax: '1.2.840.10008.5.1.4.1.1.2',
      transferSyntaxes: ['1.2.840.10008.1.2.4.70', '1.2.840.10008.1.2.1'],
    },
  ],
  userInfo: {
    maxPduLength: 32768,
    implementationClassUid: '1.2.3.4',
    implementationVersionName: 'TEST_1',
    asyncOps: { invoked: 4, performed: 1 },
    roles: [{ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', scuRole: false, scpRole: true }],
    userIdentity: {
      type: 2,
      primaryField: 'user',
      secondaryField: 'pässword',
      positiveResponseRequested: true,
    },
  },
};

test('A-ASSOCIATE-RQ round trip (AE padding, roles, async window, user identity)', () => {
  const bytes = encodeAssociateRq(rq);
  assert.equal(bytes[0], PduType.AssociateRq);
  assert.equal(bytes.readUInt32BE(2), bytes.length - 6);
  // called AE is space padded to 16 bytes
  assert.equal(bytes.toString('latin1', 10, 26), 'ARCHIVE         ');
  const back = decodeAssociateRq(bytes.subarray(6));
  assert.deepEqual({ ...back, type: undefined }, { ...rq, type: undefined });
});

test('A-ASSOCIATE-AC round trip with rejected contexts and user identity response', () => {
  const ac = {
    protocolVersion: 1,
    calledAeTitle: 'ARCHIVE',
    callingAeTitle: 'CT1',
    applicationContext: '1.2.840.10008.3.1.1.1',
    contexts: [
      { id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2' },
      { id: 3, result: 3, transferSyntax: '' },
    ],
    userInfo: { maxPduLength: 65536, roles: [], userIdentityResponse: new Uint8Array([1, 2, 3]) },
  };
  const back = decodeAssociateAc(encodeAssociateAc(ac).subarray(6));
  assert.deepEqual(back.contexts, ac.contexts);
  assert.deepEqual([...(back.userInfo.userIdentityResponse ?? [])], [1, 2, 3]);
  assert.equal(back.userInfo.maxPduLength, 65536);
});

test('malformed A-ASSOCIATE-RQ items throw PduError', () => {
  const bytes = Buffer.from(encodeAssociateRq(rq));
  // make the first item's length overrun the PDU
  bytes.writeUInt16BE(0xfff0, 6 + 68 + 2);
  assert.throws(() => decodeAssociateRq(bytes.subarray(6)), PduError);
  assert.throws(() => decodeAssociateRq(Buffer.alloc(10)), PduError);
});

test('P-DATA-TF: PDVs decode as views, flags, bad PDV lengths throw', () => {
  const pdu = encodePData([
    { pcId: 1, command: true, last: true, data: Buffer.from('abcd') },
    { pcId: 1, command: false, last: false, data: Buffer.from('xy') },
  ]);
  const pdvs = decodePData(pdu.subarray(6));
  assert.equal(pdvs.length, 2);
  assert.deepEqual(
    pdvs.map((p) => [p.pcId, p.command, p.last, p.data.toString()]),
    [
      [1, true, true, 'abcd'],
      [1, false, false, 'xy'],
    ],
  );
  assert.equal(pdvs[0]?.data.buffer, pdu.buffer);
  const h = pDataHeader(5, false, true, 10);
  assert.equal(h.readUInt32BE(2), 16);
  assert.equal(h[11], 2);
  const bad = Buffer.from(pdu);
  bad.writeUInt32BE(1000, 6);
  assert.throws(() => decodePData(bad.subarray(6)), PduError);
});

function collect(reader: PduReader, chunks: Buffer[]): string[] {
  const out: string[] = [];
  for (const c of chunks) reader.feed(c, (type, body) => out.push(`${type}:${body.toString('hex')}`));
  return out;
}

test('PduReader: byte-by-byte, coalesced and random splits give the same PDUs', () => {
  const stream = Buffer.concat([
    encodeAssociateRq(rq),
    encodePData([{ pcId: 1, command: true, last: true, data: Buffer.alloc(3000, 7) }]),
    encodePData([{ pcId: 3, command: false, last: true, data: Buffer.alloc(10, 1) }]),
    encodeReleaseRq(),
    encodeAbort(0, 0),
  ]);
  const whole = collect(new PduReader(1 << 20), [stream]);
  assert.equal(whole.length, 5);
  const bytes = collect(
    new PduReader(1 << 20),
    [...stream].map((b) => Buffer.from([b])),
  );
  assert.deepEqual(bytes, whole);
  for (let seed = 1; seed < 30; seed++) {
    const chunks: Buffer[] = [];
    let off = 0;
    let x = seed;
    while (off < stream.length) {
      x = (x * 1103515245 + 12345) >>> 0;
      const n = 1 + (x % 700);
      chunks.push(stream.subarray(off, off + n));
      off += n;
    }
    assert.deepEqual(collect(new PduReader(1 << 20), chunks), whole);
  }
});

test('PduReader: oversized PDU is refused from its header, before buffering it', () => {
  const r = new PduReader(1000);
  const h = pDataHeader(1, false, true, 5000);
  assert.throws(() => r.feed(h, () => assert.fail('no PDU expected')), /exceeds limit/);
  assert.equal(r.buffered, 0);
  // a split header is checked as soon as it is complete
  const r2 = new PduReader(1000);
  r2.feed(h.subarray(0, 3), () => {});
  assert.throws(() => r2.feed(h.subarray(3, 6), () => {}), PduError);
});

test('PduReader: garbage and unknown PDU types throw PduError (no crash, no hang)', () => {
  assert.throws(() => collect(new PduReader(1 << 20), [Buffer.from('GET / HTTP/1.1\r\n\r\n')]), PduError);
  assert.throws(
    () => collect(new PduReader(1 << 20), [Buffer.from([0x05, 0, 0, 0, 0, 9, 1, 2, 3])]),
    PduError,
  );
  for (let seed = 0; seed < 200; seed++) {
    const b = Buffer.alloc(64);
    let x = seed + 1;
    for (let i = 0; i < b.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    try {
      collect(new PduReader(4096), [b]);
    } catch (e) {
      assert.ok(e instanceof PduError);
    }
  }
});

test('command set codec: round trip, group length, UID/AE padding', () => {
  const cmd = {
    commandField: CommandField.CStoreRq,
    messageId: 7,
    affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    affectedSopInstanceUid: '1.2.3',
    priority: 0,
    commandDataSetType: 0,
    moveOriginatorAeTitle: 'ODD',
    moveOriginatorMessageId: 3,
  };
  const b = encodeCommand(cmd);
  assert.equal(b.readUInt32LE(8), b.length - 12);
  assert.equal(b.length % 2, 0);
  const s = b.toString('latin1');
  assert.ok(s.includes('1.2.840.10008.5.1.4.1.1.2\0'), 'odd UID NUL padded');
  assert.ok(s.includes('ODD '), 'odd AE space padded');
  assert.deepEqual(decodeCommand(b), cmd);
  const rsp = decodeCommand(
    encodeCommand({
      commandField: CommandField.CFindRsp,
      commandDataSetType: NO_DATASET,
      status: 0xfe00,
      errorComment: 'x'.repeat(100),
    }),
  );
  assert.equal(rsp.errorComment?.length, 64);
  assert.throws(() => decodeCommand(Buffer.from([8, 0, 0x18, 0, 2, 0, 0, 0, 1, 2])), /command set/);
});

test('Failed SOP Instance UID List identifier, implicit and explicit', () => {
  for (const ts of [TransferSyntax.ImplicitVRLittleEndian, TransferSyntax.ExplicitVRLittleEndian]) {
    const b = encodeFailedUidList(['1.2.3', '4.5.66'], ts);
    assert.equal(b.length % 2, 0);
    assert.deepEqual(readFailedUidList(b, ts), ['1.2.3', '4.5.66']);
  }
});

test('PduReader streaming mode: PDV pieces (views) reassemble to the same PDVs for any split', () => {
  const pdus = [
    encodeAssociateRq(rq),
    encodePData([
      { pcId: 1, command: true, last: true, data: Buffer.alloc(90, 7) },
      { pcId: 1, command: false, last: false, data: Buffer.alloc(0) },
    ]),
    encodePData([{ pcId: 1, command: false, last: false, data: Buffer.alloc(5000, 1) }]),
    encodePData([{ pcId: 1, command: false, last: true, data: Buffer.alloc(3, 2) }]),
    encodeReleaseRq(),
  ];
  const stream = Buffer.concat(pdus);
  const expected = [
    '1:' + pdus[0]?.subarray(6).toString('hex'),
    'pdv:1:1:1:' + '07'.repeat(90),
    'pdv:1:0:0:',
    'pdv:1:0:0:' + '01'.repeat(5000),
    'pdv:1:0:1:020202',
    '5:00000000',
  ];
  for (let seed = 0; seed < 40; seed++) {
    const r = new PduReader(1 << 20);
    const out: string[] = [];
    let cur: Buffer[] = [];
    const onPdu = (type: number, body: Buffer): void => void out.push(`${type}:${body.toString('hex')}`);
    const onPdv = (pc: number, cmd: boolean, last: boolean, data: Buffer, end: boolean): void => {
      cur.push(data);
      if (end) {
        out.push(`pdv:${pc}:${cmd ? 1 : 0}:${last ? 1 : 0}:${Buffer.concat(cur).toString('hex')}`);
        cur = [];
      }
    };
    let off = 0;
    let x = seed + 7;
    while (off < stream.length) {
      x = (x * 1103515245 + 12345) >>> 0;
      const n = seed === 0 ? 1 : 1 + (x % 900);
      r.feed(stream.subarray(off, off + n), onPdu, onPdv);
      off += n;
    }
    assert.deepEqual(out, expected, `seed ${seed}`);
  }
  // a PDV claiming more than its PDU holds is refused
  const bad = Buffer.from(encodePData([{ pcId: 1, command: false, last: true, data: Buffer.alloc(10) }]));
  bad.writeUInt32BE(100, 6);
  assert.throws(
    () =>
      new PduReader(1 << 20).feed(
        bad,
        () => {},
        () => {},
      ),
    PduError,
  );
});
