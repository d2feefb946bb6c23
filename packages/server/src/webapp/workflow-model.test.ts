/**
 * The web application's workflow constants and display helpers (packages/web/src/workflow-model.ts): the
 * statuses and transitions must equal the server's domain model; names, ages, countdowns and overdue are
 * what the worklist and the case page show.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EXAM_STATUSES, EXAM_TRANSITIONS, type Exam } from '../ris/model.ts';
import {
  ageOf,
  formatDicomDate,
  isOverdue,
  personName,
  remaining,
  STATUSES,
  TRANSITIONS,
} from '../../../web/src/workflow-model.ts';

describe('web workflow model', () => {
  it('has the server’s statuses and legal transitions', () => {
    assert.deepEqual([...STATUSES], [...EXAM_STATUSES]);
    assert.deepEqual(TRANSITIONS, EXAM_TRANSITIONS);
  });

  it('shows the ideographic group of a person name, else the alphabetic one', () => {
    assert.equal(personName('Zhang^San=张^三'), '张三');
    assert.equal(personName('Chen^Xiaoming=陈^小明=chen^xiao ming'), '陈小明');
    assert.equal(personName('陈^小明'), '陈小明');
    assert.equal(personName('黄丽华'), '黄丽华');
    assert.equal(personName('Zhang^San'), 'Zhang San');
    assert.equal(personName('Zhang^San='), 'Zhang San');
    assert.equal(personName('Smith^John^^Dr'), 'Smith John Dr');
    assert.equal(personName(''), '');
    assert.equal(personName(null), '');
  });

  it('computes ages in years, months under 2 years, days under a month', () => {
    const at = new Date(2026, 10, 26);
    assert.deepEqual(ageOf('19800315', at), { value: 46, unit: 'y' });
    assert.deepEqual(ageOf('19801201', at), { value: 45, unit: 'y' }, 'birthday not yet reached');
    assert.deepEqual(ageOf('1980-11-26', at), { value: 46, unit: 'y' }, 'birthday today');
    assert.deepEqual(ageOf('20250526', at), { value: 18, unit: 'm' });
    assert.deepEqual(ageOf('20261116', at), { value: 10, unit: 'd' });
    assert.equal(ageOf('20270101', at), undefined, 'born in the future');
    assert.equal(ageOf('1980', at), undefined);
    assert.equal(ageOf(null, at), undefined);
    assert.equal(formatDicomDate('20260101'), '2026-01-01');
    assert.equal(formatDicomDate('garbage'), 'garbage');
  });

  it('formats the time left and the time overdue', () => {
    const due = '2026-11-26T10:00:00.000Z';
    assert.deepEqual(remaining(due, Date.parse('2026-11-26T08:54:51.000Z')), {
      overdue: false,
      text: '1:05:09',
      ms: 3_909_000,
    });
    const late = remaining(due, Date.parse('2026-11-26T10:05:00.400Z'));
    assert.equal(late.overdue, true);
    assert.equal(late.text, '0:05:00');
    assert.equal(remaining(due, Date.parse('2026-11-24T08:00:00.000Z')).text, '2d 2h');
  });

  it('counts an exam overdue only while its report is outstanding', () => {
    const now = Date.parse('2026-11-26T10:00:00.000Z');
    const exam = (status: Exam['status'], dueAt: string | null): Exam =>
      ({ status, dueAt }) as unknown as Exam;
    assert.equal(isOverdue(exam('examined', '2026-11-26T09:59:59.000Z'), now), true);
    assert.equal(isOverdue(exam('matched', '2026-11-26T09:00:00.000Z'), now), true);
    assert.equal(isOverdue(exam('matched', '2026-11-26T10:00:01.000Z'), now), false);
    assert.equal(isOverdue(exam('reported', '2026-11-26T09:00:00.000Z'), now), false);
    assert.equal(isOverdue(exam('registered', null), now), false);
  });
});
