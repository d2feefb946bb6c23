import { Card, List, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router-dom';
import { permissions, useAuth } from '../auth.tsx';

export function HomePage() {
  const { t } = useTranslation();
  const { me } = useAuth();
  const can = permissions(me);
  const items: { key: string; text: string; to?: string; href?: string }[] = [
    ...(can.worklist ? [{ key: 'w', text: t('wf.home.worklist'), to: '/worklist' }] : []),
    ...(can.myExams ? [{ key: 'm', text: t('wf.home.myExams'), to: '/my-exams' }] : []),
    ...(can.register ? [{ key: 'r', text: t('wf.home.register'), to: '/register' }] : []),
    ...(can.matching ? [{ key: 'x', text: t('wf.home.matching'), to: '/matching' }] : []),
    ...(can.policy ? [{ key: 'p', text: t('wf.home.policy'), to: '/admin/policy' }] : []),
    ...(can.hl7 ? [{ key: 'h7', text: t('wf.home.hl7'), to: '/admin/hl7' }] : []),
    ...(can.hospitals ? [{ key: 'h', text: t('home.canHospitals'), to: '/admin/hospitals' }] : []),
    ...(can.aes ? [{ key: 'a', text: t('home.canAes'), to: '/admin/aes' }] : []),
    ...(can.users ? [{ key: 'u', text: t('home.canUsers'), to: '/admin/users' }] : []),
    ...(can.tokens ? [{ key: 't', text: t('home.canTokens'), to: '/admin/tokens' }] : []),
    ...(can.audit ? [{ key: 'l', text: t('home.canAudit'), to: '/admin/audit' }] : []),
    ...(can.viewer ? [{ key: 'v', text: t('home.canViewer'), href: '/viewer/' }] : []),
  ];
  return (
    <Card>
      <Typography.Title level={3} data-testid="home-welcome">
        {t('home.welcome', { name: me?.user.displayName ?? '' })}
      </Typography.Title>
      <Typography.Paragraph>
        {t('home.hospital', { hospital: me?.hospital?.name ?? '' })}
      </Typography.Paragraph>
      <Typography.Paragraph>
        {t('home.roles')}:{' '}
        {me?.user.roles.map((r) => (
          <Tag key={r}>{t(`roles.${r}`)}</Tag>
        ))}
        {me?.user.grade != null && <Tag color="blue">{t(`grades.${me.user.grade}`)}</Tag>}
      </Typography.Paragraph>
      {me?.readOnly === true && (
        <Typography.Paragraph type="warning">{t('home.readOnly')}</Typography.Paragraph>
      )}
      <Typography.Paragraph strong>{t('home.youCan')}</Typography.Paragraph>
      <List
        size="small"
        dataSource={items}
        renderItem={(i) => (
          <List.Item>
            {i.to !== undefined ? <Link to={i.to}>{i.text}</Link> : <a href={i.href}>{i.text}</a>}
          </List.Item>
        )}
      />
    </Card>
  );
}
