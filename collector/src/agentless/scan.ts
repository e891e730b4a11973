/**
 * Agentless: one inventory of a host read over SSH by the agent's own drivers, nothing written on
 * the host (DESIGN.md "Agentless"). The connection is the installer's: known_hosts checked, an
 * unknown key refused unless accepted, a changed key always refused.
 */
import { DEFAULT_COMMAND_TIMEOUT_MS, DRIVERS, type InventoryBody, scanOnce } from '@hvmap/agent';
import type { KnownHostsFile } from '../install/known-hosts.js';
import { connectSsh, type SshAuth } from '../install/ssh.js';
import type { Target } from '../install/target.js';
import { remoteHostFacts } from './host-facts.js';
import { sshRunner } from './ssh-runner.js';

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
  try {
    const runner = sshRunner(remote);
    const entries = options.driver === 'auto' ? DRIVERS : DRIVERS.filter((d) => d.name === options.driver);
    const drivers = entries.map((d) => d.create({ libvirtUri: options.libvirtUri }));
    return await scanOnce(drivers, runner, {
      detect: options.driver === 'auto',
      hostFacts: await remoteHostFacts(runner),
    });
  } finally {
    remote.close();
  }
}
