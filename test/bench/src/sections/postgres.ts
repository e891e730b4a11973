/**
 * 7. The store's two backends side by side: ingest through one collector on SQLite, one on
 *    PostgreSQL, and two collectors on one PostgreSQL database with the agents split between them
 *    (same load generator, same agents); the collectors' RSS and PostgreSQL's own CPU; a full
 *    re-evaluation after a catalog change on each backend. PostgreSQL runs durable (fsync on).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type Child, MiB, median, progress, readProc, round, startChild } from '../common.js';
import { startPostgres, type TestPostgres } from '../postgres.js';
import { agentName } from '../snapshots.js';
import { oneWindow, startServer } from './ingest.js';

export interface BackendRun {
  backend: 'sqlite' | 'postgres';
  collectors: number;
  /** Stored and acknowledged, all collectors together. */
  snapshotsPerSec: number;
  /** The collectors' CPU per snapshot, µs, all collectors together. */
  collectorCpuUsPerSnapshot: number;
  /** PostgreSQL's processes (server and backends) over the window, % of one core. */
  postgresCpuPct: number | null;
  /** Per collector, after the window. */
  collectorRssMiB: number[];
  ackLatencyMs: { p50: number; p99: number };
  /** PostgreSQL's transactions and rows written per snapshot (pg_stat_database deltas). */
  perSnapshot: { transactions: number; rowsWritten: number } | null;
}

export interface PostgresResult {
  agents: number;
  windowSec: number;
  server: string;
  runs: BackendRun[];
  reevaluation: { guests: number; sqliteMs: number; postgresMs: number };
}

interface DatabaseCounters {
  transactions: number;
  rowsWritten: number;
}

async function databaseCounters(url: string): Promise<DatabaseCounters> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // The statistics collector's view lags the backends by up to its flush interval: ask for a fresh snapshot.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query(
      `SELECT xact_commit + xact_rollback AS transactions, tup_inserted + tup_updated + tup_deleted AS rows
       FROM pg_stat_database WHERE datname = current_database()`,
    );
    return { transactions: Number(rows[0].transactions), rowsWritten: Number(rows[0].rows) };
  } finally {
    await client.end();
  }
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

async function measure(
  backend: BackendRun['backend'],
  collectors: Child[],
  agents: number,
  opts: { warmupMs: number; windowMs: number; db?: string },
): Promise<BackendRun> {
  const indices = Array.from({ length: agents }, (_, i) => i);
  // Tokens are the database's: those one collector makes serve the others as well.
  const tokens = await collectors[0].call<string[]>('tokens', { names: indices.map(agentName) });
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
  const before = opts.db ? await databaseCounters(opts.db) : null;
  const cpu0 = backend === 'postgres' ? postgresCpu() : null;
  const started = performance.now();
  const windows = await Promise.all(
    targets.map((t) => oneWindow('collector', t.child, t.url, t.tokens, t.indices, opts.warmupMs, opts.windowMs, 0)),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = opts.db ? await databaseCounters(opts.db) : null;
  let postgresCpuPct: number | null = null;
  if (cpu0) {
    const cpu1 = postgresCpu();
    let ms = 0;
    for (const [pid, end] of cpu1) ms += end - (cpu0.get(pid) ?? 0);
    // Over the whole call (first acks, warm-up, window): the load is the same throughout.
    postgresCpuPct = round((ms / (seconds * 1000)) * 100);
  }
  const snapshotsPerSec = round(windows.reduce((n, w) => n + w.window.snapshotsPerSec, 0));
  const stored = (await Promise.all(collectors.map((c) => c.call<{ snapshotsStored: number }>('counters')))).reduce(
    (n, c) => n + c.snapshotsStored,
    0,
  );
  return {
    backend,
    collectors: collectors.length,
    snapshotsPerSec,
    collectorCpuUsPerSnapshot: round(
      windows.reduce((n, w) => n + w.window.serverCpuUsPerSnapshot * w.window.snapshotsPerSec, 0) /
        Math.max(1, snapshotsPerSec),
    ),
    postgresCpuPct,
    collectorRssMiB: collectors.map((c) => round(readProc(c.pid).rssBytes / MiB, 1)),
    ackLatencyMs: {
      p50: round(median(windows.map((w) => w.window.ackLatencyMs.p50)), 2),
      p99: round(Math.max(...windows.map((w) => w.window.ackLatencyMs.p99)), 2),
    },
    perSnapshot:
      before && after
        ? {
            transactions: round((after.transactions - before.transactions) / Math.max(1, stored), 1),
            rowsWritten: round((after.rowsWritten - before.rowsWritten) / Math.max(1, stored), 1),
          }
        : null,
  };
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
    const pgServer = server;
    const runs: BackendRun[] = [];
    const run = async (backend: BackendRun['backend'], count: number) => {
      const db = backend === 'postgres' ? await pgServer.createDatabase() : undefined;
      const collectors: Child[] = [];
      try {
        for (let k = 0; k < count; k++) collectors.push(await startServer('collector', dir, [], 60, db));
        const r = await measure(backend, collectors, opts.agents, { ...opts, db });
        runs.push(r);
        progress(
          `store ${backend} × ${count}: ${r.snapshotsPerSec} snapshots/s, ${r.collectorCpuUsPerSnapshot} µs collector CPU each` +
            (r.postgresCpuPct !== null ? `, PostgreSQL ${r.postgresCpuPct}% of a core` : ''),
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
    const postgresMs = await reevaluationMs(dir, hosts, guestsPerHost, await pgServer.createDatabase());
    progress(
      `store: re-evaluation of ${hosts * guestsPerHost} guests: SQLite ${sqliteMs} ms, PostgreSQL ${postgresMs} ms`,
    );
    return {
      agents: opts.agents,
      windowSec: opts.windowMs / 1000,
      server: await serverVersion(pgServer.adminUrl),
      runs,
      reevaluation: { guests: hosts * guestsPerHost, sqliteMs, postgresMs },
    };
  } finally {
    server?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query("SELECT current_setting('server_version') AS v, current_setting('fsync') AS f");
    return `PostgreSQL ${rows[0].v}, fsync ${rows[0].f}, on this machine's loopback`;
  } finally {
    await client.end();
  }
}
