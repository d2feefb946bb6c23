import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { testDatabaseKinds } from '../db/test-databases.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { KyselyHospitalRepository } from '../archive/index-repositories.ts';
import type { Hospital } from '../archive/ports.ts';
import { AccountService } from '../accounts/service.ts';
import { hashPassword } from '../accounts/passwords.ts';
import type { Role } from '../accounts/model.ts';
import { AuditLog } from '../audit/audit-log.ts';
import type { AuditEventInput } from '../audit/types.ts';
import { HuiyingError, httpStatusOf } from '../errors.ts';
import { Hl7Repository } from './repository.ts';
import { registerHl7AdminRoutes } from './routes.ts';

const PW = 'Huiying-Test-2025';

interface Session {
  cookie: string;
  csrf: string;
}

for (const kind of await testDatabaseKinds()) {
  describe(`HL7 admin REST API (${kind.dialect})`, { skip: kind.skip }, () => {
    let h: DatabaseHandle;
    let app: FastifyInstance;
    let repo: Hl7Repository;
    let center: Hospital;
    let chencun: Hospital;
    let xingtan: Hospital;
    const events: AuditEventInput[] = [];
    let audit: AuditLog;
    const s: Record<string, Session> = {};

    before(async () => {
      h = await kind.open();
      const hospitals = new KyselyHospitalRepository(h.db);
      center = await hospitals.create({ code: 'CENTER', name: '区域影像中心', isCenter: true });
      chencun = await hospitals.create({ code: 'CHENCUN', name: '陈村医院' });
      xingtan = await hospitals.create({ code: 'XINGTAN', name: '杏坛医院' });
      audit = new AuditLog(undefined, {
        sink: {
          append: (es) => {
            events.push(...es);
            return Promise.resolve();
          },
        },
      });
      const accounts = new AccountService(h.db, hospitals, audit);
      repo = new Hl7Repository(h.db);
      app = Fastify({ logger: false });
      app.setErrorHandler((err, _req, reply) => {
        const status =
          err instanceof HuiyingError
            ? httpStatusOf(err.code)
            : typeof (err as { statusCode?: number }).statusCode === 'number'
              ? (err as { statusCode: number }).statusCode
              : 500;
        void reply
          .status(status)
          .type('application/problem+json')
          .send({ type: 'about:blank', title: err instanceof Error ? err.message : 'Error', status });
      });
      await registerHl7AdminRoutes(app, { sessions: accounts, repo, hospitals, audit });
      const users: [string, Hospital, Role[]][] = [
        ['sysadmin', center, ['system_admin']],
        ['ccadmin', chencun, ['hospital_admin']],
        ['auditor1', center, ['auditor']],
        ['tech1', chencun, ['member_technologist']],
      ];
      for (const [username, hospital, roles] of users) {
        const { user } = await accounts.createUser('system', {
          username,
          displayName: username,
          hospitalId: hospital.id,
          roles,
        });
        await accounts.users.setPassword(user.id, await hashPassword(PW), false, new Date());
        const r = await accounts.login(username, PW);
        s[username] = { cookie: `huiying_session=${r.sessionToken}`, csrf: r.csrfToken };
      }
      // messages of two hospitals and of an unknown sender
      const msg = (hospitalId: number | null, outcome: 'accepted' | 'rejected') => ({
        receivedAt: new Date().toISOString(),
        peer: '10.0.0.1:1',
        hospitalId,
        sendingApplication: 'HIS',
        sendingFacility: 'X',
        messageType: 'ORM^O01',
        controlId: '1',
        charset: 'UNICODE UTF-8',
        text: 'MSH|^~\\&|HIS|X\rPID|1||P1||张三',
        raw: Buffer.from('x'),
        outcome,
      });
      for (const [hid, outcome] of [
        [chencun.id, 'accepted'],
        [chencun.id, 'rejected'],
        [xingtan.id, 'accepted'],
        [null, 'rejected'],
      ] as const) {
        const id = await repo.insertMessage(msg(hid, outcome));
        await repo.finishMessage(id, { outcome, ackCode: outcome === 'accepted' ? 'AA' : 'AR' });
      }
    });
    after(async () => {
      await app?.close();
      await audit?.close();
      await h?.close();
    });

    const call = (
      who: string | undefined,
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      body?: unknown,
      csrf = true,
    ) =>
      app.inject({
        method,
        url,
        headers: {
          ...(who !== undefined ? { cookie: s[who]!.cookie } : {}),
          ...(who !== undefined && csrf ? { 'x-csrf-token': s[who]!.csrf } : {}),
        },
        ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}),
      });

    test('senders: system_admin everywhere, hospital_admin only its hospital, auditor reads, others refused', async () => {
      const a = await call('sysadmin', 'POST', '/api/admin/hl7/senders', {
        hospitalId: xingtan.id,
        sendingFacility: 'xingtan',
        sendingApplication: 'HIS',
      });
      assert.equal(a.statusCode, 201, a.body);
      const sender = a.json<{
        sender: { id: number; sendingFacility: string; sendingApplication: string };
      }>().sender;
      assert.equal(sender.sendingFacility, 'XINGTAN');
      assert.equal(sender.sendingApplication, 'HIS');

      const dup = await call('sysadmin', 'POST', '/api/admin/hl7/senders', {
        hospitalId: chencun.id,
        sendingFacility: 'XINGTAN',
        sendingApplication: 'his',
      });
      assert.equal(dup.statusCode, 409);
      assert.match(dup.headers['content-type'] ?? '', /problem\+json/);

      const own = await call('ccadmin', 'POST', '/api/admin/hl7/senders', {
        hospitalId: chencun.id,
        sendingFacility: 'CHENCUN',
      });
      assert.equal(own.statusCode, 201, own.body);
      const other = await call('ccadmin', 'POST', '/api/admin/hl7/senders', {
        hospitalId: xingtan.id,
        sendingFacility: 'XT2',
      });
      assert.equal(other.statusCode, 403);
      const noCsrf = await call(
        'ccadmin',
        'POST',
        '/api/admin/hl7/senders',
        { hospitalId: chencun.id, sendingFacility: 'C2' },
        false,
      );
      assert.equal(noCsrf.statusCode, 403);
      const bad = await call('sysadmin', 'POST', '/api/admin/hl7/senders', {
        hospitalId: chencun.id,
        sendingFacility: 'A|B',
      });
      assert.equal(bad.statusCode, 400);
      const auditorWrite = await call('auditor1', 'POST', '/api/admin/hl7/senders', {
        hospitalId: chencun.id,
        sendingFacility: 'C3',
      });
      assert.equal(auditorWrite.statusCode, 403);

      const listCc = (await call('ccadmin', 'GET', '/api/admin/hl7/senders')).json<{
        senders: { hospitalId: number }[];
      }>();
      assert.deepEqual(
        listCc.senders.map((x) => x.hospitalId),
        [chencun.id],
      );
      const listAll = (await call('auditor1', 'GET', '/api/admin/hl7/senders')).json<{
        senders: unknown[];
      }>();
      assert.equal(listAll.senders.length, 2);
      assert.equal((await call('tech1', 'GET', '/api/admin/hl7/senders')).statusCode, 403);
      assert.equal((await call(undefined, 'GET', '/api/admin/hl7/senders')).statusCode, 401);

      assert.equal((await call('ccadmin', 'DELETE', `/api/admin/hl7/senders/${sender.id}`)).statusCode, 403);
      assert.equal((await call('sysadmin', 'DELETE', `/api/admin/hl7/senders/${sender.id}`)).statusCode, 204);
      assert.equal((await call('sysadmin', 'DELETE', `/api/admin/hl7/senders/${sender.id}`)).statusCode, 404);

      await audit.flush();
      const changes = events.filter((e) => e.action === 'admin_change');
      assert.ok(changes.some((e) => e.outcome === 'success' && e.object === 'hl7_sender:XINGTAN'));
      assert.ok(changes.some((e) => e.outcome === 'denied' && e.actorName === 'ccadmin'));
    });

    test('messages: scoped by hospital, filtered by outcome and hospital, audited', async () => {
      type Page = { messages: { hospitalId: number | null; outcome: string; text: string }[]; total: number };
      const all = (await call('sysadmin', 'GET', '/api/admin/hl7/messages')).json<Page>();
      assert.equal(all.total, 4);
      assert.ok(all.messages[0]!.text.includes('张三'));
      const cc = (await call('ccadmin', 'GET', '/api/admin/hl7/messages')).json<Page>();
      assert.equal(cc.total, 2);
      assert.ok(cc.messages.every((m) => m.hospitalId === chencun.id));
      const rej = (await call('auditor1', 'GET', '/api/admin/hl7/messages?outcome=rejected')).json<Page>();
      assert.equal(rej.total, 2);
      const xt = (
        await call('sysadmin', 'GET', `/api/admin/hl7/messages?hospitalId=${xingtan.id}&limit=1&offset=0`)
      ).json<Page>();
      assert.equal(xt.total, 1);
      assert.equal(
        (await call('ccadmin', 'GET', `/api/admin/hl7/messages?hospitalId=${xingtan.id}`)).statusCode,
        403,
      );
      assert.equal((await call('tech1', 'GET', '/api/admin/hl7/messages')).statusCode, 403);
      assert.equal((await call('sysadmin', 'GET', '/api/admin/hl7/messages?outcome=bogus')).statusCode, 400);
      await audit.flush();
      assert.ok(events.some((e) => e.action === 'hl7_messages_view' && e.actorName === 'auditor1'));
    });
  });
}
