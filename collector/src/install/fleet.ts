/**
 * Many hosts at once: at most `parallel` in flight, a progress line as each one ends, a summary
 * table at the end. A host that fails is a row in the table, never a reason to stop the others.
 */
import { terminalTable } from '../report/hygiene.js';
import type { HostResult } from './install.js';
import { type Target, targetLabel } from './target.js';

/** One row of the summary. `code` is the stable error code of a failure. */
export interface HostOutcome {
  host: string;
  result: HostResult['result'] | 'failed';
  detail: string;
  code?: string;
  ms: number;
}

/** Runs `work` for every target, `parallel` at a time; returns the outcomes in the targets' order. */
export async function runFleet(
  targets: readonly Target[],
  parallel: number,
  work: (target: Target) => Promise<HostResult>,
  progress: (line: string) => void,
): Promise<HostOutcome[]> {
  const outcomes: HostOutcome[] = new Array(targets.length);
  let next = 0;
  let done = 0;
  const width = String(targets.length).length;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      const host = targetLabel(targets[i]);
      const started = Date.now();
      let outcome: HostOutcome;
      try {
        const r = await work(targets[i]);
        outcome = { host, ...r, ms: Date.now() - started };
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        outcome = {
          host,
          result: 'failed',
          detail: (err as Error).message,
          code: typeof code === 'string' ? code : 'FAILED',
          ms: Date.now() - started,
        };
      }
      outcomes[i] = outcome;
      done++;
      const tag = outcome.result === 'failed' ? `FAILED ${outcome.code}` : outcome.result;
      progress(
        `[${String(done).padStart(width)}/${targets.length}] ${host}: ${tag} (${(outcome.ms / 1000).toFixed(1)} s): ${outcome.detail}`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, targets.length)) }, worker));
  return outcomes;
}

/** The table printed after a run, and a count line (`2 installed, 1 failed`). */
export function summaryTable(outcomes: readonly HostOutcome[]): string {
  const table = terminalTable(['host', 'result', 'detail'], { colWidths: [null, null, 90], wordWrap: true });
  for (const o of outcomes) table.push([o.host, o.result === 'failed' ? `failed (${o.code})` : o.result, o.detail]);
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.result, (counts.get(o.result) ?? 0) + 1);
  const line = [...counts].map(([result, n]) => `${n} ${result}`).join(', ');
  return `${table.toString()}\n${line}`;
}
