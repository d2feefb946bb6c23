import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { needCommand } from '../testing/peers.ts';
import type { Exam } from '../ris/model.ts';
import { defaultHeader, type ReportVersion } from './model.ts';
import { ageOf, displayName, renderReportPdf } from './pdf.ts';

const skip = needCommand('pdftotext') || needCommand('pdffonts');

export function sampleExam(over: Partial<Exam> = {}): Exam {
  const at = '2026-03-02T01:30:00.000Z';
  return {
    id: 7,
    hospitalId: 2,
    hospitalName: '陈村医院',
    patient: {
      id: 1,
      hospitalId: 2,
      patientId: 'P0001',
      issuer: 'CHENCUN',
      name: 'Zhang^Sanfeng=张^三丰',
      sex: 'M',
      birthDate: '19800315',
      phone: null,
      mergedInto: null,
      createdAt: at,
      updatedAt: at,
    },
    accessionNumber: 'CC20260302001',
    placerOrderNumber: 'ORD-9',
    examItems: [{ name: '胸部CT平扫' }, { name: '上腹部CT平扫' }],
    modality: 'CT',
    bodyPart: 'CHEST',
    priority: 'routine',
    patientClass: 'inpatient',
    complex: false,
    clinicalHistory: null,
    symptoms: null,
    clinicalDiagnosis: '咳嗽待查',
    examPurpose: null,
    requestingDepartment: '呼吸内科',
    requestingPhysician: '刘医生',
    scheduledAt: null,
    source: 'hl7',
    status: 'reviewed',
    statusAt: at,
    registeredAt: at,
    examinedAt: at,
    matchedAt: at,
    reportedAt: at,
    reviewedAt: at,
    studyId: 3,
    studyInstanceUid: '1.2.826.0.1.3680043.8.498.1',
    readAtCenter: true,
    reviewRequired: true,
    limitMinutes: 360,
    dueAt: null,
    assignedTo: null,
    assignedAt: null,
    identityConflict: null,
    version: 5,
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

export function sampleVersion(over: Partial<ReportVersion> = {}): ReportVersion {
  const at = '2026-03-02T03:04:00.000Z';
  return {
    id: 11,
    reportId: 4,
    number: 3,
    kind: 'final',
    findings: '双肺纹理清晰，右肺上叶尖段见一磨玻璃结节，大小约8mm×6mm。纵隔内未见肿大淋巴结。',
    impression: '右肺上叶尖段磨玻璃结节，建议6个月后复查。',
    recommendation: '随访胸部CT。',
    positive: true,
    critical: false,
    structured: {},
    addendum: null,
    author: { userId: 2, name: '李住院' },
    reviewer: { userId: 3, name: '王主治' },
    reviewOpinion: null,
    signedBy: { userId: 3, name: '王主治' },
    signedAt: at,
    contentHash: 'ab'.repeat(32),
    reason: null,
    basedOn: 10,
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

/** A 2×2 red PNG (valid CRCs), the logo. */
function tinyPng(): string {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer): number => {
    let c = 0xffffffff;
    for (const x of b) c = (crcTable[(c ^ x) & 0xff] ?? 0) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0);
  ihdr.writeUInt32BE(2, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.from([0, 255, 0, 0, 255, 0, 0, 0, 255, 0, 0, 255, 0, 0]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]).toString('base64');
}

function squash(s: string): string {
  return s.replace(/\s+/g, '');
}

test('age and names as a Chinese report prints them', () => {
  assert.equal(ageOf('19800315', '2026-03-02T00:00:00Z'), '45岁');
  assert.equal(ageOf('19800301', '2026-03-02T00:00:00Z'), '46岁');
  assert.equal(ageOf('20260101', '2026-03-02T00:00:00Z'), '2月');
  assert.equal(ageOf('20260225', '2026-03-02T00:00:00Z'), '5天');
  assert.equal(displayName('Zhang^Sanfeng=张^三丰'), '张三丰');
  assert.equal(displayName('李四'), '李四');
  assert.equal(displayName('Wang^Wu'), 'Wang Wu');
});

test(
  'PDF: header lines, fields, findings and impression extract exactly; Noto Sans SC embedded as subsets',
  { skip },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hy-pdf-'));
    try {
      const header = {
        ...defaultHeader(2, '南方医科大学顺德医院陈村分院'),
        logoPngBase64: tinyPng(),
        fields: [
          'patientName',
          'sex',
          'age',
          'patientId',
          'accessionNumber',
          'examItems',
          'requestingDepartment',
          'patientClass',
        ] as const,
        footer: '本报告仅供临床参考。',
      };
      const v = sampleVersion();
      const pdf = await renderReportPdf({
        header: { ...header, fields: [...header.fields] },
        exam: sampleExam(),
        version: v,
      });
      assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
      const file = join(dir, 'r.pdf');
      await writeFile(file, pdf);
      const text = execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8' });
      const lines = text.split('\n').map((l) => l.trim());
      assert.ok(lines.includes('南方医科大学顺德医院陈村分院'), text);
      assert.ok(lines.includes('区域医学影像诊断中心'), text);
      assert.ok(lines.includes('影像诊断报告单'), text);
      const flat = squash(text);
      assert.ok(flat.includes(squash(v.findings)), text);
      assert.ok(flat.includes(squash(v.impression)), text);
      for (const s of [
        '姓名：张三丰',
        '性别：男',
        '年龄：45岁',
        '检查号：CC20260302001',
        '检查项目：胸部CT平扫、上腹部CT平扫',
        '病人类型：住院',
        '报告医师：李住院',
        '审核医师：王主治',
        '结果：阳性',
        '第1页/共1页',
        '本报告仅供临床参考。',
      ]) {
        assert.ok(flat.includes(squash(s)), `${s} in ${text}`);
      }
      assert.ok(flat.includes('报告时间：2026-03-0211:04'), text); // Asia/Shanghai
      assert.ok(!flat.includes('未签发'));
      const fonts = execFileSync('pdffonts', [file], { encoding: 'utf8' });
      assert.match(fonts, /NotoSansSC-Regular/);
      assert.match(fonts, /NotoSansSC-Bold/);
      // emb sub uni = yes yes yes for every font
      for (const line of fonts
        .split('\n')
        .slice(2)
        .filter((l) => l.trim() !== ''))
        assert.match(line, /yes\s+yes\s+yes/, line);
      assert.ok(pdf.length < 200_000, `size ${pdf.length}`);

      // an unsigned preview carries the watermark; an addendum and a correction print their parts
      const prev = await renderReportPdf({
        header: { ...header, fields: [...header.fields] },
        exam: sampleExam(),
        version: sampleVersion({
          kind: 'preliminary',
          signedAt: null,
          signedBy: null,
          contentHash: null,
          reviewer: null,
        }),
      });
      await writeFile(file, prev);
      assert.ok(
        squash(execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' })).includes('初步报告·未签发'),
      );
      const cor = await renderReportPdf({
        header: { ...header, fields: [...header.fields] },
        exam: sampleExam(),
        version: sampleVersion({ kind: 'correction', reason: '测量值笔误' }),
        addenda: [sampleVersion({ kind: 'addendum', addendum: '补充：左肺下叶钙化灶。' })],
      });
      await writeFile(file, cor);
      const ct = squash(execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' }));
      assert.ok(ct.includes('更正报告（原因：测量值笔误）'), ct);
      assert.ok(ct.includes('补充：左肺下叶钙化灶。'), ct);

      // a long report flows onto a second page with page numbers
      const long = await renderReportPdf({
        header: { ...header, fields: [...header.fields] },
        exam: sampleExam(),
        version: sampleVersion({
          findings: Array.from(
            { length: 60 },
            (_, i) => `第${i + 1}行：肝脏形态大小正常，实质密度均匀。`,
          ).join('\n'),
        }),
      });
      await writeFile(file, long);
      const lt = squash(execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' }));
      const pages = Number(/共(\d+)页/.exec(lt)?.[1]);
      assert.ok(pages >= 2, lt.slice(-300));
      assert.ok(lt.includes(`第${pages}页/共${pages}页`), lt.slice(-300));
      assert.ok(lt.includes('第60行：肝脏形态大小正常，实质密度均匀。'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
