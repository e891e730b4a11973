/**
 * A real KVM host on this machine, for the tests and `hvmap demo --real-kvm`: Debian's libvirtd
 * (qemu:///system) with its own config and pid files, and tiny real QEMU guests (TCG: this machine's /dev/kvm cannot run guests) whose initramfs
 * runs the real qemu-guest-agent with a chosen /etc/os-release. Needs root (libvirtd, /var/lib/libvirt).
 * Facts and blockers measured on this machine: the handbook's tools/real-kvm/README.md.
 */
import { execFile as execFileCb } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);

export const SYSTEM_URI = 'qemu:///system';
/** What the harness needs from Debian; .ci/run installs the same list. */
export const REAL_KVM_PACKAGES = [
  'libvirt-daemon-system',
  'libvirt-daemon-driver-qemu',
  'libvirt-clients',
  'qemu-system-x86',
  'busybox-static',
  'cpio',
  'kmod',
  'xz-utils',
];
/** The script stays in src/: from src/demo/real-kvm and dist/demo/real-kvm alike, three folders up is collector/. */
const BOOT_IMAGE = fileURLToPath(new URL('../../../src/demo/real-kvm/boot-image.sh', import.meta.url));
/** Readable by the libvirt-qemu user QEMU runs as (a mkdtemp folder is not). */
const BOOT_DIR = '/var/lib/libvirt/boot/hvmap-test';
/** Kernel and qemu-ga .debs and the base initramfs, kept between runs on one machine. */
const WORK_DIR = '/var/tmp/hvmap-real-kvm';
/** Guests this harness defines carry this prefix; stop() removes every one, even a crashed run's. */
export const GUEST_PREFIX = 'hvmap-t-';

/** The /etc/os-release of the OSes the guests play (as those releases ship it, trimmed to what identifies). */
export const OS_RELEASES = {
  rhel94:
    'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\nCPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"\n',
  debian12:
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
  alma94:
    'NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"\nCPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"\n',
};

export interface GuestSpec {
  /** Without GUEST_PREFIX, which define() adds. */
  name: string;
  osRelease: string;
  /** The libosinfo id in the domain's metadata, as virt-install writes it; absent: none. */
  libosinfo?: string;
  /** running: qemu-ga runs; stopped: the channel exists, nothing answers; none: no agent channel. */
  agent: 'running' | 'stopped' | 'none';
  memoryMiB?: number;
}

export interface RealKvm {
  readonly uri: string;
  /** Seconds each step took, for the test's report. */
  readonly timings: Record<string, number>;
  /** Writes the guest's initrd and defines it (shut off). Returns the full domain name. */
  define(spec: GuestSpec): Promise<string>;
  /** Starts a defined guest and waits until its agent answers (agent running) or it booted. */
  start(name: string, timeoutMs?: number): Promise<number>;
  virsh(...args: string[]): Promise<string>;
  /** Destroys and undefines every guest of this harness and stops the daemons it started. */
  stop(): Promise<void>;
}

/** Why this machine cannot run the real KVM host, said as what to do about it. */
export class RealKvmUnavailable extends Error {}

/**
 * Runs "$@" (libvirtd) in its own mount namespace where /etc/libvirt/qemu.conf is "$0", so the
 * machine's own file stays as it is. Here /dev/kvm is root's alone (mode 0600): QEMU probing as root
 * finds KVM while the libvirt-qemu user guests run as cannot open it, and libvirt 9.0 then holds its
 * capabilities cache outdated on every call ("KVM was enabled when probing … but it is not available
 * now") and probes QEMU again: `virsh define` took 56 s. Guests running as root agree with the probe.
 * They are still type 'qemu' (TCG): KVM guests die here with "emulation failure".
 */
const OWN_QEMU_CONF = 'mount --bind "$0" /etc/libvirt/qemu.conf || exit 1; exec "$@"';
const QEMU_CONF = 'user = "root"\ngroup = "root"\n';

async function sh(program: string, args: string[]): Promise<string> {
  const { stdout } = await execFile(program, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function missingPackages(): Promise<string[]> {
  const missing: string[] = [];
  for (const p of REAL_KVM_PACKAGES) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax
    const status = await sh('dpkg-query', ['-W', '-f=${Status}', p]).catch(() => '');
    if (!status.includes('install ok installed')) missing.push(p);
  }
  return missing;
}

async function answers(uri: string): Promise<boolean> {
  return sh('virsh', ['-q', '-c', uri, 'uri']).then(
    () => true,
    () => false,
  );
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return (Date.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
}

function running(pidFile: string, comm: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    // A daemon's parent may be a container's PID 1 that never reaps: a zombie has stopped too.
    const zombie = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
    return !zombie && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm ? pid : undefined;
  } catch {
    return undefined;
  }
}

function domainXml(name: string, spec: GuestSpec, kernel: string): string {
  const metadata = spec.libosinfo
    ? `<metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"><libosinfo:os id="${spec.libosinfo}"/></libosinfo:libosinfo></metadata>`
    : '';
  const channel =
    spec.agent === 'none' ? '' : `<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>`;
  // type='qemu' is TCG: KVM guests die here with "emulation failure". No <graphics>: 'none' is refused.
  return `<domain type='qemu'>
  <name>${name}</name>
  ${metadata}
  <memory unit='MiB'>${spec.memoryMiB ?? 128}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${kernel}</kernel>
    <initrd>${BOOT_DIR}/${name}.initrd</initrd>
    <cmdline>console=ttyS0 rdinit=/init quiet loglevel=3 mitigations=off tsc=reliable no_timer_check</cmdline>
  </os>
  <features><acpi/></features>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'><log file='/var/log/libvirt/qemu/${name}-serial.log' append='off'/></serial>
    <console type='pty'/>
    ${channel}
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <video><model type='none'/></video>
  </devices>
</domain>
`;
}

/**
 * Installs what is missing (apt-get) when `install` is set, builds the boot files, and starts virtlogd and libvirtd unless a
 * libvirt already answers on qemu:///system (then that one is used and left running).
 */
export async function startRealKvm(runDir: string, options: { install?: boolean } = {}): Promise<RealKvm> {
  if (process.getuid?.() !== 0) throw new RealKvmUnavailable('a real libvirtd needs root: run as root');
  const timings: Record<string, number> = {};
  const timed = async <T>(step: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    const result = await fn();
    timings[step] = (Date.now() - t) / 1000;
    return result;
  };

  const missing = await missingPackages();
  if (missing.length > 0 && !options.install) {
    throw new RealKvmUnavailable(
      `missing Debian packages; install them with: apt-get install -y --no-install-recommends ${missing.join(' ')}`,
    );
  }
  if (missing.length > 0) {
    await timed('packages', async () => {
      await sh('apt-get', ['update', '-qq']);
      await execFile('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    });
  }
  mkdirSync(WORK_DIR, { recursive: true });
  await timed('boot files', () => sh(BOOT_IMAGE, ['base', WORK_DIR, BOOT_DIR]));
  const kernel = [`${BOOT_DIR}/vmlinux`, `${BOOT_DIR}/vmlinuz`].find((f) => existsSync(f)) as string;

  mkdirSync(runDir, { recursive: true });
  const pids = { virtlogd: path.join(runDir, 'virtlogd.pid'), libvirtd: path.join(runDir, 'libvirtd.pid') };
  const started: string[] = [];
  if (!(await answers(SYSTEM_URI))) {
    await timed('daemons', async () => {
      mkdirSync('/var/log/libvirt/qemu', { recursive: true });
      if (!running(pids.virtlogd, 'virtlogd')) {
        await sh('virtlogd', ['--daemon', '--pid-file', pids.virtlogd]);
        started.push('virtlogd');
      }
      // Debian's libvirtd asks polkit, which needs a system D-Bus a container lacks: the sockets'
      // modes decide instead, as on a host without polkit (read-only: anyone; read-write: group libvirt).
      const qemuConf = path.join(runDir, 'qemu.conf');
      writeFileSync(qemuConf, QEMU_CONF);
      const config = path.join(runDir, 'libvirtd.conf');
      writeFileSync(
        config,
        [
          'unix_sock_group = "libvirt"',
          'unix_sock_ro_perms = "0777"',
          'unix_sock_rw_perms = "0770"',
          'auth_unix_ro = "none"',
          'auth_unix_rw = "none"',
          '',
        ].join('\n'),
      );
      await sh('unshare', [
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        OWN_QEMU_CONF,
        qemuConf,
        'libvirtd',
        '--daemon',
        '--config',
        config,
        '--pid-file',
        pids.libvirtd,
      ]);
      started.push('libvirtd');
      await waitFor('libvirtd answering on qemu:///system', 20_000, () => answers(SYSTEM_URI));
    });
  }

  const virsh = (...args: string[]) => sh('virsh', ['-q', '-c', SYSTEM_URI, ...args]);
  const agentAnswers = (name: string) =>
    virsh('guestinfo', '--hostname', name).then(
      () => true,
      () => false,
    );
  const booted = (name: string) => {
    try {
      return readFileSync(`/var/log/libvirt/qemu/${name}-serial.log`, 'utf8').includes('hvmap-guest: booted');
    } catch {
      return false;
    }
  };
  const specs = new Map<string, GuestSpec>();

  const removeGuests = async () => {
    const names = (await virsh('list', '--all', '--name').catch(() => ''))
      .split('\n')
      .map((n) => n.trim())
      .filter((n) => n.startsWith(GUEST_PREFIX));
    for (const name of names) {
      await virsh('destroy', name).catch(() => undefined);
      await virsh('undefine', name).catch(() => undefined);
    }
  };
  await removeGuests();

  return {
    uri: SYSTEM_URI,
    timings,
    virsh,
    async define(spec) {
      const name = GUEST_PREFIX + spec.name;
      const osRelease = path.join(runDir, `${name}.os-release`);
      writeFileSync(osRelease, spec.osRelease);
      await sh(BOOT_IMAGE, [
        'guest',
        WORK_DIR,
        BOOT_DIR,
        name,
        osRelease,
        spec.agent === 'running' ? 'running' : 'stopped',
      ]);
      const xml = path.join(runDir, `${name}.xml`);
      writeFileSync(xml, domainXml(name, spec, kernel));
      await virsh('define', xml);
      specs.set(name, spec);
      return name;
    },
    async start(name, timeoutMs = 120_000) {
      const t = Date.now();
      await virsh('start', name);
      const spec = specs.get(name);
      await waitFor(`${name} booted`, timeoutMs, async () =>
        spec?.agent === 'running' ? agentAnswers(name) : booted(name),
      );
      return (Date.now() - t) / 1000;
    },
    async stop() {
      await removeGuests();
      for (const daemon of ['libvirtd', 'virtlogd'] as const) {
        const pid = started.includes(daemon) ? running(pids[daemon], daemon) : undefined;
        if (pid === undefined) continue;
        process.kill(pid, 'SIGTERM');
        await waitFor(`${daemon} stopping`, 10_000, async () => running(pids[daemon], daemon) === undefined).catch(() =>
          process.kill(pid, 'SIGKILL'),
        );
      }
    },
  };
}
