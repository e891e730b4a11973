import { describe, expect, it } from 'vitest';
import { InstallError } from './errors.js';
import { runFleet, summaryTable } from './fleet.js';
import { parseTarget } from './target.js';

const targets = ['root@a', 'root@b', 'root@c', 'root@d', 'root@e'].map((t) => parseTarget(t, 'root'));

describe('many hosts', () => {
  it('keeps at most N hosts in flight, and one failure does not stop the others', async () => {
    let inFlight = 0;
    let most = 0;
    const lines: string[] = [];
    const outcomes = await runFleet(
      targets,
      2,
      async (t) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        if (t.host === 'b') throw new InstallError('NODE_MISSING', 'no Node.js on root@b');
        return { result: t.host === 'c' ? 'upgraded' : 'installed', detail: `done ${t.host}` };
      },
      (line) => lines.push(line),
    );
    expect(most).toBe(2);
    expect(outcomes.map((o) => [o.host, o.result])).toEqual([
      ['root@a', 'installed'],
      ['root@b', 'failed'],
      ['root@c', 'upgraded'],
      ['root@d', 'installed'],
      ['root@e', 'installed'],
    ]);
    expect(lines).toHaveLength(5);
    expect(lines.find((l) => l.includes('root@b'))).toMatch(
      /^\[\d\/5\] root@b: FAILED NODE_MISSING \(\d+\.\d s\): no Node.js on root@b$/,
    );

    const table = summaryTable(outcomes);
    expect(table).toContain('failed (NODE_MISSING)');
    expect(table.trim().split('\n').at(-1)).toBe('3 installed, 1 failed, 1 upgraded');
  });

  it('gives an unexpected error a code too', async () => {
    const [o] = await runFleet(
      targets.slice(0, 1),
      4,
      () => Promise.reject(new Error('boom')),
      () => {},
    );
    expect(o).toMatchObject({ result: 'failed', code: 'FAILED', detail: 'boom' });
  });
});
