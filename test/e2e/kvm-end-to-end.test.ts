import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { type DemoHost, nodeXml } from '../../collector/src/demo/fleet.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

interface ReportJson {
  hosts: { hostname: string; hypervisor: { id: string | null } }[];
  guests: {
    name: string;
    uuid: string;
    state: string;
    status: string;
    os: { id: string } | null;
    why: string[];
    removedAt: string | null;
  }[];
}

const RHEL_92_OS_RELEASE =
  'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="9.2"\nPRETTY_NAME="Red Hat Enterprise Linux 9.2 (Plow)"\n';

let dir: string;
let collector: RunningCollector | null;
const children: ReturnType<typeof startCli>[] = [];

function host(guests: DemoHost['guests']): DemoHost {
  return { name: 'kvm-e2e', osRelease: RHEL_92_OS_RELEASE, guests };
}

function writeNode(h: DemoHost): void {
  const file = path.join(dir, 'node.xml');
  writeFileSync(`${file}.tmp`, nodeXml(h));
  renameSync(`${file}.tmp`, file);
}

const web = {
  name: 'web01',
  uuid: '11111111-2222-4333-8444-555555555501',
  osinfo: 'http://redhat.com/rhel/9.2',
  memoryMiB: 2048,
  vcpus: 2,
  running: true,
};
const dc = {
  name: 'dc01',
  uuid: '11111111-2222-4333-8444-555555555502',
  osinfo: 'http://microsoft.com/win/2k19',
  memoryMiB: 4096,
  vcpus: 4,
  running: true,
};
const mystery = {
  name: 'mystery',
  uuid: '11111111-2222-4333-8444-555555555503',
  memoryMiB: 512,
  vcpus: 1,
  running: false,
};

async function start(listen = '127.0.0.1:0'): Promise<RunningCollector> {
  collector = await startCollector({
    db: path.join(dir, 'hvmap.db'),
    listen,
    logger: pino({ level: 'silent' }),
    intervalSec: 1,
  });
  return collector;
}

async function report(): Promise<ReportJson> {
  const result = await runCli(COLLECTOR_CLI, ['report', '--db', path.join(dir, 'hvmap.db'), '--format', 'json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as ReportJson;
}

function startAgent(c: RunningCollector, token: string) {
  mkdirSync(path.join(dir, 'root', 'etc'), { recursive: true });
  writeFileSync(path.join(dir, 'root', 'etc', 'os-release'), RHEL_92_OS_RELEASE);
  const agent = startCli(
    AGENT_CLI,
    [
      'run',
      '--collector',
      c.agentUrl,
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

const present = (r: ReportJson) => r.guests.filter((g) => !g.removedAt);

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-e2e-'));
  collector = null;
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c)));
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a KVM host through the real virsh, a real agent process and the collector', () => {
  it('puts every guest on the map with its OS and status, and follows edits within a scan interval', async () => {
    writeNode(host([web, dc, mystery]));
    const c = await start();
    const { token } = c.tokens.create('kvm-e2e');
    const agent = startAgent(c, token);

    const first = await waitFor(report, (r) => r.guests.length === 3, 20_000, 'three guests on the map').catch(
      (err) => {
        throw new Error(`${err.message}\nagent output:\n${agent.output()}`);
      },
    );
    expect(first.hosts[0].hypervisor.id).toBe('kvm-rhel-9.2');
    const byName = Object.fromEntries(first.guests.map((g) => [g.name, g]));
    expect(byName.web01).toMatchObject({ uuid: web.uuid, state: 'running', os: { id: 'rhel-9.2' } });
    expect(byName.dc01).toMatchObject({ state: 'running', os: { id: 'windows-server-2019' } });
    expect(byName.mystery).toMatchObject({ state: 'shutoff', os: null, status: 'unknown' });
    // Each unknown says why: an OS not seen (with the driver's reason code), or a list behind a portal.
    expect(byName.mystery.why).toEqual([
      expect.stringMatching(/^guest OS not identified \((vm_off|no_guest_agent)\): /),
    ]);
    expect(byName.web01.why).toContainEqual(expect.stringMatching(/^rh-kvm-guests: .*KB 973163/));
    expect(agent.output()).not.toContain(token);

    // A guest added, one removed and one upgraded in place: the map follows.
    const added = {
      name: 'app02',
      uuid: '11111111-2222-4333-8444-555555555504',
      osinfo: 'http://ubuntu.com/ubuntu/22.04',
      memoryMiB: 1024,
      vcpus: 1,
      running: true,
    };
    writeNode(host([{ ...web, osinfo: 'http://redhat.com/rhel/9.4' }, dc, added]));
    const second = await waitFor(
      report,
      (r) =>
        present(r).length === 3 &&
        present(r).some((g) => g.name === 'app02') &&
        present(r).some((g) => g.os?.id === 'rhel-9.4'),
      10_000,
      'the edit on the map',
    );
    expect(second.guests.find((g) => g.name === 'mystery')?.removedAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(present(second).find((g) => g.name === 'app02')?.os?.id).toBe('ubuntu-22.04');
  });

  it('loses no snapshot while the collector is down: the agent catches up when it returns', async () => {
    writeNode(host([web]));
    const c = await start();
    const { token } = c.tokens.create('kvm-e2e');
    startAgent(c, token);
    await waitFor(report, (r) => r.guests.length === 1, 20_000, 'the first snapshot');
    const listen = new URL(c.url).host;
    await c.close();
    collector = null;

    writeNode(host([web, dc]));
    // The agent scans while nobody listens and keeps that snapshot in its spool.
    const spoolFile = path.join(dir, 'state', 'spool.json');
    const readSpool = () =>
      existsSync(spoolFile)
        ? (JSON.parse(readFileSync(spoolFile, 'utf8')) as {
            pending: { seq: number; collectedAt: string; guests: unknown[] } | null;
          })
        : null;
    const spooled = await waitFor(readSpool, (s) => s?.pending?.guests.length === 2, 20_000, 'the spooled snapshot');
    const pending = spooled?.pending as { seq: number; collectedAt: string };
    const restartedAt = new Date().toISOString();
    const c2 = await start(listen);
    // What the collector stores, in order: the first must be the spooled snapshot itself (its seq and
    // the time it was taken, before the restart), not a fresh scan that happens to look the same.
    const stored: { seq: number; collectedAt: string }[] = [];
    const apply = c2.store.apply.bind(c2.store);
    c2.store.apply = (agentName, evaluated, now) => {
      stored.push({ seq: evaluated.inventory.seq, collectedAt: evaluated.inventory.collectedAt });
      return apply(agentName, evaluated, now);
    };
    const after = await waitFor(report, (r) => r.guests.length === 2, 20_000, 'the snapshot taken during the outage');
    expect(after.guests.map((g) => g.name).sort()).toEqual(['dc01', 'web01']);
    expect(stored[0]).toEqual({ seq: pending.seq, collectedAt: pending.collectedAt });
    expect(pending.collectedAt < restartedAt).toBe(true);
  });

  it('refuses an agent whose token was revoked and says why in its log, without the token', async () => {
    writeNode(host([web]));
    const c = await start();
    const { token } = c.tokens.create('kvm-e2e');
    c.tokens.revoke('kvm-e2e');
    const agent = startAgent(c, token);
    await waitFor(
      () => agent.output(),
      (o) => /401|refused|unauthori[sz]ed/i.test(o),
      10_000,
      'the refusal in the agent log',
    );
    expect(agent.output()).not.toContain(token);
    expect((await report()).guests).toEqual([]);
  });
});

describe('hvmap-agent scan', () => {
  it('prints one inventory of a libvirt test-driver node with every domain identified or explained', async () => {
    writeNode(host([web, dc, mystery]));
    mkdirSync(path.join(dir, 'root', 'etc'), { recursive: true });
    writeFileSync(path.join(dir, 'root', 'etc', 'os-release'), RHEL_92_OS_RELEASE);
    const result = await runCli(AGENT_CLI, [
      'scan',
      '--libvirt-uri',
      `test://${path.join(dir, 'node.xml')}`,
      '--root',
      path.join(dir, 'root'),
      '--json',
    ]);
    expect(result.code).toBe(0);
    const inv = JSON.parse(result.stdout) as {
      guests: {
        name: string;
        uuid: string;
        state: string;
        vcpus: number;
        memoryBytes: number;
        os: { reason?: string };
      }[];
      partial: boolean;
    };
    expect(inv.guests.map((g) => g.name).sort()).toEqual(['dc01', 'mystery', 'web01']);
    const w = inv.guests.find((g) => g.name === 'web01');
    expect(w).toMatchObject({ uuid: web.uuid, state: 'running', vcpus: 2, memoryBytes: 2048 * 1024 * 1024 });
    // libvirt's test driver has no guest agent: the reason is reported, not an error.
    expect(w?.os.reason).toBe('not_supported');
  });

  it('says how to install virsh when it is missing, and exits non-zero without a stack trace', async () => {
    const result = await runCli(
      AGENT_CLI,
      ['scan', '--driver', 'libvirt', '--libvirt-uri', 'test:///default', '--json'],
      { PATH: '/nonexistent' },
    );
    expect(result.stdout + result.stderr).toMatch(/VIRSH_NOT_FOUND/);
    expect(result.stdout + result.stderr).toMatch(/libvirt-client/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('hvmap check', () => {
  it('prints the DESIGN.md object for a pair', async () => {
    const result = await runCli(COLLECTOR_CLI, [
      'check',
      '--hypervisor',
      'Hyper-V on Windows Server 2019',
      '--guest',
      'Red Hat Enterprise Linux release 8.2 (Ootpa)',
      '--date',
      '2026-11-26',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({
      hypervisor: { id: 'hyper-v-2019', product: 'hyper-v', version: '2019' },
      guest: { id: 'rhel-8.2', family: 'linux', distro: 'rhel', version: '8.2' },
      status: 'certified',
      eol: null,
    });
    expect(out.programs.length).toBeGreaterThan(0);
    for (const p of out.programs)
      expect(p).toMatchObject({
        program: expect.any(String),
        verdict: expect.stringMatching(/^(covered|excluded|silent)$/),
        conditions: expect.any(Array),
        source: expect.stringMatching(/^https?:\/\/|\S/),
      });
    // The pair is certified because Microsoft's Hyper-V list covers it: that row decides.
    expect(out.programs).toContainEqual(
      expect.objectContaining({
        program: 'ms-hyperv-linux',
        verdict: 'covered',
        source: expect.stringMatching(/^https:/),
      }),
    );
  });

  it('flags a guest past its end of support', async () => {
    const result = await runCli(COLLECTOR_CLI, [
      'check',
      '--hypervisor',
      'Windows Server 2012 R2 Hyper-V',
      '--guest',
      'Microsoft Windows Server 2008 R2 Enterprise',
      '--date',
      '2026-11-26',
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).eol).toEqual({ date: expect.stringMatching(/^20\d\d-\d\d-\d\d$/) });
  });

  it('exits 2 with a message on bad usage', async () => {
    const result = await runCli(COLLECTOR_CLI, ['check', '--guest', 'RHEL 9']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--hypervisor/);
  });
});
