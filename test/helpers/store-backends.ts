/**
 * The store's contract tests run on both backends: an SQLite file and a database on a real PostgreSQL
 * server (started once per test file, on first use). What the tests look at below the store (how
 * many rows a call wrote, a write made to fail) is asked of each database in its own SQL here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { Db } from '../../collector/src/store/db.js';
import { startPostgres, type TestPostgres } from './postgres.js';

export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

/** Fresh `--db` targets: a new SQLite file, or a new database on this file's PostgreSQL server. */
export function databaseTargets(): { target(backend: Backend): Promise<string>; postgres(): Promise<TestPostgres> } {
  let server: Promise<TestPostgres> | undefined;
  const dirs: string[] = [];
  afterAll(async () => {
    if (server) (await server).destroy();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const postgres = () => {
    server ??= startPostgres();
    return server;
  };
  return {
    postgres,
    async target(backend) {
      if (backend === 'postgres') return (await postgres()).createDatabase();
      const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-store-'));
      dirs.push(dir);
      return path.join(dir, 'hvmap.db');
    },
  };
}

const WRITTEN_TABLES = ['hosts', 'guests', 'changes', 'agents', 'alerts', 'catalog_runs'];

/** How many rows the database has inserted, updated or deleted so far (SQLite's total_changes()). */
export function rowWrites(db: Db, backend: Backend): () => number {
  if (backend === 'sqlite') return () => (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  db.exec(`CREATE TABLE IF NOT EXISTS test_row_writes (n BIGINT NOT NULL);
    INSERT INTO test_row_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM test_row_writes);
    CREATE OR REPLACE FUNCTION test_count_write() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN UPDATE test_row_writes SET n = n + 1; RETURN NULL; END $$;`);
  for (const table of WRITTEN_TABLES)
    db.exec(`CREATE OR REPLACE TRIGGER test_count_${table} AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION test_count_write()`);
  return () => (db.prepare('SELECT n FROM test_row_writes').get() as { n: number }).n;
}

/**
 * Fails the n-th row insert or update of the next statements on the tables a snapshot writes, as a
 * full disk would fail one statement in the middle of it; returns how many writes are left before
 * the failure (so a large n counts a call's writes).
 */
export function failNthWrite(db: Db, backend: Backend, n: number): () => number {
  const tables = ['hosts', 'guests', 'changes', 'agents'];
  if (backend === 'sqlite') {
    db.exec('CREATE TEMP TABLE IF NOT EXISTS failpoint (n INTEGER); DELETE FROM failpoint');
    db.prepare('INSERT INTO failpoint (n) VALUES (?)').run(n);
    for (const table of tables)
      for (const op of ['INSERT', 'UPDATE'])
        db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS fail_${table}_${op} AFTER ${op} ON main.${table} BEGIN
          UPDATE failpoint SET n = n - 1;
          SELECT RAISE(ABORT, 'injected write failure') WHERE (SELECT n FROM failpoint) = 0;
        END`);
  } else {
    db.exec(`CREATE TABLE IF NOT EXISTS test_failpoint (n BIGINT); DELETE FROM test_failpoint;
      CREATE OR REPLACE FUNCTION test_failpoint_hit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        UPDATE test_failpoint SET n = n - 1;
        IF (SELECT n FROM test_failpoint) = 0 THEN RAISE EXCEPTION 'injected write failure'; END IF;
        RETURN NULL;
      END $$;`);
    db.prepare('INSERT INTO test_failpoint (n) VALUES (?)').run(n);
    for (const table of tables)
      db.exec(`CREATE OR REPLACE TRIGGER test_fail_${table} AFTER INSERT OR UPDATE ON ${table}
        FOR EACH ROW EXECUTE FUNCTION test_failpoint_hit()`);
  }
  const table = backend === 'sqlite' ? 'failpoint' : 'test_failpoint';
  return () => (db.prepare(`SELECT n FROM ${table}`).get() as { n: number }).n;
}
