/**
 * `hvmap catalog gaps` on a fleet with undecided pairs; its template refused by `catalog validate`
 * until filled in; filled in, it goes in force by SIGHUP on a real `hvmap serve` and decides those
 * guests. A bad local file is refused and the running catalog stays.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Inventory } from '@hvmap/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPeer } from '../helpers/agent-peer.js';
import { COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

let dir: string;
let db: string;
let local: string;
let serve: ReturnType<typeof startCli>;
let url: string;

const libosinfo = (id: string) => ({ evidence: [{ source: 'libosinfo' as const, text: id }] });
const inventory: Inventory = {
  type: 'inventory',
  seq: 1,
  collectedAt: new Date().toISOString(),
  host: { hostname: 'kvm-gaps', os: { platform: 'linux' }, cpu: {} },
  hypervisor: { driver: 'libvirt', product: 'kvm', version: '9.0.0', hostOs: 'Red Hat Enterprise Linux 9.4 (Plow)' },
  guests: [
    { uuid: 'u-1', name: 'dc01', state: 'running', os: libosinfo('http://microsoft.com/win/2k22') },
    { uuid: 'u-2', name: 'dc02', state: 'running', os: libosinfo('http://microsoft.com/win/2k22') },
    { uuid: 'u-3', name: 'app01', state: 'running', os: libosinfo('http://redhat.com/rhel/9.4') },
    { uuid: 'u-4', name: 'off01', state: 'shutoff', os: { evidence: [], reason: 'vm_off' } },
  ],
  errors: [],
  partial: false,
};

interface GapsJson {
  pairs: { hypervisor: { id: string }; guest: { id: string }; guests: number; programs: string[]; why: string[] }[];
  unidentified: number;
}

async function statuses(): Promise<Record<string, string>> {
  const r = await runCli(COLLECTOR_CLI, ['report', '--db', db, '--format', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(
    (JSON.parse(r.stdout).guests as { name: string; status: string }[]).map((g) => [g.name, g.status]),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-gaps-'));
  db = path.join(dir, 'hvmap.db');
  local = path.join(dir, 'catalog.d');
  mkdirSync(local);
  const token = await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-gaps', '--db', db, '--create']);
  expect(token.code, token.stderr).toBe(0);
  const hvm = /hvm_[A-Za-z0-9_-]+/.exec(token.stdout)?.[0] as string;
  serve = startCli(COLLECTOR_CLI, ['serve', '--db', db, '--catalog', local, '--listen', '127.0.0.1:0']);
  const out = await waitFor(
    () => serve.output(),
    (o) => o.includes('hvmap collector on'),
    15_000,
    'the collector',
  );
  url = /hvmap collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
  const peer = await connectPeer(`${url.replace('http', 'ws')}/agent`, hvm);
  peer.send({ type: 'hello', protocol: 1, agentId: 'gaps-1', agentVersion: '0.1.0', hostname: 'kvm-gaps' });
  await peer.next('welcome');
  peer.send(inventory);
  await peer.next('ack');
  peer.ws.close();
});

afterAll(async () => {
  await stopProcess(serve);
  rmSync(dir, { recursive: true, force: true });
});

describe('hvmap catalog gaps', () => {
  it('lists the undecided pairs with their guest counts, most guests first, and why', async () => {
    const r = await runCli(COLLECTOR_CLI, ['catalog', 'gaps', '--db', db, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const gaps = JSON.parse(r.stdout) as GapsJson;
    expect(gaps.pairs.map((p) => [p.hypervisor.id, p.guest.id, p.guests])).toEqual([
      ['kvm-rhel-9.4', 'windows-server-2022', 2],
      ['kvm-rhel-9.4', 'rhel-9.4', 1],
    ]);
    expect(gaps.unidentified).toBe(1);
    expect(gaps.pairs[0].programs).toEqual(['ms-svvp', 'rh-kvm-guests']);
    expect(gaps.pairs[1].why).toContainEqual(expect.stringMatching(/^rh-kvm-guests: .*KB 973163/));
    // The running collector answers the same.
    const api = await runCli(COLLECTOR_CLI, ['catalog', 'gaps', '--collector', url, '--json']);
    expect(JSON.parse(api.stdout)).toEqual(gaps);
    const table = await runCli(COLLECTOR_CLI, ['catalog', 'gaps', '--db', db]);
    expect(table.stdout).toMatch(/^2\tWindows Server 2022 on KVM on RHEL 9\.4\tkvm-gaps$/m);
  });

  it('writes a template that validate refuses until filled in, and that SIGHUP puts in force once filled', async () => {
    const templates = path.join(dir, 'templates');
    const t = await runCli(COLLECTOR_CLI, ['catalog', 'gaps', '--db', db, '--template', templates]);
    expect(t.code, t.stderr).toBe(0);
    const file = path.join(templates, 'rh-kvm-guests.gaps.json');
    const template = JSON.parse(readFileSync(file, 'utf8'));
    expect(template.rows).toHaveLength(2);

    const refused = await runCli(COLLECTOR_CLI, ['catalog', 'validate', templates]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('rh-kvm-guests.gaps.json rows[0]: /verdict: waiting for its verdict');

    // The operator reads KB 973163 and writes what it says.
    for (const row of template.rows) {
      row.verdict = 'covered';
      row.source = {
        title: 'Red Hat KB 973163, read on the customer portal',
        url: 'https://access.redhat.com/articles/973163',
      };
      row.read = '2026-12-02';
    }
    writeFileSync(path.join(local, 'rh-kvm-guests.gaps.json'), JSON.stringify(template));
    const valid = await runCli(COLLECTOR_CLI, ['catalog', 'validate', local]);
    expect(valid.stdout.trim(), valid.stdout).toBe('catalog valid');

    expect(await statuses()).toMatchObject({ dc01: 'unknown', app01: 'unknown' });
    serve.kill('SIGHUP');
    await waitFor(
      () => serve.output(),
      (o) => /catalog \w+ in force; 3 changes/.test(o),
      10_000,
      'the reload',
    );
    expect(await statuses()).toEqual({ dc01: 'certified', dc02: 'certified', app01: 'certified', off01: 'unknown' });
    const after = JSON.parse(
      (await runCli(COLLECTOR_CLI, ['catalog', 'gaps', '--db', db, '--json'])).stdout,
    ) as GapsJson;
    expect(after.pairs).toEqual([]);
    // A plan asked of the running collector weighs the operator's rows too: app01 stays certified
    // on this KVM host, and the row that decides is the local one.
    const plan = JSON.parse(
      (await runCli(COLLECTOR_CLI, ['plan', '--collector', url, '--guest', 'kvm-gaps/app01', '--json'])).stdout,
    ) as { options: { current: boolean; verdict: { status: string; deciding: { source: string }[] } }[] };
    const here = plan.options.find((o) => o.current);
    expect(here?.verdict.status).toBe('certified');
    expect(here?.verdict.deciding.map((d) => d.source)).toContain('https://access.redhat.com/articles/973163');
  });

  it('refuses a local file with a sourceless row, an unknown program or contradicting rows, and keeps the catalog in force', async () => {
    const good = JSON.parse(readFileSync(path.join(local, 'rh-kvm-guests.gaps.json'), 'utf8'));
    const cases: [string, unknown, RegExp][] = [
      [
        'sourceless.json',
        { ...good, rows: [{ ...good.rows[0], source: undefined }] },
        /sourceless\.json rows\[0\]: \/source: no source/,
      ],
      ['typo.json', { ...good, program: 'rh-kvm-guest' }, /typo\.json: "rh-kvm-guest" is not a shipped program/],
      [
        'clash.json',
        { ...good, rows: [good.rows[0], { ...good.rows[0], verdict: 'excluded' }] },
        /clash\.json rows\[1\]: excluded here, but covered in clash\.json rows\[0\]/,
      ],
    ];
    for (const [name, content, reason] of cases) {
      const bad = path.join(local, name);
      writeFileSync(bad, JSON.stringify(content));
      const v = await runCli(COLLECTOR_CLI, ['catalog', 'validate', local]);
      expect(v.code, name).toBe(1);
      expect(v.stdout).toMatch(reason);
      const before = serve.output().length;
      serve.kill('SIGHUP');
      const said = await waitFor(
        () => serve.output().slice(before),
        (o) => o.includes('catalog refused'),
        10_000,
        `the refusal of ${name}`,
      );
      expect(said).toMatch(reason);
      expect(await statuses()).toMatchObject({ dc01: 'certified', app01: 'certified' });
      rmSync(bad);
    }
  });
});
