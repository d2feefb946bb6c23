/**
 * 打印 — the report's print view (`/exams/:id/report/print[?version=N]`): the member hospital's
 * standardized header and the report on an A4 sheet; 打印 uses the browser's print dialog with A4 print CSS
 * (only the sheet is printed), 下载 PDF fetches the server's PDF of the same version. Without `version` it
 * shows the newest signed version (or, for readers, a watermarked preview of the unsigned text); a
 * member-hospital user sees signed versions only.
 */
import { useEffect, useState } from 'react';
import { Alert, Button, Result, Select, Space, Spin, Typography } from 'antd';
import { ArrowLeftOutlined, FilePdfOutlined, PrinterOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { api } from '../api.ts';
import type { ExamDetail } from '../ris.ts';
import {
  localMessage,
  reportApi,
  SIGNED_KINDS,
  type ReportHeaderConfig,
  type VersionWithDiff,
} from './api.ts';
import { addendaFor, baseOf, ReportSheet } from './sheet.tsx';
import './reporting.css';

export function ReportPrintPage() {
  const { id } = useParams();
  const examId = Number(id);
  const [params, setParams] = useSearchParams();
  const { t, i18n } = useTranslation();
  const navigate = useNavigate();
  const [data, setData] = useState<{
    detail: ExamDetail;
    versions: VersionWithDiff[];
    header: ReportHeaderConfig;
  } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let gone = false;
    void (async () => {
      try {
        const detail = await api<ExamDetail>('GET', `/api/exams/${examId}`);
        const [state, h, header] = await Promise.all([
          reportApi.get(examId),
          reportApi.versions(examId),
          reportApi.header(detail.exam.hospitalId),
        ]);
        const reader = state.may.write || state.may.review || state.may.sign;
        // member-hospital users print final reports only
        const versions = reader ? h.versions : h.versions.filter((v) => SIGNED_KINDS.includes(v.kind));
        if (!gone) setData({ detail, versions, header: header.header });
      } catch (err) {
        if (!gone) setError(localMessage(err, i18n.language));
      }
    })();
    return () => {
      gone = true;
    };
  }, [examId, i18n.language]);

  if (error !== null)
    return <Result status="warning" title={t('rp.printView.unavailable')} subTitle={error} />;
  if (data === null)
    return (
      <div style={{ display: 'flex', justifyContent: 'center', marginTop: 80 }}>
        <Spin />
      </div>
    );

  const signed = data.versions.filter((v) => SIGNED_KINDS.includes(v.kind));
  const wanted = params.get('version');
  const byNumber = wanted !== null ? data.versions.find((v) => v.number === Number(wanted)) : undefined;
  const version = byNumber ?? signed[signed.length - 1] ?? data.versions[data.versions.length - 1];
  if (version === undefined)
    return <Result status="info" title={t('rp.notFinal')} data-testid="print-no-report" />;
  const choices = data.versions.filter((v) => v.kind !== 'draft' || v === version);

  return (
    <div className="hy-print-page" data-testid="print-page">
      <div className="hy-noprint hy-print-toolbar">
        <Space wrap>
          <Button icon={<ArrowLeftOutlined />} onClick={() => void navigate(`/exams/${examId}`)}>
            {t('rp.printView.back')}
          </Button>
          <Button
            type="primary"
            icon={<PrinterOutlined />}
            onClick={() => window.print()}
            data-testid="print-button"
            autoFocus
          >
            {t('rp.print')}
          </Button>
          <Button
            icon={<FilePdfOutlined />}
            href={reportApi.pdfUrl(examId, version.number)}
            target="_blank"
            rel="noopener"
            data-testid="print-pdf"
          >
            {t('rp.pdf')}
          </Button>
          <Typography.Text>{t('rp.printView.version')}</Typography.Text>
          <Select
            style={{ width: 220 }}
            value={version.number}
            onChange={(n: number) => setParams({ version: String(n) }, { replace: true })}
            options={choices.map((v) => ({
              value: v.number,
              label: `v${v.number} ${t(`rp.kind.${v.kind}`)}${v.signedAt !== null ? '' : ` · ${t('rp.printView.unsigned')}`}`,
            }))}
          />
        </Space>
        {version.signedAt === null && (
          <Alert type="warning" showIcon style={{ marginTop: 8 }} title={t('rp.printView.unsignedHint')} />
        )}
      </div>
      <ReportSheet
        header={data.header}
        exam={data.detail.exam}
        version={version}
        addenda={addendaFor(data.versions, version)}
        base={baseOf(data.versions, version)}
      />
    </div>
  );
}
