#!/usr/bin/env node
// The entry point only: tests and the README doc test import the commands from commands.ts.
import { main } from './commands.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
