import { useState } from 'react';
import { Alert, App, Button, Form, Input } from 'antd';
import { useTranslation } from 'react-i18next';
import { api } from '../api.ts';
import { useAuth } from '../auth.tsx';

interface Values {
  current: string;
  next: string;
  repeat: string;
}

export function ChangePasswordForm({ onDone }: { onDone?: () => void }) {
  const { t } = useTranslation();
  const { refresh } = useAuth();
  const { message } = App.useApp();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const onFinish = async (v: Values): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await api('POST', '/api/auth/change-password', { current: v.current, next: v.next });
      void message.success(t('password.changed'));
      await refresh();
      onDone?.();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form layout="vertical" onFinish={(v: Values) => void onFinish(v)}>
      {error !== null && (
        <Alert
          type="error"
          showIcon
          style={{ marginBottom: 16 }}
          title={t('common.error', { message: error })}
        />
      )}
      <Form.Item
        name="current"
        label={t('password.current')}
        rules={[{ required: true, message: t('password.required') }]}
      >
        <Input.Password autoComplete="current-password" id="pw-current" />
      </Form.Item>
      <Form.Item
        name="next"
        label={t('password.next')}
        extra={t('password.policy')}
        rules={[{ required: true, message: t('password.required') }]}
      >
        <Input.Password autoComplete="new-password" id="pw-next" />
      </Form.Item>
      <Form.Item
        name="repeat"
        label={t('password.repeat')}
        dependencies={['next']}
        rules={[
          { required: true, message: t('password.required') },
          ({ getFieldValue }) => ({
            validator: (_r, value) =>
              value === getFieldValue('next')
                ? Promise.resolve()
                : Promise.reject(new Error(t('password.mismatch'))),
          }),
        ]}
      >
        <Input.Password autoComplete="new-password" id="pw-repeat" />
      </Form.Item>
      <Button type="primary" htmlType="submit" loading={busy} data-testid="pw-submit">
        {t('password.submit')}
      </Button>
    </Form>
  );
}
