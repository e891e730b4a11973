/**
 * What an install is made of, whatever the host's OS: steps (a command, or a file upload) that a
 * Remote runs. Each OS's plan (linux.ts, windows.ts) only builds steps and parses their output, so it
 * is tested on replayed outputs; install.ts decides the order, the checks and the rollback.
 */
import { AGENT_NODE_OPTIONS } from '@hvmap/agent';
import type { AgentBundle } from './bundle.js';

/** What a remote command returned. `code` is null when it died of a signal or timed out. */
export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The command printed more than the connection's output cap: it was ended and its output cut. */
  overflow?: true;
}

/** One thing to do on a host. `name` is stable: progress, errors and replayed transcripts use it. */
export type Step =
  | { kind: 'exec'; name: string; command: string; stdin?: Buffer }
  | { kind: 'upload'; name: string; path: string; content: Buffer };

/** A host reached over SSH (ssh.ts), or a replayed one in tests. */
export interface Remote {
  run(step: Step): Promise<ExecResult>;
  close(): void;
}

/** How the agent is kept running on the host. */
export type ServiceKind = 'systemd' | 'supervised' | 'scheduled-task';

/** Written on the host beside the agent: what is installed, so upgrade and uninstall know. */
export interface Manifest {
  product: 'hvmap-agent';
  version: string;
  installedAt: string;
  tokenName: string;
  collector: string;
  service: ServiceKind;
  /** The account the agent runs as; null: the account that installed it. */
  user: string | null;
  /** The installer created `user` (uninstall removes it then). */
  createdUser: boolean;
  prefix: string;
  /** Every file the installer wrote, outside the state directory. */
  files: string[];
}

/** What is at the install location before anything is done. */
export type Inspection =
  | { state: 'absent' }
  | { state: 'foreign'; what: string }
  | { state: 'installed'; manifest: Manifest };

/** The settings of one install that the plan turns into files. */
export interface InstallSettings {
  collectorUrl: string;
  libvirtUri?: string;
  /** The collector's CA certificate (PEM) the agent pins for wss://; absent for ws:// or system CAs. */
  caPem?: string;
  tokenName: string;
  /** A new token to write; absent on an upgrade that keeps the host's token. */
  token?: string;
  bundle: AgentBundle;
  previous?: Manifest;
  now: string;
}

/** An OS's way of installing the agent, for one host whose facts are known. */
export interface HostPlan {
  readonly os: 'linux' | 'windows';
  readonly prefix: string;
  /** One line about the host for the progress output (OS, Node.js, how the agent will run). */
  readonly summary: string;
  inspect(): Step;
  parseInspect(result: ExecResult): Inspection;
  /** Steps that put every file beside its destination as `FILE.new`, and the manifest they add up to. */
  stage(settings: InstallSettings): { steps: Step[]; manifest: Manifest };
  /** Stops a running agent, moves staged files in place (old ones to `FILE.prev`) and starts the agent. */
  activate(manifest: Manifest): Step;
  /** Drops the `.prev` copies and files the previous install had that this one has not. */
  commit(manifest: Manifest, previous?: Manifest): Step;
  /** Undoes activate and stage: back to `previous` (restarted), or to nothing when there was none. */
  rollback(manifest: Manifest, previous?: Manifest): Step;
  /** The agent's last log lines, to say why it did not report. */
  diagnose(manifest: Manifest): Step;
  /** Stops the agent and removes every trace; fails, listing them, if something is left. */
  uninstall(manifest: Manifest): Step;
}

/** The text of the manifest file. */
export function manifestText(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

/** Reads the manifest printed after an inspect step's first line; null when it is not one. */
export function parseManifest(text: string): Manifest | null {
  try {
    const m = JSON.parse(text) as Partial<Manifest>;
    if (m.product !== 'hvmap-agent' || typeof m.tokenName !== 'string' || !Array.isArray(m.files)) return null;
    return m as Manifest;
  } catch {
    return null;
  }
}

/**
 * The reason an agent gave in its log: when it ends in plain text (a crash, a usage error: the agent
 * prints `hvmap-agent: …` then perhaps a stack), that message; otherwise its last pino warning or error.
 */
export function agentLogReason(log: string): string | null {
  const lines = log
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const parsed = lines.map((line) => {
    try {
      return JSON.parse(line) as { level?: number; msg?: string; error?: string; err?: { message?: string } };
    } catch {
      return null;
    }
  });
  let start = lines.length;
  while (start > 0 && parsed[start - 1] === null) start--;
  if (start < lines.length) {
    const block = lines.slice(start);
    return block.find((l) => l.startsWith('hvmap-agent:')) ?? block[0];
  }
  for (let i = parsed.length - 1; i >= 0; i--) {
    const entry = parsed[i];
    if (entry && (entry.level ?? 0) >= 40 && entry.msg) {
      const cause = entry.error ?? entry.err?.message;
      return cause ? `${entry.msg} (${cause})` : entry.msg;
    }
  }
  return null;
}

/** The agent's command line on any host: the same flags whichever way the host starts it. */
export function agentRunArgs(
  node: string,
  paths: { script: string; token: string; ca: string; state: string },
  settings: InstallSettings,
): string[] {
  return [
    node,
    ...AGENT_NODE_OPTIONS,
    paths.script,
    'run',
    '--collector',
    settings.collectorUrl,
    '--token-file',
    paths.token,
    ...(settings.caPem !== undefined ? ['--ca', paths.ca] : []),
    '--state-dir',
    paths.state,
    ...(settings.libvirtUri ? ['--libvirt-uri', settings.libvirtUri] : []),
  ];
}
