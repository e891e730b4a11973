import type { Guest } from '@hvmap/shared';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { judgedSnapshot } from '../../../test/helpers/judged-snapshot.js';
import { databaseTargets } from '../../../test/helpers/store-backends.js';
import { today } from '../map/evaluator.js';
import { type Db, openDatabase } from '../store/db.js';
import { InventoryStore, type JudgedInventory } from '../store/inventory.js';
import { advisoryLock } from '../store/postgres/advisory-lock.js';
import { TokenStore } from '../store/tokens.js';
import { AlertEngine } from './engine.js';
import { listAlerts } from './store.js';

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
  // Each pass starts by listing hosts: all of them (the hourly full one), or those that may be silent.
  const full = vi.spyOn(engine.store, 'agentNames');
  const silence = vi.spyOn(engine.store, 'silenceCandidates');
  return { db, engine, passes: () => full.mock.calls.length + silence.mock.calls.length };
}

describe('alert checks shared by collectors on one PostgreSQL database', () => {
  it('run on the collector holding the lock only, and move to another when its connection ends', async () => {
    const url = await databases.target('postgres');
    const a = engineOn(url);
    const b = engineOn(url);
    a.engine.check();
    b.engine.check();
    a.engine.check();
    expect(a.passes()).toBe(2);
    expect(b.passes()).toBe(0);

    // A's collector dies: its connection, and with it the lock, is gone; B takes the checks at its next one.
    const gone = open.splice(
      open.findIndex((o) => o.engine === a.engine),
      1,
    )[0];
    gone.engine.close();
    gone.db.close();
    // The server frees the lock when it sees the connection closed, a moment later.
    const deadline = Date.now() + 5_000;
    while (b.passes() === 0 && Date.now() < deadline) {
      b.engine.check();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(b.passes()).toBe(1);
  });
});

/**
 * Each guest's OS decides its verdict: not certified and past its end of support, certified with
 * an end of support near (a warning while it is in the future) or far, or no OS known. Both RHEL
 * are certified, so a move between them changes the OS and not the status.
 */
const VERDICTS: Record<string, { status: string; eolDate: string | null }> = {
  'win-2008': { status: 'not-certified', eolDate: '2020-01-14' },
  'rhel-8.10': { status: 'certified', eolDate: new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10) },
  'rhel-9.4': { status: 'certified', eolDate: '2032-05-31' },
};

/** A snapshot of kvm-01.example with these guests (vm0, vm1, … by position), judged by VERDICTS. */
function judged(seq: number, guests: { present: boolean; running: boolean; os: string | null }[]): JudgedInventory {
  const reported: Guest[] = guests.flatMap((g, i) =>
    g.present
      ? [
          {
            uuid: `0d2b8f3e-1111-4222-8333-94444444444${i}`,
            name: `vm${i}`,
            state: g.running ? 'running' : 'shutoff',
            os: { evidence: g.os ? [{ source: 'libosinfo', text: g.os }] : [] },
          } as Guest,
        ]
      : [],
  );
  return judgedSnapshot(
    seq,
    reported,
    (id) =>
      id
        ? { ...VERDICTS[id], verdict: { programs: [], lifecycle: { end: VERDICTS[id].eolDate } } }
        : {
            status: 'unknown',
            eolDate: null,
            verdict: { programs: [], osUnknownReason: 'the guest agent did not answer' },
          },
    'test',
  );
}

describe('alerts after each snapshot', () => {
  const guestArb = fc.record({
    present: fc.boolean(),
    running: fc.boolean(),
    os: fc.constantFrom('win-2008', 'rhel-8.10', 'rhel-9.4', null),
  });

  it.each([
    ['read back from the database', false],
    ['as the inventory store wrote them', true],
  ])(
    'are those a full reconciliation of the host would leave, whatever each snapshot changed (guests %s)',
    async (_, written) => {
      const db = openDatabase(await databases.target('sqlite'), { create: true });
      const store = new InventoryStore(db);
      const guestsWritten = vi.fn((agentName: string, keys: ReadonlySet<string>) =>
        store.guestsForRules(agentName, keys),
      );
      const engine = new AlertEngine(db, pino({ level: 'silent' }), {
        eolWarnDays: 90,
        silentAfterMs: 3_600_000,
        checkIntervalMs: 3_600_000,
        ...(written ? { guestsWritten } : {}),
      });
      open.push({ db, engine });
      new TokenStore(db).create('kvm-01');
      const firing = () =>
        listAlerts(db, { state: 'firing' })
          .map((a) => `${a.key} ${a.severity} ${a.message}`)
          .sort();
      let seq = 0;
      fc.assert(
        fc.property(
          fc.array(fc.array(guestArb, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
          (steps) => {
            for (const guests of steps) {
              const changes = store.apply('kvm-01', judged(++seq, guests)) ?? [];
              engine.hostChanged('kvm-01', changes);
              const incremental = firing();
              engine.store.reconcile('kvm-01', {
                today: today(),
                eolWarnDays: 90,
                silentAfterMs: 3_600_000,
                now: Date.now(),
              });
              expect(incremental).toEqual(firing());
            }
          },
        ),
        { numRuns: 60 },
      );
      // The runs raised alerts of each guest kind, so the comparison had something to compare.
      const kinds = new Set(listAlerts(db).map((a) => a.kind));
      expect([...kinds].sort()).toEqual(['guest-eol', 'guest-not-certified', 'guest-os-unknown']);
      // The full reconciliation reads the database; what each snapshot changed was read from the store.
      expect(guestsWritten.mock.results.some((r) => (r.value as unknown[] | null)?.length)).toBe(written);
    },
  );
});

describe('the silence check', () => {
  it('raises host-silent for exactly the hosts not heard from within the limit, and resolves it when they are heard again', async () => {
    const db = openDatabase(await databases.target('sqlite'), { create: true });
    const silentAfterMs = 60_000;
    const engine = new AlertEngine(db, pino({ level: 'silent' }), {
      eolWarnDays: 90,
      silentAfterMs,
      checkIntervalMs: 3_600_000,
    });
    open.push({ db, engine });
    const tokens = new TokenStore(db);
    const store = new InventoryStore(db);
    const silent = () =>
      listAlerts(db, { state: 'firing', kind: 'host-silent' })
        .map((a) => a.agent)
        .sort();
    // The first check is the hourly full pass; the ones after it are silence checks.
    engine.check();
    let seq = 0;
    // How many host-silent alerts the silence checks raised and resolved over all runs.
    let raised = 0;
    let resolved = 0;
    fc.assert(
      fc.property(
        // Seconds since each host was last heard from, never within 2 s of the limit (the check reads the clock).
        fc.array(
          fc.integer({ min: 0, max: 7_200 }).filter((s) => Math.abs(s * 1000 - silentAfterMs) > 2_000),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        (ages) => {
          const before = new Set(silent());
          const now = Date.now();
          ages.forEach((age, i) => {
            const agent = `kvm-${i}`;
            if (!store.lastSeq(agent)) tokens.create(agent);
            store.apply(agent, judged(++seq, []), new Date(now - age * 1000).toISOString());
          });
          engine.check();
          const expected = ages.flatMap((age, i) => (age * 1000 > silentAfterMs ? [`kvm-${i}`] : [])).sort();
          // Hosts of earlier runs beyond this one's count keep their state: only this run's are compared.
          expect(silent().filter((a) => Number(a.slice(4)) < ages.length)).toEqual(expected);
          const after = new Set(silent());
          raised += [...after].filter((a) => !before.has(a)).length;
          resolved += [...before].filter((a) => !after.has(a)).length;
        },
      ),
      { numRuns: 40 },
    );
    // The runs both raised and resolved alerts, so the comparisons above had both to compare; and
    // hosts left silent are candidates through their firing alert alone (none is older than 1970).
    expect(raised).toBeGreaterThan(0);
    expect(resolved).toBeGreaterThan(0);
    expect(engine.store.silenceCandidates(new Date(0).toISOString()).length).toBeGreaterThan(0);
  });
});
