import type { Guest, HostFacts, Hypervisor } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { type Driver, DriverError, type GuestScan } from './drivers/driver.js';
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
  it('runs the first driver that detects its hypervisor and reports its run', async () => {
    const inv = await scanOnce(
      [fakeDriver('xen', { detect: async () => false }), fakeDriver('libvirt'), fakeDriver('hyperv')],
      runner,
      { hostFacts },
    );
    expect(inv).toMatchObject({
      host: hostFacts,
      hypervisor: { driver: 'libvirt', product: 'kvm' },
      guests: [guest('web1')],
      errors: [],
      partial: false,
      drivers: [{ driver: 'libvirt', ok: true, guests: 1 }],
    });
    expect(inv.drivers?.[0].durationMs).toBeGreaterThanOrEqual(0);
    expect(new Date(inv.collectedAt).toISOString()).toBe(inv.collectedAt);
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

  it('reports a detect() that throws and asks the next driver', async () => {
    const inv = await scanOnce([fakeDriver('xen', { detect: virshMissing }), fakeDriver('libvirt')], runner, {
      hostFacts,
    });
    expect(inv.hypervisor.driver).toBe('libvirt');
    expect(inv.errors).toEqual([expect.objectContaining({ driver: 'xen', code: 'VIRSH_NOT_FOUND' })]);
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
