/** Reading a RunResult the same way in every driver that runs command-line tools. */
import type { RunResult } from '../runner.js';

/** The program ran and exited 0. */
export function succeeded(result: RunResult): boolean {
  return result.code === 0 && !result.error;
}

/** The first lines of stderr without "error:"-style prefixes, clipped, for messages and reason details. */
export function stderrText(result: RunResult): string {
  const lines = result.stderr
    .split(/\r?\n/)
    .map((line) => line.replace(/^(error|ERROR|Error):\s*/, '').trim())
    .filter(Boolean);
  const text = lines.join('; ') || `exit code ${result.code}`;
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

/** Whether a tool's failure says it lacked the privileges it needs. */
export function deniedPermission(result: RunResult): boolean {
  return result.error === 'EACCES' || /permission denied|operation not permitted|must be root/i.test(result.stderr);
}
