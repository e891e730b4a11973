/**
 * The OS of a Linux hypervisor host, read through the Runner: os-release where the host has one,
 * else the first line of /etc/redhat-release (RHEL 5 and 6, the Xen hosts of their time, have no os-release).
 */
import { type Hypervisor, parseOsRelease } from '@hvmap/shared';
import type { Runner } from '../runner.js';

const HOST_OS_FIELDS = ['ID', 'VERSION_ID', 'NAME', 'PRETTY_NAME'];

/** `hostOs` and `hostOsFields` of a Hypervisor; empty when the host has neither file. */
export async function readHostOs(run: Runner): Promise<Pick<Hypervisor, 'hostOs' | 'hostOsFields'>> {
  const osRelease = (await run.readFile('/etc/os-release')) ?? (await run.readFile('/usr/lib/os-release'));
  if (osRelease !== null) {
    const fields = parseOsRelease(osRelease);
    return {
      hostOs: fields.PRETTY_NAME ?? fields.NAME,
      hostOsFields: Object.fromEntries(HOST_OS_FIELDS.filter((k) => k in fields).map((k) => [k, fields[k]])),
    };
  }
  const release = (await run.readFile('/etc/redhat-release'))?.split(/\r?\n/)[0].trim();
  return release ? { hostOs: release } : {};
}
