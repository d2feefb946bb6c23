import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHeader, readHeaderFromBuffer, InvalidInstanceError } from './header.ts';
import { DicomParseError } from './errors.ts';
import { CHINESE_FIXTURES, makeInstance, makeUid } from './testing/fixtures.ts';
import { IMPLICIT_VR_LITTLE_ENDIAN } from './uids.ts';

test('readHeader of Chinese fixtures (GB18030, GBK, IR 58, UTF-8) gives decoded index attributes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hy-hdr-'));
  try {
    const cases: [Uint8Array, string, string][] = [
      [CHINESE_FIXTURES.gb18030(), 'Zhang^San=张^三', 'GB18030'],
      [CHINESE_FIXTURES.gbk(), '王小明', 'GBK'],
      [CHINESE_FIXTURES.iso2022ir58(), 'Zhang^XiaoDong=张^小东', '\\ISO 2022 IR 58'],
      [CHINESE_FIXTURES.utf8({ transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN }), 'Li^Si=李^四', 'ISO_IR 192'],
    ];
    for (const [bytes, pn, cs] of cases) {
      const f = join(dir, 'a.dcm');
      writeFileSync(f, bytes);
      const h = await readHeader(f);
      assert.equal(h.attributes.PatientName, pn);
      assert.equal(h.attributes.SpecificCharacterSet, cs);
      assert.equal(h.dataset['7FE00010'], undefined);
      assert.ok(h.pixelDataOffset !== undefined && h.pixelDataOffset > 0);
    }
    const h = readHeaderFromBuffer(CHINESE_FIXTURES.gb18030());
    assert.equal(h.attributes.InstitutionName, '南方医科大学顺德医院');
    assert.equal(h.attributes.StudyDescription, '胸部CT平扫');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readHeader grows its read past a large header but never reads pixel data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hy-hdr-'));
  try {
    const big = Buffer.alloc(300_000, 0x41).toString('base64');
    const bytes = makeInstance({
      rows: 512,
      cols: 512,
      frames: 20, // 10 MB of pixels
      extra: { '00291010': { vr: 'OB', InlineBinary: big } },
      accessionNumber: 'A1',
    });
    const f = join(dir, 'big.dcm');
    writeFileSync(f, bytes);
    const h = await readHeader(f);
    assert.equal(h.attributes.AccessionNumber, 'A1');
    assert.equal(h.attributes.NumberOfFrames, '20');
    assert.ok(h.bytesRead >= 300_000 && h.bytesRead < 2_000_000, `read ${h.bytesRead}`);
    await assert.rejects(readHeader(f, { maxHeaderSize: 128 * 1024 }), /larger than/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('extractIndexAttributes: issuer of accession, multi-values, missing UIDs listed', () => {
  const bytes = makeInstance({
    accessionNumber: 'ACC1',
    extra: {
      '00080051': { vr: 'SQ', Value: [{ '00400031': { vr: 'UT', Value: ['CHENCUN'] } }] },
      '00101000': { vr: 'LO', Value: ['X1', 'X2'] },
    },
  });
  const h = readHeaderFromBuffer(bytes);
  assert.equal(h.attributes.IssuerOfAccessionNumber, 'CHENCUN');
  assert.equal(h.attributes.OtherPatientIDs, 'X1\\X2');
  assert.equal(h.attributes.InstanceNumber, '1');
  const bad = makeInstance({
    extra: { '0020000D': { vr: 'UI' }, '0020000E': { vr: 'UI', Value: ['1.2.x'] } },
  });
  assert.throws(
    () => readHeaderFromBuffer(bad),
    (e: unknown) =>
      e instanceof InvalidInstanceError &&
      e instanceof DicomParseError &&
      /StudyInstanceUID missing/.test(e.message) &&
      /SeriesInstanceUID is not a valid UID/.test(e.message),
  );
  const prefix = makeInstance({ sopUid: makeUid() }).subarray(0, 200);
  assert.throws(
    () => readHeaderFromBuffer(prefix, { complete: false }),
    (e: unknown) => e instanceof DicomParseError && e.truncated,
  );
});
