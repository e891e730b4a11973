import type { Guest } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { loadCollectorCatalog } from '../collector.js';
import { Evaluator } from './evaluator.js';

const catalog = loadCollectorCatalog();
const hv = { id: 'hyper-v-2019', product: 'hyper-v', version: '2019', name: 'Hyper-V on Windows Server 2019' };

function guest(name: string, evidence: Guest['os']['evidence']): Guest {
  return {
    uuid: `u-${name}`,
    name,
    state: 'running',
    os: { evidence: [...evidence, { source: 'name-hint', text: name }] },
  };
}

describe('Evaluator', () => {
  it('gives guests with the same evidence one shared result, whatever their names', () => {
    const evaluator = new Evaluator(catalog);
    const rhel = [{ source: 'libosinfo' as const, text: 'http://redhat.com/rhel/8.2' }];
    const a = evaluator.evaluateGuest(guest('web01', rhel), hv, '2026-11-26');
    const b = evaluator.evaluateGuest(guest('db-server', rhel), hv, '2026-11-26');
    expect(a).toBe(b);
    expect(a).toMatchObject({ status: 'certified', os: { id: 'rhel-8.2' } });
  });

  it('identifies a host that reports the same hypervisor once, and one that reports another anew', () => {
    const evaluator = new Evaluator(catalog);
    const kvm = (hostOs: string) => ({
      type: 'inventory' as const,
      seq: 1,
      collectedAt: '2026-11-26T00:00:00.000Z',
      host: { hostname: 'kvm-01', os: { platform: 'linux' }, cpu: {} },
      hypervisor: { driver: 'libvirt', product: 'kvm', version: '8.0.0', hostOs },
      guests: [],
      errors: [],
      partial: false,
    });
    const first = evaluator.judgeInventory(kvm('Red Hat Enterprise Linux 9.2 (Plow)')).hypervisor;
    expect(first).toMatchObject({ id: 'kvm-rhel-9.2' });
    expect(evaluator.judgeInventory(kvm('Red Hat Enterprise Linux 9.2 (Plow)')).hypervisor).toBe(first);
    expect(evaluator.judgeInventory(kvm('Red Hat Enterprise Linux 9.4 (Plow)')).hypervisor).toMatchObject({
      id: 'kvm-rhel-9.4',
    });
  });

  it('reads the name hint only for a guest nothing else identifies, and gives it a stable result', () => {
    const evaluator = new Evaluator(catalog);
    const first = evaluator.evaluateGuest(guest('win2019-dc01', []), hv, '2026-11-26');
    expect(first.os?.id).toBe('windows-server-2019');
    expect(evaluator.evaluateGuest(guest('win2019-dc01', []), hv, '2026-11-26')).toBe(first);
    // Strong evidence wins over a name that says otherwise.
    const named = guest('win2019-dc02', [{ source: 'libosinfo', text: 'http://redhat.com/rhel/9.2' }]);
    expect(evaluator.evaluateGuest(named, hv, '2026-11-26').os?.id).toBe('rhel-9.2');
  });

  it('judges again under a new catalog and on a new date, keeping identifications', () => {
    const evaluator = new Evaluator(catalog);
    const ws2008 = guest('app', [{ source: 'libosinfo', text: 'http://microsoft.com/win/2k8r2' }]);
    const before = evaluator.evaluateGuest(ws2008, hv, '2019-06-01');
    const after = evaluator.evaluateGuest(ws2008, hv, '2026-11-26');
    expect(before.eolDate).toBeNull();
    expect(after.eolDate).toBe('2020-01-14');
    evaluator.setCatalog(catalog);
    const again = evaluator.evaluateGuest(ws2008, hv, '2026-11-26');
    expect(again).not.toBe(after);
    expect(again.os).toBe(after.os);
  });
});
