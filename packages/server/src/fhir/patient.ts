/**
 * FHIR Patient ↔ the workflow's patient (RisPatientInput / RisPatient).
 *
 * - identifier (type MR) → Patient ID; its system → Issuer of Patient ID (systems.ts: patientSystemOf)
 * - name: DICOM PN `Zhang^San=张^三` ↔ two HumanNames marked with the iso21090-EN-representation extension
 *   (IDE 张三 first, then ABC Zhang San), each with text and family/given; a plain `张三` ↔ one name with
 *   text 张三, family 张, given [三] (compound surnames such as 欧阳 recognised)
 * - gender male/female/other ↔ M/F/O; birthDate YYYY-MM-DD ↔ YYYYMMDD; telecom phone ↔ phone
 */
import type { HumanName, Patient } from '@medplum/fhirtypes';
import type { RisPatient, RisPatientInput } from '../ris/model.ts';
import {
  EXT_NAME_REPRESENTATION,
  HOSPITAL_SYSTEM,
  V2_0203,
  issuerOfSystem,
  parseHospitalSystem,
  patientSystemOf,
} from './systems.ts';
import { daToFhirDate, fhirDateToDa, isObject, type Checker, type Json } from './validate.ts';

const CJK = /[\u3400-\u9fff\uf900-\ufaff\u{20000}-\u{3134f}]/u;

const COMPOUND_SURNAMES = new Set(
  (
    '欧阳 太史 端木 上官 司马 东方 独孤 南宫 万俟 闻人 夏侯 诸葛 尉迟 公羊 赫连 澹台 皇甫 宗政 濮阳 公冶 太叔 申屠 ' +
    '公孙 慕容 仲孙 钟离 长孙 宇文 司徒 鲜于 司空 闾丘 子车 亓官 司寇 巫马 公西 颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 ' +
    '拓跋 夹谷 轩辕 令狐 段干 百里 呼延 东郭 南门 羊舌 微生 梁丘 左丘 西门 第五 南荣 东里 即墨 达奚 褚师'
  ).split(' '),
);

/** 张三 → [张, 三]; 欧阳娜娜 → [欧阳, 娜娜] */
export function splitChineseName(name: string): { family: string; given: string } {
  const chars = [...name];
  if (chars.length >= 3 && COMPOUND_SURNAMES.has(chars.slice(0, 2).join('')))
    return { family: chars.slice(0, 2).join(''), given: chars.slice(2).join('') };
  return { family: chars[0] ?? '', given: chars.slice(1).join('') };
}

function representation(rep: 'ABC' | 'IDE'): HumanName['extension'] {
  return [{ url: EXT_NAME_REPRESENTATION, valueCode: rep }];
}

/** A DICOM PN (or a plain name) → HumanNames, ideographic first. */
export function namesOfPn(pn: string): HumanName[] {
  const groups = pn.split('=');
  let abc = groups[0] ?? '';
  let ide = groups[1] ?? '';
  if (groups.length === 1 && CJK.test(abc)) {
    ide = abc;
    abc = '';
  }
  const out: HumanName[] = [];
  if (ide !== '') {
    const [f = '', g = ''] = ide.split('^');
    let family = f;
    let given = g;
    if (!ide.includes('^')) ({ family, given } = splitChineseName(ide));
    const name: HumanName = { use: 'official', text: `${family}${given}` };
    if (family !== '') name.family = family;
    if (given !== '') name.given = [given];
    name.extension = representation('IDE');
    out.push(name);
  }
  if (abc !== '') {
    const parts = abc.split('^');
    const family = parts[0] ?? '';
    const given = (parts[1] ?? '').split(' ').filter((s) => s !== '');
    const name: HumanName = { use: 'official', text: [family, ...given].filter((s) => s !== '').join(' ') };
    if (family !== '') name.family = family;
    if (given.length > 0) name.given = given;
    if (parts[3]) name.prefix = [parts[3]];
    if (parts[4]) name.suffix = [parts[4]];
    if (ide !== '') name.extension = representation('ABC');
    out.push(name);
  }
  return out;
}

interface NameParts {
  text?: string;
  family?: string;
  given: string[];
  rep?: string;
}

const PN_FORBIDDEN = /[\^=\\]/;

/** HumanNames → DICOM PN (`Family^Given=家^名`, or a plain `张三` when only an ideographic name is given). */
export function pnOfNames(ck: Checker, names: { value: Json; path: string }[]): string | undefined {
  const parsed: (NameParts & { path: string })[] = [];
  for (const { value, path } of names) {
    const use = ck.string(value, 'use', path, 16);
    if (use === 'old' || use === 'maiden') continue;
    const text = ck.string(value, 'text', path, 64);
    const family = ck.string(value, 'family', path, 64);
    const givenRaw = value.given;
    const given: string[] = [];
    if (givenRaw !== undefined) {
      if (!Array.isArray(givenRaw) || givenRaw.some((g) => typeof g !== 'string'))
        ck.fail(`${path}.given`, '应为字符串数组', 'must be an array of strings', 'structure');
      else given.push(...givenRaw.map((g: string) => g.trim()).filter((g) => g !== ''));
    }
    let rep: string | undefined;
    for (const e of ck.array(value, 'extension', path))
      if (e.value.url === EXT_NAME_REPRESENTATION && typeof e.value.valueCode === 'string')
        rep = e.value.valueCode;
    for (const [k, v] of [
      ['text', text],
      ['family', family],
      ['given', given.join('')],
    ] as const)
      if (v !== undefined && PN_FORBIDDEN.test(v))
        ck.fail(`${path}.${k}`, '不能包含 ^ = \\ 字符', 'must not contain ^, = or \\');
    if (text === undefined && family === undefined && given.length === 0) continue;
    parsed.push({
      path,
      given,
      ...(text !== undefined ? { text } : {}),
      ...(family !== undefined ? { family } : {}),
      ...(rep !== undefined ? { rep } : {}),
    });
  }
  const isIde = (n: NameParts): boolean =>
    n.rep === 'IDE' ||
    (n.rep === undefined && CJK.test(`${n.text ?? ''}${n.family ?? ''}${n.given.join('')}`));
  const ide = parsed.find(isIde);
  const abc = parsed.find((n) => !isIde(n) && n.rep !== 'SYL');
  if (ide === undefined && abc === undefined) return undefined;
  const comp = (n: NameParts): string =>
    n.family !== undefined || n.given.length > 0
      ? `${n.family ?? ''}^${n.given.join(' ')}`.replace(/\^$/, '')
      : (n.text ?? '').replace(/\s+/g, ' ');
  if (ide !== undefined && abc === undefined)
    return ide.text !== undefined ? ide.text.replace(/\s+/g, '') : `${ide.family ?? ''}${ide.given.join('')}`;
  if (abc !== undefined && ide === undefined) return comp(abc);
  return `${comp(abc!)}=${comp(ide!)}`;
}

const GENDER_IN: Record<string, string | undefined> = {
  male: 'M',
  female: 'F',
  other: 'O',
  unknown: undefined,
};
const GENDER_OUT: Record<string, 'male' | 'female' | 'other'> = { M: 'male', F: 'female', O: 'other' };

/** The chosen patient identifier of a FHIR Patient (type MR/PI, else a hospital patient-id system, else the first). */
function pickIdentifier(
  ck: Checker,
  obj: Json,
  path: string,
): { value: string; system?: string; path: string } | undefined {
  const ids = ck.array(obj, 'identifier', path);
  const typed = (e: Json): boolean => {
    const t = isObject(e.type) ? e.type : undefined;
    const cs = t !== undefined && Array.isArray(t.coding) ? (t.coding as unknown[]) : [];
    return cs.some((c) => isObject(c) && (c.code === 'MR' || c.code === 'PI'));
  };
  const hospitalish = (e: Json): boolean =>
    typeof e.system === 'string' && parseHospitalSystem(e.system)?.kind === 'patient-id';
  const chosen = ids.find((i) => typed(i.value)) ?? ids.find((i) => hospitalish(i.value)) ?? ids[0];
  if (chosen === undefined) return ck.required(`${path}.identifier`);
  const value = ck.string(chosen.value, 'value', chosen.path, 64);
  const system = ck.string(chosen.value, 'system', chosen.path, 256);
  if (value === undefined)
    return chosen.value.value === undefined ? ck.required(`${chosen.path}.value`) : undefined;
  if (/[\\]/.test(value)) return ck.fail(`${chosen.path}.value`, '不能包含 \\ 字符', 'must not contain \\');
  return { value, path: chosen.path, ...(system !== undefined ? { system } : {}) };
}

/**
 * A FHIR Patient (top level or contained) → RisPatientInput, plus the hospital code its identifier system
 * names (if it is a Huiying hospital system). Problems are recorded in `ck`.
 */
export function patientInputOf(
  ck: Checker,
  obj: Json,
  path: string,
): { patient: RisPatientInput; hospitalCode?: string } | undefined {
  if (obj.resourceType !== 'Patient') {
    ck.fail(`${path}.resourceType`, '应为 Patient', 'must be Patient', 'invalid');
    return undefined;
  }
  const id = pickIdentifier(ck, obj, path);
  const names = ck.array(obj, 'name', path);
  const name = pnOfNames(ck, names);
  if (name === undefined && names.length === 0) ck.required(`${path}.name`);
  else if (name === undefined)
    ck.fail(`${path}.name`, '姓名为空', 'no usable name (text or family/given)', 'required');
  else if (name.length > 200) ck.fail(`${path}.name`, '姓名过长', 'name too long', 'too-long');
  const gender = ck.string(obj, 'gender', path, 16);
  if (gender !== undefined && !(gender in GENDER_IN))
    ck.fail(
      `${path}.gender`,
      '应为 male、female、other 或 unknown',
      'must be male, female, other or unknown',
      'code-invalid',
    );
  const birth = ck.string(obj, 'birthDate', path, 10);
  const da = birth !== undefined ? fhirDateToDa(birth) : undefined;
  if (birth !== undefined && da === undefined)
    ck.fail(`${path}.birthDate`, '应为完整日期 YYYY-MM-DD', 'must be a full date YYYY-MM-DD');
  let phone: string | undefined;
  for (const t of ck.array(obj, 'telecom', path)) {
    const sys = ck.string(t.value, 'system', t.path, 16);
    const v = ck.string(t.value, 'value', t.path, 32);
    if ((sys === 'phone' || sys === 'sms') && v !== undefined && phone === undefined) phone = v;
  }
  if (id === undefined || name === undefined) return undefined;
  const { issuer, hospitalCode } = issuerOfSystem(id.system);
  if (issuer !== undefined && issuer.length > 64)
    ck.fail(
      `${id.path}.system`,
      '签发者过长（最多 64 字符）',
      'issuer longer than 64 characters',
      'too-long',
    );
  const sex = gender !== undefined ? GENDER_IN[gender] : undefined;
  const patient: RisPatientInput = {
    patientId: id.value,
    name,
    ...(issuer !== undefined ? { issuer } : {}),
    ...(sex !== undefined ? { sex } : {}),
    ...(da !== undefined ? { birthDate: da } : {}),
    ...(phone !== undefined ? { phone } : {}),
  };
  return { patient, ...(hospitalCode !== undefined ? { hospitalCode } : {}) };
}

/** The version of a patient (RisPatient has no counter: its update time in ms). */
export function patientVersion(p: RisPatient): string {
  const t = Date.parse(p.updatedAt);
  return Number.isNaN(t) ? '1' : String(t);
}

/** The patient's identifier as FHIR. */
export function patientIdentifier(p: Pick<RisPatient, 'patientId' | 'issuer'>, hospitalCode: string) {
  return {
    use: 'usual' as const,
    type: { coding: [{ system: V2_0203, code: 'MR', display: 'Medical record number' }], text: '病历号' },
    system: patientSystemOf(p.issuer, hospitalCode),
    value: p.patientId,
  };
}

/** RisPatient → FHIR Patient */
export function patientResource(p: RisPatient, hospital: { code: string; name: string }): Patient {
  const r: Patient = {
    resourceType: 'Patient',
    id: String(p.id),
    meta: { versionId: patientVersion(p), lastUpdated: p.updatedAt },
    identifier: [patientIdentifier(p, hospital.code)],
    active: p.mergedInto === null,
    name: namesOfPn(p.name),
  };
  if (p.sex !== null && p.sex !== '') r.gender = GENDER_OUT[p.sex] ?? 'unknown';
  const bd = p.birthDate !== null ? daToFhirDate(p.birthDate) : undefined;
  if (bd !== undefined) r.birthDate = bd;
  if (p.phone !== null && p.phone !== '') r.telecom = [{ system: 'phone', value: p.phone }];
  r.managingOrganization = {
    identifier: { system: HOSPITAL_SYSTEM, value: hospital.code },
    display: hospital.name,
  };
  if (p.mergedInto !== null)
    r.link = [{ other: { reference: `Patient/${p.mergedInto}` }, type: 'replaced-by' }];
  return r;
}
