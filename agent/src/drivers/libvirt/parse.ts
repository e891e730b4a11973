/**
 * Pure parsers for what `virsh` prints. No I/O: the driver runs the commands, these read the text,
 * and the tests feed them outputs captured on real systems (testcases/).
 */
import type { GuestState } from '@hvmap/shared';
import { XMLParser } from 'fast-xml-parser';

// virsh prints domain states from virshDomainStateToString (tools/virsh-domain-monitor.c); the agent
// runs virsh with LC_ALL=C, so they are these English strings. "idle" is Xen's blocked domain: running.
const VIRSH_STATES: Record<string, GuestState> = {
  running: 'running',
  idle: 'running',
  paused: 'paused',
  'in shutdown': 'stopping',
  'shut off': 'shutoff',
  crashed: 'crashed',
  pmsuspended: 'suspended',
  'no state': 'unknown',
};

/** Parses `virsh domstate`: the state as one of the words `virsh list` prints. */
export function parseVirshState(text: string): GuestState {
  const state = text.trim();
  return Object.hasOwn(VIRSH_STATES, state) ? VIRSH_STATES[state] : 'unknown';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses `virsh list --all --uuid`: one UUID a line. */
export function parseUuidList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => UUID.test(line));
}

/** What `virsh dumpxml` says about one domain. */
export interface DomainInfo {
  name: string;
  uuid: string;
  /** The `<domain type>`: kvm, qemu, xen, test, lxc, vz, bhyve ... */
  domainType: string;
  vcpus?: number;
  memoryBytes?: number;
  currentMemoryBytes?: number;
  arch?: string;
  machine?: string;
  firmware?: 'efi' | 'bios';
  /** `<os><type>`: hvm, xen (PV), xenpvh, exe (containers), linux. */
  osType?: string;
  /** `<libosinfo:os id>` from the metadata virt-install and virt-manager write. */
  libosinfoId?: string;
}

type XmlNode = Record<string, unknown>;

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // libvirt keeps foreign metadata in namespaces (<libosinfo:os>); the prefix varies, the local name does not.
  removeNSPrefix: true,
  // Numeric character references (&#233;) are plain XML; without this they would stay undecoded.
  htmlEntities: true,
  // Keep every value a string: names and UUIDs may look like numbers.
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (_name, jpath) => XML_ARRAYS.has(jpath as string),
});

const XML_ARRAYS = new Set(['capabilities.guest', 'capabilities.guest.arch.domain']);

function node(value: unknown): XmlNode | undefined {
  return typeof value === 'object' && value !== null ? (value as XmlNode) : undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim();
  const t = node(value)?.['#text'];
  return typeof t === 'string' ? t.trim() : undefined;
}

function attr(value: unknown, name: string): string | undefined {
  const a = node(value)?.[`@_${name}`];
  return typeof a === 'string' ? a : undefined;
}

function integer(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  return Number(s);
}

// libvirt's scaled integers (docs/formatdomain.rst, "memory"): no unit means KiB; "KB" is 1000, "k"/"KiB" 1024.
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  bytes: 1,
  kb: 1e3,
  k: 1024,
  kib: 1024,
  mb: 1e6,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1e9,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1e12,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  pb: 1e15,
  p: 1024 ** 5,
  pib: 1024 ** 5,
  eb: 1e18,
  e: 1024 ** 6,
  eib: 1024 ** 6,
};

/** A libvirt memory element in bytes, honouring its `unit` attribute. */
function bytes(value: unknown): number | undefined {
  const amount = integer(text(value));
  if (amount === undefined) return undefined;
  const unit = (attr(value, 'unit') ?? 'KiB').toLowerCase();
  const factor = UNIT_BYTES[unit];
  return factor === undefined ? undefined : amount * factor;
}

function firmwareOf(
  os: XmlNode | undefined,
  osType: string | undefined,
  arch: string | undefined,
): 'efi' | 'bios' | undefined {
  const declared = attr(os, 'firmware');
  if (declared === 'efi' || declared === 'bios') return declared;
  const loader = os?.loader;
  // A pflash loader is how libvirt runs UEFI (OVMF, AAVMF); a ROM loader that is OVMF is Xen's UEFI.
  if (attr(loader, 'type') === 'pflash' || /ovmf|aavmf|edk2|uefi/i.test(text(loader) ?? '')) return 'efi';
  // Without a loader, an x86 HVM guest boots libvirt's default firmware: SeaBIOS (or Xen's hvmloader BIOS).
  if (osType === 'hvm' && /^(i[3-6]86|x86_64)$/.test(arch ?? '')) return 'bios';
  return undefined;
}

/**
 * Splits text holding one or more `<domain>` documents (a batch of `virsh dumpxml`, or virt-install's
 * install-phase + final pair) into one string per document. virsh starts and ends each at column 0.
 */
export function splitDomainXml(text: string): string[] {
  return text.match(/^<domain[\s>][\s\S]*?^<\/domain>/gm) ?? [];
}

/** Parses one `virsh dumpxml` document. Throws when the text is not a domain with a name and a UUID. */
export function parseDomainXml(domainXml: string): DomainInfo {
  const domain = node(node(xml.parse(domainXml))?.domain);
  const name = text(domain?.name);
  const uuid = text(domain?.uuid);
  if (!domain || Array.isArray(domain) || !name || !uuid) {
    throw new Error('not a libvirt domain: expected one <domain> with <name> and <uuid>');
  }
  const vcpu = domain.vcpu;
  const os = node(domain.os);
  const type = os?.type;
  const osType = text(type);
  const arch = attr(type, 'arch');
  const libosinfoId = attr(node(node(domain.metadata)?.libosinfo)?.os, 'id');
  return {
    name,
    uuid,
    domainType: attr(domain, 'type') ?? 'unknown',
    vcpus: integer(attr(vcpu, 'current')) ?? integer(text(vcpu)),
    memoryBytes: bytes(domain.memory),
    currentMemoryBytes: bytes(domain.currentMemory),
    arch,
    machine: attr(type, 'machine'),
    firmware: firmwareOf(os, osType, arch),
    osType,
    libosinfoId,
  };
}

/** What `virsh version` says: libvirt's own version and the hypervisor behind the connection. */
export interface VirshVersion {
  /** "Using library: libvirt 9.0.0". */
  library?: string;
  compiledAgainst?: string;
  /** "Using API: QEMU 9.0.0": the connection driver. */
  api?: { type: string; version: string };
  /** "Running hypervisor: QEMU 8.2.0"; version absent when virsh "Cannot extract" it. */
  hypervisor?: { type: string; version?: string };
}

/** Parses `virsh version` (tools/virsh-host.c cmdVersion). */
export function parseVirshVersion(text: string): VirshVersion {
  const result: VirshVersion = {};
  const compiled = /^Compiled against library: libvirt (\S+)/m.exec(text);
  const library = /^Using library: libvirt (\S+)/m.exec(text);
  const api = /^Using API: (.+) (\S+)[^\S\n]*$/m.exec(text);
  const running = /^Running hypervisor: (.+) (\S+)[^\S\n]*$/m.exec(text);
  const unknown = /^Cannot extract running (.+) hypervisor version/m.exec(text);
  if (compiled) result.compiledAgainst = compiled[1];
  if (library) result.library = library[1];
  if (api) result.api = { type: api[1], version: api[2] };
  if (running) result.hypervisor = { type: running[1], version: running[2] };
  else if (unknown) result.hypervisor = { type: unknown[1] };
  return result;
}

/** What `virsh nodeinfo` says about the host. */
export interface NodeInfo {
  cpuModel?: string;
  cpus?: number;
  cpuMhz?: number;
  sockets?: number;
  coresPerSocket?: number;
  threadsPerCore?: number;
  numaCells?: number;
  memoryBytes?: number;
}

/** Parses `virsh nodeinfo`: `Label:  value` lines (tools/virsh-host.c, `%-20s %s`). */
export function parseNodeinfo(text: string): NodeInfo {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z ()]*?):\s+(.*?)\s*$/.exec(line);
    if (m) values.set(m[1], m[2]);
  }
  const num = (label: string) => {
    const m = /^(\d+)/.exec(values.get(label) ?? '');
    return m ? Number(m[1]) : undefined;
  };
  const memKiB = num('Memory size');
  return {
    cpuModel: values.get('CPU model'),
    cpus: num('CPU(s)'),
    cpuMhz: num('CPU frequency'),
    sockets: num('CPU socket(s)'),
    coresPerSocket: num('Core(s) per socket'),
    threadsPerCore: num('Thread(s) per core'),
    numaCells: num('NUMA cell(s)'),
    memoryBytes: memKiB === undefined ? undefined : memKiB * 1024,
  };
}

/** What `virsh capabilities` says about the host and the guests it can run. */
export interface Capabilities {
  hostArch?: string;
  cpuModel?: string;
  /** Every `<guest><arch><domain type>` offered, once each: kvm, qemu, xen, test, lxc ... */
  domainTypes: string[];
  /** Every `<guest><os_type>` offered, once each: hvm, xen, exe ... */
  osTypes: string[];
}

/** Parses `virsh capabilities`. */
export function parseCapabilities(capabilitiesXml: string): Capabilities {
  const caps = node(node(xml.parse(capabilitiesXml))?.capabilities);
  const cpu = node(node(caps?.host)?.cpu);
  const guests = (caps?.guest as unknown[] | undefined) ?? [];
  const domainTypes = new Set<string>();
  const osTypes = new Set<string>();
  for (const guest of guests) {
    const osType = text(node(guest)?.os_type);
    if (osType) osTypes.add(osType);
    for (const domain of (node(node(guest)?.arch)?.domain as unknown[] | undefined) ?? []) {
      const type = attr(domain, 'type');
      if (type) domainTypes.add(type);
    }
  }
  return {
    hostArch: text(cpu?.arch),
    cpuModel: text(cpu?.model),
    domainTypes: [...domainTypes],
    osTypes: [...osTypes],
  };
}

/**
 * Parses `virsh guestinfo --os DOMAIN`: one `os.KEY : value` line per typed parameter
 * (tools/virsh-domain.c cmdGuestInfo, `%-20s: %s`). Returns the os-release style keys without `os.`.
 */
export function parseGuestInfoOs(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^os\.(\S+?)\s*: ?(.*?)\s*$/.exec(line);
    if (m) fields[m[1]] = m[2];
  }
  return fields;
}

/**
 * Parses the reply to `virsh qemu-agent-command DOMAIN '{"execute":"guest-get-osinfo"}'`
 * (`{"return": {GuestOSInfo}}`, qga/qapi-schema.json), or the bare GuestOSInfo object as logs quote it.
 * Returns its string members; null when the text is not such a reply.
 */
export function parseQemuAgentOsinfo(json: string): Record<string, string> | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  const reply = node(value);
  const info = reply && 'return' in reply ? node(reply.return) : reply;
  if (!info || Array.isArray(info)) return null;
  const fields: Record<string, string> = {};
  for (const [key, v] of Object.entries(info)) if (typeof v === 'string') fields[key] = v;
  return fields;
}

/** One line of `virsh event --all --loop [--timestamp]`. */
export interface VirshEvent {
  /** lifecycle, agent-lifecycle, metadata-change, reboot, … */
  event: string;
  domain: string;
  /** The rest of the line: `Started Booted`, `state: 'connected' reason: 'channel event'`. */
  detail: string;
}

/**
 * Parses a line virsh prints for a domain event (tools/virsh-domain-event.c: `[TIMESTAMP: ]event
 * 'NAME' for domain 'DOMAIN': DETAIL`, or without `: DETAIL` for reboot and control-error); null for
 * any other line (virsh's "events received" count, blank lines).
 */
export function parseVirshEvent(line: string): VirshEvent | null {
  const m = /^(?:\d{4}-\d\d-\d\d [\d:.+-]+: )?event '([a-z-]+)' for domain '(.*?)'(?:: (.*))?$/.exec(line.trimEnd());
  return m ? { event: m[1], domain: m[2], detail: m[3] ?? '' } : null;
}
