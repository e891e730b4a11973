/**
 * A synchronous PostgreSQL connection: node-postgres runs in a worker thread and the caller waits on
 * a shared flag until the worker answers. The collector's store is synchronous (better-sqlite3, and
 * every caller of the store expects an answer, not a promise), so PostgreSQL is reached the same way;
 * the price is the event loop waiting one round trip per statement (docs/DECISIONS.md has the figures).
 */
import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** A statement PostgreSQL refused, or a connection that failed; `code` is PostgreSQL's SQLSTATE when it gave one. */
export class PostgresError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface QueryResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

interface Request {
  /** Prepared once per connection under this name, then executed by name (no parse per call). */
  name?: string;
  sql: string;
  params?: unknown[];
}

/** `id`: the request it answers (requests are numbered as they are sent). */
type Reply = { id: number } & ({ ok: QueryResult } | { error: { message: string; code?: string } });

// The worker is plain JavaScript given as text, so it runs the same from the TypeScript sources
// (tests) and from dist; node-postgres is loaded from the path this module resolves.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const pg = require(workerData.pgPath);
const flag = new Int32Array(workerData.flag);
const port = workerData.port;
// Rows as SQLite gives them: integers (COUNT, BIGINT ids) as numbers, booleans as 1 and 0.
pg.types.setTypeParser(20, Number);
pg.types.setTypeParser(1700, Number);
pg.types.setTypeParser(16, (v) => (v === 't' ? 1 : 0));
let client = null;
async function connected() {
  if (client) return client;
  const c = new pg.Client({ connectionString: workerData.url, connectionTimeoutMillis: workerData.connectTimeoutMs });
  // A connection that drops between statements is replaced at the next one.
  c.on('error', () => { if (client === c) client = null; });
  await c.connect();
  client = c;
  return c;
}
port.on('message', async (req) => {
  let reply;
  try {
    const c = await connected();
    const r = await c.query(req.name ? { name: req.name, text: req.sql, values: req.params } : { text: req.sql, values: req.params });
    const last = Array.isArray(r) ? r[r.length - 1] : r;
    reply = { id: req.id, ok: { rows: last ? last.rows : [], rowCount: last && last.rowCount != null ? last.rowCount : 0 } };
  } catch (err) {
    if (!err.code && client) { const c = client; client = null; c.end().catch(() => {}); }
    reply = { id: req.id, error: { message: String(err.message || err), code: err.code } };
  }
  port.postMessage(reply);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
port.on('close', () => { if (client) client.end().catch(() => {}); });
`;

export interface SyncClientOptions {
  /** How long one statement (or the connection) may take before the caller gives up on it. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
}

export class SyncPostgresClient {
  private flag!: Int32Array;
  private worker!: Worker;
  private port!: MessagePort;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private closed = false;
  private lastId = 0;

  constructor(
    private readonly url: string,
    options: SyncClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.start();
  }

  private start(): void {
    // A flag per worker: one abandoned after a timeout can no longer wake the next statement's wait.
    this.flag = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        pgPath: createRequire(import.meta.url).resolve('pg'),
        url: this.url,
        connectTimeoutMs: this.connectTimeoutMs,
        flag: this.flag.buffer,
        port: port2,
      },
      transferList: [port2],
    });
    // The worker never keeps the process alive: close() ends it, and so does the process's exit.
    this.worker.unref();
    this.port.unref();
  }

  query(req: Request): QueryResult {
    // As better-sqlite3 after close(): at once, not after the timeout (a message to a closed port is dropped).
    if (this.closed) throw new PostgresError('the database connection is not open', undefined);
    const id = ++this.lastId;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ ...req, id });
    // A wake-up is not an answer: the worker sets the flag, then notifies, and a worker descheduled
    // between the two wakes the wait of the next statement before its answer exists. That statement
    // then found no answer and each later one took the answer of the one before (a CI run's collector
    // failed every snapshot and token until it restarted). Only the flag says the answer is there.
    const deadline = performance.now() + this.timeoutMs;
    while (Atomics.load(this.flag, 0) === 0) {
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(this.flag, 0, 0, left) === 'timed-out') {
        this.restart();
        throw new PostgresError(`PostgreSQL did not answer within ${this.timeoutMs / 1000} s`, 'TIMEOUT');
      }
    }
    const reply = receiveMessageOnPort(this.port)?.message as Reply | undefined;
    if (reply?.id !== id) {
      // Never hand a statement another one's rows: start over with a worker that owes nothing.
      this.restart();
      throw new PostgresError('the PostgreSQL worker answered out of turn', undefined);
    }
    if ('error' in reply) throw new PostgresError(reply.error.message, reply.error.code);
    return reply.ok;
  }

  /** Replaces the worker (its connection too): one that may still be waiting on the server, or out of turn, is left behind. */
  private restart(): void {
    this.stop();
    this.start();
  }

  close(): void {
    this.closed = true;
    this.stop();
  }

  private stop(): void {
    this.port.close();
    void this.worker.terminate();
  }
}
