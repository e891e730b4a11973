import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Guest, HostFacts, Hypervisor } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { type Driver, DriverError, type GuestScan } from './drivers/driver.js';
import { DRIVERS } from './drivers/index.js';
import { replayRunner } from './replay.js';
import type { Runner } from './runner.js';
import { contentHash, NO_HYPERVISOR, scanOnce } from './scan.js';

const hostFacts: HostFacts = { hostname: 'kvm1', os: { platform: 'linux' }, cpu: {} };
const runner: Runner = {
  run: async () => ({ stdout: '', stderr: '', code: 0 }),
  readFile: async () => null,
};

function guest(name: string, uuid = `uuid-${name}`): Guest {
  return { uuid, name, state: 'running', os: { evidence: [{ source: 'name-hint', text: name }] } };
}

function fakeDriver(name: string, parts: Partial<Pick<Driver, 'detect' | 'hypervisor' | 'guests'>> = {}): Driver {
  return {
    name,
    detect: parts.detect ?? (async () => true),
    hypervisor: parts.hypervisor ?? (async (): Promise<Hypervisor> => ({ driver: name, product: 'kvm' })),
    guests: parts.guests ?? (async (): Promise<GuestScan> => ({ guests: [guest('web1')], errors: [] })),
  };
}

const virshMissing = async (): Promise<never> => {
  throw new DriverError('VIRSH_NOT_FOUND', 'virsh was not found: install the libvirt client tools');
};

describe('scanOnce', () => {
  it('runs every driver that detects its hypervisor and reports each run', async () => {
    const inv = await scanOnce(
      [
        fakeDriver('xen', { detect: async () => false }),
        fakeDriver('libvirt'),
        fakeDriver('hyperv', { guests: async () => ({ guests: [guest('db1')], errors: [] }) }),
      ],
      runner,
      { hostFacts },
    );
    expect(inv).toMatchObject({
      host: hostFacts,
      hypervisor: { driver: 'libvirt', product: 'kvm' },
      guests: [guest('web1'), guest('db1')],
      errors: [],
      partial: false,
      drivers: [
        { driver: 'libvirt', ok: true, guests: 1 },
        { driver: 'hyperv', ok: true, guests: 1 },
      ],
    });
    expect(inv.drivers?.[0].durationMs).toBeGreaterThanOrEqual(0);
    expect(new Date(inv.collectedAt).toISOString()).toBe(inv.collectedAt);
  });

  it('reports a guest two drivers see once, as the higher-priority driver saw it, with its hypervisor', async () => {
    const fromXe = { ...guest('web1', 'AB0E2F4C-0000-4000-8000-000000000001'), vcpus: 4 };
    const inv = await scanOnce(
      [
        fakeDriver('xenserver', {
          hypervisor: async () => ({ driver: 'xenserver', product: 'xcp-ng', version: '8.2.1' }),
          guests: async () => ({ guests: [fromXe], errors: [] }),
        }),
        fakeDriver('xen', {
          hypervisor: async () => ({ driver: 'xen', product: 'xen', version: '4.13.4' }),
          guests: async () => ({
            guests: [guest('web1', 'ab0e2f4c-0000-4000-8000-000000000001'), guest('xen-only')],
            errors: [],
          }),
        }),
      ],
      runner,
      { hostFacts },
    );
    expect(inv.hypervisor).toEqual({ driver: 'xenserver', product: 'xcp-ng', version: '8.2.1' });
    expect(inv.guests).toEqual([fromXe, guest('xen-only')]);
    // Each run still says how many guests its driver saw.
    expect(inv.drivers?.map((r) => [r.driver, r.guests])).toEqual([
      ['xenserver', 1],
      ['xen', 2],
    ]);
  });

  it("keeps guests sharing a UUID within one driver's list: clones are distinct guests", async () => {
    const clones = [guest('template-copy-a', 'uuid-clone'), guest('template-copy-b', 'uuid-clone')];
    const inv = await scanOnce(
      [
        fakeDriver('xen', { guests: async () => ({ guests: clones, errors: [] }) }),
        fakeDriver('libvirt', {
          guests: async () => ({ guests: [guest('template-copy-a', 'uuid-clone')], errors: [] }),
        }),
      ],
      runner,
      { hostFacts },
    );
    expect(inv.guests).toEqual(clones);
  });

  it("reports the next driver's hypervisor when the first one's hypervisor question fails", async () => {
    const inv = await scanOnce(
      [
        fakeDriver('xenserver', { hypervisor: virshMissing }),
        fakeDriver('xen', { hypervisor: async () => ({ driver: 'xen', product: 'xen' }) }),
      ],
      runner,
      { hostFacts },
    );
    expect(inv.hypervisor).toEqual({ driver: 'xen', product: 'xen' });
    expect(inv).toMatchObject({
      partial: true,
      drivers: [
        { driver: 'xenserver', ok: false },
        { driver: 'xen', ok: true },
      ],
    });
  });

  it('reports a driver that throws as one error with its code and a partial report, not a crash', async () => {
    const inv = await scanOnce([fakeDriver('libvirt', { hypervisor: virshMissing, guests: virshMissing })], runner, {
      hostFacts,
      detect: false,
    });
    expect(inv.errors).toEqual([
      { driver: 'libvirt', code: 'VIRSH_NOT_FOUND', message: 'virsh was not found: install the libvirt client tools' },
    ]);
    expect(inv).toMatchObject({
      partial: true,
      guests: [],
      hypervisor: { driver: 'libvirt', product: 'unknown' },
      drivers: [{ driver: 'libvirt', ok: false, guests: 0 }],
    });
  });

  it('keeps the guests of a driver whose hypervisor question fails', async () => {
    const inv = await scanOnce(
      [
        fakeDriver('libvirt', {
          hypervisor: async () => {
            throw new Error('virsh version: unexpected output');
          },
        }),
      ],
      runner,
      { hostFacts },
    );
    expect(inv.guests).toEqual([guest('web1')]);
    expect(inv.errors).toEqual([
      { driver: 'libvirt', code: 'DRIVER_FAILED', message: 'virsh version: unexpected output' },
    ]);
    expect(inv.partial).toBe(true);
  });

  it('passes on the errors of a driver that failed part-way and marks the report partial', async () => {
    const partialError = { driver: 'libvirt', code: 'DOMAIN_VANISHED', message: 'domain went away', guest: 'db1' };
    const inv = await scanOnce(
      [fakeDriver('libvirt', { guests: async () => ({ guests: [guest('web1')], errors: [partialError] }) })],
      runner,
      { hostFacts },
    );
    expect(inv).toMatchObject({ guests: [guest('web1')], errors: [partialError], partial: true });
    expect(inv.drivers?.[0].ok).toBe(false);
  });

  it('reports NO_HYPERVISOR, with no guests, when no driver detects its hypervisor', async () => {
    const inv = await scanOnce([fakeDriver('libvirt', { detect: async () => false })], runner, { hostFacts });
    expect(inv.errors).toEqual([
      expect.objectContaining({ code: NO_HYPERVISOR, message: expect.stringContaining('--driver') }),
    ]);
    expect(inv).toMatchObject({ guests: [], drivers: [], partial: true });
  });

  it('reports a detect() that throws as a failed run, partial, and asks the next driver', async () => {
    const inv = await scanOnce([fakeDriver('xen', { detect: virshMissing }), fakeDriver('libvirt')], runner, {
      hostFacts,
    });
    expect(inv.hypervisor.driver).toBe('libvirt');
    expect(inv.errors).toEqual([expect.objectContaining({ driver: 'xen', code: 'VIRSH_NOT_FOUND' })]);
    expect(inv).toMatchObject({
      partial: true,
      drivers: [
        { driver: 'xen', ok: false, guests: 0 },
        { driver: 'libvirt', ok: true },
      ],
    });
  });

  it('runs a driver named by the operator without asking it to detect', async () => {
    const inv = await scanOnce([fakeDriver('libvirt', { detect: async () => false })], runner, {
      hostFacts,
      detect: false,
    });
    expect(inv.hypervisor.driver).toBe('libvirt');
    expect(inv.guests).toHaveLength(1);
  });
});

describe('scanOnce with every registered driver on a replayed XCP-ng host', () => {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'drivers/xenserver/testcases/xcpng-8.2-xe');

  it('runs xe and xl, which both detect the host, and reports each guest once, as xe saw it', async () => {
    const drivers = DRIVERS.map((d) => d.create({}));
    const inv = await scanOnce(drivers, replayRunner(dir), { hostFacts });
    expect(inv.drivers?.map((r) => [r.driver, r.ok, r.guests])).toEqual([
      ['xenserver', true, 6],
      ['xen', true, 4],
    ]);
    expect(inv).toMatchObject({ partial: false, errors: [], hypervisor: { driver: 'xenserver', product: 'xcp-ng' } });
    expect(inv.guests.map((g) => g.name)).toEqual([
      'win2022-sql',
      'rocky86-web',
      'debian11-notools',
      'rhel79-app',
      'ubuntu2204-build',
      'win2019-old',
    ]);
    expect(inv.guests.every((g) => g.os.evidence.every((e) => e.source !== 'xenstore'))).toBe(true);
  });
});

describe('contentHash', () => {
  const base = {
    collectedAt: '2024-05-01T10:00:00.000Z',
    host: hostFacts,
    hypervisor: { driver: 'libvirt', product: 'kvm' },
    guests: [guest('web1'), guest('db1')],
    errors: [],
    drivers: [{ driver: 'libvirt', ok: true, durationMs: 12, guests: 2 }],
    partial: false,
  };

  it('is the same when only the time, the driver durations, the guest order or key order differ', () => {
    const again = {
      partial: false,
      collectedAt: '2024-05-01T10:01:00.000Z',
      drivers: [{ driver: 'libvirt', ok: true, durationMs: 40, guests: 2 }],
      guests: [guest('db1'), guest('web1')],
      errors: [],
      hypervisor: { product: 'kvm', driver: 'libvirt' },
      host: hostFacts,
    };
    expect(contentHash(again)).toBe(contentHash(base));
  });

  it('changes when a guest changes state', () => {
    const stopped = { ...base, guests: [guest('web1'), { ...guest('db1'), state: 'shutoff' as const }] };
    expect(contentHash(stopped)).not.toBe(contentHash(base));
  });
});
