/**
 * A row speaks only of the hypervisor products and versions its source names: a guest list written
 * for Red Hat Virtualization says nothing of plain RHEL KVM, Citrix's statements nothing of XCP-ng,
 * and Microsoft's Ubuntu page nothing of Azure Stack HCI.
 */
import { fileURLToPath } from 'node:url';
import { identifyGuestOsText, identifyHypervisorText } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { type CertificationProgram, formatSource, loadCatalog } from '../catalog/load.js';
import { evaluate } from './evaluate.js';

const catalog = loadCatalog({ shipped: fileURLToPath(new URL('../../catalog', import.meta.url)) });
const certificationPrograms = catalog.programs.filter((p): p is CertificationProgram => p.kind === 'certification');

/** Products whose names, when a row's source is about them, must be the row's product. */
const NAMED_PRODUCTS: { product: string; re: RegExp }[] = [
  { product: 'rhv', re: /red[\s_-]*hat[\s_-]*virtuali[sz]ation|\brhv\b/i },
  { product: 'ovirt', re: /\bovirt\b/i },
  { product: 'openshift-virtualization', re: /openshift/i },
  { product: 'xcp-ng', re: /xcp-?ng/i },
];

describe('every row names the product its source is about', () => {
  for (const program of certificationPrograms) {
    it(`${program.program}: a row whose source is about RHV, oVirt, OpenShift or XCP-ng is a row for that product`, () => {
      const leaks = program.rows.flatMap((row, i) => {
        const about = `${formatSource(row.source)} ${row.source.title ?? ''}`;
        const named = NAMED_PRODUCTS.filter(({ re }) => re.test(about)).map(({ product }) => product);
        return named.length && !named.includes(row.hypervisor.product)
          ? [`rows[${i}] is for ${row.hypervisor.product} but its source is about ${named.join(', ')}: ${about}`]
          : [];
      });
      expect(leaks).toEqual([]);
    });
  }
});

function programVerdict(hypervisor: string, guest: string, program: string) {
  const verdict = evaluate(identifyHypervisorText(hypervisor), identifyGuestOsText(guest), catalog, '2026-12-02');
  return verdict.programs.find((p) => p.program === program)?.verdict;
}

describe('no row leaks across products', () => {
  it("RHV 4.2's guest table covers RHV 4.2, not oVirt 4.2 nor RHEL 7 KVM", () => {
    expect(programVerdict('Red Hat Virtualization 4.2', 'Windows Server 2012 Datacenter', 'rh-kvm-guests')).toBe(
      'covered',
    );
    expect(programVerdict('oVirt 4.2', 'Windows Server 2012 Datacenter', 'rh-kvm-guests')).toBe('silent');
    expect(programVerdict('RHEL 7.9 KVM', 'Windows Server 2012 Datacenter', 'rh-kvm-guests')).toBe('silent');
    expect(programVerdict('RHEL 5.4 KVM', 'Windows Server 2012 Datacenter', 'rh-kvm-guests')).toBe('silent');
  });

  it("Citrix's SVVP statement covers XenServer, not XCP-ng (whose vendor is no SVVP partner)", () => {
    expect(programVerdict('Citrix XenServer 7.0', 'Windows Server 2016 Datacenter', 'ms-svvp')).toBe('covered');
    expect(programVerdict('XCP-ng 8.2', 'Windows Server 2016 Datacenter', 'ms-svvp')).not.toBe('covered');
    expect(programVerdict('XCP-ng 7.0', 'Windows Server 2016 Datacenter', 'ms-svvp')).not.toBe('covered');
  });

  it('the RHEL 5.4 KVM validation does not cover RHEL 5 Xen, nor a RHEL 8 KVM host', () => {
    expect(programVerdict('RHEL 5.4 KVM', 'Windows Server 2008 R2 Datacenter', 'ms-svvp')).toBe('covered');
    expect(programVerdict('Xen on RHEL 5.4', 'Windows Server 2008 R2 Datacenter', 'ms-svvp')).toBe('excluded');
    expect(programVerdict('RHEL 8.6 KVM', 'Windows Server 2008 R2 Datacenter', 'ms-svvp')).toBe('silent');
  });

  it('Azure Stack HCI takes only the rows of pages that name it', () => {
    expect(
      programVerdict('Azure Stack HCI 22H2', 'Red Hat Enterprise Linux release 9.4 (Plow)', 'ms-hyperv-linux'),
    ).toBe('covered');
    expect(programVerdict('Hyper-V on Windows Server 2022', 'Ubuntu 22.04.3 LTS', 'ms-hyperv-linux')).toBe('covered');
    expect(programVerdict('Azure Stack HCI 22H2', 'Ubuntu 22.04.3 LTS', 'ms-hyperv-linux')).toBe('silent');
    expect(programVerdict('Azure Local 23H2', 'Windows Server 2025 Datacenter', 'ms-hyperv-windows')).toBe('covered');
    expect(programVerdict('Azure Stack HCI 22H2', 'Windows Server 2025 Datacenter', 'ms-hyperv-windows')).not.toBe(
      'covered',
    );
    expect(programVerdict('Azure Local 23H2', 'Windows Server 2019 Datacenter', 'ms-hyperv-windows')).toBe('silent');
  });

  it('Hyper-V Server is judged as the Windows Server release it ships with (docs/DECISIONS.md)', () => {
    expect(programVerdict('Microsoft Hyper-V Server 2019', 'Ubuntu 22.04.3 LTS', 'ms-hyperv-linux')).toBe('covered');
    expect(programVerdict('Microsoft Hyper-V Server 2016', 'Windows Server 2022 Datacenter', 'ms-hyperv-windows')).toBe(
      'excluded',
    );
  });

  it("Microsoft's Hyper-V pages say nothing of other hypervisors", () => {
    for (const hypervisor of [
      'RHEL 9.4 KVM',
      'VMware ESXi 8.0',
      'Citrix Hypervisor 8.2',
      'XCP-ng 8.2',
      'Nutanix AHV 6.5',
    ]) {
      expect(programVerdict(hypervisor, 'Ubuntu 22.04.3 LTS', 'ms-hyperv-linux'), hypervisor).toBe('silent');
      expect(programVerdict(hypervisor, 'Windows Server 2019 Datacenter', 'ms-hyperv-windows'), hypervisor).toBe(
        'silent',
      );
    }
  });
});
