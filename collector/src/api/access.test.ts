import { type IncomingMessage, request } from 'node:http';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BACKENDS, type Backend, databaseTargets } from '../../../test/helpers/store-backends.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { type Db, openDatabase } from '../store/db.js';
import { AccessGuard, defaultAccess, isLoopback, OPERATOR_COOKIE } from './access.js';
import { OperatorTokens } from './operators.js';

const databases = databaseTargets();
let backend: Backend;
let collector: RunningCollector | null = null;

describe.each(BACKENDS)('access on %s', (name) => {
  beforeEach(() => {
    backend = name;
  });
  afterEach(async () => {
    await collector?.close();
    collector = null;
  });

  /**
   * A collector bound to 127.0.0.1 (tests reach nothing else) but with the rule of one bound to a
   * public address: an operator token is required.
   */
  async function closedCollector(trustProxyHeader?: string): Promise<RunningCollector> {
    collector = await startCollector({
      db: await databases.target(backend),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
      requireOperatorToken: true,
      trustProxyHeader,
    });
    return collector;
  }

  function get(c: RunningCollector, pathname: string, headers: Record<string, string> = {}) {
    return fetch(new URL(pathname, c.url), { headers, redirect: 'manual' });
  }

  function liveUpgrade(c: RunningCollector, headers: Record<string, string> = {}): Promise<number> {
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/live`, { headers });
    return new Promise((resolve) => {
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
  }

  const PROTECTED = [
    '/',
    '/app.js',
    '/api/summary',
    '/api/hosts',
    '/api/guests',
    '/api/matrix',
    '/api/alerts',
    '/api/agents',
    '/api/report',
    '/metrics',
  ];

  describe('the access rule', () => {
    it('is open on loopback and closed on any other address', () => {
      for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'])
        expect(defaultAccess(host).requireToken, host).toBe(false);
      for (const host of ['0.0.0.0', '::', '10.0.0.5', 'collector.example', '192.168.1.1'])
        expect(defaultAccess(host).requireToken, host).toBe(true);
      expect(isLoopback('128.0.0.1')).toBe(false);
    });

    it('is closed on loopback too when a reverse proxy is trusted (the proxy is what makes it reachable)', () => {
      expect(defaultAccess('127.0.0.1', 'X-Forwarded-User')).toEqual({
        requireToken: true,
        trustProxyHeader: 'X-Forwarded-User',
      });
    });

    it('answers 401 without a token on every page, API and metrics path, and 200 with one', async () => {
      const c = await closedCollector();
      const { token } = c.operators.create('alice');
      for (const p of PROTECTED) {
        const denied = await get(c, p);
        expect(denied.status, p).toBe(401);
        expect(denied.headers.get('www-authenticate')).toContain('Bearer');
        const allowed = await get(c, p, { authorization: `Bearer ${token}` });
        expect(allowed.status, p).toBe(200);
      }
      const body = (await (await get(c, '/api/hosts')).json()) as { error: string; message: string };
      expect(body).toMatchObject({ error: 'UNAUTHORIZED' });
      expect(body.message).toContain('hvmap tokens create --operator');
    });

    it('keeps /healthz open for probes', async () => {
      const c = await closedCollector();
      expect((await get(c, '/healthz')).status).toBe(200);
    });

    it('explains the sign-in to a browser asking for the page', async () => {
      const c = await closedCollector();
      const res = await get(c, '/', { accept: 'text/html' });
      expect(res.status).toBe(401);
      expect(await res.text()).toContain('?token=');
    });

    it('turns ?token= into an HttpOnly cookie once, then the cookie opens the page', async () => {
      const c = await closedCollector();
      const { token } = c.operators.create('alice');
      const res = await get(c, `/?token=${token}`);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/');
      const cookie = res.headers.get('set-cookie') as string;
      expect(cookie).toMatch(new RegExp(`^${OPERATOR_COOKIE}=`));
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Strict');
      const pair = cookie.split(';')[0];
      expect((await get(c, '/api/summary', { cookie: pair })).status).toBe(200);
      expect(await liveUpgrade(c, { cookie: pair })).toBe(101);
    });

    it('never redirects the sign-in off the collector: a path that starts // goes to /', async () => {
      const c = await closedCollector();
      const { token } = c.operators.create('carol');
      const { port } = new URL(c.url);
      // A raw request target: fetch would read //evil.example as another host.
      const location = await new Promise<string | undefined>((resolve, reject) => {
        request(
          { host: '127.0.0.1', port, path: `//evil.example/x?token=${token}`, headers: { host: `127.0.0.1:${port}` } },
          (res) => {
            res.resume();
            resolve(res.headers.location);
          },
        )
          .on('error', reject)
          .end();
      });
      expect(location).toBe('/');
    });

    it('refuses a wrong ?token= without setting a cookie', async () => {
      const c = await closedCollector();
      const res = await get(c, '/?token=hvo_wrong');
      expect(res.status).toBe(401);
      expect(res.headers.get('set-cookie')).toBeNull();
    });

    it('refuses revoked operator tokens and agent tokens', async () => {
      const c = await closedCollector();
      const { token } = c.operators.create('bob');
      c.operators.revoke('bob');
      expect((await get(c, '/api/summary', { authorization: `Bearer ${token}` })).status).toBe(401);
      const agent = c.tokens.create('kvm-01').token;
      expect((await get(c, '/api/summary', { authorization: `Bearer ${agent}` })).status).toBe(401);
    });

    it('asks the live feed for the same token', async () => {
      const c = await closedCollector();
      const { token } = c.operators.create('alice');
      expect(await liveUpgrade(c)).toBe(401);
      expect(await liveUpgrade(c, { authorization: `Bearer ${token}` })).toBe(101);
    });

    it("trusts the reverse proxy's header when configured, and only then", async () => {
      const c = await closedCollector('X-Forwarded-User');
      expect((await get(c, '/api/summary', { 'x-forwarded-user': 'carol@example.com' })).status).toBe(200);
      expect((await get(c, '/api/summary', { 'x-forwarded-user': '' })).status).toBe(401);
      expect((await get(c, '/api/summary', { 'x-remote-user': 'carol' })).status).toBe(401);
      expect(await liveUpgrade(c, { 'x-forwarded-user': 'carol' })).toBe(101);
    });

    it('leaves agents to their own tokens at /agent', async () => {
      const c = await closedCollector();
      const { token } = c.tokens.create('kvm-01');
      const ws = new WebSocket(c.agentUrl, { headers: { authorization: `Bearer ${token}` } });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      ws.close();
    });
  });

  describe('AccessGuard on single requests', () => {
    let db: Db;
    let operators: OperatorTokens;
    let good: string;
    beforeEach(async () => {
      db = openDatabase(await databases.target(backend), { create: true });
      operators = new OperatorTokens(db);
      good = operators.create('alice').token;
    });
    afterEach(() => db.close());

    const incoming = (headers: Record<string, string>, extra: { method?: string; encrypted?: boolean } = {}) =>
      ({
        headers,
        method: extra.method ?? 'GET',
        socket: { encrypted: extra.encrypted },
      }) as unknown as IncomingMessage;
    const url = (pathAndQuery: string) => new URL(pathAndQuery, 'http://collector.example');
    const open = () => new AccessGuard(operators, { requireToken: false });
    const closed = (trustProxyHeader?: string) => new AccessGuard(operators, { requireToken: true, trustProxyHeader });

    it('answers an open collector only under a loopback name, whatever the port (DNS rebinding)', () => {
      for (const host of ['127.0.0.1:8600', '127.0.0.1', '[::1]:8600', '[::1]', 'localhost:8600', 'app.localhost']) {
        expect(open().check(incoming({ host }), url('/')), host).toEqual({ ok: true, operator: null });
      }
      for (const host of [
        'evil.example',
        'evil.example:8600',
        '10.0.0.5:8600',
        'localhost.evil.example',
        '[fe80::1]:8600',
      ]) {
        expect(open().check(incoming({ host }), url('/')), host).toEqual({
          ok: false,
          status: 403,
          code: 'HOST_NOT_ALLOWED',
          message: `this collector is bound to loopback and answers only to 127.0.0.1, [::1] or localhost, not "${host}"`,
        });
      }
      expect(open().check(incoming({}), url('/'))).toEqual({ ok: true, operator: null });
    });

    it('reads the bearer token only as "Bearer <token>", any case, any spacing', () => {
      const check = (authorization: string) => closed().check(incoming({ authorization }), url('/api/summary'));
      expect(check(`Bearer ${good}`)).toEqual({ ok: true, operator: 'alice' });
      expect(check(`bearer   ${good}`)).toEqual({ ok: true, operator: 'alice' });
      for (const bad of [`Basic ${good}`, `XBearer ${good}`, `Bearer ${good} extra`, 'Bearer ']) {
        expect(check(bad), bad).toMatchObject({ ok: false, status: 401, code: 'UNAUTHORIZED' });
      }
      expect(check('Bearer hvo_wrong')).toEqual({
        ok: false,
        status: 401,
        code: 'TOKEN_REJECTED',
        message: 'the Authorization bearer token is not an active operator token (hvmap tokens list shows them)',
      });
    });

    it("finds the session cookie among others, and ignores one that only ends with the cookie's name", () => {
      const check = (cookie: string) => closed().check(incoming({ cookie }), url('/'));
      expect(check(`a=1; ${OPERATOR_COOKIE}=${encodeURIComponent(good)}; b=2`)).toEqual({
        ok: true,
        operator: 'alice',
      });
      expect(check(`x${OPERATOR_COOKIE}=${good}`)).toMatchObject({ code: 'UNAUTHORIZED' });
      expect(check(`=${good}; ${OPERATOR_COOKIE}`)).toMatchObject({ code: 'UNAUTHORIZED' });
      expect(check(`${OPERATOR_COOKIE}=%E0%A4%A`)).toMatchObject({ code: 'UNAUTHORIZED' });
      expect(check(`${OPERATOR_COOKIE}=hvo_wrong`)).toMatchObject({
        code: 'TOKEN_REJECTED',
        message: 'the session cookie is not an active operator token (hvmap tokens list shows them)',
      });
    });

    it("sets the sign-in cookie Secure only over TLS, its own or a proxy's, and keeps the rest of the query", () => {
      const signIn = (headers: Record<string, string>, encrypted?: boolean) =>
        closed().check(incoming(headers, { encrypted }), url(`/hosts?view=a&token=${good}`));
      const plain = signIn({});
      expect(plain).toEqual({
        ok: 'redirect',
        location: '/hosts?view=a',
        cookie: `${OPERATOR_COOKIE}=${good}; Path=/; HttpOnly; SameSite=Strict; Max-Age=604800`,
      });
      for (const tls of [signIn({}, true), signIn({ 'x-forwarded-proto': 'https' })]) {
        expect(tls).toMatchObject({ ok: 'redirect', cookie: expect.stringMatching(/; Secure$/) });
      }
      expect(signIn({ 'x-forwarded-proto': 'http' })).toEqual(plain);
      // Only a GET is redirected; another method just gets its answer.
      expect(closed().check(incoming({}, { method: 'POST' }), url(`/api/x?token=${good}`))).toEqual({
        ok: true,
        operator: 'alice',
      });
      expect(closed().check(incoming({}), url('/?token=hvo_wrong'))).toMatchObject({
        code: 'TOKEN_REJECTED',
        message: 'the token in the URL is not an active operator token (hvmap tokens list shows them)',
      });
    });

    it("takes the proxy's user only from the configured header, trimmed, and not when empty", () => {
      expect(closed('X-Remote-User').check(incoming({ 'x-remote-user': '  bob ' }), url('/'))).toEqual({
        ok: true,
        operator: 'bob',
      });
      expect(closed('X-Remote-User').check(incoming({ 'x-remote-user': '  ' }), url('/'))).toMatchObject({
        code: 'UNAUTHORIZED',
      });
      expect(closed().check(incoming({ 'x-remote-user': 'bob' }), url('/'))).toMatchObject({ code: 'UNAUTHORIZED' });
    });

    it("accepts a WebSocket from the collector's own page or without an Origin, and refuses another origin", () => {
      const guard = closed();
      expect(guard.sameOrigin(incoming({ host: '127.0.0.1:8600' }))).toBe(true);
      expect(guard.sameOrigin(incoming({ host: '127.0.0.1:8600', origin: 'http://127.0.0.1:8600' }))).toBe(true);
      expect(guard.sameOrigin(incoming({ host: '127.0.0.1:8600', origin: 'http://evil.example' }))).toBe(false);
      expect(guard.sameOrigin(incoming({ host: '127.0.0.1:8600', origin: 'not a url' }))).toBe(false);
    });
  });
});
