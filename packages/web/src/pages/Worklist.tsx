/**
 * 工作列表: the center worklist (`/worklist`, only exams the center reads) and the member hospital's own
 * exams (`/my-exams`, the server scopes to the caller's hospital). Status tabs with live counts, filters
 * kept in the URL (so "back" from a case restores the list), live updates over one EventSource, a ticking
 * countdown to the report due time, claim/release/assign with conflicts shown, keyboard navigation.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import {
  App,
  Button,
  Card,
  Checkbox,
  DatePicker,
  Dropdown,
  Input,
  Select,
  Space,
  Table,
  Tabs,
  Tag,
  Tooltip,
  Typography,
} from 'antd';
import type { InputRef, TableColumnsType } from 'antd';
import { MoreOutlined, ReloadOutlined, WarningOutlined } from '@ant-design/icons';
import dayjs from 'dayjs';
import { useTranslation } from 'react-i18next';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { api, type Hospital } from '../api.ts';
import { permissions, useAuth } from '../auth.tsx';
import {
  formatTime,
  isOverdue,
  MODALITIES,
  STATUSES,
  useExamEvents,
  useNow,
  type Exam,
  type ExamStatus,
  type LiveState,
} from '../ris.ts';
import { errorText, useList } from './common.tsx';
import {
  AssignDialog,
  Countdown,
  LiveBadge,
  patientLabel,
  PriorityTag,
  sexText,
  StatusTag,
  useAgeText,
  useExamActions,
} from './workflow-common.tsx';

type Mode = 'center' | 'hospital';
type Counts = Partial<Record<ExamStatus, number>>;

const PAGE_SIZES = ['20', '50', '100', '200'];

/** The filters as URL query parameters (the same names as GET /api/exams). */
function apiQuery(sp: URLSearchParams, mode: Mode, withStatus: boolean): URLSearchParams {
  const q = new URLSearchParams();
  for (const k of ['hospitalId', 'modality', 'priority', 'from', 'to', 'assigned', 'overdue', 'q']) {
    const v = sp.get(k);
    if (v !== null && v !== '') q.set(k, v);
  }
  if (mode === 'center') q.set('center', '1');
  if (withStatus) {
    const s = sp.get('status');
    if (s !== null && s !== '' && s !== 'all') q.set('status', s);
    const size = Number(sp.get('size') ?? '50');
    const page = Number(sp.get('page') ?? '1');
    q.set('limit', String(size));
    q.set('offset', String((page - 1) * size));
  }
  return q;
}

export function WorklistPage({ mode }: { mode: Mode }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const can = permissions(me);
  const navigate = useNavigate();
  const ageText = useAgeText();
  const now = useNow();
  const [sp, setSp] = useSearchParams();
  const [exams, setExams] = useState<Exam[]>([]);
  const [total, setTotal] = useState(0);
  const [counts, setCounts] = useState<Counts>({});
  const [loading, setLoading] = useState(true);
  const [live, setLive] = useState<LiveState>('connecting');
  const [selected, setSelected] = useState<number | undefined>(undefined);
  const [assigning, setAssigning] = useState<Exam | null>(null);
  const [text, setText] = useState(sp.get('q') ?? '');
  const searchRef = useRef<InputRef>(null);
  const tableRef = useRef<HTMLDivElement>(null);
  const { rows: hospitals } = useList<Hospital>('/api/admin/hospitals', 'hospitals');

  const listQuery = apiQuery(sp, mode, true).toString();
  const countQuery = apiQuery(sp, mode, false).toString();
  const seq = useRef(0);

  const load = useCallback(
    async (quiet: boolean) => {
      const mine = ++seq.current;
      if (!quiet) setLoading(true);
      try {
        const [list, c] = await Promise.all([
          api<{ exams: Exam[]; total: number }>('GET', `/api/exams?${listQuery}`),
          api<{ counts: Counts }>('GET', `/api/exams/counts?${countQuery}`),
        ]);
        if (mine !== seq.current) return; // a newer load is on its way
        setExams(list.exams);
        setTotal(list.total);
        setCounts(c.counts);
      } catch (err) {
        if (mine === seq.current) void message.error(t('common.error', { message: errorText(err) }));
      } finally {
        if (mine === seq.current) setLoading(false);
      }
    },
    [listQuery, countQuery, message, t],
  );
  useEffect(() => {
    void load(false);
  }, [load]);
  const reloadQuiet = useCallback(() => void load(true), [load]);
  useExamEvents(reloadQuiet, { onState: setLive });
  const actions = useExamActions(reloadQuiet);

  const set = (changes: Record<string, string | undefined>, keepPage = false): void => {
    const next = new URLSearchParams(sp);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined || v === '') next.delete(k);
      else next.set(k, v);
    }
    if (!keepPage) next.delete('page');
    setSp(next, { replace: true });
  };

  // "/" focuses the search box (unless typing somewhere already)
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent): void => {
      const el = e.target as HTMLElement | null;
      const typing =
        el !== null && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.isContentEditable);
      if (e.key === '/' && !typing) {
        e.preventDefault();
        searchRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const open = (e: Exam): void => void navigate(`/exams/${e.id}`);
  const selectedExam = exams.find((e) => e.id === selected);
  const myId = me?.user.id;

  const onTableKey = (ev: KeyboardEvent<HTMLDivElement>): void => {
    if (exams.length === 0) return;
    const idx = exams.findIndex((e) => e.id === selected);
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const next = ev.key === 'ArrowDown' ? Math.min(idx + 1, exams.length - 1) : Math.max(idx - 1, 0);
      setSelected(exams[next]?.id);
      tableRef.current
        ?.querySelector(`[data-row-key="${exams[next]?.id}"]`)
        ?.scrollIntoView({ block: 'nearest' });
    } else if (ev.key === 'Enter' && selectedExam !== undefined) open(selectedExam);
    else if (can.claim && (ev.key === 'c' || ev.key === 'C') && selectedExam !== undefined)
      void actions.claim(selectedExam);
    else if ((can.claim || can.assign) && (ev.key === 'r' || ev.key === 'R') && selectedExam !== undefined)
      void actions.release(selectedExam);
  };

  const status = sp.get('status') ?? 'all';
  const allCount = useMemo(() => Object.values(counts).reduce((a, b) => a + (b ?? 0), 0), [counts]);
  const tabItems = [
    { key: 'all', label: `${t('wf.status.all')} ${allCount}` },
    ...STATUSES.map((s) => ({
      key: s,
      label: (
        <span data-testid={`tab-${s}`}>
          {t(`wf.status.${s}`)} <span data-testid={`count-${s}`}>{counts[s] ?? 0}</span>
        </span>
      ),
    })),
  ];

  const columns: TableColumnsType<Exam> = [
    {
      title: t('wf.worklist.priority'),
      key: 'priority',
      width: 64,
      render: (_: unknown, e) => <PriorityTag priority={e.priority} />,
    },
    {
      title: t('wf.worklist.patient'),
      key: 'patient',
      width: 150,
      render: (_: unknown, e) => (
        <div style={{ lineHeight: 1.35 }}>
          <Typography.Text strong data-testid="patient-name">
            {patientLabel(e)}
          </Typography.Text>
          {e.identityConflict !== null && (
            <Tooltip title={e.identityConflict}>
              <WarningOutlined
                style={{ color: '#cf1322', marginLeft: 4 }}
                aria-label={t('wf.worklist.identityConflict')}
              />
            </Tooltip>
          )}
          <span style={{ marginLeft: 6, fontSize: 12 }}>
            {[sexText(t, e.patient.sex), ageText(e.patient.birthDate, e.registeredAt)]
              .filter((x) => x !== '')
              .join(' ')}
          </span>
          <div style={{ fontSize: 12, color: '#888' }}>{e.patient.patientId}</div>
        </div>
      ),
    },
    ...(mode === 'center'
      ? [{ title: t('wf.worklist.hospital'), dataIndex: 'hospitalName', width: 110, ellipsis: true }]
      : []),
    {
      title: t('wf.worklist.accession'),
      dataIndex: 'accessionNumber',
      width: 150,
      render: (a: string) => <span style={{ fontFamily: 'monospace', fontSize: 12 }}>{a}</span>,
    },
    {
      title: t('wf.worklist.modalityBody'),
      key: 'modality',
      width: 110,
      render: (_: unknown, e) => (
        <span>
          <Tag color="geekblue">{e.modality}</Tag>
          {e.bodyPart ?? ''}
        </span>
      ),
    },
    {
      title: t('wf.worklist.items'),
      key: 'items',
      ellipsis: true,
      render: (_: unknown, e) => e.examItems.map((i) => i.name).join('、'),
    },
    {
      title: t('wf.worklist.status'),
      key: 'status',
      width: 80,
      render: (_: unknown, e) => <StatusTag status={e.status} />,
    },
    {
      title: t('wf.worklist.remaining'),
      key: 'remaining',
      width: 120,
      render: (_: unknown, e) => <Countdown exam={e} />,
    },
    {
      title: t('wf.worklist.reader'),
      key: 'reader',
      width: 90,
      render: (_: unknown, e) =>
        e.assignedTo !== null ? (
          <Tag color={e.assignedTo.userId === myId ? 'blue' : 'default'}>{e.assignedTo.name}</Tag>
        ) : (
          <span style={{ color: '#bbb' }}>{t('wf.worklist.unread')}</span>
        ),
    },
    {
      title: t('wf.worklist.registeredAt'),
      dataIndex: 'registeredAt',
      width: 130,
      render: (d: string) => formatTime(d),
    },
    ...(can.claim || can.assign
      ? [
          {
            title: t('common.actions'),
            key: 'actions',
            width: 110,
            fixed: 'right' as const,
            render: (_: unknown, e: Exam) => {
              const final = e.status === 'cancelled' || e.status === 'reviewed';
              const mineNow = e.assignedTo?.userId === myId;
              return (
                <Space size={4} onDoubleClick={(ev) => ev.stopPropagation()}>
                  {mineNow ? (
                    <Button size="small" onClick={() => void actions.release(e)} data-testid="row-release">
                      {t('wf.worklist.release')}
                    </Button>
                  ) : (
                    can.claim && (
                      <Button
                        size="small"
                        type="primary"
                        ghost
                        disabled={final}
                        onClick={() => void actions.claim(e)}
                        data-testid="row-claim"
                      >
                        {t('wf.worklist.claim')}
                      </Button>
                    )
                  )}
                  <Dropdown
                    trigger={['click']}
                    menu={{
                      items: [
                        { key: 'open', label: t('wf.worklist.open'), onClick: () => open(e) },
                        {
                          key: 'assign',
                          label: t('wf.worklist.assign'),
                          disabled: final || !can.assign,
                          onClick: () => setAssigning(e),
                        },
                        {
                          key: 'release',
                          label: t('wf.worklist.release'),
                          disabled: e.assignedTo === null || (!mineNow && !can.assign),
                          onClick: () => void actions.release(e),
                        },
                      ],
                    }}
                  >
                    <Button size="small" icon={<MoreOutlined />} aria-label={t('common.actions')} />
                  </Dropdown>
                </Space>
              );
            },
          },
        ]
      : []),
  ];

  const from = sp.get('from');
  const to = sp.get('to');
  const csv = (k: string): string[] => (sp.get(k) ?? '').split(',').filter((x) => x !== '');

  return (
    <Card
      size="small"
      title={
        <Space>
          {mode === 'center' ? t('wf.worklist.title') : t('wf.worklist.myTitle')}
          {mode === 'hospital' && me?.hospital != null && (
            <Typography.Text type="secondary">{me.hospital.name}</Typography.Text>
          )}
        </Space>
      }
      extra={
        <Space>
          <LiveBadge state={live} />
          <Button size="small" icon={<ReloadOutlined />} onClick={() => void load(false)}>
            {t('wf.worklist.refresh')}
          </Button>
        </Space>
      }
    >
      <Space wrap size={[8, 8]} style={{ marginBottom: 8 }}>
        <Input.Search
          ref={searchRef}
          allowClear
          style={{ width: 240 }}
          placeholder={t('wf.worklist.search')}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onSearch={(v) => set({ q: v.trim() })}
          data-testid="worklist-search"
        />
        {mode === 'center' && (
          <Select
            mode="multiple"
            allowClear
            maxTagCount="responsive"
            style={{ minWidth: 180 }}
            placeholder={t('wf.worklist.hospital')}
            value={csv('hospitalId').map(Number)}
            onChange={(v: number[]) => set({ hospitalId: v.join(',') })}
            showSearch={{ optionFilterProp: 'label' }}
            options={hospitals.filter((h) => !h.isCenter).map((h) => ({ value: h.id, label: h.name }))}
          />
        )}
        <Select
          mode="multiple"
          allowClear
          maxTagCount="responsive"
          style={{ minWidth: 130 }}
          placeholder={t('wf.worklist.modality')}
          value={csv('modality')}
          onChange={(v: string[]) => set({ modality: v.join(',') })}
          options={MODALITIES.map((m) => ({ value: m, label: m }))}
        />
        <Select
          allowClear
          style={{ width: 100 }}
          placeholder={t('wf.worklist.priority')}
          value={sp.get('priority') ?? undefined}
          onChange={(v: string | undefined) => set({ priority: v })}
          options={[
            { value: 'emergency', label: t('wf.priority.emergency') },
            { value: 'routine', label: t('wf.priority.routine') },
          ]}
        />
        <DatePicker.RangePicker
          allowEmpty={[true, true]}
          style={{ width: 240 }}
          placeholder={[t('wf.worklist.dateRange'), t('wf.worklist.dateRange')]}
          value={[from !== null ? dayjs(from) : null, to !== null ? dayjs(to) : null]}
          onChange={(r) =>
            set({
              from: r?.[0]?.format('YYYY-MM-DD') ?? undefined,
              to: r?.[1]?.format('YYYY-MM-DD') ?? undefined,
            })
          }
        />
        {can.centerStaff && (
          <Checkbox
            checked={sp.get('assigned') === 'me'}
            onChange={(e) => set({ assigned: e.target.checked ? 'me' : undefined })}
            data-testid="filter-mine"
          >
            {t('wf.worklist.mine')}
          </Checkbox>
        )}
        <Checkbox
          checked={sp.get('overdue') === '1'}
          onChange={(e) => set({ overdue: e.target.checked ? '1' : undefined })}
          data-testid="filter-overdue"
        >
          <span style={{ color: '#cf1322' }}>{t('wf.worklist.overdue')}</span>
        </Checkbox>
        <Button
          size="small"
          type="link"
          onClick={() => {
            setText('');
            setSp(new URLSearchParams(), { replace: true });
          }}
        >
          {t('common.reset')}
        </Button>
      </Space>
      <Tabs
        size="small"
        activeKey={status}
        onChange={(k) => set({ status: k === 'all' ? undefined : k })}
        items={tabItems}
        style={{ marginBottom: 0 }}
      />
      <div
        ref={tableRef}
        tabIndex={0}
        onKeyDown={onTableKey}
        style={{ outline: 'none' }}
        data-testid="worklist"
      >
        <Table<Exam>
          rowKey="id"
          size="small"
          loading={loading}
          dataSource={exams}
          columns={columns}
          scroll={{ x: 1180 }}
          rowClassName={(e) =>
            [
              'hy-exam-row',
              isOverdue(e, now) ? 'hy-overdue' : '',
              e.priority === 'emergency' ? 'hy-emergency' : '',
              e.id === selected ? 'hy-selected' : '',
            ].join(' ')
          }
          onRow={(e) =>
            ({
              onClick: () => {
                setSelected(e.id);
                tableRef.current?.focus({ preventScroll: true });
              },
              onDoubleClick: () => open(e),
              'data-accession': e.accessionNumber,
              'data-status': e.status,
            }) as object
          }
          pagination={{
            size: 'small',
            current: Number(sp.get('page') ?? '1'),
            pageSize: Number(sp.get('size') ?? '50'),
            total,
            showSizeChanger: true,
            pageSizeOptions: PAGE_SIZES,
            showTotal: (n) => t('wf.worklist.total', { count: n }),
            onChange: (page, size) => set({ page: String(page), size: String(size) }, true),
          }}
        />
      </div>
      <Typography.Text type="secondary" style={{ fontSize: 12 }}>
        {t('wf.worklist.searchHint')}
      </Typography.Text>
      <AssignDialog
        exam={assigning}
        onClose={() => setAssigning(null)}
        onPick={(e, r) => void actions.assign(e, r)}
      />
    </Card>
  );
}
