/**
 * One host's install and uninstall, over any Remote: probe, check, stage, activate, wait for the
 * agent's hello at the collector, then commit, or roll back what was put on the host and revoke the
 * token that was made for it. Which commands do each step is the OS plan's business.
 */
import type { Db } from '../store/db.js';
import { TokenStore } from '../store/tokens.js';
import type { AgentBundle } from './bundle.js';
import { InstallError } from './errors.js';
import { linuxPlan, linuxProbe, parseLinuxProbe } from './linux.js';
import { agentLogReason, type HostPlan, type Manifest, type Remote, type Step } from './plan.js';
import { type Target, targetLabel } from './target.js';
import { parseWindowsProbe, windowsPlan, windowsProbe } from './windows.js';

/** What the installer needs of the collector: its tokens, and whether an agent has said hello. */
export interface CollectorLink {
  tokenState(name: string): 'active' | 'revoked' | 'missing';
  createToken(name: string): string;
  revokeToken(name: string): void;
  /** The name of the active token `token`, or null. */
  tokenName(token: string): string | null;
  /** When the agent holding this token last said hello (ISO time, the collector's clock), or null. */
  lastHelloAt(name: string): string | null;
  /** The token the collector gave the host at this address (HOST:PORT) when it installed it, or null. */
  installedToken(address: string): string | null;
  recordInstall(address: string, tokenName: string): void;
  forgetInstall(address: string): void;
}

/** The collector's own database as a CollectorLink (the installer runs where `--db` is readable). */
export function dbCollectorLink(db: Db): CollectorLink {
  const tokens = new TokenStore(db);
  const find = (name: string) => tokens.list().find((t) => t.name === name);
  return {
    tokenState(name) {
      const t = find(name);
      return !t ? 'missing' : t.revokedAt ? 'revoked' : 'active';
    },
    createToken: (name) => tokens.create(name).token,
    revokeToken: (name) => tokens.revoke(name),
    tokenName: (token) => tokens.authenticate(token),
    lastHelloAt: (name) => find(name)?.lastHelloAt ?? null,
    installedToken: (address) =>
      (
        db.prepare('SELECT token_name FROM installs WHERE address = ?').get(address) as
          | { token_name: string }
          | undefined
      )?.token_name ?? null,
    recordInstall: (address, tokenName) =>
      db
        .prepare(
          'INSERT INTO installs (address, token_name, installed_at) VALUES (?, ?, ?) ON CONFLICT(address) DO UPDATE SET token_name = excluded.token_name, installed_at = excluded.installed_at',
        )
        .run(address, tokenName, new Date().toISOString()),
    forgetInstall: (address) => db.prepare('DELETE FROM installs WHERE address = ?').run(address),
  };
}

/** The key of a host in the collector's install records: HOST:PORT, whichever account logs in. */
function addressOf(target: Target): string {
  return `${target.host}:${target.port}`;
}

/**
 * Which token the collector gave this host: its own record, else the host's name by the usual rule.
 * The host's install.json is never obeyed (root on one host could name another host's token there);
 * when it disagrees, the result says so.
 */
function tokenOfHost(link: CollectorLink, target: Target, manifest?: Manifest): { name: string; note: string } {
  const name = link.installedToken(addressOf(target)) ?? target.name;
  const note =
    manifest && manifest.tokenName !== name
      ? `; the host's install.json names token "${manifest.tokenName}", not the collector's "${name}": ignored`
      : '';
  return { name, note };
}

export interface InstallOptions {
  /** The collector as the host reaches it: ws(s)://HOST:PORT/agent. */
  collectorUrl: string;
  bundle: AgentBundle;
  link: CollectorLink;
  prefix?: string;
  remoteNode?: string;
  libvirtUri?: string;
  /** The collector's CA certificate (PEM), pinned by the agent for wss://. */
  caPem?: string;
  /** A token made beforehand (`hvmap tokens create`) instead of a new one. */
  token?: string;
  helloTimeoutMs: number;
  /** How often the collector is asked about the hello. */
  pollMs?: number;
}

export interface UninstallOptions {
  link: CollectorLink;
  prefix?: string;
}

/** How a host ended; `detail` is the line the summary shows. */
export interface HostResult {
  result: 'installed' | 'upgraded' | 'uninstalled' | 'absent';
  detail: string;
}

/** Probes the host as Linux first, then as Windows, and returns the plan for what it is. */
export async function planFor(
  remote: Remote,
  target: Target,
  options: { prefix?: string; remoteNode?: string; purpose: 'install' | 'uninstall' },
): Promise<HostPlan> {
  const host = targetLabel(target);
  const posix = await remote.run(linuxProbe(options.remoteNode));
  const facts = parseLinuxProbe(posix.stdout);
  // Git for Windows or Cygwin put a POSIX sh on Windows hosts; those still take the Windows plan.
  if (facts && !/^(MINGW|MSYS|CYGWIN)/i.test(facts.kernel)) return linuxPlan(facts, { ...options, host });
  const win = await remote.run(windowsProbe(options.remoteNode));
  const winFacts = parseWindowsProbe(win.stdout);
  if (winFacts) return windowsPlan(winFacts, { ...options, host });
  const said = (posix.stderr || win.stderr || posix.stdout).trim().split(/\r?\n/)[0] ?? '';
  throw new InstallError(
    'OS_UNSUPPORTED',
    `${host} answered neither a POSIX sh nor Windows PowerShell${said ? ` ("${said}")` : ''}`,
  );
}

/** Runs a step and throws when it fails. */
async function must(remote: Remote, step: Step): Promise<string> {
  const r = await remote.run(step);
  if (r.code === 0) return r.stdout;
  const said = (r.stderr || r.stdout).trim().split(/\r?\n/).slice(-3).join(' | ');
  throw new InstallError(
    'STEP_FAILED',
    `step "${step.name}" failed (${r.code === null ? 'no exit code' : `exit ${r.code}`})${said ? `: ${said}` : ''}`,
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Installs the agent on one host, or upgrades the one there; leaves the host as it was on failure. */
export async function installOnHost(remote: Remote, target: Target, options: InstallOptions): Promise<HostResult> {
  const { link } = options;
  const host = targetLabel(target);
  const plan = await planFor(remote, target, {
    prefix: options.prefix,
    remoteNode: options.remoteNode,
    purpose: 'install',
  });
  const inspection = plan.parseInspect(await remote.run(plan.inspect()));
  if (inspection.state === 'foreign') {
    throw new InstallError(
      'PREFIX_FOREIGN',
      `${plan.prefix} on ${host} holds files hvmap did not install (${inspection.what}); pass --prefix for a directory of its own`,
    );
  }
  const previous = inspection.state === 'installed' ? inspection.manifest : undefined;

  let tokenName: string;
  let token: string | undefined;
  let createdToken = false;
  let manifestNote = '';
  if (options.token !== undefined) {
    const name = link.tokenName(options.token);
    if (!name)
      throw new InstallError(
        'TOKEN_INVALID',
        'the --token given is not an active token of this collector (hvmap tokens list)',
      );
    tokenName = name;
    token = options.token;
  } else {
    ({ name: tokenName, note: manifestNote } = tokenOfHost(link, target, previous));
    const state = link.tokenState(tokenName);
    // An upgrade keeps the host's token while the collector still honours it.
    if (!(previous && state === 'active')) {
      if (state === 'active') {
        throw new InstallError(
          'TOKEN_NAME_TAKEN',
          `the collector already has an active token "${tokenName}" but ${host} has no agent: revoke it (hvmap tokens revoke ${tokenName}) or give the host another name`,
        );
      }
      token = link.createToken(tokenName);
      createdToken = true;
    }
  }

  let staged: ReturnType<HostPlan['stage']>;
  try {
    staged = plan.stage({
      collectorUrl: options.collectorUrl,
      libvirtUri: options.libvirtUri,
      caPem: options.caPem,
      tokenName,
      token,
      bundle: options.bundle,
      previous,
      now: new Date().toISOString(),
    });
  } catch (err) {
    if (createdToken) link.revokeToken(tokenName);
    throw err;
  }
  const { steps, manifest } = staged;
  try {
    for (const step of steps) await must(remote, step);
    const startedAt = new Date().toISOString();
    const started = Date.now();
    await must(remote, plan.activate(manifest));
    if (!(await waitForHello(link, tokenName, startedAt, options.helloTimeoutMs, options.pollMs ?? 250))) {
      const log = await remote.run(plan.diagnose(manifest)).catch(() => null);
      const reason = log ? agentLogReason(log.stdout) : null;
      throw new InstallError(
        'NO_HELLO',
        `the agent did not say hello to ${options.collectorUrl} within ${options.helloTimeoutMs / 1000} s` +
          (reason ? `; its log says: ${reason}` : '; is the collector reachable from the host at that URL?'),
      );
    }
    const helloSec = ((Date.now() - started) / 1000).toFixed(1);
    const commit = await remote.run(plan.commit(manifest, previous));
    const leftovers =
      commit.code === 0 ? '' : `; could not remove the previous version's files: ${commit.stderr.trim()}`;
    const what = previous ? `upgraded v${previous.version} to v${manifest.version}` : `v${manifest.version}`;
    link.recordInstall(addressOf(target), tokenName);
    return {
      result: previous ? 'upgraded' : 'installed',
      detail: `${what} in ${plan.prefix}; ${plan.summary}; hello after ${helloSec} s; token ${tokenName}${createdToken ? ' (new)' : ''}${leftovers}${manifestNote}`,
    };
  } catch (err) {
    const undone = await rollback(remote, plan, manifest, previous);
    if (createdToken) link.revokeToken(tokenName);
    const e = err instanceof InstallError ? err : new InstallError('SSH_FAILED', (err as Error).message);
    const tokenNote = createdToken ? `; token ${tokenName} revoked` : '';
    throw new InstallError(e.code, `${e.message}; ${undone}${tokenNote}`, e.details);
  }
}

async function rollback(remote: Remote, plan: HostPlan, manifest: Manifest, previous?: Manifest): Promise<string> {
  const what = previous ? `restored v${previous.version}` : `removed ${plan.prefix}`;
  try {
    const r = await remote.run(plan.rollback(manifest, previous));
    if (r.code === 0) return `rolled back (${what})`;
    return `ROLLBACK INCOMPLETE (${r.stderr.trim() || `exit ${r.code}`}): check ${plan.prefix} on the host`;
  } catch (err) {
    return `ROLLBACK FAILED (${(err as Error).message}): check ${plan.prefix} on the host`;
  }
}

/** Polls the collector until the token's agent has said hello at or after `since`. */
async function waitForHello(
  link: CollectorLink,
  name: string,
  since: string,
  timeoutMs: number,
  pollMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = link.lastHelloAt(name);
    if (at !== null && at >= since) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
  }
}

/** Stops and removes the agent from one host and revokes its token. */
export async function uninstallFromHost(
  remote: Remote,
  target: Target,
  options: UninstallOptions,
): Promise<HostResult> {
  const { link } = options;
  const host = targetLabel(target);
  const plan = await planFor(remote, target, { prefix: options.prefix, purpose: 'uninstall' });
  const inspection = plan.parseInspect(await remote.run(plan.inspect()));
  if (inspection.state === 'foreign') {
    throw new InstallError(
      'PREFIX_FOREIGN',
      `${plan.prefix} on ${host} holds files hvmap did not install (${inspection.what}); nothing was removed`,
    );
  }
  const revoke = (name: string) => {
    if (link.tokenState(name) !== 'active') return '';
    link.revokeToken(name);
    return `; token ${name} revoked`;
  };
  if (inspection.state === 'absent') {
    const { name } = tokenOfHost(link, target);
    link.forgetInstall(addressOf(target));
    return { result: 'absent', detail: `no agent installed in ${plan.prefix}${revoke(name)}` };
  }
  const { manifest } = inspection;
  const token = tokenOfHost(link, target, manifest);
  const r = await remote.run(plan.uninstall(manifest));
  if (r.code !== 0) {
    throw new InstallError(
      'NOT_REMOVED',
      `uninstall on ${host} left things behind: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`,
    );
  }
  link.forgetInstall(addressOf(target));
  return {
    result: 'uninstalled',
    detail: `removed ${plan.prefix} (${manifest.service})${revoke(token.name)}${token.note}`,
  };
}
