/**
 * The store's database interface (store/db.ts `Db`) on PostgreSQL. The store's statements are written
 * once, in the SQL both databases speak; what differs is translated here when a statement is prepared:
 * `?` and `@name` parameters become `$n`, and LIKE becomes ILIKE (SQLite's LIKE ignores ASCII case,
 * PostgreSQL's does not). json_extract and json_each are SQL functions of the PostgreSQL migrations.
 */
import type { Db, RunResult, Statement } from '../db.js';
import { type QueryResult, SyncPostgresClient } from './sync-client.js';

export interface TranslatedSql {
  sql: string;
  /** For each `$n`, in order: the name of an `@name` parameter, or null for the next positional one. */
  params: (string | null)[];
}

/**
 * Rewrites parameters and LIKE outside string literals, quoted identifiers and comments. Pure, so it
 * is tested on its own; a statement is translated once, when it is prepared.
 */
export function translateSql(source: string): TranslatedSql {
  const params: (string | null)[] = [];
  const named = new Map<string, number>();
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === "'" || c === '"') {
      const end = closingQuote(source, i);
      out += source.slice(i, end);
      i = end;
    } else if (c === '-' && source[i + 1] === '-') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      out += source.slice(i, stop);
      i = stop;
    } else if (c === '?') {
      params.push(null);
      out += `$${params.length}`;
      i++;
    } else if (c === '@' && /[A-Za-z_]/.test(source[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i + 1))?.[0] as string;
      let n = named.get(name);
      if (n === undefined) {
        params.push(name);
        n = params.length;
        named.set(name, n);
      }
      out += `$${n}`;
      i += 1 + name.length;
    } else if (/[A-Za-z_]/.test(c) && !/[A-Za-z0-9_$]/.test(source[i - 1] ?? '')) {
      const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(source.slice(i))?.[0] as string;
      out += word.toUpperCase() === 'LIKE' ? 'ILIKE' : word;
      i += word.length;
    } else {
      out += c;
      i++;
    }
  }
  return { sql: out, params };
}

function closingQuote(source: string, start: number): number {
  const quote = source[start];
  let i = start + 1;
  for (;;) {
    const next = source.indexOf(quote, i);
    if (next === -1) return source.length;
    // A doubled quote is the quote itself, inside the literal.
    if (source[next + 1] === quote) i = next + 2;
    else return next + 1;
  }
}

/** Parameters in the order `$1…$n` expects, from better-sqlite3's calling conventions (a list, or one object of names). */
function bind(translated: TranslatedSql, args: unknown[]): unknown[] {
  const object =
    args.length === 1 &&
    args[0] !== null &&
    typeof args[0] === 'object' &&
    !Array.isArray(args[0]) &&
    !Buffer.isBuffer(args[0])
      ? (args[0] as Record<string, unknown>)
      : null;
  const positional = object ? [] : args.flat();
  let next = 0;
  return translated.params.map((name) => {
    if (name === null) return positional[next++];
    if (!object || !(name in object)) throw new RangeError(`missing named parameter "${name}"`);
    return object[name];
  });
}

class PostgresStatement implements Statement {
  private readonly translated: TranslatedSql;

  constructor(
    private readonly db: PostgresDatabase,
    source: string,
    private readonly name: string,
  ) {
    this.translated = translateSql(source);
  }

  private execute(args: unknown[]): QueryResult {
    return this.db.client.query({ name: this.name, sql: this.translated.sql, params: bind(this.translated, args) });
  }

  run(...args: unknown[]): RunResult {
    return { changes: this.execute(args).rowCount };
  }

  get(...args: unknown[]): unknown {
    return this.execute(args).rows[0];
  }

  all(...args: unknown[]): unknown[] {
    return this.execute(args).rows;
  }

  iterate(...args: unknown[]): IterableIterator<unknown> {
    return this.execute(args).rows[Symbol.iterator]();
  }
}

export class PostgresDatabase implements Db {
  readonly client: SyncPostgresClient;
  private readonly statementNames = new Map<string, string>();
  private depth = 0;

  constructor(url: string) {
    this.client = new SyncPostgresClient(url);
  }

  prepare(source: string): Statement {
    // One server-side prepared statement per distinct text, shared by every caller that prepares it.
    let name = this.statementNames.get(source);
    if (!name) {
      name = `hvmap_${this.statementNames.size + 1}`;
      this.statementNames.set(source, name);
    }
    return new PostgresStatement(this, source, name);
  }

  exec(sql: string): void {
    this.client.query({ sql });
  }

  /** As better-sqlite3's: BEGIN … COMMIT around `fn`, ROLLBACK when it throws; nested calls are savepoints. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      const savepoint = this.depth > 0 ? `hvmap_sp_${this.depth}` : null;
      this.exec(savepoint ? `SAVEPOINT ${savepoint}` : 'BEGIN');
      this.depth++;
      try {
        const result = fn(...args);
        this.depth--;
        this.exec(savepoint ? `RELEASE SAVEPOINT ${savepoint}` : 'COMMIT');
        return result;
      } catch (err) {
        this.depth--;
        try {
          this.exec(savepoint ? `ROLLBACK TO SAVEPOINT ${savepoint}` : 'ROLLBACK');
        } catch {
          // The connection is gone: the server has rolled the transaction back already.
        }
        throw err;
      }
    };
  }

  close(): void {
    this.client.close();
  }
}
