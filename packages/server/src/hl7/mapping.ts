/**
 * HL7 v2 → workflow commands. The WHOLE message is validated and mapped here, before anything is applied:
 * a message with one bad field changes nothing. The mapping is documented in docs/conformance-statement.md
 * ("HL7 v2").
 *
 * - ORM^O01 / OMI^O23: one command per accession number. ORC-1 NW → placeOrder, XO → changeOrder,
 *   CA (and DC) → cancelOrder; other order control codes → AR. Several OBR with the same accession number
 *   are several exam items of one order.
 * - ADT^A08 (and A31): PID → upsertPatient. ADT^A40: each PID + MRG pair → mergePatients.
 */
import type { Hl7Message, Hl7Segment } from '@medplum/core';
import type {
  ExamItem,
  OrderChange,
  OrderInput,
  PatientClass,
  Priority,
  RisPatientInput,
} from '../ris/model.ts';
import {
  comp,
  delimitersOf,
  fieldText,
  parseDtm,
  rawField,
  unescapeHl7,
  type Delimiters,
} from './message.ts';

export type Hl7Command =
  | { kind: 'placeOrder'; order: OrderInput }
  | { kind: 'changeOrder'; accessionNumber: string; change: OrderChange }
  | { kind: 'cancelOrder'; accessionNumber: string; reason: string }
  | { kind: 'upsertPatient'; patient: RisPatientInput }
  | { kind: 'mergePatients'; survivor: RisPatientInput; prior: { patientId: string; issuer?: string } };

/** A message we cannot apply: the NAK's MSA-1, ERR-3 (HL7 table 0357) and ERR-2 location. */
export class Hl7RejectError extends Error {
  readonly ackCode: 'AE' | 'AR';
  readonly hl7Code: string;
  readonly location: string | undefined;
  constructor(ackCode: 'AE' | 'AR', hl7Code: string, message: string, location?: string) {
    super(message);
    this.name = 'Hl7RejectError';
    this.ackCode = ackCode;
    this.hl7Code = hl7Code;
    this.location = location;
  }
}

export interface MappingContext {
  hospitalId: number;
  /** the default issuer of patient IDs */
  hospitalCode: string;
  /** UTC offset for times without a zone, e.g. +08:00 */
  defaultOffset: string;
}

export interface MappedMessage {
  /** e.g. ORM^O01 */
  messageType: string;
  commands: Hl7Command[];
}

const SUPPORTED = 'ORM^O01, OMI^O23, ADT^A08, ADT^A31, ADT^A40';

const bad = (code: string, message: string, location?: string): Hl7RejectError =>
  new Hl7RejectError('AE', code, message, location);

export function mapMessage(msg: Hl7Message, ctx: MappingContext): MappedMessage {
  const d = delimitersOf(msg);
  const msh = msg.getSegment('MSH');
  const type = comp(msh, 9, 1, 0, d).toUpperCase();
  const trigger = comp(msh, 9, 2, 0, d).toUpperCase();
  const messageType = trigger === '' ? type : `${type}^${trigger}`;
  const version = comp(msh, 12, 1, 0, d);
  if (version !== '' && !version.startsWith('2.'))
    throw new Hl7RejectError(
      'AR',
      '203',
      `不支持的 HL7 版本 / unsupported HL7 version ${version}`,
      'MSH^1^12',
    );
  if (comp(msh, 10, 1, 0, d) === '')
    throw bad('101', '缺少消息控制号 / MSH-10 message control ID is missing', 'MSH^1^10');
  let commands: Hl7Command[];
  if ((type === 'ORM' && trigger === 'O01') || (type === 'OMI' && trigger === 'O23')) {
    commands = mapOrders(msg, d, ctx, type === 'OMI');
  } else if (type === 'ADT' && (trigger === 'A08' || trigger === 'A31')) {
    const pid = requireSegment(msg, 'PID');
    commands = [{ kind: 'upsertPatient', patient: mapPatient(pid, d, ctx) }];
  } else if (type === 'ADT' && trigger === 'A40') {
    commands = mapMerges(msg, d, ctx);
  } else if (type === 'ORM' || type === 'OMI' || type === 'ADT') {
    throw new Hl7RejectError(
      'AR',
      '201',
      `不支持的触发事件 / unsupported trigger event ${messageType} (supported: ${SUPPORTED})`,
      'MSH^1^9',
    );
  } else {
    throw new Hl7RejectError(
      'AR',
      '200',
      `不支持的消息类型 / unsupported message type ${messageType || '(empty)'} (supported: ${SUPPORTED})`,
      'MSH^1^9',
    );
  }
  return { messageType, commands };
}

function requireSegment(msg: Hl7Message, name: string): Hl7Segment {
  const s = msg.getSegment(name);
  if (s === undefined) throw bad('100', `缺少 ${name} 段 / required segment ${name} is missing`, name);
  return s;
}

// ---------------------------------------------------------------------------------------- patients

const CJK = /[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u{20000}-\u{3ffff}]/u;

/** PID-3: the patient identifier and its issuer (CX.4 namespace; default the hospital code). */
function patientIdentifier(
  seg: Hl7Segment,
  field: number,
  d: Delimiters,
  ctx: MappingContext,
  label: string,
): { patientId: string; issuer: string } {
  const reps = rawField(seg, field);
  let chosen = -1;
  // prefer an identifier typed PI / MR / PT (CX.5), else the first non-empty one
  for (let r = 0; r < reps.length && chosen < 0; r++) {
    const t = comp(seg, field, 5, r, d).toUpperCase();
    if ((t === 'PI' || t === 'MR' || t === 'PT') && comp(seg, field, 1, r, d) !== '') chosen = r;
  }
  for (let r = 0; r < reps.length && chosen < 0; r++) if (comp(seg, field, 1, r, d) !== '') chosen = r;
  if (chosen < 0) {
    // HL7 2.3 senders sometimes use PID-2 (external ID)
    if (field === 3 && seg.name === 'PID') {
      const pid2 = comp(seg, 2, 1, 0, d);
      if (pid2 !== '') return { patientId: pid2, issuer: comp(seg, 2, 4, 0, d, 1) || ctx.hospitalCode };
    }
    throw bad('101', `缺少患者 ID / ${label} patient identifier is missing`, `${seg.name}^1^${field}`);
  }
  const patientId = comp(seg, field, 1, chosen, d);
  if (patientId.length > 64)
    throw bad('102', `患者 ID 过长 / ${label} patient identifier longer than 64`, `${seg.name}^1^${field}`);
  const issuer = comp(seg, field, 4, chosen, d, 1) || ctx.hospitalCode;
  return { patientId, issuer };
}

/** One XPN repetition as DICOM PN components: family^given^middle^prefix^suffix (trailing empties cut). */
function xpnToPn(seg: Hl7Segment, field: number, r: number, d: Delimiters): string {
  const family = comp(seg, field, 1, r, d, 1);
  const parts = [
    family,
    comp(seg, field, 2, r, d),
    comp(seg, field, 3, r, d),
    comp(seg, field, 5, r, d),
    comp(seg, field, 4, r, d),
  ];
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.join('^').replace(/[=\\]/g, ' ');
}

/**
 * PID-5: `Zhang^San~张^三` → `Zhang^San=张^三` (DICOM PN: alphabetic = ideographic); a single repetition
 * is kept as it is (`张三`, `张^三`, `Zhang^San`).
 */
export function patientName(seg: Hl7Segment, field: number, d: Delimiters): string {
  const reps = rawField(seg, field);
  let alphabetic = '';
  let ideographic = '';
  for (let r = 0; r < reps.length; r++) {
    const pn = xpnToPn(seg, field, r, d);
    if (pn === '') continue;
    if (CJK.test(pn)) {
      if (ideographic === '') ideographic = pn;
    } else if (alphabetic === '') {
      alphabetic = pn;
    }
  }
  if (alphabetic !== '' && ideographic !== '') return `${alphabetic}=${ideographic}`;
  return ideographic !== '' ? ideographic : alphabetic;
}

const SEX: Readonly<Record<string, string | null>> = {
  M: 'M',
  F: 'F',
  O: 'O',
  A: 'O',
  N: 'O',
  U: null,
  '1': 'M',
  '2': 'F',
  '0': null,
  '9': null,
  男: 'M',
  女: 'F',
  未知: null,
};

function mapPatient(pid: Hl7Segment, d: Delimiters, ctx: MappingContext): RisPatientInput {
  const { patientId, issuer } = patientIdentifier(pid, 3, d, ctx, 'PID-3');
  const name = patientName(pid, 5, d);
  if (name === '') throw bad('101', '缺少患者姓名 / PID-5 patient name is missing', 'PID^1^5');
  const p: RisPatientInput = { patientId, issuer, name };
  const birth = comp(pid, 7, 1, 0, d);
  if (birth !== '') {
    const dt = parseDtm(birth, ctx.defaultOffset);
    if (dt === undefined)
      throw bad(
        '102',
        `出生日期无效 / PID-7 birth date '${birth}' is not a valid date (YYYYMMDD)`,
        'PID^1^7',
      );
    if (birth.length < 8)
      throw bad('102', `出生日期不完整 / PID-7 birth date '${birth}' needs year, month and day`, 'PID^1^7');
    p.birthDate = dt.date;
  }
  const sexRaw = comp(pid, 8, 1, 0, d);
  if (sexRaw !== '') {
    const sex = SEX[sexRaw.toUpperCase()];
    if (sex === undefined)
      throw bad('103', `性别代码无效 / PID-8 sex '${sexRaw}' is not M, F, O, U (or 1, 2, 0, 9)`, 'PID^1^8');
    if (sex !== null) p.sex = sex;
  }
  const phone = phoneOf(pid, d);
  if (phone !== '') p.phone = phone;
  return p;
}

/** PID-13 (home) then PID-14 (business): XTN.1, else XTN.12 unformatted, else area + local number. */
function phoneOf(pid: Hl7Segment, d: Delimiters): string {
  for (const f of [13, 14]) {
    const reps = rawField(pid, f);
    for (let r = 0; r < reps.length; r++) {
      const v =
        comp(pid, f, 1, r, d) || comp(pid, f, 12, r, d) || `${comp(pid, f, 6, r, d)}${comp(pid, f, 7, r, d)}`;
      if (v !== '') return v.slice(0, 64);
    }
  }
  return '';
}

function mapMerges(msg: Hl7Message, d: Delimiters, ctx: MappingContext): Hl7Command[] {
  const commands: Hl7Command[] = [];
  let pid: Hl7Segment | undefined;
  for (const seg of msg.segments) {
    if (seg.name === 'PID') pid = seg;
    else if (seg.name === 'MRG') {
      if (pid === undefined) throw bad('100', 'MRG 前缺少 PID / MRG without a preceding PID', 'MRG');
      const survivor = mapPatient(pid, d, ctx);
      const prior = patientIdentifier(seg, 1, d, ctx, 'MRG-1');
      if (prior.patientId === survivor.patientId && prior.issuer === survivor.issuer)
        throw bad(
          '102',
          `MRG-1 与 PID-3 相同 / MRG-1 prior ID equals the surviving ID ${prior.patientId}`,
          'MRG^1^1',
        );
      commands.push({ kind: 'mergePatients', survivor, prior });
      pid = undefined;
    }
  }
  if (commands.length === 0) {
    requireSegment(msg, 'PID');
    throw bad('100', '缺少 MRG 段 / required segment MRG is missing', 'MRG');
  }
  return commands;
}

// ------------------------------------------------------------------------------------------ orders

interface OrderGroup {
  orc: Hl7Segment;
  obrs: Hl7Segment[];
  ipcs: Hl7Segment[];
  tq1: Hl7Segment | undefined;
  ntes: Hl7Segment[];
  dg1s: Hl7Segment[];
  index: number;
}

const CONTROL: Readonly<Record<string, 'new' | 'change' | 'cancel'>> = {
  NW: 'new',
  XO: 'change',
  CA: 'cancel',
  DC: 'cancel',
};

function mapOrders(msg: Hl7Message, d: Delimiters, ctx: MappingContext, omi: boolean): Hl7Command[] {
  const pid = requireSegment(msg, 'PID');
  const pv1 = msg.getSegment('PV1');
  const groups: OrderGroup[] = [];
  const msgDg1: Hl7Segment[] = [];
  let current: OrderGroup | undefined;
  let lastWasObr = false;
  for (const seg of msg.segments) {
    switch (seg.name) {
      case 'ORC':
        current = {
          orc: seg,
          obrs: [],
          ipcs: [],
          tq1: undefined,
          ntes: [],
          dg1s: [],
          index: groups.length + 1,
        };
        groups.push(current);
        lastWasObr = false;
        break;
      case 'OBR':
        if (current === undefined) throw bad('100', 'OBR 前缺少 ORC / OBR without a preceding ORC', 'OBR');
        current.obrs.push(seg);
        lastWasObr = true;
        break;
      case 'TQ1':
        if (current !== undefined) current.tq1 ??= seg;
        break;
      case 'IPC':
        if (current !== undefined) current.ipcs.push(seg);
        break;
      case 'NTE':
        if (current !== undefined && lastWasObr) current.ntes.push(seg);
        break;
      case 'DG1':
        if (current !== undefined) current.dg1s.push(seg);
        else msgDg1.push(seg);
        break;
      default:
        break;
    }
  }
  if (groups.length === 0) throw bad('100', '缺少 ORC 段 / required segment ORC is missing', 'ORC');
  const patient = mapPatient(pid, d, ctx);

  // one order per accession number; its groups must agree on the order control code
  const byAccession = new Map<
    string,
    { control: 'new' | 'change' | 'cancel'; code: string; groups: OrderGroup[] }
  >();
  for (const g of groups) {
    const code = comp(g.orc, 1, 1, 0, d).toUpperCase();
    const loc = `ORC^${g.index}^1`;
    if (code === '') throw bad('101', '缺少医嘱控制码 / ORC-1 order control is missing', loc);
    const control = CONTROL[code];
    if (control === undefined)
      throw new Hl7RejectError(
        'AR',
        '103',
        `不支持的医嘱控制码 / unsupported ORC-1 order control '${code}' (supported: NW, XO, CA, DC)`,
        loc,
      );
    if (control !== 'cancel' && g.obrs.length === 0)
      throw bad('100', `缺少 OBR 段 / order ${g.index}: required segment OBR is missing`, `ORC^${g.index}`);
    const acc = accessionOf(g, d, omi);
    const prev = byAccession.get(acc);
    if (prev === undefined) byAccession.set(acc, { control, code, groups: [g] });
    else if (prev.control !== control)
      throw bad(
        '102',
        `同一检查号的医嘱控制码不一致 / accession ${acc}: ORC-1 ${prev.code} and ${code} in one message`,
        loc,
      );
    else prev.groups.push(g);
  }

  const commands: Hl7Command[] = [];
  for (const [accessionNumber, o] of byAccession) {
    if (o.control === 'cancel') {
      const g = o.groups[0]!;
      const reason =
        comp(g.orc, 16, 2, 0, d) ||
        comp(g.orc, 16, 1, 0, d) ||
        `HIS 撤销医嘱 / cancelled by HIS (ORC-1 ${o.code})`;
      commands.push({ kind: 'cancelOrder', accessionNumber, reason });
      continue;
    }
    const content = orderContent(o.groups, pv1, msgDg1, d, ctx, omi);
    if (o.control === 'new') {
      commands.push({
        kind: 'placeOrder',
        order: { hospitalId: ctx.hospitalId, patient, accessionNumber, ...content, source: 'hl7' },
      });
    } else {
      commands.push({ kind: 'changeOrder', accessionNumber, change: { patient, ...content } });
    }
  }
  return commands;
}

/** Accession number: OMI IPC-1, else OBR-18, else OBR-3 (filler order number), else ORC-3. */
function accessionOf(g: OrderGroup, d: Delimiters, omi: boolean): string {
  let acc = '';
  if (omi) for (const ipc of g.ipcs) acc ||= comp(ipc, 1, 1, 0, d);
  for (const obr of g.obrs) acc ||= comp(obr, 18, 1, 0, d);
  for (const obr of g.obrs) acc ||= comp(obr, 3, 1, 0, d);
  acc ||= comp(g.orc, 3, 1, 0, d);
  if (acc === '')
    throw bad(
      '101',
      `缺少检查号 / order ${g.index}: no accession number (${omi ? 'IPC-1, ' : ''}OBR-18, OBR-3 or ORC-3)`,
      `ORC^${g.index}^3`,
    );
  if (acc.length > 16)
    throw bad(
      '102',
      `检查号过长 / accession number '${acc}' is longer than 16 characters (DICOM SH)`,
      `ORC^${g.index}^3`,
    );
  // every OBR with its own accession must agree
  for (const obr of g.obrs) {
    const own = comp(obr, 18, 1, 0, d);
    if (own !== '' && own !== acc && !omi)
      throw bad(
        '102',
        `同一医嘱中检查号不一致 / order ${g.index}: OBR-18 ${own} differs from ${acc}`,
        'OBR^1^18',
      );
  }
  return acc;
}

type OrderContent = Omit<OrderInput, 'hospitalId' | 'patient' | 'accessionNumber' | 'source'>;

function orderContent(
  groups: OrderGroup[],
  pv1: Hl7Segment | undefined,
  msgDg1: Hl7Segment[],
  d: Delimiters,
  ctx: MappingContext,
  omi: boolean,
): OrderContent {
  const first = groups[0]!;
  const orc = first.orc;
  const obrs = groups.flatMap((g) => g.obrs);
  const obr = obrs[0]!;
  const examItems: ExamItem[] = [];
  for (const [i, o] of obrs.entries()) {
    const code = comp(o, 4, 1, 0, d);
    const name = comp(o, 4, 2, 0, d) || comp(o, 4, 5, 0, d) || code;
    if (name === '')
      throw bad('101', `缺少检查项目 / OBR-4 universal service ID is missing`, `OBR^${i + 1}^4`);
    if (!examItems.some((x) => x.name === name && x.code === (code || undefined)))
      examItems.push(code !== '' && code !== name ? { code, name } : { name });
  }

  // modality: OMI IPC-5, else OBR-24, else inferred from the item names / codes
  let modality = '';
  if (omi)
    for (const ipc of groups.flatMap((g) => g.ipcs)) modality ||= normalizeModality(comp(ipc, 5, 1, 0, d));
  for (const o of obrs) modality ||= normalizeModality(comp(o, 24, 1, 0, d));
  for (const it of examItems) modality ||= inferModality(`${it.code ?? ''} ${it.name}`);
  if (modality === '')
    throw bad(
      '101',
      `无法确定检查类型 / modality unknown: send ${omi ? 'IPC-5 or ' : ''}OBR-24 (CT, MR, DR, US…) or an item name that names it`,
      'OBR^1^24',
    );

  const out: OrderContent = { examItems, modality, priority: priorityOf(obr, orc, first.tq1, d) };

  // body part: OBR-15.1 (or .4 body site), OBR-46, else from the item names
  let bodyPart = '';
  for (const o of obrs) bodyPart ||= normalizeBodyPart(comp(o, 15, 1, 0, d) || comp(o, 15, 4, 0, d));
  for (const o of obrs) bodyPart ||= normalizeBodyPart(comp(o, 46, 2, 0, d) || comp(o, 46, 1, 0, d));
  for (const it of examItems) bodyPart ||= inferBodyPart(it.name);
  if (bodyPart !== '') out.bodyPart = bodyPart;

  const pc = patientClassOf(pv1, d);
  if (pc !== undefined) out.patientClass = pc;

  // notes: typed NTE-4 (SYM 症状, PUR 检查目的, HIS 病史, DX 诊断); untyped → symptoms
  const notes: Record<'symptoms' | 'purpose' | 'history' | 'diagnosis', string[]> = {
    symptoms: [],
    purpose: [],
    history: [],
    diagnosis: [],
  };
  for (const nte of groups.flatMap((g) => g.ntes)) {
    const reps = rawField(nte, 3);
    const text = reps
      .map((r) => unescapeHl7(r.join(d.component), d).trim())
      .filter((t) => t !== '')
      .join('\n');
    if (text === '') continue;
    const kind = (comp(nte, 4, 1, 0, d) || comp(nte, 4, 2, 0, d)).toUpperCase();
    if (kind === 'PUR' || kind === '检查目的') notes.purpose.push(text);
    else if (kind === 'HIS' || kind === '病史') notes.history.push(text);
    else if (kind === 'DX' || kind === '诊断' || kind === '临床诊断') notes.diagnosis.push(text);
    else notes.symptoms.push(text);
  }

  const history = uniq([...obrs.map((o) => fieldText(o, 13, d)), ...notes.history]).join('\n');
  if (history !== '') out.clinicalHistory = history.slice(0, 4000);
  if (notes.symptoms.length > 0) out.symptoms = uniq(notes.symptoms).join('\n').slice(0, 4000);

  const dg1s = [...msgDg1, ...groups.flatMap((g) => g.dg1s)];
  const dgText = uniq(dg1s.map((g) => comp(g, 3, 2, 0, d) || comp(g, 4, 1, 0, d) || comp(g, 3, 1, 0, d)));
  const reason = uniq(obrs.map((o) => comp(o, 31, 2, 0, d) || comp(o, 31, 1, 0, d)));
  const diagnosis = [...dgText, ...notes.diagnosis];
  if (diagnosis.length === 0) diagnosis.push(...reason);
  if (diagnosis.length > 0) out.clinicalDiagnosis = uniq(diagnosis).join('；').slice(0, 4000);
  const purpose = [...notes.purpose, ...(dgText.length > 0 || notes.diagnosis.length > 0 ? reason : [])];
  if (purpose.length > 0) out.examPurpose = uniq(purpose).join('；').slice(0, 4000);

  // requesting department: ORC-17 (text, else code), else PV1-3 point of care
  const dept =
    comp(orc, 17, 2, 0, d) || comp(orc, 17, 1, 0, d) || comp(pv1, 3, 1, 0, d) || comp(pv1, 3, 9, 0, d);
  if (dept !== '') out.requestingDepartment = dept.slice(0, 200);
  const doctor = personOf(orc, 12, d) || personOf(obr, 16, d);
  if (doctor !== '') out.requestingPhysician = doctor.slice(0, 200);

  const placer = comp(orc, 2, 1, 0, d) || comp(obr, 2, 1, 0, d);
  if (placer !== '') out.placerOrderNumber = placer.slice(0, 64);

  const when = scheduledAt(first, obr, d, ctx);
  if (when !== undefined) out.scheduledAt = when;
  return out;
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs.filter((x) => x !== ''))];
}

/** OBR-5 priority, else ORC-7.6 (TQ), else TQ1-9: S (stat) / A (ASAP) / 急 → emergency; else routine. */
function priorityOf(obr: Hl7Segment, orc: Hl7Segment, tq1: Hl7Segment | undefined, d: Delimiters): Priority {
  const p = (comp(obr, 5, 1, 0, d) || comp(orc, 7, 6, 0, d) || comp(tq1, 9, 1, 0, d)).toUpperCase();
  return p === 'S' || p === 'A' || p === 'STAT' || p === 'ASAP' || p.includes('急') ? 'emergency' : 'routine';
}

/** PV1-2: O 门诊, I 住院, E 急诊, P 体检 (also the Chinese words). */
function patientClassOf(pv1: Hl7Segment | undefined, d: Delimiters): PatientClass | undefined {
  const v = comp(pv1, 2, 1, 0, d).toUpperCase();
  switch (v) {
    case 'O':
    case '门诊':
      return 'outpatient';
    case 'I':
    case '住院':
      return 'inpatient';
    case 'E':
    case '急诊':
      return 'emergency';
    case 'P':
    case 'H':
    case '体检':
      return 'physical_exam';
    default:
      return undefined;
  }
}

/** XCN: ID^family^given… → the name (Chinese names joined without a space); the ID when no name. */
function personOf(seg: Hl7Segment, field: number, d: Delimiters): string {
  const id = comp(seg, field, 1, 0, d);
  const family = comp(seg, field, 2, 0, d, 1);
  const given = comp(seg, field, 3, 0, d);
  if (family === '' && given === '') return id;
  return CJK.test(family + given) ? `${family}${given}` : [family, given].filter((x) => x !== '').join(' ');
}

/** TQ1-7 start, ORC-7.4 (TQ start), OBR-6 requested, ORC-15 effective, ORC-9 transaction time. */
function scheduledAt(g: OrderGroup, obr: Hl7Segment, d: Delimiters, ctx: MappingContext): string | undefined {
  const candidates: [string, string][] = [
    [comp(g.tq1, 7, 1, 0, d), 'TQ1^1^7'],
    [comp(g.orc, 7, 4, 0, d), `ORC^${g.index}^7`],
    [comp(obr, 6, 1, 0, d), 'OBR^1^6'],
    [comp(g.orc, 15, 1, 0, d), `ORC^${g.index}^15`],
    [comp(g.orc, 9, 1, 0, d), `ORC^${g.index}^9`],
  ];
  // every present time must be valid, even those not used
  let chosen: string | undefined;
  for (const [v, loc] of candidates) {
    if (v === '') continue;
    const dt = parseDtm(v, ctx.defaultOffset);
    if (dt === undefined)
      throw bad(
        '102',
        `日期时间无效 / ${loc.replace(/\^\d+\^/, '-')} '${v}' is not a valid date/time (YYYYMMDDHHMMSS)`,
        loc,
      );
    chosen ??= dt.iso;
  }
  return chosen;
}

// ---------------------------------------------------------------------------- modality, body part

const MODALITY_ALIASES: Readonly<Record<string, string>> = {
  CT: 'CT',
  MR: 'MR',
  MRI: 'MR',
  DR: 'DR',
  DX: 'DX',
  CR: 'CR',
  XR: 'DR',
  US: 'US',
  MG: 'MG',
  RF: 'RF',
  XA: 'XA',
  DSA: 'XA',
  NM: 'NM',
  PT: 'PT',
  PET: 'PT',
  ES: 'ES',
  OT: 'OT',
  IO: 'IO',
  PX: 'PX',
  ECG: 'ECG',
};

/** OBR-24 / IPC-5 value → a DICOM modality code; '' for values like RAD (radiology) that name none. */
export function normalizeModality(v: string): string {
  return MODALITY_ALIASES[v.trim().toUpperCase()] ?? '';
}

const INFER: readonly [RegExp, string][] = [
  [/PET|正电子/i, 'PT'],
  [/(^|[^A-Z])CT|ＣＴ/i, 'CT'],
  [/MRI|MRA|(^|[^A-Z])MR|磁共振|核磁/i, 'MR'],
  [/钼靶|乳腺X|(^|[^A-Z])MG/i, 'MG'],
  [/DSA|造影|介入/i, 'XA'],
  [/超声|彩超|B超|多普勒|(^|[^A-Z])US/i, 'US'],
  [/透视|钡餐|钡灌/, 'RF'],
  [/ECT|SPECT|核医学|骨扫描|显像/i, 'NM'],
  [/(^|[^A-Z])DR|(^|[^A-Z])DX|X线|X光|平片|摄片|胸片/i, 'DR'],
  [/(^|[^A-Z])CR/i, 'CR'],
];

/** Modality from an exam item's code and name, e.g. 胸部CT平扫 → CT, 头颅MRI → MR, 腹部彩超 → US. */
export function inferModality(text: string): string {
  for (const [re, m] of INFER) if (re.test(text)) return m;
  return '';
}

const BODY_PARTS: readonly [RegExp, string][] = [
  [/头颅|颅脑|头部|脑|颅/, 'HEAD'],
  [/鼻窦|副鼻窦/, 'SINUS'],
  [/眼眶|眼/, 'ORBIT'],
  [/颈椎/, 'CSPINE'],
  [/胸椎/, 'TSPINE'],
  [/腰椎/, 'LSPINE'],
  [/颈/, 'NECK'],
  [/乳腺/, 'BREAST'],
  [/心脏|冠脉|冠状动脉/, 'HEART'],
  [/胸/, 'CHEST'],
  [/腹|肝|胆|胰|脾|肾/, 'ABDOMEN'],
  [/盆腔|骨盆/, 'PELVIS'],
  [/脊柱/, 'SPINE'],
  [/肩/, 'SHOULDER'],
  [/膝/, 'KNEE'],
  [/髋/, 'HIP'],
  [/手|腕/, 'HAND'],
  [/足|踝/, 'FOOT'],
  [/肘/, 'ELBOW'],
];

/** A body part field value: ASCII → upper case (DICOM style); Chinese → its DICOM term when known. */
export function normalizeBodyPart(v: string): string {
  const t = v.trim();
  if (t === '') return '';
  if (!CJK.test(t)) return t.toUpperCase().replace(/\s+/g, '').slice(0, 16);
  return inferBodyPart(t) || t.slice(0, 64);
}

/** Body part from a Chinese item name: 胸部CT平扫 → CHEST, 头颅MR → HEAD. */
export function inferBodyPart(name: string): string {
  for (const [re, part] of BODY_PARTS) if (re.test(name)) return part;
  return '';
}
