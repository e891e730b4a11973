import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { DeliveryCounters } from '../alerts/notify.js';
import { AccessGuard, type AccessOptions } from '../api/access.js';
import { LiveMap } from '../api/live-map.js';
import type { OperatorTokens } from '../api/operators.js';
import type { LiveState } from '../api/queries.js';
import { BadRequest, handleApi, sendJson } from '../api/routes.js';
import type { Catalog } from '../catalog/load.js';
import type { CollectorEvents } from '../collector.js';
import type { Histogram } from '../metrics/histogram.js';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from '../metrics/prometheus.js';
import type { IngestCounters } from '../server/ingest.js';
import { type ConnectionCounters, countRefusal } from '../server/limits.js';
import type { Db } from '../store/db.js';
import { movesJudgement } from '../store/inventory.js';
import { LIVE_VIEWS, LiveHub, type LiveOptions } from './live.js';

/**
 * The page's files. Resolved from the package root, so the same path serves them whether this
 * module runs from src/ (vitest) or from dist/ (`node collector/dist/cli.js`): no copy step.
 */
export const STATIC_DIR = fileURLToPath(new URL('../../src/web/static/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Same-origin only, no inline code: what the page needs and nothing else. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** How often the agents' connections and the alerts table are checked for changes the events do not carry. */
const POLL_MS = 2000;
/** The views an agent's connection or a host's poll state shows in. */
const CONNECTION_VIEWS = ['summary', 'hosts', 'agents', 'alerts'] as const;

export interface WebOptions {
  db: Db;
  sessions: LiveState & { counters: IngestCounters };
  operators: OperatorTokens;
  access: AccessOptions;
  events: EventEmitter<CollectorEvents>;
  catalog(): Catalog;
  alertDeliveries(): DeliveryCounters;
  evaluationSeconds: Histogram;
  /** The port's connection counters, shown in /metrics; /live refusals add to them. */
  connections: ConnectionCounters;
  logger: Logger;
  live?: Pick<LiveOptions, 'minIntervalMs' | 'tickIntervalMs' | 'maxClients'>;
}

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

function loadStatic(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of readdirSync(STATIC_DIR)) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (!type) continue;
    const body = readFileSync(path.join(STATIC_DIR, name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    files.set(name === 'index.html' ? '/' : `/${name}`, { body, type, etag });
  }
  return files;
}

function escapeHtml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The operators' side of the collector's one port: the page at `/`, the API under `/api/`,
 * `/metrics`, and the live feed at `/live`, all behind one access rule.
 */
export class Web {
  readonly live: LiveHub;
  readonly guard: AccessGuard;
  /** The matrix and the fleet's counts, kept current per changed host. */
  readonly map: LiveMap;
  private readonly files = loadStatic();
  private readonly log: Logger;
  private readonly poll: NodeJS.Timeout;
  private lastSignal = '';
  private readonly onChanges: (...args: CollectorEvents['changes']) => void;
  private readonly onCatalog: (...args: CollectorEvents['catalog']) => void;
  private readonly onStoredElsewhere: (...args: CollectorEvents['storedElsewhere']) => void;
  private readonly onPollStateChanged = () => this.live.notify(CONNECTION_VIEWS);

  constructor(private readonly options: WebOptions) {
    this.log = options.logger.child({ component: 'web' });
    this.guard = new AccessGuard(options.operators, options.access);
    this.live = new LiveHub({ logger: this.log, catalogVersion: () => options.catalog().version, ...options.live });
    const hostnameOf = options.db.prepare('SELECT hostname FROM hosts WHERE agent_name = ?');
    this.map = new LiveMap(options.db);
    /** Hostnames by agent, read once: a snapshot that changes guests does not change its host's name. */
    const hostnames = new Map<string, string | undefined>();
    const hostChanged = (agentName: string, mapMoved: boolean, hostMoved: boolean) => {
      if (mapMoved) this.map.refreshHost(agentName);
      if (hostMoved || !hostnames.has(agentName))
        hostnames.set(agentName, (hostnameOf.get(agentName) as { hostname: string } | undefined)?.hostname);
      const hostname = hostnames.get(agentName);
      this.live.notify(LIVE_VIEWS, hostname !== undefined ? [hostname] : []);
    };
    // The map counts guests by hypervisor, OS, status and end of support: a snapshot that moved none
    // of them leaves the host's share as it was (not read again: ~40 µs a snapshot, test/bench).
    this.onChanges = (agentName, changes) =>
      hostChanged(
        agentName,
        changes.some(movesJudgement),
        changes.some((c) => c.guestKey === null),
      );
    this.onCatalog = (version) => {
      this.map.reload();
      this.live.notify(LIVE_VIEWS, [], version);
    };
    this.onStoredElsewhere = (agentName) => {
      if (agentName !== null) return hostChanged(agentName, true, true);
      hostnames.clear();
      this.map.reload();
      this.live.notify(LIVE_VIEWS);
    };
    options.events.on('changes', this.onChanges);
    options.events.on('catalog', this.onCatalog);
    options.events.on('storedElsewhere', this.onStoredElsewhere);
    options.events.on('pollStateChanged', this.onPollStateChanged);
    // Connections and alerts change without a snapshot (an agent drops, a host falls silent, a poll
    // over SSH fails on another collector): small reads every few seconds, only while a page watches.
    const signal = options.db.prepare(
      `SELECT (SELECT MAX(last_hello_at) FROM agents) AS hello, (SELECT MAX(updated_at) FROM alerts) AS alert,
              (SELECT COUNT(*) FROM agents WHERE poll_error IS NOT NULL) AS "pollsFailing"`,
    );
    this.poll = setInterval(() => {
      if (!this.live.clients) return;
      let now: string;
      try {
        now = `${options.sessions.connected}|${JSON.stringify(signal.get())}`;
      } catch (err) {
        // Debug: the snapshots a database away refuses already say so, each of them.
        this.log.debug({ code: 'STORE_FAILED', err: (err as Error).message }, 'connections and alerts not read');
        return;
      }
      if (this.lastSignal && now !== this.lastSignal) this.live.notify(CONNECTION_VIEWS);
      this.lastSignal = now;
    }, POLL_MS);
    this.poll.unref();
  }

  /** Applies the access rule; answers the request itself (401, 403, redirect) and returns false when it may not go on. */
  authorize(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const result = this.guard.check(req, url);
    if (result.ok === true) return true;
    if (result.ok === 'redirect') {
      res.writeHead(303, { location: result.location, 'set-cookie': result.cookie, 'cache-control': 'no-store' });
      res.end();
      return false;
    }
    if (result.status === 401) res.setHeader('www-authenticate', 'Bearer realm="hvmap"');
    if (url.pathname === '/' && (req.headers.accept ?? '').includes('text/html')) {
      const html = `<!doctype html><meta charset="utf-8"><title>hvmap: sign in</title>
<body style="font:15px system-ui,sans-serif;max-width:40em;margin:4em auto;color:#1f2328">
<h1 style="font-size:20px">hvmap</h1><p>${escapeHtml(result.message)}.</p></body>`;
      res.writeHead(result.status, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP });
      res.end(html);
      return false;
    }
    sendJson(res, result.status, { error: result.code, message: result.message });
    return false;
  }

  /** Serves the page, its files, the API views and /metrics; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    try {
      const file = this.files.get(url.pathname);
      if (file) {
        if (req.headers['if-none-match'] === file.etag) {
          res.writeHead(304, { etag: file.etag });
          res.end();
          return true;
        }
        res.writeHead(200, {
          'content-type': file.type,
          'content-length': file.body.length,
          etag: file.etag,
          // Revalidated on each load: a new collector version is picked up without a hard refresh.
          'cache-control': 'no-cache',
          'content-security-policy': CSP,
          'x-frame-options': 'DENY',
        });
        res.end(file.body);
        return true;
      }
      if (url.pathname === '/metrics') {
        const { db, sessions, evaluationSeconds, catalog, alertDeliveries } = this.options;
        const text = renderMetrics({
          db,
          map: this.map,
          ingest: sessions,
          evaluationSeconds,
          liveClients: () => this.live.clients,
          catalogVersion: () => catalog().version,
          alertDeliveries,
          connections: this.options.connections,
        });
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
        res.end(text);
        return true;
      }
      return handleApi(
        { db: this.options.db, live: this.options.sessions, map: this.map, catalog: this.options.catalog },
        res,
        url,
      );
    } catch (err) {
      if (err instanceof BadRequest) {
        sendJson(res, 400, { error: err.code, message: err.message });
        return true;
      }
      this.log.error({ code: 'VIEW_FAILED', path: url.pathname, err: (err as Error).message }, 'view failed');
      if (!res.headersSent)
        sendJson(res, 500, { error: 'INTERNAL', message: 'the collector could not read this view; see its log' });
      else res.destroy();
      return true;
    }
  }

  /** Takes `/live` upgrades (after the access rule and an Origin check); false for other paths. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): boolean {
    if (url.pathname !== '/live') return false;
    const refuse = (status: number, reason: string) => {
      countRefusal(this.options.connections, status);
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${reason}\n`,
      );
    };
    if (!this.guard.sameOrigin(req)) refuse(403, 'a page from another origin may not follow this collector');
    else {
      const result = this.guard.check(req, url);
      if (result.ok === true && this.live.full)
        refuse(503, `this collector already serves ${this.live.clients} live pages (--max-live-pages); close some`);
      else if (result.ok === true) this.live.upgrade(req, socket, head);
      else if (result.ok === 'redirect') refuse(401, 'send the operator token as a cookie or bearer header');
      else refuse(result.status, result.message);
    }
    return true;
  }

  close(): void {
    this.options.events.off('changes', this.onChanges);
    this.options.events.off('catalog', this.onCatalog);
    this.options.events.off('storedElsewhere', this.onStoredElsewhere);
    this.options.events.off('pollStateChanged', this.onPollStateChanged);
    clearInterval(this.poll);
    this.live.close();
  }
}
