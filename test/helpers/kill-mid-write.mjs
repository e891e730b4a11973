// Preloaded into a collector process by the faults test (NODE_OPTIONS=--import): once the file named
// by HVMAP_TEST_KILL_ARM exists, the process SIGKILLs itself inside a write transaction, right after
// the HVMAP_TEST_KILL_AFTER_ROWS-th guest row it writes, and leaves `<arm>.killed` saying where. The
// collector's code is untouched: the hook wraps better-sqlite3's Statement#run, which it shares.
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const Database = createRequire(import.meta.url)('better-sqlite3');
const arm = process.env.HVMAP_TEST_KILL_ARM;
const afterRows = Number(process.env.HVMAP_TEST_KILL_AFTER_ROWS ?? '5');
const probe = new Database(':memory:');
const Statement = Object.getPrototypeOf(probe.prepare('SELECT 1'));
probe.close();
const run = Statement.run;
let rows = 0;

Statement.run = function (...args) {
  const result = run.apply(this, args);
  if (arm && this.database.inTransaction && /^\s*(INSERT INTO|UPDATE) guests\b/.test(this.source) && existsSync(arm)) {
    rows += 1;
    if (rows >= afterRows) {
      writeFileSync(`${arm}.killed`, JSON.stringify({ rows, inTransaction: this.database.inTransaction }));
      process.kill(process.pid, 'SIGKILL');
    }
  }
  return result;
};
