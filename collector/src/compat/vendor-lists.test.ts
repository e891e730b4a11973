/**
 * Golden cases for the vendor lists read in round 3 (../shared/catalog-sources/round3): one pair per
 * row that decides something, written as a person would type it into `hvmap check`, so the real
 * identification runs too. Each case names the source that decides it.
 */
import { fileURLToPath } from 'node:url';
import { identifyGuestOsText, identifyHypervisorText } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../catalog/load.js';
import { type CompatStatus, evaluate, type ProgramVerdictKind } from './evaluate.js';

const catalog = loadCatalog({ shipped: fileURLToPath(new URL('../../catalog', import.meta.url)) });
const DATE = '2026-12-02';

interface Case {
  hypervisor: string;
  guest: string;
  status: CompatStatus;
  /** The program that decides, with its verdict. */
  program: [string, ProgramVerdictKind];
  /** Text the deciding program's note or conditions must hold. */
  says?: string;
  why: string;
}

const MS_2026 = "Microsoft's per-distro page, 2026 copy of windowsserverdocs b30da775";
const MS_RHEL_2016 = "Microsoft's RHEL/CentOS page, 2016 revision (windowsserverdocs 031c7743)";
const MS_RHEL_2017 = "Microsoft's RHEL/CentOS page, 2017-12-20 revision (pt-BR copy 1232e78d)";
const MS_RHEL_2021 = "Microsoft's RHEL/CentOS page, 2021-01-08 revision (pt-BR copy 32467357)";

const cases: Case[] = [
  // Microsoft's per-distro matrices: the 2026 revision of every page
  {
    hypervisor: 'Hyper-V on Windows Server 2025',
    guest: 'Red Hat Enterprise Linux release 10.0 (Coughlan)',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_2026}: RHEL 10.x built in on 2025, 2022, 2019, 2016`,
  },
  {
    hypervisor: 'Windows Server 2016 Hyper-V',
    guest: 'Red Hat Enterprise Linux release 8.5 (Ootpa)',
    status: 'not-certified',
    program: ['ms-hyperv-linux', 'excluded'],
    says: 'Note 15',
    why: `${MS_2026}, Note 15: RHEL 8.5 requires Windows Server 2019 or newer`,
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Debian GNU/Linux 12 (bookworm)',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_2026}: Debian 12, 11, 10 on 2025, 2022, 2019, 2016, 2012 R2`,
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2022',
    guest: 'Ubuntu 24.04.1 LTS',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_2026} (Ubuntu, 2025-02-19): 16.04-24.04 LTS on 2025, 2022, 2019, 2016`,
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2019',
    guest: 'SUSE Linux Enterprise Server 12 SP5',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_2026} (SUSE): SLES 12 SP3-SP5 on 2025, 2022, 2019, 2016, 2012`,
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2022',
    guest: 'SUSE Linux Enterprise Server 15 SP6',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_2026} (SUSE): SLES 15 SP1-SP7 on 2025, 2022, 2019, 2016, 2012`,
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2025',
    guest: 'Oracle Linux Server release 9.0',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    says: 'Red Hat Compatible Kernel',
    why: `${MS_2026} (Oracle Linux): 9.0 (RHCK) on 2025, 2022, 2019, 2016, 2012 R2`,
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2022',
    guest: 'FreeBSD 13.3-RELEASE',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_2026} (FreeBSD): 13.0-13.5 built in on 2025, 2022, 2019, 2016, 2012 R2`,
  },
  // older revisions with 2012 and 2008 R2 host columns
  {
    hypervisor: 'Windows Server 2008 R2 Hyper-V',
    guest: 'Red Hat Enterprise Linux Server release 6.8 (Santiago)',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_RHEL_2016}: 6.4-6.8 built in on 2016, 2012 R2, 2012, 2008 R2`,
  },
  {
    hypervisor: 'Windows Server 2012 Hyper-V',
    guest: 'CentOS release 5.4 (Final)',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    says: 'LIS 4.1',
    why: `${MS_RHEL_2016}: 5.2-5.11 with the LIS 4.1 download (no built-in LIS before 5.9)`,
  },
  {
    hypervisor: 'Windows Server 2012 Hyper-V',
    guest: 'Red Hat Enterprise Linux Server release 7.5 (Maipo)',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_RHEL_2017}: 7.0-7.6 built in on 2019, 2016, 2012 R2, 2012, 2008 R2`,
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Red Hat Enterprise Linux Server release 7.9 (Maipo)',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_RHEL_2021}: 7.0-7.9 built in on 2019, 2016, 2012 R2`,
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Red Hat Enterprise Linux release 8.3 (Ootpa)',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: `${MS_RHEL_2021}: 8.0-8.3 built in on 2019, 2016, 2012 R2`,
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Red Hat Enterprise Linux Server release 5.4 (Tikanga)',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    says: 'LIS',
    why: `${MS_RHEL_2016} and ${MS_RHEL_2017}: 5.2-5.11 with an LIS download on 2012 R2`,
  },
  {
    hypervisor: 'Windows Server 2008 R2 Hyper-V',
    guest: 'FreeBSD 10.3-RELEASE',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    says: 'KVP may not work',
    why: "Microsoft's FreeBSD page, 2017-08-30 revision (38fa4ce3): 10.0-11.2 on 2019 ... 2008 R2, Note 6",
  },
  {
    hypervisor: 'Windows Server 2008 R2 Hyper-V',
    guest: 'Oracle Linux Server release 7.4',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: "Microsoft's Oracle Linux page revision 6e1ee5aa: RHCK 7.0-7.6 on 2019, 2016, 2012 R2, 2012, 2008 R2",
  },
  // what the revisions together leave out, and what they cannot speak of
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Ubuntu 22.04.3 LTS',
    status: 'not-certified',
    program: ['ms-hyperv-linux', 'excluded'],
    says: 'only on hosts 2025, 2022, 2019, 2016',
    why: 'every Ubuntu revision that lists 22.04 (only the 2025 one) names hosts 2016-2025',
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Ubuntu 20.04.6 LTS',
    status: 'certified',
    program: ['ms-hyperv-linux', 'covered'],
    why: "Microsoft's Ubuntu page, 2020-08-29 revision (0aaa548b): 20.04 on 2019, 2016, 2012 R2",
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Red Hat Enterprise Linux release 9.4 (Plow)',
    status: 'not-certified',
    program: ['ms-hyperv-linux', 'excluded'],
    why: 'RHEL 9.x is listed only by the 2025 revision, with hosts 2016-2025',
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2022',
    guest: 'CentOS release 6.10 (Final)',
    status: 'not-certified',
    program: ['ms-hyperv-linux', 'excluded'],
    why: 'RHEL/CentOS 6.x was dropped before 2022 hosts were added: no revision lists them together',
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2025',
    guest: 'Debian GNU/Linux 9 (stretch)',
    status: 'not-certified',
    program: ['ms-hyperv-linux', 'excluded'],
    why: 'Debian 9 is listed only by revisions whose hosts stop at 2019',
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2019',
    guest: 'SUSE Linux Enterprise Server 11 SP2',
    status: 'not-certified',
    program: ['ms-hyperv-linux', 'excluded'],
    says: 'not listed',
    why: 'every SUSE revision starts at SLES 11 SP3',
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2022',
    guest: 'Ubuntu 25.04',
    status: 'unknown',
    program: ['ms-hyperv-linux', 'silent'],
    says: 'newer than the list',
    why: 'newer than the newest Ubuntu column of the 2026 revision',
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2022',
    guest: 'Debian GNU/Linux 13 (trixie)',
    status: 'unknown',
    program: ['ms-hyperv-linux', 'silent'],
    says: 'newer than the list',
    why: 'newer than the newest Debian column of the 2026 revision',
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2022',
    guest: 'Oracle Linux Server release 8.10',
    status: 'unknown',
    program: ['ms-hyperv-linux', 'silent'],
    says: 'newer than the list',
    why: 'the Oracle Linux page lists only 8.0-8.5 and 9.0: 8.6-8.10 are on no revision',
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2022',
    guest: 'FreeBSD 14.1-RELEASE',
    status: 'unknown',
    program: ['ms-hyperv-linux', 'silent'],
    says: 'newer than the list',
    why: 'FreeBSD 14.x is on no revision of the FreeBSD page',
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2025',
    guest: 'SUSE Linux Enterprise Server 16.0',
    status: 'unknown',
    program: ['ms-hyperv-linux', 'silent'],
    says: 'newer than the list',
    why: 'SLES 16 is on no revision of the SUSE page',
  },
  // Microsoft's statements of Red Hat certification (Hyper-V team blog)
  {
    hypervisor: 'Windows Server 2012 Hyper-V',
    guest: 'Red Hat Enterprise Linux Server release 7.0 (Maipo)',
    status: 'certified',
    program: ['rh-certified-hypervisors', 'covered'],
    why: 'Hyper-V team blog 2015-02-23: RHEL 7.0 certified on 2008 R2, 2012 and 2012 R2 Hyper-V',
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Red Hat Enterprise Linux Server release 5.9 (Tikanga)',
    status: 'certified',
    program: ['rh-certified-hypervisors', 'covered'],
    why: 'Hyper-V team blog 2013-07-24: Red Hat certified the enlightened drivers on RHEL 5.9',
  },
  // Windows guests per Hyper-V host
  {
    hypervisor: 'Hyper-V on Windows Server 2019',
    guest: 'Windows Server 2025 Datacenter',
    status: 'not-certified',
    program: ['ms-hyperv-windows', 'excluded'],
    says: 'Windows Server 2022 and later',
    why: 'current Windows guest page (2025-04-30): WS2025 needs a WS2022 or later host',
  },
  {
    hypervisor: 'Windows Server 2016 Hyper-V',
    guest: 'Windows Server 2022 Datacenter',
    status: 'not-certified',
    program: ['ms-hyperv-windows', 'excluded'],
    why: 'current Windows guest page: WS2022 needs a WS2019 or later host',
  },
  {
    hypervisor: 'Windows Server 2016 Hyper-V',
    guest: 'Microsoft Windows 11 Pro',
    status: 'not-certified',
    program: ['ms-hyperv-windows', 'excluded'],
    why: 'current Windows guest page: Windows 11 needs a generation 2 VM on WS2019 or later',
  },
  {
    hypervisor: 'Windows Server 2016 Hyper-V',
    guest: 'Microsoft Windows Server 2012 Standard',
    status: 'certified',
    program: ['ms-hyperv-windows', 'covered'],
    why: 'Windows guest page, 2016 revision (08704d13): WS2016, 2012 R2, 2012, 2008 R2 SP1, 2008 SP2 on 2016 hosts',
  },
  {
    hypervisor: 'Windows Server 2016 Hyper-V',
    guest: 'Windows Vista Business',
    status: 'certified',
    program: ['ms-hyperv-windows', 'covered'],
    says: 'Service Pack 2',
    why: 'Windows guest page, 2016 revision: Vista SP2 on 2016 hosts',
  },
  {
    hypervisor: 'Windows Server 2016 Hyper-V',
    guest: 'Microsoft Windows Server 2003 R2 Enterprise Edition',
    status: 'not-certified',
    program: ['ms-hyperv-windows', 'excluded'],
    why: 'Windows guest page, 2016 revision: no Windows Server 2003 row for 2016 hosts',
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Microsoft Windows Server 2003 R2 Enterprise Edition',
    status: 'certified',
    program: ['ms-hyperv-windows', 'covered'],
    says: 'Service Pack 2',
    why: 'MCSA 2012 R2 study guide Table 9.1 (transcription of dn792027, medium): 2003 R2 SP2 on 2012 R2',
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Windows Server 2016 Datacenter',
    status: 'unknown',
    program: ['ms-hyperv-windows', 'silent'],
    says: 'predates Windows Server 2016',
    why: 'the 2012 R2 host list predates WS2016; only trade press states the n-1 rule',
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Windows Server 2022 Datacenter',
    status: 'not-certified',
    program: ['ms-hyperv-windows', 'excluded'],
    why: 'current Windows guest page: WS2022 needs a WS2019 or later host',
  },
  {
    hypervisor: 'Windows Server 2012 Hyper-V',
    guest: 'Microsoft Windows Server 2012 Standard',
    status: 'unknown',
    program: ['ms-hyperv-windows', 'silent'],
    says: 'dn792028',
    why: "Microsoft's list for 2012 hosts (dn792028) was not retrieved",
  },
  // Third parties and Red Hat's own hypervisors
  {
    hypervisor: 'Citrix XenServer 7.0',
    guest: 'Windows Server 2012 R2 Standard',
    status: 'certified',
    program: ['ms-svvp', 'covered'],
    why: 'Citrix blog 2016-09-30 (medium): all versions of XenServer are validated under SVVP',
  },
  {
    hypervisor: 'Citrix XenServer 7.0',
    guest: 'Windows Server 2019 Datacenter',
    status: 'unknown',
    program: ['ms-svvp', 'silent'],
    why: "Citrix's 2016 statement predates Windows Server 2019: it cannot validate it",
  },
  {
    hypervisor: 'VMware ESXi 8.0',
    guest: 'Red Hat Enterprise Linux Server release 7.9 (Maipo)',
    status: 'unknown',
    program: ['rh-certified-hypervisors', 'silent'],
    why: "Red Hat's 2014 'two-way certification' post names no vSphere version and predates ESXi 8.0",
  },
  {
    hypervisor: 'VMware ESXi 5.5',
    guest: 'Red Hat Enterprise Linux Server release 7.9 (Maipo)',
    status: 'certified',
    program: ['rh-certified-hypervisors', 'covered'],
    says: 'inferred',
    why: 'Red Hat blog 2014-02-19: Hyper-V and vSphere are certified third-party hypervisors (read as the releases of then)',
  },
  {
    hypervisor: 'Xen on RHEL 5.4',
    guest: 'Windows Server 2008 R2 Datacenter',
    status: 'not-certified',
    program: ['ms-svvp', 'excluded'],
    why: 'Burton Group 2009 (medium): RHEL Xen is not included in any of the SVVP certifications',
  },
  {
    hypervisor: 'Xen on RHEL 5.4',
    guest: 'Red Hat Enterprise Linux AS release 4 (Nahant Update 8)',
    status: 'certified',
    program: ['rh-kvm-guests', 'covered'],
    why: 'RHEL 5 Virtualization Guide: PV drivers for RHEL 4 Update 6 and newer on a RHEL 5.1+ host',
  },
  {
    hypervisor: 'Xen on RHEL 5.4',
    guest: 'Red Hat Enterprise Linux Server release 6.2 (Santiago)',
    status: 'certified',
    program: ['rh-kvm-guests', 'covered'],
    why: 'RHEL 5 Virtualization Guide: RHEL 6 is a PV and FV guest of RHEL 5.4 and newer Xen',
  },
  {
    hypervisor: 'Xen on RHEL 5.11',
    guest: 'Red Hat Enterprise Linux AS release 3 (Taroon)',
    status: 'certified',
    program: ['rh-kvm-guests', 'covered'],
    says: 'fully virtualized',
    why: 'RHEL 5.0 release article (thinkit.co.jp 2007, medium): RHEL 3, 4 and 5 as fully virtualized Xen guests',
  },
  {
    hypervisor: 'OpenShift Virtualization 4.19',
    guest: 'Red Hat Enterprise Linux release 10.0 (Coughlan)',
    status: 'certified',
    program: ['rh-kvm-guests', 'covered'],
    why: 'OpenShift Virtualization 4.19 release notes (openshift-docs PR 94156): RHEL 10 is a certified guest',
  },
  {
    hypervisor: 'OpenShift Virtualization 4.17',
    guest: 'Windows Server 2025 Datacenter',
    status: 'certified',
    program: ['ms-svvp', 'covered'],
    why: 'OpenShift Virtualization is SVVP-certified (4.10+ release notes); WS2025 support added in 4.17 (PR 84607, medium)',
  },
  {
    hypervisor: 'OpenShift Virtualization 4.16',
    guest: 'Red Hat Enterprise Linux release 10.0 (Coughlan)',
    status: 'unknown',
    program: ['rh-kvm-guests', 'silent'],
    why: 'RHEL 10 became a certified guest in 4.19; KB 4234591 with the full list is behind the portal',
  },
  {
    hypervisor: 'RHEL 8.6 KVM',
    guest: 'Red Hat Enterprise Linux Server release 7.9 (Maipo)',
    status: 'certified',
    program: ['rh-kvm-guests', 'covered'],
    says: 'source trust: medium',
    why: 'RH134 (RHEL 8) training text: RHEL 6 and later are supported guests on RHEL 8 KVM',
  },
  {
    hypervisor: 'RHEL 9.4 KVM',
    guest: 'Red Hat Enterprise Linux release 9.4 (Plow)',
    status: 'unknown',
    program: ['rh-kvm-guests', 'silent'],
    says: 'KB 973163',
    why: "RHEL 9 documentation sends readers to KB 973163, behind Red Hat's customer portal",
  },
  {
    hypervisor: 'RHEL 5.4 KVM',
    guest: 'Windows Server 2012 Datacenter',
    status: 'unknown',
    program: ['rh-kvm-guests', 'silent'],
    says: 'newer than the list',
    why: "the RHEL 5 guide's KVM list (2009) predates Windows Server 2012; RHV's table is about RHV hosts",
  },
  // SUSE: hypervisors for SLES guests, guests of SLES KVM and Xen
  {
    hypervisor: 'VMware ESXi 6.7',
    guest: 'SUSE Linux Enterprise Server 12 SP5',
    status: 'certified',
    program: ['suse-guests', 'covered'],
    says: 'L3',
    why: 'SLES 12 SP5 guide: ESXi 6.5 and 6.7 are supported host environments',
  },
  {
    hypervisor: 'Nutanix AHV 5.8',
    guest: 'SUSE Linux Enterprise Server 15 SP2',
    status: 'certified',
    program: ['suse-guests', 'covered'],
    why: 'SLES 15 SP2 guide: Nutanix Acropolis Hypervisor with AOS 5.8',
  },
  {
    hypervisor: 'Citrix XenServer 7.1',
    guest: 'SUSE Linux Enterprise Server 15 SP2',
    status: 'certified',
    program: ['suse-guests', 'covered'],
    why: 'SLES 15 SP2 guide: Citrix XenServer 7.0, 7.1, 8.0',
  },
  {
    hypervisor: 'VMware ESXi 8.0',
    guest: 'SUSE Linux Enterprise Server 15 SP5',
    status: 'certified',
    program: ['suse-guests', 'covered'],
    says: 'inferred',
    why: 'SLES 15 guide (doc-sle 001e9aa2, 2024-06-10): ESXi 6.5, 6.7, 7.0, 8.0',
  },
  {
    hypervisor: 'VMware ESXi 8.0',
    guest: 'SUSE Linux Enterprise Server 12 SP5',
    status: 'unknown',
    program: ['suse-guests', 'silent'],
    why: 'the SLES 12 SP5 guide lists ESXi 6.5 and 6.7 only, and predates 8.0: silent, not excluded',
  },
  {
    hypervisor: 'SLES 15 SP2 KVM',
    guest: 'Windows Server 2019 Datacenter',
    status: 'certified',
    program: ['suse-guests', 'covered'],
    why: 'SLES 15 SP2 guide: Windows Server 2008 SP2+ ... 2019 are fully supported guests of SLES KVM and Xen',
  },
  {
    hypervisor: 'SLES 15 SP6 KVM',
    guest: 'Oracle Linux Server release 8.9',
    status: 'certified',
    program: ['suse-guests', 'covered'],
    why: 'SLES 15 guide: Oracle Linux 6, 7, 8 are fully supported KVM guests',
  },
  // Citrix Hypervisor 8.2's Windows guests
  {
    hypervisor: 'Citrix Hypervisor 8.2',
    guest: 'Windows Server 2022 Datacenter',
    status: 'certified',
    program: ['citrix-hypervisor-guests', 'covered'],
    says: 'VM Tools',
    why: 'docs.xenserver.com, Citrix Hypervisor 8.2 Windows VMs: WS2016, 2019, 2022 with the VM Tools',
  },
  {
    hypervisor: 'Citrix Hypervisor 8.2',
    guest: 'Windows Server 2012 R2 Standard',
    status: 'not-certified',
    program: ['citrix-hypervisor-guests', 'excluded'],
    why: "Citrix Hypervisor 8.2's Windows list starts at Windows Server 2016",
  },
  {
    hypervisor: 'XCP-ng 8.2',
    guest: 'Windows Server 2022 Datacenter',
    status: 'not-certified',
    program: ['citrix-hypervisor-guests', 'silent'],
    why: "Citrix's list is about Citrix Hypervisor, not XCP-ng (whose vendor is no SVVP partner: ms-svvp excludes)",
  },
];

describe('the vendor lists of round 3 decide their pairs', () => {
  it.each(cases)('$guest on $hypervisor is $status ($program.0 $program.1)', (c) => {
    const hv = identifyHypervisorText(c.hypervisor);
    const guest = identifyGuestOsText(c.guest);
    expect(hv, `hypervisor "${c.hypervisor}" identified`).not.toBeNull();
    expect(guest, `guest "${c.guest}" identified`).not.toBeNull();
    const verdict = evaluate(hv, guest, catalog, DATE);
    const [program, kind] = c.program;
    const decided = verdict.programs.find((p) => p.program === program);
    expect(decided?.verdict, `${program}: ${c.why}`).toBe(kind);
    expect(verdict.status, c.why).toBe(c.status);
    if (c.says) expect([decided?.note ?? '', ...(decided?.conditions ?? [])].join(' | ')).toContain(c.says);
  });
});
