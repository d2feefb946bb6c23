import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DICOM_PACKAGE } from '@huiying/dicom';
test('workspace import works', () => {
  assert.equal(DICOM_PACKAGE, '@huiying/dicom');
});
test('skip example', { skip: 'no peer' }, () => {});
