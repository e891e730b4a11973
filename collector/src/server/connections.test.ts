import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Inventory } from '@hvmap/shared';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentPeer, connectPeer } from '../../../test/helpers/agent-peer.js';
import { waitFor } from '../../../test/helpers/processes.js';
import { type CollectorOptions, type RunningCollector, startCollector } from '../collector.js';

let dir: string;
let collector: RunningCollector;
const sockets: Socket[] = [];
const peers: AgentPeer[] = [];

async function start(extra: Partial<CollectorOptions> = {}): Promise<RunningCollector> {
  collector = await startCollector({
    db: path.join(dir, 'hvmap.db'),
    listen: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    ...extra,
  });
  return collector;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-connections-'));
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const p of peers.splice(0)) p.ws.terminate();
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

function inventory(hostname: string, seq: number, os: string): Inventory {
  return {
    type: 'inventory',
    seq,
    collectedAt: new Date().toISOString(),
    host: { hostname, os: { platform: 'linux' }, cpu: {} },
    hypervisor: { driver: 'libvirt', product: 'kvm', hostOs: 'Red Hat Enterprise Linux 9.2 (Plow)' },
    guests: [1, 2, 3].map((i) => ({
      uuid: `${hostname}-guest-${i}`,
      name: `vm${i}`,
      state: 'running' as const,
      os: { evidence: [{ source: 'libosinfo' as const, text: os }] },
    })),
    errors: [],
    partial: false,
  };
}

/** An agent speaking protocol v1 from `localAddress`: hello, one snapshot, its ack. */
async function reportFrom(localAddress: string, token: string, hostname: string, seq: number, os: string) {
  const peer = await connectPeer(collector.agentUrl, token, { localAddress });
  peers.push(peer);
  peer.send({ type: 'hello', protocol: 1, agentId: `id-${hostname}`, agentVersion: '0.1.0', hostname });
  await peer.next('welcome');
  peer.send(inventory(hostname, seq, os));
  expect(await peer.next('ack')).toEqual({ type: 'ack', seq });
  return peer;
}

/** Opens a TCP connection that never sends a byte; resolves once connected, with whether the server closed it. */
function idleSocket(port: number, localAddress: string): Promise<{ socket: Socket; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    sockets.push(socket);
    let closed = false;
    // A refused socket is reset by the server: that is the expected outcome, not an error.
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    // Read (and drop) whatever comes, so the collector's FIN is seen.
    socket.resume();
    socket.once('connect', () => resolve({ socket, closed: () => closed }));
    socket.once('error', reject);
  });
}

function metrics(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', localAddress }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

const RHEL92 = 'http://redhat.com/rhel/9.2';
const RHEL94 = 'http://redhat.com/rhel/9.4';

describe('connection limits', () => {
  it('refuses idle connections from one address beyond the limit, reaps the idle ones, and keeps serving agents', async () => {
    const limit = 64;
    const idle = 2000;
    await start({ maxConnectionsPerAddress: limit, headersTimeoutMs: 5_000 });
    const port = Number(new URL(collector.url).port);
    const token = collector.tokens.create('kvm-01').token;

    const opened: Awaited<ReturnType<typeof idleSocket>>[] = [];
    for (let i = 0; i < idle; i += 250) {
      const batch = Array.from({ length: Math.min(250, idle - i) }, () => idleSocket(port, '127.0.0.1'));
      opened.push(...(await Promise.all(batch)));
    }
    await waitFor(
      () => opened.filter((o) => o.closed()).length,
      (n) => n === idle - limit,
      10_000,
      'every connection beyond the limit closed by the collector',
    );
    expect(collector.connections.refusedPerAddress).toBe(idle - limit);

    // The flooded address gets nothing more; an agent elsewhere is served as usual.
    await expect(connectPeer(collector.agentUrl, token, { localAddress: '127.0.0.1' })).rejects.toThrow();
    const agent = await reportFrom('127.0.0.2', token, 'kvm-01.example', 1, RHEL92);
    const text = await metrics(port, '127.0.0.3');
    expect(text).toContain(`hvmap_connections_refused_total{reason="per_address_limit"} ${idle - limit + 1}`);

    // Sockets that never send a request are closed at the headers deadline; the agent's WebSocket stays.
    await waitFor(
      () => opened.filter((o) => o.closed()).length,
      (n) => n === idle,
      15_000,
      'the idle connections reaped',
    );
    expect(collector.connections.clientErrors.ERR_HTTP_REQUEST_TIMEOUT).toBe(limit);
    expect(agent.ws.readyState).toBe(agent.ws.OPEN);
    agent.send(inventory('kvm-01.example', 2, RHEL94));
    expect(await agent.next('ack')).toEqual({ type: 'ack', seq: 2 });
    expect(collector.sessions.connected).toBe(1);
    // The address that flooded is welcome again once its sockets are gone.
    const health = await metrics(port, '127.0.0.1');
    expect(health).toContain('hvmap_http_client_errors_total{code="ERR_HTTP_REQUEST_TIMEOUT"} 64');
  }, 60_000);

  it('closes a connection whose headers trickle in slower than the deadline, answering 408', async () => {
    await start({ headersTimeoutMs: 1_000 });
    const port = Number(new URL(collector.url).port);
    const { socket, closed } = await idleSocket(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => {
      answer += d;
    });
    socket.write('GET /api/summary HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const trickle = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 200);
    try {
      await waitFor(closed, (c) => c, 10_000, 'the slow client closed');
    } finally {
      clearInterval(trickle);
    }
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(collector.connections.clientErrors.ERR_HTTP_REQUEST_TIMEOUT).toBe(1);
  });
});

describe('dead and stalled agents', () => {
  it('terminates an agent connection that stops reading: its pings go unanswered', async () => {
    await start({ pingIntervalMs: 200 });
    const token = collector.tokens.create('kvm-01').token;
    const peer = await connectPeer(collector.agentUrl, token);
    peers.push(peer);
    peer.send({ type: 'hello', protocol: 1, agentId: 'id-1', agentVersion: '0.1.0', hostname: 'kvm-01' });
    await peer.next('welcome');
    expect(collector.sessions.connected).toBe(1);
    // A peer that reads nothing more, like one stalled or gone without a FIN: no pong comes back.
    (peer.ws as unknown as { _socket: Socket })._socket.pause();
    await waitFor(
      () => collector.sessions.connected,
      (n) => n === 0,
      5_000,
      'the stalled agent cut off',
    );
    await waitFor(
      () => collector.connections.open,
      (n) => n === 0,
      5_000,
      'its socket closed',
    );
  });
});

describe('thundering herd', () => {
  it('absorbs 200 agents reconnecting at once after a collector restart: every hello welcomed, every snapshot stored once', async () => {
    const agents = 200;
    await start();
    const port = new URL(collector.url).port;
    const tokens = collector.db.transaction(() =>
      Array.from({ length: agents }, (_, i) => collector.tokens.create(`kvm-${i}`).token),
    )();
    // Each agent from its own address, as hosts are; 127.0.0.0/8 is all loopback on Linux.
    const from = (i: number) => `127.9.${i >> 8}.${(i & 255) + 1}`;
    const hostname = (i: number) => `kvm-${i}.example`;
    await Promise.all(tokens.map((t, i) => reportFrom(from(i), t, hostname(i), 1, RHEL92)));

    // Restart: every connection drops; the same port comes back on the same database.
    await collector.close();
    peers.splice(0);
    await start({ listen: `127.0.0.1:${port}` });
    const started = performance.now();
    await Promise.all(tokens.map((t, i) => reportFrom(from(i), t, hostname(i), 2, RHEL94)));
    const seconds = (performance.now() - started) / 1000;

    expect(collector.sessions.connected).toBe(agents);
    expect(collector.sessions.counters.snapshotsStored).toBe(agents);
    expect(collector.connections.refusedPerAddress).toBe(0);
    const rows = collector.db
      .prepare(
        `SELECT h.last_seq AS seq, COUNT(c.id) AS changes FROM agents a JOIN hosts h ON h.agent_name = a.name
         LEFT JOIN changes c ON c.host_id = h.id AND c.kind = 'os-changed' GROUP BY a.name`,
      )
      .all() as { seq: number; changes: number }[];
    expect(rows).toHaveLength(agents);
    // Each host's three guests went from RHEL 9.2 to 9.4 exactly once.
    expect(rows.every((r) => r.seq === 2 && r.changes === 3)).toBe(true);
    expect(seconds).toBeLessThan(20);
  }, 60_000);
});
