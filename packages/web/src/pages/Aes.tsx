import { useState } from 'react';
import { App, Button, Card, Form, Input, InputNumber, Modal, Popconfirm, Select, Table } from 'antd';
import { PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { api, type Ae } from '../api.ts';
import { useAuth } from '../auth.tsx';
import { errorText, useHospitals, useList } from './common.tsx';

interface Values {
  aeTitle: string;
  hospitalId?: number;
  host?: string;
  port?: number;
  description?: string;
}

export function AesPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const sys = me?.user.roles.includes('system_admin') === true;
  const { rows, loading, reload } = useList<Ae>('/api/admin/aes', 'aes');
  const { hospitals, nameOf } = useHospitals();
  const [open, setOpen] = useState(false);
  const [form] = Form.useForm<Values>();

  const save = async (): Promise<void> => {
    const v = await form.validateFields();
    try {
      await api('POST', '/api/admin/aes', {
        aeTitle: v.aeTitle.trim(),
        ...(v.hospitalId !== undefined ? { hospitalId: v.hospitalId } : {}),
        ...(v.host !== undefined && v.host.trim() !== '' ? { host: v.host.trim() } : {}),
        ...(v.port != null ? { port: v.port } : {}),
        ...(v.description !== undefined && v.description !== '' ? { description: v.description } : {}),
      });
      void message.success(t('aes.created', { title: v.aeTitle }));
      setOpen(false);
      await reload();
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    }
  };
  const remove = async (title: string): Promise<void> => {
    try {
      await api('DELETE', `/api/admin/aes/${encodeURIComponent(title)}`);
      void message.success(t('aes.deleted'));
      await reload();
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    }
  };

  return (
    <Card
      title={t('aes.title')}
      extra={
        <Button
          type="primary"
          icon={<PlusOutlined />}
          onClick={() => {
            form.resetFields();
            setOpen(true);
          }}
        >
          {t('aes.add')}
        </Button>
      }
    >
      <Table<Ae>
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={false}
        columns={[
          { title: t('aes.aeTitle'), dataIndex: 'aeTitle' },
          { title: t('common.hospital'), dataIndex: 'hospitalId', render: (id: number) => nameOf(id) },
          { title: t('aes.host'), dataIndex: 'host', render: (h?: string) => h ?? '—' },
          { title: t('aes.port'), dataIndex: 'port', render: (p?: number) => p ?? '—' },
          { title: t('aes.description'), dataIndex: 'description', render: (d?: string) => d ?? '' },
          {
            title: t('common.actions'),
            key: 'a',
            render: (_: unknown, a) => (
              <Popconfirm
                title={t('aes.deleteConfirm', { title: a.aeTitle })}
                okText={t('common.confirm')}
                cancelText={t('common.cancel')}
                onConfirm={() => void remove(a.aeTitle)}
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
        title={t('aes.add')}
        okText={t('common.save')}
        cancelText={t('common.cancel')}
        onOk={() => void save()}
        onCancel={() => setOpen(false)}
        forceRender
      >
        <Form form={form} layout="vertical">
          <Form.Item name="aeTitle" label={t('aes.aeTitle')} rules={[{ required: true, max: 16 }]}>
            <Input maxLength={16} />
          </Form.Item>
          {sys && (
            <Form.Item name="hospitalId" label={t('common.hospital')} rules={[{ required: true }]}>
              <Select options={hospitals.map((h) => ({ value: h.id, label: `${h.name} (${h.code})` }))} />
            </Form.Item>
          )}
          <Form.Item name="host" label={t('aes.host')}>
            <Input />
          </Form.Item>
          <Form.Item name="port" label={t('aes.port')}>
            <InputNumber min={1} max={65535} />
          </Form.Item>
          <Form.Item name="description" label={t('aes.description')}>
            <Input maxLength={200} />
          </Form.Item>
        </Form>
      </Modal>
    </Card>
  );
}
