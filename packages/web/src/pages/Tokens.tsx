import { useState } from 'react';
import {
  Alert,
  App,
  Button,
  Card,
  Form,
  Input,
  Modal,
  Popconfirm,
  Select,
  Table,
  Tag,
  Typography,
} from 'antd';
import { PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { api, type ApiToken } from '../api.ts';
import { useAuth } from '../auth.tsx';
import { errorText, useHospitals, useList } from './common.tsx';

export function TokensPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const sys = me?.user.roles.includes('system_admin') === true;
  const { rows, loading, reload } = useList<ApiToken>('/api/admin/tokens', 'tokens');
  const { hospitals, nameOf } = useHospitals();
  const [open, setOpen] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [form] = Form.useForm<{ name: string; hospitalId?: number }>();

  const fail = (err: unknown): void => void message.error(t('common.error', { message: errorText(err) }));
  const save = async (): Promise<void> => {
    const v = await form.validateFields();
    try {
      const r = await api<{ token: string }>('POST', '/api/admin/tokens', {
        name: v.name.trim(),
        ...(v.hospitalId !== undefined ? { hospitalId: v.hospitalId } : {}),
      });
      setOpen(false);
      setSecret(r.token);
      await reload();
    } catch (err) {
      fail(err);
    }
  };
  const revoke = async (id: number): Promise<void> => {
    try {
      await api('POST', `/api/admin/tokens/${id}/revoke`);
      await reload();
    } catch (err) {
      fail(err);
    }
  };

  return (
    <Card
      title={t('tokens.title')}
      extra={
        <Button
          type="primary"
          icon={<PlusOutlined />}
          onClick={() => {
            form.resetFields();
            setOpen(true);
          }}
        >
          {t('tokens.add')}
        </Button>
      }
    >
      <Table<ApiToken>
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={false}
        columns={[
          { title: t('tokens.name'), dataIndex: 'name' },
          { title: t('common.hospital'), dataIndex: 'hospitalId', render: (id: number) => nameOf(id) },
          {
            title: t('common.createdAt'),
            dataIndex: 'createdAt',
            render: (d: string) => new Date(d).toLocaleString(),
          },
          {
            title: t('tokens.lastUsed'),
            dataIndex: 'lastUsedAt',
            render: (d?: string) => (d === undefined ? '—' : new Date(d).toLocaleString()),
          },
          {
            title: t('tokens.status'),
            key: 's',
            render: (_: unknown, k) =>
              k.revokedAt !== undefined ? (
                <Tag color="red">{t('tokens.revoked')}</Tag>
              ) : (
                <Tag color="green">{t('tokens.active')}</Tag>
              ),
          },
          {
            title: t('common.actions'),
            key: 'a',
            render: (_: unknown, k) =>
              k.revokedAt === undefined && (
                <Popconfirm
                  title={t('tokens.revokeConfirm', { name: k.name })}
                  okText={t('common.confirm')}
                  cancelText={t('common.cancel')}
                  onConfirm={() => void revoke(k.id)}
                >
                  <Button size="small" danger>
                    {t('tokens.revoke')}
                  </Button>
                </Popconfirm>
              ),
          },
        ]}
      />
      <Modal
        open={open}
        title={t('tokens.add')}
        okText={t('common.create')}
        cancelText={t('common.cancel')}
        onOk={() => void save()}
        onCancel={() => setOpen(false)}
        forceRender
      >
        <Form form={form} layout="vertical">
          <Form.Item name="name" label={t('tokens.name')} rules={[{ required: true, max: 100 }]}>
            <Input />
          </Form.Item>
          {sys && (
            <Form.Item name="hospitalId" label={t('common.hospital')} rules={[{ required: true }]}>
              <Select options={hospitals.map((h) => ({ value: h.id, label: `${h.name} (${h.code})` }))} />
            </Form.Item>
          )}
        </Form>
      </Modal>
      <Modal
        open={secret !== null}
        title={t('tokens.shownOnceTitle')}
        onCancel={() => setSecret(null)}
        footer={
          <Button type="primary" onClick={() => setSecret(null)}>
            {t('common.close')}
          </Button>
        }
      >
        <Alert type="warning" showIcon title={t('tokens.shownOnceHint')} style={{ marginBottom: 16 }} />
        <Typography.Paragraph copyable={{ text: secret ?? '' }}>
          <Typography.Text code style={{ wordBreak: 'break-all' }}>
            {secret}
          </Typography.Text>
        </Typography.Paragraph>
      </Modal>
    </Card>
  );
}
