/**
 * End-to-end tests run the built CLIs (dist/): build first, so that `npx vitest run` after an edit
 * tests the edit, not a stale build. `tsc -b` is incremental: with nothing changed it builds nothing.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export default function buildFirst(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(process.execPath, [tsc, '-b', 'shared', 'agent', 'collector'], { cwd: root, stdio: 'inherit' });
}
