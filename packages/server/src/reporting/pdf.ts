/**
 * The report as PDF: the hospital's standardized header (logo, title lines such as the hospital name and
 * "区域医学影像诊断中心"), the patient/exam fields the header configuration selects, findings, impression,
 * recommendation, flags, addenda or the correction note, signer/reviewer/time and the footer with page
 * numbers and the signature hash. Fonts: Noto Sans SC Regular and Bold (OFL), embedded as subsets by
 * pdfkit (CID TrueType, Identity-H, with ToUnicode), so the text extracts exactly.
 *
 * An unsigned version (a preliminary preview) carries the watermark 初步报告 · 未签发.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import type { Exam } from '../ris/model.ts';
import type { HeaderField, ReportHeaderConfig, ReportVersion } from './model.ts';

const require = createRequire(import.meta.url);
const FONT_REGULAR = require.resolve('@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf');
const FONT_BOLD = require.resolve('@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf');

/** the two TTFs (10.5 MB each), read once */
let fontBytes: { regular: Buffer; bold: Buffer } | undefined;
function fonts(): { regular: Buffer; bold: Buffer } {
  fontBytes ??= { regular: readFileSync(FONT_REGULAR), bold: readFileSync(FONT_BOLD) };
  return fontBytes;
}

export interface PdfInput {
  header: ReportHeaderConfig;
  exam: Exam;
  /** the version to render (normally signed) */
  version: ReportVersion;
  /** earlier addenda to print under the report (oldest first), including `version` if it is one */
  addenda?: ReportVersion[];
  /** IANA zone for printed times (default Asia/Shanghai) */
  timeZone?: string;
}

const FIELD_LABELS: Record<HeaderField, string> = {
  patientName: '姓名',
  sex: '性别',
  age: '年龄',
  patientId: '病人编号',
  accessionNumber: '检查号',
  modality: '检查类型',
  bodyPart: '检查部位',
  examItems: '检查项目',
  requestingDepartment: '申请科室',
  requestingPhysician: '申请医生',
  patientClass: '病人类型',
  clinicalDiagnosis: '临床诊断',
  examDate: '检查日期',
  reportDate: '报告日期',
};

const PATIENT_CLASS: Record<string, string> = {
  outpatient: '门诊',
  inpatient: '住院',
  emergency: '急诊',
  physical_exam: '体检',
};

function formatTime(iso: string | null, tz: string, withTime = true): string {
  if (iso === null) return '';
  const d = new Date(iso);
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(d);
  const p = (t: string): string => parts.find((x) => x.type === t)?.value ?? '';
  const date = `${p('year')}-${p('month')}-${p('day')}`;
  return withTime ? `${date} ${p('hour')}:${p('minute')}` : date;
}

/** 岁 / 月 / 天 as Chinese reports print ages. */
export function ageOf(birthDate: string | null, at: string): string {
  if (birthDate === null || !/^\d{8}$/.test(birthDate)) return '';
  const by = Number(birthDate.slice(0, 4));
  const bm = Number(birthDate.slice(4, 6));
  const bd = Number(birthDate.slice(6, 8));
  const d = new Date(at);
  let years = d.getUTCFullYear() - by;
  if (d.getUTCMonth() + 1 < bm || (d.getUTCMonth() + 1 === bm && d.getUTCDate() < bd)) years--;
  if (years >= 1) return `${years}岁`;
  const days = Math.floor((d.getTime() - Date.UTC(by, bm - 1, bd)) / 86400000);
  return days >= 30 ? `${Math.floor(days / 30)}月` : `${Math.max(days, 0)}天`;
}

/** A DICOM PN (Zhang^San=张^三) or plain name → what a Chinese report prints (张三). */
export function displayName(pn: string): string {
  const groups = pn.split('=');
  const ideographic = groups[1]?.replace(/\^/g, '') ?? '';
  if (ideographic !== '') return ideographic;
  return (groups[0] ?? '').replace(/\^/g, ' ').trim();
}

function fieldValue(f: HeaderField, exam: Exam, v: ReportVersion, tz: string): string {
  switch (f) {
    case 'patientName':
      return displayName(exam.patient.name);
    case 'sex':
      return exam.patient.sex === 'M'
        ? '男'
        : exam.patient.sex === 'F'
          ? '女'
          : exam.patient.sex === 'O'
            ? '其他'
            : '';
    case 'age':
      return ageOf(exam.patient.birthDate, exam.examinedAt ?? exam.registeredAt);
    case 'patientId':
      return exam.patient.patientId;
    case 'accessionNumber':
      return exam.accessionNumber;
    case 'modality':
      return exam.modality;
    case 'bodyPart':
      return exam.bodyPart ?? '';
    case 'examItems':
      return exam.examItems.map((i) => i.name).join('、');
    case 'requestingDepartment':
      return exam.requestingDepartment ?? '';
    case 'requestingPhysician':
      return exam.requestingPhysician ?? '';
    case 'patientClass':
      return exam.patientClass === null ? '' : (PATIENT_CLASS[exam.patientClass] ?? exam.patientClass);
    case 'clinicalDiagnosis':
      return exam.clinicalDiagnosis ?? '';
    case 'examDate':
      return formatTime(exam.examinedAt ?? exam.scheduledAt ?? exam.registeredAt, tz, false);
    case 'reportDate':
      return formatTime(v.signedAt ?? v.updatedAt, tz);
  }
}

const MARGIN = 50;
const PAGE_W = 595.28;
const PAGE_H = 841.89;
const CONTENT_W = PAGE_W - 2 * MARGIN;
const FOOTER_H = 46;

/** Render the version to a PDF (A4). */
export async function renderReportPdf(input: PdfInput): Promise<Buffer> {
  const { header, exam, version: v } = input;
  const tz = input.timeZone ?? 'Asia/Shanghai';
  const title = `${header.lines[0] ?? ''} ${exam.accessionNumber} ${displayName(exam.patient.name)}`.trim();
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN + FOOTER_H, left: MARGIN, right: MARGIN },
    bufferPages: true,
    info: {
      Title: title,
      Author: v.signedBy?.name ?? v.author.name,
      Subject: '影像诊断报告 Imaging report',
      Creator: 'Huiying 汇影',
      Producer: 'Huiying 汇影',
      ...(v.signedAt !== null ? { CreationDate: new Date(v.signedAt) } : {}),
    },
    lang: 'zh-CN',
  });
  doc.registerFont('R', fonts().regular);
  doc.registerFont('B', fonts().bold);
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  // ---- header: logo + title lines
  let y = MARGIN;
  if (header.logoPngBase64 !== null && header.logoPngBase64 !== '') {
    try {
      doc.image(Buffer.from(header.logoPngBase64, 'base64'), MARGIN, y, { fit: [56, 56] });
    } catch {
      // an unreadable logo never blocks a report
    }
  }
  header.lines.forEach((line, i) => {
    const size = i === 0 ? 18 : i === 1 ? 14 : 13;
    doc
      .font(i < 2 ? 'B' : 'R')
      .fontSize(size)
      .fillColor('#000');
    doc.text(line, MARGIN + 60, y, { width: CONTENT_W - 120, align: 'center' });
    y = doc.y + 2;
  });
  y = Math.max(y, MARGIN + 60) + 4;
  doc
    .moveTo(MARGIN, y)
    .lineTo(PAGE_W - MARGIN, y)
    .lineWidth(1)
    .stroke('#000');
  y += 8;

  // ---- patient / exam fields: three columns
  doc.font('R').fontSize(10);
  const colW = CONTENT_W / 3;
  const fields = header.fields.map((f) => ({ label: FIELD_LABELS[f], value: fieldValue(f, exam, v, tz) }));
  for (let i = 0; i < fields.length; i += 3) {
    let rowH = 0;
    for (let c = 0; c < 3; c++) {
      const fld = fields[i + c];
      if (fld === undefined) continue;
      const text = `${fld.label}：${fld.value}`;
      const h = doc.heightOfString(text, { width: colW - 6 });
      doc.text(text, MARGIN + c * colW, y, { width: colW - 6 });
      rowH = Math.max(rowH, h);
    }
    y += rowH + 4;
  }
  doc
    .moveTo(MARGIN, y)
    .lineTo(PAGE_W - MARGIN, y)
    .lineWidth(0.5)
    .stroke('#000');
  y += 10;
  doc.x = MARGIN;
  doc.y = y;

  const section = (label: string, body: string): void => {
    if (body.trim() === '') return;
    doc.moveDown(0.3);
    doc.font('B').fontSize(12).text(label, MARGIN, doc.y, { width: CONTENT_W });
    doc.moveDown(0.2);
    doc.font('R').fontSize(11).text(body, MARGIN, doc.y, { width: CONTENT_W, lineGap: 3 });
    doc.moveDown(0.6);
  };
  section('影像所见：', v.findings);
  section('诊断意见：', v.impression);
  section('建议：', v.recommendation);

  const flags = [v.positive ? '阳性' : '阴性', ...(v.critical ? ['危急值'] : [])];
  doc
    .font('B')
    .fontSize(10)
    .fillColor(v.critical ? '#b00000' : '#000');
  doc.text(`结果：${flags.join('  ')}`, MARGIN, doc.y, { width: CONTENT_W });
  doc.fillColor('#000');
  doc.moveDown(0.6);

  if (v.kind === 'correction' && v.reason !== null) {
    doc.font('B').fontSize(10).text(`更正报告（原因：${v.reason}）`, MARGIN, doc.y, { width: CONTENT_W });
    doc.moveDown(0.4);
  }
  const addenda = input.addenda ?? (v.kind === 'addendum' ? [v] : []);
  for (const a of addenda) {
    if (a.addendum === null) continue;
    section(`补充报告（${formatTime(a.signedAt, tz)} ${a.signedBy?.name ?? ''}）：`, a.addendum);
  }

  // ---- signatures
  doc.moveDown(0.8);
  const sigY = doc.y;
  doc.font('R').fontSize(10);
  doc.text(`报告医师：${v.author.name}`, MARGIN, sigY, { width: colW });
  const reviewer = v.reviewer?.name ?? v.signedBy?.name ?? '';
  doc.text(`审核医师：${reviewer}`, MARGIN + colW, sigY, { width: colW });
  doc.text(`报告时间：${formatTime(v.signedAt ?? v.updatedAt, tz)}`, MARGIN + 2 * colW, sigY, {
    width: colW,
  });
  if (v.signedBy !== null && v.signedAt !== null) {
    doc.moveDown(0.3);
    doc.text(`电子签名：${v.signedBy.name} ${formatTime(v.signedAt, tz)}`, MARGIN, doc.y, {
      width: CONTENT_W,
    });
  }

  // ---- watermark (unsigned) and footer on every page
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    if (v.signedAt === null) {
      doc.save();
      doc.font('B').fontSize(48).fillColor('#cc0000').opacity(0.15);
      doc.text('初步报告 · 未签发', 0, PAGE_H / 2 - 30, { width: PAGE_W, align: 'center', lineBreak: false });
      doc.restore();
      doc.opacity(1).fillColor('#000');
    }
    const fy = PAGE_H - MARGIN - FOOTER_H + 8;
    doc
      .moveTo(MARGIN, fy)
      .lineTo(PAGE_W - MARGIN, fy)
      .lineWidth(0.5)
      .stroke('#000');
    doc.font('R').fontSize(8).fillColor('#000');
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    if (header.footer !== '') doc.text(header.footer, MARGIN, fy + 4, { width: CONTENT_W, align: 'center' });
    const hash = v.contentHash === null ? '' : `SHA-256 ${v.contentHash.slice(0, 16)}…  `;
    doc.text(`${hash}第 ${i - range.start + 1} 页 / 共 ${range.count} 页`, MARGIN, fy + 18, {
      width: CONTENT_W,
      align: 'right',
    });
    doc.page.margins.bottom = bottom;
  }
  doc.end();
  return done;
}
