import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, postgresSql } from './migrations.js';
import { PostgresDatabase } from './postgres/database.js';
import { PostgresError } from './postgres/sync-client.js';

export interface RunResult {
  changes: number;
}

export interface Statement {
  run(...params: unknown[]): RunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

/**
 * What the store needs of a database: better-sqlite3's calls, which an SQLite handle has and
 * PostgresDatabase gives on PostgreSQL (--db postgres://…). Statements are written in the SQL both speak.
 */
export interface Db {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

/** The databases in a transaction of `withoutSavepoints`, with the first failure of a write in it. */
const savepointless = new WeakMap<Db, { failure?: unknown }>();

/**
 * Runs `write` in a transaction of its own, or in a savepoint when one is open (what a failure undoes
 * is then `write`'s alone); within `withoutSavepoints`, as is.
 */
export function atomicWrite<R>(db: Db, write: () => R): R {
  const open = savepointless.get(db);
  if (!open) return db.transaction(write)();
  try {
    return write();
  } catch (err) {
    open.failure ??= err;
    throw err;
  }
}

/** What `withoutSavepoints` ran failed (`failure`): its transaction was rolled back whole. */
export class RolledBackWhole extends Error {
  constructor(readonly failure: unknown) {
    super(`the whole transaction was rolled back (${(failure as Error)?.message ?? failure})`);
  }
}

/**
 * Runs `fn` in one transaction in which `atomicWrite` takes no savepoint. SQLite copies into a
 * savepoint's journal every page it changes that the transaction had changed already, and writes it to
 * a file past 64 KiB: with a savepoint per snapshot in a commit of hundreds, most of their write calls
 * (test/bench NOTES §1). Without them a failed write cannot be undone alone: when `fn` throws, or a
 * write in it failed whether or not its caller went on, the whole transaction is rolled back and
 * `RolledBackWhole` thrown, for the caller to do it again with savepoints. A transaction that cannot
 * begin or commit throws as `transaction` does.
 */
export function withoutSavepoints<R>(db: Db, fn: () => R): R {
  const open: { failure?: unknown } = {};
  return db.transaction(() => {
    savepointless.set(db, open);
    try {
      const result = fn();
      if ('failure' in open) throw new RolledBackWhole(open.failure);
      return result;
    } catch (err) {
      throw err instanceof RolledBackWhole ? err : new RolledBackWhole(err);
    } finally {
      savepointless.delete(db);
    }
  })();
}

/** `--db` names a PostgreSQL database (a URL) rather than an SQLite file. */
export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/** The URL without its password, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** A path that is not an hvmap database, or none where one was expected; the CLI answers these with exit 2. */
export class DatabaseFileError extends Error {
  constructor(
    readonly code: 'NO_DATABASE' | 'NOT_HVMAP_DATABASE' | 'NEWER_DATABASE' | 'DATABASE_UNREACHABLE',
    message: string,
  ) {
    super(message);
  }
}

export interface OpenOptions {
  readonly?: boolean;
  /**
   * Create the file (and its folders) when it does not exist. Only `hvmap serve` and an explicit
   * `--create` do: a mistyped --db elsewhere would otherwise hand out tokens no collector knows.
   */
  create?: boolean;
  /** What else the command could be given instead, said when there is no database. */
  orElse?: string;
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** The one place the collector opens its database: WAL, foreign keys, migrations applied. */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  if (isPostgresUrl(file)) return openPostgres(file, options.readonly ?? false);
  const readonly = options.readonly ?? false;
  if (file !== ':memory:') {
    checkFile(file, options.create === true && !readonly, options.orElse);
    if (!readonly) {
      mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      ownerOnly(file);
    }
  }
  const db = new Database(file, { readonly, fileMustExist: readonly });
  try {
    db.pragma('busy_timeout = 5000');
    if (file !== ':memory:') {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
      checkSchema(db, file, 'an SQLite', tables, readonly);
    }
    if (readonly) return db;
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a power loss may drop the last commits but never corrupts; agents resend
    // whatever was not acknowledged, and acks are sent only after the commit.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, false);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function openPostgres(url: string, readonly: boolean): Db {
  const label = redactedUrl(url);
  const db = new PostgresDatabase(url);
  try {
    const tables = db
      .prepare('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()')
      .all() as { name: string }[];
    checkSchema(db, label, 'a PostgreSQL', tables, readonly);
    if (readonly) db.exec('SET default_transaction_read_only = on');
    else migrate(db, true);
    return db;
  } catch (err) {
    db.close();
    throw err instanceof PostgresError ? openingError(label, err) : err;
  }
}

/** A database that does not exist, or a server that cannot be reached or refuses us, said as such. */
function openingError(label: string, err: PostgresError): Error {
  if (err.code === '3D000')
    return new DatabaseFileError(
      'NO_DATABASE',
      `${label}: ${err.message} (create it with createdb; hvmap makes its tables)`,
    );
  const sqlState = /^[0-9A-Z]{5}$/.test(err.code ?? '');
  if (!sqlState || err.code?.startsWith('08') || err.code?.startsWith('28'))
    return new DatabaseFileError('DATABASE_UNREACHABLE', `cannot use PostgreSQL at ${label}: ${err.message}`);
  return err;
}

/**
 * What creating `file` would add (the file, or the topmost of its folders that does not exist yet),
 * returned as its removal: a collector that cannot start (a busy port) leaves nothing behind.
 */
export function creationUndo(file: string): () => void {
  const target = path.resolve(file);
  if (file === ':memory:' || existsSync(target)) return () => {};
  let top = target;
  while (!existsSync(path.dirname(top))) top = path.dirname(top);
  return () => {
    for (const f of top === target ? [target, `${target}-wal`, `${target}-shm`] : [top])
      rmSync(f, { recursive: true, force: true });
  };
}

/** Refuses, by name, a missing file (unless creating), a folder, and a file that is not SQLite. */
function checkFile(file: string, create: boolean, orElse = ''): void {
  let stat: Stats;
  try {
    stat = statSync(file);
  } catch {
    if (create) return;
    throw new DatabaseFileError(
      'NO_DATABASE',
      `no database at ${file}: give the --db that hvmap serve uses (serve creates its database)${orElse ? `, or ${orElse}` : ''}`,
    );
  }
  if (!stat.isFile())
    throw new DatabaseFileError('NOT_HVMAP_DATABASE', `${file} is not a file: --db takes a database file`);
  // An empty file is what an interrupted first start leaves: SQLite (and hvmap) treat it as new.
  if (stat.size === 0) return;
  const head = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!head.equals(SQLITE_HEADER))
    throw new DatabaseFileError('NOT_HVMAP_DATABASE', `${file} is not an hvmap database (not an SQLite file)`);
}

/** A database with other tables and no hvmap migrations is someone else's: never migrate into it. */
function checkSchema(db: Db, file: string, kind: string, rows: { name: string }[], readonly: boolean): void {
  const tables = rows.map((r) => r.name);
  if (tables.length === 0) {
    if (readonly) throw new DatabaseFileError('NOT_HVMAP_DATABASE', `${file} is empty: no collector has used it yet`);
    return;
  }
  let first: { name?: string } | undefined;
  try {
    first = db.prepare('SELECT * FROM schema_migrations WHERE version = 1').get() as { name?: string } | undefined;
  } catch {
    // No such table, or another program's table of that name without a version column.
  }
  if (first?.name !== MIGRATIONS[0].name)
    throw new DatabaseFileError(
      'NOT_HVMAP_DATABASE',
      `${file} is ${kind} database but not hvmap's (tables: ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''})`,
    );
  const newest = (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v;
  const known = MIGRATIONS[MIGRATIONS.length - 1].version;
  if (newest > known)
    throw new DatabaseFileError(
      'NEWER_DATABASE',
      `${file} was written by a newer hvmap (schema version ${newest}; this one knows up to ${known}): upgrade hvmap`,
    );
}

/**
 * The database holds webhook URLs (with their secrets) and token hashes: it is created readable by
 * its owner only, and an older file is narrowed. SQLite gives the -wal and -shm files the database
 * file's mode; ones left by an earlier run are narrowed too.
 */
function ownerOnly(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

/** pg_advisory_xact_lock's key for migrations: any constant other programs are unlikely to take. */
const MIGRATION_LOCK = 0x68766d6170;

/**
 * Applies the migrations not applied yet, each in its own transaction: SQLite's text, or PostgreSQL's
 * (migrations.ts). On PostgreSQL each step holds an advisory lock, so collectors starting together on
 * an empty database apply each migration once (the others find it applied).
 */
function migrate(db: Db, postgres: boolean): void {
  const step = (work: () => void) =>
    db.transaction(() => {
      if (postgres) db.prepare('SELECT pg_advisory_xact_lock(?)').get(MIGRATION_LOCK);
      work();
    })();
  step(() =>
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    ),
  );
  for (const m of MIGRATIONS)
    step(() => {
      if (db.prepare('SELECT 1 AS applied FROM schema_migrations WHERE version = ?').get(m.version)) return;
      db.exec(postgres ? postgresSql(m) : m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    });
}
