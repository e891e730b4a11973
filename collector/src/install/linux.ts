/**
 * Installing on Linux: POSIX sh scripts run through `sh -c` (whatever the login shell is), under
 * `sudo -n` when the SSH user is not root. The agent runs from a systemd unit as a dedicated user when
 * systemd is PID 1 and the installer is privileged; otherwise (containers, no sudo) from a small
 * restart loop started with setsid, whose pid file lets upgrade and uninstall stop it.
 */

import { MIN_NODE_MAJOR } from './bundle.js';
import { InstallError } from './errors.js';
import {
  agentRunArgs,
  type ExecResult,
  type HostPlan,
  type Inspection,
  type InstallSettings,
  type Manifest,
  manifestText,
  parseManifest,
  type ServiceKind,
  type Step,
} from './plan.js';

/** Facts the probe gathers, as the SSH user, before anything changes. */
export interface LinuxFacts {
  kernel: string;
  arch: string;
  user: string;
  home: string;
  /** root: logged in as root; sudo: `sudo -n` works; none: neither. */
  privilege: 'root' | 'sudo' | 'none';
  node: { path: string; version: string | null } | null;
  /** `systemctl is-system-running` when systemd is PID 1 (/run/systemd/system exists), else null. */
  systemd: string | null;
  setsid: boolean;
  agentUserExists: boolean;
  libvirtGroup: boolean;
  osRelease: Record<string, string>;
}

/** The account the systemd unit runs the agent as. */
export const AGENT_USER = 'hvmap-agent';
export const UNIT_NAME = 'hvmap-agent.service';
const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}`;
const PROBE_MARK = 'hvmap-probe=linux';
const OS_RELEASE_MARK = '--- os-release ---';

/** Single-quotes a word for sh. */
export function shq(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The probe, run as the SSH user without sudo (it finds out whether sudo works). `remoteNode` is the
 * operator's `--remote-node`; otherwise Node.js is whatever `node` the login PATH finds.
 */
export function linuxProbe(remoteNode?: string): Step {
  const script = [
    `echo ${PROBE_MARK}`,
    'echo "kernel=$(uname -s)"',
    'echo "arch=$(uname -m)"',
    'echo "user=$(id -un)"',
    'echo "home=$HOME"',
    'if [ "$(id -u)" = 0 ]; then echo privilege=root; elif sudo -n true 2>/dev/null; then echo privilege=sudo; else echo privilege=none; fi',
    remoteNode ? `node=${shq(remoteNode)}` : 'node=$(command -v node 2>/dev/null)',
    'if [ -n "$node" ] && [ -x "$node" ]; then echo "node=$node"; echo "node_version=$("$node" --version 2>/dev/null)"; fi',
    // sd_booted(3): systemd is PID 1 exactly when this directory exists.
    'if [ -d /run/systemd/system ]; then echo "systemd=$(systemctl is-system-running 2>/dev/null)"; fi',
    'if command -v setsid >/dev/null 2>&1; then echo setsid=yes; fi',
    `if id -u ${AGENT_USER} >/dev/null 2>&1; then echo agent_user=yes; fi`,
    'if getent group libvirt >/dev/null 2>&1; then echo libvirt_group=yes; fi',
    `echo ${shq(OS_RELEASE_MARK)}`,
    'cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null',
  ].join('\n');
  return { kind: 'exec', name: 'probe', command: `sh -c ${shq(script)}` };
}

/** Reads the probe's output; null when the host did not answer like a POSIX system. */
export function parseLinuxProbe(stdout: string): LinuxFacts | null {
  const [head, osRelease = ''] = stdout.split(OS_RELEASE_MARK);
  const lines = head.split(/\r?\n/).map((l) => l.trim());
  if (!lines.includes(PROBE_MARK)) return null;
  const kv = new Map<string, string>();
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const privilege = kv.get('privilege');
  const nodePath = kv.get('node');
  return {
    kernel: kv.get('kernel') ?? '',
    arch: kv.get('arch') ?? '',
    user: kv.get('user') ?? '',
    home: kv.get('home') ?? '',
    privilege: privilege === 'root' || privilege === 'sudo' ? privilege : 'none',
    node: nodePath ? { path: nodePath, version: kv.get('node_version') || null } : null,
    systemd: kv.has('systemd') ? kv.get('systemd') || 'unknown' : null,
    setsid: kv.get('setsid') === 'yes',
    agentUserExists: kv.get('agent_user') === 'yes',
    libvirtGroup: kv.get('libvirt_group') === 'yes',
    osRelease: parseOsRelease(osRelease),
  };
}

/** os-release(5): KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2];
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["$`\\])/g, '$1');
    out[m[1]] = value;
  }
  return out;
}

/** The major version of `node --version` output (`v20.11.1`), or null. */
export function nodeMajor(version: string | null): number | null {
  const m = /^v?(\d+)\./.exec(version ?? '');
  return m ? Number(m[1]) : null;
}

// Prefixes an install would wreck: the installer owns the whole directory and removes it on uninstall.
const SYSTEM_DIRS = [
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/usr/local',
  '/var',
];

/** Checks an install prefix: absolute, plain characters, a directory of its own. */
export function checkPrefix(prefix: string, home: string): string {
  const p = prefix.replace(/\/+$/, '') || '/';
  if (!/^\/[A-Za-z0-9._/+-]*$/.test(p) || /(^|\/)\.\.?(\/|$)/.test(p)) {
    throw new InstallError(
      'PREFIX_INVALID',
      `--prefix ${prefix} must be an absolute path of letters, digits and . _ + - /`,
    );
  }
  if (SYSTEM_DIRS.includes(p) || p === home) {
    throw new InstallError(
      'PREFIX_INVALID',
      `--prefix ${prefix} is a system or home directory; give a directory of its own, such as /opt/hvmap-agent`,
    );
  }
  return p;
}

/** Turns probe facts into a plan, or refuses the host with the reason. */
export function linuxPlan(
  facts: LinuxFacts,
  options: { prefix?: string; purpose: 'install' | 'uninstall'; host: string },
): HostPlan {
  if (facts.kernel !== 'Linux') {
    throw new InstallError(
      'OS_UNSUPPORTED',
      `${options.host} runs ${facts.kernel || 'an unknown system'}; hvmap install supports Linux and Windows hosts`,
    );
  }
  if (options.purpose === 'install') {
    if (!facts.node) {
      throw new InstallError(
        'NODE_MISSING',
        `no Node.js on ${options.host} (none on ${facts.user}'s PATH): install Node.js ${MIN_NODE_MAJOR} or newer (your distribution's nodejs package or nodejs.org), or pass --remote-node PATH`,
      );
    }
    const major = nodeMajor(facts.node.version);
    if (major === null || major < MIN_NODE_MAJOR) {
      throw new InstallError(
        'NODE_TOO_OLD',
        `Node.js at ${facts.node.path} on ${options.host} is ${facts.node.version ?? 'not runnable'}; the agent needs ${MIN_NODE_MAJOR} or newer`,
      );
    }
  }
  const privileged = facts.privilege !== 'none';
  const prefix = checkPrefix(
    options.prefix ?? (privileged ? '/opt/hvmap-agent' : `${facts.home}/.hvmap-agent`),
    facts.home,
  );
  const systemd = privileged && facts.systemd !== null && facts.systemd !== 'offline';
  return new LinuxPlan(facts, prefix, systemd ? 'systemd' : 'supervised');
}

class LinuxPlan implements HostPlan {
  readonly os = 'linux';
  readonly summary: string;
  private readonly paths;

  constructor(
    private readonly facts: LinuxFacts,
    readonly prefix: string,
    private readonly service: ServiceKind,
  ) {
    this.paths = {
      packageJson: `${prefix}/package.json`,
      script: `${prefix}/dist/hvmap-agent.js`,
      launcher: `${prefix}/bin/hvmap-agent`,
      supervisor: `${prefix}/bin/supervise`,
      token: `${prefix}/agent.token`,
      ca: `${prefix}/ca.crt`,
      manifest: `${prefix}/install.json`,
      state: `${prefix}/state`,
      log: `${prefix}/agent.log`,
      pid: `${prefix}/agent.pid`,
    };
    const os =
      facts.osRelease.PRETTY_NAME ??
      ([facts.osRelease.NAME, facts.osRelease.VERSION_ID].filter(Boolean).join(' ') || 'Linux');
    const how =
      service === 'systemd'
        ? `systemd unit ${UNIT_NAME}`
        : `supervised process (${facts.systemd === null ? 'systemd not running' : 'no root or sudo for a systemd unit'})`;
    const who = facts.privilege === 'sudo' ? `${facts.user} with sudo` : facts.user;
    this.summary = `${os}, node ${facts.node?.version ?? '-'}, ${who}, ${how}`;
  }

  /** Wraps a script for the host: `sh -c`, under `sudo -n` for a user that needs it. */
  private exec(name: string, lines: string[], stdin?: Buffer): Step {
    const command = `sh -c ${shq(lines.join('\n'))}`;
    return { kind: 'exec', name, command: this.facts.privilege === 'sudo' ? `sudo -n ${command}` : command, stdin };
  }

  inspect(): Step {
    const p = shq(this.prefix);
    return this.exec('inspect', [
      `if [ -f ${shq(this.paths.manifest)} ]; then echo state=installed; cat ${shq(this.paths.manifest)};`,
      `elif [ -d ${p} ] && [ -n "$(ls -A ${p})" ]; then echo state=foreign; ls -A ${p} | head -n 5;`,
      `elif [ -e ${p} ] && [ ! -d ${p} ]; then echo state=foreign; echo 'not a directory';`,
      'else echo state=absent; fi',
    ]);
  }

  parseInspect(result: ExecResult): Inspection {
    return parseInspection(result, this.prefix);
  }

  stage(settings: InstallSettings): { steps: Step[]; manifest: Manifest } {
    const user = this.service === 'systemd' ? AGENT_USER : null;
    const createdUser = user !== null && (!this.facts.agentUserExists || settings.previous?.createdUser === true);
    const files: { path: string; content: Buffer; mode: string; owner?: string }[] = [
      { path: this.paths.packageJson, content: settings.bundle.packageJson, mode: '644' },
      { path: this.paths.script, content: settings.bundle.script, mode: '644' },
      { path: this.paths.launcher, content: Buffer.from(this.launcher(settings)), mode: '755' },
      this.service === 'systemd'
        ? { path: UNIT_PATH, content: Buffer.from(this.unit(user)), mode: '644' }
        : { path: this.paths.supervisor, content: Buffer.from(this.supervisor()), mode: '755' },
    ];
    if (settings.caPem !== undefined)
      files.push({ path: this.paths.ca, content: Buffer.from(settings.caPem), mode: '644' });
    if (settings.token !== undefined) {
      files.push({
        path: this.paths.token,
        content: Buffer.from(`${settings.token}\n`),
        mode: '600',
        owner: user ?? undefined,
      });
    }
    const keptToken = settings.token === undefined ? [this.paths.token] : [];
    const manifest: Manifest = {
      product: 'hvmap-agent',
      version: settings.bundle.version,
      installedAt: settings.now,
      tokenName: settings.tokenName,
      collector: settings.collectorUrl,
      service: this.service,
      user,
      createdUser,
      prefix: this.prefix,
      files: [...files.map((f) => f.path), ...keptToken, this.paths.manifest],
    };
    files.push({ path: this.paths.manifest, content: manifestText(manifest), mode: '644' });

    const prepare = [
      'set -e',
      'umask 022',
      `mkdir -p ${shq(`${this.prefix}/dist`)} ${shq(`${this.prefix}/bin`)} ${shq(this.paths.state)}`,
      `chmod 755 ${shq(this.prefix)}`,
    ];
    if (user) {
      if (!this.facts.agentUserExists) {
        // useradd (shadow-utils) where present, else BusyBox adduser.
        prepare.push(
          `if ! id -u ${user} >/dev/null 2>&1; then useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin ${user} 2>/dev/null || adduser -S -H -h / -s /sbin/nologin ${user}; fi`,
        );
      }
      prepare.push(`chown ${user} ${shq(this.paths.state)}`);
    }
    prepare.push(`chmod 700 ${shq(this.paths.state)}`);
    const steps: Step[] = [this.exec('prepare', prepare)];
    for (const f of files) {
      const target = shq(`${f.path}.new`);
      const lines = ['set -e', 'umask 077', `cat > ${target}`, `chmod ${f.mode} ${target}`];
      if (f.owner) lines.push(`chown ${f.owner} ${target}`);
      steps.push(this.exec(`upload ${f.path}`, lines, f.content));
    }
    return { steps, manifest };
  }

  /** The agent's command line, shared by the unit and the supervisor. */
  private launcher(settings: InstallSettings): string {
    const args = agentRunArgs(this.facts.node?.path ?? 'node', this.paths, settings);
    return [
      '#!/bin/sh',
      '# Written by hvmap install: the agent, as the unit or the supervisor runs it.',
      `exec ${args.map(shq).join(' ')}`,
      '',
    ].join('\n');
  }

  private unit(user: string | null): string {
    return [
      '# Written by hvmap install; removed by hvmap uninstall.',
      '[Unit]',
      'Description=hvmap agent (hypervisor inventory for the hvmap collector)',
      'Wants=network-online.target',
      'After=network-online.target libvirtd.service',
      '',
      '[Service]',
      `ExecStart=${this.paths.launcher}`,
      'Restart=always',
      'RestartSec=5',
      ...(user ? [`User=${user}`] : []),
      // As a system user, virsh would default to the user's own qemu:///session and see no guests.
      ...(this.facts.libvirtGroup
        ? ['SupplementaryGroups=libvirt', 'Environment=LIBVIRT_DEFAULT_URI=qemu:///system']
        : []),
      'NoNewPrivileges=yes',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n');
  }

  private supervisor(): string {
    return [
      '#!/bin/sh',
      '# Written by hvmap install where systemd does not run: restarts the agent 5 s after it exits.',
      '# Started with setsid, so `kill -TERM -PID` (PID in agent.pid) stops it and the agent together.',
      `cd ${shq(this.prefix)} || exit 1`,
      'echo $$ > agent.pid',
      "trap 'kill -TERM $child 2>/dev/null; wait $child; rm -f agent.pid; exit 0' TERM INT",
      'while :; do',
      '  if [ -f agent.log ] && [ "$(wc -c < agent.log)" -gt 5000000 ]; then mv -f agent.log agent.log.1; fi',
      '  ./bin/hvmap-agent >> agent.log 2>&1 &',
      '  child=$!',
      '  wait $child',
      // In the background so that a TERM is handled at once rather than after the sleep.
      '  sleep 5 & wait $!',
      'done',
      '',
    ].join('\n');
  }

  /** Stops whichever agent runs from this prefix: the unit, the supervisor (checked by its command line). */
  private stopLines(): string[] {
    const pid = shq(this.paths.pid);
    const supervisor = shq(this.paths.supervisor);
    return [
      `if [ -d /run/systemd/system ] && [ -f ${UNIT_PATH} ]; then systemctl stop ${UNIT_NAME} || true; fi`,
      `if [ -s ${pid} ]; then`,
      `  p=$(cat ${pid})`,
      // A stale pid file after a reboot may name someone else's process: only ours is signalled.
      `  if [ -r /proc/$p/cmdline ] && tr '\\0' ' ' < /proc/$p/cmdline | grep -qF ${supervisor}; then`,
      '    kill -TERM -"$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true',
      '    i=0',
      // A zombie (no init reaping in a container) counts as gone.
      `    while [ $i -lt 50 ] && [ -r /proc/$p/status ] && ! grep -q '^State:.*Z' /proc/$p/status; do sleep 0.2; i=$((i+1)); done`,
      '    kill -KILL -"$p" 2>/dev/null || true',
      '  fi',
      `  rm -f ${pid}`,
      'fi',
    ];
  }

  private startLines(service: ServiceKind): string[] {
    if (service === 'systemd') {
      return ['systemctl daemon-reload', `systemctl enable --quiet ${UNIT_NAME}`, `systemctl restart ${UNIT_NAME}`];
    }
    const pid = shq(this.paths.pid);
    const detach = this.facts.setsid ? 'setsid' : 'nohup';
    return [
      `rm -f ${pid}`,
      `${detach} ${shq(this.paths.supervisor)} </dev/null >/dev/null 2>&1 &`,
      'i=0',
      `while [ ! -s ${pid} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done`,
      `[ -s ${pid} ] || { echo 'the supervisor did not start' >&2; exit 1; }`,
    ];
  }

  activate(manifest: Manifest): Step {
    return this.exec('activate', [
      'set -e',
      ...this.stopLines(),
      // Files without a staged copy (a token kept on upgrade) stay as they are.
      `for f in ${manifest.files.map(shq).join(' ')}; do`,
      '  if [ -e "$f.new" ]; then',
      '    if [ -e "$f" ]; then mv -f "$f" "$f.prev"; fi',
      '    mv -f "$f.new" "$f"',
      '  fi',
      'done',
      ...this.startLines(manifest.service),
    ]);
  }

  commit(manifest: Manifest, previous?: Manifest): Step {
    const obsolete = (previous?.files ?? []).filter((f) => !manifest.files.includes(f));
    return this.exec('commit', [
      `for f in ${manifest.files.map(shq).join(' ')}; do rm -f "$f.prev"; done`,
      ...(obsolete.length ? [`rm -f ${obsolete.map(shq).join(' ')}`] : []),
    ]);
  }

  rollback(manifest: Manifest, previous?: Manifest): Step {
    if (!previous) return this.exec('rollback', [...this.stopLines(), ...this.removeLines(manifest)]);
    const added = manifest.files.filter((f) => !previous.files.includes(f));
    return this.exec('rollback', [
      ...this.stopLines(),
      `for f in ${manifest.files.map(shq).join(' ')}; do`,
      '  rm -f "$f.new"',
      '  if [ -e "$f.prev" ]; then mv -f "$f.prev" "$f"; fi',
      'done',
      ...(added.includes(UNIT_PATH) ? [`systemctl disable --quiet ${UNIT_NAME} || true`] : []),
      ...(added.length ? [`rm -f ${added.map(shq).join(' ')}`] : []),
      ...this.startLines(previous.service),
    ]);
  }

  /** Removes the unit, the prefix and a user the installer created, then lists whatever is left. */
  private removeLines(manifest: Manifest): string[] {
    const lines = [
      `if [ -f ${UNIT_PATH} ]; then`,
      `  if [ -d /run/systemd/system ]; then systemctl disable --quiet ${UNIT_NAME} || true; fi`,
      `  rm -f ${UNIT_PATH} ${UNIT_PATH}.new ${UNIT_PATH}.prev`,
      '  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi',
      'fi',
      `rm -rf ${shq(this.prefix)}`,
    ];
    if (manifest.createdUser && manifest.user) {
      lines.push(
        `if id -u ${manifest.user} >/dev/null 2>&1; then userdel ${manifest.user} 2>/dev/null || deluser ${manifest.user}; fi`,
      );
    }
    lines.push(
      'left=',
      `for f in ${shq(this.prefix)} ${UNIT_PATH}; do if [ -e "$f" ]; then left="$left $f"; fi; done`,
      'if [ -n "$left" ]; then echo "still there:$left" >&2; exit 1; fi',
    );
    return lines;
  }

  diagnose(manifest: Manifest): Step {
    const log = shq(this.paths.log);
    return this.exec('diagnose', [
      manifest.service === 'systemd'
        ? `journalctl -u ${UNIT_NAME} -n 20 --no-pager -o cat 2>/dev/null`
        : `if [ -f ${log} ]; then tail -n 20 ${log}; fi`,
    ]);
  }

  uninstall(manifest: Manifest): Step {
    return this.exec('uninstall', [...this.stopLines(), ...this.removeLines(manifest)]);
  }
}

/** Shared by both OSes: `state=…` on the first line, then the manifest or what else is there. */
export function parseInspection(result: ExecResult, prefix: string): Inspection {
  if (result.code !== 0) {
    throw new InstallError(
      'STEP_FAILED',
      `cannot look at ${prefix}: ${(result.stderr || result.stdout).trim() || `exit code ${result.code}`}`,
    );
  }
  const [first = '', ...rest] = result.stdout.trim().split(/\r?\n/);
  const state = first.trim();
  if (state === 'state=absent') return { state: 'absent' };
  if (state === 'state=installed') {
    const manifest = parseManifest(rest.join('\n'));
    if (manifest) return { state: 'installed', manifest };
    return { state: 'foreign', what: 'an install.json that is not an hvmap-agent manifest' };
  }
  return {
    state: 'foreign',
    what:
      rest
        .map((l) => l.trim())
        .filter(Boolean)
        .join(', ') || 'unknown content',
  };
}
