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
});

describe('what the host answers', () => {
  const answering = (code: number | null, stderr = '', stdout = ''): Remote => ({
    run: async () => ({ code, stdout, stderr }),
    close: () => {},
  });

  it('reads a missing command, a refused one and a timeout as the local Runner reports them', async () => {
    expect(await sshRunner(answering(127, 'sh: 1: virsh: not found')).run('virsh', ['list'])).toMatchObject({
      code: null,
      error: 'ENOENT',
    });
    expect(await sshRunner(answering(126, 'sh: 1: xl: Permission denied')).run('xl', ['info'])).toMatchObject({
      error: 'EACCES',
    });
    expect(await sshRunner(answering(null, 'partial\n(timed out after 30 s)')).run('virsh', ['list'])).toMatchObject({
      code: null,
      error: 'TIMEOUT',
    });
    expect(await sshRunner(answering(1, 'error: failed to connect')).run('virsh', ['list'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: failed to connect',
    });
  });

  it('reads a host file, or null when cat fails', async () => {
    expect(await sshRunner(answering(0, '', 'ID=rhel\n')).readFile('/etc/os-release')).toBe('ID=rhel\n');
    expect(await sshRunner(answering(1, 'cat: /nope: No such file')).readFile('/nope')).toBeNull();
  });
});
