/**
 * The drivers' Runner over one SSH connection (the installer's, host keys checked the same way).
 * Nothing is written on the host.
 *
 * - A POSIX host: the program and its arguments quoted for its shell, `LC_ALL=C` as the local Runner
 *   sets it, optionally behind `sudo -n` (least privilege: collector/src/agentless/README.md), host files
 *   read with `cat`.
 * - A Windows host (Windows OpenSSH): every command is one `powershell.exe -EncodedCommand BASE64`
 *   (the script as UTF-16LE). Base64 holds no character that cmd.exe or PowerShell, whichever is the
 *   login shell, would read, so nothing needs quoting for the shell; inside the script each word is a
 *   PowerShell single-quoted string.
 */
import type { Runner, RunResult } from '@hvmap/agent';
import type { Remote } from '../install/plan.js';

export type RemoteShell = 'posix' | 'windows';

export interface SshRunnerOptions {
  shell: RemoteShell;
  /** POSIX only: run each program through `sudo -n` (never prompting: a missing rule is an error). */
  sudo?: boolean;
}

/** One word for a POSIX shell: single-quoted, with its own single quotes closed and escaped. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command line a POSIX host's shell runs for `program args`. */
export function remoteCommand(program: string, args: readonly string[], sudo = false): string {
  return `LC_ALL=C ${[...(sudo ? ['sudo', '-n', '--'] : []), program, ...args].map(shellQuote).join(' ')}`;
}

/**
 * One word for PowerShell: single-quoted. PowerShell also takes the typographic single quotes
 * (U+2018, U+2019, U+201A, U+201B) as quote marks, so each of those is doubled as `'` is.
 */
export function powerShellQuote(word: string): string {
  return `'${word.replace(/['\u2018\u2019\u201A\u201B]/g, (q) => q + q)}'`;
}

/** powershell.exe running `script`, as any Windows login shell passes it on unchanged. */
export function encodedPowerShell(
  script: string,
  flags: readonly string[] = ['-NoProfile', '-NonInteractive'],
): string {
  return ['powershell.exe', ...flags, '-EncodedCommand', Buffer.from(script, 'utf16le').toString('base64')].join(' ');
}

/** The exit code a Windows host's wrapper gives a program PowerShell cannot find (as a POSIX shell's 127). */
const NOT_FOUND = 127;
// A POSIX shell exits 126 when it cannot run a command it found.
const NOT_EXECUTABLE = 126;

/**
 * The command line a Windows host runs for `program args`. The Hyper-V driver's own
 * `powershell.exe FLAGS -Command SCRIPT` is sent as that script encoded (one PowerShell, not two);
 * any other program is called from a PowerShell script that exits with its exit code.
 */
export function windowsCommand(program: string, args: readonly string[]): string {
  const at = args.length - 2;
  if (
    /^powershell(\.exe)?$/i.test(program) &&
    args[at] === '-Command' &&
    args.slice(0, at).every((a) => /^-\w+$/.test(a))
  )
    return encodedPowerShell(args[at + 1], args.slice(0, at));
  return encodedPowerShell(
    `$ProgressPreference = 'SilentlyContinue'; try { & ${[program, ...args].map(powerShellQuote).join(' ')} } ` +
      `catch [System.Management.Automation.CommandNotFoundException] { [Console]::Error.WriteLine($_.Exception.Message); exit ${NOT_FOUND} }; exit $LASTEXITCODE`,
  );
}

/** Reads a Windows host's file whole, exactly (no newline added); exit 1 when it cannot. */
export function windowsReadFile(file: string): string {
  return encodedPowerShell(
    `try { [Console]::Out.Write([IO.File]::ReadAllText(${powerShellQuote(file)})) } catch { exit 1 }`,
  );
}

export function sshRunner(remote: Remote, options: SshRunnerOptions): Runner {
  const windows = options.shell === 'windows';
  return {
    async run(program, args) {
      const command = windows ? windowsCommand(program, args) : remoteCommand(program, args, options.sudo);
      const result = await remote.run({ kind: 'exec', name: program, command });
      const out: RunResult = { stdout: result.stdout, stderr: result.stderr, code: result.code };
      if (result.code === null && /timed out after/.test(result.stderr)) return { ...out, error: 'TIMEOUT' };
      if (result.code === NOT_FOUND && (windows || /not found/i.test(result.stderr)))
        return { ...out, code: null, error: 'ENOENT' };
      if (!windows && result.code === NOT_EXECUTABLE) return { ...out, code: null, error: 'EACCES' };
      // sudo -n refusing (no rule for this command, or one that asks for a password) is a permission error.
      if (options.sudo && result.code === 1 && /^sudo: /m.test(result.stderr) && !result.stdout)
        return { ...out, code: null, error: 'EACCES' };
      if (result.overflow) return { ...out, code: null, error: 'MAXBUFFER' };
      if (result.code === null) return { ...out, error: 'OTHER' };
      return out;
    },
    async readFile(file) {
      const command = windows ? windowsReadFile(file) : `cat -- ${shellQuote(file)}`;
      const result = await remote.run({ kind: 'exec', name: 'read', command });
      return result.code === 0 ? result.stdout : null;
    },
  };
}

/**
 * Which shell the host has: a POSIX one answers `uname -s`; Windows OpenSSH (cmd.exe or PowerShell
 * as its shell) does not, and answers powershell.exe.
 */
export async function detectShell(remote: Remote): Promise<RemoteShell> {
  const uname = await remote.run({ kind: 'exec', name: 'uname', command: 'uname -s' });
  if (uname.code === 0) return 'posix';
  const ps = await remote.run({
    kind: 'exec',
    name: 'powershell',
    command: encodedPowerShell('$PSVersionTable.PSVersion.Major'),
  });
  return ps.code === 0 ? 'windows' : 'posix';
}
