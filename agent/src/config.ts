/**
 * The one place the agent reads its configuration: every default, the command line, the token
 * (flag, file or environment) and the help text that shows them all.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

/** Where the agent keeps its spool and identity unless `--state-dir` says otherwise. */
function defaultStateDir(): string {
  if (process.platform === 'win32') return path.join(process.env.ProgramData ?? 'C:\\ProgramData', 'hvmap-agent');
  return '/var/lib/hvmap-agent';
}

/**
 * Node's options for the agent's service (the installer puts them on its command line). V8's lite
 * mode (no optimising compiler, smaller code space): RSS 55–60 MiB from 10 to 500 domains instead of
 * 79–110, for about the same CPU per scan up to 100 domains and ~15 % more at 500 (test/bench/NOTES.md).
 */
export const AGENT_NODE_OPTIONS = ['--lite-mode'] as const;

/** Every default of the agent. `--help` prints them from here. */
export const AGENT_DEFAULTS = {
  driver: 'auto',
  intervalSec: 60,
  stateDir: defaultStateDir(),
  logLevel: 'info',
  /** Reconnect backoff: full jitter over base·2^attempt, capped. */
  backoffBaseMs: 1_000,
  backoffCapMs: 60_000,
  /** The agent pings the collector this often and reconnects when a ping goes unanswered. */
  pingIntervalMs: 30_000,
  /** A collector that does not answer hello with welcome within this time is dropped. */
  welcomeTimeoutMs: 10_000,
  /** On a fallback collector (--collector given again), the agent goes back to the first after this long. */
  failbackMs: 300_000,
} as const;

/** Environment variable the token may come from, so it stays out of `ps`. */
export const TOKEN_ENV = 'HVMAP_TOKEN';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The agent's own version, sent in hello and printed by `--version`. */
export const AGENT_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Bad command-line input; the CLI prints the message and exits with 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface RunConfig {
  command: 'run';
  collectorUrl: string;
  /** Further --collector values: collectors on the same store to fail over to, in order. */
  fallbackCollectorUrls: string[];
  failbackSec?: number;
  token: string;
  driver: string;
  /** Set only when given on the command line; otherwise the collector's welcome decides. */
  intervalSec?: number;
  libvirtUri?: string;
  stateDir: string;
  root?: string;
  logLevel: LogLevel;
  /** PEM CA certificate(s) the collector's certificate must chain to; replaces the system's CAs. */
  ca?: string;
  /** Seconds between pings to the collector (a dead link is noticed after at most two). */
  pingIntervalSec?: number;
  /** Longest wait between reconnect attempts, seconds. */
  maxBackoffSec?: number;
  /** Rescan on the hypervisor's change events (libvirt), not only on the interval. */
  watch: boolean;
}

export interface ScanConfig {
  command: 'scan';
  driver: string;
  libvirtUri?: string;
  json: boolean;
  root?: string;
  /** A folder of captured outputs (commands.json, root/) the drivers read instead of this host. */
  replay?: string;
}

export type AgentCommand = RunConfig | ScanConfig | { command: 'help'; text: string } | { command: 'version' };

type Command = 'run' | 'scan';
export interface OptionSpec {
  type: 'string' | 'boolean';
  commands: readonly Command[];
  value?: string;
  help: string;
  /** What `--help` shows as the default; absent for a flag that has none. */
  shown?: string;
  /** Given more than once, each value kept in order. */
  multiple?: boolean;
}

export const OPTIONS = {
  collector: {
    type: 'string',
    commands: ['run'],
    value: 'URL',
    help: 'collector endpoint, ws(s)://HOST:PORT/agent; again for collectors on the same store to fail over to, in order',
    shown: 'required',
    multiple: true,
  },
  token: {
    type: 'string',
    commands: ['run'],
    value: 'TOKEN',
    help: `agent token (visible in ps: prefer --token-file or ${TOKEN_ENV})`,
    shown: `$${TOKEN_ENV}`,
  },
  'token-file': {
    type: 'string',
    commands: ['run'],
    value: 'FILE',
    help: 'file holding the agent token',
    shown: 'none',
  },
  driver: {
    type: 'string',
    commands: ['run', 'scan'],
    value: 'auto|NAME',
    help: 'hypervisor driver; auto runs every driver that detects its hypervisor',
    shown: AGENT_DEFAULTS.driver,
  },
  interval: {
    type: 'string',
    commands: ['run'],
    value: 'S',
    help: 'seconds between scans; when not given, the interval the collector sends in welcome',
    shown: `collector's, else ${AGENT_DEFAULTS.intervalSec}`,
  },
  'no-watch': {
    type: 'boolean',
    commands: ['run'],
    help: "scan on the interval only, not also on the hypervisor's change events (virsh event)",
    shown: 'watch',
  },
  'libvirt-uri': {
    type: 'string',
    commands: ['run', 'scan'],
    value: 'URI',
    help: 'libvirt connection URI, e.g. qemu:///system',
    shown: "virsh's own ($LIBVIRT_DEFAULT_URI)",
  },
  ca: {
    type: 'string',
    commands: ['run'],
    value: 'FILE',
    help: 'trust only this CA (PEM) for a wss:// collector: the ca.crt of hvmap tls init',
    shown: "the system's CAs",
  },
  'ping-interval': {
    type: 'string',
    commands: ['run'],
    value: 'S',
    help: 'seconds between pings; an unanswered one means the link is dead and the agent reconnects',
    shown: String(AGENT_DEFAULTS.pingIntervalMs / 1000),
  },
  failback: {
    type: 'string',
    commands: ['run'],
    value: 'S',
    help: 'seconds on a fallback collector before going back to the first --collector',
    shown: String(AGENT_DEFAULTS.failbackMs / 1000),
  },
  'max-backoff': {
    type: 'string',
    commands: ['run'],
    value: 'S',
    help: 'longest wait between reconnect attempts, seconds (each wait is random up to a doubling ceiling)',
    shown: String(AGENT_DEFAULTS.backoffCapMs / 1000),
  },
  'state-dir': {
    type: 'string',
    commands: ['run'],
    value: 'DIR',
    help: 'directory for the spool and the agent id',
    shown: AGENT_DEFAULTS.stateDir,
  },
  root: {
    type: 'string',
    commands: ['run', 'scan'],
    value: 'DIR',
    help: 'read host files (e.g. /etc/os-release) under DIR',
    shown: '/',
  },
  replay: {
    type: 'string',
    commands: ['scan'],
    value: 'DIR',
    help: "run the drivers on outputs captured in DIR (commands.json, root/; see each driver's README)",
    shown: 'this host',
  },
  json: { type: 'boolean', commands: ['scan'], help: 'print the inventory as JSON', shown: 'table' },
  'log-level': {
    type: 'string',
    commands: ['run'],
    value: 'LEVEL',
    help: `${LOG_LEVELS.join(', ')}; logs go to stderr as JSON lines`,
    shown: AGENT_DEFAULTS.logLevel,
  },
  help: { type: 'boolean', commands: ['run', 'scan'], help: 'show this help' },
} as const satisfies Record<string, OptionSpec>;

/** `--help` for the whole program or one command, every option with its default. */
export function helpText(command?: Command): string {
  const commands: Command[] = command ? [command] : ['run', 'scan'];
  const lines = [
    'hvmap-agent: reports this hypervisor host and its guests to an hvmap collector.',
    '',
    'Usage:',
    '  hvmap-agent run --collector URL (--token TOKEN | --token-file FILE | $HVMAP_TOKEN) [options]',
    '  hvmap-agent scan [--driver auto|NAME] [--replay DIR] [--json] [options]   # one inventory to stdout, nothing sent',
    '  hvmap-agent --version',
  ];
  for (const c of commands) {
    lines.push('', `Options of ${c}:`);
    for (const [name, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
      if (!spec.commands.includes(c)) continue;
      const flag = spec.value ? `--${name} ${spec.value}` : `--${name}`;
      const shown = spec.shown === undefined ? '' : ` (default: ${spec.shown})`;
      lines.push(`  ${flag.padEnd(24)} ${spec.help}${shown}`);
    }
  }
  lines.push('', 'Exit codes: 0 done, 1 failure, 2 bad usage.');
  return lines.join('\n');
}

/**
 * Parses and validates the command line once, at start-up. Throws UsageError with a message that
 * names the offending option. `driverNames` are the registered drivers `--driver` may name.
 */
export async function parseCommandLine(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  driverNames: readonly string[],
): Promise<AgentCommand> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    return { command: 'help', text: helpText() };
  }
  if (command === '--version') return { command: 'version' };
  if (command !== 'run' && command !== 'scan') {
    throw new UsageError(`unknown command "${command}"; expected run or scan (see hvmap-agent --help)`);
  }

  const options = Object.fromEntries(
    Object.entries(OPTIONS)
      .filter(([, spec]) => (spec.commands as readonly Command[]).includes(command))
      .map(([name, spec]: [string, OptionSpec]) => [name, { type: spec.type, multiple: spec.multiple === true }]),
  );
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: [...rest], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see hvmap-agent ${command} --help)`);
  }
  if (values.help) return { command: 'help', text: helpText(command) };

  const str = (name: keyof typeof OPTIONS) => values[name] as string | undefined;
  const driver = str('driver') ?? AGENT_DEFAULTS.driver;
  if (driver !== 'auto' && !driverNames.includes(driver)) {
    throw new UsageError(`--driver ${driver} is not a driver; expected auto or one of: ${driverNames.join(', ')}`);
  }
  const common = { driver, libvirtUri: str('libvirt-uri'), root: str('root') };
  if (command === 'scan') {
    const replay = str('replay');
    // A replay folder brings its own host files (DIR/root).
    if (replay !== undefined && common.root !== undefined) throw new UsageError('give --replay or --root, not both');
    return { command, ...common, json: values.json === true, replay };
  }

  const logLevel = str('log-level') ?? AGENT_DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level ${logLevel} is not a level; expected one of: ${LOG_LEVELS.join(', ')}`);
  }
  const [collectorUrl, ...fallbackCollectorUrls] = ((values.collector as string[] | undefined) ?? [undefined]).map(
    parseCollectorUrl,
  );
  if (new Set([collectorUrl, ...fallbackCollectorUrls]).size !== 1 + fallbackCollectorUrls.length)
    throw new UsageError('--collector names the same collector twice');
  return {
    command,
    ...common,
    logLevel: logLevel as LogLevel,
    collectorUrl,
    fallbackCollectorUrls,
    failbackSec: parseSeconds(str('failback'), '--failback'),
    token: await resolveToken(str('token'), str('token-file'), env),
    intervalSec: parseSeconds(str('interval'), '--interval'),
    stateDir: str('state-dir') ?? AGENT_DEFAULTS.stateDir,
    ca: await readCa(str('ca'), [collectorUrl, ...fallbackCollectorUrls]),
    pingIntervalSec: parseSeconds(str('ping-interval'), '--ping-interval'),
    maxBackoffSec: parseSeconds(str('max-backoff'), '--max-backoff'),
    watch: values['no-watch'] !== true,
  };
}

/** Reads `--ca`: a PEM file with at least one certificate, for a wss:// collector only. */
async function readCa(file: string | undefined, collectorUrls: string[]): Promise<string | undefined> {
  if (file === undefined) return undefined;
  if (!collectorUrls.every((url) => url.startsWith('wss:')))
    throw new UsageError(`--ca pins the collector's CA for TLS; every collector URL must start with wss://`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--ca ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new UsageError(`--ca ${file} holds no PEM certificate (expected the ca.crt of hvmap tls init)`);
  return text;
}

function parseCollectorUrl(text: string | undefined): string {
  if (text === undefined) throw new UsageError('--collector URL is required, e.g. wss://collector.example:8600/agent');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--collector ${text} is not a URL; expected ws(s)://HOST:PORT/agent`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new UsageError(`--collector ${text} must start with ws:// or wss://`);
  }
  // The collector serves agents at /agent: a bare host:port means that path.
  if (url.pathname === '/') url.pathname = '/agent';
  return url.toString();
}

function parseSeconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new UsageError(`${flag} ${text} must be a whole number of seconds, at least 1`);
  }
  return seconds;
}

async function resolveToken(
  flag: string | undefined,
  file: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  if (flag !== undefined && file !== undefined) throw new UsageError('give --token or --token-file, not both');
  let token = flag ?? env[TOKEN_ENV];
  if (file !== undefined) {
    try {
      token = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--token-file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
  token = token?.trim();
  if (!token) throw new UsageError(`a token is required: --token-file FILE, $${TOKEN_ENV} or --token TOKEN`);
  return token;
}
