import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { replayRunner } from './replay.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-replay-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('replayRunner', () => {
  it('answers captured commands by exact arguments or by a substring, in the capture encoding', async () => {
    writeFileSync(path.join(dir, 'list.txt'), 'Name ID\nvm1 1\n');
    writeFileSync(
      path.join(dir, 'wmi.txt'),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Caption=Serveur\r\n', 'utf16le')]),
    );
    writeFileSync(
      path.join(dir, 'commands.json'),
      JSON.stringify([
        { program: 'xl', args: ['list'], stdout: 'list.txt' },
        { program: 'powershell.exe', argsContain: 'Win32_OperatingSystem', stdout: 'wmi.txt', encoding: 'utf16le' },
        { program: 'xl', args: ['info'], error: 'TIMEOUT' },
      ]),
    );
    const run = replayRunner(dir);
    expect(await run.run('xl', ['list'])).toEqual({ stdout: 'Name ID\nvm1 1\n', stderr: '', code: 0 });
    expect(
      (await run.run('powershell.exe', ['-NoProfile', '-Command', 'Get-CimInstance Win32_OperatingSystem'])).stdout,
    ).toBe('Caption=Serveur\r\n');
    expect(await run.run('xl', ['info'])).toMatchObject({ code: null, error: 'TIMEOUT' });
  });

  it('replays an uncaptured program as not installed and uncaptured arguments as a failure, listed', async () => {
    writeFileSync(
      path.join(dir, 'commands.json'),
      JSON.stringify([
        { program: 'xl', args: ['list'], stdoutText: '' },
        { program: 'xl', args: ['list', '-l'], notCaptured: 'the source holds xl list only' },
      ]),
    );
    const run = replayRunner(dir);
    expect(await run.run('virsh', ['list'])).toMatchObject({ code: null, error: 'ENOENT' });
    expect(await run.run('xl', ['info'])).toMatchObject({ code: 1, stderr: 'replay: no capture for xl info' });
    // A gap the case declares answers with its reason and is not a surprise.
    expect(await run.run('xl', ['list', '-l'])).toMatchObject({
      code: 1,
      stderr: 'not captured in this case: the source holds xl list only',
    });
    expect(run.uncaptured).toEqual(['xl info']);
  });

  it('reads host files from the root folder', async () => {
    writeFileSync(path.join(dir, 'commands.json'), '[]');
    mkdirSync(path.join(dir, 'root', 'proc', 'xen'), { recursive: true });
    writeFileSync(path.join(dir, 'root', 'proc', 'xen', 'capabilities'), 'control_d\n');
    const run = replayRunner(dir);
    expect(await run.readFile('/proc/xen/capabilities')).toBe('control_d\n');
    expect(await run.readFile('/etc/os-release')).toBeNull();
  });

  it('refuses a malformed manifest with the file and the reason', () => {
    writeFileSync(path.join(dir, 'commands.json'), '{not json');
    expect(() => replayRunner(dir)).toThrow(/commands\.json/);
  });

  it('refuses, when it is read, a manifest naming a capture file the folder does not hold', () => {
    writeFileSync(
      path.join(dir, 'commands.json'),
      JSON.stringify([{ program: 'xl', args: ['info'], stdout: 'info.txt' }]),
    );
    expect(() => replayRunner(dir)).toThrow(/command 0 \(xl\) names info\.txt, which is not in/);
  });
});
