/**
 * A Remote over SSH (node-ssh on ssh2). Two ssh2 habits are covered here: it accepts any host key
 * unless `hostVerifier` says otherwise, so every key is checked against known_hosts; and a command's
 * non-zero exit is a result, not an error, so callers read `code`.
 */
import { Readable } from 'node:stream';
import { type Config, NodeSSH } from 'node-ssh';
import type { ClientChannel, ServerHostKeyAlgorithm } from 'ssh2';
import { InstallError } from './errors.js';
import {
  checkHostKey,
  fingerprint,
  type KnownHostsFile,
  keyTypeOf,
  knownHostName,
  knownKeyTypes,
} from './known-hosts.js';
import type { ExecResult, Remote, Step } from './plan.js';
import { type Target, targetLabel } from './target.js';

/** How to log in; ssh2 tries each that is given. */
export interface SshAuth {
  /** A private key file. */
  identity?: string;
  /** The ssh-agent socket (SSH_AUTH_SOCK). */
  agent?: string;
  password?: string;
}

export interface HostKeyPolicy {
  knownHosts: KnownHostsFile;
  /** Accept and record a host that known_hosts does not list (never one whose key changed). */
  acceptNew: boolean;
  /** Fingerprints (`SHA256:…`) the operator accepted for hosts known_hosts does not list. */
  acceptFingerprints: readonly string[];
}

export interface SshOptions {
  target: Target;
  auth: SshAuth;
  hostKeys: HostKeyPolicy;
  readyTimeoutMs: number;
  /** A remote command still running after this long is ended and reported as timed out. */
  stepTimeoutMs: number;
  /** A command printing more than this (stdout and stderr together) is ended: `overflow` (default 64 MiB). */
  maxOutputBytes?: number;
}

const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

// ssh2's names for the host key algorithms that produce each known_hosts key type.
const ALGORITHMS_FOR_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/** Connects and verifies the host key; throws an InstallError that says what went wrong and what to do. */
export async function connectSsh(options: SshOptions): Promise<Remote> {
  const { target, auth, hostKeys } = options;
  const name = knownHostName(target.host, target.port);
  const file = hostKeys.knownHosts.file;
  let refusal: InstallError | null = null;
  const entries = hostKeys.knownHosts.entries();
  const knownTypes = knownKeyTypes(entries, target.host, target.port);
  // Like ssh, ask only for key types known_hosts holds for this host: a server that has other
  // types too must not be mistaken for one whose key changed.
  const serverHostKey = knownTypes.flatMap((t) => ALGORITHMS_FOR_TYPE[t] ?? []);

  const hostVerifier = (key: Buffer): boolean => {
    const check = checkHostKey(entries, target.host, target.port, key);
    const fp = fingerprint(key);
    const type = keyTypeOf(key);
    if (check.status === 'known') return true;
    if (check.status === 'revoked') {
      refusal = new InstallError(
        'HOST_KEY_REVOKED',
        `${name} presents ${type} ${fp}, which ${file} line ${check.line} marks @revoked: refused`,
      );
      return false;
    }
    if (check.status === 'changed') {
      refusal = new InstallError(
        'HOST_KEY_CHANGED',
        `HOST KEY CHANGED for ${name}: it presents ${type} ${fp}, but ${file} (line ${check.lines.join(', ')}) holds another key. ` +
          `Someone may be intercepting the connection, or the host was reinstalled; hvmap never accepts a changed key. ` +
          `Check with the host's owner, then remove the old key (ssh-keygen -R '${name}' -f ${file}) and run again.`,
        { fingerprint: fp, keyType: type },
      );
      return false;
    }
    if (hostKeys.acceptNew || hostKeys.acceptFingerprints.includes(fp)) {
      hostKeys.knownHosts.add(target.host, target.port, key);
      return true;
    }
    refusal = new InstallError(
      'HOST_KEY_UNKNOWN',
      `unknown host key for ${name}: ${type} ${fp} is not in ${file}. Check the fingerprint with the host's owner ` +
        `(on the host: ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-|-sha2-nistp\d+$/g, '')}_key.pub), ` +
        `then run again with --accept-fingerprint ${fp} (or --accept-new-host-key to trust whatever key a new host shows)`,
      { fingerprint: fp, keyType: type },
    );
    return false;
  };

  const config: Config = {
    host: target.host,
    port: target.port,
    username: target.user,
    readyTimeout: options.readyTimeoutMs,
    hostVerifier,
    ...(serverHostKey.length ? { algorithms: { serverHostKey } } : {}),
    ...(auth.identity ? { privateKeyPath: auth.identity } : {}),
    ...(auth.agent ? { agent: auth.agent } : {}),
    ...(auth.password !== undefined ? { password: auth.password, tryKeyboard: true } : {}),
  };
  const ssh = new NodeSSH();
  try {
    await ssh.connect(config);
  } catch (err) {
    ssh.dispose();
    throw refusal ?? connectError(err as Error & { code?: string; level?: string }, target, auth, knownTypes, file);
  }
  return new SshRemote(ssh, options.stepTimeoutMs, options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
}

function connectError(
  err: Error & { code?: string; level?: string },
  target: Target,
  auth: SshAuth,
  knownTypes: string[],
  file: string,
): InstallError {
  const where = `${target.host}:${target.port}`;
  const label = targetLabel(target);
  switch (err.code) {
    case 'ECONNREFUSED':
      return new InstallError(
        'SSH_UNREACHABLE',
        `connection refused at ${where}: is sshd running there, on port ${target.port}?`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new InstallError('SSH_UNREACHABLE', `cannot resolve the host name ${target.host}`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new InstallError('SSH_UNREACHABLE', `no route to ${where} (${err.code})`);
    case 'ETIMEDOUT':
      return new InstallError('SSH_UNREACHABLE', `${where} did not answer: ${err.message}`);
  }
  if (err.level === 'client-timeout') {
    return new InstallError(
      'SSH_UNREACHABLE',
      `no SSH handshake from ${where} in time: a firewall, or not an SSH server on that port?`,
    );
  }
  if (err.level === 'client-authentication') {
    const offered = [
      auth.identity && `key ${auth.identity}`,
      auth.agent && 'the ssh-agent keys',
      auth.password !== undefined && 'the password',
    ]
      .filter(Boolean)
      .join(', ');
    return new InstallError(
      'SSH_AUTH_FAILED',
      `${label} refused the login (offered: ${offered || 'nothing'}): check that the key is in ${target.user}'s authorized_keys on the host`,
    );
  }
  if (/no matching host key/i.test(err.message) && knownTypes.length) {
    return new InstallError(
      'HOST_KEY_CHANGED',
      `HOST KEY CHANGED for ${knownHostName(target.host, target.port)}: it offers none of the key types ${file} holds for it (${knownTypes.join(', ')}). ` +
        "hvmap never accepts a changed key: check with the host's owner, then remove the old key (ssh-keygen -R) and run again.",
    );
  }
  if (/passphrase/i.test(err.message)) {
    return new InstallError(
      'SSH_AUTH_FAILED',
      `the key ${auth.identity} is encrypted: load it into ssh-agent (ssh-add) and drop --identity`,
    );
  }
  if (/privateKeyPath does not exist/.test(err.message)) {
    return new InstallError('SSH_AUTH_FAILED', `no key file at ${auth.identity}`);
  }
  if (/Cannot parse privateKey/i.test(err.message)) {
    return new InstallError('SSH_AUTH_FAILED', `${auth.identity} is not a private key ssh2 can read: ${err.message}`);
  }
  return new InstallError('SSH_FAILED', `SSH to ${where} failed: ${err.message}`);
}

class SshRemote implements Remote {
  constructor(
    private readonly ssh: NodeSSH,
    private readonly stepTimeoutMs: number,
    private readonly maxOutputBytes: number,
  ) {
    // node-ssh listens for connection errors only while connecting or opening a channel; one later
    // (a reset mid-command) would otherwise be an unhandled 'error' event. The command then ends
    // with no exit code, which the caller reports.
    ssh.connection?.on('error', () => {});
  }

  async run(step: Step): Promise<ExecResult> {
    if (step.kind === 'upload') return this.upload(step.path, step.content);
    let channel: ClientChannel | undefined;
    // The output is kept here, not by node-ssh, so that a command ended early still shows what it
    // printed; past the cap nothing more is kept, however much the host would print.
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let printed = 0;
    let ended: 'timeout' | 'overflow' | null = null;
    let endNow: () => void = () => {};
    const endedEarly = new Promise<void>((resolve) => {
      endNow = resolve;
    });
    // Closing the channel does not stop the command (sshd waits for it to exit), so the result is
    // given at once; the command is asked to die (a signal request) and its channel closed.
    const end = (why: 'timeout' | 'overflow') => {
      if (ended) return;
      ended = why;
      channel?.signal('KILL');
      channel?.close();
      endNow();
    };
    const keep = (into: Buffer[]) => (chunk: Buffer) => {
      if (ended) return;
      printed += chunk.length;
      if (printed > this.maxOutputBytes) return end('overflow');
      into.push(chunk);
    };
    const timer = setTimeout(() => end('timeout'), this.stepTimeoutMs);
    try {
      const command = this.ssh.execCommand(step.command, {
        stdin: step.stdin ? Readable.from([step.stdin]) : undefined,
        onChannel: (c) => {
          channel = c;
        },
        onStdout: keep(out),
        onStderr: keep(err),
      });
      command.catch(() => {});
      const result = await Promise.race([command, endedEarly]);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (ended === 'overflow')
        return {
          code: null,
          stdout,
          stderr: `${stderr}\n(output beyond ${this.maxOutputBytes} bytes: ended)`.trim(),
          overflow: true,
        };
      if (ended === 'timeout' || !result)
        return { code: null, stdout, stderr: `${stderr}\n(timed out after ${this.stepTimeoutMs / 1000} s)`.trim() };
      return { code: result.code, stdout: result.stdout, stderr: result.stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  private async upload(path: string, content: Buffer): Promise<ExecResult> {
    const sftp = await this.ssh.requestSFTP();
    try {
      await new Promise<void>((resolve, reject) =>
        sftp.writeFile(path, content, (err) => (err ? reject(err) : resolve())),
      );
      return { code: 0, stdout: '', stderr: '' };
    } catch (err) {
      return { code: 1, stdout: '', stderr: `SFTP upload to ${path} failed: ${(err as Error).message}` };
    } finally {
      sftp.end();
    }
  }

  close(): void {
    this.ssh.dispose();
  }
}
