/**
 * The drivers' Runner over one SSH connection (the installer's, host keys checked the same way):
 * a program and its arguments quoted for the host's POSIX shell, `LC_ALL=C` as the local Runner
 * sets it, host files read with `cat`. Nothing is written on the host.
 */
import type { Runner, RunResult } from '@hvmap/agent';
import type { Remote } from '../install/plan.js';

/** Output beyond this is cut and reported as MAXBUFFER, as the local Runner does (64 MiB). */
export const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** One word for a POSIX shell: single-quoted, with its own single quotes closed and escaped. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command line the host's shell runs for `program args`. */
export function remoteCommand(program: string, args: readonly string[]): string {
  return `LC_ALL=C ${[program, ...args].map(shellQuote).join(' ')}`;
}

// A POSIX shell exits 127 when it cannot find the command ("sh: 1: virsh: not found"), 126 when it
// cannot run it: the local Runner's ENOENT and EACCES.
const NOT_FOUND = 127;
const NOT_EXECUTABLE = 126;

export function sshRunner(remote: Remote): Runner {
  return {
    async run(program, args) {
      const result = await remote.run({ kind: 'exec', name: program, command: remoteCommand(program, args) });
      const out: RunResult = { stdout: result.stdout, stderr: result.stderr, code: result.code };
      if (result.code === null && /timed out after/.test(result.stderr)) return { ...out, error: 'TIMEOUT' };
      if (result.code === NOT_FOUND && /not found/i.test(result.stderr)) return { ...out, code: null, error: 'ENOENT' };
      if (result.code === NOT_EXECUTABLE) return { ...out, code: null, error: 'EACCES' };
      if (Buffer.byteLength(result.stdout) > MAX_OUTPUT_BYTES)
        return {
          stdout: result.stdout.slice(0, MAX_OUTPUT_BYTES),
          stderr: result.stderr,
          code: null,
          error: 'MAXBUFFER',
        };
      if (result.code === null) return { ...out, error: 'OTHER' };
      return out;
    },
    async readFile(file) {
      const result = await remote.run({ kind: 'exec', name: 'cat', command: `cat -- ${shellQuote(file)}` });
      return result.code === 0 ? result.stdout : null;
    },
  };
}
