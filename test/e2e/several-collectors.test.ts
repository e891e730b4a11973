/**
 * Two collectors on one real PostgreSQL database, and a real agent process (real virsh, libvirt's
 * test driver) given both: the page of one follows what the agent sends to the other, the agent
 * moves to the second when the first goes and back when it returns, and nothing is counted twice.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { type DemoGuest, nodeXml } from '../../collector/src/demo/fleet.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { AGENT_CLI, startCli, stopProcess, waitFor } from '../helpers/processes.js';

const RHEL_92 = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="9.2"\n';

let server: TestPostgres;
let dir: string;
const collectors: RunningCollector[] = [];
const children: ReturnType<typeof startCli>[] = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(() => server?.destroy());
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c)));
  await Promise.all(collectors.splice(0).map((c) => c.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function collectorOn(db: string, listen = '127.0.0.1:0'): Promise<RunningCollector> {
  const c = await startCollector({ db, listen, logger: pino({ level: 'silent' }), intervalSec: 1 });
  collectors.push(c);
  return c;
}

function guest(n: number, osinfo = 'http://redhat.com/rhel/9.2'): DemoGuest {
  return {
    name: `vm${n}`,
    uuid: `11111111-2222-4333-8444-5555555555${String(n).padStart(2, '0')}`,
    osinfo,
    memoryMiB: 1024,
    vcpus: 1,
    running: true,
  };
}

function writeNode(guests: DemoGuest[]): void {
  const file = path.join(dir, 'node.xml');
  writeFileSync(`${file}.tmp`, nodeXml({ name: 'kvm-ha', osRelease: RHEL_92, guests }));
  renameSync(`${file}.tmp`, file);
}

function startAgent(urls: string[], token: string, failbackSec: number) {
  mkdirSync(path.join(dir, 'root', 'etc'), { recursive: true });
  writeFileSync(path.join(dir, 'root', 'etc', 'os-release'), RHEL_92);
  const agent = startCli(
    AGENT_CLI,
    [
      'run',
      ...urls.flatMap((u) => ['--collector', u]),
      '--failback',
      String(failbackSec),
      '--max-backoff',
      '2',
      '--libvirt-uri',
      `test://${path.join(dir, 'node.xml')}`,
      '--state-dir',
      path.join(dir, 'state'),
      '--interval',
      '1',
      '--root',
      path.join(dir, 'root'),
    ],
    { HVMAP_TOKEN: token },
  );
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
    const db = await server.createDatabase();
    const [a, b] = [await collectorOn(db), await collectorOn(db)];
    writeNode([guest(1)]);
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
    writeNode([guest(1, 'http://redhat.com/rhel/9.4'), guest(2)]);
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
    const db = await server.createDatabase();
    let a = await collectorOn(db);
    const b = await collectorOn(db);
    const aListen = new URL(a.url).host;
    writeNode([guest(1)]);
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
    writeNode([guest(1), guest(2)]);
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
    writeNode([guest(1), guest(2), guest(3)]);
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
    expect(kinds.filter((k) => k.kind === 'guest-added').map((k) => k.guest_name)).toEqual(['vm1', 'vm2', 'vm3']);
    expect(kinds.filter((k) => k.kind === 'host-added')).toHaveLength(1);
  });
});
