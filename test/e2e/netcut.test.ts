/**
 * The network between an agent and the collector cut for real: each runs in a network namespace of
 * its own, joined by one veth pair, and the test takes the link down and up. The namespaces hold
 * only the addresses given here (192.0.2.0/24, TEST-NET-1), so no traffic reaches any other network.
 * Needs root (CI runs as root): without it the test fails and says so rather than skipping.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentArgs, guests, writeHost } from '../helpers/kvm-host.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, stopProcess, waitFor } from '../helpers/processes.js';

const COLLECTOR_ADDRESS = '192.0.2.1';
const AGENT_ADDRESS = '192.0.2.2';
const SILENT_AFTER_SEC = 3;
const MAX_BACKOFF_SEC = 4;
const RHEL94 = 'http://redhat.com/rhel/9.4';

let dir: string;
/** Namespace and veth end names (at most 15 characters), unique per run. */
let ns: { collector: string; agent: string };
let created: string[] = [];
const children: (ChildProcess & { output: () => string })[] = [];

function ip(...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, (err, _stdout, stderr) =>
      err ? reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(),
    );
  });
}

/** Starts a built CLI inside a namespace; `ip netns exec` execs it, so the child's pid is node's. */
function startIn(namespace: string, cli: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const started = Object.assign(child, { output: () => output });
  children.push(started);
  return started;
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-netcut-'));
  const id = randomBytes(3).toString('hex');
  ns = { collector: `hvc${id}`, agent: `hva${id}` };
  try {
    await ip('netns', 'add', ns.collector);
  } catch (err) {
    throw new Error(
      `this test needs network namespaces: run it as root with iproute2 installed (CI does). ${(err as Error).message}`,
    );
  }
  created = [ns.collector];
  await ip('netns', 'add', ns.agent);
  created.push(ns.agent);
  // The veth ends take the namespaces' names; deleting a namespace deletes its end and so the pair.
  await ip(
    'link',
    'add',
    ns.collector,
    'netns',
    ns.collector,
    'type',
    'veth',
    'peer',
    'name',
    ns.agent,
    'netns',
    ns.agent,
  );
  for (const [name, address] of [
    [ns.collector, COLLECTOR_ADDRESS],
    [ns.agent, AGENT_ADDRESS],
  ]) {
    await ip('-n', name, 'addr', 'add', `${address}/24`, 'dev', name);
    await ip('-n', name, 'link', 'set', name, 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
  }
});

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c, 'SIGKILL')));
  for (const name of created.splice(0)) await ip('netns', 'del', name);
  rmSync(dir, { recursive: true, force: true });
});

/** Rows of a query on the collector's database; none while the database or its table is not made yet. */
function query<T>(db: string, sql: string): T[] {
  if (!existsSync(db)) return [];
  const conn = new Database(db, { readonly: true });
  try {
    return conn.prepare(sql).all() as T[];
  } catch (err) {
    // Any other error (a wrong column, a corrupt file) fails the test instead of reading as "no rows".
    if (/no such table/.test((err as Error).message)) return [];
    throw err;
  } finally {
    conn.close();
  }
}

const silentAlert = (db: string) =>
  query<{ state: string }>(db, "SELECT state FROM alerts WHERE kind = 'host-silent'")[0]?.state ?? 'none';

/** The agent's JSON log lines with this message. */
function logLines(agent: { output: () => string }, msg: string): Record<string, unknown>[] {
  return agent
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

describe('network cut', () => {
  it('the agent spools and backs off with jitter while the link is down, the collector raises host-silent, and on return the change arrives and the alert resolves', async () => {
    const db = path.join(dir, 'hvmap.db');
    const token = (await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-net', '--db', db, '--create'])).stdout.trim();
    const collector = startIn(
      ns.collector,
      COLLECTOR_CLI,
      [
        'serve',
        '--db',
        db,
        '--listen',
        `${COLLECTOR_ADDRESS}:8600`,
        '--insecure-plaintext',
        '--interval',
        '1',
        '--silent-after',
        String(SILENT_AFTER_SEC),
      ],
      { HVMAP_LOG_LEVEL: 'warn' },
    );
    await waitFor(collector.output, (o) => o.includes('hvmap collector on'), 15_000, 'the collector to listen');
    const hostDir = writeHost(dir, 'kvm-net', guests(5));
    const agent = startIn(
      ns.agent,
      AGENT_CLI,
      agentArgs(`ws://${COLLECTOR_ADDRESS}:8600/agent`, hostDir, [
        '--ping-interval',
        '1',
        '--max-backoff',
        String(MAX_BACKOFF_SEC),
      ]),
      { HVMAP_TOKEN: token },
    );
    const present = () =>
      query<{ name: string; os_id: string }>(db, 'SELECT name, os_id FROM guests WHERE removed_at IS NULL');
    await waitFor(present, (g) => g.length === 5, 30_000, 'the first snapshot stored');

    await ip('-n', ns.agent, 'link', 'set', ns.agent, 'down');
    await waitFor(
      () => silentAlert(db),
      (s) => s === 'firing',
      30_000,
      'host-silent to fire',
    );
    // A change on the host while it cannot reach the collector: scanned and kept in the spool.
    writeHost(dir, 'kvm-net', [...guests(1, RHEL94), ...guests(6).slice(1)]);
    const spool = () => {
      try {
        return JSON.parse(readFileSync(path.join(hostDir, 'state', 'spool.json'), 'utf8')).pending as {
          guests: unknown[];
        } | null;
      } catch {
        return null;
      }
    };
    await waitFor(spool, (p) => p?.guests.length === 6, 15_000, 'the change spooled during the outage');
    await waitFor(
      () => logLines(agent, 'cannot connect to the collector; retrying').length,
      (n) => n >= 3,
      30_000,
      'reconnect attempts during the outage',
    );
    expect(present()).toHaveLength(5);

    await ip('-n', ns.agent, 'link', 'set', ns.agent, 'up');
    const after = await waitFor(
      present,
      (g) => g.length === 6 && g.some((x) => x.name === 'vm000' && x.os_id === 'rhel-9.4'),
      30_000,
      'the change made during the outage to arrive',
    );
    expect(after.map((g) => g.name).sort()).toEqual(['vm000', 'vm001', 'vm002', 'vm003', 'vm004', 'vm005']);
    await waitFor(
      () => silentAlert(db),
      (s) => s === 'resolved',
      30_000,
      'host-silent to resolve',
    );
    await waitFor(spool, (p) => p === null, 15_000, 'the spool emptied by the ack');

    // Backoff: attempt n waits a random time below min(cap, 1 s · 2^n).
    const retries = logLines(agent, 'cannot connect to the collector; retrying') as {
      attempt: number;
      retryInMs: number;
    }[];
    for (const r of retries) expect(r.retryInMs).toBeLessThan(Math.min(MAX_BACKOFF_SEC * 1000, 1000 * 2 ** r.attempt));
    expect(retries.map((r) => r.attempt)).toEqual(retries.map((_, i) => i + 1));
    expect(new Set(retries.map((r) => r.retryInMs)).size).toBeGreaterThan(1);
    const changes = query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM changes GROUP BY guest_key, kind HAVING n > 1');
    expect(changes).toEqual([]);
    for (const c of [agent, collector]) expect(c.output()).not.toContain(token);
  }, 120_000);
});
