/**
 * Facts about the host itself (OS, CPU, memory, hardware identity) through systeminformation, which
 * works the same on Linux and Windows without native modules.
 */
import os from 'node:os';
import type { HostFacts } from '@hvmap/shared';
import si, { type Systeminformation } from 'systeminformation';

/** The systeminformation fields the agent asks for, in one `si.get` batch. */
const QUERY = {
  osInfo: 'platform,distro,release,kernel,arch',
  cpu: 'manufacturer,brand,cores,processors',
  mem: 'total',
  system: 'manufacturer,model,uuid,virtual',
  uuid: 'hardware',
} as const;

/** What systeminformation answers to QUERY (every field may be missing or empty). */
export interface RawHostFacts {
  osInfo?: Partial<Pick<Systeminformation.OsData, 'platform' | 'distro' | 'release' | 'kernel' | 'arch'>>;
  cpu?: Partial<Pick<Systeminformation.CpuData, 'manufacturer' | 'brand' | 'cores' | 'processors'>>;
  mem?: Partial<Pick<Systeminformation.MemData, 'total'>>;
  system?: Partial<Pick<Systeminformation.SystemData, 'manufacturer' | 'model' | 'uuid' | 'virtual'>>;
  uuid?: Partial<Pick<Systeminformation.UuidData, 'hardware'>>;
}

/** Collects the host facts of this machine. */
export async function collectHostFacts(): Promise<HostFacts> {
  return toHostFacts((await si.get(QUERY)) as RawHostFacts, os.hostname());
}

/**
 * Maps systeminformation's answer onto the protocol's HostFacts: empty values are left out (a
 * container has no system UUID) and text is clipped to the schema's limits so the frame stays valid.
 */
export function toHostFacts(raw: RawHostFacts, hostname: string): HostFacts {
  const facts: HostFacts = {
    hostname: clip(hostname, 256) ?? 'unknown',
    os: {
      platform: clip(raw.osInfo?.platform, 64) ?? process.platform,
      distro: clip(raw.osInfo?.distro, 128),
      release: clip(raw.osInfo?.release, 128),
      kernel: clip(raw.osInfo?.kernel, 128),
      arch: clip(raw.osInfo?.arch, 64),
    },
    cpu: {
      manufacturer: clip(raw.cpu?.manufacturer, 128),
      brand: clip(raw.cpu?.brand, 256),
      cores: count(raw.cpu?.cores),
      sockets: count(raw.cpu?.processors),
    },
    memoryBytes: count(raw.mem?.total),
    systemUuid: clip(raw.system?.uuid, 64) ?? clip(raw.uuid?.hardware, 64),
    manufacturer: clip(raw.system?.manufacturer, 128),
    model: clip(raw.system?.model, 128),
    virtual: typeof raw.system?.virtual === 'boolean' ? raw.system.virtual : undefined,
  };
  return dropUndefined(facts);
}

function clip(text: string | undefined, max: number): string | undefined {
  const trimmed = text?.trim();
  return trimmed ? trimmed.slice(0, max) : undefined;
}

function count(n: number | undefined): number | undefined {
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Absent rather than `undefined` keys, so the facts print and hash the same as they travel. */
function dropUndefined<T extends object>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
