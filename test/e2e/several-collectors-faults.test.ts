/**
 * Faults of a shared store, with real processes: two `hvmap serve` on one real PostgreSQL database
 * and real agent processes (real virsh, libvirt's test driver) whose hosts keep changing. PostgreSQL
 * restarts under that load; one collector is SIGKILLed. Nothing the agents saw may be lost or counted twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type Db, openDatabase } from '../../collector/src/store/db.js';
import { TokenStore } from '../../collector/src/store/tokens.js';
import { agentArgs, guests, writeHost } from '../helpers/kvm-host.js';
import { AGENT_CLI, COLLECTOR_CLI, startCli, stopProcess, waitFor } from '../helpers/processes.js';
import { databaseTargets } from '../helpers/store-backends.js';

const HOSTS = ['kvm-f0', 'kvm-f1', 'kvm-f2', 'kvm-f3'];
/** Each host grows to this many guests, one more at each edit. */
const FINAL_GUESTS = 8;

/** One PostgreSQL server for this file (started on first use), a database per test. */
const databases = databaseTargets();
let dir: string;
let db: Db | undefined;
const children: ReturnType<typeof startCli>[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c)));
  db?.close();
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** `hvmap serve` on the database; its agents' URL once it listens. */
async function serve(url: string) {
  const child = startCli(COLLECTOR_CLI, ['serve', '--db', url, '--listen', '127.0.0.1:0', '--interval', '1']);
  children.push(child);
  const agentUrl = await waitFor(
    async () => /agents: (ws:\/\/\S+?);/.exec(child.output())?.[1] ?? '',
    Boolean,
    15_000,
    'a collector',
  );
  return { child, agentUrl, pageUrl: agentUrl.replace(/\/agent$/, '/live') };
}

/** A page following the collector's live feed (its periodic reads run only while one does). */
async function followPage(pageUrl: string): Promise<WebSocket> {
  const ws = new WebSocket(pageUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return ws;
}

function startAgents(collectorUrls: (host: number) => string[], tokens: TokenStore) {
  return HOSTS.map((name, i) => {
    writeHost(dir, name, guests(1));
    const [first, ...fallbacks] = collectorUrls(i);
    const extra = [...fallbacks.flatMap((u) => ['--collector', u]), '--max-backoff', '2'];
    const agent = startCli(AGENT_CLI, agentArgs(first, path.join(dir, name), extra), {
      HVMAP_TOKEN: tokens.create(name).token,
    });
    children.push(agent);
    return agent;
  });
}

/** The collectors' JSON log lines. */
function logLines(...collectors: ReturnType<typeof startCli>[]) {
  return collectors
    .flatMap((c) => c.output().split('\n'))
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; time: number; code?: string; agent?: string });
}

/** Guests stored per host, as the shared database holds them. */
function storedGuests(): Record<string, number> {
  const rows = (db as Db)
    .prepare(
      `SELECT h.agent_name AS host, COUNT(g.id) AS n FROM hosts h
       LEFT JOIN guests g ON g.host_id = h.id AND g.removed_at IS NULL GROUP BY h.agent_name`,
    )
    .all() as { host: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.host, r.n]));
}

const allAt = (n: number) => (stored: Record<string, number>) => HOSTS.every((h) => stored[h] === n);

/** Every host's change history: each guest added exactly once, each host once. */
function expectEachChangeOnce(): void {
  const rows = (db as Db)
    .prepare(
      `SELECT h.agent_name AS host, c.kind, c.guest_name AS guest FROM changes c JOIN hosts h ON h.id = c.host_id
       ORDER BY c.id`,
    )
    .all() as { host: string; kind: string; guest: string | null }[];
  for (const host of HOSTS) {
    const mine = rows.filter((r) => r.host === host);
    expect(
      mine.filter((r) => r.kind === 'host-added'),
      host,
    ).toHaveLength(1);
    expect(
      mine
        .filter((r) => r.kind === 'guest-added')
        .map((r) => r.guest)
        .sort(),
      host,
    ).toEqual(guests(FINAL_GUESTS).map((g) => g.name));
    expect(
      mine.filter((r) => r.kind === 'guest-removed'),
      host,
    ).toEqual([]);
  }
}

/** Adds one guest to every host every `everyMs` until each has FINAL_GUESTS; resolves then. */
function growHosts(from: number, everyMs: number): Promise<void> {
  return new Promise((resolve) => {
    let n = from;
    const timer = setInterval(() => {
      n++;
      for (const name of HOSTS) writeHost(dir, name, guests(n));
      if (n >= FINAL_GUESTS) {
        clearInterval(timer);
        resolve();
      }
    }, everyMs);
  });
}

describe('faults of a shared PostgreSQL store', () => {
  it('PostgreSQL restarted under load: snapshots refused with STORE_FAILED are resent, nothing lost or doubled', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-faults-'));
    const url = await databases.target('postgres');
    db = openDatabase(url);
    const [a, b] = await Promise.all([serve(url), serve(url)]);
    const agents = startAgents(
      (i) => (i % 2 ? [b.agentUrl, a.agentUrl] : [a.agentUrl, b.agentUrl]),
      new TokenStore(db),
    );
    await waitFor(storedGuests, allAt(1), 20_000, 'the first snapshots').catch((err) => {
      throw new Error(`${err.message}\nagent:\n${agents[0].output()}`);
    });
    db.close();
    db = undefined;

    // The hosts keep changing (a guest more every 400 ms) while PostgreSQL stops and starts again,
    // away longer than any periodic task's interval (alert checks and webhook queue every 10 s; connections,
    // revocations, the live pages' signal every 1–2 s), so each of them meets it.
    const pages = await Promise.all([followPage(a.pageUrl), followPage(b.pageUrl)]);
    const growing = growHosts(1, 400);
    await new Promise((r) => setTimeout(r, 600));
    const server = await databases.postgres();
    server.stop();
    await new Promise((r) => setTimeout(r, 11_000));
    server.start();
    const restartedAt = Date.now();
    await growing;

    db = openDatabase(url);
    await waitFor(storedGuests, allAt(FINAL_GUESTS), 30_000, 'every edit stored').catch((err) => {
      throw new Error(`${err.message}\ncollector A:\n${a.child.output().slice(-3000)}\nagent:\n${agents[0].output()}`);
    });
    // Within the agents' backoff (2 s) and a scan of the restart (1.7 s here).
    expect(Date.now() - restartedAt).toBeLessThan(10_000);
    // Both collectors lived through it, and refused what they could not store rather than acknowledging it.
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
    const refused = logLines(a.child, b.child).filter((l) => l.msg === 'snapshot not stored');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((l) => l.code === 'STORE_FAILED')).toBe(true);
    expectEachChangeOnce();
    for (const page of pages) page.close();
  }, 90_000);

  it('one collector SIGKILLed: its agents move to the other within the backoff, nothing lost or doubled', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-faults-'));
    const url = await databases.target('postgres');
    db = openDatabase(url);
    const [a, b] = await Promise.all([serve(url), serve(url)]);
    startAgents(() => [a.agentUrl, b.agentUrl], new TokenStore(db));
    await waitFor(storedGuests, allAt(1), 20_000, 'the first snapshots');

    const growing = growHosts(1, 400);
    await new Promise((r) => setTimeout(r, 600));
    const killedAt = Date.now();
    await stopProcess(a.child, 'SIGKILL');
    await growing;
    await waitFor(storedGuests, allAt(FINAL_GUESTS), 20_000, 'every edit stored through B').catch((err) => {
      throw new Error(`${err.message}\ncollector B:\n${b.child.output().slice(-3000)}`);
    });
    // Each agent tries its next collector at once: connected to B within its backoff (--max-backoff 2).
    const movedAfterMs = HOSTS.map((host) => {
      const hello = logLines(b.child).find((l) => l.msg === 'agent connected' && l.agent === host && l.time > killedAt);
      return hello ? hello.time - killedAt : Number.POSITIVE_INFINITY;
    });
    expect(Math.max(...movedAfterMs)).toBeLessThan(2_000);
    expectEachChangeOnce();
  }, 90_000);
});
