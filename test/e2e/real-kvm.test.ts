/**
 * A real KVM host: Debian's libvirtd on qemu:///system with real QEMU guests (TCG) whose initramfs
 * runs the real qemu-guest-agent (test/helpers/real-kvm). Needs root; without it, fails saying so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libvirtDriver } from '../../agent/src/drivers/libvirt/libvirt.js';
import { localRunner, type Runner } from '../../agent/src/runner.js';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';
import { type GuestSpec, OS_RELEASES, type RealKvm, startRealKvm } from '../helpers/real-kvm/index.js';

/** The guests of the host, by short name: each a case the driver must tell apart. */
const GUESTS: Record<string, GuestSpec & { start: boolean }> = {
  rhel: {
    name: 'rhel',
    osRelease: OS_RELEASES.rhel94,
    libosinfo: 'http://redhat.com/rhel/9.4',
    agent: 'running',
    start: true,
  },
  debian: {
    name: 'debian',
    osRelease: OS_RELEASES.debian12,
    libosinfo: 'http://debian.org/debian/12',
    agent: 'running',
    start: true,
  },
  // virt-install wrote no libosinfo id: only the guest agent can say what it runs.
  alma: { name: 'alma', osRelease: OS_RELEASES.alma94, agent: 'running', start: true },
  // Installed as RHEL 8.6, upgraded in place to 9.4: the metadata still says 8.6.
  upgraded: {
    name: 'upgraded',
    osRelease: OS_RELEASES.rhel94,
    libosinfo: 'http://redhat.com/rhel/8.6',
    agent: 'running',
    start: true,
  },
  noChannel: {
    name: 'nochannel',
    osRelease: OS_RELEASES.rhel94,
    libosinfo: 'http://redhat.com/rhel/9.4',
    agent: 'none',
    start: true,
  },
  agentStopped: {
    name: 'agentstopped',
    osRelease: OS_RELEASES.rhel94,
    libosinfo: 'http://redhat.com/rhel/9.4',
    agent: 'stopped',
    start: true,
  },
  off: {
    name: 'off',
    osRelease: OS_RELEASES.rhel94,
    libosinfo: 'http://redhat.com/rhel/9.4',
    agent: 'running',
    start: false,
  },
};

interface ScannedGuest {
  name: string;
  state: string;
  os: { reason?: string; reasonDetail?: string };
  identified:
    | { known: true; os: { id: string }; source: string; conflicts: { source: string; id: string }[] }
    | { known: false; reason: string };
}

let dir: string;
let kvm: RealKvm;
const domain: Record<string, string> = {};
const bootSeconds: Record<string, number> = {};

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-real-kvm-'));
  kvm = await startRealKvm(path.join(dir, 'run'), { install: true });
  const defining = Date.now();
  for (const [key, spec] of Object.entries(GUESTS)) domain[key] = await kvm.define(spec);
  kvm.timings.define = (Date.now() - defining) / 1000;
  await Promise.all(
    Object.entries(GUESTS)
      .filter(([, spec]) => spec.start)
      .map(async ([key]) => {
        bootSeconds[key] = await kvm.start(domain[key]);
      }),
  );
  console.log('real KVM set-up (s):', kvm.timings, 'virsh start → agent answers or booted (s):', bootSeconds);
}, 600_000);

afterAll(async () => {
  const t = Date.now();
  await kvm?.stop();
  console.log(`real KVM torn down in ${(Date.now() - t) / 1000} s`);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function agentScan(): Promise<{ hypervisor: { product: string }; guests: ScannedGuest[] }> {
  const result = await runCli(AGENT_CLI, ['scan', '--driver', 'libvirt', '--libvirt-uri', kvm.uri, '--json']);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout);
}

describe('a real libvirtd with real QEMU guests and the real guest agent', () => {
  it('identifies each guest from its guest agent, and says why where the agent cannot answer', async () => {
    const scan = await agentScan();
    const guests = Object.fromEntries(scan.guests.map((g) => [g.name, g]));
    const of = (key: string) => guests[domain[key]];
    // Every guest runs under TCG here (this machine's KVM cannot run guests): the product says so.
    expect(scan.hypervisor.product).toBe('qemu');
    expect(of('rhel').identified).toMatchObject({
      known: true,
      os: { id: 'rhel-9.4' },
      source: 'guest-agent',
      conflicts: [],
    });
    expect(of('debian').identified).toMatchObject({ known: true, os: { id: 'debian-12' }, source: 'guest-agent' });
    expect(of('alma').identified).toMatchObject({ known: true, os: { id: 'almalinux-9.4' }, source: 'guest-agent' });
    expect(of('upgraded').identified).toMatchObject({
      known: true,
      os: { id: 'rhel-9.4' },
      source: 'guest-agent',
      conflicts: [{ source: 'libosinfo', id: 'rhel-8.6' }],
    });
    // No channel, or a channel nobody answers on: no_guest_agent, and the libosinfo id decides.
    expect(of('noChannel').os).toMatchObject({
      reason: 'no_guest_agent',
      reasonDetail: expect.stringMatching(/not configured/),
    });
    expect(of('agentStopped').os).toMatchObject({
      reason: 'no_guest_agent',
      reasonDetail: expect.stringMatching(/not (connected|responding)/),
    });
    for (const key of ['noChannel', 'agentStopped']) {
      expect(of(key).identified).toMatchObject({ known: true, os: { id: 'rhel-9.4' }, source: 'libosinfo' });
    }
    expect(of('off')).toMatchObject({ state: 'shutoff', os: { reason: 'vm_off' } });
  });

  it('as a user outside group libvirt, reports permission_denied after asking one guest; inside the group, sees every answer', async () => {
    const asUser = (user: string): Runner & { agentCalls: number } => {
      const local = localRunner();
      const runner = {
        ...local,
        agentCalls: 0,
        run(program: string, args: readonly string[], options?: { timeoutMs?: number }) {
          if (args.includes('guestinfo')) runner.agentCalls++;
          return local.run('runuser', ['-u', user, '--', program, ...args], options);
        },
      };
      return runner;
    };
    await ensureUser('hvmap-outsider', []);
    await ensureUser('hvmap-member', ['libvirt']);
    const driver = libvirtDriver({ uri: kvm.uri });

    const outsider = asUser('hvmap-outsider');
    const seen = await driver.guests(outsider);
    const running = seen.guests.filter((g) => g.state === 'running');
    expect(running.length).toBe(6);
    expect(running.map((g) => g.os.reason)).toEqual(running.map(() => 'permission_denied'));
    expect(running[0].os.reasonDetail).toMatch(/access denied|permission|read only/i);
    expect(outsider.agentCalls).toBe(1);

    const member = asUser('hvmap-member');
    const all = await driver.guests(member);
    const rhel = all.guests.find((g) => g.name === domain.rhel);
    expect(rhel?.os.evidence[0]).toMatchObject({ source: 'guest-agent', text: 'Red Hat Enterprise Linux 9.4 (Plow)' });
    expect(all.guests.filter((g) => g.os.reason === 'permission_denied')).toEqual([]);
  });
});

describe('libvirt events: a change on the map in seconds with a 300 s scan interval', () => {
  let collector: RunningCollector;
  let agent: ReturnType<typeof startCli>;

  interface MapGuest {
    name: string;
    state: string;
    os: { id: string } | null;
    removedAt?: string | null;
  }

  const mapGuests = async (): Promise<MapGuest[]> => {
    const body = (await (await fetch(`${collector.url}/api/guests?limit=500`)).json()) as { items: MapGuest[] };
    return body.items;
  };
  const onMap = (name: string) => async () => (await mapGuests()).find((g) => g.name === name);

  /** Runs a change and returns the seconds until the map shows it. */
  async function timeToMap(change: () => Promise<unknown>, shows: (g: MapGuest | undefined) => boolean, what: string) {
    await change();
    const t = Date.now();
    await waitFor(onMap(domain.late), shows, 30_000, what).catch((err) => {
      throw new Error(`${err.message}\nagent output:\n${agent.output()}`);
    });
    return (Date.now() - t) / 1000;
  }

  beforeAll(async () => {
    collector = await startCollector({
      db: path.join(dir, 'hvmap.db'),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
    });
    const { token } = collector.tokens.create('real-kvm');
    agent = startCli(
      AGENT_CLI,
      [
        'run',
        '--collector',
        collector.agentUrl,
        '--libvirt-uri',
        kvm.uri,
        '--driver',
        'libvirt',
        '--interval',
        '300',
        '--state-dir',
        path.join(dir, 'state'),
      ],
      { HVMAP_TOKEN: token },
    );
    await waitFor(onMap(domain.rhel), (g) => g?.os?.id === 'rhel-9.4', 60_000, 'the first scan on the map');
  }, 120_000);

  afterAll(async () => {
    if (agent) await stopProcess(agent);
    await collector?.close();
  });

  it('follows a guest defined, started, its agent answering, stopped and undefined', async () => {
    const timings: Record<string, number> = {};
    const late: GuestSpec = { name: 'late', osRelease: OS_RELEASES.debian12, agent: 'running' };
    timings.defined = await timeToMap(
      async () => (domain.late = await kvm.define(late)),
      (g) => g?.state === 'shutoff',
      'the defined guest',
    );
    timings.started = await timeToMap(
      () => kvm.virsh('start', domain.late),
      (g) => g?.state === 'running',
      'the started guest',
    );
    // Boot time excluded: from the moment the guest agent answers virsh to the OS on the map.
    await waitFor(
      () =>
        kvm.virsh('guestinfo', '--hostname', domain.late).then(
          () => true,
          () => false,
        ),
      Boolean,
      120_000,
      'the guest agent',
    );
    const booted = Date.now();
    await waitFor(onMap(domain.late), (g) => g?.os?.id === 'debian-12', 30_000, 'the OS from the guest agent');
    timings.agentAnswered = (Date.now() - booted) / 1000;
    timings.stopped = await timeToMap(
      () => kvm.virsh('destroy', domain.late),
      (g) => g?.state === 'shutoff',
      'the stopped guest',
    );
    timings.undefined = await timeToMap(
      () => kvm.virsh('undefine', domain.late),
      (g) => !g || Boolean(g.removedAt),
      'the undefined guest',
    );
    console.log('libvirt event → map (s):', timings);
    expect(timings.defined).toBeLessThan(2);
    expect(timings.started).toBeLessThan(2);
    expect(timings.stopped).toBeLessThan(2);
    expect(timings.undefined).toBeLessThan(2);
    expect(timings.agentAnswered).toBeLessThan(10);
    expect(agent.output()).toMatch(/watching hypervisor events/);
  }, 240_000);
});

/** Creates a system user without a home, in `groups`, unless it exists. */
async function ensureUser(user: string, groups: string[]): Promise<void> {
  const exists = await runProgram('id', ['-u', user]);
  if (exists === 0) return;
  const code = await runProgram('useradd', [
    '--system',
    '--no-create-home',
    ...(groups.length ? ['-G', groups.join(',')] : []),
    user,
  ]);
  if (code !== 0) throw new Error(`useradd ${user} failed (exit ${code})`);
}

async function runProgram(program: string, args: string[]): Promise<number | null> {
  return (await localRunner().run(program, args)).code;
}

// Last in this file: the demo removes every guest of the harness before defining its own.
describe('hvmap demo --real-kvm', () => {
  it('adds a real KVM host whose guests are identified by their guest agent', async () => {
    const db = path.join(dir, 'demo.db');
    const demo = await runCli(
      COLLECTOR_CLI,
      ['demo', '--real-kvm', '--listen', '127.0.0.1:0', '--duration', '5', '--interval', '2', '--db', db],
      {},
      { cwd: dir },
    );
    expect(demo.code, demo.stdout + demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/real KVM host kvm-real \(libvirtd on qemu:\/\/\/system/);
    const report = await runCli(COLLECTOR_CLI, ['report', '--db', db, '--format', 'json']);
    const guests = (
      JSON.parse(report.stdout) as { guests: { host: string; name: string; os: { id: string } | null }[] }
    ).guests
      .filter((g) => g.host === 'kvm-real.demo')
      .map((g) => [g.name, g.os?.id]);
    expect(guests.sort()).toEqual([
      ['hvmap-t-debian12', 'debian-12'],
      ['hvmap-t-rhel94', 'rhel-9.4'],
      ['hvmap-t-upgraded', 'rhel-9.4'],
    ]);
  }, 240_000);
});
