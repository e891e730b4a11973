/**
 * A Remote that answers from a transcript instead of a host: each step's output by step name. The
 * plans for hosts we cannot run here (Windows, systemd with sudo) are exercised through it, on
 * outputs in the format those hosts print.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ExecResult, Remote, Step } from './plan.js';

/** One step's recorded answer; `stdoutFile` names a file beside the transcript. */
export interface ReplayedStep {
  code?: number | null;
  stdout?: string;
  stdoutFile?: string;
  stderr?: string;
}

/** Thrown for a step the transcript does not answer, so a plan that changes shows up in tests. */
export class ReplayError extends Error {
  readonly code = 'REPLAY_MISSING';
}

/** A Remote over a transcript: every step it ran is kept in `steps`, in order. */
export interface ReplayRemote extends Remote {
  readonly steps: Step[];
}

/**
 * Replays `answers` (a transcript.json's `steps`, files relative to `dir`). Uploads succeed unless
 * answered otherwise; `onStep` lets a test act when a step runs (the agent "says hello" on activate).
 */
export function replayRemote(
  answers: Record<string, ReplayedStep>,
  dir: string,
  onStep?: (step: Step) => void,
): ReplayRemote {
  const steps: Step[] = [];
  return {
    steps,
    async run(step: Step): Promise<ExecResult> {
      steps.push(step);
      onStep?.(step);
      const answer = answers[step.name] ?? (step.name.startsWith('upload ') ? {} : undefined);
      if (!answer) throw new ReplayError(`the transcript has no answer for step "${step.name}"`);
      const stdout = answer.stdoutFile
        ? readFileSync(path.join(dir, answer.stdoutFile), 'utf8')
        : (answer.stdout ?? '');
      return { code: answer.code === undefined ? 0 : answer.code, stdout, stderr: answer.stderr ?? '' };
    },
    close() {},
  };
}
