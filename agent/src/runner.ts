/**
 * The one place the agent runs programs and reads host files. Drivers receive a Runner and never
 * spawn or read by themselves, so the same driver runs on a host, over SSH, or on replayed outputs.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when the program could not start or was killed. */
  code: number | null;
  /** Set when the program could not be run at all: ENOENT (not installed), EACCES, TIMEOUT. */
  error?: 'ENOENT' | 'EACCES' | 'TIMEOUT' | 'MAXBUFFER' | 'OTHER';
}

export interface RunOptions {
  timeoutMs?: number;
}

/** A long-running program whose output is read line by line (`virsh event --loop`). */
export interface Stream {
  /** Resolves when the program ended, however: its exit code or why it could not run, and its stderr. */
  readonly ended: Promise<RunResult>;
  /** Ends the program; `ended` then resolves. */
  stop(): void;
}

export interface Runner {
  /** Runs a program with arguments, never through a shell. Never throws. */
  run(program: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Reads a host file as text; null when it does not exist or cannot be read. */
  readFile(file: string): Promise<string | null>;
  /**
   * Runs a program until stopped, calling `onLine` with each line of its stdout. Absent where a
   * runner cannot keep a program running (replayed outputs): then nothing is watched.
   */
  stream?(program: string, args: readonly string[], onLine: (line: string) => void): Stream;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** A streamed line longer than this is cut: a watched program's lines are short events. */
const MAX_LINE = 64 * 1024;
/** The stderr a stream keeps for its end's message. */
const MAX_STREAM_STDERR = 4096;

/**
 * Runs "$@" while its stdin stays open: `sh` starts the program, and a reader of the pipe from this
 * process ends it when the pipe closes, which it does when this process dies however it dies
 * (SIGKILL, a crash) or stop() closes it. A watcher such as `virsh event --loop` writes nothing on
 * an idle host, so nothing else would ever end it. The program's own arguments never pass through
 * the shell's parsing ("$@"). sh exits with the program's status, 127 when it was not found.
 */
const TIED_TO_STDIN =
  'exec 3<&0; "$@" <&- & c=$!; (read -r _ <&3; kill "$c" 2>/dev/null) & r=$!; wait "$c"; s=$?; kill "$r" 2>/dev/null; exit "$s"';

/** Runs `program` from this machine, its stdout split into lines (see Runner.stream). */
export function localStream(program: string, args: readonly string[], onLine: (line: string) => void): Stream {
  const tied = process.platform !== 'win32';
  const child = tied
    ? spawn('sh', ['-c', TIED_TO_STDIN, 'sh', program, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      })
    : spawn(program, [...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
        env: { ...process.env, LC_ALL: 'C' },
      });
  let partial = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = (lines.pop() ?? '').slice(0, MAX_LINE);
    for (const line of lines) onLine(line.slice(0, MAX_LINE));
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-MAX_STREAM_STDERR);
  });
  const ended = new Promise<RunResult>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      const error = err.code === 'ENOENT' ? 'ENOENT' : err.code === 'EACCES' ? 'EACCES' : 'OTHER';
      resolve({ stdout: '', stderr: stderr || err.message, code: null, error });
    });
    child.once('close', (code) => {
      // sh's own answers for a program it could not run.
      if (tied && code === 127) resolve({ stdout: '', stderr, code: null, error: 'ENOENT' });
      else if (tied && code === 126) resolve({ stdout: '', stderr, code: null, error: 'EACCES' });
      else resolve({ stdout: '', stderr, code });
    });
  });
  // A stdin closed early by the program's exit is no error of ours.
  child.stdin?.on('error', () => {});
  return { ended, stop: () => (tied ? child.stdin?.end() : child.kill('SIGTERM')) };
}

/** A Runner on this machine through `child_process.execFile`. `root` prefixes host file paths (a fixture root). */
export function localRunner(options: { root?: string; timeoutMs?: number } = {}): Runner {
  const defaultTimeout = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return {
    run(program, args, runOptions) {
      const timeout = runOptions?.timeoutMs ?? defaultTimeout;
      return new Promise((resolve) => {
        execFile(
          program,
          [...args],
          {
            timeout,
            maxBuffer: 64 * 1024 * 1024,
            encoding: 'utf8',
            windowsHide: true,
            env: { ...process.env, LC_ALL: 'C' },
          },
          (err, stdout, stderr) => {
            if (!err) return resolve({ stdout, stderr, code: 0 });
            const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
            if (e.code === 'ENOENT') return resolve({ stdout, stderr, code: null, error: 'ENOENT' });
            if (e.code === 'EACCES') return resolve({ stdout, stderr, code: null, error: 'EACCES' });
            if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER')
              return resolve({ stdout, stderr, code: null, error: 'MAXBUFFER' });
            if (e.killed) return resolve({ stdout, stderr, code: null, error: 'TIMEOUT' });
            resolve({
              stdout,
              stderr,
              code: typeof e.code === 'number' ? e.code : null,
              error: typeof e.code === 'number' ? undefined : 'OTHER',
            });
          },
        );
      });
    },
    stream: localStream,
    async readFile(file) {
      const full = options.root ? path.join(options.root, file) : file;
      try {
        return await readFile(full, 'utf8');
      } catch {
        return null;
      }
    },
  };
}
