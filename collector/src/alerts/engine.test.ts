import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { databaseTargets } from '../../../test/helpers/store-backends.js';
import { type Db, openDatabase } from '../store/db.js';
import { advisoryLock } from '../store/postgres/advisory-lock.js';
import { AlertEngine } from './engine.js';

const databases = databaseTargets();
const CHECKS_LOCK = 42;
const open: { db: Db; engine: AlertEngine }[] = [];

afterEach(() => {
  for (const { db, engine } of open.splice(0)) {
    engine.close();
    db.close();
  }
});

/** A collector's alert engine on its own connection to the shared database; its checks run only when called. */
function engineOn(url: string) {
  const db = openDatabase(url);
  const engine = new AlertEngine(db, pino({ level: 'silent' }), {
    eolWarnDays: 90,
    silentAfterMs: 1000,
    checkIntervalMs: 3_600_000,
    shared: { runsChecks: advisoryLock(db, CHECKS_LOCK) },
  });
  open.push({ db, engine });
  // Each pass (silence, or the hourly full one) starts by listing the hosts.
  return { db, engine, passes: vi.spyOn(engine.store, 'agentNames') };
}

describe('alert checks shared by collectors on one PostgreSQL database', () => {
  it('run on the collector holding the lock only, and move to another when its connection ends', async () => {
    const url = await databases.target('postgres');
    const a = engineOn(url);
    const b = engineOn(url);
    a.engine.check();
    b.engine.check();
    a.engine.check();
    expect(a.passes).toHaveBeenCalledTimes(2);
    expect(b.passes).not.toHaveBeenCalled();

    // A's collector dies: its connection, and with it the lock, is gone; B takes the checks at its next one.
    const gone = open.splice(
      open.findIndex((o) => o.engine === a.engine),
      1,
    )[0];
    gone.engine.close();
    gone.db.close();
    // The server frees the lock when it sees the connection closed, a moment later.
    const deadline = Date.now() + 5_000;
    while (b.passes.mock.calls.length === 0 && Date.now() < deadline) {
      b.engine.check();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(b.passes).toHaveBeenCalledTimes(1);
  });
});
