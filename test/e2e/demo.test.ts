/** README's first command runs the demo: it starts, shows its fleet on the map, and leaves nothing behind. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COLLECTOR_CLI } from '../helpers/processes.js';

let cwd: string;
beforeEach(() => {
  cwd = mkdtempSync(path.join(tmpdir(), 'hvmap-demo-'));
});
afterEach(() => rmSync(cwd, { recursive: true, force: true }));

describe('hvmap demo', () => {
  it('puts its six hosts on the map, most guests decided, and removes its folder when it stops', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [COLLECTOR_CLI, 'demo', '--listen', '127.0.0.1:0', '--duration', '8', '--interval', '1'],
      { cwd },
    );
    const last = stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('map: '))
      .pop() as string;
    const m = /^map: 6 hosts, (\d+) guests: (\d+) unknown, (\d+) certified, (\d+) not-certified/.exec(last);
    expect(m, stdout).not.toBeNull();
    const [guests, unknown] = [Number(m?.[1]), Number(m?.[2])];
    // Every unknown guest is an OS nobody can see (VM off, no KVP) or a pair behind a vendor portal (README).
    expect(unknown / guests).toBeLessThan(0.5);
    expect(readdirSync(path.join(cwd, 'data'))).toEqual([]);
  }, 60_000);
});
