/** Small pieces shared by the workflow pages: tags, countdown, exam actions with conflict handling. */
import { useCallback, useState } from 'react';
import { App, Badge, Modal, Select, Tag, Tooltip } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, ApiError } from '../api.ts';
import {
  ageOf,
  awaitingReport,
  personName,
  remaining,
  STATUS_COLOR,
  useNow,
  type Exam,
  type ExamStatus,
  type LiveState,
  type Priority,
  type Reader,
} from '../ris.ts';
import { errorText } from './common.tsx';

export function StatusTag({ status }: { status: ExamStatus }) {
  const { t } = useTranslation();
  return (
    <Tag color={STATUS_COLOR[status]} data-testid="exam-status" data-status={status}>
      {t(`wf.status.${status}`)}
    </Tag>
  );
}

export function PriorityTag({ priority }: { priority: Priority }) {
  const { t } = useTranslation();
  return priority === 'emergency' ? (
    <Tag color="red" style={{ fontWeight: 600 }}>
      {t('wf.priority.emergency')}
    </Tag>
  ) : (
    <Tag>{t('wf.priority.routine')}</Tag>
  );
}

export function sexText(t: (k: string) => string, sex: string | null): string {
  if (sex === 'M' || sex === 'F' || sex === 'O') return t(`wf.sex.${sex}`);
  return sex ?? '';
}

export function useAgeText(): (birthDate: string | null, at?: string) => string {
  const { t } = useTranslation();
  return (birthDate, at) => {
    const a = ageOf(birthDate, at !== undefined ? new Date(at) : new Date());
    return a === undefined ? '' : t(`wf.age.${a.unit}`, { value: a.value });
  };
}

export function patientLabel(e: Exam): string {
  return personName(e.patient.name);
}

/** Live time remaining until the exam's report is due (ticks every second; red when overdue). */
export function Countdown({ exam }: { exam: Exam }) {
  const { t } = useTranslation();
  const now = useNow();
  if (exam.dueAt === null)
    return (
      <span style={{ color: '#999' }}>{exam.examinedAt === null ? t('wf.worklist.notExamined') : '—'}</span>
    );
  if (!awaitingReport(exam)) return <span style={{ color: '#999' }}>—</span>;
  const r = remaining(exam.dueAt, now);
  const warn = !r.overdue && r.ms < 30 * 60_000;
  return (
    <span
      data-testid="countdown"
      style={{
        fontVariantNumeric: 'tabular-nums',
        fontWeight: r.overdue || warn ? 600 : undefined,
        color: r.overdue ? '#cf1322' : warn ? '#d46b08' : undefined,
      }}
    >
      {r.overdue ? t('wf.worklist.overdueBy', { text: r.text }) : r.text}
    </span>
  );
}

export function LiveBadge({ state }: { state: LiveState }) {
  const { t } = useTranslation();
  const status = state === 'open' ? 'success' : state === 'connecting' ? 'processing' : 'error';
  return (
    <Tooltip title={t(`wf.live.${state}`)}>
      <Badge status={status} text={t(`wf.live.${state}`)} data-testid="live-state" data-state={state} />
    </Tooltip>
  );
}

/**
 * Exam actions (claim, release, assign, transition, link, unlink) with one error handling: a 409 is shown as
 * a conflict dialog with the server's explanation (someone else has the exam, stale version, illegal move),
 * anything else as an error message. `after` runs on success and after a conflict (the data is stale).
 */
export function useExamActions(after: () => void) {
  const { t } = useTranslation();
  const { message, modal } = App.useApp();
  const run = useCallback(
    async (path: string, body: unknown, okText: string): Promise<Exam | undefined> => {
      try {
        const r = await api<{ exam: Exam }>('POST', path, body);
        void message.success(okText);
        after();
        return r.exam;
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) {
          modal.warning({
            title: t('wf.worklist.conflictTitle'),
            content: <span data-testid="conflict-message">{err.message}</span>,
          });
          after();
        } else void message.error(t('common.error', { message: errorText(err) }));
        return undefined;
      }
    },
    [after, message, modal, t],
  );
  return {
    claim: (e: Exam) => run(`/api/exams/${e.id}/claim`, {}, t('wf.worklist.claimed')),
    release: (e: Exam) => run(`/api/exams/${e.id}/release`, {}, t('wf.worklist.released')),
    assign: (e: Exam, r: Reader) =>
      run(`/api/exams/${e.id}/assign`, { userId: r.id }, t('wf.worklist.assigned', { name: r.name })),
    transition: (e: Exam, to: ExamStatus, reason?: string) =>
      run(
        `/api/exams/${e.id}/transition`,
        { to, version: e.version, ...(reason !== undefined && reason !== '' ? { reason } : {}) },
        t('wf.exam.done'),
      ),
    link: (examId: number, studyId: number) =>
      run(`/api/exams/${examId}/link`, { studyId }, t('wf.matching.linked')),
    unlink: (e: Exam, reason: string) =>
      run(`/api/exams/${e.id}/unlink`, reason !== '' ? { reason } : {}, t('wf.exam.done')),
  };
}

/** The reader picker (GET /api/readers) in a dialog. */
export function AssignDialog({
  exam,
  onPick,
  onClose,
}: {
  exam: Exam | null;
  onPick: (e: Exam, r: Reader) => void;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [readers, setReaders] = useState<Reader[] | null>(null);
  const [picked, setPicked] = useState<number | undefined>(undefined);
  const load = useCallback(async () => {
    try {
      const r = await api<{ users: Reader[] }>('GET', '/api/readers');
      setReaders(r.users);
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
      setReaders([]);
    }
  }, [message, t]);
  return (
    <Modal
      open={exam !== null}
      title={
        exam === null
          ? t('wf.worklist.assignTitle')
          : `${t('wf.worklist.assignTitle')} · ${patientLabel(exam)} · ${exam.accessionNumber}`
      }
      okText={t('wf.worklist.assign')}
      cancelText={t('common.cancel')}
      okButtonProps={{ disabled: picked === undefined, 'data-testid': 'assign-ok' }}
      afterOpenChange={(open) => {
        if (open) {
          setPicked(exam?.assignedTo?.userId);
          if (readers === null) void load();
        }
      }}
      onOk={() => {
        const r = readers?.find((x) => x.id === picked);
        if (exam !== null && r !== undefined) onPick(exam, r);
        onClose();
      }}
      onCancel={onClose}
      destroyOnHidden
    >
      <Select
        autoFocus
        showSearch={{ optionFilterProp: 'label' }}
        style={{ width: '100%' }}
        placeholder={t('wf.worklist.assignPick')}
        loading={readers === null}
        value={picked}
        onChange={setPicked}
        data-testid="assign-select"
        options={(readers ?? []).map((r) => ({
          value: r.id,
          label:
            r.grade !== null ? `${r.name}（${t(`grades.${r.grade}`, { defaultValue: r.grade })}）` : r.name,
        }))}
      />
    </Modal>
  );
}
