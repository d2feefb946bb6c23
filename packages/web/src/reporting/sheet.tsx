/**
 * The report as printed: the member hospital's standardized header (logo, title lines, the patient/exam
 * fields its configuration selects), findings, impression, recommendation, result flags, correction note,
 * addenda, signatures and footer — the same layout and the same Chinese labels as the server's PDF
 * (packages/server/src/reporting/pdf.ts), on an A4 sheet with print CSS. Used by the print view and by
 * the header administration preview.
 */
import type { ReactNode } from 'react';
import type { Exam } from '../ris.ts';
import { personName } from '../ris.ts';
import type { HeaderField, ReportHeaderConfig, ReportVersion } from './api.ts';
import { structuredEntries } from './structured.ts';

/** The printed report is a Chinese medical document: its labels are fixed, as in the PDF. */
export const FIELD_LABELS: Record<HeaderField, string> = {
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

const pad = (n: number): string => String(n).padStart(2, '0');

/** Local date (and time) as printed: 2026-11-26 09:30. */
export function printTime(iso: string | null | undefined, withTime = true): string {
  if (iso == null || iso === '') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return withTime ? `${date} ${pad(d.getHours())}:${pad(d.getMinutes())}` : date;
}

/** 岁 / 月 / 天 as Chinese reports print ages (same rule as the PDF). */
export function printedAge(birthDate: string | null, at: string): string {
  if (birthDate === null) return '';
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(birthDate);
  if (m === null) return '';
  const by = Number(m[1]);
  const bm = Number(m[2]);
  const bd = Number(m[3]);
  const d = new Date(at);
  let years = d.getUTCFullYear() - by;
  if (d.getUTCMonth() + 1 < bm || (d.getUTCMonth() + 1 === bm && d.getUTCDate() < bd)) years--;
  if (years >= 1) return `${years}岁`;
  const days = Math.floor((d.getTime() - Date.UTC(by, bm - 1, bd)) / 86_400_000);
  return days >= 30 ? `${Math.floor(days / 30)}月` : `${Math.max(days, 0)}天`;
}

export function fieldValue(f: HeaderField, exam: Exam, v: ReportVersion): string {
  switch (f) {
    case 'patientName':
      return personName(exam.patient.name);
    case 'sex':
      return exam.patient.sex === 'M'
        ? '男'
        : exam.patient.sex === 'F'
          ? '女'
          : exam.patient.sex === 'O'
            ? '其他'
            : '';
    case 'age':
      return printedAge(exam.patient.birthDate, exam.examinedAt ?? exam.registeredAt);
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
      return printTime(exam.examinedAt ?? exam.scheduledAt ?? exam.registeredAt, false);
    case 'reportDate':
      return printTime(v.signedAt ?? v.updatedAt);
  }
}

/**
 * The addenda printed with a version: those signed after the newest final/correction up to this
 * version (as the server's documents.ts chooses them for the PDF).
 */
export function addendaFor(all: readonly ReportVersion[], v: ReportVersion): ReportVersion[] {
  const base = all
    .filter((x) => (x.kind === 'final' || x.kind === 'correction') && x.number <= v.number)
    .pop();
  return all.filter(
    (x) => x.kind === 'addendum' && x.number <= v.number && (base === undefined || x.number > base.number),
  );
}

/**
 * The version whose signatures a printed version carries: for an addendum, the final report (or
 * correction) it adds to — its author and reviewer signed the report; each addendum line names its own
 * signer. Otherwise the version itself.
 */
export function baseOf(all: readonly ReportVersion[], v: ReportVersion): ReportVersion {
  if (v.kind !== 'addendum') return v;
  return all.filter((x) => (x.kind === 'final' || x.kind === 'correction') && x.number < v.number).pop() ?? v;
}

function Section({ label, body, testId }: { label: string; body: string; testId: string }): ReactNode {
  if (body.trim() === '') return null;
  return (
    <section className="hy-sheet-section">
      <h3>{label}</h3>
      <div className="hy-sheet-text" data-testid={testId}>
        {body}
      </div>
    </section>
  );
}

export function ReportSheet({
  header,
  exam,
  version: v,
  addenda,
  base,
}: {
  header: ReportHeaderConfig;
  exam: Exam;
  version: ReportVersion;
  addenda: ReportVersion[];
  /** the signed report an addendum belongs to (signatures); default: the version itself */
  base?: ReportVersion;
}) {
  const signed = base ?? v;
  const reviewer = signed.reviewer?.name ?? signed.signedBy?.name ?? '';
  const structured = structuredEntries(v.structured);
  return (
    <div className="hy-print-sheet" data-testid="report-sheet" lang="zh-CN">
      {v.signedAt === null && (
        <div className="hy-sheet-watermark" data-testid="sheet-watermark">
          初步报告 · 未签发
        </div>
      )}
      <header className="hy-sheet-header">
        <div className="hy-sheet-logo">
          {header.logoPngBase64 !== null && header.logoPngBase64 !== '' && (
            <img src={`data:image/png;base64,${header.logoPngBase64}`} alt="logo" data-testid="sheet-logo" />
          )}
        </div>
        <div className="hy-sheet-lines" data-testid="sheet-header-lines">
          {header.lines.map((l, i) => (
            <div key={i} className={`hy-sheet-line hy-sheet-line-${Math.min(i, 2)}`}>
              {l}
            </div>
          ))}
        </div>
        <div className="hy-sheet-logo" />
      </header>
      <div className="hy-sheet-fields" data-testid="sheet-fields">
        {header.fields.map((f) => (
          <div key={f} className="hy-sheet-field" data-field={f}>
            <span className="hy-sheet-label">{FIELD_LABELS[f]}：</span>
            {fieldValue(f, exam, v)}
          </div>
        ))}
      </div>
      <main className="hy-sheet-body">
        <Section label="影像所见：" body={v.findings} testId="sheet-findings" />
        <Section label="诊断意见：" body={v.impression} testId="sheet-impression" />
        <Section label="建议：" body={v.recommendation} testId="sheet-recommendation" />
        {structured.length > 0 && (
          <section className="hy-sheet-section">
            <div className="hy-sheet-text">
              {structured.map(([k, val]) => (
                <span key={k} style={{ marginRight: 24 }}>
                  {k}：{val}
                </span>
              ))}
            </div>
          </section>
        )}
        <div className={`hy-sheet-flags${v.critical ? ' hy-sheet-critical' : ''}`} data-testid="sheet-flags">
          结果：{v.positive ? '阳性' : '阴性'}
          {v.critical && <span style={{ marginLeft: 16 }}>危急值</span>}
        </div>
        {v.kind === 'correction' && v.reason !== null && (
          <div className="hy-sheet-note" data-testid="sheet-correction">
            更正报告（原因：{v.reason}）
          </div>
        )}
        {addenda.map((a) =>
          a.addendum === null ? null : (
            <Section
              key={a.id}
              label={`补充报告（${printTime(a.signedAt)} ${a.signedBy?.name ?? ''}）：`}
              body={a.addendum}
              testId="sheet-addendum"
            />
          ),
        )}
        <div className="hy-sheet-signatures" data-testid="sheet-signatures">
          <div>报告医师：{signed.author.name}</div>
          <div>审核医师：{reviewer}</div>
          <div>报告时间：{printTime(signed.signedAt ?? signed.updatedAt)}</div>
          {signed.signedBy !== null && signed.signedAt !== null && (
            <div className="hy-sheet-esign">
              电子签名：{signed.signedBy.name} {printTime(signed.signedAt)}
            </div>
          )}
        </div>
      </main>
      <footer className="hy-sheet-footer">
        {header.footer !== '' && <div data-testid="sheet-footer">{header.footer}</div>}
        {v.contentHash !== null && <div className="hy-sheet-hash">SHA-256 {v.contentHash.slice(0, 16)}…</div>}
      </footer>
    </div>
  );
}
