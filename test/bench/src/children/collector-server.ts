/**
 * Benchmark child: the real collector (startCollector: validation, diff, SQLite, evaluation,
 * alerts) on a fresh database, logging at info to a file as `hvmap serve` logs to stderr.
 * argv: DB_PATH LOG_PATH [INTERVAL_SEC]
 */
import { pino } from 'pino';
import { startCollector } from '../../../../collector/dist/collector.js';
import { emitToParent, serveParent } from '../common.js';
import { startProfile, stopProfile } from '../profile.js';

const [dbPath, logPath, interval] = process.argv.slice(2);
const logger = pino({ level: 'info', base: { app: 'hvmap' } }, pino.destination({ dest: logPath, sync: true }));
const collector = await startCollector({
  db: dbPath,
  listen: '127.0.0.1:0',
  logger,
  intervalSec: Number(interval ?? 60),
});
// The live map: when a snapshot changed something, the parent hears when (freshness).
collector.events.on('changes', (agent, changes) =>
  emitToParent('changes', {
    at: Date.now(),
    agent,
    changes: changes.map((c) => ({ kind: c.kind, guest: c.guestName, new: c.new })),
  }),
);

const gc = (globalThis as { gc?: () => void }).gc;

serveParent(
  {
    info: () => ({ url: collector.url, agentUrl: collector.agentUrl }),
    /** One token per simulated agent, created in one transaction. */
    tokens: (args) => {
      const { names } = args as { names: string[] };
      return collector.db.transaction(() => names.map((name) => collector.tokens.create(name).token))();
    },
    counters: () => ({ ...collector.sessions.counters, connected: collector.sessions.connected }),
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
