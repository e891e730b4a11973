import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';

/** The API views a live event can make stale; the page refetches those it shows. */
export const LIVE_VIEWS = ['summary', 'matrix', 'hosts', 'guests', 'alerts', 'agents'] as const;
export type LiveView = (typeof LIVE_VIEWS)[number];

/** What `/live` pushes: a page refetches the named views rather than receiving data it may not show. */
export type LiveMessage =
  | { type: 'hello'; catalog: string }
  | {
      type: 'changed';
      views: LiveView[];
      /** Hostnames whose guests changed (a page showing one refetches it); null: too many to list. */
      hosts: string[] | null;
      /** Set when a new catalog came into force. */
      catalog?: string;
    }
  /** Sent when nothing else was: a page that hears nothing for long knows the link is dead. */
  | { type: 'tick' };

export interface LiveOptions {
  logger: Logger;
  catalogVersion(): string;
  /** At most one `changed` per this many ms per page (4 per second). */
  minIntervalMs?: number;
  tickIntervalMs?: number;
  /** Pages following at once; beyond, a page is refused (503) rather than costing memory without end. */
  maxClients?: number;
}

/** A page that stops reading is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 256 * 1024;
/** Beyond this many changed hosts in one event, a page treats every host as changed. */
const MAX_LISTED_HOSTS = 200;

/**
 * Pages following the map at `/live`. Changes are merged and pushed at most every `minIntervalMs`,
 * so a burst of snapshots costs each page one refetch, not one per snapshot.
 */
export class LiveHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  private readonly sockets = new Set<WebSocket>();
  private readonly pendingViews = new Set<LiveView>();
  private readonly pendingHosts = new Set<string>();
  private pendingCatalog: string | undefined;
  private timer: NodeJS.Timeout | null = null;
  private lastFlush = 0;
  private readonly ticker: NodeJS.Timeout;
  private readonly minIntervalMs: number;

  constructor(private readonly options: LiveOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 250;
    this.ticker = setInterval(() => this.broadcast({ type: 'tick' }), options.tickIntervalMs ?? 15_000);
    this.ticker.unref();
  }

  get clients(): number {
    return this.sockets.size;
  }

  /** Whether changes wait for the next push (a test waits for those of the tests before it to go). */
  get pending(): boolean {
    return this.timer !== null;
  }

  /** Whether another page may follow now. */
  get full(): boolean {
    return this.options.maxClients !== undefined && this.sockets.size >= this.options.maxClients;
  }

  /** Takes over an authorised upgrade request for `/live`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      // Pages only listen; anything they send is ignored.
      ws.on('error', (err) => this.options.logger.debug({ err: err.message }, 'live page socket error'));
      this.send(ws, { type: 'hello', catalog: this.options.catalogVersion() });
    });
  }

  /** Marks views stale (and hosts changed); pushed with the next flush. */
  notify(views: readonly LiveView[], hosts: readonly string[] = [], catalog?: string): void {
    for (const v of views) this.pendingViews.add(v);
    for (const h of hosts) this.pendingHosts.add(h);
    if (catalog) this.pendingCatalog = catalog;
    if (this.timer) return;
    const wait = Math.max(0, this.lastFlush + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Says goodbye to every page (they show "unreachable" and retry). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    clearInterval(this.ticker);
    // terminate, not close: a close handshake would hold the HTTP server's shutdown open.
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
  }

  private flush(): void {
    this.timer = null;
    this.lastFlush = Date.now();
    const message: LiveMessage = {
      type: 'changed',
      views: LIVE_VIEWS.filter((v) => this.pendingViews.has(v)),
      hosts: this.pendingHosts.size > MAX_LISTED_HOSTS ? null : [...this.pendingHosts],
      ...(this.pendingCatalog ? { catalog: this.pendingCatalog } : {}),
    };
    this.pendingViews.clear();
    this.pendingHosts.clear();
    this.pendingCatalog = undefined;
    this.broadcast(message);
  }

  private broadcast(message: LiveMessage): void {
    const text = JSON.stringify(message);
    for (const ws of this.sockets) this.send(ws, text);
  }

  private send(ws: WebSocket, message: LiveMessage | string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      ws.terminate();
      return;
    }
    ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }
}
