import type { OsEvidenceSource } from '../protocol.js';

export type GuestFamily = 'windows' | 'linux' | 'bsd';

/** A guest OS reduced to the identifiers of DESIGN.md. */
export interface GuestOsIdentity {
  /** `${distro}-${version}` ("rhel-9.2", "windows-server-2008-r2", "ubuntu-22.04"), or `${distro}` when the version is unknown. */
  id: string;
  family: GuestFamily;
  /** os-release ID (rhel, centos, ol, sles, ubuntu, debian, rocky, almalinux, fedora, opensuse-leap, freebsd) or windows-server / windows. */
  distro: string;
  /** os-release VERSION_ID form ("7.9", "22.04", "15.5") or the Windows product name ("2008 R2", "2019", "11"); "" when unknown. */
  version: string;
  /** Human name, e.g. "Red Hat Enterprise Linux 9.2", "Windows Server 2019". */
  name: string;
  /** Windows build number ("17763"), when known. */
  build?: string;
  /** Edition where the evidence names one (Datacenter, Enterprise, Server, Workstation). */
  edition?: string;
  servicePack?: string;
  arch?: string;
}

/** The outcome of identifying one guest from all its evidence. */
export type GuestOsResult =
  | {
      known: true;
      os: GuestOsIdentity;
      /** The evidence source that decided. */
      source: OsEvidenceSource | 'text';
      /** Evidence that disagreed with the deciding one (e.g. libosinfo says 8.6, guest agent says 9.2: an in-place upgrade). */
      conflicts: { source: OsEvidenceSource; id: string }[];
    }
  | { known: false; reason: string; detail?: string };

/** A hypervisor reduced to product and version in the vendor's own terms. */
export interface HypervisorIdentity {
  /** `${product}-${slug(version)}`, e.g. "hyper-v-2019", "hyper-v-2012-r2", "kvm-rhel-9.2", "xen-rhel-5.4", "xenserver-8.2". */
  id: string;
  /** hyper-v, kvm, xen, xenserver, esxi, ahv, ... */
  product: string;
  /** "2019", "2012 R2", "RHEL 9.2", "RHEL 5.4", "8.2"; "" when unknown. */
  version: string;
  build?: string;
  /** Human name, e.g. "Hyper-V on Windows Server 2019", "KVM on RHEL 9.2". */
  name: string;
}
