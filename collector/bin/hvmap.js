#!/usr/bin/env node
// npm links a workspace's bin when `npm ci` runs, before `npm run build` writes dist/: this file is in
// the clone from the start, so `npx hvmap` finds it (and never asks the registry for a package of that
// name), and it says what to do when the build is missing.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('hvmap: not built yet: run "npm run build" at the top of the repository, then try again\n');
  process.exit(1);
}
await import(cli.href);
