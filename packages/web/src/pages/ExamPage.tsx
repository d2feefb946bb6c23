/**
 * 病例 — the case page (`/exams/:id`): the request's clinical information at a glance, state and the
 * actions the caller may take, the images of the linked study (series thumbnails over DICOMweb with the
 * session cookie, the OHIF viewer in a new tab or embedded), the history, the patient's other exams and
 * studies, match suggestions, and the (next issue's) report area. Live: reloads on this exam's events.
 */
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import {
  Alert,
  App,
  Button,
  Card,
  Col,
  Descriptions,
  Empty,
  Form,
  Input,
  Modal,
  Result,
  Row,
  Space,
  Spin,
  Table,
  Tag,
  Timeline,
  Typography,
} from 'antd';
import {
  ArrowLeftOutlined,
  CheckCircleOutlined,
  EditOutlined,
  EyeOutlined,
  RollbackOutlined,
  WarningOutlined,
} from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api, ApiError } from '../api.ts';
import { permissions, useAuth } from '../auth.tsx';
import {
  formatDicomDate,
  formatTime,
  personName,
  TRANSITIONS,
  useExamEvents,
  type Exam,
  type ExamDetail,
  type ExamStatus,
  type LiveState,
} from '../ris.ts';
import { errorText } from './common.tsx';
import { ReportPanel } from '../reporting/index.ts';
import { OrderForm, orderBody, valuesOf, type OrderValues } from './Register.tsx';
import {
  AssignDialog,
  Countdown,
  LiveBadge,
  PriorityTag,
  sexText,
  StatusTag,
  useAgeText,
  useExamActions,
} from './workflow-common.tsx';

interface SeriesInfo {
  uid: string;
  number: string;
  modality: string;
  description: string;
  instances: number;
}

function tagValue(ds: Record<string, { Value?: unknown[] }>, tag: string): string {
  const v = ds[tag]?.Value?.[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object' && 'Alphabetic' in v) return String(v.Alphabetic);
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}

/** QIDO-RS series of a study (the session cookie authorises DICOMweb). */
async function loadSeries(studyUid: string): Promise<SeriesInfo[]> {
  const r = await fetch(`/dicomweb/studies/${encodeURIComponent(studyUid)}/series`, {
    headers: { accept: 'application/dicom+json' },
    credentials: 'same-origin',
  });
  if (r.status === 204) return [];
  if (!r.ok) throw new ApiError(r.status, r.statusText);
  const list = (await r.json()) as Record<string, { Value?: unknown[] }>[];
  return list
    .map((ds) => ({
      uid: tagValue(ds, '0020000E'),
      number: tagValue(ds, '00200011'),
      modality: tagValue(ds, '00080060'),
      description: tagValue(ds, '0008103E'),
      instances: Number(tagValue(ds, '00201209') || '0'),
    }))
    .sort((a, b) => Number(a.number || '0') - Number(b.number || '0'));
}

/** One series thumbnail (WADO-RS, JPEG via the `accept` query parameter; the CSP allows only same-origin
 *  images, so no blob URLs). */
function Thumb({ study, series }: { study: string; series: string }) {
  const [state, setState] = useState<'loading' | 'ok' | 'failed'>('loading');
  const src = `/dicomweb/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}/thumbnail?accept=image/jpeg`;
  if (state === 'failed')
    return (
      <div className="hy-thumb" style={{ color: '#888', display: 'grid', placeItems: 'center' }}>
        ✕
      </div>
    );
  return (
    <div style={{ position: 'relative' }}>
      <img
        className="hy-thumb"
        src={src}
        alt={series}
        loading="lazy"
        data-testid="series-thumbnail"
        onLoad={() => setState('ok')}
        onError={() => setState('failed')}
      />
      {state === 'loading' && (
        <div style={{ position: 'absolute', inset: 0, display: 'grid', placeItems: 'center' }}>
          <Spin size="small" />
        </div>
      )}
    </div>
  );
}

const viewerUrl = (uid: string): string => `/viewer/viewer?StudyInstanceUIDs=${encodeURIComponent(uid)}`;

function StudyImages({ uid }: { uid: string }) {
  const { t } = useTranslation();
  const [series, setSeries] = useState<SeriesInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [embed, setEmbed] = useState(false);
  useEffect(() => {
    setSeries(null);
    setError(null);
    loadSeries(uid).then(setSeries, (err: unknown) => setError(errorText(err)));
  }, [uid]);
  return (
    <div>
      <Space style={{ marginBottom: 8 }}>
        <Button
          type="primary"
          icon={<EyeOutlined />}
          href={viewerUrl(uid)}
          target="_blank"
          rel="noopener"
          data-testid="open-viewer"
        >
          {t('wf.exam.openViewer')}
        </Button>
        <Button onClick={() => setEmbed(!embed)} data-testid="embed-viewer">
          {embed ? t('wf.exam.hideViewer') : t('wf.exam.embedViewer')}
        </Button>
        <Typography.Text type="secondary" copyable style={{ fontSize: 12 }}>
          {uid}
        </Typography.Text>
      </Space>
      {error !== null && <Alert type="error" title={error} showIcon />}
      {series === null && error === null && <Spin />}
      {series !== null && (
        <div style={{ display: 'flex', flexWrap: 'wrap', gap: 8 }} data-testid="series-list">
          {series.map((s) => (
            <a
              key={s.uid}
              href={viewerUrl(uid)}
              target="_blank"
              rel="noopener"
              style={{ width: 128, color: 'inherit' }}
              title={s.description}
            >
              <Thumb study={uid} series={s.uid} />
              <div style={{ fontSize: 12, lineHeight: 1.3, marginTop: 2 }}>
                <Tag style={{ marginRight: 4 }}>{s.modality}</Tag>#{s.number} ·{' '}
                {t('wf.exam.instances', { count: s.instances })}
                <div style={{ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
                  {s.description}
                </div>
              </div>
            </a>
          ))}
          {series.length === 0 && <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} />}
        </div>
      )}
      {embed && (
        <iframe
          title="viewer"
          src={viewerUrl(uid)}
          style={{
            width: '100%',
            height: 640,
            border: '1px solid #d9d9d9',
            marginTop: 8,
            background: '#000',
          }}
        />
      )}
    </div>
  );
}

function ReasonDialog({
  open,
  title,
  label,
  required,
  onOk,
  onClose,
}: {
  open: boolean;
  title: string;
  label: string;
  required: boolean;
  onOk: (reason: string) => void;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const [form] = Form.useForm<{ reason: string }>();
  return (
    <Modal
      open={open}
      title={title}
      okText={t('common.confirm')}
      cancelText={t('common.cancel')}
      onOk={() =>
        void form.validateFields().then((v) => {
          onOk((v.reason ?? '').trim());
          onClose();
        })
      }
      onCancel={onClose}
      destroyOnHidden
    >
      <Form form={form} layout="vertical" preserve={false}>
        <Form.Item
          name="reason"
          label={label}
          rules={required ? [{ required: true, whitespace: true, message: t('wf.exam.reasonRequired') }] : []}
        >
          <Input.TextArea rows={3} maxLength={500} autoFocus data-testid="reason-input" />
        </Form.Item>
      </Form>
    </Modal>
  );
}

function Multiline({ text }: { text: string | null }): ReactNode {
  if (text === null || text === '') return <span style={{ color: '#bbb' }}>—</span>;
  return <span style={{ whiteSpace: 'pre-wrap' }}>{text}</span>;
}

/** 修改申请单: the order's content in the registration form; PATCH with the version (409 when stale). */
function OrderEditor({ exam, onClose, onSaved }: { exam: Exam; onClose: () => void; onSaved: () => void }) {
  const { t } = useTranslation();
  const { message, modal } = App.useApp();
  const [form] = Form.useForm<OrderValues>();
  const [saving, setSaving] = useState(false);
  const save = async (v: OrderValues): Promise<void> => {
    setSaving(true);
    try {
      const { hospitalId: _h, ...change } = orderBody(v);
      await api('PATCH', `/api/exams/${exam.id}`, { version: exam.version, ...change });
      void message.success(t('common.saved'));
      onSaved();
      onClose();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        modal.warning({
          title: t('wf.worklist.conflictTitle'),
          content: <span data-testid="conflict-message">{err.message}</span>,
        });
        onSaved();
      } else void message.error(t('common.error', { message: errorText(err) }));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal
      open
      width={1000}
      title={`${t('wf.exam.editOrder')} · ${exam.accessionNumber}`}
      okText={t('common.save')}
      cancelText={t('common.cancel')}
      confirmLoading={saving}
      onOk={() => form.submit()}
      onCancel={onClose}
      destroyOnHidden
    >
      <OrderForm form={form} initialValues={valuesOf(exam)} onFinish={(v) => void save(v)} />
    </Modal>
  );
}

export function ExamPage() {
  const { id } = useParams();
  const examId = Number(id);
  const { t } = useTranslation();
  const { message, modal } = App.useApp();
  const { me } = useAuth();
  const can = permissions(me);
  const navigate = useNavigate();
  const ageText = useAgeText();
  const [detail, setDetail] = useState<ExamDetail | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [live, setLive] = useState<LiveState>('connecting');
  const [dialog, setDialog] = useState<'return' | 'unlink' | 'cancel' | 'edit' | null>(null);
  const [assigning, setAssigning] = useState<Exam | null>(null);

  const load = useCallback(async () => {
    try {
      setDetail(await api<ExamDetail>('GET', `/api/exams/${examId}`));
      setNotFound(false);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 403)) setNotFound(true);
      else void message.error(t('common.error', { message: errorText(err) }));
    }
  }, [examId, message, t]);
  useEffect(() => {
    setDetail(null);
    void load();
  }, [load]);
  useExamEvents(
    (events) => {
      if (events.length === 0 || events.some((e) => e.examId === examId)) void load();
    },
    { onState: setLive },
  );
  const reload = useCallback(() => void load(), [load]);
  const actions = useExamActions(reload);
  /** back to where the user came from; opened directly (new tab, link) → the worklist */
  const back = (): void => {
    const idx = (window.history.state as { idx?: number } | null)?.idx ?? 0;
    if (idx > 0) void navigate(-1);
    else void navigate(can.worklist ? '/worklist' : can.myExams ? '/my-exams' : '/');
  };

  if (!Number.isInteger(examId) || notFound)
    return (
      <Result
        status="404"
        title={t('wf.exam.notFound')}
        extra={<Button onClick={back}>{t('wf.exam.back')}</Button>}
      />
    );
  if (detail === null)
    return (
      <div style={{ display: 'flex', justifyContent: 'center', marginTop: 80 }}>
        <Spin />
      </div>
    );

  const e = detail.exam;
  const p = e.patient;
  const legal = (to: ExamStatus): boolean => TRANSITIONS[e.status].includes(to);
  const mine = e.assignedTo?.userId === me?.user.id;

  const confirmTransition = (to: ExamStatus, content: string): void => {
    modal.confirm({
      title: content,
      okText: t('common.confirm'),
      cancelText: t('common.cancel'),
      onOk: () => actions.transition(e, to),
    });
  };

  const actionButtons: ReactNode[] = [];
  if (can.register && legal('examined') && e.status === 'registered')
    actionButtons.push(
      <Button
        key="examined"
        type="primary"
        icon={<CheckCircleOutlined />}
        onClick={() => confirmTransition('examined', t('wf.exam.markExaminedConfirm'))}
        data-testid="mark-examined"
      >
        {t('wf.exam.markExamined')}
      </Button>,
    );
  if (e.status !== 'cancelled' && e.status !== 'reviewed') {
    if (e.assignedTo !== null && (mine || can.assign))
      actionButtons.push(
        <Button key="release" onClick={() => void actions.release(e)} data-testid="release">
          {t('wf.worklist.release')}
        </Button>,
      );
    if (can.claim && !mine)
      actionButtons.push(
        <Button key="claim" type="primary" ghost onClick={() => void actions.claim(e)} data-testid="claim">
          {t('wf.worklist.claim')}
        </Button>,
      );
    if (can.assign)
      actionButtons.push(
        <Button key="assign" onClick={() => setAssigning(e)}>
          {t('wf.worklist.assign')}
        </Button>,
      );
  }
  if (can.register && ['registered', 'examined', 'matched', 'returned'].includes(e.status))
    actionButtons.push(
      <Button key="edit" icon={<EditOutlined />} onClick={() => setDialog('edit')} data-testid="edit-order">
        {t('wf.exam.editOrder')}
      </Button>,
    );
  if (can.centerStaff && legal('returned'))
    actionButtons.push(
      <Button
        key="return"
        danger
        icon={<RollbackOutlined />}
        onClick={() => setDialog('return')}
        data-testid="return"
      >
        {t('wf.exam.return')}
      </Button>,
    );
  if (can.register && legal('registered') && (e.status === 'returned' || e.status === 'cancelled'))
    actionButtons.push(
      <Button key="rereg" onClick={() => void actions.transition(e, 'registered')}>
        {t('wf.exam.reRegister')}
      </Button>,
    );
  if (can.register && legal('cancelled'))
    actionButtons.push(
      <Button key="cancel" danger type="text" onClick={() => setDialog('cancel')}>
        {t('wf.exam.cancel')}
      </Button>,
    );

  const timeRow = (label: string, at: string | null) => (
    <Descriptions.Item label={label}>
      {at !== null ? formatTime(at) : <span style={{ color: '#bbb' }}>—</span>}
    </Descriptions.Item>
  );

  return (
    <Space orientation="vertical" size={12} style={{ width: '100%' }} data-testid="exam-page">
      <Card size="small">
        <div style={{ display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: 12 }}>
          <Button icon={<ArrowLeftOutlined />} onClick={back} aria-label={t('wf.exam.back')} />
          <Typography.Title level={4} style={{ margin: 0 }} data-testid="exam-patient-name">
            {personName(p.name)}
          </Typography.Title>
          <span>
            {[sexText(t, p.sex), ageText(p.birthDate, e.registeredAt)].filter((x) => x !== '').join(' · ')}
          </span>
          <PriorityTag priority={e.priority} />
          <StatusTag status={e.status} />
          <Typography.Text type="secondary">
            {e.hospitalName} · {t('wf.exam.accession')}{' '}
            <Typography.Text copyable strong>
              {e.accessionNumber}
            </Typography.Text>
          </Typography.Text>
          <span style={{ flex: 1 }} />
          <LiveBadge state={live} />
        </div>
        {actionButtons.length > 0 && (
          <Space wrap style={{ marginTop: 10 }}>
            {actionButtons}
          </Space>
        )}
        {e.identityConflict !== null && (
          <Alert
            style={{ marginTop: 10 }}
            type="error"
            showIcon
            icon={<WarningOutlined />}
            title={t('wf.exam.identityConflict', { detail: e.identityConflict })}
            data-testid="identity-conflict"
          />
        )}
      </Card>

      <Row gutter={12}>
        <Col xs={24} xl={15}>
          <Card size="small" title={t('wf.exam.clinicalInfo')} data-testid="clinical-info">
            <Descriptions size="small" column={{ xs: 1, md: 2 }} bordered className="hy-clinical">
              <Descriptions.Item label={t('wf.exam.patientId')}>{p.patientId}</Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.birthDate')}>
                {formatDicomDate(p.birthDate)}
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.items')} span={2}>
                <span data-testid="exam-items">{e.examItems.map((i) => i.name).join('、')}</span>
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.modality')}>{e.modality}</Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.bodyPart')}>{e.bodyPart ?? '—'}</Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.patientClass')}>
                {e.patientClass !== null ? t(`wf.patientClass.${e.patientClass}`) : '—'}
                {e.complex && <Tag style={{ marginLeft: 8 }}>{t('wf.exam.complex')}</Tag>}
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.phone')}>{p.phone ?? '—'}</Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.clinicalHistory')} span={2}>
                <Multiline text={e.clinicalHistory} />
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.symptoms')} span={2}>
                <Multiline text={e.symptoms} />
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.clinicalDiagnosis')} span={2}>
                <span data-testid="clinical-diagnosis">
                  <Multiline text={e.clinicalDiagnosis} />
                </span>
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.examPurpose')} span={2}>
                <Multiline text={e.examPurpose} />
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.requestingDepartment')}>
                {e.requestingDepartment ?? '—'}
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.requestingPhysician')}>
                {e.requestingPhysician ?? '—'}
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.placerOrder')}>
                {e.placerOrderNumber ?? '—'}
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.source')}>{t(`wf.source.${e.source}`)}</Descriptions.Item>
            </Descriptions>
          </Card>
        </Col>
        <Col xs={24} xl={9}>
          <Card size="small" title={t('wf.exam.times')}>
            <Descriptions size="small" column={1}>
              {e.scheduledAt !== null && timeRow(t('wf.exam.scheduledAt'), e.scheduledAt)}
              {timeRow(t('wf.exam.registeredAt'), e.registeredAt)}
              {timeRow(t('wf.exam.examinedAt'), e.examinedAt)}
              {timeRow(t('wf.exam.matchedAt'), e.matchedAt)}
              {timeRow(t('wf.exam.reportedAt'), e.reportedAt)}
              {timeRow(t('wf.exam.reviewedAt'), e.reviewedAt)}
              <Descriptions.Item label={t('wf.exam.dueAt')}>
                <Space size={4} wrap>
                  {e.dueAt !== null && formatTime(e.dueAt)}
                  <Countdown exam={e} />
                  <Typography.Text type="secondary">
                    ({t('wf.exam.limit', { minutes: e.limitMinutes })})
                  </Typography.Text>
                </Space>
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.exam.reader')}>
                {e.assignedTo !== null ? (
                  <span>
                    {e.assignedTo.name}{' '}
                    <Typography.Text type="secondary">{formatTime(e.assignedAt)}</Typography.Text>
                  </span>
                ) : (
                  '—'
                )}
              </Descriptions.Item>
              <Descriptions.Item label="">
                <Space size={4}>
                  <Tag color={e.readAtCenter ? 'blue' : 'default'}>
                    {e.readAtCenter ? t('wf.exam.readAtCenter') : t('wf.exam.localRead')}
                  </Tag>
                  {e.reviewRequired && <Tag color="purple">{t('wf.exam.reviewRequired')}</Tag>}
                </Space>
              </Descriptions.Item>
            </Descriptions>
          </Card>
        </Col>
      </Row>

      <Card
        size="small"
        title={t('wf.exam.series')}
        extra={
          e.studyId !== null && can.centerStaff ? (
            <Button size="small" danger type="link" onClick={() => setDialog('unlink')} data-testid="unlink">
              {t('wf.exam.unlink')}
            </Button>
          ) : null
        }
      >
        {e.studyInstanceUid !== null ? (
          <StudyImages uid={e.studyInstanceUid} />
        ) : (
          <Space orientation="vertical" style={{ width: '100%' }}>
            <Typography.Text type="secondary">{t('wf.exam.noStudy')}</Typography.Text>
            {detail.suggestions.filter((s) => s.status === 'open').length > 0 && (
              <Table
                size="small"
                rowKey="id"
                pagination={false}
                title={() => t('wf.exam.suggestions')}
                dataSource={detail.suggestions.filter((s) => s.status === 'open')}
                columns={[
                  { title: t('wf.matching.score'), dataIndex: 'score', width: 80 },
                  {
                    title: t('wf.matching.reasons'),
                    dataIndex: 'reasons',
                    render: (r: string[]) => r.map((x) => <Tag key={x}>{x}</Tag>),
                  },
                  ...(can.centerStaff
                    ? [
                        {
                          title: t('common.actions'),
                          key: 'a',
                          width: 90,
                          render: (_: unknown, s: { studyId: number }) => (
                            <Button
                              size="small"
                              onClick={() => {
                                modal.confirm({
                                  title: t('wf.matching.link'),
                                  content: t('wf.matching.linkConfirm', {
                                    study: String(s.studyId),
                                    accession: e.accessionNumber,
                                    patient: personName(p.name),
                                  }),
                                  okText: t('common.confirm'),
                                  cancelText: t('common.cancel'),
                                  onOk: () => actions.link(e.id, s.studyId),
                                });
                              }}
                            >
                              {t('wf.matching.link')}
                            </Button>
                          ),
                        },
                      ]
                    : []),
                ]}
              />
            )}
          </Space>
        )}
      </Card>

      {/* the report panel is its own card (报告, data-testid report-panel) */}
      <ReportPanel exam={e} />

      <Row gutter={12}>
        <Col xs={24} xl={10}>
          <Card size="small" title={t('wf.exam.history')} data-testid="history">
            <Timeline
              items={[...detail.history].reverse().map((h) => ({
                color: h.kind === 'transition' ? 'blue' : 'gray',
                content: (
                  <div>
                    <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                      {formatTime(h.at)}
                    </Typography.Text>{' '}
                    <Typography.Text strong>
                      {t(`wf.exam.kind.${h.kind}`, { defaultValue: h.kind })}
                    </Typography.Text>{' '}
                    {h.toStatus !== null && (
                      <span>
                        {h.fromStatus !== null && <>{t(`wf.status.${h.fromStatus}`)} → </>}
                        {t(`wf.status.${h.toStatus}`)}
                      </span>
                    )}
                    <div style={{ fontSize: 12 }}>
                      {h.actor}
                      {h.detail !== null && h.detail !== '' && (
                        <span style={{ color: '#888' }}> · {h.detail}</span>
                      )}
                    </div>
                  </div>
                ),
              }))}
            />
          </Card>
        </Col>
        <Col xs={24} xl={14}>
          <Card size="small" title={t('wf.exam.otherExams')} style={{ marginBottom: 12 }}>
            <Table<Exam>
              size="small"
              rowKey="id"
              pagination={false}
              dataSource={detail.patientExams.filter((x) => x.id !== e.id)}
              locale={{ emptyText: '—' }}
              columns={[
                {
                  title: t('wf.exam.accession'),
                  dataIndex: 'accessionNumber',
                  render: (a: string, x) => <Link to={`/exams/${x.id}`}>{a}</Link>,
                },
                { title: t('wf.exam.modality'), dataIndex: 'modality', width: 70 },
                {
                  title: t('wf.exam.items'),
                  key: 'items',
                  ellipsis: true,
                  render: (_: unknown, x) => x.examItems.map((i) => i.name).join('、'),
                },
                {
                  title: t('wf.worklist.status'),
                  key: 's',
                  width: 80,
                  render: (_: unknown, x) => <StatusTag status={x.status} />,
                },
                {
                  title: t('wf.exam.registeredAt'),
                  dataIndex: 'registeredAt',
                  width: 135,
                  render: (d: string) => formatTime(d),
                },
              ]}
            />
          </Card>
          <Card size="small" title={t('wf.exam.studies')}>
            <Table
              size="small"
              rowKey="studyInstanceUid"
              pagination={false}
              dataSource={detail.patientStudies}
              locale={{ emptyText: '—' }}
              columns={[
                {
                  title: t('wf.matching.studyDate'),
                  dataIndex: 'studyDate',
                  width: 100,
                  render: (d: string | null) => formatDicomDate(d),
                },
                { title: t('wf.matching.modalities'), dataIndex: 'modalities', width: 80 },
                { title: t('wf.matching.description'), dataIndex: 'description', ellipsis: true },
                { title: t('wf.matching.accession'), dataIndex: 'accessionNumber', width: 140 },
                { title: t('wf.matching.instances'), dataIndex: 'numInstances', width: 70 },
                {
                  title: '',
                  key: 'v',
                  width: 50,
                  render: (_: unknown, s: { studyInstanceUid: string }) => (
                    <a
                      href={viewerUrl(s.studyInstanceUid)}
                      target="_blank"
                      rel="noopener"
                      aria-label={t('wf.exam.openViewer')}
                    >
                      <EyeOutlined />
                    </a>
                  ),
                },
              ]}
            />
          </Card>
        </Col>
      </Row>

      {dialog === 'return' && (
        <ReasonDialog
          open
          title={t('wf.exam.returnTitle')}
          label={t('wf.exam.returnReason')}
          required
          onOk={(reason) => void actions.transition(e, 'returned', reason)}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog === 'cancel' && (
        <ReasonDialog
          open
          title={t('wf.exam.cancelConfirm')}
          label={t('wf.exam.cancelReason')}
          required={false}
          onOk={(reason) => void actions.transition(e, 'cancelled', reason)}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog === 'unlink' && (
        <ReasonDialog
          open
          title={t('wf.exam.unlink')}
          label={t('wf.exam.unlinkReason')}
          required
          onOk={(reason) => void actions.unlink(e, reason)}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog === 'edit' && <OrderEditor exam={e} onClose={() => setDialog(null)} onSaved={reload} />}
      <AssignDialog
        exam={assigning}
        onClose={() => setAssigning(null)}
        onPick={(x, r) => void actions.assign(x, r)}
      />
    </Space>
  );
}
