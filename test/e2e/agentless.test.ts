/**
 * Agentless scans against a real sshd on 127.0.0.1, with the real virsh behind it: `hvmap scan --ssh`
 * reads the same inventory as `hvmap-agent scan` run on the host, and refuses a host key it does not
 * know or that changed, as `hvmap install` does; `hvmap serve --poll` keeps polled hosts on the map,
 * follows an edit of its file on SIGHUP, and is not held back by a host that hangs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollOverSsh } from '../../collector/src/agentless/scan.js';
import { sshRunner } from '../../collector/src/agentless/ssh-runner.js';
import { listAlerts } from '../../collector/src/alerts/store.js';
import { startCollector } from '../../collector/src/collector.js';
import { KnownHostsFile } from '../../collector/src/install/known-hosts.js';
import { connectSsh } from '../../collector/src/install/ssh.js';
import { guests, writeHost } from '../helpers/kvm-host.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';
import { freePort, keygen, startSshd, type TestSshd } from '../helpers/sshd.js';

let dir: string;
let sshd: TestSshd;
let uri: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-agentless-'));
  sshd = await startSshd(path.join(dir, 'sshd'));
  const host = writeHost(dir, 'kvm-ssh', [...guests(3), ...guests(5, 'http://microsoft.com/win/2k22').slice(3)]);
  uri = `test://${path.join(host, 'node.xml')}`;
}, 30_000);

afterAll(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const knownHosts = (line: string) => {
  const file = path.join(dir, `known_hosts-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, line);
  return file;
};
const sshArgs = (file: string) => [
  'scan',
  '--ssh',
  `root@127.0.0.1:${sshd.port}`,
  '--identity',
  sshd.userKey,
  '--known-hosts',
  file,
  '--driver',
  'libvirt',
  '--libvirt-uri',
  uri,
  '--json',
];
/** What two scans of one host must share: all but timings and the facts systeminformation adds. */
const comparable = (inv: {
  hypervisor: unknown;
  guests: unknown;
  errors: unknown;
  partial: boolean;
  host: { hostname: string; os: { kernel?: string; arch?: string } };
  drivers: { driver: string; ok: boolean; guests: number }[];
}) => ({
  hypervisor: inv.hypervisor,
  guests: inv.guests,
  errors: inv.errors,
  partial: inv.partial,
  hostname: inv.host.hostname,
  kernel: inv.host.os.kernel,
  drivers: inv.drivers.map(({ driver, ok, guests }) => ({ driver, ok, guests })),
});

describe('hvmap scan --ssh', () => {
  it('reads the inventory hvmap-agent scan reads on the host itself', async () => {
    const local = await runCli(AGENT_CLI, ['scan', '--driver', 'libvirt', '--libvirt-uri', uri, '--json']);
    expect(local.code, local.stderr).toBe(0);
    const remote = await runCli(COLLECTOR_CLI, sshArgs(knownHosts(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`)));
    expect(remote.code, remote.stderr).toBe(0);
    const [l, r] = [JSON.parse(local.stdout), JSON.parse(remote.stdout)];
    expect(r.guests).toHaveLength(5);
    expect(comparable(r)).toEqual(comparable(l));
  });

  it('refuses a host key known_hosts does not list, naming its fingerprint, and takes it once accepted', async () => {
    const empty = knownHosts('');
    const refused = await runCli(COLLECTOR_CLI, sshArgs(empty));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`unknown host key for [127.0.0.1]:${sshd.port}`);
    expect(refused.stderr).toContain(sshd.hostFingerprint);
    expect(refused.stderr).toContain('(HOST_KEY_UNKNOWN)');
    expect(refused.stdout).toBe('');
    const accepted = await runCli(COLLECTOR_CLI, [...sshArgs(empty), '--accept-fingerprint', sshd.hostFingerprint]);
    expect(accepted.code, accepted.stderr).toBe(0);
  });

  it('refuses a changed host key, even told to accept new ones', async () => {
    const other = keygen(path.join(dir, 'other_host_key'));
    const stale = knownHosts(`[127.0.0.1]:${sshd.port} ${readFileSync(`${other}.pub`, 'utf8').trim()}\n`);
    const r = await runCli(COLLECTOR_CLI, [...sshArgs(stale), '--accept-new-host-key']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('HOST KEY CHANGED');
    expect(r.stderr).toContain('(HOST_KEY_CHANGED)');
  });

  it('ends a command that hangs or prints without end, keeping at most the cap', async () => {
    const remote = await connectSsh({
      target: { user: 'root', host: '127.0.0.1', port: sshd.port, name: 'cap' },
      auth: { identity: sshd.userKey },
      hostKeys: {
        knownHosts: new KnownHostsFile(knownHosts(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`)),
        acceptNew: false,
        acceptFingerprints: [],
      },
      readyTimeoutMs: 10_000,
      stepTimeoutMs: 1500,
      maxOutputBytes: 1_000_000,
    });
    try {
      const runner = sshRunner(remote, { shell: 'posix' });
      const huge = await runner.run('head', ['-c', '200000000', '/dev/zero']);
      expect(huge).toMatchObject({ code: null, error: 'MAXBUFFER' });
      expect(huge.stdout.length).toBeLessThanOrEqual(1_000_000);
      const started = Date.now();
      expect(await runner.run('sleep', ['30'])).toMatchObject({ code: null, error: 'TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(10_000);
      // The connection is still good for the next command.
      expect(await runner.run('echo', ['still here'])).toEqual({ code: 0, stdout: 'still here', stderr: '' });
    } finally {
      remote.close();
    }
  });

  it('reads a driver whose commands the host lacks as a partial inventory, and a refused key as SSH_AUTH_FAILED', async () => {
    const trusted = knownHosts(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const args = sshArgs(trusted);
    // This host has no Xen toolstack: the xen driver, asked by name, says so; the scan ends partial (exit 1).
    const xen = await runCli(COLLECTOR_CLI, [...args.slice(0, args.indexOf('--driver')), '--driver', 'xen', '--json']);
    expect(xen.code, xen.stderr).toBe(1);
    const inv = JSON.parse(xen.stdout);
    expect(inv.partial).toBe(true);
    expect(inv.errors.map((e: { driver: string; code: string }) => [e.driver, e.code])).toContainEqual([
      'xen',
      'XEN_TOOLS_NOT_FOUND',
    ]);
    const stranger = keygen(path.join(dir, 'stranger_key'));
    const refused = await runCli(COLLECTOR_CLI, [...args.slice(0, 3), '--identity', stranger, ...args.slice(5)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('(SSH_AUTH_FAILED)');
  });

  it('says which host it cannot reach, with a stable code', async () => {
    const port = await freePort();
    const r = await runCli(COLLECTOR_CLI, [
      'scan',
      '--ssh',
      `root@127.0.0.1:${port}`,
      '--identity',
      sshd.userKey,
      '--known-hosts',
      knownHosts(''),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`connection refused at 127\\.0\\.0\\.1:${port}.*\\(SSH_UNREACHABLE\\)`));
  });
});

/** A TCP port that accepts connections and never says a word: an SSH server hung before its banner. */
async function silentPort(): Promise<{ port: number; close(): void }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const getJson = async (url: string) => (await fetch(url)).json();

describe('hvmap serve --poll', () => {
  it('keeps a polled host on the map, follows an edit of the file on SIGHUP, and names a refused host key', async () => {
    const smaller = writeHost(dir, 'kvm-ssh-b', guests(2));
    const pollFile = path.join(dir, 'poll-cli.txt');
    const line = (libvirtUri: string) =>
      `root@127.0.0.1:${sshd.port} name=kvm-polled driver=libvirt libvirt-uri=${libvirtUri}  # the test host\n`;
    // localhost is 127.0.0.1, but known_hosts lists the host as [127.0.0.1]:PORT only: its key is unknown.
    writeFileSync(pollFile, `# hosts read over SSH\n${line(uri)}root@localhost:${sshd.port} name=stranger\n`);
    const serve = startCli(COLLECTOR_CLI, [
      'serve',
      '--db',
      path.join(dir, 'poll-cli.db'),
      '--listen',
      '127.0.0.1:0',
      '--interval',
      '1',
      '--poll',
      pollFile,
      '--known-hosts',
      knownHosts(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`),
      '--identity',
      sshd.userKey,
    ]);
    try {
      const out = await waitFor(
        () => serve.output(),
        (o) => o.includes('hvmap collector on'),
        15_000,
        'the collector',
      );
      const url = /hvmap collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
      // Present guests of the whole map: the polled host is the only one.
      const polledGuests = async () =>
        ((await getJson(`${url}/api/guests`)) as { items: { name: string }[] }).items.map((g) => g.name);
      expect(await waitFor(polledGuests, (g) => g.length === 5, 20_000, 'the polled host on the map')).toHaveLength(5);

      const agents = (await getJson(`${url}/api/agents`)) as {
        items: { name: string; kind: string; connected: boolean; pollError: string | null; host: string | null }[];
      };
      expect(agents.items.find((a) => a.name === 'kvm-polled')).toMatchObject({
        kind: 'ssh',
        connected: true,
        pollError: null,
        host: hostname(),
      });
      const stranger = await waitFor(
        async () =>
          ((await getJson(`${url}/api/agents`)) as typeof agents).items.find((a) => a.name === 'stranger')?.pollError,
        (e) => Boolean(e),
        20_000,
        'the stranger refused',
      );
      expect(stranger).toMatch(/^HOST_KEY_UNKNOWN: unknown host key for \[localhost\]:\d+: ssh-ed25519 SHA256:/);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('hvmap_polled_hosts{state="ok"} 1');
      expect(metrics).toContain('hvmap_polled_hosts{state="failing"} 1');
      expect(metrics).toContain('hvmap_agent_tokens_active 0');

      // The edit: the line now reads another libvirt connection of that host, and the stranger is gone.
      writeFileSync(pollFile, line(`test://${path.join(smaller, 'node.xml')}`));
      serve.kill('SIGHUP');
      await waitFor(
        () => serve.output(),
        (o) => o.includes('polling 1 hosts over SSH'),
        10_000,
        'the reload',
      );
      expect(await waitFor(polledGuests, (g) => g.length === 2, 20_000, 'the edit followed')).toHaveLength(2);
      const retired = ((await getJson(`${url}/api/agents`)) as { items: { name: string; revokedAt: string | null }[] })
        .items;
      expect(retired.find((a) => a.name === 'stranger')?.revokedAt).toBeTruthy();
      expect(retired.find((a) => a.name === 'kvm-polled')?.revokedAt).toBeNull();
    } catch (err) {
      throw new Error(`${(err as Error).message}\ncollector output:\n${serve.output().slice(-4000)}`);
    } finally {
      await stopProcess(serve);
    }
  }, 90_000);

  it('polls the other hosts on time while one hangs, ends the hung poll at its deadline, and raises host-silent with the SSH error', async () => {
    const hung = await silentPort();
    const deadPort = await freePort();
    const pollFile = path.join(dir, 'poll-hung.txt');
    const good = `root@127.0.0.1:${sshd.port} name=good driver=libvirt libvirt-uri=${uri}`;
    writeFileSync(pollFile, `${good}\nroot@127.0.0.1:${hung.port} name=hung\n`);
    const collector = await startCollector({
      db: path.join(dir, 'poll-hung.db'),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
      intervalSec: 1,
      silentAfterSec: 2,
      alertCheckIntervalMs: 200,
      poll: {
        file: pollFile,
        defaultUser: 'root',
        deadlineMs: 30_000,
        scan: pollOverSsh({
          knownHosts: new KnownHostsFile(knownHosts(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`)),
          auth: { identity: sshd.userKey },
          connectTimeoutMs: 60_000,
        }),
      },
    });
    const poller = collector.poller as NonNullable<typeof collector.poller>;
    const status = (name: string) => poller.hosts().find((h) => h.name === name);
    try {
      // While the hung host holds its connection (30 s), the good one is still read, again and again
      // (every 1 s plus its ~2 s of SSH commands, up to ~8 s on a loaded CI): a poller that waited
      // for the hung host would read it at most once.
      const polls = new Set<string>();
      await waitFor(
        () => {
          const at = status('good')?.lastPollAt;
          if (at) polls.add(at);
          return polls.size;
        },
        (n) => n >= 2,
        29_000,
        'two polls of the good host before the hung one ends',
      );
      expect(status('good')?.error).toBeNull();
      expect(status('hung')?.lastPollAt).toBeNull();
      const hungError = await waitFor(() => status('hung')?.error, Boolean, 30_000, 'the hung poll ended');
      expect(hungError).toBe('POLL_DEADLINE: no inventory within 30 s; connection closed');

      // The good host goes away (its line now names a closed port): host-silent says why.
      writeFileSync(pollFile, good.replace(`:${sshd.port} `, `:${deadPort} `));
      expect(poller.load()).toMatchObject({ ok: true, hosts: 1 });
      const alert = await waitFor(
        () => listAlerts(collector.db, { state: 'firing' }),
        // It may have fired already between two slow good polls (silent after 2 s); its message follows.
        (rows) => rows.some((r) => r.kind === 'host-silent' && r.message.includes('SSH_UNREACHABLE')),
        10_000,
        'host-silent naming the SSH error',
      );
      expect(alert.find((r) => r.kind === 'host-silent')?.message).toMatch(
        new RegExp(
          `^${hostname()} has not reported since \\S+: SSH_UNREACHABLE: connection refused at 127\\.0\\.0\\.1:${deadPort}`,
        ),
      );
    } finally {
      await collector.close();
      hung.close();
    }
  }, 90_000);
});
