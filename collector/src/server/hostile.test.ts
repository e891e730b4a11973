import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Inventory } from '@hvmap/shared';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectPeer } from '../../../test/helpers/agent-peer.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { readReport } from '../store/report.js';
import { hashToken } from '../store/tokens.js';

let dir: string;
let collector: RunningCollector;
let token: string;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-hostile-'));
  collector = await startCollector({
    db: path.join(dir, 'hvmap.db'),
    listen: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
  });
  token = collector.tokens.create('kvm-01').token;
});
afterEach(async () => {
  await collector.close();
  rmSync(dir, { recursive: true, force: true });
});

const hello = { type: 'hello', protocol: 1, agentId: 'agent-A', agentVersion: '0.1.0', hostname: 'kvm-01' };

function inventory(seq: number, count: number): Inventory {
  return {
    type: 'inventory',
    seq,
    collectedAt: new Date().toISOString(),
    host: { hostname: 'kvm-01', os: { platform: 'linux' }, cpu: {} },
    hypervisor: {
      driver: 'libvirt',
      product: 'kvm',
      hostOs: 'Red Hat Enterprise Linux 9.2 (Plow)',
      hostOsFields: { ID: 'rhel', VERSION_ID: '9.2' },
    },
    guests: Array.from({ length: count }, (_, i) => ({
      uuid: `u-${seq}-${i}`,
      name: `vm-${seq}-${i}-${'x'.repeat(100)}`,
      state: 'running' as const,
      os: { evidence: [{ source: 'libosinfo' as const, text: 'http://redhat.com/rhel/9.2' }] },
    })),
    errors: [],
    partial: false,
  };
}

async function welcomed() {
  const peer = await connectPeer(collector.agentUrl, token);
  peer.send(hello);
  await peer.next('welcome');
  return peer;
}

/** A deterministic generator, so a failing fuzz case can be replayed from its seed. */
function prng(seed: number) {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Mutates a valid snapshot the way a broken or hostile agent might: types, shapes, sizes, garbage. */
function mutate(valid: Record<string, unknown>, rand: () => number): string {
  const text = JSON.stringify(valid);
  switch (Math.floor(rand() * 6)) {
    case 0: // truncated JSON
      return text.slice(0, Math.floor(rand() * text.length));
    case 1: {
      // a field of the wrong type
      const keys = ['seq', 'guests', 'host', 'hypervisor', 'errors', 'partial', 'type', 'collectedAt'];
      const key = keys[Math.floor(rand() * keys.length)];
      const values = [null, 42, 'x', [], {}, true, -1, 1.5];
      return JSON.stringify({ ...valid, [key]: values[Math.floor(rand() * values.length)] });
    }
    case 2: {
      // a guest with a bad member
      const guest = { ...(valid.guests as Record<string, unknown>[])[0] };
      const keys = ['uuid', 'name', 'state', 'os', 'vcpus', 'memoryBytes'];
      guest[keys[Math.floor(rand() * keys.length)]] = [{}, -5, 'z'.repeat(5000), null][Math.floor(rand() * 4)];
      return JSON.stringify({ ...valid, guests: [guest] });
    }
    case 3: // random bytes
      return Array.from({ length: 1 + Math.floor(rand() * 200) }, () =>
        String.fromCharCode(Math.floor(rand() * 0xffff)),
      ).join('');
    case 4: // an unknown kind, or none
      return JSON.stringify({ ...valid, type: ['inventry', '', 'ack', 'welcome', 'rescan'][Math.floor(rand() * 5)] });
    default: // deep nesting
      return `${'['.repeat(1 + Math.floor(rand() * 5000))}${']'.repeat(10)}`;
  }
}

describe('hostile input', () => {
  it('refuses every frame of a bounded fuzz run with a reason, counts it, and keeps what is stored', async () => {
    const setup = await welcomed();
    setup.send(inventory(1, 3));
    await setup.next('ack');
    setup.ws.close();
    const before = readReport(collector.db, { includeRemoved: false });
    const rand = prng(20261126);
    const valid = inventory(2, 1) as unknown as Record<string, unknown>;
    const frames = 150;
    let refused = 0;
    for (let i = 0; i < frames; i++) {
      const frame = mutate(valid, rand);
      const peer = await welcomed();
      peer.send(frame);
      const outcome = await Promise.race([peer.next('error').then((e) => e), peer.next('ack').then(() => null)]);
      if (outcome === null) {
        // A mutation that is still a valid snapshot (e.g. partial: true) is fine; put the map back.
        peer.send({ ...inventory(1000 + i, 3), guests: inventory(1, 3).guests });
        await peer.next('ack');
      } else {
        expect((outcome as { code: string }).code).toMatch(/^(BAD_JSON|BAD_FRAME|UNKNOWN_FRAME)$/);
        refused++;
      }
      peer.ws.close();
      await peer.closed;
    }
    expect(refused).toBeGreaterThan(frames * 0.8);
    const counted = Object.values(collector.sessions.counters.rejectedByCode).reduce((a, b) => a + b, 0);
    expect(counted).toBe(refused);
    const after = readReport(collector.db, { includeRemoved: false });
    expect(after.guests.map((g) => [g.uuid, g.status, g.removedAt])).toEqual(
      before.guests.map((g) => [g.uuid, g.status, g.removedAt]),
    );
  });

  it('cuts off a flood of frames from one agent with RATE_LIMITED', async () => {
    const peer = await welcomed();
    for (let i = 0; i < 100; i++) peer.send({ type: 'heartbeat', seq: 0 });
    expect(await peer.next('error')).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await peer.closed).code).toBe(4429);
    const metrics = await (await fetch(`${collector.url}/metrics`)).text();
    expect(metrics).toContain('hvmap_ingest_rejected_total{code="RATE_LIMITED"} 1');
  });

  it('acknowledges a replayed seq without applying it twice', async () => {
    const peer = await welcomed();
    peer.send(inventory(5, 2));
    await peer.next('ack');
    peer.send(inventory(5, 7));
    expect(await peer.next('ack')).toEqual({ type: 'ack', seq: 5 });
    peer.send(inventory(3, 9));
    expect(await peer.next('ack')).toEqual({ type: 'ack', seq: 3 });
    expect(readReport(collector.db).guests).toHaveLength(2);
    expect(collector.sessions.counters.snapshotsDuplicate).toBe(2);
    peer.ws.close();
  });

  it('refuses writes while the database is read-only, keeps serving reads, and stores the resent snapshot after', async () => {
    const first = await welcomed();
    first.send(inventory(1, 2));
    await first.next('ack');
    first.ws.close();
    // SQLite's own read-only switch: every write fails with SQLITE_READONLY, as on a read-only mount.
    collector.db.pragma('query_only = ON');
    const peer = await welcomed();
    peer.send(inventory(2, 5));
    expect(await peer.next('error')).toMatchObject({
      code: 'STORE_FAILED',
      message: expect.stringMatching(/readonly|read-only/i),
    });
    expect((await peer.closed).code).toBe(4503);
    const report = (await (await fetch(`${collector.url}/api/report`)).json()) as { guests: unknown[] };
    expect(report.guests).toHaveLength(2);
    collector.db.pragma('query_only = OFF');
    const again = await welcomed();
    again.send(inventory(2, 5));
    expect(await again.next('ack')).toEqual({ type: 'ack', seq: 2 });
    expect(readReport(collector.db, { includeRemoved: false }).guests).toHaveLength(5);
    again.ws.close();
  });

  it('refuses writes when the disk is full, keeps serving reads, and stores the resent snapshot once space returns', async () => {
    const first = await welcomed();
    first.send(inventory(1, 2));
    await first.next('ack');
    first.ws.close();
    // SQLite's own ceiling on the file's size: the store meets SQLITE_FULL exactly as on a full disk.
    const pages = collector.db.pragma('page_count', { simple: true }) as number;
    collector.db.pragma(`max_page_count = ${pages}`);

    const peer = await welcomed();
    peer.send(inventory(2, 400));
    expect(await peer.next('error')).toMatchObject({ code: 'STORE_FAILED', message: expect.stringMatching(/full/i) });
    expect((await peer.closed).code).toBe(4503);
    const health = await fetch(`${collector.url}/healthz`);
    expect(health.status).toBe(200);
    const report = (await (await fetch(`${collector.url}/api/report`)).json()) as { guests: unknown[] };
    expect(report.guests).toHaveLength(2);

    collector.db.pragma('max_page_count = 1073741823');
    const again = await welcomed();
    again.send(inventory(2, 400));
    expect(await again.next('ack')).toEqual({ type: 'ack', seq: 2 });
    expect(readReport(collector.db, { includeRemoved: false }).guests).toHaveLength(400);
    again.ws.close();
  });
});

/** One raw request, the path sent exactly as written (fetch would normalise `..` away). */
function raw(
  method: string,
  pathAndQuery: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(collector.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path: pathAndQuery, headers }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // A refused upgrade answers with a status, which Node reports as a response too.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('hostile requests', () => {
  it('answers path and query tricks with a 4xx and a reason, counts each, and leaks nothing', async () => {
    const setup = await welcomed();
    setup.send(inventory(1, 3));
    await setup.next('ack');
    setup.ws.close();
    const before = readReport(collector.db);
    const upgrade = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    };
    const tricks: [method: string, path: string, status: number, headers?: Record<string, string>][] = [
      ['GET', '/api/../agent', 404],
      ['GET', '/api/%2e%2e/agent', 404],
      ['GET', '/%2e%2e/%2e%2e/etc/passwd', 404],
      ['GET', '/app.js/../../package.json', 404],
      ['GET', '/..%5c..%5cpackage.json', 404],
      ['GET', '//etc/passwd', 404],
      ['GET', '/api/hosts/..%2f..%2fetc%2fpasswd', 404],
      ['GET', '/api/guests/kvm-01/%00', 404],
      ['GET', '/api/hosts/%E0%A4%A', 400],
      ['GET', '/api/guests?limit=-1', 400],
      ['GET', '/api/guests?limit=1e9', 400],
      ['GET', '/api/guests?offset=abc', 400],
      ['GET', '/api/guests?sort=name;DROP%20TABLE%20guests', 400],
      ['GET', '/api/guests?status=%3Cscript%3Ealert(1)%3C/script%3E', 400],
      ['GET', '/api/report?status=bogus', 400],
      ['GET', '/api/report?format=xml', 400],
      ['GET', `/api/guests?q=${'a'.repeat(9000)}`, 414],
      ['POST', '/api/report', 405],
      ['TRACE', '/', 405],
      ['GET', '/api/summary', 403, { host: 'evil.example' }],
      ['GET', '/api/../agent', 401, upgrade],
      ['GET', '/api/%2e%2e/live/../nothing', 404, upgrade],
    ];
    const secrets = [token, hashToken(token), dir, 'root:x:0', 'SQLITE', '"hvmap-workspace"'];
    for (const [method, p, status, headers] of tricks) {
      const res = await raw(method, p, headers);
      expect(res.status, `${method} ${p.slice(0, 80)}`).toBe(status);
      if (!headers?.upgrade) {
        const body = JSON.parse(res.body) as { error: string; message?: string };
        expect(body.error, p).toMatch(/^[A-Z_]+$/);
        if (status !== 404) expect(body.message, p).toBeTruthy();
      }
      for (const secret of secrets) expect(res.body).not.toContain(secret);
      // No stack trace, whatever went wrong.
      expect(res.body).not.toMatch(/\n\s+at /);
    }
    // A request line beyond Node's header limit never reaches a route: 431 from the parser.
    const huge = await raw('GET', `/api/guests?q=${'a'.repeat(20_000)}`);
    expect(huge.status).toBe(431);

    const refused = Object.values(collector.connections.refusedByStatus).reduce((a, b) => a + b, 0);
    expect(refused).toBe(tricks.length);
    expect(collector.connections.clientErrors.HPE_HEADER_OVERFLOW).toBe(1);
    const metrics = await (await fetch(`${collector.url}/metrics`)).text();
    expect(metrics).toContain('hvmap_http_refused_total{status="404"} 9');
    expect(metrics).toContain('hvmap_http_client_errors_total{code="HPE_HEADER_OVERFLOW"} 1');
    expect(readReport(collector.db)).toEqual(before);
  });

  it("keeps agent A's host intact when agent B's valid token reports A's hostname", async () => {
    const a = await welcomed();
    a.send(inventory(1, 3));
    await a.next('ack');
    const stored = () =>
      collector.db
        .prepare(
          `SELECT g.uuid, g.name, g.removed_at, h.facts_json FROM guests g JOIN hosts h ON h.id = g.host_id
           WHERE h.agent_name = 'kvm-01' ORDER BY g.uuid`,
        )
        .all();
    const before = stored();
    const changesBefore = collector.db.prepare('SELECT * FROM changes ORDER BY id').all();

    // B holds a valid token of its own and claims kvm-01 with an empty host: were it applied to A's
    // host, every guest of A would be marked removed.
    const tokenB = collector.tokens.create('kvm-02').token;
    const b = await connectPeer(collector.agentUrl, tokenB);
    b.send({ ...hello, agentId: 'agent-B' });
    await b.next('welcome');
    b.send({ ...inventory(50, 0), host: { hostname: 'kvm-01', os: { platform: 'linux' }, cpu: { brand: 'B' } } });
    expect(await b.next('ack')).toEqual({ type: 'ack', seq: 50 });
    // A's token in B's hands is refused outright.
    const stolen = await connectPeer(collector.agentUrl, token);
    stolen.send({ ...hello, agentId: 'agent-B' });
    expect(await stolen.next('error')).toMatchObject({ code: 'TOKEN_BOUND' });

    expect(stored()).toEqual(before);
    expect(collector.store.lastSeq('kvm-01')).toBe(1);
    const changesAfter = collector.db.prepare('SELECT * FROM changes ORDER BY id').all();
    expect(changesAfter.slice(0, changesBefore.length)).toEqual(changesBefore);
    // B's report went to B's own host row, under B's agent.
    const hosts = readReport(collector.db).hosts.map((h) => [h.hostname, h.agent.name, h.agent.agentId]);
    expect(hosts).toEqual([
      ['kvm-01', 'kvm-01', 'agent-A'],
      ['kvm-01', 'kvm-02', 'agent-B'],
    ]);
    expect(collector.sessions.counters.rejectedByCode.TOKEN_BOUND).toBe(1);
    a.ws.close();
    b.ws.close();
  });
});
