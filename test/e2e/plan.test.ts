/**
 * What if, on a fleet of real agents: a KVM host whose agent process runs the real virsh on libvirt's
 * test driver, and two Hyper-V hosts whose agents run the real Hyper-V driver on captured outputs.
 * Every "after" verdict is what `hvmap check` says of that guest's OS on the new hypervisor that day.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVERS, type RunningAgent, replayRunner, runAgent } from '../../agent/src/index.js';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import type { GuestPlan, HostPlan } from '../../collector/src/plan/plan.js';
import { agentArgs, guests, writeHost } from '../helpers/kvm-host.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

const HYPERV_CASES = fileURLToPath(new URL('../../agent/src/drivers/hyperv/testcases/', import.meta.url));
const DATE = '2026-12-01';
const TO_2022 = 'Hyper-V on Windows Server 2022';

let dir: string;
let collector: RunningCollector;
let db: string;
const replayed: RunningAgent[] = [];
let kvm: ReturnType<typeof startCli>;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-plan-'));
  db = path.join(dir, 'hvmap.db');
  collector = await startCollector({ db, listen: '127.0.0.1:0', logger: pino({ level: 'silent' }), intervalSec: 60 });
  const hyperv = DRIVERS.find((d) => d.name === 'hyperv');
  for (const name of ['ws2012r2-hyperv', 'ws2019-hyperv']) {
    replayed.push(
      await runAgent({
        collectorUrl: collector.agentUrl,
        token: collector.tokens.create(name).token,
        drivers: [hyperv?.create({}) as never],
        detect: false,
        runner: replayRunner(path.join(HYPERV_CASES, name)),
        stateDir: path.join(dir, name),
        intervalSec: 60,
        hostname: `${name}.example`,
        logger: pino({ level: 'silent' }),
      }),
    );
  }
  const hostDir = writeHost(dir, 'kvm-plan', [
    ...guests(2, 'http://redhat.com/rhel/8.6'),
    ...guests(3, 'http://microsoft.com/win/2k19').slice(2),
  ]);
  kvm = startCli(AGENT_CLI, agentArgs(collector.agentUrl, hostDir), {
    HVMAP_TOKEN: collector.tokens.create('kvm-plan').token,
  });
  await waitFor(
    () =>
      collector.store.lastSeq('kvm-plan') !== null &&
      replayed.every((_, i) => collector.store.lastSeq(['ws2012r2-hyperv', 'ws2019-hyperv'][i]) !== null),
    (ok) => ok,
    30_000,
    'every host on the map',
  );
}, 60_000);

afterAll(async () => {
  await stopProcess(kvm);
  await Promise.all(replayed.map((a) => a.stop()));
  await collector.close();
  rmSync(dir, { recursive: true, force: true });
});

const plan = async (args: string[]) => {
  const r = await runCli(COLLECTOR_CLI, ['plan', ...args, '--date', DATE, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe('hvmap plan --host --to', () => {
  it('gives every guest of the host the verdict hvmap check gives its OS on the new hypervisor', async () => {
    const p = (await plan(['--db', db, '--host', 'ws2012r2-hyperv', '--to', TO_2022])) as HostPlan;
    expect(p.hosts).toMatchObject([
      { agent: 'ws2012r2-hyperv', from: { id: 'hyper-v-2012-r2', name: 'Hyper-V on Windows Server 2012 R2' } },
    ]);
    expect(p.guests.length).toBeGreaterThan(2);
    for (const g of p.guests) {
      if (!g.os) {
        expect(g.after.status).toBe('unknown');
        continue;
      }
      const check = await runCli(COLLECTOR_CLI, [
        'check',
        '--hypervisor',
        TO_2022,
        '--guest',
        g.os.name,
        '--date',
        DATE,
        '--json',
      ]);
      const c = JSON.parse(check.stdout);
      expect(c.guest.id, g.os.name).toBe(g.os.id);
      expect({ status: g.after.status, eol: g.after.eol }, `${g.name} (${g.os.name})`).toEqual({
        status: c.status,
        eol: c.eol,
      });
    }
  });

  it('puts the guests that lose certification first and sums the plan up', async () => {
    const p = (await plan(['--db', db, '--hosts-matching', 'ws*', '--to', 'VMware ESXi 8.0'])) as HostPlan;
    const ranks = p.guests.map((g) => (g.change === 'unchanged' ? 2 : g.change.startsWith('certified') ? 0 : 1));
    expect(ranks).toEqual([...ranks].sort());
    expect(p.guests[0].change).toMatch(/^certified → /);
    expect(p.summary).toMatch(
      /^ws2012r2-hyperv, ws2019-hyperv on VMware ESXi 8\.0: \d+ guests; \d+ lose certification/,
    );
  });

  it('is the same through the API of the running collector', async () => {
    const fromDb = await plan(['--db', db, '--host', 'kvm-plan', '--to', TO_2022]);
    const fromApi = await plan(['--collector', collector.url, '--host', 'kvm-plan', '--to', TO_2022]);
    expect(fromApi).toEqual(fromDb);
    expect((fromDb as HostPlan).guests.map((g) => g.after.status)).toContain('certified');
  });
});

describe('hvmap plan --guest', () => {
  it("lists the fleet's hypervisors and the candidates, certified first, with the rows that decide", async () => {
    const p = (await plan([
      '--db',
      db,
      '--guest',
      'kvm-plan/vm000',
      '--candidates',
      'Hyper-V on Windows Server 2025',
    ])) as GuestPlan;
    expect(p.guest).toMatchObject({ host: 'kvm-plan', name: 'vm000', os: { id: 'rhel-8.6' } });
    const names = p.options.map((o) => o.hypervisor.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'KVM on RHEL 9.2',
        'Hyper-V on Windows Server 2012 R2',
        'Hyper-V on Windows Server 2019',
        'Hyper-V on Windows Server 2025',
      ]),
    );
    const statuses = p.options.map((o) => o.verdict.status);
    expect(statuses.indexOf('certified')).toBe(0);
    for (const o of p.options.filter((x) => x.verdict.status === 'certified'))
      expect(o.verdict.deciding.length, o.hypervisor.name).toBeGreaterThan(0);
    expect(p.options.find((o) => o.current)?.hypervisor.name).toBe('KVM on RHEL 9.2');
    expect(p.options.find((o) => o.hypervisor.name.endsWith('2025'))?.hosts).toEqual([]);
  });
});

describe('what a plan does not understand', () => {
  it.each([
    [['--host', 'nope', '--to', TO_2022], /no host "nope": give a host by its agent name or its hostname/],
    [['--host', 'kvm-plan', '--to', 'my box'], /cannot identify the hypervisor "my box": give the hypervisor as/],
    [['--host', 'kvm-plan'], /say what the hosts would run: --to/],
    [['--guest', 'kvm-plan'], /is not HOST\/GUEST/],
    [['--guest', 'kvm-plan/nobody'], /no guest "nobody" on kvm-plan/],
    [['--hosts-matching', 'zz*', '--to', TO_2022], /no host matches "zz\*"/],
  ])('%j: exit 2 from the database, 400 from the API, saying what it takes', async (args, message) => {
    const cli = await runCli(COLLECTOR_CLI, ['plan', '--db', db, ...args]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(message);
    const api = await runCli(COLLECTOR_CLI, ['plan', '--collector', collector.url, ...args]);
    expect(api.code).toBe(2);
    expect(api.stderr).toMatch(/the collector answered 400/);
    expect(api.stderr).toMatch(message);
  });

  it('refuses a plan on an empty fleet', async () => {
    const empty = await startCollector({
      db: path.join(dir, 'empty.db'),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
    });
    try {
      const res = await fetch(`${empty.url}/api/plan?host=x&to=${encodeURIComponent(TO_2022)}`);
      expect(res.status).toBe(400);
      expect((await res.json()).message).toMatch(/the fleet is empty/);
    } finally {
      await empty.close();
    }
  });
});
