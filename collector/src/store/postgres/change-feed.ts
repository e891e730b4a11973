/**
 * Several collectors on one PostgreSQL database: each tells the others, with NOTIFY, which host it
 * has just stored, and follows what they store with LISTEN, so its live map, its page and its
 * caches follow the whole fleet and not only its own agents.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../db.js';

const CHANNEL = 'hvmap_stored';
/** A LISTEN connection that drops is opened again after this long. */
const RECONNECT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface ChangeFeedOptions {
  url: string;
  db: Db;
  logger: Logger;
  /** Another collector stored a snapshot of this agent's host. */
  onStored(agentName: string): void;
  /** The feed was cut for a while: anything may have been stored meanwhile. */
  onResync(): void;
  /** Another collector put this catalog in force (and re-judged the fleet under it). */
  onCatalog(version: string): void;
}

export class ChangeFeed {
  /** Tells this collector's own notifications from the others'. */
  readonly collectorId = randomUUID();
  private client: pg.Client | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly notify;

  /**
   * Settles once the first LISTEN is in place (or failed, and is retried): a collector that serves
   * before it would miss what the others store meanwhile, until those hosts change again.
   */
  readonly ready: Promise<void>;

  constructor(private readonly options: ChangeFeedOptions) {
    this.notify = options.db.prepare('SELECT pg_notify(?, ?)');
    this.ready = this.listen(false);
  }

  /** Tells the other collectors that this one stored a snapshot of `agentName`'s host. */
  publish(agentName: string): void {
    // The others then catch up when their feed resyncs, or at this host's next snapshot.
    this.announce({ agent: agentName }, 'change not announced');
  }

  /** Tells the other collectors that this one put a catalog in force: they load theirs again. */
  publishCatalog(version: string): void {
    this.announce({ catalog: version }, 'catalog not announced');
  }

  private announce(message: { agent: string } | { catalog: string }, failed: string): void {
    try {
      this.notify.get(CHANNEL, JSON.stringify({ from: this.collectorId, ...message }));
    } catch (err) {
      this.options.logger.warn({ code: 'STORE_FAILED', err: (err as Error).message }, failed);
    }
  }

  private async listen(resync: boolean): Promise<void> {
    // Bounded: a server that does not answer must not hold the collector's start.
    const client = new pg.Client({ connectionString: this.options.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    client.on('notification', (msg) => this.receive(msg.payload));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.closed) {
      void client.end().catch(() => {});
      return;
    }
    this.client = client;
    if (resync) {
      this.options.logger.info('following the other collectors again');
      this.follow(() => this.options.onResync());
    }
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.closed || this.retry) return;
    if (this.client === client) this.client = null;
    void client.end().catch(() => {});
    this.options.logger.warn({ err: err.message }, 'cannot follow the other collectors (LISTEN); retrying');
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.listen(true);
    }, RECONNECT_MS);
    this.retry.unref();
  }

  private receive(payload: string | undefined): void {
    let message: { from?: unknown; agent?: unknown; catalog?: unknown };
    try {
      message = JSON.parse(payload ?? '');
    } catch {
      return;
    }
    if (message.from === this.collectorId) return;
    const { agent, catalog } = message;
    if (typeof agent === 'string') this.follow(() => this.options.onStored(agent));
    else if (typeof catalog === 'string') this.follow(() => this.options.onCatalog(catalog));
  }

  /** Runs what follows another collector's write: its reads may fail (the database away) and must not end this one. */
  private follow(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.options.logger.warn(
        { code: 'STORE_FAILED', err: (err as Error).message },
        'the other collectors not followed',
      );
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => {});
  }
}
