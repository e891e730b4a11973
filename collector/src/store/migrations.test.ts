import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, type Backend, databaseTargets } from '../../../test/helpers/store-backends.js';
import { DatabaseFileError, type Db, openDatabase } from './db.js';
import { InventoryStore } from './inventory.js';
import { MIGRATIONS, postgresSql } from './migrations.js';
import { PostgresDatabase } from './postgres/database.js';

const databases = databaseTargets();
const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

/** The database as a collector of schema version `version` left it, with one agent token in it. */
function databaseAt(backend: Backend, target: string, version: number): Db {
  const db: Db = backend === 'sqlite' ? new Database(target) : new PostgresDatabase(target);
  open.push(db);
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  for (const m of MIGRATIONS.filter((m) => m.version <= version)) {
    db.exec(backend === 'sqlite' ? m.sql : postgresSql(m));
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, '2026-01-01T00:00:00Z');
  }
  db.prepare("INSERT INTO agents (name, token_hash, created_at) VALUES ('kvm-01', 'h', '2026-01-01T00:00:00Z')").run();
  return db;
}

const LATEST = MIGRATIONS[MIGRATIONS.length - 1].version;

describe.each(BACKENDS)('migrations on %s', (backend) => {
  const versions = (db: Db) =>
    (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map(
      (r) => r.version,
    );

  it('build every table on an empty database', async () => {
    const db = openDatabase(await databases.target(backend), { create: true });
    open.push(db);
    expect(versions(db)).toEqual(MIGRATIONS.map((m) => m.version));
    db.prepare("INSERT INTO agents (name, token_hash, created_at) VALUES ('a', 'h', 'now')").run();
    expect(db.prepare('SELECT kind, poll_error FROM agents').get()).toEqual({ kind: 'agent', poll_error: null });
  });

  for (const from of MIGRATIONS.slice(0, -1).map((m) => m.version))
    it(`bring a database of version ${from} to ${LATEST}, keeping its rows`, async () => {
      const target = await databases.target(backend);
      databaseAt(backend, target, from).close();
      open.pop();
      const db = openDatabase(target);
      open.push(db);
      expect(versions(db)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(db.prepare('SELECT name, kind, connected_at FROM agents').all()).toEqual([
        { name: 'kvm-01', kind: 'agent', connected_at: null },
      ]);
      // A guest's memory beyond 32 bits, and row ids numbered by the database.
      db.prepare(
        `INSERT INTO hosts (agent_name, hostname, facts_json, hypervisor_json, first_seen, last_report_at, last_contact_at)
         VALUES ('kvm-01', 'h', '{}', '{}', 'now', 'now', 'now')`,
      ).run();
      const guest = `INSERT INTO guests (host_id, guest_key, uuid, name, state, memory_bytes, details_json, os_evidence_json,
          status, verdict_json, catalog_version, first_seen, last_seen)
        VALUES (1, ?, 'u', 'g', 'running', ?, '{}', '{}', 'unknown', '{}', 'c', 'now', 'now') RETURNING id`;
      expect(db.prepare(guest).get('k1', 2 ** 40)).toEqual({ id: 1 });
      expect(db.prepare(guest).get('k2', 2 ** 40)).toEqual({ id: 2 });
      expect(db.prepare('SELECT memory_bytes FROM guests WHERE id = 2').get()).toEqual({ memory_bytes: 2 ** 40 });
    });

  it("move each agent's last seq into its host's row (version 8), where the store reads it", async () => {
    const target = await databases.target(backend);
    const old = databaseAt(backend, target, 7);
    old.prepare("INSERT INTO agents (name, token_hash, created_at) VALUES ('kvm-02', 'h2', 'now')").run();
    old.prepare("UPDATE agents SET last_seq = 41 WHERE name = 'kvm-01'").run();
    old
      .prepare(
        `INSERT INTO hosts (agent_name, hostname, facts_json, hypervisor_json, first_seen, last_report_at, last_contact_at)
         VALUES ('kvm-01', 'h', '{}', '{}', 'now', 'now', 'now')`,
      )
      .run();
    old.close();
    open.pop();
    const db = openDatabase(target);
    open.push(db);
    const store = new InventoryStore(db);
    expect([store.lastSeq('kvm-01'), store.lastSeq('kvm-02')]).toEqual([41, null]);
    expect(Object.keys(db.prepare('SELECT * FROM agents').get() as object)).not.toContain('last_seq');
  });

  it('refuse a database a newer hvmap wrote, and one that is not hvmap’s', async () => {
    const newer = await databases.target(backend);
    const db = databaseAt(backend, newer, LATEST);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(LATEST + 1, 'from the future', 'now');
    expect(() => openDatabase(newer)).toThrow(
      expect.objectContaining({ code: 'NEWER_DATABASE', message: expect.stringMatching(/upgrade hvmap/) }),
    );
    const foreign = await databases.target(backend);
    const other: Db = backend === 'sqlite' ? new Database(foreign) : new PostgresDatabase(foreign);
    open.push(other);
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    expect(() => openDatabase(foreign, { create: true })).toThrow(
      expect.objectContaining({ code: 'NOT_HVMAP_DATABASE', message: expect.stringMatching(/invoices/) }),
    );
  });
});

describe("the alerts' state index (version 9) on SQLite", () => {
  it("serves the firing count by severity from the index alone, and an agent's firing alerts", () => {
    const db = openDatabase(':memory:', { create: true });
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan("SELECT severity, COUNT(*) AS n FROM alerts WHERE state = 'firing' GROUP BY severity")).toContain(
      'COVERING INDEX alerts_state (state=?)',
    );
    expect(plan("SELECT alert_key FROM alerts WHERE agent_name = 'a' AND state = 'firing'")).toContain(
      'INDEX alerts_state (state=? AND agent_name=?)',
    );
    const indexes = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' AND sql IS NOT NULL",
    );
    expect(indexes.all()).toEqual([{ name: 'alerts_updated' }, { name: 'alerts_state' }]);
    db.close();
  });
});

describe('a PostgreSQL URL that cannot be used', () => {
  it('names the server it cannot reach, without the password', async () => {
    const server = await databases.postgres();
    const url = `postgres://postgres:hunter2@127.0.0.1:${server.port + 1}/hvmap`;
    let error: DatabaseFileError | undefined;
    try {
      openDatabase(url);
    } catch (err) {
      error = err as DatabaseFileError;
    }
    expect(error).toBeInstanceOf(DatabaseFileError);
    expect(error?.code).toBe('DATABASE_UNREACHABLE');
    expect(error?.message).toMatch(/ECONNREFUSED/);
    expect(error?.message).toContain(`127.0.0.1:${server.port + 1}`);
    expect(error?.message).not.toContain('hunter2');
  });

  it('says a database that does not exist is to be created', async () => {
    const server = await databases.postgres();
    expect(() => openDatabase(`postgres://postgres@127.0.0.1:${server.port}/nowhere`)).toThrow(
      expect.objectContaining({ code: 'NO_DATABASE', message: expect.stringMatching(/nowhere.*createdb/) }),
    );
  });
});
