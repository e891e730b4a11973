/**
 * 7. The store's two backends side by side: ingest through one collector on SQLite, one on
 *    PostgreSQL, and two collectors on that PostgreSQL database with the agents split between them
 *    (same load generator, same agents); the collectors' RSS; what each stored snapshot costs
 *    PostgreSQL (statements and their waits, counted in the collectors; rows, WAL and CPU, read from
 *    the server); a full re-evaluation after a catalog change on each backend. PostgreSQL runs with
 *    its default durability (fsync and synchronous_commit on).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { StatementCounts } from '../children/collector-server.js';
import { type Child, MiB, median, progress, readProc, round, startChild } from '../common.js';
import { startPostgres, type TestPostgres } from '../postgres.js';
import { agentName } from '../snapshots.js';
import { oneWindow, startServer, type WindowMark } from './ingest.js';

/** PostgreSQL over the measured window: what one stored snapshot costs it (all collectors together). */
export interface PostgresFigures {
  /** The collectors' connections to the database, ÷ collectors (pg_stat_activity). */
  connectionsPerCollector: number;
  /** PostgreSQL's processes (postmaster, backends, writers) over the window, % of one core. */
  cpuPct: number;
  cpuUsPerSnapshot: number;
  /** Round trips from the collectors per snapshot: every statement, BEGIN and COMMIT included. */
  statements: number;
  /** Transactions per snapshot: BEGINs, and statements sent outside a transaction (each autocommitted). */
  transactions: number;
  /** A collector's wait on one statement, µs, mean over all of them (the store is synchronous: the event loop waits). */
  waitUsPerStatement: number;
  /** The wait on a COMMIT alone, µs: it returns once the WAL is flushed to disk. */
  commitWaitUs: number;
  /** The collectors' event loops waiting on PostgreSQL, ms per snapshot. */
  waitMsPerSnapshot: number;
  /** PostgreSQL executing statements (pg_stat_database.active_time), µs per statement. */
  serverUsPerStatement: number;
  /** Rows inserted, updated and deleted (pg_stat_database). */
  rowsWritten: number;
  walBytes: number;
  /** WAL flushes to disk (pg_stat_wal.wal_sync): concurrent commits share one. */
  walSyncs: number;
  /** The statements the collectors wait on longest, per snapshot. */
  topStatements: { sql: string; callsPerSnapshot: number; meanWaitUs: number }[];
}

export interface BackendRun {
  backend: 'sqlite' | 'postgres';
  collectors: number;
  /** Stored and acknowledged, all collectors together. */
  snapshotsPerSec: number;
  /** The collectors' CPU per snapshot, µs, all collectors together. */
  collectorCpuUsPerSnapshot: number;
  /** Per collector, after its window. */
  collectorRssMiB: number[];
  ackLatencyMs: { p50: number; p99: number };
  /** Null on SQLite. */
  postgres: PostgresFigures | null;
}

export interface PostgresResult {
  agents: number;
  warmupSec: number;
  windowSec: number;
  /** PostgreSQL's version and the settings that bear on these figures, as the server reports them. */
  server: string;
  runs: BackendRun[];
  reevaluation: { hosts: number; guests: number; sqliteMs: number; postgresMs: number };
}

interface DatabaseCounters {
  /** Connections to the database but the reader's own. */
  connections: number;
  rowsWritten: number;
  activeMs: number;
  walBytes: number;
  walSyncs: number;
}

/**
 * The database's cumulative statistics. Backends publish theirs at most once a second, so each
 * reading lags by up to that much; over a window of several seconds of steady load the lags at its
 * two edges about cancel.
 */
async function databaseCounters(monitor: pg.Client): Promise<DatabaseCounters> {
  const { rows } = await monitor.query(
    `SELECT d.tup_inserted + d.tup_updated + d.tup_deleted AS rows, d.active_time, w.wal_bytes, w.wal_sync,
            (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()) AS connections
     FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()`,
  );
  const r = rows[0];
  return {
    connections: Number(r.connections),
    rowsWritten: Number(r.rows),
    activeMs: Number(r.active_time),
    walBytes: Number(r.wal_bytes),
    walSyncs: Number(r.wal_sync),
  };
}

/** CPU of every PostgreSQL process now, ms, by pid (backends come and go with connections). */
function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      out.set(pid, readProc(pid).cpuMs);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** What the collectors and the database have counted so far, read at the window's start or end. */
interface WindowReading {
  stored: number;
  statements: StatementCounts[];
  database: DatabaseCounters;
  postgresCpuMs: Map<number, number>;
  at: number;
}

/**
 * Lines up the windows of several collectors measured at once: each window's marks wait for the
 * others' and `atMark` runs once there, so the shared database and every collector are read at the
 * same instants. A window that fails releases the others with its error.
 */
function lineUp(parties: number, atMark: (mark: WindowMark) => Promise<void>) {
  const marks = new Map<WindowMark, { arrived: number; done: Promise<void>; settle(err?: Error): void }>();
  let failure: Error | null = null;
  const markOf = (mark: WindowMark) => {
    let m = marks.get(mark);
    if (!m) {
      let settle!: (err?: Error) => void;
      const done = new Promise<void>((resolve, reject) => {
        settle = (err) => (err ? reject(err) : resolve());
      });
      m = { arrived: 0, done, settle };
      marks.set(mark, m);
      if (failure) settle(failure);
    }
    return m;
  };
  return {
    atWindowMark(mark: WindowMark): Promise<void> {
      const m = markOf(mark);
      if (++m.arrived === parties) atMark(mark).then(() => m.settle(), m.settle);
      return m.done;
    },
    fail(err: Error): void {
      failure = err;
      for (const m of marks.values()) m.settle(err);
    },
  };
}

/** The collectors' statements between two readings, summed over the collectors. */
function statementsBetween(start: StatementCounts[], end: StatementCounts[]) {
  const bySql = new Map<string, { calls: number; waitMs: number }>();
  let transactions = 0;
  end.forEach((e, k) => {
    transactions += e.transactions - start[k].transactions;
    for (const [sql, t] of Object.entries(e.bySql)) {
      const before = start[k].bySql[sql] ?? { calls: 0, waitMs: 0 };
      const sum = bySql.get(sql) ?? { calls: 0, waitMs: 0 };
      sum.calls += t.calls - before.calls;
      sum.waitMs += t.waitMs - before.waitMs;
      bySql.set(sql, sum);
    }
  });
  return { bySql, transactions };
}

function postgresFigures(start: WindowReading, end: WindowReading): PostgresFigures {
  const stored = Math.max(1, end.stored - start.stored);
  const seconds = (end.at - start.at) / 1000;
  let cpuMs = 0;
  for (const [pid, ms] of end.postgresCpuMs) cpuMs += ms - (start.postgresCpuMs.get(pid) ?? 0);
  const { bySql, transactions } = statementsBetween(start.statements, end.statements);
  const all = [...bySql.values()];
  const calls = all.reduce((n, t) => n + t.calls, 0);
  const waitMs = all.reduce((n, t) => n + t.waitMs, 0);
  const commit = bySql.get('COMMIT') ?? { calls: 0, waitMs: 0 };
  return {
    connectionsPerCollector: round(end.database.connections / end.statements.length, 1),
    cpuPct: round((cpuMs / (seconds * 1000)) * 100),
    cpuUsPerSnapshot: round((cpuMs * 1000) / stored),
    statements: round(calls / stored, 1),
    transactions: round(transactions / stored, 1),
    waitUsPerStatement: round((waitMs * 1000) / Math.max(1, calls)),
    commitWaitUs: round((commit.waitMs * 1000) / Math.max(1, commit.calls)),
    waitMsPerSnapshot: round(waitMs / stored, 2),
    serverUsPerStatement: round(((end.database.activeMs - start.database.activeMs) * 1000) / Math.max(1, calls)),
    rowsWritten: round((end.database.rowsWritten - start.database.rowsWritten) / stored, 1),
    walBytes: round((end.database.walBytes - start.database.walBytes) / stored),
    walSyncs: round((end.database.walSyncs - start.database.walSyncs) / stored, 2),
    topStatements: [...bySql]
      .filter(([, t]) => t.calls > 0)
      .sort(([, a], [, b]) => b.waitMs - a.waitMs)
      .slice(0, 8)
      .map(([sql, t]) => ({
        sql,
        callsPerSnapshot: round(t.calls / stored, 2),
        meanWaitUs: round((t.waitMs * 1000) / Math.max(1, t.calls)),
      })),
  };
}

/**
 * One ingest window through `collectors` (all on one database), the agents split between them;
 * `tokens[i]` is agent i's, from that database.
 */
async function measure(
  backend: BackendRun['backend'],
  collectors: Child[],
  tokens: string[],
  opts: { warmupMs: number; windowMs: number; db?: string },
): Promise<BackendRun> {
  const indices = tokens.map((_, i) => i);
  // Agents split between the collectors, each share driven by a load generator of its own.
  const targets = await Promise.all(
    collectors.map(async (child, k) => {
      const share = indices.filter((i) => i % collectors.length === k);
      return {
        child,
        indices: share,
        tokens: share.map((i) => tokens[i]),
        url: (await child.call<{ agentUrl: string }>('info')).agentUrl,
      };
    }),
  );
  const monitor = opts.db ? new pg.Client({ connectionString: opts.db }) : null;
  await monitor?.connect();
  try {
    const readings = new Map<WindowMark, WindowReading>();
    const marks = lineUp(collectors.length, async (mark) => {
      if (!monitor) return;
      if (mark === 'warm-up') {
        // Every host is stored now, in tables never analysed: without statistics the planner picks
        // poorer indexes for some of the collector's statements (the alerts' read of one guest
        // filters all of its host's guests instead of using the (host_id, guest_key) key), and one
        // collector stored 57–103 snapshots/s instead of ~150 in --quick runs. autovacuum analyses
        // freshly filled tables within about a minute; the bench does not wait that long.
        await monitor.query('ANALYZE');
        return;
      }
      const counters = await Promise.all(
        collectors.map((c) => c.call<{ snapshotsStored: number; statements: StatementCounts }>('counters')),
      );
      readings.set(mark, {
        stored: counters.reduce((n, c) => n + c.snapshotsStored, 0),
        statements: counters.map((c) => c.statements),
        database: await databaseCounters(monitor),
        postgresCpuMs: postgresCpu(),
        at: performance.now(),
      });
    });
    const settled = await Promise.allSettled(
      targets.map((t) =>
        oneWindow('collector', t.child, t.url, t.tokens, t.indices, opts.warmupMs, opts.windowMs, 0, {
          atWindowMark: marks.atWindowMark,
        }).catch((err: Error) => {
          marks.fail(err);
          throw err;
        }),
      ),
    );
    const windows = settled.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value.window;
    });
    const snapshotsPerSec = round(windows.reduce((n, w) => n + w.snapshotsPerSec, 0));
    const start = readings.get('start');
    const end = readings.get('end');
    return {
      backend,
      collectors: collectors.length,
      snapshotsPerSec,
      collectorCpuUsPerSnapshot: round(
        windows.reduce((n, w) => n + w.serverCpuUsPerSnapshot * w.snapshotsPerSec, 0) / Math.max(1, snapshotsPerSec),
      ),
      collectorRssMiB: collectors.map((c) => round(readProc(c.pid).rssBytes / MiB, 1)),
      ackLatencyMs: {
        p50: round(median(windows.map((w) => w.ackLatencyMs.p50)), 1),
        p99: round(Math.max(...windows.map((w) => w.ackLatencyMs.p99)), 1),
      },
      postgres: start && end ? postgresFigures(start, end) : null,
    };
  } finally {
    await monitor?.end();
  }
}

/** A full re-evaluation (reloadCatalog after a real catalog change) over the fleet, on one backend. */
async function reevaluationMs(dir: string, hosts: number, guestsPerHost: number, db?: string): Promise<number> {
  const worker = await startChild('./children/store-worker.js', [mkdtempSync(path.join(dir, 'reeval-'))], {
    execArgv: ['--max-old-space-size=4096'],
  });
  try {
    await worker.call('populate', { hosts, guestsPerHost, db });
    const reload = await worker.call<{ medianMs: number }>('reload', { reps: 3 });
    return reload.medianMs;
  } finally {
    await worker.stop(60_000);
  }
}

export async function runPostgres(opts: {
  agents: number;
  warmupMs: number;
  windowMs: number;
  reevaluation: { hosts: number; guestsPerHost: number };
}): Promise<PostgresResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-bench-pg-'));
  let server: TestPostgres | null = null;
  try {
    server = await startPostgres({ durable: true });
    // One database for the one-collector run and the two-collector run after it: the second
    // collector joins an estate that is already stored, as it would in production.
    const ingestDb = await server.createDatabase();
    let ingestDbTokens: string[] | null = null;
    const names = Array.from({ length: opts.agents }, (_, i) => agentName(i));
    const runs: BackendRun[] = [];
    const run = async (backend: BackendRun['backend'], count: number) => {
      const db = backend === 'postgres' ? ingestDb : undefined;
      const collectors: Child[] = [];
      try {
        for (let k = 0; k < count; k++) collectors.push(await startServer('collector', dir, [], 60, db));
        // Tokens are the database's: those one collector made serve the others, and the next run's.
        const tokens = (db && ingestDbTokens) || (await collectors[0].call<string[]>('tokens', { names }));
        if (db) ingestDbTokens = tokens;
        const r = await measure(backend, collectors, tokens, { ...opts, db });
        runs.push(r);
        progress(
          `store ${backend} × ${count}: ${r.snapshotsPerSec} snapshots/s, ${r.collectorCpuUsPerSnapshot} µs collector CPU each` +
            (r.postgres
              ? `, ${r.postgres.statements} statements each (${r.postgres.waitUsPerStatement} µs wait), PostgreSQL ${r.postgres.cpuPct}% of a core`
              : ''),
        );
      } finally {
        await Promise.all(collectors.map((c) => c.stop()));
      }
    };
    await run('sqlite', 1);
    await run('postgres', 1);
    await run('postgres', 2);
    const { hosts, guestsPerHost } = opts.reevaluation;
    const sqliteMs = await reevaluationMs(dir, hosts, guestsPerHost);
    const postgresMs = await reevaluationMs(dir, hosts, guestsPerHost, await server.createDatabase());
    progress(
      `store: re-evaluation of ${hosts * guestsPerHost} guests: SQLite ${sqliteMs} ms, PostgreSQL ${postgresMs} ms`,
    );
    return {
      agents: opts.agents,
      warmupSec: opts.warmupMs / 1000,
      windowSec: opts.windowMs / 1000,
      server: await serverSettings(server.adminUrl),
      runs,
      reevaluation: { hosts, guests: hosts * guestsPerHost, sqliteMs, postgresMs },
    };
  } finally {
    server?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function serverSettings(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const names = [
      'fsync',
      'synchronous_commit',
      'full_page_writes',
      'wal_sync_method',
      'shared_buffers',
      'max_connections',
    ];
    const { rows } = await client.query(
      'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY array_position($1, name)',
      [names],
    );
    const { rows: version } = await client.query("SELECT current_setting('server_version') AS v");
    const settings = rows.map((r) => {
      // shared_buffers is counted in 8 kB pages.
      const value = r.unit === '8kB' ? `${(Number(r.setting) * 8) / 1024} MiB` : r.setting;
      return `${r.name} ${value}`;
    });
    return `PostgreSQL ${version[0].v}, ${settings.join(', ')}`;
  } finally {
    await client.end();
  }
}
