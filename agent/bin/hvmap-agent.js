#!/usr/bin/env node
// npm links a workspace's bin when `npm ci` runs, before `npm run build` writes dist/: this file is in
// the clone from the start, so `npx hvmap-agent` finds it, and it says what to do when the build is missing.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(
    'hvmap-agent: not built yet: run "npm run build" at the top of the repository, then try again\n',
  );
  process.exit(1);
}
const { main } = await import(cli.href);
// exitCode, not exit(): stdout may be a pipe still draining the inventory.
process.exitCode = await main(process.argv.slice(2));
