/**
 * The host's own facts read over SSH, where the agent asks systeminformation: the same fields from
 * the files and commands systeminformation itself reads on Linux (os-release, /proc, uname, DMI), and
 * on Windows from the WMI classes it queries (Win32_OperatingSystem, _ComputerSystem, _Processor).
 */
import type { Runner } from '@hvmap/agent';
import { type HostFacts, parseOsRelease } from '@hvmap/shared';
import type { RemoteShell } from './ssh-runner.js';

const text = (s: string | null | undefined) => (s ?? '').trim() || undefined;

/** Reads a host's facts through the runner; what cannot be read is left out. */
export function remoteHostFacts(runner: Runner, shell: RemoteShell): Promise<HostFacts> {
  return shell === 'windows' ? windowsHostFacts(runner) : linuxHostFacts(runner);
}

async function linuxHostFacts(runner: Runner): Promise<HostFacts> {
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
  return withoutUndefined(facts);
}

/**
 * Windows host facts as `Name=Value` lines (Get-WmiObject, not ConvertTo-Json: it also runs on the
 * PowerShell 2.0 of Windows Server 2008 R2, as the Hyper-V driver's scripts do). One line, no double quote.
 */
export const WINDOWS_HOST_FACTS_SCRIPT = [
  "$ProgressPreference = 'SilentlyContinue'; [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false",
  '$os = Get-WmiObject -Class Win32_OperatingSystem',
  '$cs = Get-WmiObject -Class Win32_ComputerSystem',
  '$cpu = @(Get-WmiObject -Class Win32_Processor)',
  "'Hostname=' + $env:COMPUTERNAME",
  "foreach ($p in 'Caption','Version','OSArchitecture') { $p + '=' + $os.$p }",
  "foreach ($p in 'Manufacturer','Model','TotalPhysicalMemory') { $p + '=' + $cs.$p }",
  "'CpuManufacturer=' + $cpu[0].Manufacturer",
  "'CpuName=' + $cpu[0].Name",
  "'CpuSockets=' + $cpu.Count",
  "'CpuLogicalProcessors=' + ($cpu | Measure-Object -Property NumberOfLogicalProcessors -Sum).Sum",
].join('; ');

async function windowsHostFacts(runner: Runner): Promise<HostFacts> {
  const result = await runner.run('powershell.exe', [
    '-NoProfile',
    '-NonInteractive',
    '-Command',
    WINDOWS_HOST_FACTS_SCRIPT,
  ]);
  const fields = new Map<string, string>();
  if (result.code === 0)
    for (const line of result.stdout.split(/\r?\n/)) {
      const eq = line.indexOf('=');
      if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1).trim());
    }
  const count = (name: string) => {
    const n = Number(fields.get(name));
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  };
  return withoutUndefined({
    hostname: text(fields.get('Hostname')) ?? 'unknown',
    // systeminformation's names on Windows: platform "Windows", distro the Caption, release the Version.
    os: {
      platform: 'Windows',
      distro: text(fields.get('Caption')),
      release: text(fields.get('Version')),
      kernel: text(fields.get('Version')),
      arch: text(fields.get('OSArchitecture')),
    },
    cpu: {
      manufacturer: text(fields.get('CpuManufacturer')),
      brand: text(fields.get('CpuName')),
      cores: count('CpuLogicalProcessors'),
      sockets: count('CpuSockets'),
    },
    memoryBytes: count('TotalPhysicalMemory'),
    manufacturer: text(fields.get('Manufacturer')),
    model: text(fields.get('Model')),
  });
}

/** Absent rather than undefined keys, as the agent sends them. */
function withoutUndefined(facts: HostFacts): HostFacts {
  return JSON.parse(JSON.stringify(facts)) as HostFacts;
}
