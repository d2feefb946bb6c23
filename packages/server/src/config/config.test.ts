import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config.ts';

test('defaults follow the documented values', () => {
  const c = loadConfig({}, '/srv/x');
  assert.equal(c.dataDir, '/srv/x/data');
  assert.equal(c.httpPort, 8080);
  assert.equal(c.dicomPort, 11112);
  assert.equal(c.aeTitle, 'HUIYING');
  assert.equal(c.databaseUrl, '/srv/x/data/huiying.sqlite');
  assert.equal(c.storageUrl, '/srv/x/data/blobs');
  assert.equal(c.bindAddress, '0.0.0.0');
  assert.equal(c.duplicatePolicy, 'keep');
  assert.equal(c.syncMode, 'full');
});

test('environment overrides the file, which overrides defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hy-cfg-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ httpPort: 9000, aeTitle: 'FILEAE', dimse: { maxAssociations: 5 } }));
  const c = loadConfig({ HUIYING_CONFIG: file, HUIYING_AE_TITLE: 'ENVAE', HUIYING_DATA_DIR: '/d' }, '/');
  assert.equal(c.httpPort, 9000);
  assert.equal(c.aeTitle, 'ENVAE');
  assert.equal(c.dimse.maxAssociations, 5);
  assert.equal(c.databaseUrl, '/d/huiying.sqlite');
});

test('invalid values are refused with the variable named', () => {
  assert.throws(() => loadConfig({ HUIYING_HTTP_PORT: 'abc' }), /HUIYING_HTTP_PORT/);
  assert.throws(() => loadConfig({ HUIYING_DICOM_PORT: '70000' }), /HUIYING_DICOM_PORT/);
  assert.throws(() => loadConfig({ HUIYING_AE_TITLE: 'WAY_TOO_LONG_AE_TITLE_X' }), /AE title/);
  assert.throws(() => loadConfig({ HUIYING_DUPLICATE_POLICY: 'merge' }), /keep, replace/);
  assert.throws(() => loadConfig({ HUIYING_DIMSE_TLS_CERT: '/x.pem' }), /both/);
  assert.throws(() => loadConfig({ HUIYING_CONFIG: '/nonexistent.json' }), /does not exist/);
});
