/**
 * The poller's own promises, on a real collector and SQLite file: the poll file's lines, bounded
 * parallelism, the deadline, names an agent's token holds, a file edit, and a host's text refused by
 * the wire schema as an agent's would be. Each poll reads a real libvirt test-driver node with the
 * real driver and virsh (the SSH path itself is test/e2e/agentless.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DRIVERS, type InventoryBody, localRunner, scanOnce } from '@hvmap/agent';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningCollector, startCollector } from '../collector.js';
import { type PollScan, type PollTarget, parsePollFile } from './poller.js';

const NODE = fileURLToPath(new URL('../../../agent/src/drivers/libvirt/testcases/corpus/node-01.xml', import.meta.url));
const hostFacts = (hostname: string) => ({
  hostname,
  os: { platform: 'linux', distro: 'Debian GNU/Linux', release: '12' },
  cpu: {},
});

/** A poll that reads the test-driver node with the libvirt driver, as `scan --ssh` does on the host. */
const readNode = (target: PollTarget): Promise<InventoryBody> =>
  scanOnce(
    DRIVERS.filter((d) => d.name === 'libvirt').map((d) =>
      d.create({ libvirtUri: target.libvirtUri ?? `test://${NODE}` }),
    ),
    localRunner(),
    { detect: false, hostFacts: hostFacts(target.name) },
  );

describe('parsePollFile', () => {
  it("reads the installer's lines plus libvirt-uri= and driver=, auto by default", () => {
    const text =
      '# estate\nroot@kvm01\nadmin@hv02:2222 name=hv02 identity=~/.ssh/hv driver=hyperv\n' +
      'kvm03 libvirt-uri=qemu+ssh://x/system?no_verify=1\n';
    expect(parsePollFile(text, 'me')).toEqual([
      { user: 'root', host: 'kvm01', port: 22, name: 'kvm01', driver: 'auto' },
      { user: 'admin', host: 'hv02', port: 2222, name: 'hv02', identity: '~/.ssh/hv', driver: 'hyperv' },
      {
        user: 'me',
        host: 'kvm03',
        port: 22,
        name: 'kvm03',
        driver: 'auto',
        libvirtUri: 'qemu+ssh://x/system?no_verify=1',
      },
    ]);
  });

  it('refuses an unknown driver, an unknown setting and two lines of one name', () => {
    expect(() => parsePollFile('root@kvm01 driver=vmware\n', 'me')).toThrow(
      'kvm01: driver=vmware is not a driver; expected auto or one of: xenserver, xen, libvirt, hyperv',
    );
    expect(() => parsePollFile('root@kvm01 role=db\n', 'me')).toThrow(
      'line 1: unknown setting "role"; expected name=, identity=, libvirt-uri=, driver=',
    );
    expect(() => parsePollFile('root@kvm01\nadmin@kvm01:22\n', 'me')).toThrow(
      'two hosts are named kvm01: give one of them name=…',
    );
  });
});

describe('Poller', () => {
  let dir: string;
  let pollFile: string;
  let collector: RunningCollector | undefined;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-poller-'));
    pollFile = path.join(dir, 'poll.txt');
  });
  afterEach(async () => {
    await collector?.close();
    collector = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (lines: string[], scan: PollScan, poll: { parallel?: number; deadlineMs?: number } = {}) => {
    writeFileSync(pollFile, `${lines.join('\n')}\n`);
    collector = await startCollector({
      db: path.join(dir, 'hvmap.db'),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
      intervalSec: 1,
      poll: { file: pollFile, defaultUser: 'root', scan, ...poll },
    });
    return collector;
  };
  const poller = () => collector?.poller as NonNullable<RunningCollector['poller']>;
  const until = async (what: () => boolean, ms = 8000) => {
    const end = Date.now() + ms;
    while (!what()) {
      if (Date.now() > end) throw new Error(`not within ${ms} ms: ${JSON.stringify(poller().hosts())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const polled = (name: string) =>
    Boolean(
      poller()
        .hosts()
        .find((h) => h.name === name)?.lastPollAt,
    );

  it('stores each host as an agent of kind ssh, through the evaluator, and counts it connected', async () => {
    const c = await start(['root@10.0.0.1 name=kvm-a', 'root@10.0.0.2 name=kvm-b'], readNode);
    await until(() => polled('kvm-a') && polled('kvm-b'));
    const hosts = c.db.prepare('SELECT agent_name, hostname FROM hosts ORDER BY agent_name').all();
    expect(hosts).toEqual([
      { agent_name: 'kvm-a', hostname: 'kvm-a' },
      { agent_name: 'kvm-b', hostname: 'kvm-b' },
    ]);
    // node-01.xml holds 25 domains; each guest was judged (a status) before it was stored.
    const guests = c.db.prepare('SELECT status, COUNT(*) AS n FROM guests GROUP BY status').all() as { n: number }[];
    expect(guests.reduce((sum, g) => sum + g.n, 0)).toBe(50);
    expect(guests.every((g) => 'status' in g && g.status)).toBe(true);
    expect(c.db.prepare("SELECT name, kind, poll_error FROM agents WHERE kind = 'ssh' ORDER BY name").all()).toEqual([
      { name: 'kvm-a', kind: 'ssh', poll_error: null },
      { name: 'kvm-b', kind: 'ssh', poll_error: null },
    ]);
    expect(poller().isReachable('kvm-a')).toBe(true);
    expect(c.tokens.list()).toEqual([]);
    expect(() => c.tokens.create('kvm-a')).toThrow('"kvm-a" is a host the collector polls over SSH');
    // A polled host has no token: nothing authenticates as it.
    expect(c.tokens.authenticate('polled:kvm-a')).toBeNull();
  });

  it('runs at most --poll-parallel polls at once, and polls every host', async () => {
    let running = 0;
    let most = 0;
    const slow: PollScan = async (target) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 300));
      running--;
      return readNode(target);
    };
    const names = ['h1', 'h2', 'h3', 'h4', 'h5'];
    await start(
      names.map((n) => `root@${n}`),
      slow,
      { parallel: 2 },
    );
    await until(() => names.every(polled));
    expect(most).toBe(2);
  });

  it('ends a poll at its deadline: its connection is told to close, and the host says why', async () => {
    let signal: AbortSignal | undefined;
    const hangs: PollScan = (_target, s) => {
      signal = s;
      return new Promise(() => {});
    };
    const c = await start(['root@hung'], hangs, { deadlineMs: 300 });
    await until(() => polled('hung'));
    expect(signal?.aborted).toBe(true);
    expect(poller().hosts()).toEqual([
      {
        name: 'hung',
        lastPollAt: expect.any(String),
        error: 'POLL_DEADLINE: no inventory within 0.3 s; connection closed',
      },
    ]);
    expect(poller().isReachable('hung')).toBe(false);
    expect(poller().results.POLL_DEADLINE).toBeGreaterThanOrEqual(1);
    expect(
      (c.db.prepare("SELECT poll_error FROM agents WHERE name = 'hung'").get() as { poll_error: string }).poll_error,
    ).toMatch(/^POLL_DEADLINE/);
  });

  it('records an SSH failure with its code, and the next good poll clears it, announcing each change once', async () => {
    let fail = true;
    let attempts = 0;
    let listening: () => void = () => {};
    const heard = new Promise<void>((resolve) => {
      listening = resolve;
    });
    const flaky: PollScan = async (target) => {
      await heard;
      attempts++;
      if (!fail) return readNode(target);
      throw Object.assign(new Error('connection refused at h:22'), { code: 'SSH_UNREACHABLE' });
    };
    const c = await start(['root@h name=flaky'], flaky);
    const announced: string[] = [];
    c.events.on('pollStateChanged', (name) => announced.push(name));
    listening();
    await until(() => attempts >= 3 && poller().hosts()[0].error !== null);
    // Failing again the same way is not news: the page heard it once.
    expect(announced).toEqual(['flaky']);
    expect(poller().hosts()[0].error).toBe('SSH_UNREACHABLE: connection refused at h:22');
    const agents = () =>
      c.db.prepare("SELECT poll_error, connected_at FROM agents WHERE name = 'flaky'").get() as {
        poll_error: string | null;
        connected_at: string | null;
      };
    expect(agents()).toEqual({ poll_error: 'SSH_UNREACHABLE: connection refused at h:22', connected_at: null });
    fail = false;
    await until(() => poller().hosts()[0].error === null, 4000);
    expect(agents()).toMatchObject({ poll_error: null, connected_at: expect.any(String) });
    expect(announced).toEqual(['flaky', 'flaky']);
  });

  it('refuses what the wire schema refuses of an agent, and stores nothing of it', async () => {
    const hostile: PollScan = async (target) => {
      const body = await readNode(target);
      return { ...body, guests: body.guests.map((g) => ({ ...g, name: 'x'.repeat(100_000) })) };
    };
    const c = await start(['root@evil'], hostile);
    await until(() => polled('evil'));
    expect(poller().hosts()[0].error).toMatch(/^BAD_FRAME: inventory frame invalid at \/guests\/0\/name/);
    expect(c.db.prepare('SELECT COUNT(*) AS n FROM guests').get()).toEqual({ n: 0 });
  });

  it("leaves a name an agent's token holds to the agent, follows an edit, and keeps polling when an edit does not parse", async () => {
    writeFileSync(pollFile, 'root@a\n');
    collector = await startCollector({
      db: path.join(dir, 'hvmap.db'),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
      intervalSec: 1,
      poll: { file: pollFile, defaultUser: 'root', scan: readNode },
    });
    const c = collector;
    c.tokens.create('agent-host');
    await until(() => polled('a'));

    writeFileSync(pollFile, 'root@b\nroot@10.0.0.9 name=agent-host\n');
    expect(poller().load()).toEqual({ ok: true, hosts: 1, refused: ['agent-host'] });
    await until(() => polled('b'));
    expect(
      poller()
        .hosts()
        .map((h) => h.name),
    ).toEqual(['b']);
    const rows = c.db.prepare('SELECT name, kind, revoked_at FROM agents ORDER BY name').all() as {
      name: string;
      kind: string;
      revoked_at: string | null;
    }[];
    expect(rows.map((r) => [r.name, r.kind, Boolean(r.revoked_at)])).toEqual([
      ['a', 'ssh', true],
      ['agent-host', 'agent', false],
      ['b', 'ssh', false],
    ]);
    // The host that left the file keeps what it last reported, as a revoked agent's host does.
    expect(c.db.prepare("SELECT COUNT(*) AS n FROM hosts WHERE agent_name = 'a'").get()).toEqual({ n: 1 });

    writeFileSync(pollFile, 'root@b\nroot@c driver=vmware\n');
    const refused = poller().load();
    expect(refused).toEqual({ ok: false, error: expect.stringContaining('c: driver=vmware is not a driver') });
    expect(
      poller()
        .hosts()
        .map((h) => h.name),
    ).toEqual(['b']);

    writeFileSync(pollFile, 'root@a\n');
    expect(poller().load()).toMatchObject({ ok: true, hosts: 1 });
    const back = c.db.prepare("SELECT revoked_at FROM agents WHERE name = 'a'").get() as { revoked_at: string | null };
    expect(back.revoked_at).toBeNull();
  });

  it('refuses to start on a poll file that does not parse, naming the line', async () => {
    await expect(start(['root@a', 'root@b role=db'], readNode)).rejects.toThrow(
      /poll\.txt: line 2: unknown setting "role"/,
    );
    collector = undefined;
  });
});
