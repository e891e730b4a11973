/**
 * `hvmap install` and `hvmap uninstall`: the command line, how to log in, host key acceptance and
 * the fleet run. cli.ts registers them; tests call registerInstallCommands with their own io.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { COLLECTOR_DEFAULTS } from '../collector.js';
import { counted } from '../report/hygiene.js';
import { isPostgresUrl, openDatabase } from '../store/db.js';
import { buildAgentBundle } from './bundle.js';
import { InstallError } from './errors.js';
import { runFleet, summaryTable } from './fleet.js';
import { type CollectorLink, dbCollectorLink, type HostResult, installOnHost, uninstallFromHost } from './install.js';
import { KnownHostsFile } from './known-hosts.js';
import type { Remote } from './plan.js';
import { connectSsh, type SshAuth } from './ssh.js';
import { parseHostsFile, parseTarget, type Target, targetLabel } from './target.js';

/** Every default of install and uninstall, in one place (`--help` shows them). */
export const INSTALL_DEFAULTS = {
  parallel: 8,
  helloTimeoutSec: 30,
  connectTimeoutSec: 15,
  stepTimeoutSec: 120,
  knownHosts: path.join(homedir(), '.ssh', 'known_hosts'),
  /** Without --identity or an ssh-agent, the first of these that exists is used (as ssh would try them). */
  defaultKeys: ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => path.join(homedir(), '.ssh', k)),
} as const;

/** The terminal, injectable for tests. */
export interface InstallIo {
  out(line: string): void;
  /** Whether a person can answer prompts. */
  interactive: boolean;
  ask(question: string, options: { hidden: boolean }): Promise<string>;
  env: NodeJS.ProcessEnv;
}

interface CommonOptions {
  host?: string[];
  hosts?: string;
  identity?: string;
  passwordPrompt?: boolean;
  db: string;
  knownHosts: string;
  acceptNewHostKey?: boolean;
  acceptFingerprint?: string[];
  parallel: string;
  prefix?: string;
  connectTimeout: string;
}

interface InstallCliOptions extends CommonOptions {
  collector: string;
  token?: string;
  libvirtUri?: string;
  remoteNode?: string;
  ca?: string;
  helloTimeout: string;
}

/** Adds `install` and `uninstall` to the hvmap program. `usage` makes the error that exits 2. */
export function registerInstallCommands(
  program: Command,
  usage: (message: string) => Error,
  io: InstallIo = processIo(),
): void {
  const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
  const common = (cmd: Command) =>
    cmd
      .option('--host <USER@HOST[:PORT]>', 'a host to work on (repeatable)', collect)
      .option('--hosts <file>', 'hosts, one a line: USER@HOST[:PORT] [name=TOKEN_NAME] [identity=KEY]')
      .option('--identity <key>', 'private key file (default: the ssh-agent at $SSH_AUTH_SOCK, else ~/.ssh/id_*)')
      .option('--password-prompt', 'ask once for an SSH password, used for every host')
      .option('--db <path>', "the collector's database (tokens, and the agent's hello)", COLLECTOR_DEFAULTS.db)
      .option('--known-hosts <file>', 'OpenSSH known_hosts checked for every host key', INSTALL_DEFAULTS.knownHosts)
      .option(
        '--accept-new-host-key',
        'trust and record the key of a host known_hosts does not list (a changed key is always refused)',
      )
      .option(
        '--accept-fingerprint <SHA256:…>',
        'trust a new host whose key has this fingerprint (repeatable)',
        collect,
        [],
      )
      .option('--parallel <n>', 'hosts worked on at once', String(INSTALL_DEFAULTS.parallel))
      .option(
        '--prefix <dir>',
        'install directory (default: /opt/hvmap-agent, ~/.hvmap-agent without root or sudo, %ProgramData%\\hvmap-agent)',
      )
      .option(
        '--connect-timeout <seconds>',
        'SSH connection and handshake deadline',
        String(INSTALL_DEFAULTS.connectTimeoutSec),
      );

  common(program.command('install'))
    .description(
      'install (or upgrade) hvmap-agent on hosts over SSH; succeeds when each agent has said hello to the collector',
    )
    .requiredOption('--collector <url>', 'the collector as the hosts reach it: ws(s)://HOST:PORT/agent')
    .option('--token <token>', 'use this token (hvmap tokens create) instead of a new one; one host only')
    .option('--libvirt-uri <uri>', "the agent's libvirt connection URI")
    .option('--ca <file>', "the collector's CA certificate (hvmap tls init), pinned by each agent; wss:// only")
    .option('--remote-node <path>', "Node.js on the host (default: node on the SSH user's PATH)")
    .option(
      '--hello-timeout <seconds>',
      "how long to wait for the agent's hello before rolling back",
      String(INSTALL_DEFAULTS.helloTimeoutSec),
    )
    .action(async (opts: InstallCliOptions) => {
      const collectorUrl = parseCollectorUrl(opts.collector, usage);
      const helloTimeoutMs = seconds(opts.helloTimeout, '--hello-timeout', usage) * 1000;
      if (opts.ca && !collectorUrl.startsWith('wss://')) throw usage('--ca pins the collector for wss:// only');
      let caPem: string | undefined;
      try {
        caPem = opts.ca ? readFileSync(opts.ca, 'utf8') : undefined;
      } catch (err) {
        throw usage(`--ca: cannot read ${opts.ca}: ${(err as Error).message}`);
      }
      await runOnHosts(opts, usage, io, 'install', async (link) => {
        const bundle = await buildAgentBundle();
        return (remote, target) =>
          installOnHost(remote, target, {
            collectorUrl,
            bundle,
            link,
            prefix: opts.prefix,
            remoteNode: opts.remoteNode,
            libvirtUri: opts.libvirtUri,
            caPem,
            token: opts.token,
            helloTimeoutMs,
          });
      });
    });

  common(program.command('uninstall'))
    .description('stop and remove hvmap-agent from hosts over SSH and revoke their tokens')
    .action(async (opts: CommonOptions) => {
      await runOnHosts(
        opts,
        usage,
        io,
        'uninstall',
        async (link) => (remote, target) => uninstallFromHost(remote, target, { link, prefix: opts.prefix }),
      );
    });
}

type HostWork = (remote: Remote, target: Target) => Promise<HostResult>;

async function runOnHosts(
  opts: CommonOptions & { token?: string },
  usage: (message: string) => Error,
  io: InstallIo,
  verb: 'install' | 'uninstall',
  prepare: (link: CollectorLink) => Promise<HostWork>,
): Promise<void> {
  const targets = readTargets(opts, usage, io);
  if (opts.token !== undefined && targets.length !== 1)
    throw usage("--token is one host's token: give exactly one --host");
  const parallel = positive(opts.parallel, '--parallel', usage);
  const readyTimeoutMs = seconds(opts.connectTimeout, '--connect-timeout', usage) * 1000;
  if (!isPostgresUrl(opts.db) && !existsSync(opts.db))
    throw usage(`no collector database at ${opts.db}: pass --db with the file hvmap serve uses`);
  const acceptFingerprints = opts.acceptFingerprint ?? [];
  for (const fp of acceptFingerprints) {
    if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(fp))
      throw usage(`--accept-fingerprint ${fp} is not a SHA256:… fingerprint as ssh prints it`);
  }
  const auth = await resolveAuth(opts, targets, usage, io);
  const knownHosts = new KnownHostsFile(path.resolve(opts.knownHosts));
  const db = openDatabase(opts.db);
  try {
    const work = await prepare(dbCollectorLink(db));
    const confirm = io.interactive && !opts.acceptNewHostKey ? serialized(askFingerprint(io, knownHosts.file)) : null;
    io.out(`${verb} on ${counted(targets.length, 'host')}, ${Math.min(parallel, targets.length)} at a time`);
    const outcomes = await runFleet(
      targets,
      parallel,
      async (target) => {
        const connect = (extra: string[]) =>
          connectSsh({
            target,
            auth: { ...auth, identity: target.identity ?? auth.identity },
            hostKeys: {
              knownHosts,
              acceptNew: opts.acceptNewHostKey === true,
              acceptFingerprints: [...acceptFingerprints, ...extra],
            },
            readyTimeoutMs,
            stepTimeoutMs: INSTALL_DEFAULTS.stepTimeoutSec * 1000,
          });
        let remote: Remote;
        try {
          remote = await connect([]);
        } catch (err) {
          const fp =
            err instanceof InstallError && err.code === 'HOST_KEY_UNKNOWN' ? err.details.fingerprint : undefined;
          if (!fp || !confirm || !(await confirm(target, err as InstallError))) throw err;
          remote = await connect([fp]);
        }
        try {
          return await work(remote, target);
        } finally {
          remote.close();
        }
      },
      io.out,
    );
    io.out(summaryTable(outcomes));
    const failed = outcomes.filter((o) => o.result === 'failed').length;
    if (failed) {
      const message = `${failed} of ${counted(outcomes.length, 'host')} failed (see the table above)`;
      throw Object.assign(new Error(message), { code: 'HOSTS_FAILED' });
    }
  } finally {
    db.close();
  }
}

function readTargets(opts: CommonOptions, usage: (message: string) => Error, io: InstallIo): Target[] {
  const user = io.env.USER ?? userInfo().username;
  const targets: Target[] = [];
  try {
    for (const h of opts.host ?? []) targets.push(parseTarget(h, user));
    if (opts.hosts) {
      if (!existsSync(opts.hosts)) throw new Error(`--hosts ${opts.hosts}: no such file`);
      targets.push(...parseHostsFile(readFileSync(opts.hosts, 'utf8'), user));
    }
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (targets.length === 0) throw usage('no hosts: give --host USER@HOST[:PORT] or --hosts FILE');
  // Two runs on one host, or two hosts under one token name, would undo each other.
  for (const key of ['label', 'name'] as const) {
    const seen = new Set<string>();
    for (const t of targets) {
      const value = key === 'label' ? targetLabel(t) : t.name;
      if (seen.has(value))
        throw usage(
          key === 'label'
            ? `${value} is listed twice`
            : `two hosts have the token name ${value}: give one of them name=…`,
        );
      seen.add(value);
    }
  }
  return targets;
}

/**
 * --identity, else the ssh-agent, else the first of ssh's default keys; plus a password if asked for.
 * A hosts file line's own `identity=` wins for that host, so a fleet whose every line names its key
 * needs none of these.
 */
async function resolveAuth(
  opts: CommonOptions,
  targets: Target[],
  usage: (message: string) => Error,
  io: InstallIo,
): Promise<SshAuth> {
  for (const t of targets) {
    if (t.identity === undefined) continue;
    t.identity = expandHome(t.identity, io.env.HOME ?? homedir());
    if (!existsSync(t.identity)) throw usage(`identity=${t.identity} for ${targetLabel(t)}: no such file`);
  }
  if (opts.identity && !existsSync(opts.identity)) throw usage(`--identity ${opts.identity}: no such file`);
  const auth = defaultSshAuth(opts.identity, io.env);
  if (opts.passwordPrompt) {
    if (!io.interactive) throw usage('--password-prompt needs a terminal to ask on');
    auth.password = await io.ask('SSH password (used for every host): ', { hidden: true });
  }
  if (!auth.identity && !auth.agent && auth.password === undefined && targets.some((t) => !t.identity)) {
    throw usage('no way to log in: pass --identity KEY, run an ssh-agent (SSH_AUTH_SOCK) or use --password-prompt');
  }
  return auth;
}

/** `~/key` as a shell would read it: hosts files are written by people used to ssh's config. */
/** --identity when given, else the ssh-agent at SSH_AUTH_SOCK, else the first of ssh's default keys there is. */
export function defaultSshAuth(identity: string | undefined, env: NodeJS.ProcessEnv): SshAuth {
  if (identity) return { identity };
  if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK };
  return { identity: INSTALL_DEFAULTS.defaultKeys.find((k) => existsSync(k)) };
}

export function expandHome(file: string, home: string): string {
  return file === '~' || file.startsWith('~/') ? path.join(home, file.slice(1)) : file;
}

/** Asks the operator about an unknown host key, the way ssh does. */
function askFingerprint(io: InstallIo, file: string) {
  return async (target: Target, err: InstallError): Promise<boolean> => {
    const answer = await io.ask(
      `The authenticity of host ${targetLabel(target)} can't be established.\n` +
        `${err.details.keyType} key fingerprint is ${err.details.fingerprint}.\n` +
        `Accept it and add it to ${file}? (yes/no) `,
      { hidden: false },
    );
    return /^y(es)?$/i.test(answer.trim());
  };
}

/** One prompt at a time, however many hosts run in parallel. */
function serialized<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  let queue: Promise<unknown> = Promise.resolve();
  return (...args) => {
    const run = queue.then(() => fn(...args));
    queue = run.catch(() => {});
    return run;
  };
}

function parseCollectorUrl(text: string, usage: (message: string) => Error): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usage(`--collector ${text} is not a URL; expected ws(s)://HOST:PORT/agent`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
    throw usage(`--collector ${text} must start with ws:// or wss:// (the agents' endpoint)`);
  if (url.pathname === '/') url.pathname = '/agent';
  return url.toString();
}

function positive(value: string, flag: string, usage: (message: string) => Error): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw usage(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

function seconds(value: string, flag: string, usage: (message: string) => Error): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw usage(`${flag} must be a positive number of seconds, got "${value}"`);
  return n;
}

function processIo(): InstallIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
    env: process.env,
    ask: (question, { hidden }) =>
      new Promise((resolve) => {
        process.stderr.write(question);
        // A muted output keeps a password off the screen; the question is already written.
        const output = hidden ? new Writable({ write: (_chunk, _enc, cb) => cb() }) : process.stderr;
        const rl = createInterface({ input: process.stdin, output, terminal: true });
        rl.question('', (answer) => {
          rl.close();
          if (hidden) process.stderr.write('\n');
          resolve(answer);
        });
      }),
  };
}
