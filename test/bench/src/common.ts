/**
 * What every part of the benchmark shares: child processes spoken to over IPC, readings of a
 * process's CPU and memory from /proc (so measuring costs the measured process nothing), statistics.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root (test/bench/dist/common.js → ../../..). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const AGENT_CLI = `${REPO}agent/dist/cli.js`;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A request the parent sends a child, and the child's answer. */
export interface IpcRequest {
  id: number;
  cmd: string;
  args?: unknown;
}
export type IpcReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
/** Something a child reports without being asked (the collector's `changes` event). */
export interface IpcEvent {
  event: string;
  data: unknown;
}

export interface Child {
  readonly pid: number;
  readonly process: ChildProcess;
  call<T = unknown>(cmd: string, args?: unknown, timeoutMs?: number): Promise<T>;
  onEvent(listener: (e: IpcEvent) => void): void;
  /** Asks the child to exit (it closes what it holds first) and waits; kills it after a grace period. */
  stop(graceMs?: number): Promise<void>;
}

let fdLimit: number | null = null;
/** The hard limit on open files; children are started with their soft limit raised to it. */
export function hardFdLimit(): number {
  if (fdLimit === null) {
    try {
      const out = execFileSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
      fdLimit = out === 'unlimited' ? 1_048_576 : Number(out);
    } catch {
      fdLimit = 1024;
    }
  }
  return fdLimit;
}

/**
 * Starts a benchmark child (a compiled file of this directory) with an IPC channel. It goes through
 * `sh -c 'ulimit -n HARD; exec node …'`: 10,000 sockets need more descriptors than the usual soft
 * limit of 1,024, and a process may raise its own soft limit up to the hard one.
 */
export function startChild(
  script: string,
  args: string[] = [],
  options: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<Child> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const limit = hardFdLimit();
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      `ulimit -n ${limit} 2>/dev/null; exec "$@"`,
      'sh',
      process.execPath,
      ...(options.execArgv ?? []),
      file,
      ...args,
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...options.env } },
  );
  let next = 1;
  const pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  const listeners: ((e: IpcEvent) => void)[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${script} exited (${code ?? signal}) before answering`));
      }
      pending.clear();
      resolve();
    }),
  );
  child.on('message', (m: IpcReply | IpcEvent) => {
    if ('event' in m) {
      for (const l of listeners) l(m);
      return;
    }
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`${script}: ${m.error}`));
  });
  const api: Child = {
    get pid() {
      return child.pid ?? -1;
    },
    process: child,
    call<T>(cmd: string, callArgs?: unknown, timeoutMs = 600_000): Promise<T> {
      if (exited) return Promise.reject(new Error(`${script} has exited`));
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${script}: ${cmd} gave no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        child.send({ id, cmd, args: callArgs } satisfies IpcRequest);
      });
    },
    onEvent(listener) {
      listeners.push(listener);
    },
    async stop(graceMs = 10_000) {
      if (exited) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      api.call('exit', undefined, graceMs).catch(() => {});
      await exit;
      clearTimeout(timer);
    },
  };
  // The child announces itself once its listener is set up.
  return new Promise((resolve, reject) => {
    const onReady = (m: IpcEvent) => {
      if (m && (m as IpcEvent).event === 'ready') {
        child.off('message', onReady);
        resolve(api);
      }
    };
    child.on('message', onReady);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} while starting`)));
  });
}

/**
 * The child side: answers the parent's requests with `handlers`, announces `ready`, and exits on
 * `exit` after `onExit` (which closes servers and databases; a --cpu-prof profile is written then).
 */
export function serveParent(
  handlers: Record<string, (args: unknown) => unknown>,
  onExit: () => Promise<void> | void = () => {},
): void {
  if (!process.send) throw new Error('this file is a benchmark child: run test/bench/dist/run.js');
  const send = process.send.bind(process);
  process.on('message', async (m: IpcRequest) => {
    if (m.cmd === 'exit') {
      try {
        await onExit();
      } finally {
        send({ id: m.id, ok: true, result: null } satisfies IpcReply, () => process.exit(0));
      }
      return;
    }
    const handler = handlers[m.cmd];
    try {
      if (!handler) throw new Error(`unknown command ${m.cmd}`);
      const result = await handler(m.args);
      send({ id: m.id, ok: true, result: result ?? null } satisfies IpcReply);
    } catch (err) {
      send({ id: m.id, ok: false, error: (err as Error).stack ?? String(err) } satisfies IpcReply);
    }
  });
  // The parent going away ends the child too: no orphan keeps a port or a CPU.
  process.on('disconnect', () => process.exit(0));
  send({ event: 'ready', data: null } satisfies IpcEvent);
}

/** Sends an unsolicited event to the parent (no-op outside a child). */
export function emitToParent(event: string, data: unknown): void {
  process.send?.({ event, data } satisfies IpcEvent);
}

const TICK_MS = (() => {
  try {
    return 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  } catch {
    return 10;
  }
})();

/** CPU and memory of a process as the kernel counts them. */
export interface ProcSample {
  at: number;
  /** User + system CPU of the process itself, ms. */
  cpuMs: number;
  /** CPU of its children that it has waited for (virsh, for an agent), ms. */
  childCpuMs: number;
  rssBytes: number;
  /** Peak RSS since the process started. */
  hwmBytes: number;
}

export function readProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return {
    at: performance.now(),
    cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS,
    childCpuMs: (Number(f[13]) + Number(f[14])) * TICK_MS,
    rssBytes: kb('VmRSS'),
    hwmBytes: kb('VmHWM'),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const round = (x: number, digits = 0) => {
  const m = 10 ** digits;
  return Math.round(x * m) / m;
};

export const MiB = 1024 * 1024;

/** Polls until `probe` holds or the deadline passes (bounded: every wait in the benchmark ends). */
export async function waitUntil(
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Logs a progress line to stderr (stdout stays free for the summary). */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** A TCP port free on 127.0.0.1 now (for a server started next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
