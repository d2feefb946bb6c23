/**
 * The radiologist's library while writing: 报告模板 (normal-findings templates by modality and body part;
 * center-wide, hospital and personal) in a keyboard-driven picker, and 常用语 (the phrase library by
 * category) inserted at the caret.
 */
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { App, Button, Drawer, Empty, Form, Input, Modal, Radio, Select, Space, Tag, Typography } from 'antd';
import type { InputRef } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { localMessage, reportApi, type Phrase, type ReportTemplate, type TemplateScope } from './api.ts';
import { validated } from './forms.ts';

export const SCOPE_COLOR: Record<TemplateScope, string> = {
  center: 'geekblue',
  hospital: 'cyan',
  personal: 'gold',
};

export function ScopeTag({ scope }: { scope: TemplateScope }) {
  const { t } = useTranslation();
  return <Tag color={SCOPE_COLOR[scope]}>{t(`rp.scope.${scope}`)}</Tag>;
}

function matches(tpl: ReportTemplate, q: string): boolean {
  if (q === '') return true;
  const s = q.toLowerCase();
  return [tpl.name, tpl.modality ?? '', tpl.bodyPart ?? '', tpl.impression].some((x) =>
    x.toLowerCase().includes(s),
  );
}

/** how well a template fits the exam: exact modality + body part first, generic last */
function fit(tpl: ReportTemplate, modality: string, bodyPart: string | null): number {
  let n = 0;
  if (tpl.modality === modality) n += 2;
  if (bodyPart !== null && tpl.bodyPart === bodyPart) n += 2;
  if (tpl.scope === 'personal') n += 1;
  return -n;
}

export function TemplatePicker({
  open,
  onClose,
  hospitalId,
  modality,
  bodyPart,
  onApply,
}: {
  open: boolean;
  onClose: () => void;
  hospitalId: number;
  modality: string;
  bodyPart: string | null;
  onApply: (t: ReportTemplate, mode: 'replace' | 'append') => void;
}) {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const [all, setAll] = useState<boolean>(false);
  const [list, setList] = useState<ReportTemplate[] | null>(null);
  const [q, setQ] = useState('');
  const [cursor, setCursor] = useState(0);
  const search = useRef<InputRef>(null);

  useEffect(() => {
    if (!open) return;
    setList(null);
    reportApi
      .templates(all ? { hospitalId } : { hospitalId, modality, bodyPart })
      .then((r) => setList(r.templates))
      .catch((err: unknown) => void message.error(localMessage(err, i18n.language)));
  }, [open, all, hospitalId, modality, bodyPart, message, i18n.language]);
  useEffect(() => {
    if (open) setTimeout(() => search.current?.focus(), 50);
  }, [open]);

  const shown = useMemo(
    () =>
      (list ?? [])
        .filter((x) => matches(x, q))
        .sort((a, b) => fit(a, modality, bodyPart) - fit(b, modality, bodyPart)),
    [list, q, modality, bodyPart],
  );
  useEffect(() => setCursor(0), [q, list]);
  const current = shown[Math.min(cursor, shown.length - 1)];

  const onKey = (e: KeyboardEvent): void => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setCursor((c) => Math.min(c + 1, shown.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setCursor((c) => Math.max(c - 1, 0));
    } else if (e.key === 'Enter' && current !== undefined) {
      e.preventDefault();
      onApply(current, e.shiftKey ? 'append' : 'replace');
    }
  };

  return (
    <Drawer
      open={open}
      onClose={onClose}
      size={520}
      title={t('rp.templates.title')}
      destroyOnHidden
      extra={
        <Radio.Group
          size="small"
          value={all ? 'all' : 'fit'}
          onChange={(e) => setAll(e.target.value === 'all')}
          optionType="button"
          options={[
            { value: 'fit', label: t('rp.templates.fitting', { modality, bodyPart: bodyPart ?? '' }) },
            { value: 'all', label: t('rp.templates.all') },
          ]}
        />
      }
    >
      <Input
        ref={search}
        allowClear
        value={q}
        onChange={(e) => setQ(e.target.value)}
        onKeyDown={onKey}
        placeholder={t('rp.templates.search')}
        data-testid="template-search"
      />
      <Typography.Paragraph type="secondary" style={{ fontSize: 12, margin: '6px 0' }}>
        {t('rp.templates.keys')}
      </Typography.Paragraph>
      {list !== null && shown.length === 0 && <Empty description={t('rp.templates.none')} />}
      <div className="hy-template-list" data-testid="template-list">
        {shown.map((x, i) => (
          <div
            key={x.id}
            className={`hy-template-item${i === cursor ? ' hy-template-current' : ''}`}
            data-testid="template-item"
            data-name={x.name}
            onMouseEnter={() => setCursor(i)}
            onClick={() => onApply(x, 'replace')}
          >
            <div style={{ display: 'flex', alignItems: 'center', gap: 6 }}>
              <ScopeTag scope={x.scope} />
              <Typography.Text strong>{x.name}</Typography.Text>
              <span style={{ flex: 1 }} />
              <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                {[x.modality, x.bodyPart].filter((v) => v !== null).join(' · ') || t('rp.templates.generic')}
              </Typography.Text>
            </div>
            {i === cursor && (
              <div className="hy-template-preview">
                <div>
                  <b>{t('rp.findings')}：</b>
                  {x.findings}
                </div>
                <div>
                  <b>{t('rp.impression')}：</b>
                  {x.impression}
                </div>
                {x.recommendation !== '' && (
                  <div>
                    <b>{t('rp.recommendation')}：</b>
                    {x.recommendation}
                  </div>
                )}
                <Space style={{ marginTop: 6 }}>
                  <Button
                    size="small"
                    type="primary"
                    onClick={(e) => {
                      e.stopPropagation();
                      onApply(x, 'replace');
                    }}
                    data-testid="template-apply"
                  >
                    {t('rp.templates.replace')}
                  </Button>
                  <Button
                    size="small"
                    onClick={(e) => {
                      e.stopPropagation();
                      onApply(x, 'append');
                    }}
                  >
                    {t('rp.templates.append')}
                  </Button>
                </Space>
              </div>
            )}
          </div>
        ))}
      </div>
    </Drawer>
  );
}

/** Save the current text as a personal template (or, for administrators, a center/hospital one). */
export function SaveTemplateDialog({
  open,
  onClose,
  modality,
  bodyPart,
  content,
}: {
  open: boolean;
  onClose: () => void;
  modality: string;
  bodyPart: string | null;
  content: { findings: string; impression: string; recommendation: string };
}) {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const [form] = Form.useForm<{ name: string; specific: boolean }>();
  return (
    <Modal
      open={open}
      title={t('rp.templates.saveAs')}
      okText={t('common.save')}
      okButtonProps={{ 'data-testid': 'template-save-ok' }}
      cancelText={t('common.cancel')}
      onCancel={onClose}
      destroyOnHidden
      forceRender
      onOk={() =>
        void validated(form).then(async (v) => {
          if (v === undefined) return;
          try {
            await reportApi.createTemplate({
              scope: 'personal',
              modality: modality.toUpperCase(),
              bodyPart: v.specific && bodyPart !== null ? bodyPart.toUpperCase() : null,
              name: v.name.trim(),
              ...content,
            });
            void message.success(t('rp.templates.saved'));
            onClose();
          } catch (err) {
            void message.error(localMessage(err, i18n.language));
          }
        })
      }
    >
      <Form form={form} layout="vertical" preserve={false} initialValues={{ specific: bodyPart !== null }}>
        <Form.Item
          name="name"
          label={t('rp.templates.name')}
          rules={[{ required: true, whitespace: true, message: t('rp.templates.nameRequired') }]}
        >
          <Input maxLength={200} autoFocus data-testid="template-name" />
        </Form.Item>
        <Form.Item name="specific" label={t('rp.templates.appliesTo')}>
          <Radio.Group
            options={[
              { value: true, label: `${modality} · ${bodyPart ?? ''}`, disabled: bodyPart === null },
              { value: false, label: t('rp.templates.anyBodyPart', { modality }) },
            ]}
          />
        </Form.Item>
      </Form>
    </Modal>
  );
}

/** 常用语: phrases by category; a click inserts the phrase at the caret of the last focused field. */
export function PhrasePanel({ onInsert, canAdd }: { onInsert: (text: string) => void; canAdd: boolean }) {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const [phrases, setPhrases] = useState<Phrase[]>([]);
  const [category, setCategory] = useState<string | null>(null);
  const [q, setQ] = useState('');
  const [adding, setAdding] = useState(false);
  const [form] = Form.useForm<{ category: string; text: string }>();

  const load = (): void => {
    reportApi
      .phrases()
      .then((r) => setPhrases(r.phrases))
      .catch((err: unknown) => void message.error(localMessage(err, i18n.language)));
  };
  useEffect(load, [message, i18n.language]);

  const categories = [...new Set(phrases.map((p) => p.category))];
  const shown = phrases.filter(
    (p) => (category === null || p.category === category) && (q === '' || p.text.includes(q)),
  );
  return (
    <div className="hy-phrases" data-testid="phrase-panel">
      <Space.Compact style={{ width: '100%', marginBottom: 6 }}>
        <Select
          size="small"
          allowClear
          style={{ width: 110 }}
          placeholder={t('rp.phrases.category')}
          value={category}
          onChange={(v: string | undefined) => setCategory(v ?? null)}
          options={categories.map((c) => ({ value: c, label: c }))}
        />
        <Input
          size="small"
          allowClear
          placeholder={t('rp.phrases.search')}
          value={q}
          onChange={(e) => setQ(e.target.value)}
          id="phrase-search"
        />
        {canAdd && (
          <Button
            size="small"
            icon={<PlusOutlined />}
            onClick={() => setAdding(true)}
            aria-label={t('rp.phrases.add')}
          />
        )}
      </Space.Compact>
      <div className="hy-phrase-list">
        {shown.length === 0 && (
          <Typography.Text type="secondary" style={{ fontSize: 12 }}>
            {t('rp.phrases.none')}
          </Typography.Text>
        )}
        {shown.map((p) => (
          <div key={p.id} className="hy-phrase" data-testid="phrase-item">
            <a
              onMouseDown={(e) => e.preventDefault() /* keep the caret in the text field */}
              onClick={() => onInsert(p.text)}
              title={t('rp.phrases.insertHint')}
            >
              {p.text}
            </a>
            {p.scope === 'personal' && (
              <DeleteOutlined
                className="hy-phrase-del"
                onClick={() =>
                  void reportApi.deletePhrase(p.id).then(load, (err: unknown) => {
                    void message.error(localMessage(err, i18n.language));
                  })
                }
              />
            )}
          </div>
        ))}
      </div>
      <Modal
        open={adding}
        title={t('rp.phrases.add')}
        okText={t('common.save')}
        cancelText={t('common.cancel')}
        onCancel={() => setAdding(false)}
        destroyOnHidden
        forceRender
        onOk={() =>
          void validated(form).then(async (v) => {
            if (v === undefined) return;
            try {
              await reportApi.createPhrase({ scope: 'personal', category: v.category.trim(), text: v.text });
              setAdding(false);
              load();
            } catch (err) {
              void message.error(localMessage(err, i18n.language));
            }
          })
        }
      >
        <Form form={form} layout="vertical" preserve={false}>
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
    </div>
  );
}
