import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../config/config.ts';
import { HuiyingError } from '../errors.ts';

const base = { HUIYING_DATA_DIR: '/tmp/hy-hl7-config' };

test('HL7 listener settings: defaults, environment, off, validation', () => {
  const d = loadConfig(base).hl7;
  assert.deepEqual(d, {
    port: 2575,
    maxMessageBytes: 1024 * 1024,
    idleTimeoutMs: 30 * 60 * 1000,
    maxConnections: 64,
    defaultUtcOffset: '+08:00',
  });
  const e = loadConfig({
    ...base,
    HUIYING_HL7_PORT: '0',
    HUIYING_HL7_BIND: '10.1.2.3',
    HUIYING_HL7_MAX_MESSAGE_BYTES: '65536',
    HUIYING_HL7_IDLE_MS: '0',
    HUIYING_HL7_MAX_CONNECTIONS: '4',
    HUIYING_HL7_UTC_OFFSET: '-05:30',
  }).hl7;
  assert.deepEqual(e, {
    port: 0,
    bindAddress: '10.1.2.3',
    maxMessageBytes: 65536,
    idleTimeoutMs: 0,
    maxConnections: 4,
    defaultUtcOffset: '-05:30',
  });
  assert.equal(loadConfig({ ...base, HUIYING_HL7_PORT: 'off' }).hl7.port, -1);
  assert.equal(loadConfig({ ...base, HUIYING_HL7_PORT: '-1' }).hl7.port, -1);
  for (const bad of [
    { HUIYING_HL7_PORT: '70000' },
    { HUIYING_HL7_PORT: 'abc' },
    { HUIYING_HL7_MAX_MESSAGE_BYTES: '10' },
    { HUIYING_HL7_UTC_OFFSET: '8' },
  ]) {
    assert.throws(
      () => loadConfig({ ...base, ...bad }),
      (err: unknown) => err instanceof HuiyingError && err.code === 'invalid-input',
    );
  }
});
