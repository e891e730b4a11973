/**
 * The drivers the agent knows. Registering a driver is one line in DRIVERS. With `--driver auto`
 * scan.ts runs every driver that detects its hypervisor; their order is their priority when two see
 * the same host: the first one's hypervisor is reported, and a guest seen by several (same UUID) is
 * reported once, as the first driver saw it.
 */
import type { Driver } from './driver.js';
import { hypervDriver } from './hyperv/hyperv.js';
import { libvirtDriver } from './libvirt/libvirt.js';
import { xenDriver } from './xen/xen.js';
import { xenServerDriver } from './xenserver/xenserver.js';

export { type Driver, DriverError, type GuestScan } from './driver.js';
export { hypervisorProduct, type LibvirtOptions, libvirtDriver } from './libvirt/libvirt.js';
export { type XenOptions, xenDriver } from './xen/xen.js';
export { type XenServerOptions, xenServerDriver } from './xenserver/xenserver.js';

/** What the agent's configuration hands to a driver factory; each driver takes what concerns it. */
export interface DriverSettings {
  libvirtUri?: string;
  commandTimeoutMs?: number;
}

/** A registered driver: its `--driver` name and how to make it from the configuration. */
export interface DriverEntry {
  name: string;
  create(settings: DriverSettings): Driver;
}

/**
 * Every driver, highest priority first: the richer view of the same guests wins. On XenServer and
 * XCP-ng, xe (guest metrics, halted VMs) sees more than xl; on a Xen host managed through libvirt,
 * xl and xenstore see the Xen guest tools' OS keys, which libvirt does not read.
 */
export const DRIVERS: readonly DriverEntry[] = [
  { name: 'xenserver', create: (s) => xenServerDriver({ commandTimeoutMs: s.commandTimeoutMs }) },
  { name: 'xen', create: (s) => xenDriver({ commandTimeoutMs: s.commandTimeoutMs }) },
  { name: 'libvirt', create: (s) => libvirtDriver({ uri: s.libvirtUri, commandTimeoutMs: s.commandTimeoutMs }) },
  { name: 'hyperv', create: (s) => hypervDriver({ commandTimeoutMs: s.commandTimeoutMs }) },
];
