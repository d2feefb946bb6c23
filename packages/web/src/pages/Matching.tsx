/**
 * 匹配 — the matching queue (`/matching`, center staff): stored studies not linked to an order, and orders
 * (registered/examined) without a study. Select an order to see its suggestions (score and reasons); link
 * a suggestion or a hand-picked study explicitly after a confirmation that warns of an identity mismatch.
 * Unlinking is on the case page (with a reason).
 */
import { useCallback, useEffect, useState } from 'react';
import { Alert, App, Button, Card, Col, Empty, Row, Space, Table, Tag, Typography } from 'antd';
import { LinkOutlined, ReloadOutlined, WarningOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router-dom';
import { api } from '../api.ts';
import {
  formatDicomDate,
  formatTime,
  personName,
  useExamEvents,
  type Exam,
  type ExamDetail,
  type LiveState,
  type MatchSuggestion,
  type UnmatchedStudy,
} from '../ris.ts';
import { errorText } from './common.tsx';
import { LiveBadge, PriorityTag, StatusTag, useExamActions } from './workflow-common.tsx';

/** What differs between a study's patient and an order's patient (empty: same person as far as we know). */
function identityDiffers(s: UnmatchedStudy, e: Exam): string[] {
  const out: string[] = [];
  if (s.hospitalId !== e.hospitalId) out.push(`${s.hospitalName} ≠ ${e.hospitalName}`);
  if (s.patientId !== e.patient.patientId) out.push(`ID ${s.patientId} ≠ ${e.patient.patientId}`);
  const a = personName(s.patientName).replace(/\s/g, '').toUpperCase();
  const b = personName(e.patient.name).replace(/\s/g, '').toUpperCase();
  if (a !== '' && b !== '' && a !== b)
    out.push(`${personName(s.patientName)} ≠ ${personName(e.patient.name)}`);
  return out;
}

export function MatchingPage() {
  const { t } = useTranslation();
  const { message, modal } = App.useApp();
  const [studies, setStudies] = useState<UnmatchedStudy[]>([]);
  const [orders, setOrders] = useState<Exam[]>([]);
  const [loading, setLoading] = useState(true);
  const [live, setLive] = useState<LiveState>('connecting');
  const [studyId, setStudyId] = useState<number | undefined>(undefined);
  const [examId, setExamId] = useState<number | undefined>(undefined);
  const [suggestions, setSuggestions] = useState<MatchSuggestion[] | null>(null);

  const load = useCallback(async () => {
    try {
      const r = await api<{ studies: UnmatchedStudy[]; orders: Exam[] }>('GET', '/api/matching');
      setStudies(r.studies);
      setOrders(r.orders);
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    } finally {
      setLoading(false);
    }
  }, [message, t]);
  const loadSuggestions = useCallback(async () => {
    if (examId === undefined) {
      setSuggestions(null);
      return;
    }
    try {
      const d = await api<ExamDetail>('GET', `/api/exams/${examId}`);
      setSuggestions(d.suggestions.filter((s) => s.status === 'open'));
    } catch (err) {
      setSuggestions([]);
      void message.error(t('common.error', { message: errorText(err) }));
    }
  }, [examId, message, t]);
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    void loadSuggestions();
  }, [loadSuggestions]);
  const refresh = useCallback(() => {
    void load();
    void loadSuggestions();
  }, [load, loadSuggestions]);
  useExamEvents(refresh, { onState: setLive, debounceMs: 300 });
  // study arrivals are not exam events: refresh the queue every 10 s as well
  useEffect(() => {
    const timer = setInterval(refresh, 10_000);
    return () => clearInterval(timer);
  }, [refresh]);
  const actions = useExamActions(refresh);

  const exam = orders.find((o) => o.id === examId);
  const study = studies.find((s) => s.studyId === studyId);

  const confirmLink = (s: UnmatchedStudy | { studyId: number }, e: Exam): void => {
    const full = 'studyInstanceUid' in s ? s : studies.find((x) => x.studyId === s.studyId);
    const diffs = full !== undefined ? identityDiffers(full, e) : [];
    modal.confirm({
      title: t('wf.matching.link'),
      okText: t('common.confirm'),
      cancelText: t('common.cancel'),
      okButtonProps: { danger: diffs.length > 0, 'data-testid': 'link-ok' },
      content: (
        <Space orientation="vertical">
          <span>
            {t('wf.matching.linkConfirm', {
              study:
                full !== undefined
                  ? `${full.description ?? ''} ${full.modalities} ${formatDicomDate(full.studyDate)}`.trim()
                  : String(s.studyId),
              accession: e.accessionNumber,
              patient: personName(e.patient.name),
            })}
          </span>
          {diffs.length > 0 && (
            <Alert
              type="error"
              showIcon
              icon={<WarningOutlined />}
              title={t('wf.matching.identityConflict')}
              description={diffs.join('；')}
            />
          )}
        </Space>
      ),
      onOk: async () => {
        const r = await actions.link(e.id, s.studyId);
        if (r !== undefined) {
          setStudyId(undefined);
          setExamId(undefined);
        }
      },
    });
  };

  return (
    <Space orientation="vertical" size={12} style={{ width: '100%' }}>
      <Card
        size="small"
        title={t('wf.matching.title')}
        extra={
          <Space>
            <LiveBadge state={live} />
            <Button size="small" icon={<ReloadOutlined />} onClick={() => void load()}>
              {t('wf.worklist.refresh')}
            </Button>
          </Space>
        }
      >
        <Typography.Text type="secondary">{t('wf.matching.linkManual')}</Typography.Text>
        {study !== undefined && exam !== undefined && (
          <Button
            type="primary"
            icon={<LinkOutlined />}
            style={{ marginLeft: 16 }}
            onClick={() => confirmLink(study, exam)}
            data-testid="link-selected"
          >
            {t('wf.matching.pickStudy')}
          </Button>
        )}
      </Card>
      <Row gutter={12}>
        <Col xs={24} xxl={12}>
          <Card size="small" title={`${t('wf.matching.studies')} (${studies.length})`}>
            <Table<UnmatchedStudy>
              size="small"
              rowKey="studyId"
              loading={loading}
              dataSource={studies}
              pagination={{ pageSize: 20, size: 'small' }}
              scroll={{ x: 800 }}
              rowSelection={{
                type: 'radio',
                selectedRowKeys: studyId !== undefined ? [studyId] : [],
                onChange: (keys) => setStudyId(keys[0] as number | undefined),
              }}
              onRow={(s) => ({ onClick: () => setStudyId(s.studyId) })}
              columns={[
                { title: t('wf.worklist.hospital'), dataIndex: 'hospitalName', width: 120, ellipsis: true },
                {
                  title: t('wf.matching.patient'),
                  key: 'p',
                  width: 140,
                  render: (_: unknown, s) => (
                    <div>
                      <strong>{personName(s.patientName)}</strong>
                      <div style={{ fontSize: 12, color: '#888' }}>{s.patientId}</div>
                    </div>
                  ),
                },
                {
                  title: t('wf.matching.accession'),
                  dataIndex: 'accessionNumber',
                  width: 130,
                  render: (a: string | null) => a ?? '—',
                },
                {
                  title: t('wf.matching.studyDate'),
                  dataIndex: 'studyDate',
                  width: 100,
                  render: (d: string | null) => formatDicomDate(d),
                },
                { title: t('wf.matching.modalities'), dataIndex: 'modalities', width: 80 },
                { title: t('wf.matching.description'), dataIndex: 'description', ellipsis: true },
                { title: t('wf.matching.instances'), dataIndex: 'numInstances', width: 70 },
                {
                  title: t('wf.matching.arrival'),
                  key: 'arr',
                  width: 130,
                  render: (_: unknown, s) => (
                    <div>
                      <Tag color={s.arrival === 'receiving' ? 'processing' : 'success'}>
                        {t(`wf.matching.${s.arrival}`)}
                      </Tag>
                      <div style={{ fontSize: 12, color: '#888' }}>{formatTime(s.lastReceivedAt)}</div>
                    </div>
                  ),
                },
              ]}
            />
          </Card>
        </Col>
        <Col xs={24} xxl={12}>
          <Card
            size="small"
            title={`${t('wf.matching.orders')} (${orders.length})`}
            style={{ marginBottom: 12 }}
          >
            <Table<Exam>
              size="small"
              rowKey="id"
              loading={loading}
              dataSource={orders}
              pagination={{ pageSize: 20, size: 'small' }}
              scroll={{ x: 800 }}
              rowSelection={{
                type: 'radio',
                selectedRowKeys: examId !== undefined ? [examId] : [],
                onChange: (keys) => setExamId(keys[0] as number | undefined),
              }}
              onRow={(e) => ({ onClick: () => setExamId(e.id) })}
              columns={[
                {
                  title: '',
                  key: 'pr',
                  width: 60,
                  render: (_: unknown, e) => <PriorityTag priority={e.priority} />,
                },
                { title: t('wf.worklist.hospital'), dataIndex: 'hospitalName', width: 120, ellipsis: true },
                {
                  title: t('wf.matching.patient'),
                  key: 'p',
                  width: 140,
                  render: (_: unknown, e) => (
                    <div>
                      <strong>{personName(e.patient.name)}</strong>
                      <div style={{ fontSize: 12, color: '#888' }}>{e.patient.patientId}</div>
                    </div>
                  ),
                },
                {
                  title: t('wf.matching.accession'),
                  dataIndex: 'accessionNumber',
                  width: 170,
                  render: (a: string, e) => <Link to={`/exams/${e.id}`}>{a}</Link>,
                },
                {
                  title: t('wf.worklist.modalityBody'),
                  key: 'm',
                  width: 100,
                  render: (_: unknown, e) => `${e.modality} ${e.bodyPart ?? ''}`,
                },
                {
                  title: t('wf.worklist.items'),
                  key: 'i',
                  ellipsis: true,
                  render: (_: unknown, e) => e.examItems.map((i) => i.name).join('、'),
                },
                {
                  title: t('wf.worklist.status'),
                  key: 's',
                  width: 80,
                  render: (_: unknown, e) => <StatusTag status={e.status} />,
                },
                {
                  title: t('wf.worklist.registeredAt'),
                  dataIndex: 'registeredAt',
                  width: 135,
                  render: (d: string) => formatTime(d),
                },
              ]}
            />
          </Card>
          <Card
            size="small"
            title={
              exam !== undefined
                ? `${t('wf.matching.suggestions')} · ${exam.accessionNumber}`
                : t('wf.matching.suggestions')
            }
          >
            {exam === undefined ? (
              <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('wf.matching.selectOrder')} />
            ) : (
              <Table<MatchSuggestion>
                size="small"
                rowKey="id"
                loading={suggestions === null}
                dataSource={suggestions ?? []}
                pagination={false}
                locale={{ emptyText: t('wf.matching.noSuggestions') }}
                columns={[
                  {
                    title: t('wf.matching.score'),
                    dataIndex: 'score',
                    width: 80,
                    render: (n: number) => (
                      <Tag color={n >= 80 ? 'green' : n >= 50 ? 'gold' : 'default'}>{n}</Tag>
                    ),
                  },
                  {
                    title: t('wf.matching.studies'),
                    key: 'st',
                    render: (_: unknown, s) => {
                      const st = studies.find((x) => x.studyId === s.studyId);
                      return st !== undefined
                        ? `${personName(st.patientName)} ${st.patientId} · ${st.modalities} · ${formatDicomDate(st.studyDate)} · ${st.description ?? ''}`
                        : `#${s.studyId}`;
                    },
                  },
                  {
                    title: t('wf.matching.reasons'),
                    dataIndex: 'reasons',
                    render: (r: string[]) => r.map((x) => <Tag key={x}>{x}</Tag>),
                  },
                  {
                    title: t('common.actions'),
                    key: 'a',
                    width: 80,
                    render: (_: unknown, s) => (
                      <Button
                        size="small"
                        type="primary"
                        onClick={() => confirmLink(s, exam)}
                        data-testid="suggestion-link"
                      >
                        {t('wf.matching.link')}
                      </Button>
                    ),
                  },
                ]}
              />
            )}
          </Card>
        </Col>
      </Row>
    </Space>
  );
}
