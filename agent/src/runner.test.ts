/** The local Runner's streaming call: lines, endings, and a program that never outlives the agent. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { localStream } from './runner.js';

const RUNNER_DIST = fileURLToPath(new URL('../dist/runner.js', import.meta.url));

/** Whether a process runs (a zombie waiting for its parent to reap it has ended). */
function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return false;
  }
}

/** The pids below `pid`, children first. */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

describe('localStream', () => {
  it('passes each line, arguments untouched by any shell, and the exit code', async () => {
    const lines: string[] = [];
    const stream = localStream(
      'sh',
      ['-c', 'printf "%s\\n" "$1" "b c"; printf "%s" "no newline"; exit 3', 'sh', 'a\'$(x)"*'],
      (l) => lines.push(l),
    );
    expect(await stream.ended).toMatchObject({ code: 3 });
    expect(lines).toEqual([`a'$(x)"*`, 'b c']);
  });

  it('says ENOENT for a program that is not there, with its stderr', async () => {
    expect(await localStream('hvmap-no-such-program', [], () => {}).ended).toMatchObject({
      code: null,
      error: 'ENOENT',
      stderr: expect.stringMatching(/hvmap-no-such-program/),
    });
  });

  it('ends the program on stop()', async () => {
    const stream = localStream('sleep', ['1000'], () => {});
    await new Promise((r) => setTimeout(r, 200));
    stream.stop();
    expect((await stream.ended).code).not.toBe(0);
  });

  it('ends the program when the process that started it is killed with SIGKILL', async () => {
    const agent = spawn(
      process.execPath,
      [
        '-e',
        `import(${JSON.stringify(RUNNER_DIST)}).then((m) => { m.localStream('sleep', ['1000'], () => {}); setInterval(() => {}, 1000); })`,
      ],
      { stdio: 'ignore' },
    );
    const pid = agent.pid as number;
    const sleeper = await vi.waitFor(
      () => {
        const found = descendants(pid).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sleep');
        if (!found) throw new Error('no sleep yet');
        return found;
      },
      { timeout: 10_000, interval: 50 },
    );
    agent.kill('SIGKILL');
    await vi.waitFor(() => expect(alive(sleeper)).toBe(false), { timeout: 5_000, interval: 50 });
  });
});
