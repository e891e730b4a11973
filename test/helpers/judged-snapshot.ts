/**
 * A snapshot of one KVM host (kvm-01.example, KVM on RHEL 9.2) ready for the store, its guests judged
 * by their first evidence text read as an OS id: the store's and the alerts' tests, without a catalog.
 */
import type { Guest, Inventory } from '@hvmap/shared';
import type { GuestEvaluation } from '../../collector/src/map/evaluator.js';
import type { JudgedInventory } from '../../collector/src/store/inventory.js';

export function judgedSnapshot(
  seq: number,
  guests: Guest[],
  verdictOf: (osId: string | null) => Pick<GuestEvaluation, 'status' | 'eolDate' | 'verdict'>,
  judgedUnder: string,
): JudgedInventory {
  const inventory: Inventory = {
    type: 'inventory',
    seq,
    collectedAt: new Date().toISOString(),
    host: { hostname: 'kvm-01.example', os: { platform: 'linux' }, cpu: {} },
    hypervisor: { driver: 'libvirt', product: 'kvm', version: '8.2.0' },
    guests,
    errors: [],
    partial: false,
  };
  return {
    inventory,
    hypervisor: { id: 'kvm-rhel-9.2', product: 'kvm', version: 'RHEL 9.2', name: 'KVM on RHEL 9.2' },
    catalogVersion: 'test',
    judgedUnder,
    judge: (g) => {
      const id = g.os.evidence[0]?.text ?? null;
      return {
        os: id ? { id, family: 'linux', distro: id.split('-')[0], version: '', name: id } : null,
        ...verdictOf(id),
      };
    },
  };
}
