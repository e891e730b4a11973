/**
 * One identification for one evidence: `hvmap-agent scan` (the real virsh on libvirt's test driver,
 * guests carrying libosinfo ids in their metadata) and `hvmap check --guest` given the same id name
 * the same OS, for ids the hand-kept table used to miss and ids newer than libosinfo's database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoGuest } from '../../collector/src/demo/fleet.js';
import { writeHost } from '../helpers/kvm-host.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli } from '../helpers/processes.js';

const IDS = [
  'http://redhat.com/rhel/9.4',
  'http://redhat.com/rhel-atomic/7.4',
  'http://oracle.com/oel/5.4',
  'http://scientificlinux.org/scientificlinux/6.10',
  'http://fedoraproject.org/coreos/stable',
  'http://suse.com/sle/15.1',
  'http://alpinelinux.org/alpinelinux/3.17',
  'http://microsoft.com/win/2k22',
  'http://rockylinux.org/rocky/10',
];

let dir: string;
let scanned: { name: string; identified: { known: boolean; os?: { id: string; name: string } } }[];
let hypervisor: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-agree-'));
  const list: DemoGuest[] = IDS.map((osinfo, i) => ({
    name: `g${i}`,
    uuid: `6b1d8f20-0000-4000-8000-${String(i).padStart(12, '0')}`,
    osinfo,
    memoryMiB: 512,
    vcpus: 1,
    running: true,
  }));
  const host = writeHost(dir, 'kvm-agree', list);
  const r = await runCli(AGENT_CLI, [
    'scan',
    '--driver',
    'libvirt',
    '--libvirt-uri',
    `test://${path.join(host, 'node.xml')}`,
    '--root',
    path.join(host, 'root'),
    '--json',
  ]);
  expect(r.code, r.stderr).toBe(0);
  const inventory = JSON.parse(r.stdout);
  scanned = inventory.guests;
  hypervisor = inventory.hypervisor.identified.name;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hvmap check --guest and hvmap-agent scan', () => {
  it('scans every guest', () => {
    expect(scanned.map((g) => g.name)).toEqual(IDS.map((_, i) => `g${i}`));
    expect(hypervisor).toBe('KVM on RHEL 9.2');
  });

  it.each(IDS.map((id, i) => [id, i] as const))('name the same OS for %s', async (id, i) => {
    const guest = scanned[i];
    expect(guest.identified.known, JSON.stringify(guest.identified)).toBe(true);
    const r = await runCli(COLLECTOR_CLI, ['check', '--hypervisor', hypervisor, '--guest', id, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const checked = JSON.parse(r.stdout).guest;
    expect(checked).toEqual(guest.identified.os);
  });
});
