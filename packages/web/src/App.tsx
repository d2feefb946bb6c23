import { useState, type ReactNode } from 'react';
import {
  App as AntApp,
  ConfigProvider,
  Dropdown,
  Layout,
  Menu,
  Modal,
  Result,
  Button,
  Spin,
  Typography,
} from 'antd';
import type { MenuProps } from 'antd';
import zhCN from 'antd/locale/zh_CN';
import enUS from 'antd/locale/en_US';
import {
  ApiOutlined,
  AuditOutlined,
  BankOutlined,
  ControlOutlined,
  DesktopOutlined,
  FormOutlined,
  LinkOutlined,
  MessageOutlined,
  OrderedListOutlined,
  UnorderedListOutlined,
  EyeOutlined,
  FileTextOutlined,
  HomeOutlined,
  SendOutlined,
  SnippetsOutlined,
  KeyOutlined,
  TeamOutlined,
  UserOutlined,
} from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { Link, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { permissions, useAuth } from './auth.tsx';
import { setLanguage } from './i18n.ts';
import { LoginPage } from './pages/Login.tsx';
import { ChangePasswordForm } from './pages/ChangePassword.tsx';
import { HomePage } from './pages/Home.tsx';
import { HospitalsPage } from './pages/Hospitals.tsx';
import { AesPage } from './pages/Aes.tsx';
import { UsersPage } from './pages/Users.tsx';
import { TokensPage } from './pages/Tokens.tsx';
import { AuditPage } from './pages/Audit.tsx';
import { WorklistPage } from './pages/Worklist.tsx';
import { ExamPage } from './pages/ExamPage.tsx';
import { RegisterPage } from './pages/Register.tsx';
import { MatchingPage } from './pages/Matching.tsx';
import { PolicyPage } from './pages/Policy.tsx';
import { Hl7Page } from './pages/Hl7.tsx';
import {
  DeliveryOutboxPage,
  ReportHeaderAdminPage,
  ReportPrintPage,
  ReportTemplatesAdminPage,
  reportingPermissions,
} from './reporting/index.ts';

export function App() {
  const { i18n } = useTranslation();
  return (
    <ConfigProvider locale={i18n.language === 'en' ? enUS : zhCN}>
      <AntApp>
        <Shell />
      </AntApp>
    </ConfigProvider>
  );
}

function Shell() {
  const { me, loading } = useAuth();
  const { t } = useTranslation();
  if (loading)
    return (
      <div style={{ display: 'flex', justifyContent: 'center', marginTop: 120 }}>
        <Spin tip={t('common.loading')}>
          <div style={{ width: 120, height: 60 }} />
        </Spin>
      </div>
    );
  if (me === null)
    return (
      <Routes>
        <Route path="*" element={<LoginPage />} />
      </Routes>
    );
  if (me.mustChangePassword) return <ForcedChange />;
  return <MainLayout />;
}

function ForcedChange() {
  const { t } = useTranslation();
  return (
    <div style={{ maxWidth: 440, margin: '80px auto', padding: 24 }}>
      <Typography.Title level={3}>{t('password.changeTitle')}</Typography.Title>
      <Typography.Paragraph type="warning" data-testid="forced-change-hint">
        {t('password.forcedHint')}
      </Typography.Paragraph>
      <ChangePasswordForm />
    </div>
  );
}

function Guard({ allowed, children }: { allowed: boolean; children: ReactNode }) {
  const { t } = useTranslation();
  if (allowed) return <>{children}</>;
  return (
    <Result
      status="403"
      title={t('errors.forbidden')}
      extra={
        <Link to="/">
          <Button type="primary">{t('errors.back')}</Button>
        </Link>
      }
    />
  );
}

/** the menu entry a path belongs to (a hospital's policy under 一院一策) */
function selectedKey(path: string): string {
  if (/^\/admin\/hospitals\/\d+\/policy$/.test(path)) return '/admin/policy';
  return path;
}

function MainLayout() {
  const { me, logout } = useAuth();
  const { t, i18n } = useTranslation();
  const { message } = AntApp.useApp();
  const navigate = useNavigate();
  const location = useLocation();
  const [collapsed, setCollapsed] = useState(false);
  const can = permissions(me);
  const canReport = reportingPermissions(me);

  const adminItems: NonNullable<MenuProps['items']> = [
    ...(can.hospitals
      ? [{ key: '/admin/hospitals', icon: <BankOutlined />, label: t('nav.hospitals') }]
      : []),
    ...(can.aes ? [{ key: '/admin/aes', icon: <DesktopOutlined />, label: t('nav.aes') }] : []),
    ...(can.users ? [{ key: '/admin/users', icon: <TeamOutlined />, label: t('nav.users') }] : []),
    ...(can.tokens ? [{ key: '/admin/tokens', icon: <ApiOutlined />, label: t('nav.tokens') }] : []),
    ...(can.policy ? [{ key: '/admin/policy', icon: <ControlOutlined />, label: t('wf.nav.policy') }] : []),
    ...(can.hl7 ? [{ key: '/admin/hl7', icon: <MessageOutlined />, label: t('wf.nav.hl7') }] : []),
    ...(canReport.header
      ? [{ key: '/admin/report-header', icon: <FileTextOutlined />, label: t('rp.nav.header') }]
      : []),
    ...(canReport.templates
      ? [{ key: '/admin/report-templates', icon: <SnippetsOutlined />, label: t('rp.nav.templates') }]
      : []),
    ...(canReport.delivery
      ? [{ key: '/admin/delivery', icon: <SendOutlined />, label: t('rp.nav.delivery') }]
      : []),
    ...(can.audit ? [{ key: '/admin/audit', icon: <AuditOutlined />, label: t('nav.audit') }] : []),
  ];
  const workflowItems: NonNullable<MenuProps['items']> = [
    ...(can.worklist
      ? [{ key: '/worklist', icon: <OrderedListOutlined />, label: t('wf.nav.worklist') }]
      : []),
    ...(can.myExams
      ? [{ key: '/my-exams', icon: <UnorderedListOutlined />, label: t('wf.nav.myExams') }]
      : []),
    ...(can.register ? [{ key: '/register', icon: <FormOutlined />, label: t('wf.nav.register') }] : []),
    ...(can.matching ? [{ key: '/matching', icon: <LinkOutlined />, label: t('wf.nav.matching') }] : []),
  ];
  const items: MenuProps['items'] = [
    { key: '/', icon: <HomeOutlined />, label: t('nav.home') },
    ...(workflowItems.length > 0
      ? [{ key: 'workflow', label: t('wf.nav.workflow'), type: 'group' as const, children: workflowItems }]
      : []),
    ...(can.viewer
      ? [
          {
            key: 'viewer',
            icon: <EyeOutlined />,
            label: (
              <a href="/viewer/" target="_blank" rel="noopener">
                {t('nav.viewer')}
              </a>
            ),
          },
        ]
      : []),
    ...(adminItems.length > 0
      ? [{ key: 'admin', label: t('nav.admin'), type: 'group' as const, children: adminItems }]
      : []),
  ];

  const [pwOpen, setPwOpen] = useState(false);
  const changePassword = (): void => setPwOpen(true);

  const userMenu: MenuProps['items'] = [
    { key: 'password', icon: <KeyOutlined />, label: t('userMenu.changePassword'), onClick: changePassword },
    {
      key: 'lang',
      label: t('userMenu.language'),
      children: [
        { key: 'lang-zh', label: t('lang.zh'), onClick: () => setLanguage('zh-CN') },
        { key: 'lang-en', label: t('lang.en'), onClick: () => setLanguage('en') },
      ],
    },
    { type: 'divider' },
    {
      key: 'logout',
      label: t('userMenu.logout'),
      onClick: () => {
        void logout().then(() => {
          void message.success(t('userMenu.loggedOut'));
          void navigate('/');
        });
      },
    },
  ];

  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Layout.Sider collapsible collapsed={collapsed} onCollapse={setCollapsed} theme="light" width={220}>
        <div
          style={{
            padding: '16px 20px',
            fontWeight: 600,
            fontSize: 18,
            whiteSpace: 'nowrap',
            overflow: 'hidden',
          }}
        >
          {t('app.name')}
        </div>
        <Menu
          mode="inline"
          selectedKeys={[selectedKey(location.pathname)]}
          items={items}
          onClick={(e) => {
            if (e.key.startsWith('/')) void navigate(e.key);
          }}
        />
      </Layout.Sider>
      <Layout>
        <Layout.Header
          style={{
            background: '#fff',
            display: 'flex',
            justifyContent: 'space-between',
            alignItems: 'center',
            padding: '0 24px',
          }}
        >
          <Typography.Text type="secondary">{t('app.subtitle')}</Typography.Text>
          <Dropdown menu={{ items: userMenu }} trigger={['click']}>
            <Button icon={<UserOutlined />} data-testid="user-menu">
              {me?.user.displayName} · {i18n.language === 'en' ? 'EN' : '中'}
            </Button>
          </Dropdown>
        </Layout.Header>
        <Modal
          open={pwOpen}
          title={t('password.changeTitle')}
          footer={null}
          onCancel={() => setPwOpen(false)}
          destroyOnHidden
        >
          <ChangePasswordForm onDone={() => setPwOpen(false)} />
        </Modal>
        <Layout.Content style={{ margin: 24 }}>
          <Routes>
            <Route path="/" element={<HomePage />} />
            <Route
              path="/admin/hospitals"
              element={
                <Guard allowed={can.hospitals}>
                  <HospitalsPage />
                </Guard>
              }
            />
            <Route
              path="/admin/aes"
              element={
                <Guard allowed={can.aes}>
                  <AesPage />
                </Guard>
              }
            />
            <Route
              path="/admin/users"
              element={
                <Guard allowed={can.users}>
                  <UsersPage />
                </Guard>
              }
            />
            <Route
              path="/admin/tokens"
              element={
                <Guard allowed={can.tokens}>
                  <TokensPage />
                </Guard>
              }
            />
            <Route
              path="/admin/audit"
              element={
                <Guard allowed={can.audit}>
                  <AuditPage />
                </Guard>
              }
            />
            <Route
              path="/worklist"
              element={
                <Guard allowed={can.worklist}>
                  <WorklistPage mode="center" key="center" />
                </Guard>
              }
            />
            <Route
              path="/my-exams"
              element={
                <Guard allowed={can.myExams}>
                  <WorklistPage mode="hospital" key="hospital" />
                </Guard>
              }
            />
            <Route path="/exams/:id" element={<ExamPage />} />
            <Route path="/exams/:id/report/print" element={<ReportPrintPage />} />
            <Route
              path="/admin/report-header"
              element={
                <Guard allowed={canReport.header}>
                  <ReportHeaderAdminPage />
                </Guard>
              }
            />
            <Route
              path="/admin/report-templates"
              element={
                <Guard allowed={canReport.templates}>
                  <ReportTemplatesAdminPage />
                </Guard>
              }
            />
            <Route
              path="/admin/delivery"
              element={
                <Guard allowed={canReport.delivery}>
                  <DeliveryOutboxPage />
                </Guard>
              }
            />
            <Route
              path="/register"
              element={
                <Guard allowed={can.register}>
                  <RegisterPage />
                </Guard>
              }
            />
            <Route
              path="/matching"
              element={
                <Guard allowed={can.matching}>
                  <MatchingPage />
                </Guard>
              }
            />
            <Route
              path="/admin/policy"
              element={
                <Guard allowed={can.policy}>
                  <PolicyPage />
                </Guard>
              }
            />
            <Route
              path="/admin/hospitals/:id/policy"
              element={
                <Guard allowed={can.policy}>
                  <PolicyPage />
                </Guard>
              }
            />
            <Route
              path="/admin/hl7"
              element={
                <Guard allowed={can.hl7}>
                  <Hl7Page />
                </Guard>
              }
            />
            <Route path="/login" element={<Navigate to="/" replace />} />
            <Route path="*" element={<Result status="404" title={t('errors.notFound')} />} />
          </Routes>
        </Layout.Content>
      </Layout>
    </Layout>
  );
}
