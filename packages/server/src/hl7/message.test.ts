import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAck, escapeHl7, parseAck, parseDtm, parseHl7, unescapeHl7, comp } from './message.ts';
import { charsetOf, declaredCharset, decodeStrict, peekMsh, resolveCharset } from './charset.ts';
import { inferBodyPart, inferModality, normalizeModality } from './mapping.ts';

test('HL7 DTM: precision, zones, default offset, invalid dates', () => {
  assert.deepEqual(parseDtm('20260301'), { date: '20260301', iso: '2026-02-28T16:00:00.000Z' });
  assert.equal(parseDtm('202603010930')?.iso, '2026-03-01T01:30:00.000Z');
  assert.equal(parseDtm('20260301093015.25+0000')?.iso, '2026-03-01T09:30:15.250Z');
  assert.equal(parseDtm('20260301093015', '+00:00')?.iso, '2026-03-01T09:30:15.000Z');
  for (const bad of ['20261301', '20260230', '20260301250000', '2026-03-01', '20260301+2500', 'x'])
    assert.equal(parseDtm(bad), undefined, bad);
  assert.equal(parseDtm('20240229')?.date, '20240229');
});

test('escape sequences round-trip; unknown sequences are kept', () => {
  const v = 'a|b^c~d\\e&f\ng';
  assert.equal(unescapeHl7(escapeHl7(v)), v);
  assert.equal(unescapeHl7('x\\H\\y\\N\\z'), 'xyz');
  assert.equal(unescapeHl7('\\X41\\'), 'A');
  assert.equal(unescapeHl7('\\Q\\'), '\\Q\\');
});

test('parseHl7 accepts LF and CRLF; comp() reads repetitions and sub-components', () => {
  const m = parseHl7('MSH|^~\\&|A|B\r\nPID|1||X1^^^HOSP&1.2&ISO^PI~X2||Li\\S\\Si\n\n');
  const pid = m.getSegment('PID');
  assert.equal(comp(pid, 3, 1, 1), 'X2');
  assert.equal(comp(pid, 3, 4, 0, undefined, 1), 'HOSP');
  assert.equal(comp(pid, 5), 'Li^Si');
  assert.equal(comp(pid, 40), '');
  assert.throws(() => parseHl7('PID|1'));
});

test('ACK: built with MSA/ERR and parsed back; Chinese text escaped safely', () => {
  const ack = buildAck(
    {
      sendingApplication: 'HIS',
      sendingFacility: 'CHENCUN',
      receivingApplication: '',
      receivingFacility: 'CENTER',
      controlId: 'C|1',
      trigger: 'O01',
      processingId: 'P',
      version: '2.5',
      charset: 'UNICODE UTF-8',
    },
    'AE',
    { code: '102', message: '出生日期无效 / bad ^ date', location: 'PID^1^7' },
  );
  const p = parseAck(ack);
  assert.equal(p.code, 'AE');
  assert.equal(p.ackControlId, 'C|1');
  assert.equal(p.text, '出生日期无效 / bad ^ date');
  assert.deepEqual(p.errors, [{ code: '102', message: '出生日期无效 / bad ^ date', location: 'PID^1^7' }]);
  const msh = p.message.getSegment('MSH');
  assert.equal(comp(msh, 3), 'HUIYING');
  assert.equal(comp(msh, 5), 'HIS');
  assert.equal(comp(msh, 9, 1), 'ACK');
  assert.equal(comp(msh, 18), 'UNICODE UTF-8');
});

test('charsets: MSH-18 labels, hospital default, strict decoding', () => {
  const raw = Buffer.from(
    'MSH|^~\\&|HIS|CC|||||ORM^O01|1|P|2.5||||||GB 18030-2000~UNICODE UTF-8\rPID|',
    'latin1',
  );
  assert.equal(declaredCharset(peekMsh(raw)!), 'GB 18030-2000');
  assert.equal(peekMsh(Buffer.from('PID|1')), undefined);
  assert.equal(charsetOf('gb18030')?.encoding, 'gb18030');
  assert.equal(charsetOf('ISO_IR 192')?.hl7, 'UNICODE UTF-8');
  assert.equal(charsetOf('8859/1')?.encoding, 'latin1');
  assert.equal(charsetOf('ISO IR87'), undefined);
  assert.deepEqual(resolveCharset('', 'GB18030'), {
    ok: true,
    charset: charsetOf('GB18030'),
    source: 'hospital',
  });
  assert.deepEqual(resolveCharset('', undefined), {
    ok: true,
    charset: charsetOf('UTF-8'),
    source: 'default',
  });
  assert.deepEqual(resolveCharset('KOI8', 'GB18030'), { ok: false, label: 'KOI8' });
  const gb = Buffer.from([0xd5, 0xc5, 0xc8, 0xfd]); // 张三 in GB18030
  assert.equal(decodeStrict(gb, charsetOf('GB18030')!), '张三');
  assert.equal(decodeStrict(gb, charsetOf('UTF-8')!), undefined);
  assert.equal(decodeStrict(Buffer.from('张三'), charsetOf('UTF-8')!), '张三');
  assert.equal(decodeStrict(gb, charsetOf('ASCII')!), undefined);
});

test('modality and body part from names and codes', () => {
  assert.equal(inferModality('CT001 胸部CT平扫'), 'CT');
  assert.equal(inferModality('头颅MRI平扫'), 'MR');
  assert.equal(inferModality('腹部彩超'), 'US');
  assert.equal(inferModality('双侧乳腺钼靶'), 'MG');
  assert.equal(inferModality('胸部正侧位DR'), 'DR');
  assert.equal(inferModality('PET-CT 全身显像'), 'PT');
  assert.equal(inferModality('心电图'), '');
  assert.equal(normalizeModality('mri'), 'MR');
  assert.equal(normalizeModality('RAD'), '');
  assert.equal(inferBodyPart('头颅CT平扫'), 'HEAD');
  assert.equal(inferBodyPart('上腹部CT增强'), 'ABDOMEN');
  assert.equal(inferBodyPart('腰椎MR'), 'LSPINE');
});
