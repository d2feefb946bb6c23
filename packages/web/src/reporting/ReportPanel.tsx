/**
 * 报告 — the report panel of the case page.
 *
 * - Writing: 影像所见 / 诊断意见 / 建议, 阳性/阴性, 危急值, optional structured categories (BI-RADS, …);
 *   templates by modality and body part (Alt+T), the phrase library inserted at the caret, "save as my
 *   template"; drafts autosave (debounced) with the time shown (已自动保存 09:41:07); an optimistic-lock
 *   conflict stops autosaving and says so (他人已修改) with reload / copy-my-text.
 * - Review: the reviewer (grade allows review + sign, not the author) edits directly and signs (审核签发),
 *   or returns it with review opinions (审查意见), which the author then sees above the text.
 * - Signed: read-only; 补充 (addendum) or 更正 (correction with a reason) make a new signed version.
 * - Version history with diffs; print view and PDF; member-hospital users see signed reports only.
 * - Keyboard: Ctrl+Enter submit/sign, Ctrl+S save, Alt+T templates, Alt+P phrases, Alt+1/2/3 fields,
 *   Alt+N next case, Alt+H history, Alt+V viewer (the ⌨ button lists them).
 */
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import {
  Alert,
  App,
  Button,
  Card,
  Checkbox,
  Col,
  Collapse,
  Form,
  Input,
  Modal,
  Popover,
  Row,
  Select,
  Space,
  Spin,
  Switch,
  Tag,
  Tooltip,
  Typography,
} from 'antd';
import type { TextAreaRef } from 'antd/es/input/TextArea';
import {
  AuditOutlined,
  CheckOutlined,
  CopyOutlined,
  FilePdfOutlined,
  FileTextOutlined,
  HistoryOutlined,
  PlusSquareOutlined,
  PrinterOutlined,
  ReloadOutlined,
  RollbackOutlined,
  SaveOutlined,
  SendOutlined,
  SnippetsOutlined,
  StepForwardOutlined,
  WarningOutlined,
  EditOutlined,
} from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router-dom';
import { api } from '../api.ts';
import { useAuth } from '../auth.tsx';
import { formatTime, type Exam } from '../ris.ts';
import {
  contentOf,
  isConflict,
  localMessage,
  reportApi,
  sameContent,
  type Report,
  type ReportContent,
  type ReportState,
  type ReportTemplate,
  type ReportVersion,
  type VersionWithDiff,
} from './api.ts';
import { KindTag, VersionHistory } from './history.tsx';
import { PhrasePanel, SaveTemplateDialog, TemplatePicker } from './library.tsx';
import { addendaFor, baseOf } from './sheet.tsx';
import { schemesFor, structuredEntries, STRUCTURED_SCHEMES } from './structured.ts';
import './reporting.css';
import { validated } from './forms.ts';

type TextField = 'findings' | 'impression' | 'recommendation';
const TEXT_FIELDS: readonly TextField[] = ['findings', 'impression', 'recommendation'];
/** autosave after this quiet time (ms) */
export const AUTOSAVE_MS = 1200;

type Mode = 'loading' | 'edit' | 'review' | 'waiting' | 'signing' | 'signed' | 'none';

const STATUS_COLOR: Record<string, string> = {
  draft: 'default',
  preliminary: 'purple',
  signing: 'processing',
  signed: 'success',
};

function Shortcuts() {
  const { t } = useTranslation();
  const rows: [string, string][] = [
    ['Ctrl+Enter', t('rp.keys.submit')],
    ['Ctrl+S', t('rp.keys.save')],
    ['Alt+T', t('rp.keys.templates')],
    ['Alt+P', t('rp.keys.phrases')],
    ['Alt+1 / 2 / 3', t('rp.keys.fields')],
    ['Alt+H', t('rp.keys.history')],
    ['Alt+V', t('rp.keys.viewer')],
    ['Alt+N', t('rp.keys.next')],
  ];
  return (
    <table className="hy-keys" data-testid="shortcut-help">
      <tbody>
        {rows.map(([k, d]) => (
          <tr key={k}>
            <td>
              <kbd>{k}</kbd>
            </td>
            <td>{d}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Read-only text of a signed (or submitted) version. */
function ReadOnlyReport({ v, addenda }: { v: ReportVersion; addenda: ReportVersion[] }) {
  const { t } = useTranslation();
  const block = (label: string, text: string, testId: string): ReactNode =>
    text.trim() === '' ? null : (
      <div className="hy-ro-block">
        <div className="hy-ro-label">{label}</div>
        <div className="hy-ro-text" data-testid={testId}>
          {text}
        </div>
      </div>
    );
  const structured = structuredEntries(v.structured);
  return (
    <div className="hy-ro" data-testid="report-readonly">
      {block(t('rp.findings'), v.findings, 'ro-findings')}
      {block(t('rp.impression'), v.impression, 'ro-impression')}
      {block(t('rp.recommendation'), v.recommendation, 'ro-recommendation')}
      <Space wrap style={{ marginBottom: 8 }}>
        <Tag color={v.positive ? 'red' : 'green'}>{v.positive ? t('rp.positive') : t('rp.negative')}</Tag>
        {v.critical && (
          <Tag color="#cf1322" icon={<WarningOutlined />}>
            {t('rp.critical')}
          </Tag>
        )}
        {structured.map(([k, val]) => (
          <Tag key={k}>
            {k}: {val}
          </Tag>
        ))}
      </Space>
      {v.kind === 'correction' && v.reason !== null && (
        <Alert type="warning" showIcon title={t('rp.signed.correctionNote', { reason: v.reason })} />
      )}
      {addenda.map((a) => (
        <div key={a.id} className="hy-ro-block hy-ro-addendum" data-testid="ro-addendum">
          <div className="hy-ro-label">
            {t('rp.kind.addendum')} · {a.signedBy?.name} · {formatTime(a.signedAt)}
          </div>
          <div className="hy-ro-text">{a.addendum}</div>
        </div>
      ))}
    </div>
  );
}

export function ReportPanel({ exam }: { exam: Exam }) {
  const { t, i18n } = useTranslation();
  const { message, modal } = App.useApp();
  const { me } = useAuth();
  const navigate = useNavigate();
  const examId = exam.id;
  const myId = me?.user.id;
  const lang = i18n.language;

  const [rs, setRs] = useState<ReportState | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [content, setContent] = useState<ReportContent>(contentOf(null));
  const [dirty, setDirty] = useState(false);
  const [saving, setSaving] = useState(false);
  const [savedAt, setSavedAt] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [versions, setVersions] = useState<VersionWithDiff[]>([]);
  const [historyOpen, setHistoryOpen] = useState(false);
  const [dialog, setDialog] = useState<
    'templates' | 'saveTemplate' | 'return' | 'addendum' | 'correction' | null
  >(null);

  // refs for the autosave loop (no stale closures)
  const contentRef = useRef(content);
  contentRef.current = content;
  const versionRef = useRef<number | undefined>(undefined);
  const dirtyRef = useRef(false);
  dirtyRef.current = dirty;
  const inflight = useRef<Promise<boolean> | null>(null);
  const conflictRef = useRef<string | null>(null);
  conflictRef.current = conflict;
  const areas = useRef<Record<TextField, HTMLTextAreaElement | null>>({
    findings: null,
    impression: null,
    recommendation: null,
  });
  const lastField = useRef<TextField>('findings');
  const assignedRef = useRef(exam.assignedTo);
  assignedRef.current = exam.assignedTo;

  const report: Report | null = rs?.report ?? null;
  const may = rs?.may ?? { write: false, review: false, sign: false };
  const reader = may.write || may.review || may.sign;
  const authorId = report?.current?.author.userId ?? report?.authorId ?? null;

  const mode: Mode = useMemo(() => {
    if (rs === null) return 'loading';
    const r = rs.report;
    if (r === null || r.status === 'draft')
      return may.write && (exam.status === 'matched' || exam.status === 'examined') ? 'edit' : 'none';
    if (r.status === 'preliminary') return may.review && may.sign && authorId !== myId ? 'review' : 'waiting';
    if (r.status === 'signing') return 'signing';
    return 'signed';
  }, [rs, may.write, may.review, may.sign, exam.status, authorId, myId]);
  const editable = mode === 'edit' || mode === 'review';
  const modeRef = useRef(mode);
  modeRef.current = mode;

  /** what the editor shows for a report from the server */
  const serverContent = (r: Report | null): ReportContent =>
    contentOf(r?.draft ?? (r?.status === 'preliminary' || r?.status === 'signing' ? r.current : r?.signed));

  const load = useCallback(
    async (force = false): Promise<void> => {
      try {
        const s = await reportApi.get(examId);
        setLoadError(null);
        if (dirtyRef.current && !force) {
          // keep what is being typed; a newer server version surfaces as a conflict on the next save
          setRs((old) => (old === null ? s : { ...s, report: old.report }));
          return;
        }
        setRs(s);
        versionRef.current = s.report?.version;
        setContent(serverContent(s.report));
        setDirty(false);
        setConflict(null);
        setSaveError(null);
        if (s.report?.draft != null) setSavedAt(s.report.draft.updatedAt);
        if (s.report !== null && s.report.status === 'signed') {
          const h = await reportApi.versions(examId);
          setVersions(h.versions);
        } else setVersions([]);
      } catch (err) {
        setLoadError(localMessage(err, lang));
      }
    },
    [examId, lang],
  );

  // (re)load when the exam changes state (live events reload the case page's exam)
  useEffect(() => {
    void load();
  }, [load, exam.status, exam.version]);

  const claim = useCallback(async (): Promise<void> => {
    try {
      await api('POST', `/api/exams/${examId}/claim`);
    } catch (err) {
      // someone else holds it: the banner above the editor says who
      if (!isConflict(err)) console.warn('claim failed', err);
    }
  }, [examId]);

  /** Save the draft now; resolves true when the server has the current text. */
  const save = useCallback(async (): Promise<boolean> => {
    if (conflictRef.current !== null) return false;
    if (inflight.current !== null) {
      await inflight.current;
      if (!dirtyRef.current) return true;
    }
    const sent = contentRef.current;
    const run = (async (): Promise<boolean> => {
      setSaving(true);
      try {
        const creating = versionRef.current === undefined;
        const { report: r } = await reportApi.saveDraft(examId, versionRef.current, sent);
        versionRef.current = r.version;
        // starting a report claims an unclaimed exam, so no colleague starts the same case
        if (creating && assignedRef.current === null) await claim();
        setRs((old) => (old === null ? old : { ...old, report: r }));
        setSavedAt(r.draft?.updatedAt ?? new Date().toISOString());
        setSaveError(null);
        if (sameContent(contentRef.current, sent)) {
          dirtyRef.current = false;
          setDirty(false);
        }
        return true;
      } catch (err) {
        if (isConflict(err)) {
          const msg = localMessage(err, lang);
          conflictRef.current = msg;
          setConflict(msg);
        } else setSaveError(localMessage(err, lang));
        return false;
      } finally {
        setSaving(false);
      }
    })();
    inflight.current = run;
    try {
      return await run;
    } finally {
      if (inflight.current === run) inflight.current = null;
    }
  }, [examId, lang]);

  // autosave: a quiet period after the last change
  useEffect(() => {
    if (mode !== 'edit' || !dirty || conflict !== null) return;
    const h = setTimeout(() => void save(), AUTOSAVE_MS);
    return () => clearTimeout(h);
  }, [content, dirty, mode, conflict, save]);

  // never lose typing: save on leaving the case, warn when closing the tab with unsaved text
  useEffect(() => {
    const warn = (e: BeforeUnloadEvent): void => {
      if (dirtyRef.current && conflictRef.current === null) e.preventDefault();
    };
    window.addEventListener('beforeunload', warn);
    return () => {
      window.removeEventListener('beforeunload', warn);
      if (dirtyRef.current && conflictRef.current === null && modeRef.current === 'edit') void save();
    };
  }, [save]);

  const change = (patch: Partial<ReportContent>): void => {
    setContent((c) => ({ ...c, ...patch }));
    if (mode === 'edit' || mode === 'review') {
      dirtyRef.current = true;
      setDirty(true);
    }
  };

  const insertAtCaret = (text: string): void => {
    if (!editable) return;
    const f = lastField.current;
    const el = areas.current[f];
    const cur = contentRef.current[f];
    const start = el?.selectionStart ?? cur.length;
    const end = el?.selectionEnd ?? cur.length;
    const next = cur.slice(0, start) + text + cur.slice(end);
    change({ [f]: next });
    requestAnimationFrame(() => {
      if (el === null) return;
      el.focus();
      el.setSelectionRange(start + text.length, start + text.length);
    });
  };

  const applyTemplate = (tpl: ReportTemplate, how: 'replace' | 'append'): void => {
    const c = contentRef.current;
    const join = (a: string, b: string): string => (a.trim() === '' ? b : b === '' ? a : `${a}\n${b}`);
    change(
      how === 'replace'
        ? { findings: tpl.findings, impression: tpl.impression, recommendation: tpl.recommendation }
        : {
            findings: join(c.findings, tpl.findings),
            impression: join(c.impression, tpl.impression),
            recommendation: join(c.recommendation, tpl.recommendation),
          },
    );
    setDialog(null);
    void message.success(t('rp.templates.applied', { name: tpl.name }));
    requestAnimationFrame(() => areas.current.findings?.focus());
  };

  const failed = (err: unknown): void => {
    if (isConflict(err)) {
      modal.warning({
        title: t('rp.conflictTitle'),
        content: <span data-testid="report-conflict-message">{localMessage(err, lang)}</span>,
        onOk: () => void load(true),
      });
    } else void message.error(t('common.error', { message: localMessage(err, lang) }));
  };

  const submit = async (): Promise<void> => {
    if (busy) return;
    setBusy(true);
    try {
      if (dirtyRef.current || versionRef.current === undefined) {
        if (!(await save())) return;
      }
      const version = versionRef.current;
      if (version === undefined) return;
      const r = await reportApi.submit(examId, version);
      void message.success(r.signed !== null ? t('rp.msg.signedDirect') : t('rp.msg.submitted'));
      await load(true);
    } catch (err) {
      failed(err);
    } finally {
      setBusy(false);
    }
  };

  const approve = (): void => {
    if (busy || report === null) return;
    const edits = contentRef.current;
    const base = serverContent(report);
    const edited = !sameContent(edits, base);
    modal.confirm({
      title: t('rp.review.approveTitle'),
      content: (
        <div>
          <p>{t('rp.review.approveText', { name: me?.user.displayName ?? '' })}</p>
          {edited && <Alert type="info" showIcon title={t('rp.review.withEdits')} />}
        </div>
      ),
      okText: t('rp.review.approve'),
      cancelText: t('common.cancel'),
      okButtonProps: { 'data-testid': 'approve-ok' },
      onOk: async () => {
        setBusy(true);
        try {
          await reportApi.approve(examId, report.version, edited ? edits : {});
          void message.success(t('rp.msg.signed'));
          dirtyRef.current = false;
          setDirty(false);
          await load(true);
        } catch (err) {
          failed(err);
        } finally {
          setBusy(false);
        }
      },
    });
  };

  const nextCase = async (): Promise<void> => {
    if (mode === 'edit' && dirtyRef.current) await save();
    if (mode === 'review' && dirtyRef.current) {
      const leave = await modal.confirm({
        title: t('rp.review.discardTitle'),
        content: t('rp.review.discardText'),
        okText: t('rp.review.discard'),
        cancelText: t('common.cancel'),
      });
      if (!leave) return;
    }
    const status = mode === 'review' || mode === 'waiting' ? 'reported' : 'matched';
    try {
      const pick = async (q: string): Promise<Exam | undefined> =>
        (await api<{ exams: Exam[] }>('GET', `/api/exams?status=${status}&center=1&limit=20${q}`)).exams.find(
          (x) => x.id !== examId,
        );
      const next = (await pick('&assigned=me')) ?? (await pick(''));
      if (next === undefined) void message.info(t('rp.msg.noNext'));
      else void navigate(`/exams/${next.id}`);
    } catch (err) {
      failed(err);
    }
  };

  const openPrint = (): void => {
    window.open(`/exams/${examId}/report/print`, '_blank', 'noopener');
  };

  // keyboard: one listener while the panel is mounted
  const keyRef = useRef<(e: KeyboardEvent) => void>(() => undefined);
  keyRef.current = (e: KeyboardEvent): void => {
    if (dialog !== null && dialog !== 'templates') return;
    if (document.querySelector('.ant-modal-wrap:not([style*="display: none"]) .ant-modal') !== null) return;
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && e.key === 'Enter') {
      if (mode === 'edit') {
        e.preventDefault();
        void submit();
      } else if (mode === 'review' || mode === 'signing') {
        e.preventDefault();
        approve();
      }
      return;
    }
    if (ctrl && (e.key === 's' || e.key === 'S')) {
      if (mode === 'edit') {
        e.preventDefault();
        void save().then((ok) => ok && void message.success(t('rp.msg.saved')));
      }
      return;
    }
    if (!e.altKey || ctrl) return;
    switch (e.code) {
      case 'KeyT':
        if (mode === 'edit' || mode === 'review') {
          e.preventDefault();
          setDialog('templates');
        }
        break;
      case 'KeyP':
        e.preventDefault();
        document.getElementById('phrase-search')?.focus();
        break;
      case 'KeyN':
        e.preventDefault();
        void nextCase();
        break;
      case 'KeyV': {
        // the case page's "open in the viewer"
        const v = document.querySelector<HTMLElement>('[data-testid="open-viewer"]');
        if (v !== null) {
          e.preventDefault();
          v.click();
        }
        break;
      }
      case 'KeyH':
        e.preventDefault();
        setHistoryOpen((o) => !o);
        break;
      case 'Digit1':
      case 'Digit2':
      case 'Digit3': {
        const f = TEXT_FIELDS[Number(e.code.slice(5)) - 1];
        if (f !== undefined) {
          e.preventDefault();
          areas.current[f]?.focus();
        }
        break;
      }
    }
  };
  useEffect(() => {
    const h = (e: KeyboardEvent): void => keyRef.current(e);
    window.addEventListener('keydown', h);
    return () => window.removeEventListener('keydown', h);
  }, []);

  if (loadError !== null && rs === null)
    return (
      <Card size="small" title={t('rp.title')} data-testid="report-panel">
        <Alert
          type="error"
          showIcon
          title={loadError}
          action={<Button onClick={() => void load()}>{t('rp.reload')}</Button>}
        />
      </Card>
    );
  if (rs === null)
    return (
      <Card size="small" title={t('rp.title')} data-testid="report-panel">
        <Spin />
      </Card>
    );

  const schemes = schemesFor(
    exam.modality,
    exam.bodyPart,
    exam.examItems.map((i) => i.name),
  );
  // a category recorded under a scheme not offered for this exam is still shown
  const shownSchemes = [
    ...schemes,
    ...STRUCTURED_SCHEMES.filter((s) => !schemes.includes(s) && content.structured[s.key] !== undefined),
  ];
  const opinion = report?.draft?.reviewOpinion ?? null;
  const signedV = report?.signed ?? null;
  const isMemberOnly = !reader;

  // ------------------------------------------------------------------ header line: state and tools
  const statusTag =
    report === null ? (
      <Tag data-testid="report-status" data-status="none">
        {t('rp.status.none')}
      </Tag>
    ) : (
      <Tag color={STATUS_COLOR[report.status]} data-testid="report-status" data-status={report.status}>
        {t(`rp.status.${report.status}`)}
      </Tag>
    );
  const autosave =
    mode !== 'edit' ? null : saving ? (
      <Typography.Text type="secondary" data-testid="autosave-status" data-state="saving">
        {t('rp.autosave.saving')}
      </Typography.Text>
    ) : saveError !== null ? (
      <Typography.Text type="danger" data-testid="autosave-status" data-state="error">
        {t('rp.autosave.failed', { message: saveError })}
      </Typography.Text>
    ) : dirty ? (
      <Typography.Text type="secondary" data-testid="autosave-status" data-state="dirty">
        {t('rp.autosave.unsaved')}
      </Typography.Text>
    ) : savedAt !== null && report !== null ? (
      <Typography.Text type="success" data-testid="autosave-status" data-state="saved">
        <CheckOutlined />{' '}
        {t('rp.autosave.saved', { time: new Date(savedAt).toLocaleTimeString('zh-CN', { hour12: false }) })}
      </Typography.Text>
    ) : null;

  const title = (
    <Space size={8} wrap>
      <span>
        <FileTextOutlined /> {t('rp.title')}
      </span>
      {statusTag}
      {report?.current != null && (
        <Typography.Text type="secondary" style={{ fontSize: 12 }}>
          v{report.current.number}
        </Typography.Text>
      )}
      {mode === 'edit' && rs.reviewRequired !== null && (
        <Tag color={rs.reviewRequired ? 'purple' : 'green'} data-testid="review-required">
          {rs.reviewRequired ? t('rp.reviewRequired') : t('rp.selfSign')}
        </Tag>
      )}
      {report?.critical === true && (
        <Tag color="#cf1322" icon={<WarningOutlined />}>
          {t('rp.critical')}
        </Tag>
      )}
      {autosave}
    </Space>
  );
  const extra = (
    <Space size={4}>
      {(report?.current != null || signedV !== null) && (reader || signedV !== null) && (
        <>
          <Tooltip title={t('rp.print')}>
            <Button size="small" icon={<PrinterOutlined />} onClick={openPrint} data-testid="report-print" />
          </Tooltip>
          <Tooltip title={t('rp.pdf')}>
            <Button
              size="small"
              icon={<FilePdfOutlined />}
              href={reportApi.pdfUrl(examId)}
              target="_blank"
              rel="noopener"
              data-testid="report-pdf"
            />
          </Tooltip>
        </>
      )}
      {reader && (
        <Tooltip title={t('rp.keys.next')}>
          <Button
            size="small"
            icon={<StepForwardOutlined />}
            onClick={() => void nextCase()}
            data-testid="next-case"
          />
        </Tooltip>
      )}
      {reader && (
        <Popover content={<Shortcuts />} title={t('rp.keys.title')} trigger={['hover', 'click']}>
          <Button size="small" data-testid="shortcut-button">
            ⌨
          </Button>
        </Popover>
      )}
    </Space>
  );

  // ------------------------------------------------------------------ body
  let body: ReactNode;
  const signedLine = (v: ReportVersion): ReactNode => {
    const base = baseOf(versions, v);
    return (
      <div className="hy-signed-line" data-testid="signed-line">
        <KindTag kind={base.kind} />
        {t('rp.signed.by', { name: base.signedBy?.name ?? '', time: formatTime(base.signedAt) })}
        {base.reviewer !== null && (
          <span> · {t('rp.signed.reviewer', { name: base.reviewer.name })}</span>
        )} · {t('rp.signed.author', { name: base.author.name })}
        {v !== base && <Tag style={{ marginLeft: 8 }}>{t('rp.signed.withAddenda')}</Tag>}
      </div>
    );
  };
  if (isMemberOnly) {
    body =
      signedV !== null ? (
        <>
          {signedLine(signedV)}
          <ReadOnlyReport v={signedV} addenda={addendaFor(versions, signedV)} />
        </>
      ) : (
        <Typography.Text type="secondary" data-testid="report-not-final">
          {t('rp.notFinal')}
        </Typography.Text>
      );
  } else if (mode === 'none' && report === null) {
    body = (
      <Typography.Text type="secondary" data-testid="report-empty">
        {may.write ? t('rp.notReady', { status: t(`wf.status.${exam.status}`) }) : t('rp.noReport')}
      </Typography.Text>
    );
  } else if (mode === 'signed' && signedV !== null) {
    body = (
      <>
        {signedLine(signedV)}
        <ReadOnlyReport v={signedV} addenda={addendaFor(versions, signedV)} />
        {may.sign && (
          <Space>
            <Button
              icon={<PlusSquareOutlined />}
              onClick={() => setDialog('addendum')}
              data-testid="report-addendum"
            >
              {t('rp.signed.addendum')}
            </Button>
            <Button
              icon={<EditOutlined />}
              onClick={() => setDialog('correction')}
              data-testid="report-correction"
            >
              {t('rp.signed.correction')}
            </Button>
          </Space>
        )}
      </>
    );
  } else if ((mode === 'waiting' || mode === 'signing' || mode === 'none') && report?.current != null) {
    body = (
      <>
        <Alert
          type={mode === 'signing' ? 'warning' : 'info'}
          showIcon
          style={{ marginBottom: 8 }}
          title={
            mode === 'signing'
              ? t('rp.review.signingIncomplete')
              : authorId === myId
                ? t('rp.review.waitingMine')
                : may.review
                  ? t('rp.review.waitingGrade')
                  : t('rp.review.waiting')
          }
          action={
            mode === 'signing' && may.review ? (
              <Button size="small" type="primary" onClick={approve} data-testid="report-approve">
                {t('rp.review.complete')}
              </Button>
            ) : undefined
          }
        />
        <ReadOnlyReport v={report.current} addenda={[]} />
      </>
    );
  } else {
    // edit (author) or review (reviewer)
    const ta = (f: TextField, rows: number, label: string, key: string): ReactNode => (
      <div className="hy-field">
        <label htmlFor={`report-${f}`} className="hy-field-label">
          {label} <kbd className="hy-kbd-hint">Alt+{key}</kbd>
        </label>
        <Input.TextArea
          id={`report-${f}`}
          ref={(r: TextAreaRef | null) => {
            areas.current[f] = r?.resizableTextArea?.textArea ?? null;
          }}
          value={content[f]}
          onChange={(e) => change({ [f]: e.target.value })}
          onFocus={() => {
            lastField.current = f;
          }}
          autoSize={{ minRows: rows, maxRows: 24 }}
          maxLength={20000}
          spellCheck={false}
          data-testid={`report-${f}`}
        />
      </div>
    );
    body = (
      <>
        {conflict !== null && (
          <Alert
            type="error"
            showIcon
            style={{ marginBottom: 8 }}
            data-testid="report-conflict"
            title={t('rp.conflict.title')}
            description={
              <div>
                <div>{conflict}</div>
                <div>{t('rp.conflict.hint')}</div>
              </div>
            }
            action={
              <Space orientation="vertical">
                <Button
                  size="small"
                  icon={<CopyOutlined />}
                  onClick={() => {
                    const c = contentRef.current;
                    void navigator.clipboard
                      ?.writeText(`${c.findings}\n\n${c.impression}\n\n${c.recommendation}`)
                      .then(
                        () => void message.success(t('common.copied')),
                        () => void message.error(t('rp.conflict.copyFailed')),
                      );
                  }}
                >
                  {t('rp.conflict.copy')}
                </Button>
                <Button
                  size="small"
                  type="primary"
                  danger
                  icon={<ReloadOutlined />}
                  onClick={() => void load(true)}
                  data-testid="report-reload"
                >
                  {t('rp.reload')}
                </Button>
              </Space>
            }
          />
        )}
        {mode === 'edit' && exam.assignedTo !== null && exam.assignedTo.userId !== myId && (
          <Alert
            type="warning"
            showIcon
            style={{ marginBottom: 8 }}
            data-testid="claimed-by-other"
            title={t('rp.claimedBy', { name: exam.assignedTo.name })}
          />
        )}
        {mode === 'edit' && report?.draft != null && report.draft.author.userId !== myId && (
          <Alert
            type="info"
            showIcon
            style={{ marginBottom: 8 }}
            data-testid="others-draft"
            title={t('rp.othersDraft', { name: report.draft.author.name })}
          />
        )}
        {opinion !== null && mode === 'edit' && (
          <Alert
            type="warning"
            showIcon
            icon={<AuditOutlined />}
            style={{ marginBottom: 8 }}
            data-testid="review-opinion"
            title={t('rp.review.opinionTitle', { name: report?.draft?.reviewer?.name ?? '' })}
            description={<div style={{ whiteSpace: 'pre-wrap' }}>{opinion}</div>}
          />
        )}
        {mode === 'review' && (
          <Alert
            type="info"
            showIcon
            style={{ marginBottom: 8 }}
            data-testid="review-banner"
            title={t('rp.review.banner', {
              name: report?.current?.author.name ?? '',
              time: formatTime(report?.submittedAt),
            })}
          />
        )}
        <Row gutter={12}>
          <Col xs={24} xl={17}>
            {ta('findings', 8, t('rp.findings'), '1')}
            {ta('impression', 3, t('rp.impression'), '2')}
            {ta('recommendation', 1, t('rp.recommendation'), '3')}
            <Space wrap size={16} style={{ marginTop: 4 }}>
              <span>
                <Switch
                  checked={content.positive}
                  onChange={(v) => change({ positive: v })}
                  checkedChildren={t('rp.positive')}
                  unCheckedChildren={t('rp.negative')}
                  data-testid="report-positive"
                />
              </span>
              <Checkbox
                checked={content.critical}
                onChange={(e) => change({ critical: e.target.checked })}
                data-testid="report-critical"
              >
                <span style={{ color: content.critical ? '#cf1322' : undefined, fontWeight: 600 }}>
                  <WarningOutlined /> {t('rp.critical')}
                </span>
              </Checkbox>
              {shownSchemes.map((s) => (
                <Space key={s.key} size={4}>
                  <Typography.Text>{s.key}</Typography.Text>
                  <Select
                    size="small"
                    allowClear
                    style={{ width: 200 }}
                    value={(content.structured[s.key] as string | undefined) ?? null}
                    onChange={(v: string | null | undefined) => {
                      const next = { ...content.structured };
                      if (v == null) delete next[s.key];
                      else next[s.key] = v;
                      change({ structured: next });
                    }}
                    options={s.options.map((o) => ({ value: o.value, label: lang === 'en' ? o.en : o.zh }))}
                    data-testid={`structured-${s.key}`}
                  />
                </Space>
              ))}
            </Space>
            {content.critical && (
              <Alert type="error" showIcon style={{ marginTop: 8 }} title={t('rp.criticalHint')} />
            )}
            <div className="hy-report-actions">
              {mode === 'edit' && (
                <>
                  <Tooltip title="Ctrl+Enter">
                    <Button
                      type="primary"
                      icon={<SendOutlined />}
                      loading={busy}
                      disabled={conflict !== null}
                      onClick={() => void submit()}
                      data-testid="report-submit"
                    >
                      {rs.reviewRequired === false ? t('rp.submitSign') : t('rp.submit')}
                    </Button>
                  </Tooltip>
                  <Tooltip title="Ctrl+S">
                    <Button
                      icon={<SaveOutlined />}
                      disabled={conflict !== null || (!dirty && report !== null)}
                      onClick={() => void save().then((ok) => ok && void message.success(t('rp.msg.saved')))}
                      data-testid="report-save"
                    >
                      {t('rp.save')}
                    </Button>
                  </Tooltip>
                </>
              )}
              {mode === 'review' && (
                <>
                  <Tooltip title="Ctrl+Enter">
                    <Button
                      type="primary"
                      icon={<CheckOutlined />}
                      loading={busy}
                      onClick={approve}
                      data-testid="report-approve"
                    >
                      {t('rp.review.approve')}
                    </Button>
                  </Tooltip>
                  <Button
                    danger
                    icon={<RollbackOutlined />}
                    onClick={() => setDialog('return')}
                    data-testid="report-return"
                  >
                    {t('rp.review.return')}
                  </Button>
                  {dirty && (
                    <Typography.Text type="warning" data-testid="review-edited">
                      {t('rp.review.editedHint')}
                    </Typography.Text>
                  )}
                </>
              )}
              <Tooltip title="Alt+T">
                <Button
                  icon={<SnippetsOutlined />}
                  onClick={() => setDialog('templates')}
                  data-testid="open-templates"
                >
                  {t('rp.templates.open')}
                </Button>
              </Tooltip>
              <Button
                type="text"
                onClick={() => setDialog('saveTemplate')}
                disabled={content.findings.trim() === '' && content.impression.trim() === ''}
                data-testid="save-template"
              >
                {t('rp.templates.saveAs')}
              </Button>
            </div>
          </Col>
          <Col xs={24} xl={7}>
            <div className="hy-side-title">
              {t('rp.phrases.title')} <kbd className="hy-kbd-hint">Alt+P</kbd>
            </div>
            <PhrasePanel onInsert={insertAtCaret} canAdd={may.write || may.review} />
          </Col>
        </Row>
      </>
    );
  }

  const showHistory = reader && report !== null;

  return (
    <Card size="small" title={title} extra={extra} data-testid="report-panel" data-mode={mode}>
      {body}
      {showHistory && (
        <Collapse
          size="small"
          style={{ marginTop: 12 }}
          activeKey={historyOpen ? ['h'] : []}
          onChange={(k) => setHistoryOpen(k.length > 0)}
          items={[
            {
              key: 'h',
              label: (
                <span data-testid="history-toggle">
                  <HistoryOutlined /> {t('rp.history.title')} <kbd className="hy-kbd-hint">Alt+H</kbd>
                </span>
              ),
              children: historyOpen ? (
                <VersionHistory examId={examId} refreshKey={`${report.version}`} />
              ) : null,
            },
          ]}
        />
      )}

      <TemplatePicker
        open={dialog === 'templates'}
        onClose={() => setDialog(null)}
        hospitalId={exam.hospitalId}
        modality={exam.modality}
        bodyPart={exam.bodyPart}
        onApply={applyTemplate}
      />
      <SaveTemplateDialog
        open={dialog === 'saveTemplate'}
        onClose={() => setDialog(null)}
        modality={exam.modality}
        bodyPart={exam.bodyPart}
        content={content}
      />
      <TextDialog
        open={dialog === 'return'}
        title={t('rp.review.returnTitle')}
        label={t('rp.review.opinion')}
        testId="return-opinion"
        okText={t('rp.review.return')}
        onClose={() => setDialog(null)}
        onOk={async (opinionText) => {
          if (report === null) return;
          try {
            await reportApi.returnReport(examId, report.version, opinionText);
            void message.success(t('rp.msg.returned'));
            dirtyRef.current = false;
            setDirty(false);
            setDialog(null);
            await load(true);
          } catch (err) {
            failed(err);
          }
        }}
      />
      <TextDialog
        open={dialog === 'addendum'}
        title={t('rp.signed.addendumTitle')}
        label={t('rp.signed.addendumText')}
        testId="addendum-text"
        okText={t('rp.signed.signAddendum')}
        onClose={() => setDialog(null)}
        onOk={async (text) => {
          if (report === null) return;
          try {
            await reportApi.addendum(examId, report.version, text);
            void message.success(t('rp.msg.addendum'));
            setDialog(null);
            setHistoryOpen(true);
            await load(true);
          } catch (err) {
            failed(err);
          }
        }}
      />
      <CorrectionDialog
        open={dialog === 'correction'}
        base={signedV}
        onClose={() => setDialog(null)}
        onOk={async (c, reason) => {
          if (report === null) return;
          try {
            await reportApi.correction(examId, report.version, c, reason);
            void message.success(t('rp.msg.correction'));
            setDialog(null);
            setHistoryOpen(true);
            await load(true);
          } catch (err) {
            failed(err);
          }
        }}
      />
    </Card>
  );
}

function TextDialog({
  open,
  title,
  label,
  okText,
  testId,
  onOk,
  onClose,
}: {
  open: boolean;
  title: string;
  label: string;
  okText: string;
  testId: string;
  onOk: (text: string) => Promise<void>;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const [form] = Form.useForm<{ text: string }>();
  const [busy, setBusy] = useState(false);
  return (
    <Modal
      open={open}
      title={title}
      okText={okText}
      cancelText={t('common.cancel')}
      confirmLoading={busy}
      okButtonProps={{ 'data-testid': `${testId}-ok` }}
      onOk={() =>
        void validated(form).then(async (v) => {
          if (v === undefined) return;
          setBusy(true);
          try {
            await onOk(v.text.trim());
          } finally {
            setBusy(false);
          }
        })
      }
      onCancel={onClose}
      destroyOnHidden
      forceRender
    >
      <Form form={form} layout="vertical" preserve={false}>
        <Form.Item
          name="text"
          label={label}
          rules={[{ required: true, whitespace: true, message: t('rp.required') }]}
        >
          <Input.TextArea rows={5} maxLength={20000} autoFocus data-testid={testId} />
        </Form.Item>
      </Form>
    </Modal>
  );
}

function CorrectionDialog({
  open,
  base,
  onOk,
  onClose,
}: {
  open: boolean;
  base: ReportVersion | null;
  onOk: (c: ReportContent, reason: string) => Promise<void>;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const [form] = Form.useForm<ReportContent & { reason: string }>();
  const [busy, setBusy] = useState(false);
  // start from the signed text each time the dialog opens
  useEffect(() => {
    if (open && base !== null) form.setFieldsValue({ ...contentOf(base), reason: '' });
  }, [open, base, form]);
  return (
    <Modal
      open={open}
      width={760}
      title={t('rp.signed.correctionTitle')}
      okText={t('rp.signed.signCorrection')}
      cancelText={t('common.cancel')}
      confirmLoading={busy}
      okButtonProps={{ 'data-testid': 'correction-ok' }}
      onOk={() =>
        void validated(form).then(async (v) => {
          if (v === undefined) return;
          setBusy(true);
          try {
            await onOk(
              {
                findings: v.findings,
                impression: v.impression,
                recommendation: v.recommendation ?? '',
                positive: v.positive,
                critical: v.critical,
                structured: base?.structured ?? {},
              },
              v.reason.trim(),
            );
          } finally {
            setBusy(false);
          }
        })
      }
      onCancel={onClose}
      destroyOnHidden
      forceRender
    >
      <Alert type="warning" showIcon style={{ marginBottom: 12 }} title={t('rp.signed.correctionHint')} />
      <Form form={form} layout="vertical" preserve={false}>
        <Form.Item name="findings" label={t('rp.findings')} rules={[{ required: true, whitespace: true }]}>
          <Input.TextArea autoSize={{ minRows: 4, maxRows: 14 }} data-testid="correction-findings" />
        </Form.Item>
        <Form.Item
          name="impression"
          label={t('rp.impression')}
          rules={[{ required: true, whitespace: true }]}
        >
          <Input.TextArea autoSize={{ minRows: 2, maxRows: 8 }} data-testid="correction-impression" />
        </Form.Item>
        <Form.Item name="recommendation" label={t('rp.recommendation')}>
          <Input.TextArea autoSize={{ minRows: 1, maxRows: 6 }} />
        </Form.Item>
        <Space size={24}>
          <Form.Item name="positive" valuePropName="checked" label={t('rp.positive')}>
            <Switch />
          </Form.Item>
          <Form.Item name="critical" valuePropName="checked" label={t('rp.critical')}>
            <Switch />
          </Form.Item>
        </Space>
        <Form.Item
          name="reason"
          label={t('rp.signed.reason')}
          rules={[{ required: true, whitespace: true, message: t('rp.signed.reasonRequired') }]}
        >
          <Input.TextArea rows={2} maxLength={2000} data-testid="correction-reason" />
        </Form.Item>
      </Form>
    </Modal>
  );
}
