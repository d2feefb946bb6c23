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
  Space,
  Table,
  Tag,
  Typography,
} from 'antd';
import { PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { api, GRADES, ROLES, type Grade, type Role, type User } from '../api.ts';
import { useAuth } from '../auth.tsx';
import { errorText, useHospitals, useList } from './common.tsx';

interface Values {
  username: string;
  displayName: string;
  hospitalId?: number;
  roles: Role[];
  grade?: Grade | 'none';
}

export function UsersPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const sys = me?.user.roles.includes('system_admin') === true;
  const { rows, loading, reload } = useList<User>('/api/admin/users', 'users');
  const { hospitals, nameOf } = useHospitals();
  const [editing, setEditing] = useState<User | 'new' | null>(null);
  const [secret, setSecret] = useState<{ username: string; password: string } | null>(null);
  const [form] = Form.useForm<Values>();

  const open = (u: User | 'new'): void => {
    setEditing(u);
    form.setFieldsValue(
      u === 'new'
        ? { username: '', displayName: '', roles: [], grade: 'none' }
        : { username: u.username, displayName: u.displayName, roles: u.roles, grade: u.grade ?? 'none' },
    );
  };
  const fail = (err: unknown): void => void message.error(t('common.error', { message: errorText(err) }));

  const save = async (): Promise<void> => {
    const v = await form.validateFields();
    const grade = v.grade === undefined || v.grade === 'none' ? null : v.grade;
    try {
      if (editing === 'new') {
        const r = await api<{ user: User; temporaryPassword: string }>('POST', '/api/admin/users', {
          username: v.username.trim(),
          displayName: v.displayName.trim(),
          roles: v.roles,
          grade,
          ...(v.hospitalId !== undefined ? { hospitalId: v.hospitalId } : {}),
        });
        void message.success(t('users.created', { name: r.user.displayName }));
        setSecret({ username: r.user.username, password: r.temporaryPassword });
      } else if (editing !== null) {
        await api('PATCH', `/api/admin/users/${editing.id}`, {
          displayName: v.displayName.trim(),
          roles: v.roles,
          grade,
        });
        void message.success(t('common.saved'));
      }
      setEditing(null);
      await reload();
    } catch (err) {
      fail(err);
    }
  };
  const resetPassword = async (u: User): Promise<void> => {
    try {
      const r = await api<{ temporaryPassword: string }>('POST', `/api/admin/users/${u.id}/reset-password`);
      setSecret({ username: u.username, password: r.temporaryPassword });
      await reload();
    } catch (err) {
      fail(err);
    }
  };
  const setDisabled = async (u: User, disabled: boolean): Promise<void> => {
    try {
      await api('POST', `/api/admin/users/${u.id}/${disabled ? 'disable' : 'enable'}`);
      await reload();
    } catch (err) {
      fail(err);
    }
  };

  return (
    <Card
      title={t('users.title')}
      extra={
        <Button type="primary" icon={<PlusOutlined />} onClick={() => open('new')} data-testid="user-add">
          {t('users.add')}
        </Button>
      }
    >
      <Table<User>
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={{ pageSize: 20 }}
        columns={[
          { title: t('users.username'), dataIndex: 'username' },
          { title: t('users.displayName'), dataIndex: 'displayName' },
          { title: t('common.hospital'), dataIndex: 'hospitalId', render: (id: number) => nameOf(id) },
          {
            title: t('users.roles'),
            dataIndex: 'roles',
            render: (roles: Role[]) => roles.map((r) => <Tag key={r}>{t(`roles.${r}`)}</Tag>),
          },
          {
            title: t('users.grade'),
            dataIndex: 'grade',
            render: (g: Grade | null) => (g === null ? '—' : t(`grades.${g}`)),
          },
          {
            title: t('users.status'),
            key: 's',
            render: (_: unknown, u) => (
              <Space size={4} wrap>
                {u.disabled ? (
                  <Tag color="red">{t('users.disabled')}</Tag>
                ) : (
                  <Tag color="green">{t('users.active')}</Tag>
                )}
                {u.lockedUntil !== null && Date.parse(u.lockedUntil) > Date.now() && (
                  <Tag color="orange">{t('users.locked')}</Tag>
                )}
                {u.mustChangePassword && <Tag>{t('users.mustChange')}</Tag>}
              </Space>
            ),
          },
          {
            title: t('common.actions'),
            key: 'a',
            render: (_: unknown, u) => (
              <Space size={4} wrap>
                <Button size="small" onClick={() => open(u)}>
                  {t('common.edit')}
                </Button>
                <Popconfirm
                  title={t('users.resetConfirm', { name: u.displayName })}
                  okText={t('common.confirm')}
                  cancelText={t('common.cancel')}
                  onConfirm={() => void resetPassword(u)}
                >
                  <Button size="small">{t('users.resetPassword')}</Button>
                </Popconfirm>
                {u.disabled ? (
                  <Button size="small" onClick={() => void setDisabled(u, false)}>
                    {t('users.enable')}
                  </Button>
                ) : (
                  <Popconfirm
                    title={t('users.disableConfirm', { name: u.displayName })}
                    okText={t('common.confirm')}
                    cancelText={t('common.cancel')}
                    onConfirm={() => void setDisabled(u, true)}
                  >
                    <Button size="small" danger>
                      {t('users.disable')}
                    </Button>
                  </Popconfirm>
                )}
              </Space>
            ),
          },
        ]}
      />
      <Modal
        open={editing !== null}
        title={editing === 'new' ? t('users.add') : t('users.editTitle')}
        okText={t('common.save')}
        cancelText={t('common.cancel')}
        onOk={() => void save()}
        onCancel={() => setEditing(null)}
        forceRender
      >
        <Form form={form} layout="vertical">
          <Form.Item
            name="username"
            label={t('users.username')}
            rules={[{ required: true, pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/ }]}
          >
            <Input disabled={editing !== 'new'} id="user-username" />
          </Form.Item>
          <Form.Item name="displayName" label={t('users.displayName')} rules={[{ required: true, max: 100 }]}>
            <Input id="user-displayname" />
          </Form.Item>
          {sys && editing === 'new' && (
            <Form.Item name="hospitalId" label={t('common.hospital')} rules={[{ required: true }]}>
              <Select
                id="user-hospital"
                showSearch={{ optionFilterProp: 'label' }}
                options={hospitals.map((h) => ({ value: h.id, label: `${h.name} (${h.code})` }))}
              />
            </Form.Item>
          )}
          <Form.Item
            name="roles"
            label={t('users.roles')}
            rules={[{ required: true, message: t('users.rolesRequired') }]}
          >
            <Select
              id="user-roles"
              mode="multiple"
              options={ROLES.map((r) => ({ value: r, label: t(`roles.${r}`) }))}
            />
          </Form.Item>
          <Form.Item name="grade" label={t('users.grade')}>
            <Select
              options={[
                { value: 'none', label: t('grades.none') },
                ...GRADES.map((g) => ({ value: g, label: t(`grades.${g}`) })),
              ]}
            />
          </Form.Item>
        </Form>
      </Modal>
      <Modal
        open={secret !== null}
        title={t('users.tempPasswordTitle')}
        onCancel={() => setSecret(null)}
        footer={
          <Button type="primary" onClick={() => setSecret(null)}>
            {t('common.close')}
          </Button>
        }
      >
        <Alert type="warning" showIcon title={t('users.tempPasswordHint')} style={{ marginBottom: 16 }} />
        <Typography.Paragraph>
          {t('users.username')}: <Typography.Text strong>{secret?.username}</Typography.Text>
        </Typography.Paragraph>
        <Typography.Paragraph copyable={{ text: secret?.password ?? '' }}>
          <Typography.Text code data-testid="temp-password">
            {secret?.password}
          </Typography.Text>
        </Typography.Paragraph>
      </Modal>
    </Card>
  );
}
