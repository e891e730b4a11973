import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Remote } from '../install/plan.js';
import { remoteCommand, shellQuote, sshRunner } from './ssh-runner.js';

describe('quoting for the host shell', () => {
  it('passes any arguments to the program exactly, whatever they hold (a real sh parses them)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'binary' }).map((s) => s.replaceAll('\0', '')),
          { minLength: 1, maxLength: 5 },
        ),
        (args) => {
          // printf gets each word back NUL-terminated, so the split is exact.
          const out = execFileSync('sh', ['-c', `${['printf', '%s\\0', ...args].map(shellQuote).join(' ')}`]);
          expect(out.toString('utf8').split('\0').slice(0, -1)).toEqual(args);
        },
      ),
      { seed: 7, numRuns: 200 },
    );
  });

  it('sets LC_ALL=C, as the local Runner does', () => {
    expect(remoteCommand('virsh', ['-c', 'qemu:///system', 'list', '--all'])).toBe(
      'LC_ALL=C virsh -c qemu:///system list --all',
    );
    expect(remoteCommand('xl', ["it's"])).toBe(`LC_ALL=C xl 'it'\\''s'`);
  });

  it('puts sudo -n before the program when asked, so a missing rule fails instead of prompting', () => {
    expect(remoteCommand('xl', ['list', '-v'], true)).toBe('LC_ALL=C sudo -n -- xl list -v');
  });
});

const POSIX = { shell: 'posix' } as const;

describe('what the host answers', () => {
  const answering = (code: number | null, stderr = '', stdout = ''): Remote => ({
    run: async () => ({ code, stdout, stderr }),
    close: () => {},
  });

  it('reads a missing command, a refused one and a timeout as the local Runner reports them', async () => {
    expect(await sshRunner(answering(127, 'sh: 1: virsh: not found'), POSIX).run('virsh', ['list'])).toMatchObject({
      code: null,
      error: 'ENOENT',
    });
    expect(await sshRunner(answering(126, 'sh: 1: xl: Permission denied'), POSIX).run('xl', ['info'])).toMatchObject({
      error: 'EACCES',
    });
    expect(
      await sshRunner(answering(null, 'partial\n(timed out after 30 s)'), POSIX).run('virsh', ['list']),
    ).toMatchObject({
      code: null,
      error: 'TIMEOUT',
    });
    expect(await sshRunner(answering(1, 'error: failed to connect'), POSIX).run('virsh', ['list'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: failed to connect',
    });
  });

  it('reads output the connection cut at its cap as MAXBUFFER', async () => {
    const cut: Remote = {
      run: async () => ({
        code: null,
        stdout: 'x'.repeat(10),
        stderr: '(output beyond 10 bytes: ended)',
        overflow: true,
      }),
      close: () => {},
    };
    expect(await sshRunner(cut, POSIX).run('virsh', ['dumpxml', 'vm'])).toMatchObject({
      code: null,
      error: 'MAXBUFFER',
    });
  });

  it('reads a host file, or null when cat fails', async () => {
    expect(await sshRunner(answering(0, '', 'ID=rhel\n'), POSIX).readFile('/etc/os-release')).toBe('ID=rhel\n');
    expect(await sshRunner(answering(1, 'cat: /nope: No such file'), POSIX).readFile('/nope')).toBeNull();
  });

  it('reads sudo refusing a command as a permission error, and a program that fails as a failure', async () => {
    const sudo = { shell: 'posix', sudo: true } as const;
    expect(await sshRunner(answering(1, 'sudo: a password is required\n'), sudo).run('xl', ['info'])).toMatchObject({
      code: null,
      error: 'EACCES',
    });
    expect(await sshRunner(answering(1, 'xl: command failed\n'), sudo).run('xl', ['info'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'xl: command failed\n',
    });
    // Without sudo the same words are the program's own.
    expect(await sshRunner(answering(1, 'sudo: a password is required\n'), POSIX).run('xl', ['info'])).toMatchObject({
      code: 1,
    });
  });

  it('reads a Windows host that cannot find the program as ENOENT, whatever PowerShell says', async () => {
    const windows = { shell: 'windows' } as const;
    expect(
      await sshRunner(answering(127, "The term 'virsh' is not recognized"), windows).run('virsh', ['list']),
    ).toMatchObject({
      code: null,
      error: 'ENOENT',
    });
    expect(await sshRunner(answering(126, ''), windows).run('x.exe', [])).toEqual({
      code: 126,
      stdout: '',
      stderr: '',
    });
  });
});
