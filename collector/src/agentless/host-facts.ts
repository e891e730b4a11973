/**
 * The host's own facts read over SSH, where the agent asks systeminformation: the same fields from
 * the files and commands systeminformation itself reads on Linux (os-release, /proc, uname, DMI).
 */
import type { Runner } from '@hvmap/agent';
import { type HostFacts, parseOsRelease } from '@hvmap/shared';

const text = (s: string | null | undefined) => (s ?? '').trim() || undefined;

/** Reads a Linux host's facts through the runner; what cannot be read is left out. */
export async function remoteHostFacts(runner: Runner): Promise<HostFacts> {
  const uname = await runner.run('uname', ['-n', '-r', '-m']);
  const [hostname, kernel, arch] = uname.code === 0 ? uname.stdout.trim().split(/\s+/) : [];
  const osRelease = parseOsRelease((await runner.readFile('/etc/os-release')) ?? '');
  const cpuinfo = (await runner.readFile('/proc/cpuinfo')) ?? '';
  const meminfo = (await runner.readFile('/proc/meminfo')) ?? '';
  const brand = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1];
  const vendor = /^vendor_id\s*:\s*(.+)$/m.exec(cpuinfo)?.[1];
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const sockets = new Set(cpuinfo.match(/^physical id\s*:\s*\d+/gm) ?? []).size;
  const memKiB = Number(/^MemTotal:\s*(\d+)\s*kB/m.exec(meminfo)?.[1]);
  const facts: HostFacts = {
    hostname: text(hostname) ?? 'unknown',
    os: {
      platform: 'linux',
      distro: text(osRelease.NAME),
      release: text(osRelease.VERSION_ID),
      kernel: text(kernel),
      arch: text(arch),
    },
    cpu: {
      manufacturer: text(vendor),
      brand: text(brand),
      cores: cores || undefined,
      sockets: sockets || undefined,
    },
    memoryBytes: memKiB > 0 ? memKiB * 1024 : undefined,
    manufacturer: text(await runner.readFile('/sys/class/dmi/id/sys_vendor')),
    model: text(await runner.readFile('/sys/class/dmi/id/product_name')),
  };
  // Absent rather than undefined keys, as the agent sends them.
  return JSON.parse(JSON.stringify(facts)) as HostFacts;
}
