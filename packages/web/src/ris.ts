/**
 * The reading workflow as the web application sees it: the JSON shapes of the REST API (type-only imports
 * of the server's domain model, so the contract cannot drift), display helpers (patient names, age, sex,
 * time remaining) and the live exam-event stream (one EventSource per page, automatic reconnect).
 */
import { useEffect, useRef, useSyncExternalStore } from 'react';
import type {
  Exam,
  ExamChangeEvent,
  ExamEvent,
  ExamStatus,
  HospitalPolicy,
  MatchSuggestion,
  PatientClass,
  Priority,
  ReadingRule,
  ReviewPolicy,
  TimeLimitRule,
  UnmatchedStudy,
} from '../../server/src/ris/model.ts';

export {
  STATUSES,
  PATIENT_CLASSES,
  PRIORITIES,
  MODALITIES,
  BODY_PARTS,
  STATUS_COLOR,
  TRANSITIONS,
  personName,
  formatDicomDate,
  ageOf,
  formatTime,
  remaining,
  awaitingReport,
  isOverdue,
} from './workflow-model.ts';

export type {
  Exam,
  ExamChangeEvent,
  ExamEvent,
  ExamStatus,
  HospitalPolicy,
  MatchSuggestion,
  PatientClass,
  Priority,
  ReadingRule,
  ReviewPolicy,
  TimeLimitRule,
  UnmatchedStudy,
};

export interface ExamDetail {
  exam: Exam;
  history: ExamEvent[];
  patientExams: Exam[];
  suggestions: MatchSuggestion[];
  patientStudies: {
    studyInstanceUid: string;
    studyDate: string | null;
    modalities: string;
    description: string | null;
    numInstances: number;
    accessionNumber: string | null;
  }[];
}

export interface Reader {
  id: number;
  name: string;
  grade: string | null;
}

export interface Hl7Sender {
  id: number;
  hospitalId: number;
  sendingFacility: string;
  sendingApplication: string | null;
}

export interface Hl7Message {
  id: number;
  receivedAt: string;
  peer: string | null;
  hospitalId: number | null;
  sendingFacility: string | null;
  messageType: string | null;
  controlId: string | null;
  charset: string | null;
  outcome: string;
  ackCode: string | null;
  error: string | null;
  examId: number | null;
  text: string;
}

// --------------------------------------------------------------------------------------- live clock

const clockListeners = new Set<() => void>();
let clockTimer: ReturnType<typeof setInterval> | undefined;
let clockNow = Date.now();

function subscribeClock(cb: () => void): () => void {
  clockListeners.add(cb);
  if (clockTimer === undefined) {
    clockNow = Date.now();
    clockTimer = setInterval(() => {
      clockNow = Date.now();
      for (const l of clockListeners) l();
    }, 1000);
  }
  return () => {
    clockListeners.delete(cb);
    if (clockListeners.size === 0 && clockTimer !== undefined) {
      clearInterval(clockTimer);
      clockTimer = undefined;
    }
  };
}

/** The current time, re-rendering once a second (one shared timer for every countdown on the page). */
export function useNow(): number {
  return useSyncExternalStore(subscribeClock, () => clockNow);
}

// --------------------------------------------------------------------------------------- live events

export type LiveState = 'connecting' | 'open' | 'closed';

/**
 * Subscribes to `GET /api/events` while mounted. `onChange` is called after exam events — at once after a
 * quiet period, then at most once per `debounceMs` during a burst (one refetch for many changes) — and
 * once after every reconnect (events may have been missed while disconnected).
 * EventSource reconnects by itself after a network error; when the server answered with an error status
 * the browser gives up (readyState CLOSED), so we open a new one with a growing delay.
 */
export function useExamEvents(
  onChange: (events: ExamChangeEvent[]) => void,
  opts: { debounceMs?: number; onState?: (s: LiveState) => void } = {},
): void {
  const cb = useRef(onChange);
  cb.current = onChange;
  const stateCb = useRef(opts.onState);
  stateCb.current = opts.onState;
  const debounceMs = opts.debounceMs ?? 200;

  useEffect(() => {
    let es: EventSource | undefined;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let debounce: ReturnType<typeof setTimeout> | undefined;
    let pending: ExamChangeEvent[] = [];
    let backoff = 1000;
    let hadError = false;

    let lastFlush = 0;
    const flush = (): void => {
      debounce = undefined;
      lastFlush = Date.now();
      const batch = pending;
      pending = [];
      cb.current(batch);
    };
    // leading edge when quiet (a single change shows at once), then at most one refetch per debounceMs
    const schedule = (): void => {
      if (debounce !== undefined) return;
      const wait = Math.max(0, lastFlush + debounceMs - Date.now());
      debounce = setTimeout(flush, wait);
    };

    const open = (): void => {
      if (stopped) return;
      stateCb.current?.('connecting');
      es = new EventSource('/api/events', { withCredentials: true });
      es.onopen = () => {
        backoff = 1000;
        stateCb.current?.('open');
        if (hadError) schedule(); // catch up on what we missed
        hadError = false;
      };
      es.addEventListener('exam', (ev: MessageEvent<string>) => {
        try {
          pending.push(JSON.parse(ev.data) as ExamChangeEvent);
        } catch {
          // a malformed event still means "something changed"
        }
        schedule();
      });
      // the server lost events (e.g. a database notification gap): refetch everything
      es.addEventListener('resync', () => schedule());
      es.onerror = () => {
        hadError = true;
        if (es?.readyState === EventSource.CLOSED) {
          stateCb.current?.('closed');
          es.close();
          retry = setTimeout(open, backoff);
          backoff = Math.min(backoff * 2, 30_000);
        } else {
          stateCb.current?.('connecting');
        }
      };
    };
    open();
    return () => {
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      if (debounce !== undefined) clearTimeout(debounce);
      es?.close();
    };
  }, [debounceMs]);
}
