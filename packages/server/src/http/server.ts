/**
 * The HTTP listener: health and version (unauthenticated, no PHI) and DICOMweb under /dicomweb (every
 * request authenticated and scoped by the access policy), the accounts and admin REST API under /api, the
 * OHIF viewer under /viewer and the web application at / — all behind the same policy.
 */
import Fastify, { type FastifyReply } from 'fastify';
import type { Archive } from '../app.ts';
import type { Config } from '../config/config.ts';
import { registerDicomweb } from '../dicomweb/index.ts';
import { registerViewer } from '../viewer/plugin.ts';
import { createHttpScopeResolver } from '../access/scope.ts';
import { registerAccountRoutes } from '../accounts/routes.ts';
import { registerAdminApi } from '../admin-api/routes.ts';
import { registerWebApp } from '../webapp/plugin.ts';
import { registerRisApi } from '../ris-api/routes.ts';
import { registerEventRoutes, sessionCheck } from '../events/sse.ts';
import { registerHl7AdminRoutes } from '../hl7/routes.ts';
import { Hl7Repository } from '../hl7/repository.ts';
import { registerFhir } from '../fhir/plugin.ts';
import { registerReportingRoutes } from '../reporting/routes.ts';
import type { Log } from '../logger.ts';
import { HuiyingError, httpStatusOf } from '../errors.ts';

export interface HttpServer {
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
  inject: ReturnType<typeof Fastify>['inject'];
}

export async function createHttpServer(opts: {
  archive: Archive;
  config: Config;
  log: Log;
}): Promise<HttpServer> {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    // long enough for any UID (64) so that validation, not the router, answers malformed ones
    routerOptions: { maxParamLength: 1024 },
    // router-level errors (URI too long, bad URL encoding) answer problem+json like everything else
    frameworkErrors: (err, _req, reply) => {
      const status: number = typeof err.statusCode === 'number' ? err.statusCode : 400;
      const r = reply as unknown as FastifyReply;
      void r
        .code(status)
        .type('application/problem+json')
        .send({ type: 'about:blank', title: err.message, status });
    },
  });
  app.setErrorHandler((err, _req, reply) => {
    const status =
      err instanceof HuiyingError
        ? httpStatusOf(err.code)
        : typeof (err as { statusCode?: number }).statusCode === 'number'
          ? (err as { statusCode: number }).statusCode
          : 500;
    if (status >= 500)
      opts.log('error', 'http request failed', { error: err instanceof Error ? err.message : String(err) });
    void reply
      .status(status)
      .type('application/problem+json')
      .send({
        type: 'about:blank',
        title: status >= 500 ? 'Internal Server Error' : err instanceof Error ? err.message : 'Error',
        status,
      });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .status(404)
      .type('application/problem+json')
      .send({
        type: 'about:blank',
        title: `no route for ${req.method} ${req.url.split('?')[0] ?? ''}`,
        status: 404,
      });
  });
  app.get('/healthz', async () => {
    await opts.archive.hospitals.list();
    return { status: 'ok' };
  });
  app.get('/api/version', () => ({ name: 'huiying', version: '0.1.0' }));
  const http = opts.config.http;
  const resolveCaller = createHttpScopeResolver({
    tokens: opts.archive.tokens,
    hospitals: opts.archive.hospitals,
    sessions: opts.archive.accounts,
    passwords: opts.archive.accounts,
    ...(http.loopbackHospital !== undefined ? { loopbackHospitalCode: http.loopbackHospital } : {}),
  });
  await registerDicomweb(app, {
    archive: opts.archive,
    resolveScope: resolveCaller,
    log: opts.log,
    prefix: '/dicomweb',
    ...(http.corsOrigins.length > 0
      ? { cors: { origins: http.corsOrigins.includes('*') ? '*' : http.corsOrigins } }
      : {}),
  });
  await registerAccountRoutes(app, { accounts: opts.archive.accounts, hospitals: opts.archive.hospitals });
  await registerAdminApi(app, {
    sessions: opts.archive.accounts,
    hospitals: opts.archive.hospitals,
    aes: opts.archive.aes,
    tokens: opts.archive.tokens,
    audit: opts.archive.audit,
    db: opts.archive.database.db,
  });
  // The reading workflow (worklist, orders, matching, policy) and its live events.
  await registerRisApi(app, {
    sessions: opts.archive.accounts,
    hospitals: opts.archive.hospitals,
    ris: opts.archive.ris,
    db: opts.archive.database.db,
    audit: opts.archive.audit,
  });
  registerEventRoutes(app, {
    bus: opts.archive.bus,
    sessions: opts.archive.accounts,
    hospitals: opts.archive.hospitals,
    sessionValid: sessionCheck(opts.archive.accounts.sessions),
    log: opts.log,
  });
  await registerReportingRoutes(app, {
    sessions: opts.archive.accounts,
    hospitals: opts.archive.hospitals,
    reporting: opts.archive.reporting.service,
    ris: opts.archive.ris,
    audit: opts.archive.audit,
    db: opts.archive.database.db,
    kickDelivery: () => opts.archive.reporting.worker.kick(),
  });
  await registerHl7AdminRoutes(app, {
    sessions: opts.archive.accounts,
    repo: new Hl7Repository(opts.archive.database.db),
    hospitals: opts.archive.hospitals,
    audit: opts.archive.audit,
  });
  // FHIR R4 orders (ServiceRequest, Patient): API tokens, HTTP Basic or the session, like DICOMweb.
  await registerFhir(app, {
    ris: opts.archive.ris,
    hospitals: opts.archive.hospitals,
    resolveCaller,
    audit: opts.archive.audit,
    prefix: '/fhir',
    log: opts.log,
  });
  // The OHIF viewer (static pages; its data comes through the DICOMweb routes above).
  await registerViewer(app, { dicomwebPath: '/dicomweb' });
  // The web application (packages/web/dist) at / with the SPA fallback; its data comes through /api.
  await registerWebApp(app);
  // Refused requests to the REST API (expired session, missing/forged CSRF token, wrong role, oversized
  // body) are audited like every other access attempt. Login failures are audited by the account service.
  app.addHook('onResponse', async (req, reply) => {
    const status = reply.statusCode;
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/api/') || path === '/api/auth/login') return;
    if (status !== 401 && status !== 403 && status !== 413) return;
    opts.archive.audit.record({
      actorType: 'anonymous',
      source: req.ip,
      protocol: 'http',
      action: 'request_refused',
      outcome: status === 413 ? 'failure' : 'denied',
      status: String(status),
      object: `${req.method} ${path}`.slice(0, 200),
    });
    await Promise.resolve();
  });
  await app.ready();
  return {
    async listen(port, host) {
      await app.listen({ port, host });
      const addr = app.server.address();
      return typeof addr === 'object' && addr !== null ? addr.port : port;
    },
    async close() {
      await app.close();
    },
    inject: app.inject.bind(app),
  };
}
