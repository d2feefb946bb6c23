import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, passwordProblem, temporaryPassword, verifyPassword } from './passwords.ts';

test('password policy: length, 3 of 4 classes, not the username, not a common password', () => {
  assert.match(passwordProblem('Ab1!', 'x') ?? '', /at least 10/);
  assert.match(passwordProblem('abcdefghijk', 'x') ?? '', /3 of/);
  assert.match(passwordProblem('abcdefghij12', 'x') ?? '', /3 of/);
  assert.equal(passwordProblem('abcdefgh12!X', 'x'), undefined);
  assert.equal(passwordProblem('Abcdefghij12', 'x'), undefined);
  assert.match(passwordProblem('Zhangsan#2024', 'zhangsan') ?? '', /username/);
  assert.match(passwordProblem('Password123', 'x') ?? '', /common/);
  assert.match(passwordProblem('P@ssw0rd123', 'x') ?? '', /common/);
  assert.match(passwordProblem('A1!'.repeat(100), 'x') ?? '', /at most/);
});

test('temporary passwords satisfy the policy; argon2id hashes verify', async () => {
  for (let i = 0; i < 50; i++) assert.equal(passwordProblem(temporaryPassword(), 'admin'), undefined);
  const h = await hashPassword('Correct-Horse-1');
  assert.match(h, /^\$argon2id\$/);
  assert.equal(await verifyPassword(h, 'Correct-Horse-1'), true);
  assert.equal(await verifyPassword(h, 'correct-horse-1'), false);
  assert.equal(await verifyPassword('not a hash', 'x'), false);
});
