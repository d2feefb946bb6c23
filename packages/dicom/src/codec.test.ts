import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeDataset, decodeDatasetDetailed, encodeDataset, type DicomJson } from './codec.ts';
import { DicomParseError } from './errors.ts';
import { readPart10, buildFileMeta, writePart10, guessRawTransferSyntax } from './part10.ts';
import { EXPLICIT_VR_LITTLE_ENDIAN as EXPLICIT, IMPLICIT_VR_LITTLE_ENDIAN as IMPLICIT } from './uids.ts';
import { needCommand } from '../../server/src/testing/peers.ts';

function identifier(pn: string, desc: string): DicomJson {
  const [a, i] = pn.split('=');
  return {
    '00080020': { vr: 'DA', Value: ['20240101-20241231'] },
    '00080052': { vr: 'CS', Value: ['STUDY'] },
    '00081030': { vr: 'LO', Value: [desc] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: a!, ...(i ? { Ideographic: i } : {}) }] },
    '00100020': { vr: 'LO' },
    '0020000D': { vr: 'UI', Value: ['1.2.3.4', '1.2.3.5'] },
  };
}

for (const ts of [EXPLICIT, IMPLICIT]) {
  for (const charset of ['ISO_IR 192', 'GB18030', 'GBK', '\\ISO 2022 IR 58']) {
    test(`round trip ${charset} in ${ts === EXPLICIT ? 'explicit' : 'implicit'} VR LE`, () => {
      const pn = charset === 'GBK' ? '王小明' : 'Zhang^San=张^三';
      const json = identifier(pn, '胸部CT平扫');
      const bytes = encodeDataset(json, { transferSyntax: ts, charset });
      assert.equal(bytes.length % 2, 0);
      const back = decodeDataset(bytes, { transferSyntax: ts });
      assert.deepEqual(
        back['00080005']!.Value!.map((v) => v ?? ''),
        charset.split('\\'),
      );
      delete back['00080005'];
      assert.deepEqual(back, json);
      if (charset.includes('IR 58')) assert.ok(Buffer.from(bytes).includes(Buffer.from('\x1b$)A', 'latin1')));
    });
  }
}

test('round trip of every VR kind, nested sequences with their own charset, binary, padding', () => {
  const json: DicomJson = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] },
    '00081115': {
      vr: 'SQ',
      Value: [
        {
          '00080005': { vr: 'CS', Value: ['GB18030'] },
          '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Li^Si', Ideographic: '李^四' }] },
          '0040A730': { vr: 'SQ', Value: [{ '0040A160': { vr: 'UT', Value: ['报告: 未见异常'] } }] },
        },
        { '00081150': { vr: 'UI', Value: ['1.2.3'] } },
      ],
    },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^Wu', Ideographic: '王^五' }, { Alphabetic: 'B' }] },
    '00101010': { vr: 'AS', Value: ['045Y'] },
    '00181310': { vr: 'US', Value: [0, 512, 512, 0] },
    '00200032': { vr: 'DS', Value: [-125.5, 0.123456789012, 1e-7] },
    '00200037': { vr: 'DS', Value: [1 / 3] },
    '00200013': { vr: 'IS', Value: [42] },
    '00209165': { vr: 'AT', Value: ['00200032', '7FE00010'] },
    '00189219': { vr: 'SS', Value: [-32768] },
    '00186020': { vr: 'SL', Value: [-5, 7] },
    '00109431': { vr: 'FL', Value: [0.5] },
    '00189087': { vr: 'FD', Value: [Math.PI] },
    '00660040': { vr: 'UL', Value: [4294967295] },
    '00720082': { vr: 'SV', Value: [-2, '-9223372036854775808'] },
    '0008040C': { vr: 'UV', Value: ['18446744073709551615'] },
    '00291010': { vr: 'OB', InlineBinary: Buffer.from([1, 2, 3]).toString('base64') },
    '00291011': { vr: 'OW', InlineBinary: Buffer.from([1, 2, 3, 4]).toString('base64') },
    '00080018': { vr: 'UI', Value: ['1.2.345'] },
    '00081030': { vr: 'LO', Value: ['a', null, 'c'] },
  };
  for (const ts of [EXPLICIT, IMPLICIT]) {
    const bytes = encodeDataset(json, { transferSyntax: ts });
    const back = decodeDataset(bytes, { transferSyntax: ts });
    if (ts === IMPLICIT) {
      // implicit VR: private OB/OW come back as UN
      back['00291010']!.vr = 'OB';
      back['00291011']!.vr = 'OW';
      // odd length binary was padded with NUL
      assert.equal(back['00291010']!.InlineBinary, Buffer.from([1, 2, 3, 0]).toString('base64'));
      back['00291010']!.InlineBinary = json['00291010']!.InlineBinary!;
    } else {
      assert.equal(back['00291010']!.InlineBinary, Buffer.from([1, 2, 3, 0]).toString('base64'));
      back['00291010']!.InlineBinary = json['00291010']!.InlineBinary!;
    }
    // DS is written with at most 16 characters
    assert.deepEqual(back['00200037']!.Value, [0.33333333333333]);
    back['00200037'] = json['00200037']!;
    assert.deepEqual(back, json);
  }
});

test('charset-sensitive values of nested items use the item charset (raw bytes checked)', () => {
  const json: DicomJson = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00081115': {
      vr: 'SQ',
      Value: [{ '00080005': { vr: 'CS', Value: ['GB18030'] }, '00081030': { vr: 'LO', Value: ['张'] } }],
    },
    '00081030': { vr: 'LO', Value: ['张'] },
  };
  const b = Buffer.from(encodeDataset(json));
  assert.ok(b.includes(Buffer.from([0xd5, 0xc5]))); // GB18030 张 inside the item
  assert.ok(b.includes(Buffer.from('张', 'utf8'))); // UTF-8 张 at top level
});

test('UI padded with NUL, text with space; SQ of undefined length and deflate are decoded', () => {
  const b = encodeDataset({
    '00080018': { vr: 'UI', Value: ['1.2.3'] },
    '00080060': { vr: 'CS', Value: ['CT3'] },
  });
  assert.deepEqual([...b.subarray(8, 14)], [...Buffer.from('1.2.3\0')]);
  assert.deepEqual([...b.subarray(22, 26)], [...Buffer.from('CT3 ')]);
});

test('truncated input at every length → DicomParseError, never a hang', () => {
  const full = encodeDataset({
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'A^B' }] },
    '00081115': { vr: 'SQ', Value: [{ '00081150': { vr: 'UI', Value: ['1.2'] } }] },
    '00291010': { vr: 'OB', InlineBinary: 'AAAAAA==' },
  });
  for (let n = 1; n < full.length; n++) {
    const cut = full.subarray(0, n);
    try {
      decodeDataset(cut, { transferSyntax: EXPLICIT });
      // a cut on an element boundary is a valid shorter data set
    } catch (e) {
      assert.ok(e instanceof DicomParseError, `length ${n}: ${String(e)}`);
      assert.match((e as Error).message, /offset \d+/);
    }
  }
});

test('a huge length field is rejected without allocating', () => {
  const b = Buffer.from(encodeDataset({ '00291010': { vr: 'OB', InlineBinary: 'AAAA' } }));
  b.writeUInt32LE(0x7ffffff0, 8);
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(
    () => decodeDataset(b, { transferSyntax: EXPLICIT }),
    (e: unknown) => {
      assert.ok(e instanceof DicomParseError);
      assert.match(e.message, /\(0029,1010\).*2147483632 bytes/);
      assert.equal(e.truncated, true);
      return true;
    },
  );
  assert.ok(process.memoryUsage().arrayBuffers - before < 50_000_000);
});

test('invalid VR and deep nesting give DicomParseError', () => {
  const b = Buffer.from(encodeDataset({ '00100020': { vr: 'LO', Value: ['X'] } }));
  b.write('zz', 4, 'latin1');
  assert.throws(() => decodeDataset(b, { transferSyntax: EXPLICIT }), /invalid VR/);
  let item: DicomJson = { '00100020': { vr: 'LO', Value: ['X'] } };
  for (let i = 0; i < 80; i++) item = { '00081115': { vr: 'SQ', Value: [item] } };
  assert.throws(() => decodeDataset(encodeDataset(item), { transferSyntax: EXPLICIT }), /nested deeper/);
});

test('stopBeforeTag stops at top level only and reports the offset', () => {
  const b = encodeDataset({
    '00100020': { vr: 'LO', Value: ['X'] },
    '7FE00010': { vr: 'OW', InlineBinary: 'AAAA' },
  });
  const r = decodeDatasetDetailed(b, { transferSyntax: EXPLICIT, stopBeforeTag: 0x7fe00008 });
  assert.deepEqual(Object.keys(r.dataset), ['00100020']);
  assert.equal(r.stoppedAt?.tag, '7FE00010');
  assert.equal(r.stoppedAt?.offset, 10);
});

test('default charset repairs GBK bytes labelled ISO_IR 100 (whole data set), not Latin-1 text', () => {
  const gbk = Buffer.from([0xbb, 0xc6, 0xce, 0xb0]); // 黄伟 in GBK
  const mk = (extra: Buffer | undefined): Uint8Array => {
    const parts: Buffer[] = [
      Buffer.from(
        encodeDataset({ '00080005': { vr: 'CS', Value: ['ISO_IR 100'] } }, { charset: 'ISO_IR 100' }),
      ),
    ];
    const pn = Buffer.alloc(8 + gbk.length);
    pn.writeUInt16LE(0x0010, 0);
    pn.writeUInt16LE(0x0010, 2);
    pn.write('PN', 4, 'latin1');
    pn.writeUInt16LE(gbk.length, 6);
    gbk.copy(pn, 8);
    parts.push(pn);
    if (extra) parts.push(extra);
    return Buffer.concat(parts);
  };
  const ok = decodeDatasetDetailed(mk(undefined), { transferSyntax: EXPLICIT, defaultCharset: 'GB18030' });
  assert.deepEqual(ok.dataset['00100010']!.Value, [{ Alphabetic: '黄伟' }]);
  assert.equal(ok.charsetRepaired, true);
  const strict = decodeDatasetDetailed(mk(undefined), { transferSyntax: EXPLICIT });
  assert.deepEqual(strict.dataset['00100010']!.Value, [{ Alphabetic: '»ÆÎ°' }]);
  assert.equal(strict.charsetRepaired, false);
  // one plausible Latin-1 value in the same data set → nothing is repaired
  const lo = Buffer.from([
    0x10,
    0x00,
    0x20,
    0x00,
    0x4c,
    0x4f,
    0x06,
    0x00,
    ...Buffer.from('Müller', 'latin1'),
  ]);
  const mixed = decodeDatasetDetailed(mk(lo), { transferSyntax: EXPLICIT, defaultCharset: 'GB18030' });
  assert.equal(mixed.charsetRepaired, false);
  assert.deepEqual(mixed.dataset['00100020']!.Value, ['Müller']);
});

test('File Meta: buildFileMeta is read back by readPart10 with a correct group length', () => {
  const meta = buildFileMeta({
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: '1.2.3.4.5',
    transferSyntaxUid: IMPLICIT,
    sourceAeTitle: 'CHENCUN_CT',
    implementationClassUid: '1.2.3',
    implementationVersionName: 'TEST_1',
  });
  assert.equal(Buffer.from(meta.subarray(128, 132)).toString('latin1'), 'DICM');
  const gl = Buffer.from(meta).readUInt32LE(140);
  assert.equal(gl, meta.length - 144);
  const r = readPart10(meta);
  assert.equal(r.datasetOffset, meta.length);
  assert.equal(r.meta.transferSyntaxUid, IMPLICIT);
  assert.equal(r.meta.mediaStorageSopInstanceUid, '1.2.3.4.5');
  assert.equal(r.meta.sourceApplicationEntityTitle, 'CHENCUN_CT');
  assert.equal(r.meta.implementationVersionName, 'TEST_1');
  assert.equal(r.meta.groupLength, gl);
});

test('raw data sets without File Meta: implicit / explicit LE / explicit BE guessed; junk rejected', () => {
  const ds = encodeDataset({ '00080060': { vr: 'CS', Value: ['CT'] } }, { transferSyntax: IMPLICIT });
  assert.equal(readPart10(ds).transferSyntaxUid, IMPLICIT);
  assert.equal(readPart10(ds).transferSyntaxInferred, true);
  assert.equal(guessRawTransferSyntax(encodeDataset({ '00080060': { vr: 'CS', Value: ['CT'] } })), EXPLICIT);
  assert.equal(
    guessRawTransferSyntax(Buffer.from([0, 8, 0, 0x60, 0x43, 0x53, 0, 2, 0x43, 0x54])),
    '1.2.840.10008.1.2.2',
  );
  assert.throws(() => readPart10(Buffer.from('This is not DICOM at all')), DicomParseError);
  assert.throws(() => readPart10(new Uint8Array(0)), DicomParseError);
});

test('writePart10 output is accepted by dcmdump (DCMTK)', { skip: needCommand('dcmdump') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hy-dicom-'));
  try {
    const json: DicomJson = {
      '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] },
      '00080018': { vr: 'UI', Value: ['1.2.3.4.5.6'] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Zhang^XiaoDong', Ideographic: '张^小东' }] },
      '00081030': { vr: 'LO', Value: ['胸部CT平扫'] },
    };
    for (const [cs, ts] of [
      ['\\ISO 2022 IR 58', EXPLICIT],
      ['GB18030', IMPLICIT],
      ['ISO_IR 192', EXPLICIT],
    ] as const) {
      const f = join(dir, 'x.dcm');
      writeFileSync(f, writePart10(json, ts, { charset: cs }));
      const out = execFileSync('dcmdump', ['+U8', f], { encoding: 'utf8' });
      assert.match(out, /\(0010,0010\) PN \[Zhang\^XiaoDong=张\^小东\]/, cs);
      assert.match(out, /\(0008,1030\) LO \[胸部CT平扫\]/, cs);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'decodes C-FIND identifiers written by DCMTK dump2dcm (GB18030, IR 58, IR 192)',
  { skip: needCommand('dump2dcm') },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'hy-dicom-'));
    try {
      const cases: [string, Buffer, string][] = [
        ['GB18030', Buffer.from([0xd5, 0xc5, 0x2a]), '张*'],
        ['ISO_IR 192', Buffer.from('张*', 'utf8'), '张*'],
        ['\\ISO 2022 IR 58', Buffer.from([0x1b, 0x24, 0x29, 0x41, 0xd5, 0xc5, 0x2a]), '张*'],
      ];
      for (const [cs, pnBytes, expected] of cases) {
        const dump = Buffer.concat([
          Buffer.from(`(0008,0005) CS [${cs}]\n(0008,0052) CS [STUDY]\n(0010,0010) PN [`, 'latin1'),
          pnBytes,
          Buffer.from(']\n(0010,0020) LO []\n(0020,000d) UI []\n', 'latin1'),
        ]);
        writeFileSync(join(dir, 'q.dump'), dump);
        execFileSync('dump2dcm', ['-q', '+te', join(dir, 'q.dump'), join(dir, 'q.dcm')]);
        const file = readFileSync(join(dir, 'q.dcm'));
        const p = readPart10(file);
        const ds = decodeDataset(file, { transferSyntax: p.transferSyntaxUid, offset: p.datasetOffset });
        assert.deepEqual(ds['00100010']!.Value, [{ Alphabetic: expected }], cs);
        assert.equal(ds['00100020']!.Value, undefined);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
