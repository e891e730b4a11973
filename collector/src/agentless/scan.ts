/**
 * Agentless: one inventory of a host read over SSH by the agent's own drivers, nothing written on
 * the host (DESIGN.md "Agentless"). The connection is the installer's: known_hosts checked, an
 * unknown key refused unless accepted, a changed key always refused.
 */
import { homedir } from 'node:os';
import { DEFAULT_COMMAND_TIMEOUT_MS, DRIVERS, type InventoryBody, scanOnce } from '@hvmap/agent';
import { expandHome } from '../install/command.js';
import type { KnownHostsFile } from '../install/known-hosts.js';
import type { Remote } from '../install/plan.js';
import { connectSsh, type SshAuth } from '../install/ssh.js';
import type { Target } from '../install/target.js';
import { remoteHostFacts } from './host-facts.js';
import type { PollScan } from './poller.js';
import { detectShell, sshRunner } from './ssh-runner.js';

export const SCAN_DEFAULTS = {
  /** A host that has not finished the SSH handshake by then is given up (SSH_UNREACHABLE). */
  connectTimeoutSec: 15,
} as const;

export interface SshScanOptions {
  target: Target;
  auth: SshAuth;
  knownHosts: KnownHostsFile;
  acceptNewHostKey: boolean;
  acceptFingerprints: readonly string[];
  /** `auto` offers every driver to detection; a name runs that driver unasked. */
  driver: string;
  libvirtUri?: string;
  connectTimeoutMs: number;
  /** Ends the scan: the connection is closed, so a command hung on the host gives up its wait. */
  signal?: AbortSignal;
  /** Run each command through `sudo -n` (POSIX hosts; collector/src/agentless/README.md says which rules). */
  sudo?: boolean;
}

/** Scans one host over SSH; throws the installer's InstallError (with its stable code) when it cannot log in. */
export async function scanOverSsh(options: SshScanOptions): Promise<InventoryBody> {
  const remote = await connectSsh({
    target: options.target,
    auth: options.auth,
    hostKeys: {
      knownHosts: options.knownHosts,
      acceptNew: options.acceptNewHostKey,
      acceptFingerprints: options.acceptFingerprints,
    },
    readyTimeoutMs: options.connectTimeoutMs,
    stepTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
  });
  const close = () => remote.close();
  options.signal?.addEventListener('abort', close, { once: true });
  try {
    options.signal?.throwIfAborted();
    return await scanRemote(remote, options);
  } finally {
    options.signal?.removeEventListener('abort', close);
    remote.close();
  }
}

/** The scan itself, on a connection already made: the host's shell, its facts, then the drivers. */
export async function scanRemote(
  remote: Remote,
  options: Pick<SshScanOptions, 'driver' | 'libvirtUri' | 'sudo'>,
): Promise<InventoryBody> {
  const shell = await detectShell(remote);
  const runner = sshRunner(remote, { shell, sudo: options.sudo });
  const entries = options.driver === 'auto' ? DRIVERS : DRIVERS.filter((d) => d.name === options.driver);
  const drivers = entries.map((d) => d.create({ libvirtUri: options.libvirtUri }));
  return scanOnce(drivers, runner, {
    detect: options.driver === 'auto',
    hostFacts: await remoteHostFacts(runner, shell),
  });
}

/**
 * How `serve --poll` reads a host: as `scan --ssh`, but never accepting a host key known_hosts does
 * not hold (nobody is there to check its fingerprint); a line's `identity=` wins over the default login.
 */
export function pollOverSsh(settings: {
  knownHosts: KnownHostsFile;
  auth: SshAuth;
  connectTimeoutMs: number;
}): PollScan {
  return (target, signal) =>
    scanOverSsh({
      target,
      auth: target.identity ? { identity: expandHome(target.identity, homedir()) } : settings.auth,
      knownHosts: settings.knownHosts,
      acceptNewHostKey: false,
      acceptFingerprints: [],
      driver: target.driver,
      libvirtUri: target.libvirtUri,
      sudo: target.sudo,
      connectTimeoutMs: settings.connectTimeoutMs,
      signal,
    });
}
