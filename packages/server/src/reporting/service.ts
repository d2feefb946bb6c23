/**
 * The reporting service: drafts, submission, review and signing, returns with review opinions, addenda
 * and corrections, version history with diffs and the 修改率 data. Domain code: it talks to its store
 * and to the workflow through ports only (reporting/ports.ts).
 *
 * Exam state and report state change together. The two live behind different ports, so every step is
 * ordered so that a failure leaves nothing half-applied:
 * - submit: exam matched → reported first, then the draft is frozen; if freezing fails the exam goes back
 *   to matched (compensation).
 * - approve / direct sign: the report is claimed (`signing`, optimistic lock), then the exam goes
 *   reported → reviewed, then the signed version and its delivery outbox rows are written in one
 *   transaction. If the transition fails the claim is released; if the last write fails the report stays
 *   `signing` with the exam reviewed, and approving again completes it (nothing is signed twice).
 * - return: exam reported → matched, then the new draft carrying the review opinion; compensated likewise.
 */
import { HuiyingError } from '../errors.ts';
import type { AccessScope } from '../archive/ports.ts';
import type { Actor, Exam } from '../ris/model.ts';
import { changeRatio, diffText, type DiffPart } from './diff.ts';
import {
  contentHash,
  signedContentOf,
  type Report,
  type ReportContent,
  type ReportVersion,
  type Reporter,
  EMPTY_CONTENT,
} from './model.ts';
import type { NewOutbox, NewVersion, ReportStore, ReportingRis } from './ports.ts';

export type ReportingAction = 'write_preliminary' | 'review' | 'sign';

/** A reporter together with the access policy's answer for a hospital (`can(caller, action, …)`). */
export interface ReportingCaller extends Reporter {
  may(action: ReportingAction, hospitalId: number): boolean;
  scope: AccessScope;
}

export interface ReportingServiceDeps {
  store: ReportStore;
  ris: ReportingRis;
  /** also store every signed version's Encapsulated PDF into our own archive (default true) */
  archivePdf?: boolean;
  /** called after a signed version (and its outbox rows) committed: wake the delivery worker */
  onSigned?: (version: ReportVersion, report: Report) => void;
  now?: () => Date;
}

export interface VersionWithDiff extends ReportVersion {
  /** against the previous version (null for the first) */
  diff: { findings: DiffPart[]; impression: DiffPart[]; recommendation: DiffPart[] } | null;
  /** for signed versions: does the stored hash match the content? */
  hashValid: boolean | null;
}

/** 修改率 data: the last preliminary before the first signed version vs that signed version. */
export interface RevisionStats {
  examId: number;
  reportId: number;
  preliminary: ReportVersion | null;
  final: ReportVersion | null;
  /** the reviewer changed something */
  modified: boolean;
  findingsRatio: number;
  impressionRatio: number;
  /** over findings + impression + recommendation */
  overallRatio: number;
  /** the reviewer returned it this many times */
  returns: number;
}

const MAX_TEXT = 20000;

function trimContent(c: Partial<ReportContent>, base: ReportContent): ReportContent {
  const str = (v: string | undefined, d: string, name: string): string => {
    const s = v ?? d;
    if (s.length > MAX_TEXT)
      throw new HuiyingError('invalid-input', `${name} is longer than ${MAX_TEXT} characters`);
    return s;
  };
  return {
    findings: str(c.findings, base.findings, 'findings'),
    impression: str(c.impression, base.impression, 'impression'),
    recommendation: str(c.recommendation, base.recommendation, 'recommendation'),
    positive: c.positive ?? base.positive,
    critical: c.critical ?? base.critical,
    structured: c.structured ?? base.structured,
  };
}

function contentOf(v: ReportVersion): ReportContent {
  return {
    findings: v.findings,
    impression: v.impression,
    recommendation: v.recommendation,
    positive: v.positive,
    critical: v.critical,
    structured: v.structured,
  };
}

function requireComplete(c: ReportContent): void {
  const missing: string[] = [];
  if (c.findings.trim() === '') missing.push('影像所见 findings');
  if (c.impression.trim() === '') missing.push('诊断意见 impression');
  if (missing.length > 0)
    throw new HuiyingError(
      'invalid-input',
      `报告不完整：缺少 ${missing.join('、')} — the report needs findings and impression`,
    );
}

export class ReportingService {
  readonly #store: ReportStore;
  readonly #ris: ReportingRis;
  readonly #archivePdf: boolean;
  readonly #onSigned: ((v: ReportVersion, r: Report) => void) | undefined;
  now: () => Date;

  constructor(deps: ReportingServiceDeps) {
    this.#store = deps.store;
    this.#ris = deps.ris;
    this.#archivePdf = deps.archivePdf ?? true;
    this.#onSigned = deps.onSigned;
    this.now = deps.now ?? (() => new Date());
  }

  get store(): ReportStore {
    return this.#store;
  }

  #actor(c: ReportingCaller): Actor {
    return {
      type: 'user',
      id: String(c.userId),
      name: c.name,
      ...(c.source !== undefined ? { source: c.source } : {}),
    };
  }

  #need(c: ReportingCaller, action: ReportingAction, exam: Exam): void {
    if (!c.may(action, exam.hospitalId)) {
      const what =
        action === 'write_preliminary'
          ? '书写报告 write reports'
          : action === 'review'
            ? '审核报告 review reports'
            : '签发报告 sign reports';
      throw new HuiyingError(
        'forbidden',
        `您的职称无权${what} — your grade may not ${action.replace('_', ' ')}`,
      );
    }
  }

  async #exam(examId: number, scope: AccessScope): Promise<Exam> {
    return this.#ris.getExam(examId, scope);
  }

  async #report(examId: number): Promise<Report> {
    const r = await this.#store.byExam(examId);
    if (r === undefined)
      throw new HuiyingError('not-found', `检查 ${examId} 尚无报告 — exam ${examId} has no report`);
    return r;
  }

  /** The exam's report (null when none was started). */
  async get(examId: number, scope: AccessScope): Promise<{ exam: Exam; report: Report | null }> {
    const exam = await this.#exam(examId, scope);
    return { exam, report: (await this.#store.byExam(examId)) ?? null };
  }

  /**
   * Autosave: create the report with its first draft, or replace the working draft. `version` is the
   * report version the editor loaded (omit only when creating).
   */
  async saveDraft(
    examId: number,
    content: Partial<ReportContent>,
    version: number | undefined,
    c: ReportingCaller,
  ): Promise<Report> {
    const exam = await this.#exam(examId, c.scope);
    this.#need(c, 'write_preliminary', exam);
    const now = this.now().toISOString();
    const existing = await this.#store.byExam(examId);
    if (existing?.status === 'signed')
      throw new HuiyingError(
        'conflict',
        '报告已签发，不能修改；请使用补充或更正 — the report is signed; use an addendum or a correction',
      );
    if (exam.status !== 'matched' && exam.status !== 'examined')
      throw new HuiyingError(
        'conflict',
        `检查状态为 ${exam.status}，不能书写报告 — exam ${examId} is ${exam.status}; reports are written for matched exams`,
      );
    const author = { userId: c.userId, name: c.name };
    if (existing === undefined) {
      if (version !== undefined && version !== 0)
        throw new HuiyingError(
          'conflict',
          `exam ${examId} has no report (you had version ${version}); reload it`,
        );
      const draft: NewVersion = {
        ...trimContent(content, EMPTY_CONTENT),
        kind: 'draft',
        addendum: null,
        author,
        reviewer: null,
        reviewOpinion: null,
        signedBy: null,
        signedAt: null,
        reason: null,
        basedOn: null,
      };
      return this.#store.create(examId, exam.hospitalId, draft, now);
    }
    if (version === undefined)
      throw new HuiyingError(
        'conflict',
        `exam ${examId} already has a report (version ${existing.version}); send its version`,
      );
    if (existing.draft === null)
      throw new HuiyingError(
        'conflict',
        `报告已提交（${existing.status}），不能修改 — the report is ${existing.status} and cannot be edited`,
      );
    return this.#store.updateDraft(
      existing.id,
      version,
      trimContent(content, contentOf(existing.draft)),
      author,
      now,
    );
  }

  /** Does this author's report need a review by the hospital's policy and the grade rules? */
  async reviewRequired(exam: Exam, author: ReportingCaller): Promise<boolean> {
    if (!author.may('sign', exam.hospitalId)) return true;
    const policy = await this.#ris.policy(exam.hospitalId);
    switch (policy.review) {
      case 'always':
        return true;
      case 'never':
        return false;
      case 'resident':
        return author.grade === null || author.grade === 'resident';
    }
  }

  /**
   * Submit the draft as preliminary report (exam → reported). When neither the policy nor the grade
   * rules ask for a review and the author may sign, it is signed at once (exam → reviewed).
   */
  async submit(
    examId: number,
    version: number,
    c: ReportingCaller,
  ): Promise<{ report: Report; signed: ReportVersion | null; reviewRequired: boolean }> {
    const exam = await this.#exam(examId, c.scope);
    this.#need(c, 'write_preliminary', exam);
    const report = await this.#report(examId);
    if (report.draft === null)
      throw new HuiyingError(
        'conflict',
        `报告没有待提交的草稿（${report.status}） — report has no draft to submit`,
      );
    if (report.version !== version)
      throw new HuiyingError(
        'conflict',
        `报告已被他人修改，请刷新后重试 — the report was changed meanwhile (version ${report.version}, you had ${version}); reload it`,
      );
    requireComplete(contentOf(report.draft));
    if (exam.status !== 'matched')
      throw new HuiyingError(
        'conflict',
        `检查状态为 ${exam.status}，只有已匹配的检查可以提交报告 — exam ${examId} is ${exam.status}; only matched exams can be reported`,
      );
    const reviewRequired = await this.reviewRequired(exam, c);
    const actor = this.#actor(c);
    const reported = await this.#ris.transition(examId, 'reported', actor, {
      scope: c.scope,
      reason: 'preliminary report submitted',
    });
    let submitted: Report;
    try {
      submitted = await this.#store.submitDraft(report.id, version, c.userId, this.now().toISOString());
    } catch (err) {
      await this.#ris
        .transition(examId, 'matched', actor, { scope: c.scope, reason: 'report submission failed; undone' })
        .catch(() => undefined);
      throw err;
    }
    if (reviewRequired) return { report: submitted, signed: null, reviewRequired };
    const prelim = submitted.current;
    if (prelim === null) throw new HuiyingError('internal', 'submitted report has no version');
    const out = await this.#sign(reported, submitted, contentOf(prelim), c, null, prelim);
    return { report: out.report, signed: out.version, reviewRequired };
  }

  /** The reviewer approves (optionally editing the text) and signs: exam → reviewed. */
  async approve(
    examId: number,
    version: number,
    edits: Partial<ReportContent>,
    c: ReportingCaller,
  ): Promise<{ report: Report; signed: ReportVersion }> {
    const exam = await this.#exam(examId, c.scope);
    this.#need(c, 'review', exam);
    this.#need(c, 'sign', exam);
    const report = await this.#report(examId);
    const prelim = report.current;
    // completing an approval whose last write failed (exam already reviewed, report still `signing`)
    const resuming = report.status === 'signing' && exam.status === 'reviewed';
    if (!resuming) {
      if (report.status !== 'preliminary' || prelim?.kind !== 'preliminary')
        throw new HuiyingError(
          'conflict',
          report.status === 'signed'
            ? '报告已签发 — the report is already signed'
            : `报告尚未提交（${report.status}） — the report is ${report.status}, not awaiting review`,
        );
      if (report.version !== version)
        throw new HuiyingError(
          'conflict',
          `报告已被他人修改，请刷新后重试 — the report was changed meanwhile (version ${report.version}, you had ${version}); reload it`,
        );
      if (exam.status !== 'reported')
        throw new HuiyingError('conflict', `exam ${examId} is ${exam.status}, not reported`);
    }
    if (prelim === null) throw new HuiyingError('internal', 'report has no version');
    if (prelim.author.userId === c.userId || report.authorId === c.userId)
      throw new HuiyingError('forbidden', '不能审核自己书写的报告 — you cannot review your own report');
    const content = trimContent(edits, contentOf(prelim));
    requireComplete(content);
    const out = await this.#sign(
      exam,
      report,
      content,
      c,
      { userId: c.userId, name: c.name },
      prelim,
      resuming,
    );
    return { report: out.report, signed: out.version };
  }

  async #sign(
    exam: Exam,
    report: Report,
    content: ReportContent,
    signer: ReportingCaller,
    reviewer: { userId: number; name: string } | null,
    prelim: ReportVersion,
    resuming = false,
  ): Promise<{ report: Report; version: ReportVersion }> {
    const actor = this.#actor(signer);
    let claimed = report;
    if (!resuming) {
      claimed = await this.#store.setStatus(
        report.id,
        report.version,
        ['preliminary'],
        'signing',
        this.now().toISOString(),
      );
      try {
        await this.#ris.transition(exam.id, 'reviewed', actor, {
          scope: signer.scope,
          reason: reviewer === null ? 'report signed' : 'report reviewed and signed',
        });
      } catch (err) {
        await this.#store
          .setStatus(report.id, claimed.version, ['signing'], 'preliminary', this.now().toISOString())
          .catch(() => undefined);
        throw err;
      }
    }
    const signedAt = this.now().toISOString();
    const v: NewVersion = {
      ...content,
      kind: 'final',
      addendum: null,
      author: prelim.author,
      reviewer,
      reviewOpinion: null,
      signedBy: { userId: signer.userId, name: signer.name },
      signedAt,
      reason: null,
      basedOn: prelim.id,
      hash: (number) =>
        contentHash({
          ...content,
          examId: exam.id,
          reportId: report.id,
          number,
          kind: 'final',
          addendum: null,
          reason: null,
          signedBy: signer.userId,
          signedAt,
        }),
    };
    const out = await this.#store.insertSigned(
      report.id,
      claimed.version,
      v,
      await this.#outboxFor(exam.hospitalId),
      signedAt,
    );
    this.#onSigned?.(out.version, out.report);
    return out;
  }

  async #outboxFor(hospitalId: number): Promise<NewOutbox[]> {
    const rows: NewOutbox[] = [];
    if (this.#archivePdf)
      rows.push({ channelId: null, channelKind: 'archive', target: 'archive', keySuffix: 'archive' });
    for (const ch of await this.#store.channels(hospitalId)) {
      if (!ch.enabled) continue;
      const target =
        'host' in ch.config
          ? `${ch.config.host}:${ch.config.port}`
          : 'baseUrl' in ch.config
            ? ch.config.baseUrl
            : ch.config.aeTitle;
      rows.push({ channelId: ch.id, channelKind: ch.kind, target, keySuffix: `${ch.kind}-${ch.id}` });
    }
    return rows;
  }

  /** The reviewer returns the preliminary report with review opinions (审查意见): exam → matched. */
  async returnReport(examId: number, version: number, opinion: string, c: ReportingCaller): Promise<Report> {
    const exam = await this.#exam(examId, c.scope);
    this.#need(c, 'review', exam);
    const text = opinion.trim();
    if (text === '')
      throw new HuiyingError('invalid-input', '退回须填写审查意见 — a return needs review opinions');
    if (text.length > MAX_TEXT) throw new HuiyingError('invalid-input', 'review opinion too long');
    const report = await this.#report(examId);
    const prelim = report.current;
    if (report.status !== 'preliminary' || prelim?.kind !== 'preliminary')
      throw new HuiyingError(
        'conflict',
        `报告不在待审核状态（${report.status}） — the report is not awaiting review`,
      );
    if (report.version !== version)
      throw new HuiyingError(
        'conflict',
        `报告已被他人修改，请刷新后重试 — the report was changed meanwhile (version ${report.version}, you had ${version}); reload it`,
      );
    if (prelim.author.userId === c.userId)
      throw new HuiyingError('forbidden', '不能审核自己书写的报告 — you cannot review your own report');
    if (exam.status !== 'reported')
      throw new HuiyingError('conflict', `exam ${examId} is ${exam.status}, not reported`);
    const actor = this.#actor(c);
    await this.#ris.transition(examId, 'matched', actor, {
      scope: c.scope,
      reason: `report returned: ${text}`,
    });
    try {
      return await this.#store.addDraft(
        report.id,
        version,
        {
          ...contentOf(prelim),
          kind: 'draft',
          addendum: null,
          author: prelim.author,
          reviewer: { userId: c.userId, name: c.name },
          reviewOpinion: text,
          signedBy: null,
          signedAt: null,
          reason: null,
          basedOn: prelim.id,
        },
        this.now().toISOString(),
      );
    } catch (err) {
      await this.#ris
        .transition(examId, 'reported', actor, { scope: c.scope, reason: 'report return failed; undone' })
        .catch(() => undefined);
      throw err;
    }
  }

  /** 补充: a signed addendum to the signed report (the text so far stays as signed). */
  async addendum(
    examId: number,
    version: number,
    text: string,
    c: ReportingCaller,
  ): Promise<{ report: Report; signed: ReportVersion }> {
    const add = text.trim();
    if (add === '') throw new HuiyingError('invalid-input', '补充内容不能为空 — the addendum is empty');
    if (add.length > MAX_TEXT) throw new HuiyingError('invalid-input', 'addendum too long');
    return this.#amend(examId, version, c, 'addendum', (base) => ({
      content: base,
      addendum: add,
      reason: null,
    }));
  }

  /** 更正: a signed corrected version (new text, a reason required). */
  async correction(
    examId: number,
    version: number,
    content: Partial<ReportContent>,
    reason: string,
    c: ReportingCaller,
  ): Promise<{ report: Report; signed: ReportVersion }> {
    const why = reason.trim();
    if (why === '') throw new HuiyingError('invalid-input', '更正须填写原因 — a correction needs a reason');
    if (why.length > 2000) throw new HuiyingError('invalid-input', 'reason too long');
    return this.#amend(examId, version, c, 'correction', (base) => {
      const next = trimContent(content, base);
      requireComplete(next);
      return { content: next, addendum: null, reason: why };
    });
  }

  async #amend(
    examId: number,
    version: number,
    c: ReportingCaller,
    kind: 'addendum' | 'correction',
    make: (base: ReportContent) => { content: ReportContent; addendum: string | null; reason: string | null },
  ): Promise<{ report: Report; signed: ReportVersion }> {
    const exam = await this.#exam(examId, c.scope);
    this.#need(c, 'sign', exam);
    const report = await this.#report(examId);
    if (report.status !== 'signed' || report.signed === null)
      throw new HuiyingError(
        'conflict',
        `报告尚未签发，不能${kind === 'addendum' ? '补充' : '更正'} — only a signed report can get an ${kind}`,
      );
    if (report.version !== version)
      throw new HuiyingError(
        'conflict',
        `报告已被他人修改，请刷新后重试 — the report was changed meanwhile (version ${report.version}, you had ${version}); reload it`,
      );
    const base = report.signed;
    const { content, addendum, reason } = make(contentOf(base));
    const signedAt = this.now().toISOString();
    const v: NewVersion = {
      ...content,
      kind,
      addendum,
      author: { userId: c.userId, name: c.name },
      reviewer: null,
      reviewOpinion: null,
      signedBy: { userId: c.userId, name: c.name },
      signedAt,
      reason,
      basedOn: base.id,
      hash: (number) =>
        contentHash({
          ...content,
          examId,
          reportId: report.id,
          number,
          kind,
          addendum,
          reason,
          signedBy: c.userId,
          signedAt,
        }),
    };
    const out = await this.#store.insertSigned(
      report.id,
      version,
      v,
      await this.#outboxFor(exam.hospitalId),
      signedAt,
    );
    this.#onSigned?.(out.version, out.report);
    return { report: out.report, signed: out.version };
  }

  /** Every version, each with its diff against the previous one and its hash check. */
  async history(
    examId: number,
    scope: AccessScope,
  ): Promise<{ report: Report; versions: VersionWithDiff[] }> {
    await this.#exam(examId, scope);
    const report = await this.#report(examId);
    const versions = await this.#store.versions(report.id);
    const out: VersionWithDiff[] = [];
    let prev: ReportVersion | undefined;
    for (const v of versions) {
      const sc = signedContentOf(report.examId, v);
      out.push({
        ...v,
        diff:
          prev === undefined
            ? null
            : {
                findings: diffText(prev.findings, v.findings),
                impression: diffText(prev.impression, v.impression),
                recommendation: diffText(prev.recommendation, v.recommendation),
              },
        hashValid: sc === undefined ? null : contentHash(sc) === v.contentHash,
      });
      prev = v;
    }
    return { report, versions: out };
  }

  /** The diff between two versions of the exam's report (by number). */
  async diff(
    examId: number,
    from: number,
    to: number,
    scope: AccessScope,
  ): Promise<{
    from: ReportVersion;
    to: ReportVersion;
    findings: DiffPart[];
    impression: DiffPart[];
    recommendation: DiffPart[];
  }> {
    await this.#exam(examId, scope);
    const report = await this.#report(examId);
    const versions = await this.#store.versions(report.id);
    const a = versions.find((v) => v.number === from);
    const b = versions.find((v) => v.number === to);
    if (a === undefined || b === undefined)
      throw new HuiyingError('not-found', `no version ${a === undefined ? from : to}`);
    return {
      from: a,
      to: b,
      findings: diffText(a.findings, b.findings),
      impression: diffText(a.impression, b.impression),
      recommendation: diffText(a.recommendation, b.recommendation),
    };
  }

  /** 修改率 data for QC: the last preliminary before the first signed version vs that version. */
  async revisionStats(examId: number, scope: AccessScope): Promise<RevisionStats> {
    await this.#exam(examId, scope);
    const report = await this.#report(examId);
    const versions = await this.#store.versions(report.id);
    const final = versions.find((v) => v.kind === 'final') ?? null;
    const prelims = versions.filter(
      (v) => v.kind === 'preliminary' && (final === null || v.number < final.number),
    );
    const preliminary = prelims[prelims.length - 1] ?? null;
    const returns = versions.filter((v) => v.reviewOpinion !== null).length;
    const all = (v: ReportVersion): string => `${v.findings}\n${v.impression}\n${v.recommendation}`;
    const ratios =
      preliminary === null || final === null
        ? { f: 0, i: 0, o: 0 }
        : {
            f: changeRatio(preliminary.findings, final.findings),
            i: changeRatio(preliminary.impression, final.impression),
            o: changeRatio(all(preliminary), all(final)),
          };
    return {
      examId,
      reportId: report.id,
      preliminary,
      final,
      modified: ratios.o > 0,
      findingsRatio: ratios.f,
      impressionRatio: ratios.i,
      overallRatio: ratios.o,
      returns,
    };
  }

  /** Does a signed version's stored hash match its content? */
  async verify(versionId: number): Promise<boolean> {
    const v = await this.#store.version(versionId);
    if (v === undefined) throw new HuiyingError('not-found', `no report version ${versionId}`);
    const report = await this.#store.byId(v.reportId);
    if (report === undefined) throw new HuiyingError('not-found', `no report ${v.reportId}`);
    const sc = signedContentOf(report.examId, v);
    return sc !== undefined && contentHash(sc) === v.contentHash;
  }
}
