import { identifyGuestOsText, identifyHypervisorText } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { loadCollectorCatalog } from '../collector.js';
import { type FleetHost, makePlan, PlanError, planHosts, selectHosts } from './plan.js';

const catalog = loadCollectorCatalog();
const DATE = '2026-12-01';

function host(agent: string, hostname: string, hypervisor: string, oses: (string | null)[]): FleetHost {
  return {
    agent,
    hostname,
    hypervisor: identifyHypervisorText(hypervisor),
    guests: oses.map((text, i) => ({
      key: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      name: `${agent}-g${i}`,
      os: text ? identifyGuestOsText(text) : null,
      osUnknownReason: text ? null : 'vm_off',
      extras: {},
    })),
  };
}

const fleet = [
  host('hv-a', 'hv.example', 'Hyper-V on Windows Server 2012 R2', [
    'Red Hat Enterprise Linux 6.10',
    'Windows Server 2012 R2',
    null,
    'Red Hat Enterprise Linux 8.6',
  ]),
  host('hv-b', 'hv.example', 'Hyper-V on Windows Server 2019', ['Windows Server 2019']),
];

describe('planHosts', () => {
  it('orders losses first (certified → not-certified leading), then gains, then the unchanged', () => {
    const p = planHosts([fleet[0]], identifyHypervisorText('VMware ESXi 8.0') as never, catalog, DATE);
    const severity = { certified: 0, unknown: 1, 'not-certified': 2 } as const;
    const delta = p.guests.map((g) => severity[g.after.status] - severity[g.now.status]);
    const group = delta.map((d) => (d > 0 ? 0 : d < 0 ? 1 : 2));
    expect(group).toEqual([...group].sort());
    expect(p.guests.at(-1)?.change).toBe('unchanged');
    // RHEL 6.10 and Windows Server 2012 R2 are certified on Hyper-V 2012 R2 (none of them on ESXi: no public
    // SVVP or Red Hat list); RHEL 8.6 is not on Microsoft's 2012 R2 list, and unknown on ESXi.
    expect(p.summary).toBe(
      'hv-a on VMware ESXi 8.0: 4 guests; 2 lose certification, 0 gain it, 1 improve without certification, 1 unchanged; 1 of the new verdicts rest on partial lists',
    );
  });

  it('gives an unidentified guest unknown now and after, with the reason', () => {
    const p = planHosts([fleet[0]], identifyHypervisorText('Hyper-V on Windows Server 2022') as never, catalog, DATE);
    const off = p.guests.find((g) => g.os === null);
    expect(off?.after).toMatchObject({ status: 'unknown', deciding: [] });
    expect(off?.after.why[0]).toMatch(/^guest OS not identified \(vm_off\)/);
  });
});

describe('choosing what to plan', () => {
  it('takes an agent name, or a hostname one agent alone reports', () => {
    expect(selectHosts(fleet, ['hv-b']).map((h) => h.agent)).toEqual(['hv-b']);
    expect(() => selectHosts(fleet, ['hv.example'])).toThrow(
      /2 agents report the hostname "hv\.example" \(hv-a, hv-b\)/,
    );
    expect(selectHosts(fleet, [], 'hv-?').map((h) => h.agent)).toEqual(['hv-a', 'hv-b']);
    expect(() => selectHosts([], ['hv-a'])).toThrow(PlanError);
  });

  it('refuses a guest plan mixed with a host plan, and a host plan without --to', () => {
    const base = { hosts: [], candidates: [], date: DATE };
    expect(() => makePlan(fleet, { ...base, guest: 'hv-a/hv-a-g0', to: 'Hyper-V 2022' }, catalog)).toThrow(/not both/);
    expect(() => makePlan(fleet, { ...base, hosts: ['hv-a'] }, catalog)).toThrow(/--to/);
  });
});
