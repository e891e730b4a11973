import { fileURLToPath } from 'node:url';
import { identifyGuestOsText, identifyHypervisorText } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../catalog/load.js';
import { evaluate } from './evaluate.js';
import { explain } from './explain.js';

const catalog = loadCatalog({ shipped: fileURLToPath(new URL('../../catalog', import.meta.url)) });
const verdict = (hypervisor: string, guest: string) =>
  evaluate(identifyHypervisorText(hypervisor), identifyGuestOsText(guest), catalog, '2026-12-02');

describe('explain', () => {
  it('says why the OS of an unknown guest was not identified, with the reason code and what to do', () => {
    const why = explain({ status: 'unknown', osUnknownReason: 'kvp_empty', osUnknownDetail: 'KVP items: 0' });
    expect(why).toEqual([
      expect.stringMatching(/^guest OS not identified \(kvp_empty\): .*integration services.*KVP items: 0/),
    ]);
  });

  it('names a reason code it has no hint for, rather than dropping it', () => {
    expect(explain({ status: 'unknown', osUnknownReason: 'cosmic_ray' })).toEqual([
      'guest OS not identified (cosmic_ray): the guest OS could not be identified',
    ]);
  });

  it('names what each program that could decide an unknown pair lacks', () => {
    const why = explain(verdict('RHEL 9.4 KVM', 'Windows Server 2022 Datacenter'));
    expect(why).toEqual([
      expect.stringMatching(/^ms-svvp: .*Windows Server Catalog/),
      expect.stringMatching(/^rh-kvm-guests: .*KB 973163.*add a local row/),
    ]);
  });

  it('says a guest is newer than the list that would decide it', () => {
    expect(explain(verdict('Hyper-V on Windows Server 2022', 'Ubuntu 25.04'))).toEqual([
      expect.stringMatching(
        /^ms-hyperv-linux: newer than the list: Microsoft's Ubuntu on Hyper-V page lists Ubuntu up to 24.04/,
      ),
    ]);
  });

  it('falls back to the verdict reason when no program says anything', () => {
    expect(explain(verdict('Proxmox VE 8.1', 'Ubuntu 22.04.3 LTS'))).toEqual([
      'no program of the catalog speaks of Ubuntu 22.04 on Proxmox VE 8.1',
    ]);
  });

  it('names what excludes a not-certified guest', () => {
    expect(explain(verdict('Windows Server 2012 R2 Hyper-V', 'Ubuntu 22.04.3 LTS'))).toEqual([
      expect.stringMatching(/^ms-hyperv-linux: Microsoft's Ubuntu on Hyper-V page lists Ubuntu 22.04 only on hosts/),
    ]);
  });

  it('has nothing to explain for a certified guest', () => {
    expect(explain(verdict('Hyper-V on Windows Server 2019', 'Ubuntu 22.04.3 LTS'))).toEqual([]);
  });
});
