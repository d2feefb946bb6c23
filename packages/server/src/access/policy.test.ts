import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hospital } from '../archive/ports.ts';
import type { Grade, Role } from '../accounts/model.ts';
import { callerOfUser, can } from './scope.ts';

const center: Hospital = { id: 1, code: 'CENTER', name: '中心', isCenter: true, createdAt: '' };
const chencun: Hospital = { id: 2, code: 'CHENCUN', name: '陈村医院', isCenter: false, createdAt: '' };
const DEFAULT_RULES: Record<Grade, string[]> = {
  resident: ['write_preliminary'],
  attending: ['review', 'sign', 'write_preliminary'],
  associate_chief: ['review', 'sign', 'write_preliminary'],
  chief: ['review', 'sign', 'write_preliminary'],
};

function caller(h: Hospital, roles: Role[], grade: Grade | null = null, mustChangePassword = false) {
  return callerOfUser(
    { id: 7, username: 'u', hospitalId: h.id, roles, grade, mustChangePassword },
    h,
    grade === null ? [] : DEFAULT_RULES[grade],
  );
}

test('scopes: center staff see all, member users their hospital, auditors all read-only', () => {
  assert.deepEqual(caller(center, ['center_radiologist']).scope, { kind: 'all' });
  assert.deepEqual(caller(center, ['system_admin']).scope, { kind: 'all' });
  // a member-hospital role at the center hospital is not center staff
  assert.deepEqual(caller(center, ['member_clinician']).scope, { kind: 'hospitals', hospitalIds: [1] });
  // a center role at a member hospital gives no more than that hospital
  assert.deepEqual(caller(chencun, ['center_radiologist']).scope, { kind: 'hospitals', hospitalIds: [2] });
  assert.deepEqual(caller(chencun, ['member_technologist']).scope, { kind: 'hospitals', hospitalIds: [2] });
  const aud = caller(chencun, ['auditor']);
  assert.deepEqual(aud.scope, { kind: 'all' });
  assert.equal(aud.readOnly, true);
  assert.equal(caller(center, ['auditor', 'center_qc_manager']).readOnly, false);
});

test('can(): privileges follow the grade rules; scope and read-only apply', () => {
  const study2 = { hospitalId: 2 };
  const resident = caller(center, ['center_radiologist'], 'resident');
  const attending = caller(center, ['center_radiologist'], 'attending');
  const chief = caller(center, ['center_radiologist'], 'chief');
  assert.equal(can(resident, 'write_preliminary', study2), true);
  assert.equal(can(resident, 'review', study2), false);
  assert.equal(can(resident, 'sign', study2), false);
  for (const c of [attending, chief]) {
    assert.equal(can(c, 'sign', study2), true);
    assert.equal(can(c, 'review', study2), true);
  }
  // the privilege without the radiologist role, or without a grade: no
  assert.equal(can(caller(center, ['center_qc_manager'], 'chief'), 'sign', study2), false);
  assert.equal(can(caller(center, ['center_radiologist']), 'write_preliminary', study2), false);
  // out of scope
  const memberRad = caller(chencun, ['center_radiologist'], 'chief');
  assert.equal(can(memberRad, 'sign', { hospitalId: 3 }), false);
  assert.equal(can(memberRad, 'read', { hospitalId: 2 }), true);
  assert.equal(can(memberRad, 'read', { hospitalId: 3 }), false);
  // auditors read everything and change nothing
  const aud = caller(chencun, ['auditor']);
  assert.equal(can(aud, 'read', { hospitalId: 1 }), true);
  assert.equal(can(aud, 'change', { hospitalId: 2 }), false);
  // a pending forced password change allows nothing
  assert.equal(can(caller(center, ['center_radiologist'], 'chief', true), 'read', study2), false);
  // custom rules are data: a resident allowed to review by the rules may review
  const custom = callerOfUser(
    {
      id: 8,
      username: 'r',
      hospitalId: 1,
      roles: ['center_radiologist'],
      grade: 'resident',
      mustChangePassword: false,
    },
    center,
    ['write_preliminary', 'review'],
  );
  assert.equal(can(custom, 'review', study2), true);
  // user management
  assert.equal(can(caller(chencun, ['hospital_admin']), 'manage_users', { hospitalId: 2 }), true);
  assert.equal(can(caller(chencun, ['hospital_admin']), 'manage_users', { hospitalId: 1 }), false);
  assert.equal(can(caller(center, ['system_admin']), 'manage_users', { hospitalId: 2 }), true);
});
