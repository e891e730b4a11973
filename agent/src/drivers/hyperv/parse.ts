/**
 * Pure parsers for what the Hyper-V driver's PowerShell scripts print (scripts.ts). No I/O: the driver
 * runs the scripts, these read the text, and the tests feed them captured outputs (testcases/).
 */
import type { GuestState } from '@hvmap/shared';
import { XMLParser } from 'fast-xml-parser';
import { DriverError } from '../driver.js';

/**
 * Hyper-V's VM states, in one table for both of its vocabularies: the EnabledState codes of
 * Msvm_ComputerSystem (what the root\virtualization path reads) and the VMState names Get-VM prints
 * (enum names, which Windows never translates). Transitions map to the two transition words the
 * shared vocabulary has: starting (towards running) and stopping (away from it).
 */
const STATES: Record<string, GuestState> = {
  // Msvm_ComputerSystem.EnabledState: learn.microsoft.com/windows/win32/hyperv_v2/msvm-computersystem
  '2': 'running',
  '3': 'shutoff',
  '4': 'stopping',
  '10': 'starting',
  '32768': 'paused',
  '32769': 'saved',
  '32770': 'starting',
  '32773': 'stopping',
  '32774': 'stopping',
  '32776': 'stopping',
  '32777': 'starting',
  // Microsoft.HyperV.PowerShell.VMState
  Running: 'running',
  Off: 'shutoff',
  Stopping: 'stopping',
  Saved: 'saved',
  Paused: 'paused',
  Starting: 'starting',
  Reset: 'starting',
  Saving: 'stopping',
  Pausing: 'stopping',
  Resuming: 'starting',
  FastSaved: 'saved',
  FastSaving: 'stopping',
};

/**
 * A VM's state from an EnabledState code (2, "32768") or a Get-VM state name ("Running"). Get-VM's
 * "...Critical" names (RunningCritical, OffCritical: the same state with a failing VM store) keep their state.
 */
export function hyperVState(value: string | number): GuestState {
  const key = String(value)
    .trim()
    .replace(/Critical$/, '');
  return Object.hasOwn(STATES, key) ? STATES[key] : 'unknown';
}

const GUID = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4}-[0-9a-f]{12})\}?$/i;

/** Two hex digits at a time, last first: "78563412" → "12345678". */
function swapBytes(hex: string): string {
  return (hex.match(/../g) ?? []).reverse().join('');
}

/**
 * The system UUID a guest reads from its firmware, from Msvm_VirtualSystemSettingData.BIOSGUID.
 * WMI prints the GUID in Windows' form, whose first three groups are little-endian numbers. Generation 1
 * firmware declares SMBIOS 2.3, and readers of tables older than 2.6 (Linux's
 * /sys/class/dmi/id/product_uuid, dmidecode) print those bytes in memory order, so the guest sees the
 * first three groups byte-swapped: virt-who swaps them for the same reason (decodeWinUUID in
 * candlepin/virt-who virtwho/virt/hyperv/hyperv.py, "{78563412-AB90-EFCD-...}" → "12345678-90AB-CDEF-...").
 * Generation 2 firmware declares SMBIOS 3.1, read little-endian, so its guests see the GUID as WMI
 * prints it (candlepin/virt-who#421). Windows guests read the Windows form in either generation.
 * Lower case, as libvirt and Xen print UUIDs; null for text that is no GUID.
 */
export function guestUuid(biosGuid: string, generation: number): string | null {
  const m = GUID.exec(biosGuid.trim());
  if (!m) return null;
  const groups = generation === 1 ? [swapBytes(m[1]), swapBytes(m[2]), swapBytes(m[3]), m[4]] : m.slice(1, 5);
  return groups.join('-').toLowerCase();
}

/** One WMI instance as `Name=Value` lines; a name given on several lines holds its values joined by "\n". */
export type WmiInstance = Record<string, string>;

/**
 * Reads wmic's `/format:list` layout: `Name=Value` lines, instances separated by blank lines. The legacy
 * scripts print it (scripts.ts), and it is what real captures of old hosts hold (testcases/ws2008r2-*).
 * A value keeps everything after the first "=" (KVP XML holds more).
 */
export function parseWmiList(text: string): WmiInstance[] {
  const instances: WmiInstance[] = [];
  let current: WmiInstance | null = null;
  for (const raw of text.replace(/^\uFEFF/, '').split('\n')) {
    const line = raw.replace(/\r$/, '');
    const eq = line.indexOf('=');
    if (line.trim() === '' || eq <= 0) {
      current = null;
      continue;
    }
    const name = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!current) {
      current = {};
      instances.push(current);
    }
    current[name] = Object.hasOwn(current, name) ? `${current[name]}\n${value}` : value;
  }
  return instances;
}

/**
 * The KVP items kept as OS evidence (learn.microsoft.com/windows/win32/hyperv_v2/msvm-kvpexchangedataitem;
 * Linux's hv_kvp_daemon sends the same names). The guest's name, network and RDP addresses are left
 * out: they say nothing about its OS, and evidence unique to each guest would keep the collector from
 * sharing one identification among the guests of an OS.
 */
export const KVP_OS_ITEMS = [
  'OSName',
  'OSVersion',
  'OSMajorVersion',
  'OSMinorVersion',
  'OSBuildNumber',
  'OSPlatformId',
  'OSEditionId',
  'ProductType',
  'SuiteMask',
  'CSDVersion',
  'ServicePackMajor',
  'ServicePackMinor',
  'ProcessorArchitecture',
  'IntegrationServicesVersion',
] as const;

const cimXml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  isArray: (name) => name === 'PROPERTY',
  // Numeric character references (&#233;) are plain XML; without this they would stay undecoded.
  htmlEntities: true,
  // Keep every value a string: "6.2.8064" and "10" are data, not numbers.
  parseTagValue: false,
});

interface CimProperty {
  '@_NAME'?: string;
  VALUE?: unknown;
}

/**
 * Reads Msvm_KvpExchangeComponent.GuestIntrinsicExchangeItems: each item is an embedded CIM-XML
 * instance `<INSTANCE CLASSNAME="Msvm_KvpExchangeDataItem">` whose Name and Data properties are one
 * key and its value. Returns the OS items (KVP_OS_ITEMS) as the guest sent them; an item that is not
 * such an instance is skipped.
 */
export function parseKvpItems(items: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const item of items) {
    let properties: CimProperty[] | undefined;
    try {
      properties = (cimXml.parse(item) as { INSTANCE?: { PROPERTY?: CimProperty[] } }).INSTANCE?.PROPERTY;
    } catch {
      continue;
    }
    const value = (name: string) => {
      const v = properties?.find((p) => p['@_NAME'] === name)?.VALUE;
      return typeof v === 'string' ? v : v === undefined ? '' : String(v);
    };
    const key = value('Name');
    if ((KVP_OS_ITEMS as readonly string[]).includes(key)) fields[key] = value('Data');
  }
  return fields;
}

/** A VM as the list step found it, on either path. */
export interface VmRecord {
  name: string;
  /** The VM's id (Get-VM VMId; Msvm_ComputerSystem.Name), lower case. */
  id: string;
  state: GuestState;
  generation: number;
  /** Get-VM Version: the configuration version ("9.0"). */
  configurationVersion?: string;
  processorCount?: number;
  /** Startup memory, the allocation the VM boots with. */
  memoryBytes?: number;
  integrationServicesVersion?: string;
  integrationServicesState?: string;
  /** Msvm_VirtualSystemSettingData.BIOSGUID, as WMI prints it. */
  biosGuid?: string;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    const shown = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new DriverError(
      'BAD_OUTPUT',
      `the ${what} output is not JSON (${(err as Error).message}); it began: ${JSON.stringify(shown)}`,
    );
  }
}

/**
 * A value ConvertTo-Json wrote for a collection, as an array. Windows PowerShell writes an array that
 * went through its type system as {"value": [...], "Count": n}, a single object bare, and nothing as null.
 */
function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value === null || value === undefined) return [];
  if (typeof value === 'object' && Array.isArray((value as { value?: unknown }).value)) {
    return (value as { value: unknown[] }).value;
  }
  return [value];
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() || undefined;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function count(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Reads the list script's JSON: `{"vms": [Get-VM rows], "settings": [realized VSSD rows]}`, each VM
 * joined to its BIOSGUID by VirtualSystemIdentifier. Throws DriverError BAD_OUTPUT when it is not JSON.
 */
export function parseVmList(output: string): VmRecord[] {
  const doc = record(parseJson(output, 'Get-VM'));
  const biosGuids = new Map<string, string>();
  for (const row of asArray(doc.settings).map(record)) {
    const id = text(row.VirtualSystemIdentifier);
    const biosGuid = text(row.BIOSGUID);
    if (id && biosGuid) biosGuids.set(id.toLowerCase(), biosGuid);
  }
  const vms: VmRecord[] = [];
  for (const row of asArray(doc.vms).map(record)) {
    const id = text(row.Id)?.toLowerCase();
    const name = text(row.Name);
    if (!id || name === undefined) continue;
    vms.push({
      name,
      id,
      state: hyperVState(text(row.State) ?? ''),
      // Get-VM has no Generation before 2012 R2, where every VM is generation 1.
      generation: count(row.Generation) ?? 1,
      configurationVersion: text(row.Version),
      processorCount: count(row.ProcessorCount),
      memoryBytes: count(row.MemoryStartup),
      integrationServicesVersion: text(row.IntegrationServicesVersion),
      integrationServicesState: text(row.IntegrationServicesState),
      biosGuid: biosGuids.get(id),
    });
  }
  return vms;
}

/** What the KVP step found: the VMs that still exist, and each VM's intrinsic KVP items. */
export interface KvpDetail {
  /** Msvm_ComputerSystem names, lower case: the VMs' ids and the host's name. */
  systems: Set<string>;
  /** VM id (lower case) → its GuestIntrinsicExchangeItems. */
  items: Map<string, string[]>;
}

function kvpRow(systemName: string | undefined, items: unknown[]): [string, string[]] | null {
  return systemName ? [systemName.toLowerCase(), items.filter((i): i is string => typeof i === 'string')] : null;
}

/**
 * Reads the KVP script's JSON: `{"systems": [names], "kvp": [{SystemName, GuestIntrinsicExchangeItems}]}`.
 * Throws DriverError BAD_OUTPUT when it is not JSON.
 */
export function parseKvpDetail(output: string): KvpDetail {
  const doc = record(parseJson(output, 'KVP'));
  const systems = new Set(
    asArray(doc.systems)
      .map(text)
      .filter((s): s is string => s !== undefined)
      .map((s) => s.toLowerCase()),
  );
  const rows = asArray(doc.kvp)
    .map(record)
    .map((row) => kvpRow(text(row.SystemName), asArray(row.GuestIntrinsicExchangeItems)));
  return { systems, items: new Map(rows.filter((r) => r !== null)) };
}

/** The VM a settings instance belongs to: "Microsoft:<VM GUID>\..." (memory, processor) or "Microsoft:<VM GUID>". */
function ownerOf(instanceId: string | undefined): string | undefined {
  return /^Microsoft:([0-9a-f-]{36})(?:\\|$)/i.exec(instanceId ?? '')?.[1].toLowerCase();
}

function byOwner(instances: readonly WmiInstance[]): Map<string, WmiInstance> {
  const map = new Map<string, WmiInstance>();
  for (const instance of instances) {
    const owner = ownerOf(instance.InstanceID);
    if (owner && !map.has(owner)) map.set(owner, instance);
  }
  return map;
}

const VM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The VMs of a root\virtualization host (2008, 2008 R2, 2012) from its Msvm_ComputerSystem,
 * Msvm_MemorySettingData, Msvm_ProcessorSettingData and current Msvm_VirtualSystemSettingData instances.
 * Msvm_ComputerSystem also lists the host: a VM's Name is its GUID, the host's its NetBIOS name (the
 * localized Caption, "Ordinateur virtuel" on a French host, cannot tell them apart). Settings are joined by
 * the VM GUID in their InstanceID; memory is in MB (AllocationUnits, localized as "Mo", is always megabytes
 * there). Every VM there is generation 1: generation 2 came with 2012 R2, which has no root\virtualization.
 */
export function legacyVms(
  systems: readonly WmiInstance[],
  memory: readonly WmiInstance[],
  processors: readonly WmiInstance[],
  settings: readonly WmiInstance[],
): VmRecord[] {
  const memoryOf = byOwner(memory);
  const processorsOf = byOwner(processors);
  const biosGuids = new Map(
    settings
      .filter((s) => s.SystemName && s.BIOSGUID)
      .map((s): [string, string] => [s.SystemName.toLowerCase(), s.BIOSGUID]),
  );
  return systems
    .filter((s) => VM_ID.test(s.Name ?? ''))
    .map((s) => {
      const id = s.Name.toLowerCase();
      const megabytes = count(memoryOf.get(id)?.VirtualQuantity);
      return {
        name: s.ElementName ?? s.Name,
        id,
        state: hyperVState(s.EnabledState ?? ''),
        generation: 1,
        processorCount: count(processorsOf.get(id)?.VirtualQuantity),
        memoryBytes: megabytes === undefined ? undefined : megabytes * 1024 * 1024,
        biosGuid: biosGuids.get(id),
      };
    });
}

/** The legacy KVP script's instances: VM id (lower case) → its GuestIntrinsicExchangeItems. */
export function legacyKvp(instances: readonly WmiInstance[]): Map<string, string[]> {
  const rows = instances.map((i) =>
    kvpRow(i.SystemName, i.GuestIntrinsicExchangeItems ? i.GuestIntrinsicExchangeItems.split('\n') : []),
  );
  return new Map(rows.filter((r) => r !== null));
}

/** The host as the host script prints it: Win32_OperatingSystem fields and the vmms.exe version. */
export interface HostInfo {
  Caption?: string;
  Version?: string;
  BuildNumber?: string;
  ProductType?: string;
  OSLanguage?: string;
  VmmsVersion?: string;
}

/** Reads the host script's `Name=Value` lines; empty values are left out. */
export function parseHostInfo(output: string): HostInfo {
  const [fields = {}] = parseWmiList(output);
  const host: HostInfo = {};
  for (const name of ['Caption', 'Version', 'BuildNumber', 'ProductType', 'OSLanguage', 'VmmsVersion'] as const) {
    if (fields[name]) host[name] = fields[name];
  }
  return host;
}

/** One error PowerShell wrote to stderr. */
export interface PowerShellError {
  /** The first lines of the record, the cmdlet and its message ("Get-VM : You do not have ..."). */
  message: string;
  /** CategoryInfo's category (PermissionDenied, ObjectNotFound, ...): never translated. */
  category?: string;
  /** FullyQualifiedErrorId ("HRESULT 0x80041003,Microsoft.Management...GetCimInstanceCommand"). */
  errorId?: string;
}

/**
 * Reads the error records Windows PowerShell writes to stderr in its default view: the message, the
 * position ("At line:1 char:3", translated on other languages), then "+ CategoryInfo" and
 * "+ FullyQualifiedErrorId" lines, whose labels are never translated. Text without such records is
 * one error holding all of it.
 */
export function parsePowerShellErrors(stderr: string): PowerShellError[] {
  const text = stderr.replace(/^\uFEFF/, '').replace(/\r/g, '');
  if (!text.trim()) return [];
  const errors: PowerShellError[] = [];
  let lines: string[] = [];
  let current: PowerShellError | null = null;
  const finish = () => {
    if (current) errors.push(current);
    current = null;
    lines = [];
  };
  for (const line of text.split('\n')) {
    const category = /^\s*\+\s*CategoryInfo\s*:\s*(\w+)/.exec(line);
    const errorId = /^\s*\+\s*FullyQualifiedErrorId\s*:\s*(.+?)\s*$/.exec(line);
    if (category) {
      current = { message: messageOf(lines), category: category[1] };
    } else if (errorId) {
      current = { ...(current ?? { message: messageOf(lines) }), errorId: errorId[1] };
      finish();
    } else if (!current) {
      lines.push(line);
    }
  }
  const rest = messageOf(lines);
  if (current) finish();
  else if (rest) errors.push({ message: rest });
  return errors;
}

/**
 * The message of a record: its lines up to the "+ ..." code excerpt, without the position line just
 * before it. Leading "+" lines belong to the record before (its "+ PSComputerName" line).
 */
function messageOf(lines: readonly string[]): string {
  const start = lines.findIndex((l) => l.trim() !== '' && !/^\s*\+/.test(l));
  if (start < 0) return '';
  const rest = lines.slice(start);
  const excerpt = rest.findIndex((l) => /^\s*\+/.test(l));
  const kept = (excerpt < 0 ? rest : rest.slice(0, excerpt)).map((l) => l.trim()).filter(Boolean);
  // The position line ("At line:1 char:3", translated on other languages) precedes the excerpt.
  if (excerpt >= 0 && kept.length > 1) kept.pop();
  return kept.join(' ');
}

/**
 * Whether an error is a refused access: CategoryInfo PermissionDenied (Get-CimInstance), an AccessDenied
 * error id (Start-VM), E_ACCESSDENIED or WBEM_E_ACCESS_DENIED, or Get-VM's own wording, which it files under
 * NotSpecified (kubernetes/minikube#6732).
 */
export function isPermissionDenied(error: PowerShellError): boolean {
  if (error.category === 'PermissionDenied') return true;
  if (/^AccessDenied\b|0x80070005|0x80041003/i.test(error.errorId ?? '')) return true;
  return /access (is )?denied|required permission|accès refusé|zugriff verweigert/i.test(error.message);
}
