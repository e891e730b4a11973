/**
 * The drivers the agent knows. Registering a driver is one line in DRIVERS; their order is their
 * priority for `--driver auto` (scan.ts asks each in turn and runs the first that detects its hypervisor).
 */
import type { Driver } from './driver.js';
import { libvirtDriver } from './libvirt/libvirt.js';

export { type Driver, DriverError, type GuestScan } from './driver.js';
export { hypervisorProduct, type LibvirtOptions, libvirtDriver } from './libvirt/libvirt.js';

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

/** Every driver, highest priority first. */
export const DRIVERS: readonly DriverEntry[] = [
  { name: 'libvirt', create: (s) => libvirtDriver({ uri: s.libvirtUri, commandTimeoutMs: s.commandTimeoutMs }) },
];
