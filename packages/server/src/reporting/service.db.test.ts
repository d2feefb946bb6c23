import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { testDatabaseKinds } from '../db/test-databases.ts';
import { HuiyingError } from '../errors.ts';
import { openFixture } from './test-fixture.ts';

function rejectsWith(code: string, re?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof HuiyingError, String(e));
    assert.equal(e.code, code, e.message);
    if (re !== undefined) assert.match(e.message, re);
    return true;
  };
}

const FINDINGS = '双肺纹理清晰，右肺上叶见一约8mm磨玻璃结节。\n纵隔未见肿大淋巴结。';
const IMPRESSION = '右肺上叶磨玻璃结节，建议随访。';

for (const kind of await testDatabaseKinds()) {
  describe(`reporting service on ${kind.dialect}`, { skip: kind.skip }, () => {
    test('resident → review → return → resubmit → reviewer edits and signs; immutability, history, 修改率', async () => {
      const f = await openFixture(kind.dialect);
      try {
        const { resident, attending, attending2, tech } = f.users;
        await f.setReview(f.chencun, 'resident');
        const exam = await f.matchedExam(f.chencun);

        // technologists cannot write reports
        await assert.rejects(
          f.reporting.saveDraft(exam.id, { findings: 'x' }, undefined, tech),
          rejectsWith('forbidden'),
        );

        // autosave: create, then update with the optimistic version
        let r = await f.reporting.saveDraft(exam.id, { findings: FINDINGS }, undefined, resident);
        assert.equal(r.status, 'draft');
        assert.equal(r.version, 1);
        r = await f.reporting.saveDraft(exam.id, { findings: FINDINGS, positive: true }, r.version, resident);
        assert.equal(r.version, 2);
        assert.equal(r.draft?.positive, true);
        // a concurrent edit with a stale version is a clear conflict, nothing applied
        await assert.rejects(
          f.reporting.saveDraft(exam.id, { findings: '别人的修改' }, 1, attending),
          rejectsWith('conflict', /version 2, you had 1/),
        );
        assert.equal((await f.repo.byExam(exam.id))?.draft?.findings, FINDINGS);

        // submitting without impression
        await assert.rejects(
          f.reporting.submit(exam.id, r.version, resident),
          rejectsWith('invalid-input', /诊断意见/),
        );
        assert.equal((await f.ris.getExam(exam.id, { kind: 'all' })).status, 'matched');
        r = await f.reporting.saveDraft(exam.id, { impression: IMPRESSION }, r.version, resident);
        const sub = await f.reporting.submit(exam.id, r.version, resident);
        assert.equal(sub.reviewRequired, true);
        assert.equal(sub.signed, null);
        assert.equal(sub.report.status, 'preliminary');
        assert.equal((await f.ris.getExam(exam.id, { kind: 'all' })).status, 'reported');

        // the draft is gone: editing now is refused
        await assert.rejects(
          f.reporting.saveDraft(exam.id, { findings: 'x' }, sub.report.version, resident),
          rejectsWith('conflict'),
        );
        // a resident may not approve; the author may not review their own report
        await assert.rejects(
          f.reporting.approve(exam.id, sub.report.version, {}, resident),
          rejectsWith('forbidden'),
        );

        // return with opinion → exam matched, a new draft carries the opinion
        await assert.rejects(
          f.reporting.returnReport(exam.id, sub.report.version, '  ', attending),
          rejectsWith('invalid-input'),
        );
        const ret = await f.reporting.returnReport(
          exam.id,
          sub.report.version,
          '请描述结节位置（段）',
          attending,
        );
        assert.equal(ret.status, 'draft');
        assert.equal(ret.draft?.reviewOpinion, '请描述结节位置（段）');
        assert.equal(ret.draft?.reviewer?.userId, attending.userId);
        assert.equal((await f.ris.getExam(exam.id, { kind: 'all' })).status, 'matched');

        // the database lets a draft be edited, never signed or turned into a final in place
        const draftId = ret.draft?.id ?? 0;
        const rdb = f.archive.database.db;
        await sql`update report_versions set recommendation = ${'随访'} where id = ${draftId}`.execute(rdb);
        await assert.rejects(
          sql`update report_versions set kind = ${'final'} where id = ${draftId}`.execute(rdb),
          /draft can only become a preliminary/,
        );
        await assert.rejects(
          sql`update report_versions set signed_at = ${'2026-01-01T00:00:00Z'}, signed_by = ${attending.userId} where id = ${draftId}`.execute(
            rdb,
          ),
          /draft can only become a preliminary/,
        );
        await sql`update report_versions set recommendation = ${''} where id = ${draftId}`.execute(rdb);

        // the author revises and resubmits
        r = await f.reporting.saveDraft(
          exam.id,
          { findings: FINDINGS.replace('右肺上叶', '右肺上叶尖段') },
          ret.version,
          resident,
        );
        const sub2 = await f.reporting.submit(exam.id, r.version, resident);
        assert.equal((await f.ris.getExam(exam.id, { kind: 'all' })).status, 'reported');

        // a stale approve is a conflict; then the reviewer edits and signs
        await assert.rejects(
          f.reporting.approve(exam.id, sub2.report.version - 1, {}, attending2),
          rejectsWith('conflict'),
        );
        const finalImpression = '右肺上叶尖段磨玻璃结节（约8mm），建议6个月后CT随访。';
        const appr = await f.reporting.approve(
          exam.id,
          sub2.report.version,
          { impression: finalImpression },
          attending2,
        );
        assert.equal(appr.report.status, 'signed');
        assert.equal(appr.signed.kind, 'final');
        assert.equal(appr.signed.impression, finalImpression);
        assert.equal(appr.signed.signedBy?.userId, attending2.userId);
        assert.equal(appr.signed.reviewer?.userId, attending2.userId);
        assert.equal(appr.signed.author.userId, resident.userId);
        assert.match(appr.signed.contentHash ?? '', /^[0-9a-f]{64}$/);
        assert.equal(await f.reporting.verify(appr.signed.id), true);
        const examAfter = await f.ris.getExam(exam.id, { kind: 'all' });
        assert.equal(examAfter.status, 'reviewed');
        // approving again is refused
        await assert.rejects(
          f.reporting.approve(exam.id, appr.report.version, {}, attending),
          rejectsWith('conflict'),
        );

        // versions: draft→prelim 1, draft→prelim 2 (with opinion), final 3
        const h = await f.reporting.history(exam.id, { kind: 'all' });
        assert.deepEqual(
          h.versions.map((v) => [v.number, v.kind]),
          [
            [1, 'preliminary'],
            [2, 'preliminary'],
            [3, 'final'],
          ],
        );
        assert.equal(h.versions[2]?.hashValid, true);
        const d = h.versions[1]?.diff?.findings ?? [];
        assert.ok(
          d.some((p) => p.op === 'insert' && p.text === '尖段'),
          JSON.stringify(d),
        );

        // 修改率: preliminary 2 vs final
        const stats = await f.reporting.revisionStats(exam.id, { kind: 'all' });
        assert.equal(stats.preliminary?.number, 2);
        assert.equal(stats.final?.number, 3);
        assert.equal(stats.modified, true);
        assert.equal(stats.findingsRatio, 0);
        assert.ok(stats.impressionRatio > 0.2 && stats.impressionRatio < 2, String(stats.impressionRatio));
        assert.equal(stats.returns, 1);

        // a signed report cannot be edited through the API …
        await assert.rejects(
          f.reporting.saveDraft(exam.id, { findings: 'x' }, appr.report.version, attending2),
          rejectsWith('conflict', /补充或更正/),
        );
        // … nor in the database (triggers), for preliminary and final rows
        const db = f.archive.database.db;
        for (const v of h.versions) {
          await assert.rejects(
            sql`update report_versions set findings = ${'篡改'} where id = ${v.id}`.execute(db),
            /cannot be changed/,
          );
          await assert.rejects(
            sql`delete from report_versions where id = ${v.id}`.execute(db),
            /cannot be changed/,
          );
        }
        await assert.rejects(
          sql`update report_versions set kind = ${'draft'} where id = ${appr.signed.id}`.execute(db),
          /cannot be changed/,
        );
        assert.equal(await f.reporting.verify(appr.signed.id), true);

        // addendum and correction: new signed versions; a correction needs a reason
        await assert.rejects(
          f.reporting.addendum(exam.id, appr.report.version, '补充', resident),
          rejectsWith('forbidden'),
        );
        const add = await f.reporting.addendum(
          exam.id,
          appr.report.version,
          '补充：左肺下叶钙化灶。',
          attending,
        );
        assert.equal(add.signed.kind, 'addendum');
        assert.equal(add.signed.addendum, '补充：左肺下叶钙化灶。');
        assert.equal(add.signed.impression, finalImpression);
        await assert.rejects(
          f.reporting.correction(exam.id, add.report.version, { impression: '更正后' }, ' ', attending),
          rejectsWith('invalid-input', /原因/),
        );
        await assert.rejects(
          f.reporting.correction(
            exam.id,
            add.report.version - 1,
            { impression: '更正后' },
            '笔误',
            attending,
          ),
          rejectsWith('conflict'),
        );
        const cor = await f.reporting.correction(
          exam.id,
          add.report.version,
          { impression: '右肺上叶尖段磨玻璃结节（约6mm）。' },
          '测量值笔误',
          attending,
        );
        assert.equal(cor.signed.kind, 'correction');
        assert.equal(cor.signed.reason, '测量值笔误');
        assert.equal(cor.signed.number, 5);
        assert.equal(await f.reporting.verify(cor.signed.id), true);
        assert.equal((await f.ris.getExam(exam.id, { kind: 'all' })).status, 'reviewed');

        // every signed version got its archive delivery row
        const ob = await f.repo.outbox({ reportId: cor.report.id });
        assert.equal(ob.length, 3);
        assert.ok(ob.every((o) => o.channelKind === 'archive' && o.state === 'pending'));
      } finally {
        await f.close();
      }
    });

    test('no review needed: an attending under policy "resident" signs on submit; policy "always" needs another reviewer', async () => {
      const f = await openFixture(kind.dialect);
      try {
        const { attending, attending2, chief } = f.users;
        await f.repo.createChannel(
          {
            hospitalId: f.xingtan.id,
            kind: 'hl7',
            name: 'HIS',
            config: { host: '127.0.0.1', port: 1 },
            enabled: true,
          },
          new Date().toISOString(),
        );
        await f.setReview(f.xingtan, 'resident');
        const e1 = await f.matchedExam(f.xingtan);
        let r = await f.reporting.saveDraft(
          e1.id,
          { findings: FINDINGS, impression: IMPRESSION },
          undefined,
          attending,
        );
        const s1 = await f.reporting.submit(e1.id, r.version, attending);
        assert.equal(s1.reviewRequired, false);
        assert.equal(s1.signed?.kind, 'final');
        assert.equal(s1.signed?.signedBy?.userId, attending.userId);
        assert.equal(s1.signed?.reviewer, null);
        assert.equal((await f.ris.getExam(e1.id, { kind: 'all' })).status, 'reviewed');
        const ob = await f.repo.outbox({ reportId: s1.report.id });
        assert.deepEqual(ob.map((o) => o.channelKind).sort(), ['archive', 'hl7']);
        assert.ok(ob.every((o) => o.idempotencyKey.startsWith(`${s1.signed?.id}:`)));

        await f.setReview(f.xingtan, 'always');
        const e2 = await f.matchedExam(f.xingtan);
        r = await f.reporting.saveDraft(
          e2.id,
          { findings: FINDINGS, impression: IMPRESSION },
          undefined,
          chief,
        );
        const s2 = await f.reporting.submit(e2.id, r.version, chief);
        assert.equal(s2.reviewRequired, true);
        await assert.rejects(
          f.reporting.approve(e2.id, s2.report.version, {}, chief),
          rejectsWith('forbidden', /自己/),
        );
        const a2 = await f.reporting.approve(e2.id, s2.report.version, {}, attending2);
        assert.equal(a2.signed.findings, FINDINGS);
        const st = await f.reporting.revisionStats(e2.id, { kind: 'all' });
        assert.equal(st.modified, false);
        assert.equal(st.overallRatio, 0);
      } finally {
        await f.close();
      }
    });

    test('only matched exams are reported; a failed exam transition leaves the report untouched', async () => {
      const f = await openFixture(kind.dialect);
      try {
        const { resident } = f.users;
        const exam = await f.matchedExam(f.chencun);
        const r = await f.reporting.saveDraft(
          exam.id,
          { findings: FINDINGS, impression: IMPRESSION },
          undefined,
          resident,
        );
        // someone returns the exam to the hospital meanwhile
        await f.ris.transition(
          exam.id,
          'returned',
          { type: 'system', name: 't' },
          { scope: { kind: 'all' }, reason: '图像不全' },
        );
        await assert.rejects(
          f.reporting.submit(exam.id, r.version, resident),
          rejectsWith('conflict', /returned/),
        );
        const after = await f.repo.byExam(exam.id);
        assert.equal(after?.status, 'draft');
        assert.equal(after?.version, r.version);
        // out-of-scope callers see nothing
        await assert.rejects(
          f.reporting.get(exam.id, { kind: 'hospitals', hospitalIds: [f.xingtan.id] }),
          (e: unknown) => e instanceof HuiyingError && (e.code === 'not-found' || e.code === 'forbidden'),
        );
      } finally {
        await f.close();
      }
    });
  });
}
