/**
 * 报告模板与常用语 — manage normal-findings templates (by modality and body part; center-wide, per
 * hospital, or personal) and the phrase library. Everyone who writes reports manages their personal
 * ones; system administrators and the QC manager the center-wide ones; hospital administrators their
 * hospital's. The server decides (403 is shown as a message).
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import {
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
  Tabs,
  Typography,
} from 'antd';
import { PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../../auth.tsx';
import { useHospitals } from '../../pages/common.tsx';
import { BODY_PARTS, formatTime, MODALITIES } from '../../ris.ts';
import {
  localMessage,
  reportApi,
  type Phrase,
  type ReportTemplate,
  type TemplateBody,
  type TemplateScope,
} from '../api.ts';
import { ScopeTag } from '../library.tsx';
import '../reporting.css';
import { validated } from '../forms.ts';

function useScopes(): TemplateScope[] {
  const { me } = useAuth();
  const roles = me?.user.roles ?? [];
  const out: TemplateScope[] = [];
  if (
    roles.includes('center_radiologist') ||
    roles.includes('system_admin') ||
    roles.includes('center_qc_manager')
  )
    out.push('personal');
  if (roles.includes('system_admin') || roles.includes('center_qc_manager')) out.push('center');
  if (
    roles.includes('system_admin') ||
    roles.includes('center_qc_manager') ||
    roles.includes('hospital_admin')
  )
    out.push('hospital');
  return out;
}

function TemplatesTab() {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const { hospitals, nameOf } = useHospitals();
  const scopes = useScopes();
  const [rows, setRows] = useState<ReportTemplate[]>([]);
  const [loading, setLoading] = useState(true);
  const [modality, setModality] = useState<string | undefined>(undefined);
  const [scope, setScope] = useState<TemplateScope | undefined>(undefined);
  const [q, setQ] = useState('');
  const [editing, setEditing] = useState<ReportTemplate | 'new' | null>(null);
  const [form] = Form.useForm<TemplateBody>();
  const formScope = Form.useWatch('scope', form);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      setRows((await reportApi.templates()).templates);
    } catch (err) {
      void message.error(localMessage(err, i18n.language));
    } finally {
      setLoading(false);
    }
  }, [message, i18n.language]);
  useEffect(() => {
    void load();
  }, [load]);

  const shown = useMemo(
    () =>
      rows.filter(
        (r) =>
          (modality === undefined || r.modality === modality) &&
          (scope === undefined || r.scope === scope) &&
          (q === '' || r.name.includes(q) || r.findings.includes(q) || r.impression.includes(q)),
      ),
    [rows, modality, scope, q],
  );

  const mayEdit = (r: ReportTemplate): boolean =>
    r.scope === 'personal' ? r.ownerId === me?.user.id : scopes.includes(r.scope);

  const openEdit = (r: ReportTemplate | 'new'): void => {
    setEditing(r);
    form.setFieldsValue(
      r === 'new'
        ? {
            scope: scopes[0] ?? 'personal',
            modality: null,
            bodyPart: null,
            name: '',
            findings: '',
            impression: '',
            recommendation: '',
            hospitalId: me?.user.hospitalId,
          }
        : { ...r, hospitalId: r.hospitalId ?? undefined },
    );
  };

  const submit = async (): Promise<void> => {
    const v = await validated(form);
    if (v === undefined) return;
    const body: TemplateBody = {
      scope: v.scope,
      modality: v.modality ?? null,
      bodyPart: v.bodyPart ?? null,
      name: v.name.trim(),
      findings: v.findings ?? '',
      impression: v.impression ?? '',
      recommendation: v.recommendation ?? '',
      ...(v.scope === 'hospital' && v.hospitalId !== undefined ? { hospitalId: v.hospitalId } : {}),
    };
    try {
      if (editing === 'new') await reportApi.createTemplate(body);
      else if (editing !== null) {
        const { scope: _s, hospitalId: _h, ...change } = body;
        await reportApi.updateTemplate(editing.id, change);
      }
      void message.success(t('common.saved'));
      setEditing(null);
      await load();
    } catch (err) {
      void message.error(t('common.error', { message: localMessage(err, i18n.language) }));
    }
  };

  return (
    <>
      <Space wrap style={{ marginBottom: 12 }}>
        <Select
          allowClear
          placeholder={t('rp.admin.modality')}
          style={{ width: 120 }}
          value={modality}
          onChange={setModality}
          options={MODALITIES.map((m) => ({ value: m, label: m }))}
        />
        <Select
          allowClear
          placeholder={t('rp.admin.scope')}
          style={{ width: 140 }}
          value={scope}
          onChange={setScope}
          options={(['center', 'hospital', 'personal'] as const).map((s) => ({
            value: s,
            label: t(`rp.scope.${s}`),
          }))}
        />
        <Input.Search
          allowClear
          placeholder={t('rp.templates.search')}
          onSearch={setQ}
          style={{ width: 240 }}
        />
        {scopes.length > 0 && (
          <Button
            type="primary"
            icon={<PlusOutlined />}
            onClick={() => openEdit('new')}
            data-testid="template-new"
          >
            {t('rp.admin.newTemplate')}
          </Button>
        )}
      </Space>
      <Table<ReportTemplate>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={shown}
        pagination={{ pageSize: 50, hideOnSinglePage: true }}
        expandable={{
          expandedRowRender: (r) => (
            <div style={{ whiteSpace: 'pre-wrap' }}>
              <p>
                <b>{t('rp.findings')}：</b>
                {r.findings}
              </p>
              <p>
                <b>{t('rp.impression')}：</b>
                {r.impression}
              </p>
              {r.recommendation !== '' && (
                <p>
                  <b>{t('rp.recommendation')}：</b>
                  {r.recommendation}
                </p>
              )}
            </div>
          ),
        }}
        columns={[
          { title: t('rp.templates.name'), dataIndex: 'name' },
          {
            title: t('rp.admin.scope'),
            dataIndex: 'scope',
            width: 100,
            render: (s: TemplateScope) => <ScopeTag scope={s} />,
          },
          {
            title: t('common.hospital'),
            dataIndex: 'hospitalId',
            width: 160,
            render: (h: number | null) => (h === null ? '—' : nameOf(h)),
          },
          {
            title: t('rp.admin.modality'),
            dataIndex: 'modality',
            width: 80,
            render: (m: string | null) => m ?? '—',
          },
          {
            title: t('rp.admin.bodyPart'),
            dataIndex: 'bodyPart',
            width: 110,
            render: (b: string | null) => b ?? '—',
          },
          {
            title: t('rp.admin.impression'),
            dataIndex: 'impression',
            ellipsis: true,
          },
          {
            title: t('rp.admin.updatedAt'),
            dataIndex: 'updatedAt',
            width: 140,
            render: (d: string) => formatTime(d),
          },
          {
            title: t('common.actions'),
            key: 'a',
            width: 130,
            render: (_: unknown, r) =>
              mayEdit(r) ? (
                <Space size={4}>
                  <Button size="small" type="link" onClick={() => openEdit(r)}>
                    {t('common.edit')}
                  </Button>
                  <Popconfirm
                    title={t('rp.admin.deleteConfirm', { name: r.name })}
                    okText={t('common.delete')}
                    cancelText={t('common.cancel')}
                    onConfirm={() =>
                      void reportApi.deleteTemplate(r.id).then(load, (err: unknown) => {
                        void message.error(localMessage(err, i18n.language));
                      })
                    }
                  >
                    <Button size="small" type="link" danger>
                      {t('common.delete')}
                    </Button>
                  </Popconfirm>
                </Space>
              ) : null,
          },
        ]}
      />
      <Modal
        open={editing !== null}
        width={820}
        title={editing === 'new' ? t('rp.admin.newTemplate') : t('rp.admin.editTemplate')}
        okText={t('common.save')}
        cancelText={t('common.cancel')}
        onOk={() => void submit()}
        onCancel={() => setEditing(null)}
        forceRender
      >
        <Form form={form} layout="vertical">
          <Space wrap align="start">
            <Form.Item name="scope" label={t('rp.admin.scope')} rules={[{ required: true }]}>
              <Select
                style={{ width: 140 }}
                disabled={editing !== 'new'}
                options={scopes.map((s) => ({ value: s, label: t(`rp.scope.${s}`) }))}
              />
            </Form.Item>
            {formScope === 'hospital' && (
              <Form.Item name="hospitalId" label={t('common.hospital')} rules={[{ required: true }]}>
                <Select
                  style={{ width: 220 }}
                  disabled={editing !== 'new'}
                  options={hospitals.map((h) => ({ value: h.id, label: h.name }))}
                />
              </Form.Item>
            )}
            <Form.Item name="modality" label={t('rp.admin.modality')}>
              <Select
                allowClear
                style={{ width: 110 }}
                placeholder={t('rp.templates.generic')}
                options={MODALITIES.map((m) => ({ value: m, label: m }))}
              />
            </Form.Item>
            <Form.Item name="bodyPart" label={t('rp.admin.bodyPart')}>
              <Select
                allowClear
                showSearch
                style={{ width: 150 }}
                placeholder={t('rp.templates.generic')}
                options={BODY_PARTS.map((b) => ({ value: b, label: b }))}
              />
            </Form.Item>
          </Space>
          <Form.Item
            name="name"
            label={t('rp.templates.name')}
            rules={[{ required: true, whitespace: true, message: t('rp.templates.nameRequired') }]}
          >
            <Input maxLength={200} id="template-name-input" />
          </Form.Item>
          <Form.Item name="findings" label={t('rp.findings')}>
            <Input.TextArea autoSize={{ minRows: 4, maxRows: 12 }} id="template-findings-input" />
          </Form.Item>
          <Form.Item name="impression" label={t('rp.impression')}>
            <Input.TextArea autoSize={{ minRows: 2, maxRows: 6 }} id="template-impression-input" />
          </Form.Item>
          <Form.Item name="recommendation" label={t('rp.recommendation')}>
            <Input.TextArea autoSize={{ minRows: 1, maxRows: 4 }} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}

function PhrasesTab() {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const scopes = useScopes();
  const { hospitals, nameOf } = useHospitals();
  const [rows, setRows] = useState<Phrase[]>([]);
  const [loading, setLoading] = useState(true);
  const [adding, setAdding] = useState(false);
  const [form] = Form.useForm<{
    scope: TemplateScope;
    hospitalId?: number;
    category: string;
    text: string;
  }>();
  const formScope = Form.useWatch('scope', form);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      setRows((await reportApi.phrases()).phrases);
    } catch (err) {
      void message.error(localMessage(err, i18n.language));
    } finally {
      setLoading(false);
    }
  }, [message, i18n.language]);
  useEffect(() => {
    void load();
  }, [load]);

  const mayEdit = (p: Phrase): boolean =>
    p.scope === 'personal' ? p.ownerId === me?.user.id : scopes.includes(p.scope);

  return (
    <>
      {scopes.length > 0 && (
        <Button
          type="primary"
          icon={<PlusOutlined />}
          style={{ marginBottom: 12 }}
          onClick={() => {
            form.setFieldsValue({
              scope: scopes[0] ?? 'personal',
              category: '',
              text: '',
              hospitalId: me?.user.hospitalId,
            });
            setAdding(true);
          }}
          data-testid="phrase-new"
        >
          {t('rp.phrases.add')}
        </Button>
      )}
      <Table<Phrase>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={{ pageSize: 50, hideOnSinglePage: true }}
        columns={[
          { title: t('rp.phrases.category'), dataIndex: 'category', width: 140 },
          { title: t('rp.phrases.text'), dataIndex: 'text' },
          {
            title: t('rp.admin.scope'),
            dataIndex: 'scope',
            width: 100,
            render: (s: TemplateScope) => <ScopeTag scope={s} />,
          },
          {
            title: t('common.hospital'),
            dataIndex: 'hospitalId',
            width: 160,
            render: (h: number | null) => (h === null ? '—' : nameOf(h)),
          },
          {
            title: t('common.actions'),
            key: 'a',
            width: 90,
            render: (_: unknown, p) =>
              mayEdit(p) ? (
                <Popconfirm
                  title={t('rp.admin.deletePhraseConfirm')}
                  okText={t('common.delete')}
                  cancelText={t('common.cancel')}
                  onConfirm={() =>
                    void reportApi.deletePhrase(p.id).then(load, (err: unknown) => {
                      void message.error(localMessage(err, i18n.language));
                    })
                  }
                >
                  <Button size="small" type="link" danger>
                    {t('common.delete')}
                  </Button>
                </Popconfirm>
              ) : null,
          },
        ]}
      />
      <Modal
        open={adding}
        title={t('rp.phrases.add')}
        okText={t('common.save')}
        cancelText={t('common.cancel')}
        onCancel={() => setAdding(false)}
        forceRender
        onOk={() =>
          void validated(form).then(async (v) => {
            if (v === undefined) return;
            try {
              await reportApi.createPhrase({
                scope: v.scope,
                category: v.category.trim(),
                text: v.text,
                ...(v.scope === 'hospital' && v.hospitalId !== undefined ? { hospitalId: v.hospitalId } : {}),
              });
              setAdding(false);
              await load();
            } catch (err) {
              void message.error(t('common.error', { message: localMessage(err, i18n.language) }));
            }
          })
        }
      >
        <Form form={form} layout="vertical">
          <Form.Item name="scope" label={t('rp.admin.scope')} rules={[{ required: true }]}>
            <Select options={scopes.map((s) => ({ value: s, label: t(`rp.scope.${s}`) }))} />
          </Form.Item>
          {formScope === 'hospital' && (
            <Form.Item name="hospitalId" label={t('common.hospital')} rules={[{ required: true }]}>
              <Select options={hospitals.map((h) => ({ value: h.id, label: h.name }))} />
            </Form.Item>
          )}
          <Form.Item
            name="category"
            label={t('rp.phrases.category')}
            rules={[{ required: true, whitespace: true }]}
          >
            <Input maxLength={64} />
          </Form.Item>
          <Form.Item name="text" label={t('rp.phrases.text')} rules={[{ required: true, whitespace: true }]}>
            <Input.TextArea rows={3} maxLength={2000} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}

export function ReportTemplatesAdminPage() {
  const { t } = useTranslation();
  return (
    <Card title={t('rp.admin.templatesTitle')}>
      <Typography.Paragraph type="secondary">{t('rp.admin.templatesHint')}</Typography.Paragraph>
      <Tabs
        items={[
          { key: 'templates', label: t('rp.templates.title'), children: <TemplatesTab /> },
          { key: 'phrases', label: t('rp.phrases.title'), children: <PhrasesTab /> },
        ]}
      />
    </Card>
  );
}
