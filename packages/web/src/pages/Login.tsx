import { useRef, useState } from 'react';
import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { LockOutlined, UserOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { api, ApiError, setCsrfToken } from '../api.ts';
import { useAuth } from '../auth.tsx';
import { LanguageSwitch } from './LanguageSwitch.tsx';

/** The server locks an account after this many failures in a row (accounts/service.ts MAX_FAILED_LOGINS). */
const LOCKOUT_AFTER = 5;

export function LoginPage() {
  const { t } = useTranslation();
  const { refresh } = useAuth();
  const [error, setError] = useState<{ kind: 'invalid' | 'locked' | 'other'; message?: string } | null>(null);
  const [busy, setBusy] = useState(false);
  // failures per username in this browser: the server answers every failure alike (no username probing)
  const failures = useRef(new Map<string, number>());

  const onFinish = async (v: { username: string; password: string }): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ csrfToken: string }>('POST', '/api/auth/login', v);
      setCsrfToken(r.csrfToken);
      failures.current.delete(v.username.toLowerCase());
      await refresh();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        const key = v.username.toLowerCase();
        const n = (failures.current.get(key) ?? 0) + 1;
        failures.current.set(key, n);
        setError({ kind: n >= LOCKOUT_AFTER ? 'locked' : 'invalid' });
      } else setError({ kind: 'other', message: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <div
      style={{
        minHeight: '100vh',
        display: 'flex',
        alignItems: 'center',
        justifyContent: 'center',
        background: '#f0f2f5',
      }}
    >
      <Card style={{ width: 380 }}>
        <div style={{ display: 'flex', justifyContent: 'space-between', alignItems: 'baseline' }}>
          <Typography.Title level={3} style={{ marginTop: 0 }}>
            {t('app.name')}
          </Typography.Title>
          <LanguageSwitch />
        </div>
        <Typography.Paragraph type="secondary">{t('app.subtitle')}</Typography.Paragraph>
        {error !== null && (
          <Alert
            type="error"
            showIcon
            style={{ marginBottom: 16 }}
            data-testid={`login-error-${error.kind}`}
            title={
              error.kind === 'locked'
                ? t('login.locked', { count: LOCKOUT_AFTER })
                : error.kind === 'invalid'
                  ? t('login.invalid')
                  : t('login.failed', { message: error.message ?? '' })
            }
          />
        )}
        <Form layout="vertical" onFinish={(v: { username: string; password: string }) => void onFinish(v)}>
          <Form.Item
            name="username"
            label={t('login.username')}
            rules={[{ required: true, message: t('login.usernameRequired') }]}
          >
            <Input prefix={<UserOutlined />} autoComplete="username" id="login-username" />
          </Form.Item>
          <Form.Item
            name="password"
            label={t('login.password')}
            rules={[{ required: true, message: t('login.passwordRequired') }]}
          >
            <Input.Password prefix={<LockOutlined />} autoComplete="current-password" id="login-password" />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy} data-testid="login-submit">
            {t('login.submit')}
          </Button>
        </Form>
      </Card>
    </div>
  );
}
