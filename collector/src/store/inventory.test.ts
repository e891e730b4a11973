import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Guest, Inventory } from '@hvmap/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from './db.js';
import { type EvaluatedInventory, guestKeys, InventoryStore } from './inventory.js';
import { readReport } from './report.js';
import { TokenStore } from './tokens.js';

let dir: string;
let db: Db;
let store: InventoryStore;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-store-'));
  db = openDatabase(path.join(dir, 'hvmap.db'), { create: true });
  new TokenStore(db).create('kvm-01');
  store = new InventoryStore(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

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

/** Each guest's status: certified when its OS is known, unless `statusOf` says otherwise. */
function snapshot(
  seq: number,
  guests: Guest[],
  statusOf: (osId: string | null) => string = (osId) => (osId ? 'certified' : 'unknown'),
): EvaluatedInventory {
  const inventory: Inventory = {
    type: 'inventory',
    seq,
    collectedAt: new Date().toISOString(),
    host: { hostname: 'kvm-01.example', os: { platform: 'linux' }, cpu: {} },
    hypervisor: { driver: 'libvirt', product: 'kvm', version: '8.2.0' },
    guests,
    errors: [],
    partial: false,
  };
  const keys = guestKeys(guests);
  return {
    inventory,
    hypervisor: { id: 'kvm-rhel-9.2', product: 'kvm', version: 'RHEL 9.2', name: 'KVM on RHEL 9.2' },
    catalogVersion: 'test',
    guests: guests.map((g, i) => {
      const text = g.os.evidence[0]?.text ?? null;
      return {
        key: keys[i],
        guest: g,
        os: text ? { id: text, family: 'linux', distro: text.split('-')[0], version: '', name: text } : null,
        status: statusOf(text),
        eolDate: null,
        verdict: { programs: [] },
      };
    }),
  };
}

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

/**
 * Fails the n-th row write of the next statements (temporary triggers on every table a snapshot
 * writes), as a full disk or a read-only reopen would fail one statement in the middle of it.
 */
function failWrite(n: number): () => number {
  db.exec('CREATE TEMP TABLE IF NOT EXISTS failpoint (n INTEGER); DELETE FROM failpoint');
  db.prepare('INSERT INTO failpoint (n) VALUES (?)').run(n);
  for (const table of ['hosts', 'guests', 'changes', 'agents'])
    for (const op of ['INSERT', 'UPDATE'])
      db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS fail_${table}_${op} AFTER ${op} ON main.${table} BEGIN
        UPDATE failpoint SET n = n - 1;
        SELECT RAISE(ABORT, 'injected write failure') WHERE (SELECT n FROM failpoint) = 0;
      END`);
  return () => (db.prepare('SELECT n FROM failpoint').get() as { n: number }).n;
}

/** Everything a snapshot writes, as rows. */
function dump(): unknown {
  return ['hosts', 'guests', 'changes']
    .map((t) => db.prepare(`SELECT * FROM ${t} ORDER BY id`).all())
    .concat([db.prepare('SELECT name, last_seq FROM agents ORDER BY name').all()]);
}

describe('a write the database refuses', () => {
  const NOW = '2026-12-02T10:00:00.000Z';
  const first = () => snapshot(1, [guest('a', 'u-1', 'rhel-8.6'), guest('b', 'u-2', 'ubuntu-22.04')]);
  const second = () => snapshot(2, [guest('a', 'u-1', 'rhel-9.2', 'shutoff'), guest('c', 'u-3', null)]);

  /** How many row writes the snapshot makes when nothing fails. */
  function writesOf(before: EvaluatedInventory[], next: EvaluatedInventory): number {
    for (const b of before) store.apply('kvm-01', b, NOW);
    const left = failWrite(1_000_000);
    store.apply('kvm-01', next, NOW);
    return 1_000_000 - left();
  }

  for (const [title, before, next] of [
    ['the first snapshot of a new host', [], first],
    ['a snapshot that changes, adds and removes guests', [first], second],
  ] as const) {
    it(`${title}: whichever write fails, nothing is stored, and the resend is stored exactly once`, () => {
      const writes = writesOf(
        before.map((f) => f()),
        next(),
      );
      expect(writes).toBeGreaterThan(3);
      const expected = dump();
      for (let k = 1; k <= writes; k++) {
        db.close();
        rmSync(dir, { recursive: true, force: true });
        dir = mkdtempSync(path.join(tmpdir(), 'hvmap-store-'));
        db = openDatabase(path.join(dir, 'hvmap.db'), { create: true });
        new TokenStore(db).create('kvm-01');
        store = new InventoryStore(db);
        for (const b of before) store.apply('kvm-01', b(), NOW);
        const untouched = dump();
        failWrite(k);
        expect(() => store.apply('kvm-01', next(), NOW), `write ${k} of ${writes}`).toThrow(/injected write failure/);
        expect(dump(), `write ${k}: nothing stored`).toEqual(untouched);
        failWrite(-1);
        expect(store.apply('kvm-01', next(), NOW), `write ${k}: the resend`).not.toBeNull();
        expect(dump(), `write ${k}: stored once`).toEqual(expected);
        expect(store.apply('kvm-01', next(), NOW), `write ${k}: a second resend`).toBeNull();
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
