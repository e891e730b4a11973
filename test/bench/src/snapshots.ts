/**
 * A simulated fleet: per agent, a host and 20–100 guests shaped as the real drivers report them
 * (libvirt: guest-agent os-release fields, a libosinfo id from the domain XML, the name as a hint;
 * Hyper-V: the KVP intrinsic items), and a cycle of snapshot variants in which a share of the guests
 * changes from one round to the next (a guest stopped or started, an OS upgraded in place).
 *
 * Everything is derived from (seed, agent index): the collector and the bare-ws baseline receive the
 * very same frames. Frames are pre-serialised with a hole for `seq` and `collectedAt`, so the load
 * generator spends its CPU on the sockets, not on JSON.stringify.
 */
import type { Guest, HostFacts, Hypervisor, Inventory, OsEvidence } from '@hvmap/shared';

/** mulberry32: a small deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)];
const hex = (rand: () => number, n: number) =>
  Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
const uuid = (rand: () => number) =>
  `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-${pick(rand, ['8', '9', 'a', 'b'])}${hex(rand, 3)}-${hex(rand, 12)}`;

/** A Linux guest OS as the QEMU guest agent (guest-get-osinfo) and libosinfo describe it. */
interface LinuxOs {
  kind: 'linux';
  libosinfo: string;
  id: string;
  name: string;
  pretty: string;
  version: string;
  versionId: string;
  kernel: string;
  /** The next release an in-place upgrade goes to (an index into LINUX). */
  upgrade?: number;
}
/** A Windows guest OS: guest-agent fields on KVM, KVP items on Hyper-V. */
interface WindowsOs {
  kind: 'windows';
  libosinfo: string;
  caption: string;
  versionId: string;
  ntVersion: string;
  build: string;
  upgrade?: number;
}

const LINUX: LinuxOs[] = [
  {
    kind: 'linux',
    libosinfo: 'http://redhat.com/rhel/9.2',
    id: 'rhel',
    name: 'Red Hat Enterprise Linux',
    pretty: 'Red Hat Enterprise Linux 9.2 (Plow)',
    version: '9.2 (Plow)',
    versionId: '9.2',
    kernel: '5.14.0-284.11.1.el9_2.x86_64',
    upgrade: 1,
  },
  {
    kind: 'linux',
    libosinfo: 'http://redhat.com/rhel/9.4',
    id: 'rhel',
    name: 'Red Hat Enterprise Linux',
    pretty: 'Red Hat Enterprise Linux 9.4 (Plow)',
    version: '9.4 (Plow)',
    versionId: '9.4',
    kernel: '5.14.0-427.13.1.el9_4.x86_64',
  },
  {
    kind: 'linux',
    libosinfo: 'http://redhat.com/rhel/8.6',
    id: 'rhel',
    name: 'Red Hat Enterprise Linux',
    pretty: 'Red Hat Enterprise Linux 8.6 (Ootpa)',
    version: '8.6 (Ootpa)',
    versionId: '8.6',
    kernel: '4.18.0-372.9.1.el8.x86_64',
    upgrade: 3,
  },
  {
    kind: 'linux',
    libosinfo: 'http://redhat.com/rhel/8.8',
    id: 'rhel',
    name: 'Red Hat Enterprise Linux',
    pretty: 'Red Hat Enterprise Linux 8.8 (Ootpa)',
    version: '8.8 (Ootpa)',
    versionId: '8.8',
    kernel: '4.18.0-477.10.1.el8_8.x86_64',
  },
  {
    kind: 'linux',
    libosinfo: 'http://redhat.com/rhel/7.9',
    id: 'rhel',
    name: 'Red Hat Enterprise Linux Server',
    pretty: 'Red Hat Enterprise Linux Server 7.9 (Maipo)',
    version: '7.9 (Maipo)',
    versionId: '7.9',
    kernel: '3.10.0-1160.el7.x86_64',
  },
  {
    kind: 'linux',
    libosinfo: 'http://centos.org/centos/7.0',
    id: 'centos',
    name: 'CentOS Linux',
    pretty: 'CentOS Linux 7 (Core)',
    version: '7 (Core)',
    versionId: '7',
    kernel: '3.10.0-862.14.4.el7.x86_64',
  },
  {
    kind: 'linux',
    libosinfo: 'http://ubuntu.com/ubuntu/22.04',
    id: 'ubuntu',
    name: 'Ubuntu',
    pretty: 'Ubuntu 22.04.3 LTS',
    version: '22.04.3 LTS (Jammy Jellyfish)',
    versionId: '22.04',
    kernel: '5.15.0-88-generic',
    upgrade: 7,
  },
  {
    kind: 'linux',
    libosinfo: 'http://ubuntu.com/ubuntu/24.04',
    id: 'ubuntu',
    name: 'Ubuntu',
    pretty: 'Ubuntu 24.04.1 LTS',
    version: '24.04.1 LTS (Noble Numbat)',
    versionId: '24.04',
    kernel: '6.8.0-45-generic',
  },
  {
    kind: 'linux',
    libosinfo: 'http://debian.org/debian/12',
    id: 'debian',
    name: 'Debian GNU/Linux',
    pretty: 'Debian GNU/Linux 12 (bookworm)',
    version: '12 (bookworm)',
    versionId: '12',
    kernel: '6.1.0-13-amd64',
  },
  {
    kind: 'linux',
    libosinfo: 'http://suse.com/sles/15.5',
    id: 'sles',
    name: 'SLES',
    pretty: 'SUSE Linux Enterprise Server 15 SP5',
    version: '15-SP5',
    versionId: '15.5',
    kernel: '5.14.21-150500.55.19-default',
  },
  {
    kind: 'linux',
    libosinfo: 'http://rockylinux.org/rocky/9.3',
    id: 'rocky',
    name: 'Rocky Linux',
    pretty: 'Rocky Linux 9.3 (Blue Onyx)',
    version: '9.3 (Blue Onyx)',
    versionId: '9.3',
    kernel: '5.14.0-362.8.1.el9_3.x86_64',
  },
  {
    kind: 'linux',
    libosinfo: 'http://oracle.com/ol/8.8',
    id: 'ol',
    name: 'Oracle Linux Server',
    pretty: 'Oracle Linux Server 8.8',
    version: '8.8',
    versionId: '8.8',
    kernel: '5.15.0-101.103.2.1.el8uek.x86_64',
  },
];

const WINDOWS: WindowsOs[] = [
  {
    kind: 'windows',
    libosinfo: 'http://microsoft.com/win/2k12r2',
    caption: 'Windows Server 2012 R2 Standard',
    versionId: '2012 R2',
    ntVersion: '6.3.9600',
    build: '9600',
    upgrade: 2,
  },
  {
    kind: 'windows',
    libosinfo: 'http://microsoft.com/win/2k16',
    caption: 'Windows Server 2016 Datacenter',
    versionId: '2016',
    ntVersion: '10.0.14393',
    build: '14393',
  },
  {
    kind: 'windows',
    libosinfo: 'http://microsoft.com/win/2k19',
    caption: 'Windows Server 2019 Datacenter',
    versionId: '2019',
    ntVersion: '10.0.17763',
    build: '17763',
    upgrade: 3,
  },
  {
    kind: 'windows',
    libosinfo: 'http://microsoft.com/win/2k22',
    caption: 'Windows Server 2022 Datacenter',
    versionId: '2022',
    ntVersion: '10.0.20348',
    build: '20348',
  },
  {
    kind: 'windows',
    libosinfo: 'http://microsoft.com/win/2k8r2',
    caption: 'Windows Server 2008 R2 Enterprise',
    versionId: '2008 R2',
    ntVersion: '6.1.7601',
    build: '7601',
  },
];

export type SimOs = LinuxOs | WindowsOs;

/** Every guest OS the simulation knows, for changes made from outside (the store's day of history). */
export const SIM_OSES: readonly SimOs[] = [...LINUX, ...WINDOWS];

export interface SimGuest {
  uuid: string;
  name: string;
  os: SimOs;
  /** Whether the guest runs in the base variant. */
  running: boolean;
  /** Runs, but its guest agent / KVP daemon does not answer. */
  silent: boolean;
  vcpus: number;
  memoryMiB: number;
  efi: boolean;
}

type HostKind = 'kvm' | 'hyperv';

/** One simulated agent: its host and guests, and what changes between variants. */
export interface SimAgent {
  index: number;
  kind: HostKind;
  hostname: string;
  agentId: string;
  host: HostFacts;
  hypervisor: Hypervisor;
  guests: SimGuest[];
}

const KVM_HOSTS: { osRelease: Record<string, string>; pretty: string; qemu: string; libvirt: string }[] = [
  {
    osRelease: {
      ID: 'rhel',
      VERSION_ID: '9.2',
      NAME: 'Red Hat Enterprise Linux',
      PRETTY_NAME: 'Red Hat Enterprise Linux 9.2 (Plow)',
    },
    pretty: 'Red Hat Enterprise Linux 9.2 (Plow)',
    qemu: '7.2.0',
    libvirt: '9.0.0',
  },
  {
    osRelease: {
      ID: 'rhel',
      VERSION_ID: '8.6',
      NAME: 'Red Hat Enterprise Linux',
      PRETTY_NAME: 'Red Hat Enterprise Linux 8.6 (Ootpa)',
    },
    pretty: 'Red Hat Enterprise Linux 8.6 (Ootpa)',
    qemu: '6.2.0',
    libvirt: '8.0.0',
  },
  {
    osRelease: { ID: 'ubuntu', VERSION_ID: '22.04', NAME: 'Ubuntu', PRETTY_NAME: 'Ubuntu 22.04.3 LTS' },
    pretty: 'Ubuntu 22.04.3 LTS',
    qemu: '6.2.0',
    libvirt: '8.0.0',
  },
];

const HYPERV_HOSTS: { caption: string; version: string; build: string }[] = [
  { caption: 'Microsoft Windows Server 2019 Datacenter', version: '10.0.17763', build: '17763' },
  { caption: 'Microsoft Windows Server 2022 Datacenter', version: '10.0.20348', build: '20348' },
  { caption: 'Microsoft Windows Server 2016 Datacenter', version: '10.0.14393', build: '14393' },
  { caption: 'Microsoft Windows Server 2012 R2 Datacenter', version: '6.3.9600', build: '9600' },
];

const ROLES = ['web', 'app', 'db', 'cache', 'batch', 'ci', 'dc', 'fs', 'mq', 'proxy', 'etl', 'mon'];

export interface FleetOptions {
  seed: number;
  minGuests: number;
  maxGuests: number;
}

export const DEFAULT_FLEET: FleetOptions = { seed: 8, minGuests: 20, maxGuests: 100 };

/** The agent at `index` of the simulated fleet (60% KVM hosts, 40% Hyper-V). */
export function simAgent(index: number, options: FleetOptions = DEFAULT_FLEET): SimAgent {
  const rand = prng(options.seed * 1_000_003 + index);
  const kind: HostKind = rand() < 0.6 ? 'kvm' : 'hyperv';
  const hostname = `${kind === 'kvm' ? 'kvm' : 'hv'}-${String(index).padStart(5, '0')}.dc1.example.com`;
  const nGuests = options.minGuests + Math.floor(rand() * (options.maxGuests - options.minGuests + 1));
  const guests: SimGuest[] = [];
  for (let i = 0; i < nGuests; i++) {
    const windows = rand() < (kind === 'hyperv' ? 0.65 : 0.25);
    const os = windows ? pick(rand, WINDOWS) : pick(rand, LINUX);
    const role = pick(rand, ROLES);
    guests.push({
      uuid: uuid(rand),
      name: `${os.kind === 'windows' ? 'win' : (os as LinuxOs).id}-${role}${String(i + 1).padStart(2, '0')}-${index}`,
      os,
      running: rand() < 0.85,
      silent: rand() < 0.15,
      vcpus: pick(rand, [1, 2, 2, 4, 4, 8, 16]),
      memoryMiB: pick(rand, [1024, 2048, 4096, 4096, 8192, 16384, 32768]),
      efi: rand() < 0.4,
    });
  }
  const cores = pick(rand, [32, 48, 64]);
  const host: HostFacts = {
    hostname,
    os:
      kind === 'kvm'
        ? {
            platform: 'linux',
            distro: 'Red Hat Enterprise Linux',
            release: '9.2',
            kernel: '5.14.0-284.11.1.el9_2.x86_64',
            arch: 'x64',
          }
        : {
            platform: 'Windows',
            distro: 'Microsoft Windows Server 2019 Datacenter',
            release: '10.0.17763',
            kernel: '10.0.17763',
            arch: 'x64',
          },
    cpu: { manufacturer: 'Intel', brand: 'Xeon® Gold 6338', cores, sockets: 2 },
    memoryBytes: pick(rand, [256, 512, 768]) * 1024 ** 3,
    systemUuid: uuid(rand),
    manufacturer: 'Dell Inc.',
    model: 'PowerEdge R750',
    virtual: false,
  };
  let hypervisor: Hypervisor;
  if (kind === 'kvm') {
    const h = pick(rand, KVM_HOSTS);
    hypervisor = {
      driver: 'libvirt',
      product: 'kvm',
      version: h.qemu,
      managementStack: `libvirt ${h.libvirt}`,
      hostOs: h.pretty,
      hostOsFields: h.osRelease,
    };
  } else {
    const h = pick(rand, HYPERV_HOSTS);
    hypervisor = {
      driver: 'hyperv',
      product: 'hyper-v',
      build: h.build,
      managementStack: `Hyper-V ${h.version}`,
      hostOs: h.caption,
      hostOsFields: { Caption: h.caption, Version: h.version, BuildNumber: h.build, ProductType: '3' },
    };
  }
  return { index, kind, hostname, agentId: `bench-agent-${index}`, host, hypervisor, guests };
}

function linuxGuestAgentFields(os: LinuxOs): Record<string, string> {
  return {
    id: os.id,
    name: os.name,
    'pretty-name': os.pretty,
    version: os.version,
    'version-id': os.versionId,
    'kernel-release': os.kernel,
    'kernel-version': '#1 SMP PREEMPT_DYNAMIC Wed Apr 12 10:45:03 EDT 2023',
    machine: 'x86_64',
  };
}

function windowsGuestAgentFields(os: WindowsOs): Record<string, string> {
  return {
    id: 'mswindows',
    name: 'Microsoft Windows',
    'pretty-name': os.caption,
    version: `Microsoft ${os.caption.replace(/ (Standard|Datacenter|Enterprise)$/, '')}`,
    'version-id': os.versionId,
    'kernel-release': os.build,
    'kernel-version': os.ntVersion.split('.').slice(0, 2).join('.'),
    machine: 'x86_64',
    variant: 'server',
    'variant-id': 'server',
  };
}

function kvpFields(os: SimOs): Record<string, string> {
  if (os.kind === 'windows') {
    const [major, minor] = os.ntVersion.split('.');
    return {
      OSName: os.caption,
      OSVersion: os.ntVersion,
      CSDVersion: '',
      OSMajorVersion: major,
      OSMinorVersion: minor,
      OSBuildNumber: os.build,
      ServicePackMajor: '0',
      ServicePackMinor: '0',
      SuiteMask: '400',
      ProductType: '3',
      OSEditionId: '8',
      ProcessorArchitecture: '9',
      IntegrationServicesVersion: `${os.ntVersion}.1`,
      OSPlatformId: '2',
    };
  }
  return {
    OSName: os.name,
    OSVersion: os.kernel.replace(/-.*/, ''),
    OSMajorVersion: os.versionId,
    OSMinorVersion: '',
    OSBuildNumber: os.kernel,
    ProcessorArchitecture: 'x86_64',
    IntegrationServicesVersion: '3.1',
    OSPlatformId: '100',
  };
}

/** A guest as the agent's driver would report it, in a given state and OS. */
function toGuest(kind: HostKind, g: SimGuest, running: boolean, os: SimOs): Guest {
  const evidence: OsEvidence[] = [];
  let reason: Guest['os']['reason'];
  let reasonDetail: string | undefined;
  if (kind === 'kvm') {
    if (running && !g.silent) {
      const fields = os.kind === 'linux' ? linuxGuestAgentFields(os) : windowsGuestAgentFields(os);
      evidence.push({ source: 'guest-agent', text: fields['pretty-name'], fields });
    } else if (running) {
      reason = 'no_guest_agent';
      reasonDetail = 'Guest agent is not responding: QEMU guest agent is not connected';
    } else {
      reason = 'vm_off';
      reasonDetail = 'domain is shutoff; only a running guest\u2019s agent can answer';
    }
    evidence.push({ source: 'libosinfo', text: os.libosinfo });
    evidence.push({ source: 'name-hint', text: g.name });
    return {
      uuid: g.uuid,
      name: g.name,
      state: running ? 'running' : 'shutoff',
      vcpus: g.vcpus,
      memoryBytes: g.memoryMiB * 1024 * 1024,
      arch: 'x86_64',
      firmware: g.efi ? 'efi' : 'bios',
      machine: 'pc-q35-rhel9.2.0',
      os: { evidence, ...(reason ? { reason, reasonDetail } : {}) },
    };
  }
  if (running && !g.silent) {
    const fields = kvpFields(os);
    evidence.push({ source: 'kvp', text: fields.OSName, fields });
  } else if (running) {
    reason = 'kvp_empty';
    reasonDetail =
      'the VM runs but its guest sent no KVP items: the Hyper-V Data Exchange Service (hv_kvp_daemon on Linux) is not running in it';
  } else {
    reason = 'vm_off';
    reasonDetail = 'the VM is shutoff; only a running guest fills the KVP exchange';
  }
  evidence.push({ source: 'name-hint', text: g.name });
  return {
    uuid: g.uuid,
    name: g.name,
    state: running ? 'running' : 'shutoff',
    vcpus: g.vcpus,
    memoryBytes: g.memoryMiB * 1024 * 1024,
    arch: 'x86_64',
    generation: g.efi ? 2 : 1,
    os: { evidence, ...(reason ? { reason, reasonDetail } : {}) },
  };
}

/** Number of variants in an agent's cycle; consecutive variants differ, so every round has changes. */
export const VARIANTS = 8;

/**
 * Variant `v` of an agent's snapshot: the guests in group `v` are changed from the base (most are
 * stopped or started, one in four upgraded in place). Groups are disjoint and each holds `share` of
 * the guests (at least one), so from one variant to the next about 2 × share of the guests change.
 */
export function variantGuests(agent: SimAgent, v: number | null, share = 0.01): Guest[] {
  if (v === null) return agent.guests.map((g) => toGuest(agent.kind, g, g.running, g.os));
  const perGroup = Math.max(1, Math.round(agent.guests.length * share));
  const group = v % VARIANTS;
  return agent.guests.map((g, i) => {
    const inGroup = Math.floor(i / perGroup) % VARIANTS === group && i < perGroup * VARIANTS;
    if (!inGroup) return toGuest(agent.kind, g, g.running, g.os);
    const family = g.os.kind === 'linux' ? LINUX : WINDOWS;
    const upgraded = i % 4 === 0 && g.os.upgrade !== undefined ? family[g.os.upgrade] : undefined;
    return upgraded ? toGuest(agent.kind, g, g.running, upgraded) : toGuest(agent.kind, g, !g.running, g.os);
  });
}

/**
 * The inventory an agent would send for variant `v`, or for its guests as they are when `v` is null
 * (seq and collectedAt filled in by the caller).
 */
export function inventoryOf(agent: SimAgent, v: number | null, share?: number): Inventory {
  return {
    type: 'inventory',
    seq: 0,
    collectedAt: '2026-01-01T00:00:00.000Z',
    host: agent.host,
    hypervisor: agent.hypervisor,
    guests: variantGuests(agent, v, share),
    errors: [],
    drivers: [{ driver: agent.hypervisor.driver, ok: true, durationMs: 840, guests: agent.guests.length }],
    partial: false,
  };
}

/** A pre-serialised frame: `head + seq + mid + collectedAt + tail`. */
export interface FrameTemplate {
  head: string;
  mid: string;
  tail: string;
  bytes: number;
}

const HEAD = '{"type":"inventory","seq":';
const MID = ',"collectedAt":"';

export function frameTemplate(inv: Inventory): FrameTemplate {
  const text = JSON.stringify(inv);
  const seqStart = HEAD.length;
  if (!text.startsWith(HEAD)) throw new Error('inventory must begin with type, seq, collectedAt');
  const seqEnd = text.indexOf(MID, seqStart);
  const tail = text.slice(seqEnd + MID.length + inv.collectedAt.length);
  return { head: HEAD, mid: MID, tail, bytes: Buffer.byteLength(text) };
}

export function fillFrame(t: FrameTemplate, seq: number, collectedAt: string): string {
  return t.head + seq + t.mid + collectedAt + t.tail;
}

export function helloFrame(agent: SimAgent): string {
  return JSON.stringify({
    type: 'hello',
    protocol: 1,
    agentId: agent.agentId,
    agentVersion: '0.1.0',
    hostname: agent.hostname,
  });
}

/** Token names for the simulated agents (one token per agent, as in production). */
export const agentName = (index: number) => `bench-${String(index).padStart(5, '0')}`;
