import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  matchPersonName,
  matchValue,
  normalizePersonName,
  parseMatcher,
  personNameQueryForms,
} from './matching.ts';

test('parseMatcher: universal, single, wildcard/prefix, ranges, lists', () => {
  assert.deepEqual(parseMatcher('PN', ''), { kind: 'universal' });
  assert.deepEqual(parseMatcher('PN', '*'), { kind: 'universal' });
  assert.deepEqual(parseMatcher('LO', 'P001 '), { kind: 'single', value: 'P001' });
  assert.deepEqual(parseMatcher('PN', 'ZHA*'), { kind: 'wildcard', pattern: 'ZHA*', prefix: 'ZHA' });
  assert.deepEqual(parseMatcher('PN', 'Z?A*'), { kind: 'wildcard', pattern: 'Z?A*' });
  assert.deepEqual(parseMatcher('PN', '*SAN'), { kind: 'wildcard', pattern: '*SAN' });
  assert.deepEqual(parseMatcher('DA', '20240101-20241231'), {
    kind: 'range',
    from: '20240101',
    to: '20241231',
  });
  assert.deepEqual(parseMatcher('DA', '-20241231'), { kind: 'range', to: '20241231' });
  assert.deepEqual(parseMatcher('TM', '0800-'), { kind: 'range', from: '0800' });
  assert.deepEqual(parseMatcher('DA', '20240101'), { kind: 'single', value: '20240101' });
  assert.deepEqual(parseMatcher('DT', '20240101080000-0500-20240102'), {
    kind: 'range',
    from: '20240101080000-0500',
    to: '20240102',
  });
  assert.deepEqual(parseMatcher('UI', '1.2.3\\1.2.4'), { kind: 'list', values: ['1.2.3', '1.2.4'] });
  assert.deepEqual(parseMatcher('UI', '1.2.3\0'), { kind: 'single', value: '1.2.3' });
  // '*' is literal for VRs without wildcard matching (UI, DA…)
  assert.deepEqual(parseMatcher('UI', '1.2.*'), { kind: 'single', value: '1.2.*' });
});

test('matchValue: wildcard ? and *, ranges inclusive', () => {
  assert.equal(matchValue(parseMatcher('SH', 'A?C*'), 'ABCDEF'), true);
  assert.equal(matchValue(parseMatcher('SH', 'A?C*'), 'ACDEF'), false);
  assert.equal(matchValue(parseMatcher('DA', '20240101-20240131'), '20240131'), true);
  assert.equal(matchValue(parseMatcher('DA', '20240101-20240131'), '20240201'), false);
  assert.equal(matchValue(parseMatcher('TM', '0800-0900'), '085959.123'), true);
  assert.equal(matchValue(parseMatcher('UI', '1.2\\1.3'), '1.3'), true);
});

test('normalizePersonName: groups, NFKC, upper case, fuzzy tokens', () => {
  const n = normalizePersonName('Zhang^San=张^三');
  assert.deepEqual(n, {
    alphabetic: 'ZHANG^SAN',
    ideographic: '张^三',
    phonetic: '',
    fuzzy: ' ZHANG SAN ZHANGSAN 张 三 张三 ',
  });
  assert.equal(normalizePersonName('ｚｈａｎｇ^san^^').alphabetic, 'ZHANG^SAN');
  assert.equal(normalizePersonName({ Alphabetic: '王小明' }).alphabetic, '王小明');
  assert.equal(normalizePersonName(undefined).fuzzy, '');
});

test('PN query forms: 张* / ZHANG* / Zhang^San find Zhang^San=张^三; fuzzy ZHANG / 张三', () => {
  const stored = normalizePersonName('Zhang^San=张^三');
  const finds = (q: string, fuzzy = false): boolean =>
    matchPersonName(stored, personNameQueryForms(q, { fuzzy }));
  assert.equal(finds('张*'), true);
  assert.equal(finds('ZHANG*'), true);
  assert.equal(finds('zhang*'), true);
  assert.equal(finds('Zhang^San'), true);
  assert.equal(finds('Zhang^San^^'), true);
  assert.equal(finds('Zhang^San=张^三'), true);
  assert.equal(finds('Zhang^San=李^四'), false);
  assert.equal(finds('张^?'), true);
  assert.equal(finds('李*'), false);
  assert.equal(finds('ZHANG'), false); // exact, not fuzzy
  assert.equal(finds('ZHANG', true), true);
  assert.equal(finds('san zhang', true), true);
  assert.equal(finds('张三', true), true);
  assert.equal(finds('三', true), true);
  assert.equal(finds('LI', true), false);
  const q = personNameQueryForms('ZHANG*');
  assert.deepEqual(q, {
    kind: 'match',
    groups: [{ target: 'any', matcher: { kind: 'wildcard', pattern: 'ZHANG*', prefix: 'ZHANG' } }],
  });
  assert.deepEqual(personNameQueryForms('*'), { kind: 'universal' });
  // a Chinese name stored without separator (alphabetic group only) is found by 王小明 and 王*
  const wang = normalizePersonName('王小明');
  assert.equal(matchPersonName(wang, personNameQueryForms('王*')), true);
  assert.equal(matchPersonName(wang, personNameQueryForms('王小明')), true);
});
