/**
 * 报告分发 — the delivery outbox of signed reports (state, attempts, next attempt, last error, receipt;
 * retry a failed or waiting delivery) and the hospital's delivery channels (HL7 ORU over MLLP, FHIR
 * DiagnosticReport, DICOM Encapsulated PDF to the hospital's PACS). Refreshes itself every 5 s.
 */
import { useCallback, useEffect, useState } from 'react';
import {
  App,
  Badge,
  Button,
  Card,
  Descriptions,
  Form,
  Input,
  InputNumber,
  Modal,
  Select,
  Space,
  Switch,
  Table,
  Tabs,
  Tag,
  Tooltip,
  Typography,
} from 'antd';
import { PlusOutlined, ReloadOutlined, RedoOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../../auth.tsx';
import { useHospitals } from '../../pages/common.tsx';
import { formatTime } from '../../ris.ts';
import {
  localMessage,
  OUTBOX_STATES,
  reportApi,
  type ChannelKind,
  type DeliveryChannel,
  type OutboxEntry,
  type OutboxState,
} from '../api.ts';
import { api } from '../../api.ts';
import { validated } from '../forms.ts';

const STATE_BADGE: Record<OutboxState, 'default' | 'processing' | 'success' | 'error'> = {
  pending: 'default',
  delivering: 'processing',
  delivered: 'success',
  failed: 'error',
};

function OutboxTab() {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const { hospitals, nameOf } = useHospitals();
  const isSys = me?.user.roles.includes('system_admin') === true;
  const [states, setStates] = useState<OutboxState[]>([]);
  const [hospitalId, setHospitalId] = useState<number | undefined>(undefined);
  const [rows, setRows] = useState<OutboxEntry[]>([]);
  const [loading, setLoading] = useState(false);
  const [auto, setAuto] = useState(true);
  const [page, setPage] = useState(0);
  const PAGE = 100;

  const load = useCallback(async () => {
    setLoading(true);
    try {
      const r = await reportApi.outbox({
        state: states,
        ...(hospitalId !== undefined ? { hospitalId } : {}),
        limit: PAGE,
        offset: page * PAGE,
      });
      setRows(r.entries);
    } catch (err) {
      void message.error(localMessage(err, i18n.language));
    } finally {
      setLoading(false);
    }
  }, [states, hospitalId, page, message, i18n.language]);
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    if (!auto) return;
    const h = setInterval(() => void load(), 5000);
    return () => clearInterval(h);
  }, [auto, load]);

  const retry = async (e: OutboxEntry): Promise<void> => {
    try {
      await reportApi.retry(e.id);
      void message.success(t('rp.outbox.retried'));
      await load();
    } catch (err) {
      void message.error(t('common.error', { message: localMessage(err, i18n.language) }));
    }
  };

  return (
    <>
      <Space wrap style={{ marginBottom: 12 }}>
        <Select
          mode="multiple"
          allowClear
          style={{ minWidth: 240 }}
          placeholder={t('rp.outbox.state')}
          value={states}
          onChange={(v: OutboxState[]) => {
            setStates(v);
            setPage(0);
          }}
          options={OUTBOX_STATES.map((s) => ({ value: s, label: t(`rp.outbox.states.${s}`) }))}
          data-testid="outbox-state-filter"
        />
        {isSys && (
          <Select
            allowClear
            style={{ width: 220 }}
            placeholder={t('common.hospital')}
            value={hospitalId}
            onChange={(v: number | undefined) => {
              setHospitalId(v);
              setPage(0);
            }}
            options={hospitals.map((h) => ({ value: h.id, label: h.name }))}
          />
        )}
        <Button icon={<ReloadOutlined />} onClick={() => void load()}>
          {t('rp.outbox.refresh')}
        </Button>
        <span>
          <Switch size="small" checked={auto} onChange={setAuto} /> {t('rp.outbox.auto')}
        </span>
      </Space>
      <Table<OutboxEntry>
        size="small"
        rowKey="id"
        loading={loading && rows.length === 0}
        dataSource={rows}
        pagination={false}
        onRow={(r) => ({ 'data-testid': 'outbox-row', 'data-state': r.state }) as object}
        expandable={{
          expandedRowRender: (r) => (
            <Descriptions size="small" column={1} bordered>
              <Descriptions.Item label={t('rp.outbox.key')}>{r.idempotencyKey}</Descriptions.Item>
              <Descriptions.Item label={t('rp.outbox.lastError')}>
                <Typography.Text
                  type={r.lastError !== null ? 'danger' : undefined}
                  style={{ whiteSpace: 'pre-wrap' }}
                >
                  {r.lastError ?? '—'}
                </Typography.Text>
              </Descriptions.Item>
              <Descriptions.Item label={t('rp.outbox.receipt')}>{r.receipt ?? '—'}</Descriptions.Item>
              <Descriptions.Item label={t('rp.outbox.nextAt')}>{formatTime(r.nextAt)}</Descriptions.Item>
              <Descriptions.Item label={t('rp.outbox.ackedAt')}>
                {formatTime(r.ackedAt) || '—'}
              </Descriptions.Item>
              <Descriptions.Item label={t('rp.outbox.updatedAt')}>
                {formatTime(r.updatedAt)}
              </Descriptions.Item>
            </Descriptions>
          ),
        }}
        columns={[
          { title: '#', dataIndex: 'id', width: 56 },
          {
            title: t('rp.outbox.createdAt'),
            dataIndex: 'createdAt',
            width: 135,
            render: (d: string) => formatTime(d),
          },
          {
            title: t('common.hospital'),
            dataIndex: 'hospitalId',
            width: 110,
            ellipsis: true,
            render: (h: number) => nameOf(h),
          },
          {
            title: t('rp.outbox.report'),
            key: 'report',
            width: 120,
            render: (_: unknown, r) => (
              <Tooltip title={r.idempotencyKey}>
                {t('rp.outbox.reportRef', { report: r.reportId, version: r.reportVersionId })}
              </Tooltip>
            ),
          },
          {
            title: t('rp.outbox.channel'),
            key: 'channel',
            width: 200,
            render: (_: unknown, r) => (
              <span>
                <Tag>{t(`rp.channel.kinds.${r.channelKind}`)}</Tag>
                <Typography.Text type="secondary" style={{ fontSize: 12, wordBreak: 'break-all' }}>
                  {r.target}
                </Typography.Text>
              </span>
            ),
          },
          {
            title: t('rp.outbox.state'),
            dataIndex: 'state',
            width: 100,
            render: (s: OutboxState) => <Badge status={STATE_BADGE[s]} text={t(`rp.outbox.states.${s}`)} />,
          },
          { title: t('rp.outbox.attempts'), dataIndex: 'attempts', width: 70 },
          {
            title: t('rp.outbox.next'),
            key: 'next',
            width: 140,
            render: (_: unknown, r) =>
              r.state === 'delivered'
                ? formatTime(r.ackedAt)
                : r.state === 'failed'
                  ? '—'
                  : formatTime(r.nextAt),
          },
          {
            title: t('rp.outbox.lastError'),
            dataIndex: 'lastError',
            ellipsis: { showTitle: false },
            render: (e: string | null, r) =>
              e !== null ? (
                <Tooltip title={e}>
                  <Typography.Text type="danger">{e}</Typography.Text>
                </Tooltip>
              ) : r.receipt !== null ? (
                <Tooltip title={r.receipt}>
                  <Typography.Text type="secondary">{r.receipt}</Typography.Text>
                </Tooltip>
              ) : null,
          },
          {
            title: t('common.actions'),
            key: 'a',
            width: 90,
            render: (_: unknown, r) =>
              r.state === 'failed' || r.state === 'pending' ? (
                <Button
                  size="small"
                  icon={<RedoOutlined />}
                  onClick={() => void retry(r)}
                  data-testid="outbox-retry"
                >
                  {t('rp.outbox.retry')}
                </Button>
              ) : null,
          },
        ]}
      />
      <Space style={{ marginTop: 8 }}>
        <Button size="small" disabled={page === 0} onClick={() => setPage(page - 1)}>
          {t('rp.outbox.prev')}
        </Button>
        <Typography.Text type="secondary">{t('rp.outbox.page', { n: page + 1 })}</Typography.Text>
        <Button size="small" disabled={rows.length < PAGE} onClick={() => setPage(page + 1)}>
          {t('rp.outbox.nextPage')}
        </Button>
      </Space>
    </>
  );
}

interface ChannelForm {
  hospitalId: number;
  kind: ChannelKind;
  name: string;
  enabled: boolean;
  host?: string;
  port?: number;
  charset?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  baseUrl?: string;
  authorization?: string;
  aeTitle?: string;
}

function configOf(v: ChannelForm): Record<string, unknown> {
  const opt = (k: keyof ChannelForm): Record<string, unknown> => {
    const x = v[k];
    return typeof x === 'string' && x.trim() !== '' ? { [k]: x.trim() } : {};
  };
  switch (v.kind) {
    case 'hl7':
      return {
        host: v.host?.trim(),
        port: v.port,
        ...opt('charset'),
        ...opt('receivingApplication'),
        ...opt('receivingFacility'),
      };
    case 'fhir':
      return { baseUrl: v.baseUrl?.trim(), ...opt('authorization') };
    case 'dicom':
      return { aeTitle: v.aeTitle?.trim() };
  }
}

function describe(ch: DeliveryChannel): string {
  const c = ch.config;
  if ('host' in c) return `${c.host}:${c.port}${c.charset !== undefined ? ` · ${c.charset}` : ''}`;
  if ('baseUrl' in c) return c.baseUrl;
  return c.aeTitle;
}

function ChannelsTab() {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const { hospitals, nameOf } = useHospitals();
  const isSys = me?.user.roles.includes('system_admin') === true;
  const [rows, setRows] = useState<DeliveryChannel[]>([]);
  const [editing, setEditing] = useState<DeliveryChannel | 'new' | null>(null);
  const [form] = Form.useForm<ChannelForm>();
  const kind = Form.useWatch('kind', form);

  const load = useCallback(async () => {
    try {
      setRows((await reportApi.channels()).channels);
    } catch (err) {
      void message.error(localMessage(err, i18n.language));
    }
  }, [message, i18n.language]);
  useEffect(() => {
    void load();
  }, [load]);

  const open = (ch: DeliveryChannel | 'new'): void => {
    setEditing(ch);
    form.resetFields();
    if (ch === 'new')
      form.setFieldsValue({
        hospitalId: me?.user.hospitalId,
        kind: 'hl7',
        name: '',
        enabled: true,
        charset: 'GB18030',
      });
    else {
      const c = ch.config as unknown as Record<string, string | number | undefined>;
      form.setFieldsValue({
        hospitalId: ch.hospitalId,
        kind: ch.kind,
        name: ch.name,
        enabled: ch.enabled,
        ...c,
        ...(ch.kind === 'fhir' ? { authorization: '' } : {}),
      });
    }
  };

  const submit = async (): Promise<void> => {
    const v = await validated(form);
    if (v === undefined) return;
    try {
      if (editing === 'new')
        await api('POST', '/api/admin/delivery/channels', {
          hospitalId: v.hospitalId,
          kind: v.kind,
          name: v.name.trim(),
          enabled: v.enabled,
          config: configOf(v),
        });
      else if (editing !== null) {
        const config = configOf(v);
        // an unchanged (masked) authorization is not sent back
        if (v.kind === 'fhir' && (v.authorization ?? '') === '') delete config.authorization;
        await api('PATCH', `/api/admin/delivery/channels/${editing.id}`, {
          name: v.name.trim(),
          enabled: v.enabled,
          config,
        });
      }
      void message.success(t('common.saved'));
      setEditing(null);
      await load();
    } catch (err) {
      void message.error(t('common.error', { message: localMessage(err, i18n.language) }));
    }
  };

  return (
    <>
      <Button
        type="primary"
        icon={<PlusOutlined />}
        style={{ marginBottom: 12 }}
        onClick={() => open('new')}
        data-testid="channel-new"
      >
        {t('rp.channel.add')}
      </Button>
      <Table<DeliveryChannel>
        size="small"
        rowKey="id"
        dataSource={rows}
        pagination={false}
        columns={[
          {
            title: t('common.hospital'),
            dataIndex: 'hospitalId',
            width: 160,
            render: (h: number) => nameOf(h),
          },
          { title: t('common.name'), dataIndex: 'name' },
          {
            title: t('rp.channel.kind'),
            dataIndex: 'kind',
            width: 180,
            render: (k: ChannelKind) => <Tag>{t(`rp.channel.kinds.${k}`)}</Tag>,
          },
          { title: t('rp.channel.target'), key: 'target', render: (_: unknown, c) => describe(c) },
          {
            title: t('rp.channel.enabled'),
            dataIndex: 'enabled',
            width: 80,
            render: (e: boolean) =>
              e ? <Tag color="green">{t('common.yes')}</Tag> : <Tag>{t('common.no')}</Tag>,
          },
          {
            title: t('common.actions'),
            key: 'a',
            width: 90,
            render: (_: unknown, c) => (
              <Button size="small" type="link" onClick={() => open(c)}>
                {t('common.edit')}
              </Button>
            ),
          },
        ]}
      />
      <Modal
        open={editing !== null}
        title={editing === 'new' ? t('rp.channel.add') : t('rp.channel.edit')}
        okText={t('common.save')}
        cancelText={t('common.cancel')}
        onOk={() => void submit()}
        okButtonProps={{ 'data-testid': 'channel-ok' }}
        onCancel={() => setEditing(null)}
        forceRender
      >
        <Form form={form} layout="vertical">
          <Form.Item name="hospitalId" label={t('common.hospital')} rules={[{ required: true }]}>
            <Select
              id="channel-hospital"
              disabled={editing !== 'new' || !isSys}
              options={hospitals.map((h) => ({ value: h.id, label: h.name }))}
            />
          </Form.Item>
          <Form.Item name="kind" label={t('rp.channel.kind')} rules={[{ required: true }]}>
            <Select
              disabled={editing !== 'new'}
              options={(['hl7', 'fhir', 'dicom'] as const).map((k) => ({
                value: k,
                label: t(`rp.channel.kinds.${k}`),
              }))}
            />
          </Form.Item>
          <Form.Item name="name" label={t('common.name')} rules={[{ required: true, whitespace: true }]}>
            <Input maxLength={100} id="channel-name" />
          </Form.Item>
          {kind === 'hl7' && (
            <>
              <Space>
                <Form.Item
                  name="host"
                  label={t('rp.channel.host')}
                  rules={[{ required: true, whitespace: true }]}
                >
                  <Input style={{ width: 240 }} id="channel-host" />
                </Form.Item>
                <Form.Item name="port" label={t('rp.channel.port')} rules={[{ required: true }]}>
                  <InputNumber min={1} max={65535} id="channel-port" />
                </Form.Item>
              </Space>
              <Form.Item name="charset" label={t('rp.channel.charset')}>
                <Select allowClear options={['GB18030', 'UTF-8'].map((c) => ({ value: c, label: c }))} />
              </Form.Item>
              <Space>
                <Form.Item name="receivingApplication" label="MSH-5">
                  <Input />
                </Form.Item>
                <Form.Item name="receivingFacility" label="MSH-6">
                  <Input />
                </Form.Item>
              </Space>
            </>
          )}
          {kind === 'fhir' && (
            <>
              <Form.Item
                name="baseUrl"
                label={t('rp.channel.baseUrl')}
                rules={[{ required: true, type: 'url' }]}
              >
                <Input placeholder="https://his.example/fhir" />
              </Form.Item>
              <Form.Item
                name="authorization"
                label={t('rp.channel.authorization')}
                extra={t('rp.channel.authorizationHint')}
              >
                <Input.Password autoComplete="off" placeholder="Bearer …" />
              </Form.Item>
            </>
          )}
          {kind === 'dicom' && (
            <Form.Item
              name="aeTitle"
              label={t('rp.channel.aeTitle')}
              rules={[{ required: true, max: 16 }]}
              extra={t('rp.channel.aeHint')}
            >
              <Input />
            </Form.Item>
          )}
          <Form.Item name="enabled" label={t('rp.channel.enabled')} valuePropName="checked">
            <Switch />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}

export function DeliveryOutboxPage() {
  const { t } = useTranslation();
  return (
    <Card title={t('rp.outbox.title')}>
      <Tabs
        items={[
          { key: 'outbox', label: t('rp.outbox.tab'), children: <OutboxTab /> },
          { key: 'channels', label: t('rp.channel.tab'), children: <ChannelsTab /> },
        ]}
      />
    </Card>
  );
}
