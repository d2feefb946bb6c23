import { useCallback, useEffect, useState } from 'react';
import { App, Button, Card, DatePicker, Form, Input, Select, Space, Table, Tag, Typography } from 'antd';
import type { Dayjs } from 'dayjs';
import { DownloadOutlined, SearchOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { api, type AuditEvent } from '../api.ts';
import { errorText } from './common.tsx';

interface Filters {
  range?: [Dayjs | null, Dayjs | null] | null;
  actor?: string;
  action?: string;
  outcome?: string;
  patientId?: string;
  studyUid?: string;
}

function queryOf(f: Filters): URLSearchParams {
  const q = new URLSearchParams();
  const [from, to] = f.range ?? [null, null];
  if (from != null) q.set('from', from.toISOString());
  if (to != null) q.set('to', to.toISOString());
  for (const k of ['actor', 'action', 'outcome', 'patientId', 'studyUid'] as const) {
    const v = f[k]?.trim();
    if (v !== undefined && v !== '') q.set(k, v);
  }
  return q;
}

const OUTCOME_COLOR: Record<string, string> = { success: 'green', failure: 'orange', denied: 'red' };

export function AuditPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [form] = Form.useForm<Filters>();
  const [rows, setRows] = useState<AuditEvent[]>([]);
  const [loading, setLoading] = useState(false);

  const search = useCallback(
    async (f: Filters) => {
      setLoading(true);
      try {
        const q = queryOf(f);
        q.set('limit', '500');
        const r = await api<{ events: AuditEvent[] }>('GET', `/api/admin/audit?${q.toString()}`);
        setRows(r.events);
      } catch (err) {
        void message.error(t('common.error', { message: errorText(err) }));
      } finally {
        setLoading(false);
      }
    },
    [message, t],
  );
  useEffect(() => {
    void search({});
  }, [search]);

  const exportCsv = (): void => {
    const q = queryOf(form.getFieldsValue());
    const a = document.createElement('a');
    a.href = `/api/admin/audit/export?${q.toString()}`;
    a.download = '';
    document.body.appendChild(a);
    a.click();
    a.remove();
  };

  return (
    <Card title={t('audit.title')}>
      <Form
        form={form}
        layout="inline"
        onFinish={(f: Filters) => void search(f)}
        style={{ rowGap: 12, marginBottom: 16 }}
      >
        <Form.Item name="range" label={t('audit.timeRange')}>
          <DatePicker.RangePicker showTime allowEmpty={[true, true]} />
        </Form.Item>
        <Form.Item name="actor" label={t('audit.actor')}>
          <Input allowClear style={{ width: 140 }} />
        </Form.Item>
        <Form.Item name="action" label={t('audit.action')}>
          <Input allowClear style={{ width: 140 }} />
        </Form.Item>
        <Form.Item name="outcome" label={t('audit.outcome')}>
          <Select
            allowClear
            style={{ width: 120 }}
            options={['success', 'failure', 'denied'].map((o) => ({ value: o, label: t(`audit.${o}`) }))}
          />
        </Form.Item>
        <Form.Item name="patientId" label={t('audit.patientId')}>
          <Input allowClear style={{ width: 140 }} />
        </Form.Item>
        <Form.Item name="studyUid" label={t('audit.studyUid')}>
          <Input allowClear style={{ width: 200 }} />
        </Form.Item>
        <Space>
          <Button type="primary" htmlType="submit" icon={<SearchOutlined />}>
            {t('common.search')}
          </Button>
          <Button
            onClick={() => {
              form.resetFields();
              void search({});
            }}
          >
            {t('common.reset')}
          </Button>
          <Button icon={<DownloadOutlined />} onClick={exportCsv}>
            {t('audit.exportCsv')}
          </Button>
        </Space>
      </Form>
      <Typography.Paragraph type="secondary">{t('audit.count', { count: rows.length })}</Typography.Paragraph>
      <Table<AuditEvent>
        rowKey="id"
        size="small"
        loading={loading}
        dataSource={rows}
        pagination={{ pageSize: 50 }}
        scroll={{ x: 1100 }}
        columns={[
          {
            title: t('audit.at'),
            dataIndex: 'at',
            width: 180,
            render: (d: string) => new Date(d).toLocaleString(),
          },
          {
            title: t('audit.actor'),
            key: 'actor',
            render: (_: unknown, e) => e.actorName ?? e.actorId ?? e.actorType,
          },
          { title: t('audit.source'), dataIndex: 'source' },
          { title: t('audit.protocol'), dataIndex: 'protocol' },
          { title: t('audit.action'), dataIndex: 'action' },
          {
            title: t('audit.outcome'),
            dataIndex: 'outcome',
            render: (o: string) => <Tag color={OUTCOME_COLOR[o]}>{t(`audit.${o}`, { defaultValue: o })}</Tag>,
          },
          { title: t('audit.object'), dataIndex: 'object' },
          { title: t('audit.patientId'), dataIndex: 'patientId' },
          { title: t('audit.studyUid'), dataIndex: 'studyUid', ellipsis: true },
          { title: t('audit.detail'), dataIndex: 'detail', ellipsis: true },
        ]}
      />
    </Card>
  );
}
