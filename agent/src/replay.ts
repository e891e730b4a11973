/**
 * A Runner that answers from a folder of captured outputs instead of the host, so a driver's real
 * parsing runs on what a real host printed. The folder holds `commands.json` and, for host files,
 * a `root/` tree (`root/proc/xen/capabilities`, `root/etc/os-release`, ...).
 *
 * commands.json: [{ "program": "xl", "args": ["list", "-l"], "stdout": "xl-list-l.json", "code": 0 }]
 * - `args` must equal the arguments, or `argsContain` must be a substring of them joined by spaces
 *   (for PowerShell scripts, whose text may change without changing what they ask);
 * - `stdout` / `stderr` name files in the folder (`stdoutText` / `stderrText` give text inline);
 * - `encoding` ("utf8" default, "utf16le") is how the capture was saved (WMI output is UTF-16);
 * - `error` replays a failure to run ("TIMEOUT", "EACCES", ...);
 * - `notCaptured` says why the case holds no output for a command the driver asks (a capture taken
 *   from another project's test data): it answers exit code 1 with that reason.
 * A program with no entry at all replays as not installed (ENOENT); a known program asked something
 * neither captured nor declared answers exit code 1 naming the arguments, and is listed in
 * `uncaptured`, which tests require to be empty: a gap in a case is declared, never a golden.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Runner, RunResult } from './runner.js';

export interface ReplayEntry {
  program: string;
  args?: string[];
  argsContain?: string;
  stdout?: string;
  stderr?: string;
  stdoutText?: string;
  stderrText?: string;
  encoding?: 'utf8' | 'utf16le';
  code?: number | null;
  error?: RunResult['error'];
  notCaptured?: string;
}

export class ReplayError extends Error {
  readonly code = 'REPLAY_INVALID';
}

function decode(buffer: Buffer, encoding: 'utf8' | 'utf16le'): string {
  const text = buffer.toString(encoding);
  // Captures saved by Windows tools start with a byte-order mark.
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A replayed host: a Runner, and the commands it was asked that its folder neither captured nor declared. */
export interface ReplayRunner extends Runner {
  readonly uncaptured: string[];
}

/** Reads a replay folder; throws ReplayError with the file and the reason when it is malformed. */
export function replayRunner(dir: string): ReplayRunner {
  const manifestFile = path.join(dir, 'commands.json');
  let entries: ReplayEntry[];
  try {
    entries = JSON.parse(readFileSync(manifestFile, 'utf8')) as ReplayEntry[];
  } catch (err) {
    throw new ReplayError(`cannot read ${manifestFile}: ${(err as Error).message}`);
  }
  if (!Array.isArray(entries)) throw new ReplayError(`${manifestFile} must hold an array of commands`);
  // Checked now, so that a bad folder fails the replay at once instead of one driver call later.
  entries.forEach((entry, i) => {
    if (typeof entry?.program !== 'string') throw new ReplayError(`${manifestFile}: command ${i} has no "program"`);
    for (const file of [entry.stdout, entry.stderr]) {
      if (file !== undefined && !existsSync(path.join(dir, file))) {
        throw new ReplayError(`${manifestFile}: command ${i} (${entry.program}) names ${file}, which is not in ${dir}`);
      }
    }
  });
  const load = (file: string | undefined, inline: string | undefined, encoding: 'utf8' | 'utf16le') =>
    file ? decode(readFileSync(path.join(dir, file)), encoding) : (inline ?? '');

  const uncaptured: string[] = [];
  return {
    uncaptured,
    async run(program, args) {
      const joined = args.join(' ');
      const candidates = entries.filter((e) => e.program === program);
      if (candidates.length === 0) return { stdout: '', stderr: `${program}: not found`, code: null, error: 'ENOENT' };
      const entry = candidates.find((e) =>
        e.args
          ? e.args.length === args.length && e.args.every((a, i) => a === args[i])
          : e.argsContain !== undefined && joined.includes(e.argsContain),
      );
      if (!entry) {
        uncaptured.push(`${program} ${joined}`);
        return { stdout: '', stderr: `replay: no capture for ${program} ${joined}`, code: 1 };
      }
      if (entry.notCaptured !== undefined)
        return { stdout: '', stderr: `not captured in this case: ${entry.notCaptured}`, code: 1 };
      const encoding = entry.encoding ?? 'utf8';
      return {
        stdout: load(entry.stdout, entry.stdoutText, encoding),
        stderr: load(entry.stderr, entry.stderrText, encoding),
        code: entry.error ? null : (entry.code ?? 0),
        ...(entry.error ? { error: entry.error } : {}),
      };
    },
    async readFile(file) {
      try {
        return await readFile(path.join(dir, 'root', file), 'utf8');
      } catch {
        return null;
      }
    },
  };
}
