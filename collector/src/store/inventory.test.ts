import type { Guest } from '@hvmap/shared';
import { identifyHypervisor } from '@hvmap/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { judgedSnapshot } from '../../../test/helpers/judged-snapshot.js';
import {
  BACKENDS,
  type Backend,
  databaseTargets,
  failNthWrite,
  rowWrites,
} from '../../../test/helpers/store-backends.js';
import { loadCollectorCatalog } from '../collector.js';
import { Evaluator } from '../map/evaluator.js';
import { type Db, openDatabase } from './db.js';
import { InventoryStore, type JudgedInventory } from './inventory.js';
import { readReport } from './report.js';
import { guestKeys } from './reported.js';
import { TokenStore } from './tokens.js';

const databases = databaseTargets();
let backend: Backend;
let db: Db;
let store: InventoryStore;

/** A new database with the token kvm-01, and a store on it. */
async function freshStore(): Promise<void> {
  db = openDatabase(await databases.target(backend), { create: true });
  new TokenStore(db).create('kvm-01');
  store = new InventoryStore(db);
}

function guest(name: string, uuid: string, osId: string | null, state: Guest['state'] = 'running'): Guest {
  return {
    uuid,
    name,
    state,
    vcpus: 2,
    memoryBytes: 2 ** 31,
    os: { evidence: osId ? [{ source: 'libosinfo', text: osId }] : [] },
  };
}

/**
 * Each guest's status: certified when its OS is known, unless `statusOf` says otherwise. Another
 * `statusOf` stands for another catalog (its text is the snapshot's `judgedUnder`).
 */
function snapshot(
  seq: number,
  guests: Guest[],
  statusOf: (osId: string | null) => string = (osId) => (osId ? 'certified' : 'unknown'),
): JudgedInventory {
  return judgedSnapshot(
    seq,
    guests,
    (osId) => ({ status: statusOf(osId), eolDate: null, verdict: { programs: [] } }),
    statusOf.toString(),
  );
}

describe.each(BACKENDS)('the store on %s', (name) => {
  beforeEach(async () => {
    backend = name;
    await freshStore();
  });
  afterEach(() => db.close());

  describe('InventoryStore', () => {
    it('records a first snapshot as the host and every guest added', () => {
      const changes = store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-9.2'), guest('b', 'u-2', null)]));
      expect(changes.map((c) => c.kind)).toEqual(['host-added', 'guest-added', 'guest-added']);
      const report = readReport(db);
      expect(report.hosts).toHaveLength(1);
      expect(report.guests.map((g) => [g.name, g.status])).toEqual([
        ['a', 'certified'],
        ['b', 'unknown'],
      ]);
    });

    it('writes nothing for an unchanged snapshot', () => {
      store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-9.2')]));
      const before = db.prepare('SELECT COUNT(*) AS n FROM changes').get() as { n: number };
      expect(store.apply('kvm-01', snapshot(2, [guest('a', 'u-1', 'rhel-9.2')]))).toEqual([]);
      expect(db.prepare('SELECT COUNT(*) AS n FROM changes').get()).toEqual(before);
      expect(store.lastSeq('kvm-01')).toBe(2);
    });

    it('records OS, state, status changes and removals, and keeps the removed guest with its time', () => {
      store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-8.6'), guest('b', 'u-2', 'ubuntu-22.04')]));
      // The upgrade takes guest a out of the lists.
      const upgraded = snapshot(2, [guest('a', 'u-1', 'rhel-9.2', 'shutoff')], () => 'not-certified');
      const changes = store.apply('kvm-01', upgraded);
      expect(changes.map((c) => [c.kind, c.old, c.new])).toEqual([
        ['os-changed', 'rhel-8.6', 'rhel-9.2'],
        ['state-changed', 'running', 'shutoff'],
        ['status-changed', 'certified', 'not-certified'],
        ['guest-removed', 'b', null],
      ]);
      expect(readReport(db).guests.find((g) => g.name === 'a')?.status).toBe('not-certified');
      const removed = readReport(db).guests.find((g) => g.name === 'b');
      expect(removed?.removedAt).toMatch(/^\d{4}-/);
      expect(readReport(db, { includeRemoved: false }).guests.map((g) => g.name)).toEqual(['a']);
    });

    it('ignores a snapshot whose seq is already stored, so a resend is not counted twice', () => {
      store.apply('kvm-01', snapshot(5, [guest('a', 'u-1', 'rhel-9.2')]));
      expect(store.apply('kvm-01', snapshot(5, [guest('z', 'u-9', 'rhel-9.2')]))).toBeNull();
      expect(store.apply('kvm-01', snapshot(4, []))).toBeNull();
      expect(readReport(db).guests.map((g) => g.name)).toEqual(['a']);
    });

    it('diffs against the database after a restart, not only against memory', () => {
      store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-9.2')]));
      const restarted = new InventoryStore(db);
      expect(restarted.apply('kvm-01', snapshot(2, [guest('a', 'u-1', 'rhel-9.2')]))).toEqual([]);
      expect(restarted.apply('kvm-01', snapshot(3, [])).map((c) => c.kind)).toEqual(['guest-removed']);
    });

    it('keeps cloned guests that share a UUID as distinct guests', () => {
      expect(guestKeys([guest('a', 'same', null), guest('b', 'same', null), guest('c', 'other', null)])).toEqual([
        'same/a',
        'same/b',
        'other',
      ]);
      store.apply('kvm-01', snapshot(1, [guest('a', 'same', null), guest('b', 'same', null)]));
      expect(readReport(db).guests).toHaveLength(2);
    });

    it('brings back a removed guest that reappears as added again', () => {
      store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-9.2')]));
      store.apply('kvm-01', snapshot(2, []));
      const changes = store.apply('kvm-01', snapshot(3, [guest('a', 'u-1', 'rhel-9.2')]));
      expect(changes.map((c) => c.kind)).toEqual(['guest-added']);
      expect(readReport(db).guests[0].removedAt).toBeNull();
    });

    it('binds a token to the first agent id that says hello and refuses another', () => {
      expect(store.mayUseToken('kvm-01', 'agent-A')).toBe(true);
      store.recordHello('kvm-01', 'agent-A', '0.1.0');
      expect(store.mayUseToken('kvm-01', 'agent-A')).toBe(true);
      expect(store.mayUseToken('kvm-01', 'agent-B')).toBe(false);
    });
  });

  /** Fails the n-th row write of the next statements (test/helpers/store-backends.ts). */
  const failWrite = (n: number) => failNthWrite(db, backend, n);

  /** Everything a snapshot writes, as rows. */
  function dump(): unknown {
    // Row ids as ranks: PostgreSQL does not give back the ids a rolled-back insert took (SQLite does).
    const rows = (table: string) => db.prepare(`SELECT * FROM ${table} ORDER BY id`).all() as Record<string, unknown>[];
    const hosts = rows('hosts');
    const hostRank = new Map(hosts.map((h, i) => [h.id, i]));
    const ranked = (list: Record<string, unknown>[]) =>
      list.map((r, i) => ({ ...r, id: i, ...('host_id' in r ? { host_id: hostRank.get(r.host_id) } : {}) }));
    return [ranked(hosts), ranked(rows('guests')), ranked(rows('changes'))];
  }

  describe('InventoryStore diffing, one difference at a time', () => {
    const kinds = (changes: ReturnType<InventoryStore['apply']>) =>
      changes?.map((c) => [c.kind, c.guestName, c.old, c.new]);

    it('names an added guest by its OS, or "unidentified"; one change per column that changed', () => {
      expect(
        kinds(store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-9.2'), guest('b', 'u-2', null)]))),
      ).toEqual([
        ['host-added', null, null, 'kvm-01.example'],
        ['guest-added', 'a', null, 'rhel-9.2'],
        ['guest-added', 'b', null, 'unidentified'],
      ]);
      expect(
        kinds(store.apply('kvm-01', snapshot(2, [guest('a', 'u-1', 'rhel-9.2', 'shutoff'), guest('b', 'u-2', null)]))),
      ).toEqual([['state-changed', 'a', 'running', 'shutoff']]);
      expect(
        kinds(
          store.apply(
            'kvm-01',
            snapshot(3, [guest('a', 'u-1', 'rhel-9.2', 'shutoff'), guest('b', 'u-2', null)], () => 'not-certified'),
          ),
        ),
      ).toEqual([
        ['status-changed', 'a', 'certified', 'not-certified'],
        ['status-changed', 'b', 'unknown', 'not-certified'],
      ]);
      expect(
        kinds(
          store.apply(
            'kvm-01',
            snapshot(4, [guest('a', 'u-1', 'rhel-9.4', 'shutoff'), guest('b', 'u-2', null)], () => 'not-certified'),
          ),
        ),
      ).toEqual([['os-changed', 'a', 'rhel-9.2', 'rhel-9.4']]);
    });

    it('rewrites a guest whose own facts changed without a change to report, and stores them', () => {
      store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-9.2')]));
      const bigger = { ...guest('a', 'u-1', 'rhel-9.2'), vcpus: 8, memoryBytes: 2 ** 34 };
      expect(store.apply('kvm-01', snapshot(2, [bigger]))).toEqual([]);
      expect(db.prepare('SELECT vcpus, memory_bytes FROM guests').get()).toEqual({ vcpus: 8, memory_bytes: 2 ** 34 });
      const unsized = { ...guest('a', 'u-1', 'rhel-9.2'), vcpus: undefined, memoryBytes: undefined };
      store.apply('kvm-01', snapshot(3, [unsized]));
      expect(db.prepare('SELECT vcpus, memory_bytes FROM guests').get()).toEqual({ vcpus: null, memory_bytes: null });
    });

    it('stores every column a guest changed, the indexed ones included (an update names only those that moved)', () => {
      const eolOf = (osId: string | null) => (osId === 'rhel-8.6' ? '2025-05-31' : null);
      const judgedWithEol = (seq: number, guests: Guest[]) => {
        const s = snapshot(seq, guests);
        const judge = s.judge;
        return { ...s, judge: (g: Guest) => ({ ...judge(g), eolDate: eolOf(g.os.evidence[0]?.text ?? null) }) };
      };
      const columns = () => db.prepare('SELECT name, state, os_id, status, eol_date, removed_at FROM guests').all();
      store.apply('kvm-01', judgedWithEol(1, [guest('a', 'u-1', 'rhel-8.6')]));
      store.apply('kvm-01', judgedWithEol(2, [guest('renamed', 'u-1', null, 'shutoff')]));
      expect(columns()).toEqual([
        { name: 'renamed', state: 'shutoff', os_id: null, status: 'unknown', eol_date: null, removed_at: null },
      ]);
      store.apply('kvm-01', judgedWithEol(3, []));
      store.apply('kvm-01', judgedWithEol(4, [guest('a', 'u-1', 'rhel-8.6')]));
      expect(columns()).toEqual([
        {
          name: 'a',
          state: 'running',
          os_id: 'rhel-8.6',
          status: 'certified',
          eol_date: '2025-05-31',
          removed_at: null,
        },
      ]);
      // What the indexes hold agrees with the rows.
      expect(
        db.prepare("SELECT count(*) AS n FROM guests WHERE status = 'certified' AND removed_at IS NULL").get(),
      ).toEqual({ n: 1 });
      expect(db.prepare("SELECT name FROM guests WHERE os_id = 'rhel-8.6' AND removed_at IS NULL").all()).toEqual([
        { name: 'a' },
      ]);
    });

    it('reports the host changed when its hypervisor or facts did, and not when they did not', () => {
      store.apply('kvm-01', snapshot(1, []));
      const upgraded = snapshot(2, []);
      upgraded.inventory.hypervisor = { ...upgraded.inventory.hypervisor, version: '9.0.0' };
      expect(kinds(store.apply('kvm-01', upgraded))).toEqual([['host-changed', null, null, null]]);
      expect(db.prepare('SELECT hypervisor_json FROM hosts').get()).toEqual({
        hypervisor_json: JSON.stringify(upgraded.inventory.hypervisor),
      });
      const same = snapshot(3, []);
      same.inventory.hypervisor = upgraded.inventory.hypervisor;
      expect(store.apply('kvm-01', same)).toEqual([]);
    });

    it('keeps at most the cap of removed guests per host, the oldest going first', () => {
      const capped = new InventoryStore(db, { maxRemovedGuestsPerHost: 2, maxChangesPerHost: 100_000 });
      const guests = ['a', 'b', 'c', 'd'].map((n, i) => guest(n, `u-${i}`, 'rhel-9.2'));
      capped.apply('kvm-01', snapshot(1, guests));
      capped.apply('kvm-01', snapshot(2, guests.slice(1)), '2026-01-01T00:00:00Z');
      capped.apply('kvm-01', snapshot(3, guests.slice(2)), '2026-01-02T00:00:00Z');
      expect(readReport(db).guests.map((g) => g.name)).toEqual(['a', 'b', 'c', 'd']);
      capped.apply('kvm-01', snapshot(4, guests.slice(3)), '2026-01-03T00:00:00Z');
      expect(readReport(db).guests.map((g) => [g.name, g.removedAt])).toEqual([
        ['b', '2026-01-02T00:00:00Z'],
        ['c', '2026-01-03T00:00:00Z'],
        ['d', null],
      ]);
      // The guest forgotten comes back as a new guest.
      expect(kinds(capped.apply('kvm-01', snapshot(5, guests.slice(0, 1).concat(guests.slice(3)))))).toEqual([
        ['guest-added', 'a', null, 'rhel-9.2'],
      ]);
    });

    it('keeps at most the cap of change rows per host, trimming once a tenth of it was written', () => {
      const capped = new InventoryStore(db, { maxRemovedGuestsPerHost: 10_000, maxChangesPerHost: 20 });
      const count = () => (db.prepare('SELECT COUNT(*) AS n FROM changes').get() as { n: number }).n;
      for (let seq = 1; seq <= 30; seq++)
        capped.apply('kvm-01', snapshot(seq, [guest('a', 'u-1', 'rhel-9.2', seq % 2 ? 'running' : 'shutoff')]));
      // The last trim (after change 30) kept the 20 newest, 11 to 30; change 31 came after it.
      expect(count()).toBe(21);
      expect(db.prepare('SELECT min(id) AS lo FROM changes').get()).toEqual({ lo: 11 });
      const newest = db.prepare('SELECT max(id) AS id FROM changes').get() as { id: number };
      expect(newest.id).toBe(31);
    });

    it('forgets what is older than the cut: removed guests, changes, resolved alerts', () => {
      store.apply(
        'kvm-01',
        snapshot(1, [guest('a', 'u-1', 'rhel-9.2'), guest('b', 'u-2', 'rhel-9.2')]),
        '2026-01-01T00:00:00Z',
      );
      store.apply('kvm-01', snapshot(2, [guest('a', 'u-1', 'rhel-9.2')]), '2026-01-02T00:00:00Z');
      store.apply('kvm-01', snapshot(3, [guest('a', 'u-1', 'rhel-9.2', 'shutoff')]), '2026-01-05T00:00:00Z');
      expect(store.prune('2026-01-03T00:00:00Z')).toEqual({ guests: 1, changes: 4, alerts: 0 });
      expect(readReport(db).guests.map((g) => g.name)).toEqual(['a']);
      expect(db.prepare('SELECT kind FROM changes').all()).toEqual([{ kind: 'state-changed' }]);
      // The cache was reloaded: the next snapshot diffs against what is left.
      expect(
        kinds(
          store.apply('kvm-01', snapshot(4, [guest('a', 'u-1', 'rhel-9.2', 'shutoff'), guest('b', 'u-2', 'rhel-9.2')])),
        ),
      ).toEqual([['guest-added', 'b', null, 'rhel-9.2']]);
    });

    it('re-evaluates present guests under a new evaluation, writing and reporting only what changed', () => {
      store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-9.2'), guest('b', 'u-2', 'ubuntu-22.04')]));
      store.apply('kvm-01', snapshot(2, [guest('a', 'u-1', 'rhel-9.2')]));
      const seen: string[] = [];
      const result = store.reevaluateAll(
        () => ({
          guest: (g) => {
            seen.push(g.name);
            const text = g.os.evidence[0]?.text ?? null;
            return {
              os: text ? { id: text, family: 'linux', distro: text.split('-')[0], version: '', name: text } : null,
              status: 'not-certified',
              eolDate: null,
              verdict: { programs: [] },
            };
          },
          input: () => {
            throw new Error('these guests carry no evaluation input');
          },
        }),
        'catalog-2',
        '2026-02-01T00:00:00Z',
      );
      expect(seen).toEqual(['a']);
      expect([...result].map(([agent, changes]) => [agent, kinds(changes)])).toEqual([
        ['kvm-01', [['status-changed', 'a', 'certified', 'not-certified']]],
      ]);
      expect(store.lastCatalogRun()).toBe('catalog-2');
      expect(db.prepare('SELECT version, guests, changes FROM catalog_runs').all()).toEqual([
        { version: 'catalog-2', guests: 1, changes: 1 },
      ]);
      expect(readReport(db).guests.find((g) => g.name === 'a')?.status).toBe('not-certified');
    });
  });

  describe('InventoryStore: what it keeps besides the guests', () => {
    let totalChanges: () => number;
    beforeEach(() => {
      totalChanges = rowWrites(db, backend);
    });
    const guests = (n: number) => Array.from({ length: n }, (_, i) => guest(`g${i}`, `u-${i}`, 'rhel-9.2'));

    it('stores the identified hypervisor of the host', () => {
      store.apply('kvm-01', snapshot(1, []));
      expect(db.prepare('SELECT hypervisor_id, hypervisor_name FROM hosts').get()).toEqual({
        hypervisor_id: 'kvm-rhel-9.2',
        hypervisor_name: 'KVM on RHEL 9.2',
      });
    });

    it('rewrites no guest row for an unchanged snapshot, however many guests the host has', () => {
      const written = (n: number) => {
        const agent = `kvm-${n}`;
        new TokenStore(db).create(agent);
        store.apply(agent, snapshot(1, guests(n)));
        const before = totalChanges();
        store.apply(agent, snapshot(2, guests(n)));
        return totalChanges() - before;
      };
      expect(written(50)).toBe(written(1));
    });

    it('knows, after a restart, which guests had left: one that returns is added again', () => {
      store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', null), guest('b', 'u-2', 'rhel-9.2')]));
      store.apply('kvm-01', snapshot(2, [guest('b', 'u-2', 'rhel-9.2')]));
      const restarted = new InventoryStore(db);
      expect(
        restarted
          .apply('kvm-01', snapshot(3, [guest('a', 'u-1', null), guest('b', 'u-2', 'rhel-9.2')]))
          ?.map((c) => [c.kind, c.guestName, c.new]),
      ).toEqual([['guest-added', 'a', 'unidentified']]);
    });

    it("records one connection's close unless a newer one holds its agent, and clears every mark after a restart", () => {
      const tokens = new TokenStore(db);
      tokens.create('kvm-02');
      const nextMillisecond = () => {
        const now = Date.now();
        while (Date.now() === now);
      };
      const first = store.recordHello('kvm-01', 'id-1', '0.1.0');
      store.recordHello('kvm-02', 'id-2', '0.1.0');
      store.recordDisconnect('kvm-01', first);
      expect([tokens.isConnected('kvm-01'), tokens.isConnected('kvm-02')]).toEqual([false, true]);
      // The agent reconnects, then moves to another collector on the same database before the first
      // connection's close is recorded: that late close leaves the newer connection's mark.
      const older = store.recordHello('kvm-01', 'id-1', '0.1.0');
      nextMillisecond();
      const newer = store.recordHello('kvm-01', 'id-1', '0.1.0');
      store.recordDisconnect('kvm-01', older);
      expect(tokens.isConnected('kvm-01')).toBe(true);
      store.recordDisconnect('kvm-01', newer);
      expect(tokens.isConnected('kvm-01')).toBe(false);
      store.recordHello('kvm-01', 'id-1', '0.1.0');
      store.clearConnections();
      expect([tokens.isConnected('kvm-01'), tokens.isConnected('kvm-02')]).toEqual([false, false]);
    });

    it('re-evaluates every host, reporting only those whose guests changed', () => {
      new TokenStore(db).create('kvm-02');
      store.apply('kvm-01', snapshot(1, [guest('a', 'u-1', 'rhel-9.2')]));
      store.apply('kvm-02', snapshot(1, [guest('b', 'u-2', 'ubuntu-22.04')]));
      const restarted = new InventoryStore(db);
      const result = restarted.reevaluateAll(
        () => ({
          guest: (g) => {
            const text = g.os.evidence[0]?.text ?? null;
            return {
              os: text ? { id: text, family: 'linux', distro: text.split('-')[0], version: '', name: text } : null,
              status: text === 'rhel-9.2' ? 'not-certified' : 'certified',
              eolDate: null,
              verdict: { programs: [] },
            };
          },
          input: () => {
            throw new Error('read back after a restart: no evaluation input');
          },
        }),
        'catalog-3',
      );
      expect([...result.keys()]).toEqual(['kvm-01']);
      expect(db.prepare('SELECT guests, changes FROM catalog_runs').get()).toEqual({ guests: 2, changes: 1 });
    });
  });

  describe('InventoryStore: re-evaluation from the inputs it keeps', () => {
    const evaluator = new Evaluator(loadCollectorCatalog());
    const judged = (seq: number, guests: Guest[]) => evaluator.judgeInventory(snapshot(seq, guests).inventory);
    const libosinfo = (name: string, uuid: string, id: string): Guest => ({
      ...guest(name, uuid, null),
      os: { evidence: [{ source: 'libosinfo', text: id }] },
    });
    const fleet = [
      libosinfo('a', 'u-1', 'http://redhat.com/rhel/9.2'),
      libosinfo('b', 'u-2', 'http://redhat.com/rhel/9.2'),
      libosinfo('c', 'u-3', 'http://microsoft.com/win/2k22'),
    ];
    const kinds = (changes: ReturnType<InventoryStore['apply']>) =>
      changes?.map((c) => [c.kind, c.guestName, c.old, c.new]);
    const readGuests = () =>
      db.prepare('SELECT name, os_id, status, catalog_version FROM guests ORDER BY name').all() as {
        name: string;
        os_id: string | null;
        status: string;
        catalog_version: string;
      }[];

    it('judges each present guest from its kept input, writes only the verdicts that changed, and a later unchanged snapshot writes nothing', () => {
      const total = rowWrites(db, backend);
      store.apply('kvm-01', judged(1, fleet));
      let mark = total();
      store.apply('kvm-01', judged(2, fleet));
      // What a snapshot that changes nothing writes (the host's contact and seq): no guest row.
      const unchangedWrites = total() - mark;
      const before = readGuests();
      const seen: string[] = [];
      const rejudged = new Map<string, Set<string>>();
      // A new catalog in which RHEL 9.2 is no longer certified here, and Windows keeps its status with
      // another verdict (a new note): every verdict object changes.
      const result = store.reevaluateAll(
        (hv) => {
          const identity = identifyHypervisor(hv);
          return {
            guest: () => {
              throw new Error('every guest was reported since the store started: none is read back');
            },
            input: (input) => {
              const r = evaluator.evaluateInput(input, identity);
              seen.push(r.os?.id ?? '?');
              return r.os?.id === 'rhel-9.2'
                ? { ...r, status: 'not-certified', verdict: { ...(r.verdict as object), status: 'not-certified' } }
                : { ...r, verdict: { ...(r.verdict as object), note: 'reworded by the vendor' } };
            },
          };
        },
        'catalog-2',
        '2026-02-01T00:00:00Z',
        rejudged,
      );
      expect(seen.sort()).toEqual(['rhel-9.2', 'rhel-9.2', before[2].os_id]);
      // c changed no column a change row speaks of, but its verdict is new: the alerts must see it.
      expect(rejudged).toEqual(new Map([['kvm-01', new Set(['u-1', 'u-2', 'u-3'])]]));
      expect([...result].map(([agent, changes]) => [agent, kinds(changes)])).toEqual([
        [
          'kvm-01',
          [
            ['status-changed', 'a', before[0].status, 'not-certified'],
            ['status-changed', 'b', before[1].status, 'not-certified'],
          ],
        ],
      ]);
      const after = readGuests();
      expect(after.map((g) => [g.name, g.status, g.catalog_version])).toEqual([
        ['a', 'not-certified', 'catalog-2'],
        ['b', 'not-certified', 'catalog-2'],
        ['c', before[2].status, 'catalog-2'],
      ]);
      expect(db.prepare('SELECT guests, changes FROM catalog_runs').get()).toEqual({ guests: 3, changes: 2 });

      // Judged again as the agent reports it (the catalog in force says certified again): rows follow,
      // and a snapshot that repeats it is then written nowhere.
      expect(seen).toHaveLength(3);
      expect(kinds(store.apply('kvm-01', judged(3, fleet)))).toEqual([
        ['status-changed', 'a', 'not-certified', before[0].status],
        ['status-changed', 'b', 'not-certified', before[1].status],
      ]);
      mark = total();
      expect(store.apply('kvm-01', judged(4, fleet))).toEqual([]);
      expect(total() - mark).toBe(unchangedWrites);
    });
  });

  describe('a write the database refuses', () => {
    const NOW = '2026-12-02T10:00:00.000Z';
    const first = () => snapshot(1, [guest('a', 'u-1', 'rhel-8.6'), guest('b', 'u-2', 'ubuntu-22.04')]);
    const second = () => snapshot(2, [guest('a', 'u-1', 'rhel-9.2', 'shutoff'), guest('c', 'u-3', null)]);

    /** How many row writes the snapshot makes when nothing fails. */
    function writesOf(before: JudgedInventory[], next: JudgedInventory): number {
      for (const b of before) store.apply('kvm-01', b, NOW);
      const left = failWrite(1_000_000);
      store.apply('kvm-01', next, NOW);
      return 1_000_000 - left();
    }

    // As ingest stores it (in one commit with what follows, without a savepoint of its own, or with one
    // when it stores a turn again after a failure), and alone.
    const ways = {
      alone: (s: JudgedInventory) => store.apply('kvm-01', s, NOW),
      'in one commit': (s: JudgedInventory) =>
        store.inOneCommit(() => store.apply('kvm-01', s, NOW), { savepoints: false }),
      'in one commit, with a savepoint': (s: JudgedInventory) =>
        store.inOneCommit(() => store.apply('kvm-01', s, NOW), { savepoints: true }),
    };
    for (const [title, before, next, way] of [
      ['the first snapshot of a new host', [], first, 'alone'],
      ['a snapshot that changes, adds and removes guests', [first], second, 'alone'],
      ['a snapshot that changes, adds and removes guests', [first], second, 'in one commit'],
      ['a snapshot that changes, adds and removes guests', [first], second, 'in one commit, with a savepoint'],
    ] as const) {
      const applyNext = (s: JudgedInventory) => ways[way](s);
      it(`${title} (${way}): whichever write fails, nothing is stored, and the resend is stored exactly once`, async () => {
        const writes = writesOf(
          before.map((f) => f()),
          next(),
        );
        expect(writes).toBeGreaterThan(3);
        const expected = dump();
        for (let k = 1; k <= writes; k++) {
          db.close();
          await freshStore();
          for (const b of before) store.apply('kvm-01', b(), NOW);
          const untouched = dump();
          failWrite(k);
          expect(() => applyNext(next()), `write ${k} of ${writes}`).toThrow(/injected write failure/);
          expect(dump(), `write ${k}: nothing stored`).toEqual(untouched);
          failWrite(-1);
          expect(applyNext(next()), `write ${k}: the resend`).not.toBeNull();
          expect(dump(), `write ${k}: stored once`).toEqual(expected);
          expect(applyNext(next()), `write ${k}: a second resend`).toBeNull();
          // The agent's next snapshot is stored too (no stale host id, no foreign-key error).
          expect(store.apply('kvm-01', snapshot(3, [guest('d', 'u-4', null)]), NOW)).not.toBeNull();
        }
      });
    }
  });

  describe('TokenStore', () => {
    it('stores only a hash, authenticates the token and refuses it once revoked', () => {
      const tokens = new TokenStore(db);
      const { token } = tokens.create('host-2');
      const stored = db.prepare('SELECT token_hash FROM agents WHERE name = ?').get('host-2') as { token_hash: string };
      expect(stored.token_hash).not.toContain(token);
      expect(tokens.authenticate(token)).toBe('host-2');
      expect(tokens.authenticate(`${token}x`)).toBeNull();
      tokens.revoke('host-2');
      expect(tokens.authenticate(token)).toBeNull();
      expect(tokens.list().find((t) => t.name === 'host-2')?.revokedAt).not.toBeNull();
    });

    it('refuses a duplicate active name and an invalid one with stable codes', () => {
      const tokens = new TokenStore(db);
      expect(() => tokens.create('kvm-01')).toThrow(expect.objectContaining({ code: 'TOKEN_NAME_TAKEN' }));
      expect(() => tokens.create('bad name')).toThrow(expect.objectContaining({ code: 'TOKEN_NAME_INVALID' }));
      expect(() => tokens.revoke('nobody')).toThrow(expect.objectContaining({ code: 'TOKEN_NOT_FOUND' }));
    });
  });
});
