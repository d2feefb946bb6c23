import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabaseKinds } from '../db/test-databases.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { KyselyHospitalRepository } from '../archive/index-repositories.ts';
import type { Hospital } from '../archive/ports.ts';
import type { OrderChange, OrderInput, RisPatientInput } from '../ris/model.ts';
import { FakeRisService } from './fake-ris.ts';
import { Hl7Intake } from './intake.ts';
import { Hl7Repository } from './repository.ts';
import { charsetOf, encodeText } from './charset.ts';
import { parseAck } from './message.ts';
import { startHl7Listener } from './listener.ts';
import { MllpClient } from './mllp.ts';
import { silentLog } from '../logger.ts';
import type { AuditEventInput } from '../audit/types.ts';

const UTF8 = charsetOf('UTF-8')!;
const GB = charsetOf('GB18030')!;

let seq = 0;
/** MSH with MSH-18 at its place; `charset` '' = absent. */
function msh(
  type: string,
  opts: { id?: string; charset?: string; facility?: string; app?: string; time?: string } = {},
): string {
  const id = opts.id ?? `C${++seq}`;
  const f = [
    'MSH',
    '^~\\&',
    opts.app ?? 'HIS',
    opts.facility ?? 'CHENCUN',
    'HUIYING',
    'CENTER',
    opts.time ?? '20260301083000',
    '',
    type,
    id,
    'P',
    '2.5',
  ];
  if (opts.charset !== undefined && opts.charset !== '') f.push('', '', '', '', '', opts.charset);
  return f.join('|');
}

const PID =
  'PID|1||P1001^^^CHENCUN^PI~440101198001011234^^^GA^ID||Zhang^San~张^三||19800101|M|||||13800138000';
const PV1 = 'PV1|1|O|呼吸内科门诊^201';

function ormNw(
  acc: string,
  opts: {
    id?: string;
    charset?: string;
    extraObr?: boolean;
    time?: string;
    pid?: string;
    facility?: string;
    app?: string;
  } = {},
): string {
  return [
    msh('ORM^O01^ORM_O01', opts),
    opts.pid ?? PID,
    PV1,
    'ORC|NW|PL' +
      acc +
      '|||||^^^20260301090000^^S||20260301083000|||D001^李^医生|||20260301083000||0301^呼吸内科',
    `OBR|1|PL${acc}||CT001^胸部CT平扫|S|20260301090000|||||||咳嗽两周，既往体健|||D001^李^医生||${acc}||||||CT|||||||||`,
    'NTE|1|P|发热 38.5℃',
    ...(opts.extraObr === true ? [`OBR|2|PL${acc}||CT002^上腹部CT平扫|S||||||||||||||${acc}||||||CT`] : []),
    'DG1|1||J18.900^肺炎^ICD10',
  ].join('\r');
}

for (const kind of await testDatabaseKinds()) {
  describe(`HL7 intake (${kind.dialect})`, { skip: kind.skip }, () => {
    let h: DatabaseHandle;
    let repo: Hl7Repository;
    let ris: FakeRisService;
    let intake: Hl7Intake;
    let chencun: Hospital;
    let xingtan: Hospital;
    const audited: AuditEventInput[] = [];

    before(async () => {
      h = await kind.open();
      const hospitals = new KyselyHospitalRepository(h.db);
      chencun = await hospitals.create({ code: 'CHENCUN', name: '陈村医院' });
      xingtan = await hospitals.create({ code: 'XINGTAN', name: '杏坛医院', defaultCharset: 'GB18030' });
      repo = new Hl7Repository(h.db);
      await repo.addSender({ hospitalId: chencun.id, sendingFacility: 'chencun' });
      await repo.addSender({ hospitalId: xingtan.id, sendingFacility: 'XINGTAN', sendingApplication: 'HIS' });
      ris = new FakeRisService();
      intake = new Hl7Intake({
        repo,
        hospitals,
        ris,
        audit: {
          record: (e) => {
            audited.push(e);
            return true;
          },
        },
      });
    });
    after(async () => {
      await h?.close();
    });

    const send = (text: string, cs = UTF8) => intake.handle(encodeText(text, cs), '10.0.0.5:40000');
    const callsOf = (m: string) => ris.calls.filter((c) => c.method === m);

    test('ORM^O01 NW: the whole order mapped, stored before and after, ACK AA', async () => {
      const r = await send(ormNw('A1001', { extraObr: true }));
      assert.equal(r.ackCode, 'AA', r.error);
      const ack = parseAck(r.ack.toString('utf8'));
      assert.equal(ack.code, 'AA');
      const call = callsOf('placeOrder').at(-1)!;
      const o = call.args[0] as OrderInput;
      assert.deepEqual(o.patient, {
        patientId: 'P1001',
        issuer: 'CHENCUN',
        name: 'Zhang^San=张^三',
        birthDate: '19800101',
        sex: 'M',
        phone: '13800138000',
      });
      assert.equal(o.hospitalId, chencun.id);
      assert.equal(o.accessionNumber, 'A1001');
      assert.equal(o.placerOrderNumber, 'PLA1001');
      assert.deepEqual(o.examItems, [
        { code: 'CT001', name: '胸部CT平扫' },
        { code: 'CT002', name: '上腹部CT平扫' },
      ]);
      assert.equal(o.modality, 'CT');
      assert.equal(o.bodyPart, 'CHEST');
      assert.equal(o.priority, 'emergency');
      assert.equal(o.patientClass, 'outpatient');
      assert.equal(o.clinicalHistory, '咳嗽两周，既往体健');
      assert.equal(o.symptoms, '发热 38.5℃');
      assert.equal(o.clinicalDiagnosis, '肺炎');
      assert.equal(o.requestingDepartment, '呼吸内科');
      assert.equal(o.requestingPhysician, '李医生');
      assert.equal(o.scheduledAt, '2026-03-01T01:00:00.000Z');
      assert.equal(o.source, 'hl7');
      assert.deepEqual(call.actor, {
        type: 'hl7',
        id: 'CHENCUN',
        name: 'CHENCUN/HIS',
        source: '10.0.0.5:40000',
      });

      const stored = await repo.messageById(r.messageId!);
      assert.equal(stored?.outcome, 'accepted');
      assert.equal(stored?.ackCode, 'AA');
      assert.equal(stored?.hospitalId, chencun.id);
      assert.equal(stored?.messageType, 'ORM^O01');
      assert.equal(stored?.examId, r.examIds[0]);
      assert.equal(stored?.charset, 'UNICODE UTF-8');
      assert.ok(stored?.text.includes('胸部CT平扫'));
    });

    test('a resent message (even with a new MSH-7) is acknowledged again and applied once', async () => {
      const before = callsOf('placeOrder').length;
      const text = ormNw('A2001', { id: 'DUP1' });
      const r1 = await send(text);
      const r2 = await send(text);
      const r3 = await send(text.replace('20260301083000', '20260301083500'));
      assert.deepEqual([r1.ackCode, r2.ackCode, r3.ackCode], ['AA', 'AA', 'AA']);
      assert.deepEqual([r1.outcome, r2.outcome, r3.outcome], ['accepted', 'duplicate', 'duplicate']);
      assert.equal(callsOf('placeOrder').length, before + 1);
    });

    test('XO changes and CA cancels the order; CA of an unknown order is AE', async () => {
      assert.equal((await send(ormNw('A3001'))).ackCode, 'AA');
      const xo = ormNw('A3001')
        .replace('ORC|NW|', 'ORC|XO|')
        .replace('CT001^胸部CT平扫|S', 'CT003^胸部CT增强|R');
      const r = await send(xo);
      assert.equal(r.ackCode, 'AA', r.error);
      const change = callsOf('changeOrder').at(-1)!.args[2] as OrderChange;
      assert.equal(callsOf('changeOrder').at(-1)!.args[1], 'A3001');
      assert.deepEqual(change.examItems, [{ code: 'CT003', name: '胸部CT增强' }]);
      // ORC-7.6 says S: still emergency (OBR-5 R wins as it is present)
      assert.equal(change.priority, 'routine');

      const ca = [msh('ORM^O01'), PID, 'ORC|CA|PLA3001|A3001||||||20260301100000|||||||^患者拒绝检查'].join(
        '\r',
      );
      const rc = await send(ca);
      assert.equal(rc.ackCode, 'AA', rc.error);
      assert.deepEqual(callsOf('cancelOrder').at(-1)!.args, [chencun.id, 'A3001', '患者拒绝检查']);
      assert.equal(ris.exams.get(`${chencun.id}|A3001`)?.status, 'cancelled');

      const unknown = await send([msh('ORM^O01'), PID, 'ORC|CA|PLX|NOSUCH'].join('\r'));
      assert.equal(unknown.ackCode, 'AE');
      const ack = parseAck(unknown.ack.toString('utf8'));
      assert.equal(ack.errors[0]?.code, '204');
      assert.match(ack.errors[0]?.message ?? '', /NOSUCH/);
      assert.equal((await repo.messageById(unknown.messageId!))?.outcome, 'rejected');
    });

    test('OMI^O23: accession from IPC-1, modality from IPC-5', async () => {
      const omi = [
        msh('OMI^O23^OMI_O23'),
        PID,
        'PV1|1|I|心内科病区^301^02',
        'ORC|NW|PL77||||||||||D9^王^强',
        'TQ1|1||||||20260302140000+0800',
        'OBR|1|PL77||MR010^头颅MR平扫|R',
        'IPC|M5001|RP1|1.2.3.4|SPS1|MR',
      ].join('\r');
      const r = await send(omi);
      assert.equal(r.ackCode, 'AA', r.error);
      const o = callsOf('placeOrder').at(-1)!.args[0] as OrderInput;
      assert.equal(o.accessionNumber, 'M5001');
      assert.equal(o.modality, 'MR');
      assert.equal(o.bodyPart, 'HEAD');
      assert.equal(o.patientClass, 'inpatient');
      assert.equal(o.requestingDepartment, '心内科病区');
      assert.equal(o.requestingPhysician, '王强');
      assert.equal(o.scheduledAt, '2026-03-02T06:00:00.000Z');
      assert.equal(o.priority, 'routine');
    });

    test('ADT^A08 updates the patient; ADT^A40 merges prior into survivor; unknown prior is AE', async () => {
      const a08 = [
        msh('ADT^A08^ADT_A01'),
        'EVN|A08|20260301',
        'PID|1||P2002^^^CHENCUN||李^四||19751231|F',
        PV1,
      ].join('\r');
      const r = await send(a08);
      assert.equal(r.ackCode, 'AA', r.error);
      const p = callsOf('upsertPatient').at(-1)!.args[1] as RisPatientInput;
      assert.deepEqual(p, {
        patientId: 'P2002',
        issuer: 'CHENCUN',
        name: '李^四',
        birthDate: '19751231',
        sex: 'F',
      });

      const a40 = [
        msh('ADT^A40^ADT_A39'),
        'EVN|A40|20260301',
        'PID|1||P1001^^^CHENCUN||Zhang^San~张^三',
        'MRG|P2002^^^CHENCUN',
      ].join('\r');
      const m = await send(a40);
      assert.equal(m.ackCode, 'AA', m.error);
      assert.deepEqual(callsOf('mergePatients').at(-1)!.args.slice(2), [
        { patientId: 'P2002', issuer: 'CHENCUN' },
      ]);

      const bad = await send([msh('ADT^A40'), 'PID|1||P1001^^^CHENCUN||张三', 'MRG|NOBODY'].join('\r'));
      assert.equal(bad.ackCode, 'AE');
      assert.match(bad.error ?? '', /NOBODY/);
    });

    test('unknown sending facility: AR, stored without a hospital, nothing applied', async () => {
      const n = ris.calls.length;
      const r = await send(ormNw('Z1', { facility: 'NOWHERE' }));
      assert.equal(r.ackCode, 'AR');
      const ack = parseAck(r.ack.toString('utf8'));
      assert.equal(ack.errors[0]?.code, '204');
      assert.match(ack.text, /unknown sending facility 'NOWHERE'/);
      assert.match(ack.text, /未登记的发送机构/);
      const stored = await repo.messageById(r.messageId!);
      assert.equal(stored?.hospitalId, null);
      assert.equal(stored?.outcome, 'rejected');
      assert.equal(ris.calls.length, n);
      const denied = audited.find((e) => e.object === `hl7_message:${r.messageId}`);
      assert.equal(denied?.outcome, 'denied');
      assert.equal(denied?.protocol, 'hl7');
      assert.equal(denied?.actorName, 'NOWHERE/HIS');
      assert.equal(denied?.source, '10.0.0.5:40000');
      // an application-specific sender does not match other applications of the facility
      const other = await send(ormNw('Z2', { facility: 'XINGTAN', app: 'LIS' }));
      assert.equal(other.ackCode, 'AR');
    });

    test('bad input is NAKed with location and nothing is applied', async () => {
      const n = ris.calls.length;
      const cases: [string, string, string][] = [
        [ormNw('B1').replace('|19800101|', '|19801340|'), '102', 'PID^1^7'],
        [
          ormNw('B2').replace('CT001^胸部CT平扫|S|20260301090000', 'CT001^胸部CT平扫|S|2026023109'),
          '102',
          'OBR^1^6',
        ],
        [ormNw('B3').replace(PID + '\r', ''), '100', 'PID'],
        [[msh('ORM^O01'), PID, 'ORC|NW|X1|X1'].join('\r'), '100', 'ORC^1'],
        [[msh('ORM^O01'), PID, 'OBR|1|X||CT1^胸部CT'].join('\r'), '100', 'OBR'],
        [ormNw('B4').replace('ORC|NW|', 'ORC|SC|'), '103', 'ORC^1^1'],
        [
          ormNw('B5').replace('|CT|||||', '|RAD|||||').replace('CT001^胸部CT平扫', 'X9^特殊检查'),
          '101',
          'OBR^1^24',
        ],
        [
          ormNw('B6').replace('PID|1||P1001^^^CHENCUN^PI~440101198001011234^^^GA^ID||', 'PID|1||||'),
          '101',
          'PID^1^3',
        ],
        [ormNw('B7').replace('|M|||||', '|X|||||'), '103', 'PID^1^8'],
      ];
      for (const [text, code, loc] of cases) {
        const r = await send(text);
        assert.equal(r.ackCode === 'AE' || r.ackCode === 'AR', true, text);
        const ack = parseAck(r.ack.toString('utf8'));
        assert.equal(ack.errors[0]?.code, code, `${loc}: ${ack.text}`);
        assert.equal(ack.errors[0]?.location, loc, ack.text);
        assert.equal((await repo.messageById(r.messageId!))?.outcome, 'rejected');
        const failure = audited.find((e) => e.object === `hl7_message:${r.messageId}`);
        assert.equal(failure?.outcome, 'failure');
        assert.equal(failure?.hospitalId, chencun.id);
      }
      // a message with two orders where the second is bad: neither is applied
      const two =
        ormNw('B8') + '\r' + 'ORC|NW|PL9\rOBR|1|PL9||CT1^胸部CT平扫|R|2026023009||||||||||||B9||||||CT';
      const r = await send(two);
      assert.equal(r.ackCode, 'AE');
      assert.equal(ris.calls.length, n);
    });

    test('unsupported message types and events are AR', async () => {
      const t1 = await send([msh('ORU^R01'), PID].join('\r'));
      const t2 = await send([msh('ADT^A01'), PID].join('\r'));
      assert.deepEqual([t1.ackCode, t2.ackCode], ['AR', 'AR']);
      assert.equal(parseAck(t1.ack.toString()).errors[0]?.code, '200');
      assert.equal(parseAck(t2.ack.toString()).errors[0]?.code, '201');
      const notHl7 = await intake.handle(Buffer.from('hello'), 'x');
      assert.equal(notHl7.ackCode, 'AR');
    });

    test('GB18030: declared in MSH-18 or by the hospital default; ACK in the same charset', async () => {
      const text = ormNw('G1', { charset: 'GB 18030-2000' });
      const r = await send(text, GB);
      assert.equal(r.ackCode, 'AA', r.error);
      const o = callsOf('placeOrder').at(-1)!.args[0] as OrderInput;
      assert.equal(o.patient.name, 'Zhang^San=张^三');
      assert.deepEqual(o.examItems[0], { code: 'CT001', name: '胸部CT平扫' });
      assert.equal((await repo.messageById(r.messageId!))?.charset, 'GB 18030-2000');
      assert.match(r.ack.toString('latin1'), /\|GB 18030-2000/);

      // XINGTAN's default charset is GB18030: no MSH-18 needed
      const x = await send(ormNw('G2', { facility: 'XINGTAN' }), GB);
      assert.equal(x.ackCode, 'AA', x.error);
      const ox = callsOf('placeOrder').at(-1)!.args[0] as OrderInput;
      assert.equal(ox.patient.name, 'Zhang^San=张^三');
      assert.equal(ox.patient.issuer, 'CHENCUN');
      assert.equal(ox.hospitalId, xingtan.id);

      // an error ACK carries Chinese text in GB18030
      const bad = await send(ormNw('G3', { charset: 'GB 18030-2000' }).replace('|19800101|', '|1980|'), GB);
      assert.equal(bad.ackCode, 'AE');
      const decoded = new TextDecoder('gb18030').decode(bad.ack);
      assert.match(decoded, /出生日期不完整/);
    });

    test('GB18030 bytes labelled UTF-8: AE, raw bytes kept, nothing applied', async () => {
      const n = ris.calls.length;
      const text = ormNw('G4', { charset: 'UNICODE UTF-8' });
      const raw = encodeText(text, GB);
      const r = await intake.handle(raw, 'peer');
      assert.equal(r.ackCode, 'AE');
      assert.match(r.error ?? '', /not valid UNICODE UTF-8/);
      assert.match(r.error ?? '', /they are valid GB18030/);
      const stored = await repo.messageById(r.messageId!);
      assert.deepEqual(Buffer.from(stored!.rawBase64, 'base64'), raw);
      assert.ok(stored!.text.includes('\ufffd'));
      assert.equal(ris.calls.length, n);
      // unsupported MSH-18
      const u = await send(ormNw('G5', { charset: 'ISO IR87' }));
      assert.equal(u.ackCode, 'AE');
      assert.equal(parseAck(u.ack.toString()).errors[0]?.code, '103');
    });

    test('message list: filters by hospital and outcome, newest first', async () => {
      const all = await repo.listMessages({});
      assert.ok(all.total >= 10);
      const rejected = await repo.listMessages({ outcome: 'rejected', hospitalIds: [chencun.id] });
      assert.ok(rejected.messages.length > 0);
      assert.ok(rejected.messages.every((m) => m.outcome === 'rejected' && m.hospitalId === chencun.id));
      const ids = all.messages.map((m) => m.id);
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => b - a),
      );
      assert.deepEqual(await repo.listMessages({ hospitalIds: [] }), { messages: [], total: 0 });
    });

    test('over MLLP: the listener answers GB18030 and UTF-8 messages; 张三 and 胸部CT平扫 survive exactly', async () => {
      const listener = await startHl7Listener({
        config: {
          bindAddress: '127.0.0.1',
          hl7: {
            port: 0,
            maxMessageBytes: 1 << 20,
            idleTimeoutMs: 60_000,
            maxConnections: 8,
            defaultUtcOffset: '+08:00',
          },
        },
        hospitals: new KyselyHospitalRepository(h.db),
        ris,
        db: h.db,
        log: silentLog,
      });
      const client = new MllpClient({ host: '127.0.0.1', port: listener.port });
      try {
        const a = await client.sendMessage(ormNw('L1', { charset: 'GB 18030-2000' }));
        const b = await client.sendMessage(ormNw('L2', { charset: 'UNICODE UTF-8' }));
        assert.deepEqual([a.code, b.code], ['AA', 'AA']);
        for (const acc of ['L1', 'L2']) {
          const e = ris.exams.get(`${chencun.id}|${acc}`);
          assert.equal(e?.patient.name, 'Zhang^San=张^三');
          assert.equal(e?.examItems[0]?.name, '胸部CT平扫');
        }
        const rows = await repo.listMessages({ limit: 2 });
        assert.deepEqual(
          rows.messages.map((m) => [m.controlId !== null, m.charset, m.outcome]),
          [
            [true, 'UNICODE UTF-8', 'accepted'],
            [true, 'GB 18030-2000', 'accepted'],
          ],
        );
      } finally {
        await client.close();
        await listener.close();
      }
    });
  });
}
