/**
 * 一院一策 — the per-hospital policy editor (`/admin/policy`, `/admin/hospitals/:id/policy`): reading rules,
 * report time-limit rules (ordered: the first matching rule wins), default limit, review policy, stable
 * seconds and match window. GET/PUT /api/admin/hospitals/:id/policy.
 */
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import {
  App,
  Button,
  Card,
  Form,
  InputNumber,
  Radio,
  Select,
  Space,
  Spin,
  Switch,
  Table,
  Typography,
} from 'antd';
import { ArrowDownOutlined, ArrowUpOutlined, DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router-dom';
import { api, type Hospital } from '../api.ts';
import { useAuth } from '../auth.tsx';
import {
  BODY_PARTS,
  formatTime,
  MODALITIES,
  PATIENT_CLASSES,
  PRIORITIES,
  type HospitalPolicy,
  type ReadingRule,
  type ReviewPolicy,
  type TimeLimitRule,
} from '../ris.ts';
import { errorText, useList } from './common.tsx';

type Rule = ReadingRule | TimeLimitRule;

function move<T>(list: T[], i: number, d: -1 | 1): T[] {
  const j = i + d;
  if (j < 0 || j >= list.length) return list;
  const out = [...list];
  [out[i], out[j]] = [out[j] as T, out[i] as T];
  return out;
}

/** undefined for an empty selection (= any) */
const orAny = <T,>(v: T[]): T[] | undefined => (v.length === 0 ? undefined : v);

function RuleTable<R extends Rule>({
  rules,
  onChange,
  extra,
  newRule,
  testId,
}: {
  rules: R[];
  onChange: (r: R[]) => void;
  extra: { title: string; width: number; render: (r: R, set: (p: Partial<R>) => void) => ReactNode }[];
  newRule: R;
  testId: string;
}) {
  const { t } = useTranslation();
  const patch = (i: number, p: Partial<R>): void =>
    onChange(rules.map((r, k) => (k === i ? { ...r, ...p } : r)));
  const tags = (values: string[], upper: boolean): string[] =>
    values.map((v) => (upper ? v.trim().toUpperCase() : v.trim())).filter((v) => v !== '');
  return (
    <>
      <Table<R & { key: number }>
        size="small"
        pagination={false}
        data-testid={testId}
        dataSource={rules.map((r, i) => ({ ...r, key: i }))}
        locale={{ emptyText: '—' }}
        scroll={{ x: 900 }}
        columns={[
          { title: '#', key: 'n', width: 40, render: (_: unknown, _r, i) => i + 1 },
          {
            title: t('wf.policy.modalities'),
            key: 'm',
            width: 180,
            render: (_: unknown, r, i) => (
              <Select
                mode="tags"
                size="small"
                style={{ width: '100%' }}
                placeholder={t('wf.policy.any')}
                value={r.modalities ?? []}
                onChange={(v: string[]) => patch(i, { modalities: orAny(tags(v, true)) } as Partial<R>)}
                options={MODALITIES.map((m) => ({ value: m }))}
              />
            ),
          },
          {
            title: t('wf.policy.bodyParts'),
            key: 'b',
            width: 200,
            render: (_: unknown, r, i) => (
              <Select
                mode="tags"
                size="small"
                style={{ width: '100%' }}
                placeholder={t('wf.policy.any')}
                value={r.bodyParts ?? []}
                onChange={(v: string[]) => patch(i, { bodyParts: orAny(tags(v, true)) } as Partial<R>)}
                options={BODY_PARTS.map((m) => ({ value: m }))}
              />
            ),
          },
          {
            title: t('wf.policy.priorities'),
            key: 'p',
            width: 150,
            render: (_: unknown, r, i) => (
              <Select
                mode="multiple"
                size="small"
                style={{ width: '100%' }}
                placeholder={t('wf.policy.any')}
                value={r.priorities ?? []}
                onChange={(v: ('emergency' | 'routine')[]) =>
                  patch(i, { priorities: orAny(v) } as Partial<R>)
                }
                options={PRIORITIES.map((p) => ({ value: p, label: t(`wf.priority.${p}`) }))}
              />
            ),
          },
          ...extra.map((c) => ({
            title: c.title,
            key: c.title,
            width: c.width,
            render: (_: unknown, r: R, i: number) => c.render(r, (p) => patch(i, p)),
          })),
          {
            title: '',
            key: 'ops',
            width: 110,
            render: (_: unknown, _r, i) => (
              <Space size={2}>
                <Button
                  size="small"
                  type="text"
                  icon={<ArrowUpOutlined />}
                  aria-label={t('wf.policy.up')}
                  disabled={i === 0}
                  onClick={() => onChange(move(rules, i, -1))}
                />
                <Button
                  size="small"
                  type="text"
                  icon={<ArrowDownOutlined />}
                  aria-label={t('wf.policy.down')}
                  disabled={i === rules.length - 1}
                  onClick={() => onChange(move(rules, i, 1))}
                />
                <Button
                  size="small"
                  type="text"
                  danger
                  icon={<DeleteOutlined />}
                  aria-label={t('common.delete')}
                  onClick={() => onChange(rules.filter((_x, k) => k !== i))}
                />
              </Space>
            ),
          },
        ]}
      />
      <Button
        size="small"
        type="dashed"
        icon={<PlusOutlined />}
        style={{ marginTop: 6 }}
        onClick={() => onChange([...rules, newRule])}
      >
        {t('wf.policy.addRule')}
      </Button>
    </>
  );
}

export function PolicyPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const navigate = useNavigate();
  const params = useParams();
  const { rows: hospitals } = useList<Hospital>('/api/admin/hospitals', 'hospitals');
  const sys = me?.user.roles.includes('system_admin') === true;
  const hospitalId =
    params.id !== undefined
      ? Number(params.id)
      : me?.hospital?.isCenter === true && sys
        ? undefined
        : me?.user.hospitalId;
  const [policy, setPolicy] = useState<HospitalPolicy | null>(null);
  // a system administrator at the center: open the first member hospital
  const firstMember = hospitals.find((h) => !h.isCenter)?.id;
  useEffect(() => {
    if (hospitalId === undefined && firstMember !== undefined)
      void navigate(`/admin/hospitals/${firstMember}/policy`, { replace: true });
  }, [hospitalId, firstMember, navigate]);
  const [saving, setSaving] = useState(false);
  const [dirty, setDirty] = useState(false);

  const load = useCallback(async () => {
    if (hospitalId === undefined) return;
    setPolicy(null);
    try {
      const r = await api<{ policy: HospitalPolicy }>('GET', `/api/admin/hospitals/${hospitalId}/policy`);
      setPolicy(r.policy);
      setDirty(false);
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    }
  }, [hospitalId, message, t]);
  useEffect(() => {
    void load();
  }, [load]);

  const update = (p: Partial<HospitalPolicy>): void => {
    if (policy === null) return;
    setPolicy({ ...policy, ...p });
    setDirty(true);
  };

  const save = async (): Promise<void> => {
    if (policy === null || hospitalId === undefined) return;
    setSaving(true);
    try {
      const { hospitalId: _h, updatedAt: _u, ...body } = policy;
      const r = await api<{ policy: HospitalPolicy }>(
        'PUT',
        `/api/admin/hospitals/${hospitalId}/policy`,
        body,
      );
      setPolicy(r.policy);
      setDirty(false);
      void message.success(t('common.saved'));
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    } finally {
      setSaving(false);
    }
  };

  const selectable = sys ? hospitals : hospitals.filter((h) => h.id === me?.user.hospitalId);
  const yesNoAny = (v: boolean | undefined): string => (v === undefined ? 'any' : v ? 'yes' : 'no');

  return (
    <Card
      size="small"
      title={t('wf.policy.title')}
      extra={
        <Select
          style={{ width: 280 }}
          placeholder={t('wf.policy.hospital')}
          value={hospitalId}
          showSearch={{ optionFilterProp: 'label' }}
          onChange={(id: number) => void navigate(`/admin/hospitals/${id}/policy`)}
          options={selectable.map((h) => ({ value: h.id, label: h.name }))}
          data-testid="policy-hospital"
        />
      }
    >
      {hospitalId === undefined ? (
        <Typography.Text type="secondary">{t('wf.policy.hospital')}</Typography.Text>
      ) : policy === null ? (
        <Spin />
      ) : (
        <Space orientation="vertical" size={16} style={{ width: '100%' }}>
          <Typography.Text type="secondary">
            {policy.updatedAt !== null
              ? t('wf.policy.updatedAt', { at: formatTime(policy.updatedAt) })
              : t('wf.policy.never')}
          </Typography.Text>
          <div>
            <Typography.Title level={5}>{t('wf.policy.timeLimits')}</Typography.Title>
            <RuleTable<TimeLimitRule>
              testId="time-limits"
              rules={policy.timeLimits}
              onChange={(timeLimits) => update({ timeLimits })}
              newRule={{ minutes: 240 }}
              extra={[
                {
                  title: t('wf.policy.patientClasses'),
                  width: 200,
                  render: (r, set) => (
                    <Select
                      mode="multiple"
                      size="small"
                      style={{ width: '100%' }}
                      placeholder={t('wf.policy.any')}
                      value={r.patientClasses ?? []}
                      onChange={(v: TimeLimitRule['patientClasses'] & object) =>
                        set({ patientClasses: orAny(v) })
                      }
                      options={PATIENT_CLASSES.map((c) => ({ value: c, label: t(`wf.patientClass.${c}`) }))}
                    />
                  ),
                },
                {
                  title: t('wf.policy.complex'),
                  width: 90,
                  render: (r, set) => (
                    <Select
                      size="small"
                      style={{ width: '100%' }}
                      value={yesNoAny(r.complex)}
                      onChange={(v: string) => set({ complex: v === 'any' ? undefined : v === 'yes' })}
                      options={[
                        { value: 'any', label: t('wf.policy.any') },
                        { value: 'yes', label: t('wf.policy.yesNo.yes') },
                        { value: 'no', label: t('wf.policy.yesNo.no') },
                      ]}
                    />
                  ),
                },
                {
                  title: t('wf.policy.minutes'),
                  width: 110,
                  render: (r, set) => (
                    <InputNumber
                      size="small"
                      min={1}
                      max={100_000}
                      value={r.minutes}
                      onChange={(v) => set({ minutes: v ?? 1 })}
                    />
                  ),
                },
              ]}
            />
          </div>
          <div>
            <Typography.Title level={5}>{t('wf.policy.readingRules')}</Typography.Title>
            <RuleTable<ReadingRule>
              testId="reading-rules"
              rules={policy.readingRules}
              onChange={(readingRules) => update({ readingRules })}
              newRule={{ readAtCenter: true }}
              extra={[
                {
                  title: t('wf.policy.readAtCenter'),
                  width: 110,
                  render: (r, set) => (
                    <Switch
                      size="small"
                      checked={r.readAtCenter}
                      onChange={(v) => set({ readAtCenter: v })}
                    />
                  ),
                },
              ]}
            />
          </div>
          <Form layout="vertical" style={{ maxWidth: 720 }}>
            <Space wrap size={24} align="start">
              <Form.Item label={t('wf.policy.defaultLimit')}>
                <InputNumber
                  min={1}
                  max={100_000}
                  value={policy.defaultLimitMinutes}
                  onChange={(v) => update({ defaultLimitMinutes: v ?? 1 })}
                  id="policy-default-limit"
                />
              </Form.Item>
              <Form.Item label={t('wf.policy.stableSeconds')} extra={t('wf.policy.stableHint')}>
                <InputNumber
                  min={0}
                  max={86_400}
                  value={policy.stableSeconds}
                  onChange={(v) => update({ stableSeconds: v ?? 0 })}
                  id="policy-stable"
                />
              </Form.Item>
              <Form.Item label={t('wf.policy.matchWindow')}>
                <InputNumber
                  min={0}
                  max={365}
                  value={policy.matchWindowDays}
                  onChange={(v) => update({ matchWindowDays: v ?? 0 })}
                  id="policy-window"
                />
              </Form.Item>
            </Space>
            <Form.Item label={t('wf.policy.review')}>
              <Radio.Group
                value={policy.review}
                onChange={(e) => update({ review: e.target.value as ReviewPolicy })}
                options={[
                  { value: 'always', label: t('wf.policy.reviewAlways') },
                  { value: 'resident', label: t('wf.policy.reviewResident') },
                  { value: 'never', label: t('wf.policy.reviewNever') },
                ]}
              />
            </Form.Item>
          </Form>
          <Space>
            <Button
              type="primary"
              loading={saving}
              disabled={!dirty}
              onClick={() => void save()}
              data-testid="policy-save"
            >
              {t('common.save')}
            </Button>
            <Button disabled={!dirty} onClick={() => void load()}>
              {t('common.reset')}
            </Button>
          </Space>
        </Space>
      )}
    </Card>
  );
}
