import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  charsetTerms,
  chooseResponseCharset,
  decodeText,
  encodeText,
  looksLikeGb18030,
  repairDecision,
} from './charset.ts';
import iconv from 'iconv-lite';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('charsetTerms canonicalizes (0008,0005)', () => {
  assert.deepEqual(charsetTerms('\\ISO 2022 IR 58'), ['', 'ISO 2022 IR 58']);
  assert.deepEqual(charsetTerms('ISO_IR100'), ['ISO_IR 100']);
  assert.deepEqual(charsetTerms(''), []);
  assert.deepEqual(charsetTerms(undefined), []);
  assert.deepEqual(charsetTerms([null, 'ISO 2022 IR 87']), ['', 'ISO 2022 IR 87']);
});

test('round trip encodeText → decodeText for every supported charset', () => {
  const cases: [string, string, string][] = [
    ['ISO_IR 192', 'Zhang^San=张^三', 'PN'],
    ['GB18030', 'Zhang^San=张^三', 'PN'],
    ['GB18030', 'Liu^Yan=刘^䶮\\𠮷^祥', 'PN'],
    ['GBK', '王小明\\欧阳^喆', 'PN'],
    ['\\ISO 2022 IR 58', 'Zhang^XiaoDong=张^小东=', 'PN'],
    ['\\ISO 2022 IR 58', '胸部CT平扫\\南方医科大学', 'LO'],
    ['\\ISO 2022 IR 87', 'Yamada^Tarou=山田^太郎=やまだ^たろう', 'PN'],
    ['ISO 2022 IR 13\\ISO 2022 IR 87', 'ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう', 'PN'],
    ['\\ISO 2022 IR 149', 'Hong^Gildong=洪^吉洞=홍^길동', 'PN'],
    ['ISO_IR 100', 'Buc^Jérôme', 'PN'],
    ['ISO_IR 144', 'Люкceмбypг', 'PN'],
    ['ISO_IR 126', 'Διονυσιος', 'PN'],
    ['', 'PLAIN^ASCII', 'PN'],
  ];
  for (const [cs, s, vr] of cases) {
    const b = encodeText(s, cs, vr);
    assert.equal(decodeText(b, cs, vr), s, `${cs}: ${s}`);
  }
});

test('ISO 2022 IR 58: ESC $ ) A before each GB 2312 run, again after ^ and =', () => {
  const b = encodeText('Zhang^XiaoDong=张^小东=', '\\ISO 2022 IR 58', 'PN');
  const gb = (s: string): string => iconv.encode(s, 'gb2312').toString('hex');
  const esc = '1b242941';
  assert.equal(
    hex(b),
    Buffer.from('Zhang^XiaoDong=').toString('hex') + esc + gb('张') + '5e' + esc + gb('小东') + '3d',
  );
  // ASCII inside a run needs no new escape (G1 stays designated), a delimiter does
  const lo = encodeText('胸部CT平扫\\膝', '\\ISO 2022 IR 58', 'LO');
  assert.equal(hex(lo), esc + gb('胸部') + '4354' + gb('平扫') + '5c' + esc + gb('膝'));
  assert.throws(() => encodeText('𠮷', '\\ISO 2022 IR 58', 'PN'), /cannot be encoded/);
});

test('ISO 2022 IR 87 returns G0 to ASCII (ESC ( B) before delimiters and at the end', () => {
  const b = encodeText('山^太', '\\ISO 2022 IR 87', 'PN');
  assert.match(hex(b), /^1b2442....1b28425e1b2442....1b2842$/);
});

test('GBK/GB18030 trail byte 0x5C is not a value delimiter', () => {
  // 0x815C is a GBK character whose trail byte is backslash
  const ch = iconv.decode(Buffer.from([0x81, 0x5c]), 'gbk');
  const b = encodeText(`${ch}\\A`, 'GBK', 'LO');
  assert.equal(decodeText(b, 'GBK', 'LO').split('\\').length, 2);
});

test('encodeText rejects what the charset cannot represent', () => {
  assert.throws(() => encodeText('𠮷', 'GBK'));
  assert.throws(() => encodeText('张', 'ISO_IR 100'));
  assert.throws(() => encodeText('é', ''));
  assert.deepEqual([...encodeText('𠮷', 'GB18030')], [0x95, 0x34, 0xb2, 0x35]);
});

test('looksLikeGb18030: GBK Chinese yes, Latin-1 text no', () => {
  assert.equal(looksLikeGb18030(iconv.encode('黄伟', 'gbk')), true);
  assert.equal(looksLikeGb18030(iconv.encode('南方医科大学顺德医院', 'gbk')), true);
  assert.equal(looksLikeGb18030(iconv.encode('上腹部CT增强', 'gbk')), true);
  assert.equal(looksLikeGb18030(iconv.encode('喆堃', 'gbk')), true);
  assert.equal(looksLikeGb18030(iconv.encode('䶮𠮷', 'gb18030')), true);
  assert.equal(looksLikeGb18030(Buffer.from('Müller', 'latin1')), false);
  assert.equal(looksLikeGb18030(Buffer.from('HÉLÈNE^FRANÇOIS', 'latin1')), false);
  assert.equal(looksLikeGb18030(Buffer.from('25°C', 'latin1')), false);
  assert.equal(looksLikeGb18030(Buffer.from('Buc^Jérôme', 'latin1')), false);
  assert.equal(looksLikeGb18030(Buffer.from('ASCII only')), false);
});

test('repairDecision: only with a default, only for unlabelled/Latin-1 data, all values must agree', () => {
  const gbk = iconv.encode('黄伟', 'gbk');
  const latin = Buffer.from('Müller', 'latin1');
  assert.equal(repairDecision('ISO_IR 100', undefined, [gbk]), false);
  assert.equal(repairDecision('ISO_IR 100', 'GB18030', [gbk]), true);
  assert.equal(repairDecision(undefined, 'GB18030', [gbk]), true);
  assert.equal(repairDecision('ISO_IR 100', 'GB18030', [gbk, latin]), false);
  assert.equal(repairDecision('ISO_IR 192', 'GB18030', [gbk]), false);
  assert.equal(repairDecision('GB18030', 'GB18030', [gbk]), false);
});

test('chooseResponseCharset keeps the request charset unless a value cannot be encoded', () => {
  assert.equal(chooseResponseCharset(['Zhang^San=张^三'], 'GB18030'), 'GB18030');
  assert.equal(chooseResponseCharset(['Zhang^San=张^三'], '\\ISO 2022 IR 58'), '\\ISO 2022 IR 58');
  assert.equal(chooseResponseCharset(['𠮷^祥'], '\\ISO 2022 IR 58'), 'ISO_IR 192');
  assert.equal(chooseResponseCharset(['ZHANG^SAN'], ''), undefined);
  assert.equal(chooseResponseCharset(['张^三'], undefined), 'ISO_IR 192');
  assert.equal(chooseResponseCharset(['Jérôme'], 'ISO_IR 100'), 'ISO_IR 100');
  assert.equal(
    chooseResponseCharset(
      { '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang', Ideographic: '王' }] } },
      'GBK',
    ),
    'GBK',
  );
  assert.equal(
    chooseResponseCharset({ '00100010': { vr: 'PN', Value: [{ Ideographic: '𠮷' }] } }, 'GBK'),
    'ISO_IR 192',
  );
});
