import { useState } from 'react';
import { App, Button, Card, Checkbox, Form, Input, Modal, Space, Table, Tag } from 'antd';
import { PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router-dom';
import { api, type Hospital } from '../api.ts';
import { errorText, useList } from './common.tsx';

interface Values {
  code: string;
  name: string;
  isCenter?: boolean;
  defaultCharset?: string;
}

export function HospitalsPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { rows, loading, reload } = useList<Hospital>('/api/admin/hospitals', 'hospitals');
  const [editing, setEditing] = useState<Hospital | 'new' | null>(null);
  const [form] = Form.useForm<Values>();
  const navigate = useNavigate();

  const open = (h: Hospital | 'new'): void => {
    setEditing(h);
    form.setFieldsValue(
      h === 'new'
        ? { code: '', name: '', isCenter: false, defaultCharset: '' }
        : { code: h.code, name: h.name, isCenter: h.isCenter, defaultCharset: h.defaultCharset ?? '' },
    );
  };
  const save = async (): Promise<void> => {
    const v = await form.validateFields();
    const charset = v.defaultCharset?.trim() ?? '';
    try {
      if (editing === 'new') {
        await api('POST', '/api/admin/hospitals', {
          code: v.code.trim(),
          name: v.name.trim(),
          isCenter: v.isCenter === true,
          ...(charset !== '' ? { defaultCharset: charset } : {}),
        });
        void message.success(t('hospitals.created', { name: v.name }));
      } else if (editing !== null) {
        await api('PATCH', `/api/admin/hospitals/${editing.id}`, {
          name: v.name.trim(),
          isCenter: v.isCenter === true,
          defaultCharset: charset === '' ? null : charset,
        });
        void message.success(t('common.saved'));
      }
      setEditing(null);
      await reload();
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    }
  };

  return (
    <Card
      title={t('hospitals.title')}
      extra={
        <Button type="primary" icon={<PlusOutlined />} onClick={() => open('new')} data-testid="hospital-add">
          {t('hospitals.add')}
        </Button>
      }
    >
      <Table<Hospital>
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={false}
        columns={[
          { title: t('hospitals.code'), dataIndex: 'code' },
          { title: t('hospitals.name'), dataIndex: 'name' },
          {
            title: t('hospitals.isCenter'),
            dataIndex: 'isCenter',
            render: (c: boolean) => (c ? <Tag color="gold">{t('common.yes')}</Tag> : t('common.no')),
          },
          {
            title: t('hospitals.charset'),
            dataIndex: 'defaultCharset',
            render: (c: string | null) => c ?? '—',
          },
          {
            title: t('common.actions'),
            key: 'a',
            render: (_: unknown, h) => (
              <Space size={4}>
                <Button size="small" onClick={() => open(h)}>
                  {t('common.edit')}
                </Button>
                {!h.isCenter && (
                  <Button size="small" onClick={() => void navigate(`/admin/hospitals/${h.id}/policy`)}>
                    {t('wf.policy.edit')}
                  </Button>
                )}
              </Space>
            ),
          },
        ]}
      />
      <Modal
        open={editing !== null}
        title={editing === 'new' ? t('hospitals.add') : t('hospitals.editTitle')}
        okText={t('common.save')}
        cancelText={t('common.cancel')}
        onOk={() => void save()}
        onCancel={() => setEditing(null)}
        destroyOnHidden
        forceRender
      >
        <Form form={form} layout="vertical">
          <Form.Item
            name="code"
            label={t('hospitals.code')}
            extra={t('hospitals.codeRule')}
            rules={[
              {
                required: true,
                pattern: /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/,
                message: t('hospitals.codeRule'),
              },
            ]}
          >
            <Input disabled={editing !== 'new'} id="hospital-code" />
          </Form.Item>
          <Form.Item name="name" label={t('hospitals.name')} rules={[{ required: true, max: 200 }]}>
            <Input id="hospital-name" />
          </Form.Item>
          <Form.Item name="isCenter" valuePropName="checked">
            <Checkbox>{t('hospitals.isCenter')}</Checkbox>
          </Form.Item>
          <Form.Item name="defaultCharset" label={t('hospitals.charset')}>
            <Input placeholder="GB18030" />
          </Form.Item>
        </Form>
      </Modal>
    </Card>
  );
}
