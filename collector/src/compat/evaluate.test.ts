import { fileURLToPath } from 'node:url';
import type { GuestOsIdentity, HypervisorIdentity } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../catalog/load.js';
import { type CompatStatus, evaluate, type GuestExtras, type ProgramVerdictKind } from './evaluate.js';

const catalog = loadCatalog({ shipped: fileURLToPath(new URL('../../catalog', import.meta.url)) });
const DATE = '2026-11-26';

function hv(product: string, version: string): HypervisorIdentity {
  return {
    id: `${product}-${version}`.toLowerCase().replace(/\s+/g, '-'),
    product,
    version,
    name: `${product} ${version}`,
  };
}

const FAMILY: Record<string, GuestOsIdentity['family']> = {
  windows: 'windows',
  'windows-server': 'windows',
  freebsd: 'bsd',
};
function os(distro: string, version: string, more: Partial<GuestOsIdentity> = {}): GuestOsIdentity {
  return {
    id: `${distro}-${version}`,
    family: FAMILY[distro] ?? 'linux',
    distro,
    version,
    name: `${distro} ${version}`,
    ...more,
  };
}

interface GoldenCase {
  name: string;
  hv: HypervisorIdentity | null;
  guest: GuestOsIdentity | null;
  extras?: GuestExtras;
  date?: string;
  status: CompatStatus;
  eol?: string | null;
  /** Verdicts of the programs that decide the case (the others may be anything). */
  programs?: Record<string, ProgramVerdictKind>;
  /** Conditions that must appear, per program. */
  conditions?: Record<string, string[]>;
  /** Text the program's note must contain. */
  notes?: Record<string, string>;
  /** The source that justifies the expectation. */
  why: string;
}

const MS_RHEL = 'Microsoft RHEL/CentOS on Hyper-V page (windowsserverdocs 051b1c98, 2025-06-19)';
const MS_RHEL_2019 = 'Microsoft RHEL/CentOS on Hyper-V page, 2019 revision (windowsserverdocs b16d8940)';
const MS_WIN = 'Microsoft Windows guests on Hyper-V page (windowsserverdocs 01d8846c, 2025-04-23)';

const cases: GoldenCase[] = [
  {
    name: 'RHEL 8.2 on Hyper-V 2019',
    hv: hv('hyper-v', '2019'),
    guest: os('rhel', '8.2'),
    status: 'certified',
    eol: null,
    programs: { 'ms-hyperv-linux': 'covered', 'rh-certified-hypervisors': 'covered' },
    conditions: { 'ms-hyperv-linux': [] },
    why: `${MS_RHEL}: 8.1-8.6+ built in on 2025/2022/2019/2016`,
  },
  {
    name: 'RHEL 7.9 on Hyper-V 2019, past RHEL 7 maintenance support',
    hv: hv('hyper-v', '2019'),
    guest: os('rhel', '7.9'),
    status: 'certified',
    eol: '2024-06-30',
    programs: { 'ms-hyperv-linux': 'covered' },
    conditions: { 'ms-hyperv-linux': [] },
    why: `${MS_RHEL}: 7.6-7.9 built in; endoflife.date rhel: maintenance support ended 2024-06-30`,
  },
  {
    name: 'RHEL 7.2 on Hyper-V 2016 prefers the built-in drivers over the LIS download',
    hv: hv('hyper-v', '2016'),
    guest: os('rhel', '7.2'),
    status: 'certified',
    conditions: { 'ms-hyperv-linux': [] },
    why: `${MS_RHEL}: 7.2 built in, 7.0-7.2 with LIS 4.3`,
  },
  {
    name: 'RHEL 8.5 on Hyper-V 2016 is excluded by the page note',
    hv: hv('hyper-v', '2016'),
    guest: os('rhel', '8.5'),
    status: 'not-certified',
    programs: { 'ms-hyperv-linux': 'excluded' },
    notes: { 'ms-hyperv-linux': 'RHEL 8.5 requires Windows Server 2019' },
    why: `${MS_RHEL}, Note 15`,
  },
  {
    name: 'RHEL 8.5 on Hyper-V 2019',
    hv: hv('hyper-v', '2019'),
    guest: os('rhel', '8.5'),
    status: 'certified',
    why: `${MS_RHEL}: 8.1-8.6+; Note 15 asks for 2019 or newer`,
  },
  {
    name: 'RHEL 6.4 on Hyper-V 2012 R2',
    hv: hv('hyper-v', '2012 R2'),
    guest: os('rhel', '6.4'),
    status: 'certified',
    eol: '2020-11-30',
    programs: { 'ms-hyperv-linux': 'covered', 'rh-certified-hypervisors': 'covered' },
    conditions: { 'ms-hyperv-linux': [] },
    why: `${MS_RHEL_2019}: 6.4 built in on 2019/2016/2012 R2; RHEL 6 Virtualization Administration Guide 8.3`,
  },
  {
    name: 'RHEL 9.2 on Hyper-V 2012 R2 is not listed by Microsoft',
    hv: hv('hyper-v', '2012 R2'),
    guest: os('rhel', '9.2'),
    status: 'not-certified',
    programs: { 'ms-hyperv-linux': 'excluded', 'rh-certified-hypervisors': 'silent' },
    notes: { 'ms-hyperv-linux': '9.2 only on hosts 2025, 2022, 2019, 2016, Azure Local, not on' },
    why: `${MS_RHEL}: 9.x only on 2016 and later; no revision lists 9.x with a 2012 R2 host (the 2021 one stops at 8.3); Red Hat's own list is not in the catalog`,
  },
  {
    name: "RHEL 5.5 on Hyper-V 2012 R2 needs an LIS download; Red Hat's own list is not in the catalog",
    hv: hv('hyper-v', '2012 R2'),
    guest: os('rhel', '5.5'),
    status: 'certified',
    programs: { 'ms-hyperv-linux': 'covered', 'rh-certified-hypervisors': 'silent' },
    conditions: {
      'ms-hyperv-linux': [
        'one of: needs the LIS 4.3 download (Linux Integration Services) | needs the LIS 4.1 download (Linux Integration Services) | needs the LIS 4.2 download (Linux Integration Services)',
      ],
    },
    notes: { 'rh-certified-hypervisors': 'undecided here, not excluded' },
    why: `${MS_RHEL_2019} and the 2016 and 2017-12-20 revisions: 5.2-5.11 with LIS 4.3, 4.1 or 4.2, built in only from 5.9; Red Hat's statements name 5.9 and later, and its own list is behind its portal`,
  },
  {
    name: 'RHEL 5.10 on Hyper-V 2012 R2 (built-in drivers)',
    hv: hv('hyper-v', '2012 R2'),
    guest: os('rhel', '5.10'),
    status: 'certified',
    eol: '2017-03-31',
    conditions: { 'ms-hyperv-linux': [] },
    why: `${MS_RHEL_2019}: 5.9-5.11 built in`,
  },
  {
    name: 'CentOS 7.9 on Hyper-V 2022',
    hv: hv('hyper-v', '2022'),
    guest: os('centos', '7.9'),
    status: 'certified',
    eol: '2024-06-30',
    programs: { 'ms-hyperv-linux': 'covered', 'rh-certified-hypervisors': 'silent' },
    why: `${MS_RHEL}: RHEL/CentOS 7.6-7.9 built in; Red Hat certifies RHEL only`,
  },
  {
    name: 'Ubuntu 22.04 on Hyper-V 2019',
    hv: hv('hyper-v', '2019'),
    guest: os('ubuntu', '22.04'),
    status: 'certified',
    eol: null,
    programs: { 'ms-hyperv-linux': 'covered' },
    why: 'Microsoft Ubuntu page, 2026 copy (bendyline/knowledge 924be73c of windowsserverdocs b30da775, 2025-02-19): 16.04-24.04 LTS on 2025, 2022, 2019, 2016',
  },
  {
    name: 'Ubuntu 20.04 on Hyper-V 2012',
    hv: hv('hyper-v', '2012'),
    guest: os('ubuntu', '20.04'),
    status: 'not-certified',
    programs: { 'ms-hyperv-linux': 'excluded' },
    why: 'Microsoft Ubuntu page (0aaa548b, 2020-08-29): 20.04 on 2019/2016/2012 R2 only',
  },
  {
    name: 'Ubuntu 18.04 on Hyper-V 2012, past standard support',
    hv: hv('hyper-v', '2012'),
    guest: os('ubuntu', '18.04'),
    status: 'certified',
    eol: '2023-05-31',
    why: 'Microsoft Ubuntu page (fb74c56a, 2019-06-13): 18.04 on 2019 to 2008 R2; endoflife.date ubuntu',
  },
  {
    name: 'Debian 11 on Hyper-V 2022',
    hv: hv('hyper-v', '2022'),
    guest: os('debian', '11'),
    status: 'certified',
    programs: { 'ms-hyperv-linux': 'covered' },
    why: 'Microsoft Debian page, 2026 copy (2025-06-19): 10, 11, 12 on 2025, 2022, 2019, 2016, 2012 R2',
  },
  {
    name: 'Oracle Linux 7.6 on Hyper-V 2016 with either kernel',
    hv: hv('hyper-v', '2016'),
    guest: os('ol', '7.6'),
    status: 'certified',
    conditions: {
      'ms-hyperv-linux': [
        'one of: with the Red Hat Compatible Kernel (RHCK) | with the Unbreakable Enterprise Kernel R5 (UEK5)',
      ],
    },
    why: 'Microsoft Oracle Linux page (093f0bfa, 2023-09-27): 7.5-7.8 RHCK built in, UEK5 built in',
  },
  {
    name: 'SLES 12 SP3 on Hyper-V 2008 R2',
    hv: hv('hyper-v', '2008 R2'),
    guest: os('sles', '12.3'),
    status: 'certified',
    eol: '2019-06-30',
    why: 'Microsoft SLES page (00e349ec): 12 SP3/SP4 on 2019 to 2008 R2',
  },
  {
    name: 'FreeBSD 9.2 on Hyper-V 2016 needs the ports drivers',
    hv: hv('hyper-v', '2016'),
    guest: os('freebsd', '9.2'),
    status: 'certified',
    eol: '2014-12-31',
    conditions: { 'ms-hyperv-linux': ['needs the Hyper-V BIS drivers from FreeBSD ports (emulators/hyperv-is)'] },
    why: 'Microsoft FreeBSD page (031ea966, 2020-04-07): 9.1-9.3 via ports',
  },
  {
    name: 'Rocky Linux 9.2 on Hyper-V 2022: no program speaks of Rocky',
    hv: hv('hyper-v', '2022'),
    guest: os('rocky', '9.2'),
    status: 'unknown',
    why: 'no stored list names Rocky Linux',
  },
  {
    name: 'Windows Server 2016 on Hyper-V 2022',
    hv: hv('hyper-v', '2022'),
    guest: os('windows-server', '2016'),
    status: 'certified',
    eol: null,
    programs: { 'ms-hyperv-windows': 'covered' },
    notes: { 'ms-hyperv-windows': 'inferred' },
    why: `${MS_WIN}: Windows Server 2016 guest, page scope Hyper-V on Windows Server 2016 and later`,
  },
  {
    name: 'Windows 11 on Hyper-V 2019, generation unknown',
    hv: hv('hyper-v', '2019'),
    guest: os('windows', '11'),
    status: 'certified',
    conditions: { 'ms-hyperv-windows': ['generation 2 VM only'] },
    why: `${MS_WIN}: Windows 11, generation 2 VM on Windows Server 2019 and later`,
  },
  {
    name: 'Windows 11 generation 2 VM on Hyper-V 2019',
    hv: hv('hyper-v', '2019'),
    guest: os('windows', '11'),
    extras: { generation: 2 },
    status: 'certified',
    why: `${MS_WIN}: Windows 11, generation 2 VM on Windows Server 2019 and later`,
  },
  {
    name: 'Windows 11 generation 1 VM on Hyper-V 2019',
    hv: hv('hyper-v', '2019'),
    guest: os('windows', '11'),
    extras: { generation: 1 },
    status: 'not-certified',
    programs: { 'ms-hyperv-windows': 'excluded' },
    why: `${MS_WIN}: Windows 11 is supported as a generation 2 VM only`,
  },
  {
    name: 'Windows 11 on Hyper-V 2016',
    hv: hv('hyper-v', '2016'),
    guest: os('windows', '11'),
    status: 'not-certified',
    programs: { 'ms-hyperv-windows': 'excluded' },
    why: `${MS_WIN}: Windows 11 on Windows Server 2019 and later`,
  },
  {
    name: 'Windows 11 on client Hyper-V (Windows 11)',
    hv: hv('hyper-v', 'Windows 11'),
    guest: os('windows', '11'),
    status: 'certified',
    why: 'Microsoft client Hyper-V guest list (Virtualization-Documentation 015403e1, 2024-12-03)',
  },
  {
    name: 'Windows Server 2025 on Hyper-V 2019',
    hv: hv('hyper-v', '2019'),
    guest: os('windows-server', '2025'),
    status: 'not-certified',
    why: `${MS_WIN}: Windows Server 2025 on Windows Server 2022 and later`,
  },
  {
    name: 'Windows Server 2008 R2 on Hyper-V 2019 on 2026-11-26: end of life',
    hv: hv('hyper-v', '2019'),
    guest: os('windows-server', '2008 R2'),
    status: 'certified',
    eol: '2020-01-14',
    conditions: { 'ms-hyperv-windows': ['needs Service Pack 1 (build 7601 or later)'] },
    why: `${MS_WIN}: 2008 R2 SP1; endoflife.date windows-server: extended support ended 2020-01-14 (ESU to 2023-01-10)`,
  },
  {
    // The most common 2008 R2 build: the minimum build itself is in (build 7601 or later).
    name: 'Windows Server 2008 R2 SP1 (build 7601) on Hyper-V 2019',
    hv: hv('hyper-v', '2019'),
    guest: os('windows-server', '2008 R2', { build: '7601' }),
    status: 'certified',
    eol: '2020-01-14',
    // The row's own condition stays; the Service Pack 1 one is met.
    conditions: { 'ms-hyperv-windows': ['install all critical Windows updates after setting up the guest'] },
    why: `${MS_WIN}: 2008 R2 SP1, its build known`,
  },
  {
    name: 'Windows Server 2008 R2 RTM (build 7600) on Hyper-V 2019',
    hv: hv('hyper-v', '2019'),
    guest: os('windows-server', '2008 R2', { build: '7600' }),
    status: 'not-certified',
    eol: '2020-01-14',
    why: `${MS_WIN}: only 2008 R2 with Service Pack 1`,
  },
  {
    name: 'Windows Server 2012 R2 on Hyper-V 2019, past extended support',
    hv: hv('hyper-v', '2019'),
    guest: os('windows-server', '2012 R2'),
    status: 'certified',
    eol: '2023-10-10',
    why: `${MS_WIN}; endoflife.date windows-server: extended support ended 2023-10-10 (ESU to 2026-10-13)`,
  },
  {
    name: 'Windows Server 2012 R2 on Hyper-V 2012 R2, from a transcription of the 2012 R2 host list',
    hv: hv('hyper-v', '2012 R2'),
    guest: os('windows-server', '2012 R2'),
    status: 'certified',
    programs: { 'ms-hyperv-windows': 'covered' },
    notes: { 'ms-hyperv-windows': 'source trust: medium' },
    why: 'MCSA Windows Server 2012 R2 study guide, Table 9.1 (transcription of Microsoft dn792027): WS2012 R2 is a tested guest on 2012 R2',
  },
  {
    name: 'Windows 10 on Hyper-V 2012 R2',
    hv: hv('hyper-v', '2012 R2'),
    guest: os('windows', '10'),
    status: 'certified',
    why: 'Microsoft client Hyper-V page: Windows 10 runs as a guest on Windows 8.1 and Windows Server 2012 R2 hosts',
  },
  {
    name: 'Windows 10 22H2 on client Hyper-V, past end of servicing',
    hv: hv('hyper-v', 'Windows 11'),
    guest: os('windows', '10', { build: '19045' }),
    status: 'certified',
    eol: '2025-10-14',
    why: 'Microsoft client Hyper-V page; endoflife.date windows: 10 22H2 ended 2025-10-14',
  },
  {
    name: 'Windows Server 2003 R2 on a RHEL 5 Xen host',
    hv: hv('xen', 'RHEL 5.4'),
    guest: os('windows-server', '2003 R2'),
    status: 'not-certified',
    eol: '2015-07-14',
    programs: { 'ms-svvp': 'excluded', 'rh-kvm-guests': 'covered' },
    conditions: {
      'rh-kvm-guests': ['needs Service Pack 2', "with Red Hat's para-virtualized Windows drivers for Xen"],
    },
    notes: { 'ms-svvp': 'RHEL Xen is not included' },
    why: 'SVVP: RHEL Xen not in any certification (Burton Group, 2009); Red Hat supports it with its Xen PV drivers (RHEL 5 PV Windows Drivers Guide)',
  },
  {
    name: 'Windows Server 2008 R2 on RHEL 5.4 KVM',
    hv: hv('kvm', 'RHEL 5.4'),
    guest: os('windows-server', '2008 R2'),
    status: 'certified',
    eol: '2020-01-14',
    programs: { 'ms-svvp': 'covered', 'rh-kvm-guests': 'covered' },
    why: 'SVVP validation of RHEL 5.4 KVM with Windows Server 2003, 2008, 2008 R2 (October 2009, trade press)',
  },
  {
    name: 'Windows Server 2019 on ESXi 8.0: VMware is an SVVP partner without product rows',
    hv: hv('esxi', '8.0'),
    guest: os('windows-server', '2019'),
    status: 'unknown',
    programs: { 'ms-svvp': 'silent', 'ms-hyperv-windows': 'silent' },
    notes: { 'ms-svvp': 'program coverage is partial' },
    why: 'KB 944987 names VMware an SVVP partner; the SVVP product list is not in the catalog, so no row is no answer',
  },
  {
    name: 'Windows Server 2019 on Nutanix AHV',
    hv: hv('ahv', '6.5'),
    guest: os('windows-server', '2019'),
    status: 'unknown',
    programs: { 'ms-svvp': 'silent' },
    notes: { 'ms-svvp': "Nutanix products are in this program's scope" },
    why: 'KB 944987 names Nutanix an SVVP partner; no AHV row was found, and the product list is not in the catalog',
  },
  {
    name: 'Windows Server 2022 on Proxmox VE: Proxmox is no SVVP partner',
    hv: hv('proxmox-ve', '8.1'),
    guest: os('windows-server', '2022'),
    status: 'not-certified',
    programs: { 'ms-svvp': 'excluded' },
    notes: { 'ms-svvp': 'not among the SVVP support partners' },
    why: 'KB 944987 partner list has no Proxmox: Windows Server on it is outside SVVP (KB 897615)',
  },
  {
    name: 'Windows Server 2016 on XenServer 7.0',
    hv: hv('xenserver', '7.0'),
    guest: os('windows-server', '2016'),
    status: 'certified',
    programs: { 'ms-svvp': 'covered' },
    notes: { 'ms-svvp': 'inferred' },
    why: 'Citrix blog 2016-09-30: all XenServer versions SVVP-validated',
  },
  {
    name: 'Windows Server 2012 R2 on RHEL 9.2 KVM',
    hv: hv('kvm', 'RHEL 9.2'),
    guest: os('windows-server', '2012 R2'),
    status: 'not-certified',
    programs: { 'rh-kvm-guests': 'excluded' },
    notes: { 'rh-kvm-guests': 'Windows Server 2012 R2 and earlier are not supported' },
    why: 'RHEL 9 Configuring and managing virtualization, 24.3 Unsupported features',
  },
  {
    name: 'Windows Server 2019 on RHEL 9.2 KVM: Red Hat lists no supported guests for RHEL 9',
    hv: hv('kvm', 'RHEL 9.2'),
    guest: os('windows-server', '2019'),
    status: 'unknown',
    programs: { 'rh-kvm-guests': 'silent', 'ms-svvp': 'silent' },
    why: 'RHEL 9 docs point to KB 973163 (not available); Red Hat is an SVVP partner whose product rows are not available',
  },
  {
    name: 'Windows Server 2016 on RHEL 6.10 KVM: the RHV table does not speak of plain RHEL KVM',
    hv: hv('kvm', 'RHEL 6.10'),
    guest: os('windows-server', '2016'),
    status: 'unknown',
    programs: { 'rh-kvm-guests': 'silent' },
    notes: { 'rh-kvm-guests': 'KB 973163' },
    why: "RHV 4.2's certified-guest table is about RHV hosts; Red Hat's list for RHEL 6 KVM (KB 973163) is behind its portal",
  },
  {
    name: 'Windows 10 on RHEL 8.6 KVM',
    hv: hv('kvm', 'RHEL 8.6'),
    guest: os('windows', '10'),
    status: 'certified',
    programs: { 'rh-kvm-guests': 'covered', 'ms-svvp': 'silent' },
    notes: { 'rh-kvm-guests': 'source trust: medium' },
    why: 'RH134 (RHEL 8): Windows 10 and later supported on RHEL 8 KVM; SVVP is about Windows Server only',
  },
  {
    name: 'RHEL 9.2 on Hyper-V 2022',
    hv: hv('hyper-v', '2022'),
    guest: os('rhel', '9.2'),
    status: 'certified',
    eol: null,
    why: `${MS_RHEL}: 9.x built in on 2025/2022/2019/2016`,
  },
  {
    name: 'an unidentified guest',
    hv: hv('hyper-v', '2019'),
    guest: null,
    status: 'unknown',
    eol: null,
    why: 'DESIGN.md: unknown when the guest OS could not be identified',
  },
  {
    name: 'an unidentified hypervisor',
    hv: null,
    guest: os('windows-server', '2008 R2'),
    status: 'unknown',
    eol: '2020-01-14',
    why: 'DESIGN.md: unknown when the hypervisor could not be identified; the guest is still past its end',
  },
  {
    name: 'Windows Server 2019 on its last day of extended support',
    hv: hv('hyper-v', '2019'),
    guest: os('windows-server', '2019'),
    date: '2029-01-09',
    status: 'certified',
    eol: null,
    why: 'endoflife.date windows-server: extended support ends 2029-01-09 (the flag starts the day after)',
  },
  {
    name: 'Windows Server 2019 the day after its extended support',
    hv: hv('hyper-v', '2019'),
    guest: os('windows-server', '2019'),
    date: '2029-01-10',
    status: 'certified',
    eol: '2029-01-09',
    why: 'endoflife.date windows-server: extended support ends 2029-01-09',
  },
];

describe('evaluate: golden cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const v = evaluate(c.hv, c.guest, catalog, c.date ?? DATE, c.extras);
    expect(v.status, c.why).toBe(c.status);
    if (c.eol !== undefined) expect(v.eol, c.why).toEqual(c.eol === null ? null : { date: c.eol });
    for (const [program, verdict] of Object.entries(c.programs ?? {})) {
      expect(v.programs.find((p) => p.program === program)?.verdict, `${program}: ${c.why}`).toBe(verdict);
    }
    for (const [program, conditions] of Object.entries(c.conditions ?? {})) {
      const got = v.programs.find((p) => p.program === program)?.conditions;
      if (conditions.length === 0) expect(got, `${program}: ${c.why}`).toEqual([]);
      else expect(got, `${program}: ${c.why}`).toEqual(expect.arrayContaining(conditions));
    }
    for (const [program, text] of Object.entries(c.notes ?? {})) {
      expect(v.programs.find((p) => p.program === program)?.note, `${program}: ${c.why}`).toContain(text);
    }
    expect(v.catalogVersion).toBe(catalog.version);
  });
});

describe('evaluate', () => {
  it('lists every certification program with a source, and the lifecycle row of the guest', () => {
    const v = evaluate(hv('hyper-v', '2019'), os('rhel', '8.2'), catalog, DATE);
    expect(v.programs.map((p) => p.program).sort()).toEqual([
      'citrix-hypervisor-guests',
      'ms-hyperv-linux',
      'ms-hyperv-windows',
      'ms-svvp',
      'rh-certified-hypervisors',
      'rh-kvm-guests',
      'suse-guests',
    ]);
    for (const p of v.programs) expect(p.source).toMatch(/^https?:\/\//);
    expect(v.lifecycle).toMatchObject({
      name: 'RHEL 8',
      end: '2029-05-31',
      extended: { date: '2033-05-31', kind: 'ELS' },
    });
  });

  it('cites the pinned revision of the row that covers the pair', () => {
    const v = evaluate(hv('hyper-v', '2019'), os('rhel', '8.2'), catalog, DATE);
    expect(v.programs.find((p) => p.program === 'ms-hyperv-linux')).toMatchObject({
      source:
        'https://github.com/MicrosoftDocs/windowsserverdocs/blob/051b1c98b8de6cb7b4e969a64e34e4edfd91e3c4/WindowsServerDocs/virtualization/hyper-v/Supported-CentOS-and-Red-Hat-Enterprise-Linux-virtual-machines-on-Hyper-V.md',
      origin: 'shipped',
    });
  });

  it('says why the status is unknown', () => {
    expect(evaluate(null, null, catalog, DATE).reason).toBe('guest OS and hypervisor not identified');
    expect(evaluate(hv('hyper-v', '2022'), os('rocky', '9.2'), catalog, DATE).reason).toMatch(/no program/);
  });

  it('reads the edition to find a Windows 10 LTSC end of support', () => {
    const ltsc = evaluate(
      hv('hyper-v', '2019'),
      os('windows', '10', { build: '17763', edition: 'Enterprise LTSC' }),
      catalog,
      DATE,
    );
    const pro = evaluate(hv('hyper-v', '2019'), os('windows', '10', { build: '17763', edition: 'Pro' }), catalog, DATE);
    const unknown = evaluate(hv('hyper-v', '2019'), os('windows', '10', { build: '17763' }), catalog, DATE);
    expect(ltsc.eol).toBeNull();
    expect(ltsc.lifecycle?.end).toBe('2029-01-09');
    expect(pro.eol).toEqual({ date: '2020-11-10' });
    expect(unknown.eol).toEqual({ date: '2021-05-11' });
  });

  it('applies an arch requirement only when the arch is known', () => {
    const xp = os('windows', 'XP');
    const host = hv('kvm', 'RHEL 5.4');
    const known32 = evaluate(host, xp, catalog, DATE, { arch: 'i386' });
    const known64 = evaluate(host, xp, catalog, DATE, { arch: 'amd64' });
    const unknown = evaluate(host, xp, catalog, DATE);
    expect(known32.programs.find((p) => p.program === 'rh-kvm-guests')?.conditions).not.toContain('i686 guests only');
    expect(known32.programs.find((p) => p.program === 'rh-kvm-guests')?.verdict).toBe('covered');
    expect(known64.programs.find((p) => p.program === 'rh-kvm-guests')?.verdict).toBe('excluded');
    expect(unknown.programs.find((p) => p.program === 'rh-kvm-guests')?.conditions).toContain('i686 guests only');
  });

  it('refuses a malformed date', () => {
    expect(() => evaluate(null, null, catalog, '26/11/2026')).toThrow(RangeError);
  });
});
