import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Db } from './db.js';

/** How often the worker checkpoints: the WAL then holds about a second of writes. */
const CHECKPOINT_EVERY_MS = 1000;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlitePath);
const db = new Database(workerData.file, { fileMustExist: true });
const timer = setInterval(() => {
  try {
    // PASSIVE: copies what no reader still needs and never waits for the collector's writes.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: err.message });
  }
}, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Moves SQLite's WAL checkpoints off the ingest path. By default the commit that takes the WAL past
 * 1,000 pages copies them back into the database file and syncs it, in the collector's thread: one
 * snapshot in ~70 waited 10–25 ms, ~150 µs a snapshot on average (test/bench NOTES §1). Here the
 * collector's connection never checkpoints, and a worker thread with a connection of its own does,
 * once a second (a page written many times in that second is copied once). Should the worker fail,
 * the connection checkpoints on its own again, so the WAL cannot grow without end.
 */
export function checkpointInBackground(file: string, db: Db, logger: Logger): { stop(): Promise<void> } {
  db.exec('PRAGMA wal_autocheckpoint = 0');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      file,
      everyMs: CHECKPOINT_EVERY_MS,
      sqlitePath: createRequire(import.meta.url).resolve('better-sqlite3'),
    },
  });
  worker.unref();
  let stopping = false;
  const fallBack = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.warn({ code: 'CHECKPOINTS_INLINE', err: reason }, 'WAL checkpoints run in the ingest path again');
    try {
      db.exec('PRAGMA wal_autocheckpoint = 1000');
    } catch {
      // The database is closing.
    }
  };
  worker.on('message', (m: { error?: string }) => {
    if (m.error)
      logger.warn({ code: 'CHECKPOINT_FAILED', err: m.error }, 'WAL checkpoint failed; the next one tries again');
  });
  worker.on('error', (err) => fallBack(err.message));
  worker.on('exit', (code) => fallBack(`checkpoint worker exited (${code})`));
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (stopping) return resolve();
        stopping = true;
        // Held until it has closed its connection: unreferenced, the process could end meanwhile
        // and skip what its shutdown does after this.
        worker.ref();
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
      }),
  };
}
