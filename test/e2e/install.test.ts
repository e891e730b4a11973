/**
 * `hvmap install` / `uninstall` against a real OpenSSH server on 127.0.0.1 and a real collector: the
 * "host" is this machine, the install goes under a temp dir (--prefix), and the agent is the esbuild
 * bundle of the agent's sources, started as a supervised process (no systemd here).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { registerInstallCommands } from '../../collector/src/install/command.js';
import { freePort, keygen, processesMentioning, startSshd, type TestSshd } from '../helpers/sshd.js';

class UsageError extends Error {}

let dir: string;
let collector: RunningCollector;
let sshd: TestSshd;

/** Runs `hvmap ARGS` in-process through the real command definitions; never throws. */
async function hvmap(
  args: string[],
  terminal: { answer?: (question: string) => string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ out: string; error: Error | null }> {
  const lines: string[] = [];
  const program = new Command('hvmap')
    .exitOverride()
    .configureOutput({ writeErr: (s) => lines.push(s), writeOut: (s) => lines.push(s) });
  const { answer } = terminal;
  registerInstallCommands(program, (m) => new UsageError(m), {
    out: (line) => lines.push(line),
    interactive: answer !== undefined,
    ask: async (question) => {
      lines.push(question);
      if (!answer) throw new Error('no prompts without a terminal');
      return answer(question);
    },
    env: terminal.env ?? {},
  });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out: lines.join('\n'), error: null };
  } catch (err) {
    return { out: lines.join('\n'), error: err as Error };
  }
}

const prefix = () => path.join(dir, 'host', 'hvmap-agent');
const knownHosts = () => path.join(dir, 'known_hosts');
const db = () => path.join(dir, 'hvmap.db');
const target = () => `root@127.0.0.1:${sshd.port}`;

function trustHost(): void {
  writeFileSync(knownHosts(), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
}

function baseArgs(): string[] {
  return [
    '--host',
    target(),
    '--identity',
    sshd.userKey,
    '--known-hosts',
    knownHosts(),
    '--db',
    db(),
    '--prefix',
    prefix(),
  ];
}

function installArgs(extra: string[] = []): string[] {
  return [
    'install',
    ...baseArgs(),
    '--collector',
    collector.agentUrl,
    '--libvirt-uri',
    'test:///default',
    '--hello-timeout',
    '20',
    ...extra,
  ];
}

const token = (name: string) => collector.tokens.list().find((t) => t.name === name);

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-install-'));
  collector = await startCollector({
    db: db(),
    listen: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    intervalSec: 1,
  });
  sshd = await startSshd(path.join(dir, 'sshd'));
});

afterEach(async () => {
  await sshd.stop();
  // Whatever a failed test left running from its temp dir (a supervisor, an agent, ssh-agent).
  for (const pid of processesMentioning(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await collector.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('hvmap install over a real sshd', () => {
  it('installs, sees the hello, upgrades in place, and uninstall leaves nothing and revokes the token', async () => {
    trustHost();
    // Hashed entries, as Debian's ssh writes them by default (HashKnownHosts yes).
    execFileSync('ssh-keygen', ['-q', '-H', '-f', knownHosts()], { stdio: 'ignore' });
    expect(readFileSync(knownHosts(), 'utf8')).toMatch(/^\|1\|/);
    const name = `127.0.0.1-${sshd.port}`;

    const first = await hvmap(installArgs());
    expect(first.error, first.out).toBeNull();
    expect(first.out).toMatch(
      new RegExp(`root@127.0.0.1:${sshd.port}: installed .*supervised process \\(systemd not running\\)`),
    );
    expect(first.out).toContain('1 installed');
    expect(token(name)?.lastHelloAt).toBeTruthy();
    expect(collector.sessions.connected).toBe(1);
    const tokenFile = path.join(prefix(), 'agent.token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(tokenFile, 'utf8')).toMatch(/^hvm_/);
    const pid = Number(readFileSync(path.join(prefix(), 'agent.pid'), 'utf8'));
    expect(processesMentioning(prefix())).toContain(pid);
    const version = execFileSync(process.execPath, [path.join(prefix(), 'dist', 'hvmap-agent.js'), '--version'], {
      encoding: 'utf8',
    });
    expect(version.trim()).toMatch(/^\d+\.\d+\.\d+/);

    const firstHello = token(name)?.lastHelloAt ?? '';
    const second = await hvmap(installArgs());
    expect(second.error, second.out).toBeNull();
    expect(second.out).toMatch(/: upgraded .*upgraded v\S+ to v\S+/);
    expect(second.out).toContain('1 upgraded');
    expect((token(name)?.lastHelloAt ?? '') > firstHello).toBe(true);
    expect(token(name)?.revokedAt).toBeNull();
    // The token was kept, not re-issued; the old supervisor is gone, a new one runs.
    expect(second.out).not.toContain('(new)');
    expect(processesMentioning(prefix())).not.toContain(pid);
    expect(readdirNoPrev(prefix())).toEqual([]);

    // Root on the host rewrites its install.json to name another host's token: it is not obeyed.
    collector.tokens.create('other-host');
    const manifestFile = path.join(prefix(), 'install.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    writeFileSync(manifestFile, JSON.stringify({ ...manifest, tokenName: 'other-host' }));

    const removed = await hvmap(['uninstall', ...baseArgs()]);
    expect(removed.error, removed.out).toBeNull();
    expect(removed.out).toContain(`token ${name} revoked`);
    expect(removed.out).toContain(
      `the host's install.json names token "other-host", not the collector's "${name}": ignored`,
    );
    expect(token('other-host')?.revokedAt).toBeNull();
    expect(removed.out).toContain('1 uninstalled');
    expect(existsSync(prefix())).toBe(false);
    expect(processesMentioning(prefix())).toEqual([]);
    expect(token(name)?.revokedAt).toBeTruthy();

    const again = await hvmap(['uninstall', ...baseArgs()]);
    expect(again.error, again.out).toBeNull();
    expect(again.out).toContain('1 absent');
    // Three installs' worth of SSH and agent start-ups: slow when the suite runs its files in parallel.
  }, 90_000);

  it('refuses an unknown host key, printing the fingerprint ssh-keygen shows, and goes on once it is accepted', async () => {
    const refused = await hvmap(installArgs());
    expect(refused.error?.message).toMatch(/1 of 1 host failed/);
    expect(refused.out).toContain('HOST_KEY_UNKNOWN');
    expect(refused.out).toContain(sshd.hostFingerprint);
    expect(refused.out).toContain(`--accept-fingerprint ${sshd.hostFingerprint}`);
    expect(existsSync(prefix())).toBe(false);
    expect(collector.tokens.list()).toEqual([]);

    const accepted = await hvmap(installArgs(['--accept-fingerprint', sshd.hostFingerprint]));
    expect(accepted.error, accepted.out).toBeNull();
    expect(accepted.out).toContain('1 installed');
    // Recorded so that ssh itself now knows the host.
    const found = execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', knownHosts()], {
      encoding: 'utf8',
    });
    expect(found).toContain(sshd.hostPublicKey.split(' ')[1]);
    expect((await hvmap(['uninstall', ...baseArgs()])).error).toBeNull();
  });

  it('on a terminal, asks about an unknown host key and logs in with the ssh-agent when no --identity is given', async () => {
    const socket = path.join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      await waitForFile(socket);
      execFileSync('ssh-add', ['-q', sshd.userKey], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
        stdio: 'ignore',
      });
      const withoutIdentity = baseArgs().filter((a, i, all) => a !== '--identity' && all[i - 1] !== '--identity');
      const args = ['install', ...withoutIdentity, '--collector', collector.agentUrl, '--hello-timeout', '20'];
      const questions: string[] = [];
      const r = await hvmap(args, {
        env: { SSH_AUTH_SOCK: socket },
        answer: (q) => {
          questions.push(q);
          return 'yes';
        },
      });
      expect(r.error, r.out).toBeNull();
      expect(questions).toHaveLength(1);
      expect(questions[0]).toContain(`ssh-ed25519 key fingerprint is ${sshd.hostFingerprint}`);
      expect(r.out).toContain('1 installed');
      expect(readFileSync(knownHosts(), 'utf8')).toContain(sshd.hostPublicKey.split(' ')[1]);

      const removed = await hvmap(['uninstall', ...withoutIdentity], { env: { SSH_AUTH_SOCK: socket } });
      expect(removed.error, removed.out).toBeNull();
      expect(removed.out).toContain('1 uninstalled');
    } finally {
      agent.kill();
    }
  });

  it('refuses a changed host key, even with --accept-new-host-key', async () => {
    const other = keygen(path.join(dir, 'other_host_key'));
    const otherPub = readFileSync(`${other}.pub`, 'utf8').trim();
    writeFileSync(knownHosts(), `[127.0.0.1]:${sshd.port} ${otherPub}\n`);
    const r = await hvmap(installArgs(['--accept-new-host-key']));
    expect(r.error).not.toBeNull();
    expect(r.out).toContain('failed (HOST_KEY_CHANGED)');
    expect(r.out).toContain(`HOST KEY CHANGED for [127.0.0.1]:${sshd.port}`);
    expect(r.out).toContain(sshd.hostFingerprint);
    expect(readFileSync(knownHosts(), 'utf8')).toBe(`[127.0.0.1]:${sshd.port} ${otherPub}\n`);
    expect(existsSync(prefix())).toBe(false);
  });

  it('refuses a login with a key the host does not authorize', async () => {
    trustHost();
    const stranger = keygen(path.join(dir, 'stranger_key'));
    const r = await hvmap(installArgs(['--identity', stranger]));
    expect(r.out).toContain('failed (SSH_AUTH_FAILED)');
    expect(r.out).toContain(`root@127.0.0.1:${sshd.port} refused the login (offered: key ${stranger})`);
    expect(collector.tokens.list()).toEqual([]);
  });

  it('refuses a host without Node.js and leaves it untouched', async () => {
    trustHost();
    const r = await hvmap(installArgs(['--remote-node', '/nonexistent/bin/node']));
    expect(r.out).toContain('failed (NODE_MISSING)');
    expect(r.out).toContain('no Node.js on');
    expect(r.out).toContain('--remote-node');
    expect(existsSync(prefix())).toBe(false);
    expect(collector.tokens.list()).toEqual([]);
  });

  it('rolls back and revokes the token when the agent never says hello', async () => {
    trustHost();
    const deadPort = await freePort();
    const args = installArgs(['--hello-timeout', '4']);
    args[args.indexOf('--collector') + 1] = `ws://127.0.0.1:${deadPort}/agent`;
    const r = await hvmap(args);
    expect(r.out).toContain('failed (NO_HELLO)');
    expect(r.out).toContain(`the agent did not say hello to ws://127.0.0.1:${deadPort}/agent within 4 s`);
    expect(r.out).toContain('cannot connect to the collector');
    expect(r.out).toContain(`rolled back (removed ${prefix()})`);
    expect(existsSync(prefix())).toBe(false);
    expect(processesMentioning(prefix())).toEqual([]);
    const t = token(`127.0.0.1-${sshd.port}`);
    expect(t?.revokedAt).toBeTruthy();
  });

  it('installs where it can when another host is unreachable, and sums both up', async () => {
    trustHost();
    const deadPort = await freePort();
    const hostsFile = path.join(dir, 'hosts');
    // Each line names its own key (one as ~/…, as in ssh's config) and no --identity is given.
    const home = path.dirname(sshd.userKey);
    writeFileSync(
      hostsFile,
      `# two hosts\nroot@127.0.0.1:${deadPort} name=dead-host identity=${sshd.userKey}\n` +
        `${target()} name=good-host identity=~/${path.basename(sshd.userKey)}\n`,
    );
    const common = [
      '--hosts',
      hostsFile,
      '--known-hosts',
      knownHosts(),
      '--db',
      db(),
      '--prefix',
      prefix(),
      '--parallel',
      '2',
    ];
    const r = await hvmap(['install', ...common, '--collector', collector.agentUrl, '--hello-timeout', '20'], {
      env: { HOME: home },
    });
    expect(r.error?.message).toMatch(/1 of 2 hosts failed/);
    expect(r.out).toMatch(
      /\[[ 12]\/2\] root@127.0.0.1:\d+: FAILED SSH_UNREACHABLE .*connection refused at 127.0.0.1:\d+/,
    );
    expect(r.out).toMatch(/\[[ 12]\/2\] root@127.0.0.1:\d+: installed/);
    expect(r.out).toContain('failed (SSH_UNREACHABLE)');
    expect(r.out).toMatch(/1 failed, 1 installed|1 installed, 1 failed/);
    expect(token('good-host')?.lastHelloAt).toBeTruthy();
    expect(token('dead-host')).toBeUndefined();

    const u = await hvmap(['uninstall', ...common], { env: { HOME: home } });
    expect(u.out).toMatch(/1 failed, 1 uninstalled|1 uninstalled, 1 failed/);
    expect(token('good-host')?.revokedAt).toBeTruthy();
    expect(existsSync(prefix())).toBe(false);
  });

  it('answers bad usage before touching any host', async () => {
    const r = await hvmap([
      'install',
      '--host',
      target(),
      '--identity',
      sshd.userKey,
      '--db',
      db(),
      '--collector',
      'http://x/agent',
    ]);
    expect(r.error).toBeInstanceOf(UsageError);
    expect(r.error?.message).toContain('must start with ws:// or wss://');
    const noDb = await hvmap([
      'install',
      '--host',
      target(),
      '--identity',
      sshd.userKey,
      '--db',
      path.join(dir, 'none.db'),
      '--collector',
      collector.agentUrl,
    ]);
    expect(noDb.error?.message).toContain('no collector database at');
    const twice = await hvmap([
      'install',
      '--host',
      target(),
      '--host',
      target(),
      '--db',
      db(),
      '--collector',
      collector.agentUrl,
    ]);
    expect(twice.error).toBeInstanceOf(UsageError);
    expect(twice.error?.message).toBe(`root@127.0.0.1:${sshd.port} is listed twice`);
  });
});

async function waitForFile(file: string): Promise<void> {
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(file)) throw new Error(`${file} did not appear`);
}

/** `.prev` and `.new` files an install left behind under a directory (there should be none). */
function readdirNoPrev(root: string): string[] {
  const out = execFileSync('find', [root, '-name', '*.prev', '-o', '-name', '*.new'], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}
