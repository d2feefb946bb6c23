/**
 * HL7 接口 (`/admin/hl7`): the registered senders (MSH-4 sending facility [+ MSH-3 application] → hospital)
 * and the message log with outcome filters; a click shows the decoded message text, the ACK and the error.
 */
import { useCallback, useEffect, useState } from 'react';
import {
  App,
  Button,
  Card,
  Descriptions,
  Drawer,
  Form,
  Input,
  Modal,
  Popconfirm,
  Select,
  Space,
  Table,
  Tabs,
  Tag,
} from 'antd';
import { PlusOutlined, ReloadOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router-dom';
import { api, type Hospital } from '../api.ts';
import { formatTime, type Hl7Message, type Hl7Sender } from '../ris.ts';
import { errorText, useHospitals, useList } from './common.tsx';

const OUTCOME_COLOR: Record<string, string> = {
  accepted: 'green',
  duplicate: 'blue',
  rejected: 'orange',
  error: 'red',
};
const PAGE = 100;

function Senders({ hospitals, nameOf }: { hospitals: Hospital[]; nameOf: (id: number) => string }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { rows, loading, reload } = useList<Hl7Sender>('/api/admin/hl7/senders', 'senders');
  const [open, setOpen] = useState(false);
  const [form] = Form.useForm<{ hospitalId: number; sendingFacility: string; sendingApplication?: string }>();
  const save = async (): Promise<void> => {
    const v = await form.validateFields();
    try {
      await api('POST', '/api/admin/hl7/senders', {
        hospitalId: v.hospitalId,
        sendingFacility: v.sendingFacility.trim(),
        ...(v.sendingApplication?.trim() ? { sendingApplication: v.sendingApplication.trim() } : {}),
      });
      setOpen(false);
      await reload();
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    }
  };
  const remove = async (s: Hl7Sender): Promise<void> => {
    try {
      await api('DELETE', `/api/admin/hl7/senders/${s.id}`);
      await reload();
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    }
  };
  return (
    <>
      <Button
        type="primary"
        icon={<PlusOutlined />}
        style={{ marginBottom: 8 }}
        data-testid="hl7-sender-add"
        onClick={() => {
          form.resetFields();
          setOpen(true);
        }}
      >
        {t('wf.hl7.addSender')}
      </Button>
      <Table<Hl7Sender>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={false}
        columns={[
          { title: t('wf.hl7.sendingFacility'), dataIndex: 'sendingFacility' },
          {
            title: t('wf.hl7.sendingApplication'),
            dataIndex: 'sendingApplication',
            render: (a: string | null) => a ?? '*',
          },
          { title: t('wf.hl7.hospital'), dataIndex: 'hospitalId', render: (id: number) => nameOf(id) },
          {
            title: t('common.actions'),
            key: 'a',
            width: 90,
            render: (_: unknown, s) => (
              <Popconfirm
                title={t('wf.hl7.deleteConfirm', { name: s.sendingFacility })}
                okText={t('common.confirm')}
                cancelText={t('common.cancel')}
                onConfirm={() => void remove(s)}
              >
                <Button size="small" danger>
                  {t('common.delete')}
                </Button>
              </Popconfirm>
            ),
          },
        ]}
      />
      <Modal
        open={open}
        title={t('wf.hl7.addSender')}
        okText={t('common.save')}
        cancelText={t('common.cancel')}
        onOk={() => void save()}
        onCancel={() => setOpen(false)}
        destroyOnHidden
        forceRender
      >
        <Form form={form} layout="vertical">
          <Form.Item name="hospitalId" label={t('wf.hl7.hospital')} rules={[{ required: true }]}>
            <Select
              id="hl7-sender-hospital"
              showSearch={{ optionFilterProp: 'label' }}
              options={hospitals.filter((h) => !h.isCenter).map((h) => ({ value: h.id, label: h.name }))}
            />
          </Form.Item>
          <Form.Item
            name="sendingFacility"
            label={t('wf.hl7.sendingFacility')}
            rules={[{ required: true, whitespace: true, max: 180 }]}
          >
            <Input id="hl7-sender-facility" />
          </Form.Item>
          <Form.Item name="sendingApplication" label={t('wf.hl7.sendingApplication')} rules={[{ max: 180 }]}>
            <Input id="hl7-sender-application" placeholder="*" />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}

function Messages({ hospitals, nameOf }: { hospitals: Hospital[]; nameOf: (id: number) => string }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [hospitalId, setHospitalId] = useState<number | undefined>(undefined);
  const [outcome, setOutcome] = useState<string | undefined>(undefined);
  const [rows, setRows] = useState<Hl7Message[]>([]);
  const [loading, setLoading] = useState(false);
  const [more, setMore] = useState(false);
  const [shown, setShown] = useState<Hl7Message | null>(null);

  const load = useCallback(
    async (offset: number) => {
      setLoading(true);
      try {
        const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
        if (hospitalId !== undefined) q.set('hospitalId', String(hospitalId));
        if (outcome !== undefined) q.set('outcome', outcome);
        const r = await api<{ messages: Hl7Message[] }>('GET', `/api/admin/hl7/messages?${q.toString()}`);
        setRows((prev) => (offset === 0 ? r.messages : [...prev, ...r.messages]));
        setMore(r.messages.length === PAGE);
      } catch (err) {
        void message.error(t('common.error', { message: errorText(err) }));
      } finally {
        setLoading(false);
      }
    },
    [hospitalId, outcome, message, t],
  );
  useEffect(() => {
    void load(0);
  }, [load]);

  return (
    <>
      <Space wrap style={{ marginBottom: 8 }}>
        <Select
          allowClear
          style={{ width: 220 }}
          placeholder={t('wf.hl7.hospital')}
          value={hospitalId}
          onChange={setHospitalId}
          showSearch={{ optionFilterProp: 'label' }}
          options={hospitals.map((h) => ({ value: h.id, label: h.name }))}
        />
        <Select
          allowClear
          style={{ width: 140 }}
          placeholder={t('wf.hl7.outcome')}
          value={outcome}
          onChange={setOutcome}
          options={Object.keys(OUTCOME_COLOR).map((o) => ({ value: o, label: t(`wf.hl7.outcomes.${o}`) }))}
        />
        <Button icon={<ReloadOutlined />} onClick={() => void load(0)}>
          {t('wf.worklist.refresh')}
        </Button>
      </Space>
      <Table<Hl7Message>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={false}
        scroll={{ x: 1100 }}
        onRow={(m) => ({ onClick: () => setShown(m), style: { cursor: 'pointer' } })}
        columns={[
          {
            title: t('wf.hl7.receivedAt'),
            dataIndex: 'receivedAt',
            width: 140,
            render: (d: string) => formatTime(d),
          },
          { title: t('wf.hl7.messageType'), dataIndex: 'messageType', width: 110 },
          {
            title: t('wf.hl7.outcome'),
            dataIndex: 'outcome',
            width: 90,
            render: (o: string) => (
              <Tag color={OUTCOME_COLOR[o]}>{t(`wf.hl7.outcomes.${o}`, { defaultValue: o })}</Tag>
            ),
          },
          { title: t('wf.hl7.ack'), dataIndex: 'ackCode', width: 60 },
          { title: t('wf.hl7.sendingFacility'), dataIndex: 'sendingFacility', width: 140 },
          {
            title: t('wf.hl7.hospital'),
            dataIndex: 'hospitalId',
            width: 140,
            render: (id: number | null) => (id !== null ? nameOf(id) : '—'),
          },
          { title: t('wf.hl7.controlId'), dataIndex: 'controlId', width: 140, ellipsis: true },
          { title: t('wf.hl7.peer'), dataIndex: 'peer', width: 140 },
          { title: t('wf.hl7.error'), dataIndex: 'error', ellipsis: true },
        ]}
      />
      {more && (
        <Button style={{ marginTop: 8 }} loading={loading} onClick={() => void load(rows.length)}>
          {t('wf.hl7.more')}
        </Button>
      )}
      <Drawer
        open={shown !== null}
        size="large"
        title={shown !== null ? `${shown.messageType ?? ''} · ${shown.controlId ?? ''}` : ''}
        onClose={() => setShown(null)}
      >
        {shown !== null && (
          <Space orientation="vertical" style={{ width: '100%' }}>
            <Descriptions size="small" column={2} bordered>
              <Descriptions.Item label={t('wf.hl7.receivedAt')}>
                {formatTime(shown.receivedAt)}
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.hl7.outcome')}>
                <Tag color={OUTCOME_COLOR[shown.outcome]}>
                  {t(`wf.hl7.outcomes.${shown.outcome}`, { defaultValue: shown.outcome })}
                </Tag>
                {shown.ackCode}
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.hl7.peer')}>{shown.peer ?? '—'}</Descriptions.Item>
              <Descriptions.Item label={t('wf.hl7.charset')}>{shown.charset ?? '—'}</Descriptions.Item>
              <Descriptions.Item label={t('wf.hl7.hospital')}>
                {shown.hospitalId !== null ? nameOf(shown.hospitalId) : '—'}
              </Descriptions.Item>
              <Descriptions.Item label={t('wf.hl7.exam')}>
                {shown.examId !== null ? <Link to={`/exams/${shown.examId}`}>#{shown.examId}</Link> : '—'}
              </Descriptions.Item>
              {shown.error !== null && (
                <Descriptions.Item label={t('wf.hl7.error')} span={2}>
                  <span style={{ color: '#cf1322' }} data-testid="hl7-error">
                    {shown.error}
                  </span>
                </Descriptions.Item>
              )}
            </Descriptions>
            <pre
              data-testid="hl7-text"
              style={{
                background: '#fafafa',
                border: '1px solid #eee',
                padding: 8,
                fontSize: 12,
                whiteSpace: 'pre-wrap',
                wordBreak: 'break-all',
              }}
            >
              {shown.text.split(/\r\n|\r|\n/).join('\n')}
            </pre>
          </Space>
        )}
      </Drawer>
    </>
  );
}

export function Hl7Page() {
  const { t } = useTranslation();
  const { hospitals, nameOf } = useHospitals();
  return (
    <Card size="small" title={t('wf.hl7.title')}>
      <Tabs
        items={[
          {
            key: 'messages',
            label: t('wf.hl7.messages'),
            children: <Messages hospitals={hospitals} nameOf={nameOf} />,
          },
          {
            key: 'senders',
            label: t('wf.hl7.senders'),
            children: <Senders hospitals={hospitals} nameOf={nameOf} />,
          },
        ]}
      />
    </Card>
  );
}
