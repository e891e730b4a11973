/**
 * Two collectors on one real PostgreSQL database, and a real agent process (real virsh, libvirt's
 * test driver) given both: the page of one follows what the agent sends to the other, the agent
 * moves to the second when the first goes and back when it returns, and nothing is counted twice.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { openDatabase } from '../../collector/src/store/db.js';
import { TokenStore } from '../../collector/src/store/tokens.js';
import { connectPeer } from '../helpers/agent-peer.js';
import { inventory as fleetInventory, HYPERVISORS } from '../helpers/fleet.js';
import { agentArgs, guests, writeHost } from '../helpers/kvm-host.js';
import { esxiRow, localSvvpFile } from '../helpers/local-catalog.js';
import { AGENT_CLI, COLLECTOR_CLI, startCli, stopProcess, waitFor } from '../helpers/processes.js';
import { databaseTargets } from '../helpers/store-backends.js';

/** One PostgreSQL server for this file (started on first use), a database per test. */
const databases = databaseTargets();
let dir: string;
const collectors: RunningCollector[] = [];
const children: ReturnType<typeof startCli>[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c)));
  await Promise.all(collectors.splice(0).map((c) => c.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function collectorOn(
  db: string,
  listen = '127.0.0.1:0',
  extra: Partial<Parameters<typeof startCollector>[0]> = {},
): Promise<RunningCollector> {
  const c = await startCollector({ db, listen, logger: pino({ level: 'silent' }), intervalSec: 1, ...extra });
  collectors.push(c);
  return c;
}

/** vm000…vm(n-1), on RHEL 9.2 unless `osinfo` says otherwise for the first. */
function hostGuests(n: number, firstOsinfo?: string) {
  const list = guests(n);
  if (firstOsinfo) list[0] = { ...list[0], osinfo: firstOsinfo };
  return list;
}

/** The agent's host (kvm-ha): its guests rewritten, as an administrator's change. */
const writeNode = (list: ReturnType<typeof guests>) => writeHost(dir, 'kvm-ha', list);

function startAgent(urls: string[], token: string, failbackSec: number) {
  const [first, ...fallbacks] = urls;
  const extra = [
    ...fallbacks.flatMap((u) => ['--collector', u]),
    '--failback',
    String(failbackSec),
    '--max-backoff',
    '2',
  ];
  const agent = startCli(AGENT_CLI, agentArgs(first, path.join(dir, 'kvm-ha'), extra), { HVMAP_TOKEN: token });
  children.push(agent);
  return agent;
}

/** A page's live feed (/live): the `changed` messages it receives, with when. */
async function followPage(c: RunningCollector) {
  const ws = new WebSocket(`${c.url.replace('http', 'ws')}/live`);
  const changed: { at: number; hosts: string[] | null }[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string; hosts?: string[] | null };
    if (m.type === 'changed') changed.push({ at: Date.now(), hosts: m.hosts ?? null });
  });
  await new Promise((resolve) => ws.once('open', resolve));
  return { changed, close: () => ws.close() };
}

const presentGuests = (c: RunningCollector) =>
  (
    c.db.prepare('SELECT name, os_id FROM guests WHERE removed_at IS NULL ORDER BY name').all() as {
      name: string;
      os_id: string;
    }[]
  ).map((g) => `${g.name}:${g.os_id}`);

describe('two collectors on one PostgreSQL database', () => {
  it('the page of one follows what an agent sends to the other, within 2 s', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-ha-'));
    const db = await databases.target('postgres');
    const [a, b] = [await collectorOn(db), await collectorOn(db)];
    writeNode(hostGuests(1));
    const agent = startAgent([a.agentUrl, b.agentUrl], a.tokens.create('kvm-ha').token, 3600);
    await waitFor(
      () => presentGuests(b),
      (g) => g.length === 1,
      20_000,
      'the first snapshot',
    ).catch((err) => {
      throw new Error(`${err.message}\nagent:\n${agent.output()}`);
    });
    expect(a.sessions.isConnected('kvm-ha')).toBe(true);

    const page = await followPage(b);
    const storedByA: number[] = [];
    a.events.on('changes', () => storedByA.push(Date.now()));
    writeNode(hostGuests(2, 'http://redhat.com/rhel/9.4'));
    await waitFor(
      () => storedByA.length,
      (n) => n > 0,
      10_000,
      'collector A to store the edit',
    );
    await waitFor(
      () => page.changed.length,
      (n) => n > 0,
      2_000,
      "collector B's page to hear of it",
    );
    expect(page.changed[0].at - storedByA[0]).toBeLessThan(2_000);
    const { hostname } = b.db.prepare('SELECT hostname FROM hosts').get() as { hostname: string };
    expect(page.changed[0].hosts).toEqual([hostname]);
    // B answers from its live map and its store, which follow A's writes.
    const matrix = (await (await fetch(`${b.url}/api/matrix`)).json()) as { cells: { os: string; guests: number }[] };
    expect(JSON.stringify(matrix)).toContain('rhel-9.4');
    // B tells that the agent is connected, to A (read every 2 s).
    await waitFor(
      async () => {
        const agents = (await (await fetch(`${b.url}/api/agents`)).json()) as {
          items: { name: string; connected: boolean }[];
        };
        return agents.items.find((x) => x.name === 'kvm-ha')?.connected;
      },
      (connected) => connected === true,
      5_000,
      'B to show the agent connected',
    );
    expect(b.sessions.isConnected('kvm-ha')).toBe(false);
    page.close();
  });

  it('the agent moves to the second when the first goes, back when it returns; every change counted once', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-ha-'));
    const db = await databases.target('postgres');
    let a = await collectorOn(db);
    const b = await collectorOn(db);
    const aListen = new URL(a.url).host;
    writeNode(hostGuests(1));
    const agent = startAgent([a.agentUrl, b.agentUrl], a.tokens.create('kvm-ha').token, 3);
    await waitFor(
      () => presentGuests(b),
      (g) => g.length === 1,
      20_000,
      'the first snapshot',
    );

    // A goes; an edit meanwhile reaches the store through B.
    await a.close();
    collectors.splice(collectors.indexOf(a), 1);
    writeNode(hostGuests(2));
    await waitFor(
      () => presentGuests(b),
      (g) => g.length === 2,
      15_000,
      'the edit through B',
    ).catch((err) => {
      throw new Error(`${err.message}\nagent:\n${agent.output()}`);
    });
    expect(b.sessions.isConnected('kvm-ha')).toBe(true);

    // A comes back on its address; after the failback time the agent is there again.
    a = await collectorOn(db, aListen);
    await waitFor(() => a.sessions.isConnected('kvm-ha'), Boolean, 15_000, 'the agent back on A');
    writeNode(hostGuests(3));
    await waitFor(
      () => presentGuests(a),
      (g) => g.length === 3,
      15_000,
      'an edit through A again',
    );

    const kinds = b.db.prepare('SELECT kind, guest_name FROM changes ORDER BY id').all() as {
      kind: string;
      guest_name: string | null;
    }[];
    expect(kinds.filter((k) => k.kind === 'guest-added').map((k) => k.guest_name)).toEqual(['vm000', 'vm001', 'vm002']);
    expect(kinds.filter((k) => k.kind === 'host-added')).toHaveLength(1);
  });

  it('a catalog put in force on one is loaded by the others, and one with other files says so', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-ha-'));
    const db = await databases.target('postgres');
    const [aDir, bDir] = ['a', 'b'].map((name) => path.join(dir, name));
    for (const d of [aDir, bDir]) mkdirSync(d);
    const bLog: { code?: string; catalog?: string; elsewhere?: string }[] = [];
    const a = await collectorOn(db, undefined, { localCatalogDir: aDir });
    const b = await collectorOn(db, undefined, {
      localCatalogDir: bDir,
      logger: pino({ level: 'info' }, { write: (line: string) => bLog.push(JSON.parse(line)) }),
    });
    const inForceOnB: string[] = [];
    b.events.on('catalog', (version) => inForceOnB.push(version));

    // The operator adds one row to both collectors' files and reloads one of them.
    for (const d of [aDir, bDir]) writeFileSync(path.join(d, 'ms-svvp.json'), localSvvpFile([esxiRow]));
    const reloaded = a.reloadCatalog();
    if (!reloaded.ok) throw new Error(reloaded.error);
    await waitFor(
      () => inForceOnB,
      (v) => v.length > 0,
      5_000,
      'B to load the catalog',
    );
    expect(inForceOnB).toEqual([reloaded.version]);

    // Then removes it from A's files only: B keeps what its files say, and says they differ.
    rmSync(path.join(aDir, 'ms-svvp.json'));
    const again = a.reloadCatalog();
    if (!again.ok) throw new Error(again.error);
    const differs = await waitFor(
      () => bLog.find((l) => l.code === 'CATALOG_DIFFERS'),
      Boolean,
      5_000,
      'B to say its catalog differs',
    );
    expect(differs).toMatchObject({ catalog: reloaded.version, elsewhere: again.version });
  });

  it('sends each alert transition to the webhook once, whichever collector saw it', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-ha-'));
    const received: { event: string; key: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        const parsed = JSON.parse(body) as { event: string; alert: { key: string } };
        received.push({ event: parsed.event, key: parsed.alert.key });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const url = await databases.target('postgres');
    const db = openDatabase(url);
    try {
      // Two collector processes: their periodic checks and their webhook queues really run side by side.
      const serve = () => {
        const c = startCli(COLLECTOR_CLI, [
          'serve',
          '--db',
          url,
          '--listen',
          '127.0.0.1:0',
          '--webhook',
          hook,
          '--silent-after',
          '1',
        ]);
        children.push(c);
        return waitFor(
          async () => /agents: (ws:\/\/\S+?);/.exec(c.output())?.[1] ?? '',
          Boolean,
          15_000,
          'a collector',
        );
      };
      const [a, b] = await Promise.all([serve(), serve()]);
      const token = new TokenStore(db).create('hv-01').token;
      // One guest on Hyper-V 2019 (test/helpers/fleet.ts), its OS given per snapshot.
      const inventory = (seq: number, os: string) =>
        fleetInventory(
          {
            agent: 'hv-01',
            hostname: 'hv-01.example',
            hypervisor: HYPERVISORS.hyperV2019,
            guests: [{ name: 'app01', uuid: 'u-1', os }],
          },
          seq,
        );
      const connect = async (agentUrl: string) => {
        const peer = await connectPeer(agentUrl, token);
        peer.send({ type: 'hello', protocol: 1, agentId: 'agent-hv-01', agentVersion: '0.1.0', hostname: 'hv-01' });
        await peer.next('welcome');
        return peer;
      };
      // Windows Server 2025 on Hyper-V 2019 is not supported: firing, sent through A.
      let peer = await connect(a);
      peer.send(inventory(1, 'http://microsoft.com/win/2k25'));
      await peer.next('ack');
      peer.ws.close();
      // The host falls silent (seen by the periodic check of whichever collector holds its lock),
      // then comes back through B with a supported guest: both alerts resolve.
      await waitFor(
        () => received.filter((r) => r.event === 'firing').length,
        (n) => n >= 2,
        25_000,
        'host-silent',
      );
      peer = await connect(b);
      peer.send(inventory(2, 'http://redhat.com/rhel/8.2'));
      await peer.next('ack');
      // Heard from every half second, as an agent whose scans find nothing new.
      const heartbeats = setInterval(() => peer.send({ type: 'heartbeat', seq: 2 }), 500);
      try {
        await waitFor(
          () => received.filter((r) => r.event === 'resolved').length,
          (n) => n >= 2,
          25_000,
          'resolutions',
        );
      } finally {
        clearInterval(heartbeats);
      }
      peer.ws.close();
      // Time for any second copy to arrive (the host falling silent again meanwhile is a transition too).
      await new Promise((r) => setTimeout(r, 3_000));

      // Every transition stored once (an alert's events alternate), and each sent exactly once.
      const rows = db
        .prepare(
          `SELECT a.alert_key AS key, d.event, d.status FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
           ORDER BY d.id`,
        )
        .all() as { key: string; event: string; status: string }[];
      for (const key of new Set(rows.map((r) => r.key))) {
        const events = rows.filter((r) => r.key === key).map((r) => r.event);
        expect(events, key).toEqual(events.map((_, i) => (i % 2 === 0 ? 'firing' : 'resolved')));
      }
      const count = (list: { key: string; event: string }[]) => list.map((r) => `${r.event} ${r.key}`).sort();
      expect(count(received)).toEqual(count(rows.filter((r) => r.status === 'delivered')));
      expect(count(rows)).toEqual(
        expect.arrayContaining([
          'firing guest-not-certified|hv-01|u-1',
          'firing host-silent|hv-01|',
          'resolved guest-not-certified|hv-01|u-1',
          'resolved host-silent|hv-01|',
        ]),
      );
    } finally {
      db.close();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  }, 90_000);
});
