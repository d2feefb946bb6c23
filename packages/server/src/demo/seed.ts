/**
 * `huiying demo`: a living demo region in the configured archive — the center 南方医科大学顺德医院
 * 区域医学影像诊断中心 and the member hospitals 陈村医院, 杏坛医院, 大良医院, 均安医院, their AEs, users of
 * every role and grade (one shared DEMO password, no forced change) and studies made from the project's
 * own fixtures, ingested through the normal ingest pipeline. Idempotent: what exists is left alone
 * (hospitals by code, AEs by title, users by username, instances by SOP Instance UID — the UIDs are
 * derived from fixed keys, so a second run finds every instance already stored).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { makeInstance } from '@huiying/dicom/testing';
import type { Archive } from '../app.ts';
import type { Hospital } from '../archive/ports.ts';
import { cliActor } from '../accounts/service.ts';
import { hashPassword, temporaryPassword, assertPasswordPolicy } from '../accounts/passwords.ts';
import type { Grade, Role } from '../accounts/model.ts';

export const CENTER_NAME = '南方医科大学顺德医院 区域医学影像诊断中心';
/** the name ensureInitialAdmin gives the first-run center */
const PLACEHOLDER_CENTER_NAME = '区域医学影像诊断中心';

interface MemberSpec {
  code: string;
  name: string;
  prefix: string;
  charset?: string;
  /** the Specific Character Set of its patients' files */
  fileCharsets: string[];
  patients: { name: string; sex: 'M' | 'F'; birth: string }[];
}

export const MEMBERS: MemberSpec[] = [
  {
    code: 'CHENCUN',
    name: '陈村医院',
    prefix: 'CC',
    charset: 'GB18030',
    fileCharsets: ['GB18030', 'GB18030', 'GBK'],
    patients: [
      { name: 'Chen^Jianguo=陈^建国', sex: 'M', birth: '19580312' },
      { name: 'Liang^Meiling=梁^美玲', sex: 'F', birth: '19720825' },
      { name: 'He^Zhiqiang=何^志强', sex: 'M', birth: '19850117' },
    ],
  },
  {
    code: 'XINGTAN',
    name: '杏坛医院',
    prefix: 'XT',
    fileCharsets: ['GBK', 'ISO_IR 192', 'GB18030'],
    patients: [
      { name: 'Mai^Shufen=麦^淑芬', sex: 'F', birth: '19630704' },
      { name: 'Luo^Guohua=罗^国华', sex: 'M', birth: '19491130' },
      { name: 'Ou^Jiaxin=区^嘉欣', sex: 'F', birth: '19990221' },
    ],
  },
  {
    code: 'DALIANG',
    name: '大良医院',
    prefix: 'DL',
    fileCharsets: ['ISO_IR 192', 'ISO_IR 192', 'GB18030'],
    patients: [
      { name: 'Huang^Weidong=黄^卫东', sex: 'M', birth: '19670409' },
      { name: 'Su^Yuqing=苏^玉清', sex: 'F', birth: '19550918' },
      { name: 'Feng^Haoran=冯^浩然', sex: 'M', birth: '20010606' },
    ],
  },
  {
    code: 'JUNAN',
    name: '均安医院',
    prefix: 'JA',
    fileCharsets: ['GB18030', 'ISO_IR 192', 'GBK'],
    patients: [
      { name: 'Ouyang^Li=欧阳^丽', sex: 'F', birth: '19780214' },
      { name: 'Zeng^Qiming=曾^启明', sex: 'M', birth: '19601023' },
      { name: 'Pan^Xiaohong=潘^晓红', sex: 'F', birth: '19900530' },
    ],
  },
];

interface StudySpec {
  modality: string;
  description: string;
  bodyPart: string;
  series: { description: string; images: number }[];
}

/** the request form's clinical information for each study kind (same order as STUDIES) */
const CLINICAL: {
  history: string;
  symptoms: string;
  diagnosis: string;
  purpose: string;
  department: string;
  priority: 'emergency' | 'routine';
  patientClass: 'outpatient' | 'inpatient' | 'emergency';
}[] = [
  {
    history: '吸烟史30年，慢性支气管炎病史',
    symptoms: '咳嗽、咳痰两周，伴低热',
    diagnosis: '肺部感染？',
    purpose: '明确肺部病变性质',
    department: '呼吸内科',
    priority: 'routine',
    patientClass: 'outpatient',
  },
  {
    history: '高血压病史10年',
    symptoms: '突发头痛伴呕吐2小时',
    diagnosis: '脑血管意外？',
    purpose: '排除颅内出血、脑梗死',
    department: '急诊科',
    priority: 'emergency',
    patientClass: 'emergency',
  },
  {
    history: '无特殊',
    symptoms: '体检',
    diagnosis: '健康查体',
    purpose: '胸部常规检查',
    department: '体检中心',
    priority: 'routine',
    patientClass: 'outpatient',
  },
  {
    history: '乙肝病史5年',
    symptoms: '右上腹隐痛1月',
    diagnosis: '胆囊炎？',
    purpose: '肝胆胰脾检查',
    department: '消化内科',
    priority: 'routine',
    patientClass: 'inpatient',
  },
];

const STUDIES: StudySpec[] = [
  {
    modality: 'CT',
    description: '胸部CT平扫',
    bodyPart: 'CHEST',
    series: [
      { description: '肺窗 5mm', images: 6 },
      { description: '纵隔窗 5mm', images: 6 },
    ],
  },
  {
    modality: 'MR',
    description: '头颅MRI平扫',
    bodyPart: 'HEAD',
    series: [
      { description: 'T1WI 轴位', images: 5 },
      { description: 'T2WI 轴位', images: 5 },
      { description: 'FLAIR 轴位', images: 5 },
    ],
  },
  {
    modality: 'DX',
    description: '胸部正侧位',
    bodyPart: 'CHEST',
    series: [
      { description: '正位', images: 1 },
      { description: '侧位', images: 1 },
    ],
  },
  {
    modality: 'US',
    description: '腹部彩超',
    bodyPart: 'ABDOMEN',
    series: [{ description: '肝胆胰脾', images: 4 }],
  },
];

/** which studies each patient (by index) has */
const PATIENT_STUDIES: number[][] = [
  [0, 2],
  [1, 3],
  [0, 1, 2],
];

export interface DemoUser {
  username: string;
  displayName: string;
  hospital: string;
  roles: Role[];
  grade?: Grade;
}

export function demoUsers(centerCode: string): DemoUser[] {
  const users: DemoUser[] = [
    {
      username: 'sdh.sysadmin',
      displayName: '赵系统(管理员)',
      hospital: centerCode,
      roles: ['system_admin'],
    },
    {
      username: 'sdh.resident',
      displayName: '李明(住院医师)',
      hospital: centerCode,
      roles: ['center_radiologist'],
      grade: 'resident',
    },
    {
      username: 'sdh.attending',
      displayName: '王芳(主治医师)',
      hospital: centerCode,
      roles: ['center_radiologist'],
      grade: 'attending',
    },
    {
      username: 'sdh.associate',
      displayName: '张伟(副主任医师)',
      hospital: centerCode,
      roles: ['center_radiologist'],
      grade: 'associate_chief',
    },
    {
      username: 'sdh.chief',
      displayName: '刘洋(主任医师)',
      hospital: centerCode,
      roles: ['center_radiologist'],
      grade: 'chief',
    },
    { username: 'sdh.qc', displayName: '黄敏(质控)', hospital: centerCode, roles: ['center_qc_manager'] },
    { username: 'sdh.auditor', displayName: '周静(审计)', hospital: centerCode, roles: ['auditor'] },
    {
      username: 'sdh.admin',
      displayName: '吴强(中心管理员)',
      hospital: centerCode,
      roles: ['hospital_admin'],
    },
  ];
  for (const m of MEMBERS) {
    const u = m.code.toLowerCase();
    users.push(
      {
        username: `${u}.tech`,
        displayName: `${m.name} 技师`,
        hospital: m.code,
        roles: ['member_technologist'],
      },
      {
        username: `${u}.doctor`,
        displayName: `${m.name} 临床医生`,
        hospital: m.code,
        roles: ['member_clinician'],
      },
      {
        username: `${u}.admin`,
        displayName: `${m.name} 管理员`,
        hospital: m.code,
        roles: ['hospital_admin'],
      },
    );
  }
  return users;
}

/** A stable UID under 2.25 for a fixed key (the same key → the same UID on every run). */
export function demoUid(key: string): string {
  const hex = createHash('sha256').update(`huiying-demo/${key}`, 'utf8').digest('hex').slice(0, 30);
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

function dicomDate(d: Date): string {
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}

/** A small phantom: an ellipse "body" with a few brighter discs that move from slice to slice. */
function phantom(size: number, slice: number, seed: number): Uint8Array {
  const px = new Uint16Array(size * size);
  const c = size / 2;
  const discs = [0, 1, 2].map((k) => ({
    x: c + Math.cos(seed + k * 2.1) * size * 0.22,
    y: c + Math.sin(seed + k * 2.1) * size * 0.18,
    r: size * (0.06 + 0.02 * Math.sin(slice * 0.7 + k)),
  }));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const e = ((x - c) / (size * 0.45)) ** 2 + ((y - c) / (size * 0.36)) ** 2;
      let v = e <= 1 ? 900 + Math.round(100 * (1 - e)) : 20;
      for (const d of discs) if ((x - d.x) ** 2 + (y - d.y) ** 2 <= d.r * d.r) v = 2200;
      px[y * size + x] = v;
    }
  }
  return new Uint8Array(px.buffer);
}

export interface DemoResult {
  hospitalsCreated: number;
  aesCreated: number;
  usersCreated: number;
  instancesStored: number;
  instancesPresent: number;
  studies: number;
  /** request forms registered by this run (one per demo study, plus one waiting for its images per member) */
  ordersPlaced: number;
  password: string | undefined;
  centerCode: string;
}

export interface DemoOptions {
  /** the shared demo password (default: a random one, printed once) */
  password?: string;
  /** the clock (study dates are within the weeks before it) */
  now?: Date;
  print: (text: string) => void;
}

async function centerHospital(a: Archive): Promise<{ hospital: Hospital; created: boolean }> {
  const all = await a.hospitals.list();
  const firstRun = all.find((h) => h.isCenter && h.code === 'CENTER');
  if (firstRun !== undefined) {
    if (firstRun.name === PLACEHOLDER_CENTER_NAME) {
      await a.database.db
        .updateTable('hospitals')
        .set({ name: CENTER_NAME })
        .where('id', '=', firstRun.id)
        .execute();
      a.ingest.invalidateHospital(firstRun.id);
      return { hospital: { ...firstRun, name: CENTER_NAME }, created: false };
    }
    return { hospital: firstRun, created: false };
  }
  const sdh = await a.hospitals.byCode('SDH_CENTER');
  if (sdh !== undefined) return { hospital: sdh, created: false };
  return {
    hospital: await a.hospitals.create({ code: 'SDH_CENTER', name: CENTER_NAME, isCenter: true }),
    created: true,
  };
}

/** Seed the demo region (idempotent). */
export async function seedDemo(a: Archive, opts: DemoOptions): Promise<DemoResult> {
  const now = opts.now ?? new Date();
  const actor = cliActor('demo');
  const result: DemoResult = {
    hospitalsCreated: 0,
    aesCreated: 0,
    usersCreated: 0,
    instancesStored: 0,
    instancesPresent: 0,
    studies: 0,
    ordersPlaced: 0,
    password: undefined,
    centerCode: '',
  };

  // ---- hospitals ----
  const center = await centerHospital(a);
  if (center.created) result.hospitalsCreated++;
  result.centerCode = center.hospital.code;
  const hospitals = new Map<string, Hospital>([[center.hospital.code, center.hospital]]);
  for (const m of MEMBERS) {
    let h = await a.hospitals.byCode(m.code);
    if (h === undefined) {
      h = await a.hospitals.create({
        code: m.code,
        name: m.name,
        ...(m.charset !== undefined ? { defaultCharset: m.charset } : {}),
      });
      result.hospitalsCreated++;
    }
    hospitals.set(m.code, h);
  }

  // ---- AEs ----
  const aes: { title: string; hospital: string; description: string }[] = [
    { title: 'SDH_PACS', hospital: center.hospital.code, description: '中心 PACS' },
    { title: 'SDH_WS', hospital: center.hospital.code, description: '中心 诊断工作站' },
  ];
  for (const m of MEMBERS)
    aes.push(
      { title: `${m.code}_CT`, hospital: m.code, description: `${m.name} CT` },
      { title: `${m.code}_DR`, hospital: m.code, description: `${m.name} DR` },
      { title: `${m.code}_PACS`, hospital: m.code, description: `${m.name} PACS` },
    );
  for (const ae of aes) {
    if ((await a.aes.byTitle(ae.title)) !== undefined) continue;
    const h = hospitals.get(ae.hospital);
    if (h === undefined) continue;
    await a.aes.create({
      aeTitle: ae.title,
      hospitalId: h.id,
      host: '127.0.0.1',
      description: ae.description,
    });
    result.aesCreated++;
  }

  // ---- users ----
  const users = demoUsers(center.hospital.code);
  const missing: DemoUser[] = [];
  for (const u of users) if ((await a.accounts.users.byUsername(u.username)) === undefined) missing.push(u);
  if (missing.length > 0) {
    const password = opts.password ?? temporaryPassword();
    assertPasswordPolicy(password, 'nobody@huiying');
    const hash = await hashPassword(password);
    for (const u of missing) {
      const h = hospitals.get(u.hospital);
      if (h === undefined) continue;
      const { user } = await a.accounts.createUser(actor, {
        username: u.username,
        displayName: u.displayName,
        hospitalId: h.id,
        roles: u.roles,
        grade: u.grade ?? null,
      });
      // DEMO ONLY: the shared password, no forced change
      await a.accounts.users.setPassword(user.id, hash, false, now);
      result.usersCreated++;
    }
    result.password = password;
  }

  // ---- HL7 senders: each member's HIS sends as MSH-4 = its code ----
  for (const m of MEMBERS) {
    const h = hospitals.get(m.code);
    if (h === undefined) continue;
    await a.database.db
      .insertInto('hl7_senders')
      .values({
        hospital_id: h.id,
        sending_facility: m.code,
        sending_application: '',
        created_at: now.toISOString(),
      })
      .onConflict((oc) => oc.columns(['sending_facility', 'sending_application']).doNothing())
      .execute();
  }

  // ---- studies ----
  let day = 1;
  for (const m of MEMBERS) {
    const h = hospitals.get(m.code);
    if (h === undefined) continue;
    for (const [pi, p] of m.patients.entries()) {
      const patientId = `${m.prefix}${String(pi + 1).padStart(6, '0')}`;
      const charset = m.fileCharsets[pi] ?? 'ISO_IR 192';
      for (const si of PATIENT_STUDIES[pi] ?? []) {
        const st = STUDIES[si];
        if (st === undefined) continue;
        result.studies++;
        const key = `${m.code}/${patientId}/${si}`;
        const studyUid = demoUid(key);
        const date = new Date(now.getTime() - ((day * 3) % 40) * 86400_000);
        day++;
        const accession = `${m.prefix}${dicomDate(date).slice(2)}${String(si + 1).padStart(2, '0')}${pi + 1}`;
        // the request form first (as the member hospital's HIS sends it); the images below then match it
        const clinical = CLINICAL[si];
        if (clinical !== undefined && (await a.ris.findExamByAccession(h.id, accession)) === undefined) {
          await a.ris.placeOrder(
            {
              hospitalId: h.id,
              patient: { patientId, name: p.name, sex: p.sex, birthDate: p.birth },
              accessionNumber: accession,
              examItems: [{ code: `${st.modality}${String(si + 1).padStart(3, '0')}`, name: st.description }],
              modality: st.modality,
              bodyPart: st.bodyPart,
              priority: clinical.priority,
              patientClass: clinical.patientClass,
              clinicalHistory: clinical.history,
              symptoms: clinical.symptoms,
              clinicalDiagnosis: clinical.diagnosis,
              examPurpose: clinical.purpose,
              requestingDepartment: clinical.department,
              requestingPhysician: '门诊医生',
              source: 'hl7',
            },
            { type: 'system', name: 'demo' },
          );
          result.ordersPlaced++;
        }
        for (const [ri, series] of st.series.entries()) {
          const seriesUid = demoUid(`${key}/${ri}`);
          for (let n = 1; n <= series.images; n++) {
            const sopUid = demoUid(`${key}/${ri}/${n}`);
            if ((await a.index.findInstance(h.id, sopUid)) !== undefined) {
              result.instancesPresent++;
              continue;
            }
            const size = st.modality === 'DX' ? 192 : 128;
            const bytes = makeInstance({
              patientName: p.name,
              patientId,
              patientBirthDate: p.birth,
              patientSex: p.sex,
              studyUid,
              seriesUid,
              sopUid,
              modality: st.modality,
              charset,
              studyDate: dicomDate(date),
              studyTime: `${String(8 + (day % 9)).padStart(2, '0')}${String((pi * 17) % 60).padStart(2, '0')}00`,
              studyDescription: st.description,
              seriesDescription: series.description,
              accessionNumber: accession,
              institutionName: m.name,
              referringPhysicianName: '门诊^医生=门诊^医生',
              bodyPartExamined: st.bodyPart,
              studyId: String(si + 1),
              seriesNumber: ri + 1,
              instanceNumber: n,
              rows: size,
              cols: size,
              pixelBytes: phantom(size, n, pi * 3 + si + ri),
              sourceAeTitle: `${m.code}_${st.modality === 'DX' ? 'DR' : 'CT'}`,
            });
            await a.ingest.ingestPart10Stream({
              hospitalId: h.id,
              source: 'import',
              data: Readable.from([Buffer.from(bytes)]),
            });
            result.instancesStored++;
          }
        }
      }
    }
  }
  // one order per member still waiting for its images (已登记)
  for (const m of MEMBERS) {
    const h = hospitals.get(m.code);
    const p = m.patients[0];
    if (h === undefined || p === undefined) continue;
    const accession = `${m.prefix}WAIT01`;
    if ((await a.ris.findExamByAccession(h.id, accession)) !== undefined) continue;
    await a.ris.placeOrder(
      {
        hospitalId: h.id,
        patient: { patientId: `${m.prefix}000001`, name: p.name, sex: p.sex, birthDate: p.birth },
        accessionNumber: accession,
        examItems: [{ code: 'CT101', name: '上腹部CT增强' }],
        modality: 'CT',
        bodyPart: 'ABDOMEN',
        priority: 'routine',
        patientClass: 'inpatient',
        clinicalHistory: '肝功能异常',
        symptoms: '乏力、纳差',
        clinicalDiagnosis: '肝占位？',
        examPurpose: '明确肝脏病变',
        requestingDepartment: '肝胆外科',
        requestingPhysician: '住院医生',
        source: 'hl7',
      },
      { type: 'system', name: 'demo' },
    );
    result.ordersPlaced++;
  }

  // the demo studies are complete: they settle now (已检查 → 已匹配 with their orders)
  await a.ris.tick({ settleAll: true });
  return result;
}

/** The text `huiying demo` prints. */
export function demoReport(r: DemoResult, httpPort: number): string {
  const lines = [
    '',
    '================================================================',
    ' Huiying demo region (DEMO ONLY — never use these accounts in production)',
    '================================================================',
    ` hospitals created: ${r.hospitalsCreated}, AEs created: ${r.aesCreated}, users created: ${r.usersCreated}`,
    ` demo studies: ${r.studies} (instances stored now: ${r.instancesStored}, already present: ${r.instancesPresent}), orders placed now: ${r.ordersPlaced}`,
    '',
    ' username            hospital     roles                          grade',
  ];
  for (const u of demoUsers(r.centerCode))
    lines.push(
      ` ${u.username.padEnd(19)} ${u.hospital.padEnd(12)} ${u.roles.join(',').padEnd(30)} ${u.grade ?? ''}`,
    );
  lines.push('');
  if (r.password !== undefined)
    lines.push(
      ` DEMO ONLY shared password for the users created now: ${r.password}`,
      ' (shown only this once; no password change is forced for demo users)',
    );
  else
    lines.push(' The demo users already existed: their password is the one printed when they were created.');
  lines.push(
    '',
    ' Open it:',
    '   npx huiying serve',
    `   web app:   http://localhost:${httpPort}/   (log in as e.g. sdh.attending or chencun.doctor)`,
    `   viewer:    http://localhost:${httpPort}/viewer/`,
    `   DICOMweb:  http://localhost:${httpPort}/dicomweb/studies`,
    '================================================================',
    '',
  );
  return lines.join('\n');
}
