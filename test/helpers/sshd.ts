/**
 * A real OpenSSH server for tests: its own host key, one authorized user key, 127.0.0.1 on a free
 * port, run in the foreground (`sshd -D -e`) as a child that stop() ends. Logs in as the user the
 * tests run as (root in CI: `PermitRootLogin prohibit-password`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../bench/src/common.js';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  port: number;
  /** The private key sshd accepts. */
  userKey: string;
  /** The server's public host key, as in a `.pub` file: `ssh-ed25519 AAAA… comment`. */
  hostPublicKey: string;
  /** `ssh-keygen -lf` of the host key: `SHA256:…`. */
  hostFingerprint: string;
  /** sshd's own log (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** Makes an unencrypted key pair with ssh-keygen; returns the private key's path. */
export function keygen(file: string, type = 'ed25519'): string {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', path.basename(file), '-f', file]);
  return file;
}

/** The fingerprint ssh-keygen prints for a public key file. */
export function sshFingerprint(pubFile: string): string {
  const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile], { encoding: 'utf8' });
  const fp = /(SHA256:\S+)/.exec(out)?.[1];
  if (!fp) throw new Error(`ssh-keygen printed no fingerprint: ${out}`);
  return fp;
}

export { freePort };

/** Starts sshd with keys under `dir`; resolves once it listens. */
export async function startSshd(dir: string): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`no ${SSHD}: install the openssh-server package to run the install tests`);
  mkdirSync(dir, { recursive: true });
  const hostKey = keygen(path.join(dir, 'ssh_host_ed25519_key'));
  const userKey = keygen(path.join(dir, 'user_key'));
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${userKey}.pub`));
  // sshd's privilege separation directory; the Debian package creates it only at service start.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'StrictModes no',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d) => {
    log += d;
  });
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (log.includes('Server listening')) {
        child.stderr?.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => reject(new Error(`sshd exited (${code}) before listening:\n${log}`));
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
  return {
    port,
    userKey,
    hostPublicKey: readFileSync(`${hostKey}.pub`, 'utf8').trim(),
    hostFingerprint: sshFingerprint(`${hostKey}.pub`),
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Pids of processes whose command line mentions `text` (a test's temp dir), this process excluded. */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (cmdline.includes(text) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
