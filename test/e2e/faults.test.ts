import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentArgs, guests, writeHost } from '../helpers/kvm-host.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

const execFileP = promisify(execFile);

let dir: string;
const children: ReturnType<typeof startCli>[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Each agent's last stored seq, read beside the collector. */
function lastSeqs(db: string): Record<string, number | null> {
  const conn = new Database(db, { readonly: true });
  try {
    const rows = conn
      .prepare('SELECT a.name, h.last_seq FROM agents a LEFT JOIN hosts h ON h.agent_name = a.name ORDER BY a.name')
      .all() as {
      name: string;
      last_seq: number | null;
    }[];
    return Object.fromEntries(rows.map((r) => [r.name, r.last_seq]));
  } finally {
    conn.close();
  }
}

async function report(db: string) {
  const r = await runCli(COLLECTOR_CLI, ['report', '--db', db, '--format', 'json']);
  if (r.code !== 0) return { hosts: [], guests: [] };
  return JSON.parse(r.stdout) as {
    hosts: { hostname: string }[];
    guests: { host: string; name: string; removedAt: string | null; os: { id: string } | null }[];
  };
}

function serve(db: string, port: number, env: NodeJS.ProcessEnv = {}) {
  const c = startCli(COLLECTOR_CLI, ['serve', '--db', db, '--listen', `127.0.0.1:${port}`, '--interval', '1'], {
    HVMAP_LOG_LEVEL: 'warn',
    ...env,
  });
  children.push(c);
  return c;
}

const KILL_MID_WRITE = fileURLToPath(new URL('../helpers/kill-mid-write.mjs', import.meta.url));

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-faults-'));
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c, 'SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

describe('faults', () => {
  it('survives SIGKILL of the collector mid-ingest: the database opens cleanly and the map equals the hosts', async () => {
    const db = path.join(dir, 'hvmap.db');
    // The collector kills itself inside a snapshot's write transaction, after its fifth guest row,
    // once the test arms it: mid-write every run, not by the luck of a timer.
    const arm = path.join(dir, 'kill-armed');
    const port = await freePort();
    const hosts = ['kvm-a', 'kvm-b', 'kvm-c'];
    const tokens: string[] = [];
    for (const h of hosts) {
      const created = await runCli(COLLECTOR_CLI, ['tokens', 'create', h, '--db', db, '--create']);
      expect(created.code).toBe(0);
      tokens.push(created.stdout.trim());
    }
    let collector = serve(db, port, {
      NODE_OPTIONS: `--import ${KILL_MID_WRITE}`,
      HVMAP_TEST_KILL_ARM: arm,
      HVMAP_TEST_KILL_AFTER_ROWS: '5',
    });
    await waitFor(
      () => collector.output(),
      (o) => o.includes('hvmap collector on'),
      15_000,
      'the collector to listen',
    );
    hosts.forEach((h, i) => {
      const hostDir = writeHost(dir, h, guests(60));
      children.push(
        startCli(AGENT_CLI, agentArgs(`ws://127.0.0.1:${port}/agent`, hostDir), { HVMAP_TOKEN: tokens[i] }),
      );
    });
    await waitFor(
      () => report(db),
      (r) => r.guests.length === 180,
      30_000,
      'all guests stored',
    );

    // Change every host: the first changed snapshot the collector writes is cut after its fifth row.
    const seqBefore = lastSeqs(db);
    writeFileSync(arm, '');
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      collector.once('exit', (_, signal) => resolve(signal)),
    );
    for (const h of hosts) writeHost(dir, h, guests(60, 'http://redhat.com/rhel/9.4'));
    expect(await exited).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(`${arm}.killed`, 'utf8'))).toEqual({ rows: 5, inTransaction: true });
    rmSync(arm);
    // Nothing of the cut transaction is in the database: no host's seq moved, no guest is on 9.4.
    expect(lastSeqs(db)).toEqual(seqBefore);
    expect((await report(db)).guests.filter((g) => g.os?.id === 'rhel-9.4')).toEqual([]);
    for (const [i, h] of hosts.entries()) {
      writeHost(dir, h, [...guests(59, 'http://redhat.com/rhel/9.4'), ...guests(62).slice(60 + (i % 2))]);
    }

    collector = serve(db, port);
    const final = await waitFor(
      () => report(db),
      (r) => {
        const present = r.guests.filter((g) => !g.removedAt);
        // Each host: vm000-vm058 upgraded to 9.4, vm059 gone, and one or two new guests on 9.2.
        return present.length === 3 * 59 + 2 + 1 + 2 && present.filter((g) => g.os?.id === 'rhel-9.4').length === 177;
      },
      30_000,
      'the map to equal the hosts after the restart',
    );
    expect(final.hosts).toHaveLength(3);
    expect(final.guests.filter((g) => g.removedAt).map((g) => g.name)).toEqual(['vm059', 'vm059', 'vm059']);
    const check = new Database(db, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  }, 90_000);
});

const RHEL94 = 'http://redhat.com/rhel/9.4';

/** One host's agent process and what the test reads back from the collector's database. */
async function hostWithAgent(name: string, db: string, port: number) {
  const created = await runCli(COLLECTOR_CLI, ['tokens', 'create', name, '--db', db, '--create']);
  expect(created.code).toBe(0);
  const token = created.stdout.trim();
  const hostDir = writeHost(dir, name, guests(10));
  const start = () => {
    const agent = startCli(AGENT_CLI, agentArgs(`ws://127.0.0.1:${port}/agent`, hostDir), { HVMAP_TOKEN: token });
    children.push(agent);
    return agent;
  };
  /** The agent's spool: the snapshot it holds until the collector acknowledges it. */
  const spooled = () => {
    try {
      const spool = JSON.parse(readFileSync(path.join(hostDir, 'state', 'spool.json'), 'utf8'));
      return spool.pending as { seq: number; guests: { name: string }[] } | null;
    } catch {
      return null;
    }
  };
  return { hostDir, start, spooled };
}

/** Every change the collector recorded, and those recorded more than once for one guest and kind. */
function changeLog(db: string) {
  const conn = new Database(db, { readonly: true });
  try {
    const all = conn.prepare('SELECT guest_name AS guest, kind, new_value AS value FROM changes ORDER BY id').all() as {
      guest: string | null;
      kind: string;
      value: string | null;
    }[];
    const twice = conn
      .prepare('SELECT guest_key, kind, COUNT(*) AS n FROM changes GROUP BY guest_key, kind HAVING n > 1')
      .all();
    return { all, twice, integrity: conn.pragma('integrity_check', { simple: true }) };
  } finally {
    conn.close();
  }
}

/** Bytes the kernel holds for the process listening on `port`, not yet read (`ss`, from iproute2). */
async function receiveQueue(port: number): Promise<number> {
  const { stdout } = await execFileP('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[0]), 0);
}

/** vm000-vm004 upgraded to RHEL 9.4, vm005-vm009 unchanged, vm010 new. */
const upgradedPlusOne = () => [...guests(5, RHEL94), ...guests(11).slice(5)];

describe('agent restarts', () => {
  it('an agent SIGKILLed after sending a snapshot the collector stored but never acknowledged: every change once, nothing lost', async () => {
    const db = path.join(dir, 'hvmap.db');
    const port = await freePort();
    const host = await hostWithAgent('kvm-r', db, port);
    const collector = serve(db, port);
    let agent = host.start();
    await waitFor(
      () => report(db),
      (r) => r.guests.length === 10,
      30_000,
      'the first snapshot stored',
    );

    // The collector freezes: the kernel still takes the agent's next snapshot into its socket buffer.
    collector.kill('SIGSTOP');
    writeHost(dir, 'kvm-r', upgradedPlusOne());
    await waitFor(host.spooled, (p) => p?.guests.length === 11, 15_000, 'the changed snapshot sent and spooled');
    // The agent spools before it sends: kill it only once the whole frame sits in the collector's
    // socket buffer (a heartbeat alone, or half the frame, would leave nothing to store).
    const frameBytes = Buffer.byteLength(JSON.stringify(host.spooled()));
    await waitFor(
      () => receiveQueue(port),
      (bytes) => bytes >= frameBytes,
      15_000,
      "the snapshot in the collector's socket",
    );
    await stopProcess(agent, 'SIGKILL');
    // Thawed, the collector reads and stores that snapshot; its ack goes to a dead socket.
    collector.kill('SIGCONT');
    await waitFor(
      () => report(db),
      (r) => r.guests.length === 11 && r.guests.filter((g) => g.os?.id === 'rhel-9.4').length === 5,
      15_000,
      'the unacknowledged snapshot stored',
    );
    expect(host.spooled()?.guests).toHaveLength(11);

    // While the agent is down the host changes again; the restarted agent resends its spool, then that.
    writeHost(
      dir,
      'kvm-r',
      upgradedPlusOne().filter((g) => g.name !== 'vm009'),
    );
    agent = host.start();
    const final = await waitFor(
      () => report(db),
      (r) => r.guests.some((g) => g.name === 'vm009' && g.removedAt),
      30_000,
      'the change made while the agent was down',
    );
    expect(final.guests.filter((g) => !g.removedAt).map((g) => g.name)).toEqual([
      'vm000',
      'vm001',
      'vm002',
      'vm003',
      'vm004',
      'vm005',
      'vm006',
      'vm007',
      'vm008',
      'vm010',
    ]);
    const log = changeLog(db);
    expect(log.twice).toEqual([]);
    expect(log.all.filter((c) => c.kind === 'os-changed').map((c) => c.guest)).toEqual([
      'vm000',
      'vm001',
      'vm002',
      'vm003',
      'vm004',
    ]);
    expect(log.all.filter((c) => c.kind === 'guest-added')).toHaveLength(11);
    expect(log.all.filter((c) => c.kind === 'guest-removed').map((c) => c.guest)).toEqual(['vm009']);
    expect(log.integrity).toBe('ok');
    await waitFor(host.spooled, (p) => p === null, 15_000, 'the spool emptied by the ack');
  }, 90_000);

  it('an agent SIGKILLed while its snapshot waits in the spool for a collector that is down: both restart and it arrives once', async () => {
    const db = path.join(dir, 'hvmap.db');
    const port = await freePort();
    const host = await hostWithAgent('kvm-s', db, port);
    let collector = serve(db, port);
    let agent = host.start();
    await waitFor(
      () => report(db),
      (r) => r.guests.length === 10,
      30_000,
      'the first snapshot stored',
    );

    await stopProcess(collector, 'SIGKILL');
    writeHost(dir, 'kvm-s', upgradedPlusOne());
    await waitFor(
      host.spooled,
      (p) => p?.guests.length === 11,
      15_000,
      'the change spooled while the collector is down',
    );
    await stopProcess(agent, 'SIGKILL');

    agent = host.start();
    await waitFor(
      () => agent.output(),
      (o) =>
        o.includes('found an unacknowledged snapshot in the spool') && o.includes('cannot connect to the collector'),
      15_000,
      'the restarted agent to load its spool and retry',
    );
    collector = serve(db, port);
    await waitFor(
      () => report(db),
      (r) => r.guests.length === 11 && r.guests.filter((g) => g.os?.id === 'rhel-9.4').length === 5,
      30_000,
      'the spooled snapshot stored',
    );
    await waitFor(host.spooled, (p) => p === null, 15_000, 'the spool emptied by the ack');
    const log = changeLog(db);
    expect(log.twice).toEqual([]);
    expect(log.all.filter((c) => c.kind === 'os-changed')).toHaveLength(5);
    expect(log.all.filter((c) => c.kind === 'guest-added')).toHaveLength(11);
    expect(log.all.filter((c) => c.kind === 'guest-removed')).toHaveLength(0);
    expect(log.integrity).toBe('ok');
  }, 90_000);
});
