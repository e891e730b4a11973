/**
 * Benchmark child: the real collector (startCollector: validation, diff, SQLite, evaluation,
 * alerts) on a fresh database (an SQLite file, or a PostgreSQL URL), logging at info to a file as
 * `hvmap serve` logs to stderr.
 * argv: DB_PATH_OR_URL LOG_PATH [INTERVAL_SEC]
 */
import { pino } from 'pino';
import { startCollector } from '../../../../collector/dist/collector.js';
import type { Db } from '../../../../collector/dist/store/db.js';
import { PostgresDatabase } from '../../../../collector/dist/store/postgres/database.js';
import { emitToParent, serveParent } from '../common.js';
import { startProfile, stopProfile } from '../profile.js';

const [dbPath, logPath, interval] = process.argv.slice(2);
const logger = pino({ level: 'info', base: { app: 'hvmap' } }, pino.destination({ dest: logPath, sync: false }));
const collector = await startCollector({
  db: dbPath,
  listen: '127.0.0.1:0',
  logger,
  intervalSec: Number(interval ?? 60),
  // The simulated agents send back to back to measure storing, not one snapshot an interval as real
  // ones do: the per-connection limit (5 frames/s) would cap 200 agents at ~1,000 snapshots/s, below
  // what one collector on SQLite now stores (§7 read 71 and 0 snapshots/s once it bound, 2026-12-04).
  frameRate: { perSecond: 10_000, burst: 10_000 },
});
/**
 * The live map: when a snapshot changed something, the parent hears when (freshness). Only when asked:
 * a message to the parent per snapshot cost ~3 % of the collector's CPU under the ingest load (its profile).
 */
function emitChanges(): void {
  collector.events.on('changes', (agent, changes) =>
    emitToParent('changes', {
      at: Date.now(),
      agent,
      changes: changes.map((c) => ({ kind: c.kind, guest: c.guestName, new: c.new })),
    }),
  );
}

/** What the collector sent PostgreSQL, by statement: calls, and how long its event loop waited on them. */
export interface StatementCounts {
  /** BEGINs, and statements sent outside a transaction (each one autocommitted). */
  transactions: number;
  /** By SQL text (whitespace collapsed); BEGIN and COMMIT are round trips too and counted as such. */
  bySql: Record<string, { calls: number; waitMs: number }>;
}

/**
 * Counts every statement the store sends PostgreSQL, timing each where the collector waits for it:
 * the store is synchronous, so that wait is the event loop's. The client is wrapped after start-up,
 * so migrations and the first reads are not counted; the bench diffs two readings anyway.
 */
function countStatements(db: Db): StatementCounts | null {
  if (!(db instanceof PostgresDatabase)) return null;
  const counts: StatementCounts = { transactions: 0, bySql: {} };
  const client = db.client;
  const query = client.query.bind(client);
  let inTransaction = false;
  client.query = (request) => {
    const started = performance.now();
    try {
      return query(request);
    } finally {
      const sql = request.sql.replace(/\s+/g, ' ').trim();
      const tally = counts.bySql[sql] ?? { calls: 0, waitMs: 0 };
      counts.bySql[sql] = tally;
      tally.calls++;
      tally.waitMs += performance.now() - started;
      if (sql === 'BEGIN') {
        inTransaction = true;
        counts.transactions++;
      } else if (sql === 'COMMIT' || sql === 'ROLLBACK') inTransaction = false;
      else if (!inTransaction) counts.transactions++;
    }
  };
  return counts;
}
const statements = countStatements(collector.db);

const gc = (globalThis as { gc?: () => void }).gc;

serveParent(
  {
    info: () => ({ url: collector.url, agentUrl: collector.agentUrl }),
    emitChanges,
    /** One token per simulated agent, created in one transaction. */
    tokens: (args) => {
      const { names } = args as { names: string[] };
      return collector.db.transaction(() => names.map((name) => collector.tokens.create(name).token))();
    },
    counters: () => ({ ...collector.sessions.counters, connected: collector.sessions.connected, statements }),
    memory: () => {
      // Twice: a second pass collects what the first one's finalizers released.
      gc?.();
      gc?.();
      return { ...process.memoryUsage(), gcExposed: gc !== undefined };
    },
    rows: () => ({
      hosts: (collector.db.prepare('SELECT COUNT(*) AS n FROM hosts').get() as { n: number }).n,
      guests: (collector.db.prepare('SELECT COUNT(*) AS n FROM guests WHERE removed_at IS NULL').get() as { n: number })
        .n,
      changes: (collector.db.prepare('SELECT COUNT(*) AS n FROM changes').get() as { n: number }).n,
    }),
    profileStart: () => startProfile(),
    profileStop: (args) => stopProfile((args as { file: string }).file),
  },
  () => collector.close(),
);
