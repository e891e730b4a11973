import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { identifyHypervisor } from '@hvmap/shared';
import type { Logger } from 'pino';
import { Poller, type PollScan } from './agentless/poller.js';
import { AlertEngine } from './alerts/engine.js';
import type { WebhookOptions } from './alerts/notify.js';
import { defaultAccess, isLoopback } from './api/access.js';
import { OperatorTokens } from './api/operators.js';
import { type Catalog, loadCatalog } from './catalog/load.js';
import { Evaluator, today } from './map/evaluator.js';
import { Histogram } from './metrics/histogram.js';
import { createHttpServer, ListenError, listen, parseListen } from './server/http.js';
import { AgentSessions } from './server/ingest.js';
import { type ConnectionCounters, newConnectionCounters } from './server/limits.js';
import { checkpointInBackground } from './store/checkpoints.js';
import { creationUndo, type Db, isPostgresUrl, openDatabase, redactedUrl, type Statement } from './store/db.js';
import { type Change, DEFAULT_STORE_LIMITS, type HostJudge, InventoryStore } from './store/inventory.js';
import { advisoryLock } from './store/postgres/advisory-lock.js';
import { ChangeFeed } from './store/postgres/change-feed.js';
import { lockDatabase } from './store/serve-lock.js';
import { TokenStore } from './store/tokens.js';
import { Web } from './web/web.js';

/** Every default of the collector, in one place (printed by --help). */
export const COLLECTOR_DEFAULTS = {
  listen: '127.0.0.1:8600',
  db: './data/hvmap.db',
  intervalSec: 60,
  helloTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
  /** Warn this many days before a guest OS reaches its end of support. */
  eolWarnDays: 90,
  /** A host is silent after this many scan intervals without contact (and never before 3 minutes). */
  silentAfterIntervals: 3,
  minSilentAfterSec: 180,
  alertCheckIntervalMs: 10_000,
  /** Concurrent connections one remote address may hold (an agent needs one; a browser a few). */
  maxConnectionsPerAddress: 64,
  /** Live pages (`/live`) followed at once; beyond, a page is refused with 503. */
  maxLivePages: 500,
  /** Guests one snapshot may hold; a host above it is refused (TOO_MANY_GUESTS). */
  maxGuestsPerHost: 10_000,
  /** What a host keeps of its past: guests that left it, and change rows (newest first). */
  maxRemovedGuestsPerHost: DEFAULT_STORE_LIMITS.maxRemovedGuestsPerHost,
  maxChangesPerHost: DEFAULT_STORE_LIMITS.maxChangesPerHost,
  /** Removed guests, change rows and resolved alerts older than this are forgotten (checked hourly). */
  retentionDays: 90,
  /** A connection that has not sent complete request headers (or finished TLS) by then is closed. */
  headersTimeoutMs: 10_000,
  /** Hosts polled over SSH at once (serve --poll). */
  pollParallel: 8,
  /** A poll still running after this long is ended; a host slower than its interval is only read less often. */
  pollDeadlineMs: 120_000,
  /** The first poll of each listed host starts within this long after start (spread, not all at once). */
  firstPollWithinMs: 5_000,
  /** On PostgreSQL, how often a collector reads which agents the others hold. */
  sharedConnectionsEveryMs: 2_000,
} as const;

/** pg_advisory_lock's key for the alerts' periodic checks, held by one collector of those sharing a database. */
const CHECKS_LOCK = 0x68766d61;

/** The catalog data files shipped with the collector. */
export const SHIPPED_CATALOG_DIR = fileURLToPath(new URL('../catalog', import.meta.url));

export interface CollectorOptions {
  db: string;
  listen?: string;
  /** Operators' own catalog rows, merged over the shipped ones. */
  localCatalogDir?: string;
  intervalSec?: number;
  helloTimeoutMs?: number;
  pingIntervalMs?: number;
  /** Frames one agent connection may send (default 5 a second, a burst of 30); test/bench raises it. */
  frameRate?: { perSecond: number; burst: number };
  eolWarnDays?: number;
  silentAfterSec?: number;
  alertCheckIntervalMs?: number;
  webhooks?: WebhookOptions;
  /**
   * Ask the page, the API and /metrics for an operator token. Default: only when bound off loopback
   * or behind a trusted proxy (README "API").
   */
  requireOperatorToken?: boolean;
  /** A reverse proxy's header naming the user it authenticated (`--trust-proxy-header`). */
  trustProxyHeader?: string;
  /** PEM certificate (chain) and private key: serve https:// and wss:// (README "TLS"). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Bind beyond loopback without TLS (`--insecure-plaintext`): tokens and the inventory then cross
   * the network readable by anyone on the path. Without it such a listen is refused (INSECURE_LISTEN).
   */
  insecurePlaintext?: boolean;
  /** Concurrent connections one remote address may hold; 0: no limit. */
  maxConnectionsPerAddress?: number;
  /** Pages following the map at once (`/live`); default COLLECTOR_DEFAULTS.maxLivePages. */
  maxLivePages?: number;
  maxGuestsPerHost?: number;
  maxRemovedGuestsPerHost?: number;
  maxChangesPerHost?: number;
  retentionDays?: number;
  headersTimeoutMs?: number;
  /** Hosts read over SSH on the scan interval instead of by an agent (`serve --poll FILE`). */
  poll?: PollSettings;
  logger: Logger;
}

export interface PollSettings {
  file: string;
  /** The login of lines that name none (USER@ omitted). */
  defaultUser: string;
  scan: PollScan;
  /** Polls running at once (default COLLECTOR_DEFAULTS.pollParallel). */
  parallel?: number;
  /** A poll still running after this long is ended (default COLLECTOR_DEFAULTS.pollDeadlineMs). */
  deadlineMs?: number;
}

/** What the collector announces as the map moves (the live page and alerts listen here). */
export interface CollectorEvents {
  /** A snapshot changed what is stored for this agent's host. */
  changes: [agentName: string, changes: Change[]];
  /** A new catalog is in force and the fleet was re-evaluated under it. */
  catalog: [version: string];
  /**
   * Another collector on the same PostgreSQL database stored a snapshot of this agent's host
   * (`null`: anything may have been stored, the feed between them having been cut).
   */
  storedElsewhere: [agentName: string | null];
  /** A host polled over SSH began or stopped failing (a poll that reads it also stores a snapshot). */
  pollStateChanged: [agentName: string];
}

export interface RunningCollector {
  /** http(s)://HOST:PORT */
  url: string;
  /** ws(s)://HOST:PORT/agent */
  agentUrl: string;
  db: Db;
  tokens: TokenStore;
  store: InventoryStore;
  sessions: AgentSessions;
  /** The hosts polled over SSH (`serve --poll`); `reload()` follows an edited poll file. */
  poller: Poller | null;
  evaluator: Evaluator;
  alerts: AlertEngine;
  events: EventEmitter<CollectorEvents>;
  /**
   * Loads the catalog again (shipped + local) and re-evaluates the fleet under it. A catalog that
   * does not load is refused with its file, row and reason, and the running one stays in force.
   */
  reloadCatalog(): { ok: true; version: string; changedGuests: number } | { ok: false; error: string };
  /** Operators' tokens for the page and the API. */
  operators: OperatorTokens;
  /** The page, the API views, /metrics and the live feed. */
  web: Web;
  server: Server;
  /** What the port refused or cut off (per-address limit, timeouts, 4xx answers). */
  connections: ConnectionCounters;
  close(): Promise<void>;
}

export function loadCollectorCatalog(localCatalogDir?: string): Catalog {
  return loadCatalog({
    shipped: SHIPPED_CATALOG_DIR,
    local: localCatalogDir ? path.resolve(localCatalogDir) : undefined,
  });
}

/** Opens the store, loads the catalog and serves agents and reports on one port. */
export async function startCollector(options: CollectorOptions): Promise<RunningCollector> {
  const logger = options.logger;
  const { host, port } = parseListen(options.listen ?? COLLECTOR_DEFAULTS.listen);
  if (!isLoopback(host) && !options.tls && !options.insecurePlaintext) {
    throw new ListenError(
      'INSECURE_LISTEN',
      `refusing to listen on ${host} without TLS: agent tokens and the inventory would cross the network in clear. Give --tls-cert FILE --tls-key FILE (hvmap tls init makes them), bind 127.0.0.1 behind a TLS proxy, or pass --insecure-plaintext to accept the risk`,
    );
  }
  const catalog = loadCollectorCatalog(options.localCatalogDir);
  // Several collectors may serve one PostgreSQL database; an SQLite file has one, holding its lock.
  const onFile = !isPostgresUrl(options.db);
  const undoCreation = onFile ? creationUndo(options.db) : () => {};
  if (onFile && options.db !== ':memory:') mkdirSync(path.dirname(path.resolve(options.db)), { recursive: true });
  const unlock = onFile ? lockDatabase(options.db) : () => {};
  let db: Db;
  try {
    db = openDatabase(options.db, { create: true });
  } catch (err) {
    unlock();
    undoCreation();
    throw err;
  }
  const tokens = new TokenStore(db);
  const store = new InventoryStore(db, {
    maxRemovedGuestsPerHost: options.maxRemovedGuestsPerHost ?? COLLECTOR_DEFAULTS.maxRemovedGuestsPerHost,
    maxChangesPerHost: options.maxChangesPerHost ?? COLLECTOR_DEFAULTS.maxChangesPerHost,
  });
  // Connections a previous run held (it may have been killed) are gone; a read-only database keeps its
  // marks, and so does a shared one (the other collectors' agents are connected).
  try {
    if (onFile) store.clearConnections();
  } catch (err) {
    logger.warn({ code: 'STORE_FAILED', err: (err as Error).message }, 'stale connection marks not cleared');
  }
  const evaluator = new Evaluator(catalog);
  const events = new EventEmitter<CollectorEvents>();
  const intervalSec = options.intervalSec ?? COLLECTOR_DEFAULTS.intervalSec;
  const silentAfterMs =
    1000 *
    (options.silentAfterSec ??
      Math.max(COLLECTOR_DEFAULTS.minSilentAfterSec, COLLECTOR_DEFAULTS.silentAfterIntervals * intervalSec));
  const alerts = new AlertEngine(db, logger.child({ component: 'alerts' }), {
    eolWarnDays: options.eolWarnDays ?? COLLECTOR_DEFAULTS.eolWarnDays,
    silentAfterMs,
    checkIntervalMs: options.alertCheckIntervalMs ?? COLLECTOR_DEFAULTS.alertCheckIntervalMs,
    webhooks: options.webhooks,
    shared: onFile ? undefined : { runsChecks: advisoryLock(db, CHECKS_LOCK) },
    guestsWritten: (agentName, keys) => store.guestsForRules(agentName, keys),
  });
  events.on('changes', (agentName, changes) => alerts.hostChanged(agentName, changes));
  const feed = onFile
    ? null
    : new ChangeFeed({
        url: options.db,
        db,
        logger: logger.child({ component: 'feed' }),
        onStored: (agentName) => {
          store.forgetHost(agentName);
          events.emit('storedElsewhere', agentName);
        },
        onResync: () => {
          store.forgetHost(null);
          events.emit('storedElsewhere', null);
        },
        onCatalog: (version) => {
          // Every collector must judge with the same catalog, or each snapshot would flip the verdicts
          // another one wrote: this one loads its own files again, and says so when they differ.
          if (version === evaluator.catalogVersion) return;
          const result = reloadCatalog();
          if (result.ok && result.version !== version)
            logger.error(
              { code: 'CATALOG_DIFFERS', catalog: result.version, elsewhere: version },
              'another collector on this database judges with another catalog: give every collector the same catalog files',
            );
        },
      });
  if (feed) {
    // After the snapshot's commit (ingest commits it with its alerts), and outside it: a failed
    // notification must not abort the transaction that stores the snapshot.
    events.on('changes', (agentName) => queueMicrotask(() => feed.publish(agentName)));
    await feed.ready;
  }

  /** Puts a catalog in force and re-evaluates every present guest under it; returns the changes. */
  const reevaluate = (next: Catalog): number => {
    const started = performance.now();
    evaluator.setCatalog(next);
    const rejudged = new Map<string, Set<string>>();
    const date = today();
    // Hosts on the same hypervisor share one judge, and so its verdicts.
    const judges = new Map<string, HostJudge>();
    const changed = store.reevaluateAll(
      (hv) => {
        const identity = identifyHypervisor(hv);
        const key = `${identity?.id ?? '?'}\u0000${identity?.name ?? ''}`;
        let judge = judges.get(key);
        if (!judge) {
          judge = {
            guest: (guest) => evaluator.evaluateGuest(guest, identity, date),
            input: evaluator.judgeOn(identity, date),
          };
          judges.set(key, judge);
        }
        return judge;
      },
      next.version,
      undefined,
      rejudged,
    );
    let changedGuests = 0;
    for (const [agentName, changes] of changed) {
      changedGuests += changes.length;
      events.emit('changes', agentName, changes);
    }
    // Only a guest whose verdict was rewritten can have other alerts under the new catalog (the
    // silence and driver errors do not depend on it): a whole pass took ~1 s at 100,000 guests.
    for (const [agentName, guestKeys] of rejudged) alerts.guestsRejudged(agentName, guestKeys);
    events.emit('catalog', next.version);
    logger.info(
      { catalog: next.version, changedGuests, ms: Math.round(performance.now() - started) },
      'fleet re-evaluated',
    );
    return changedGuests;
  };
  /** Loads the catalog again (shipped + local); one that does not load leaves the running one in force. */
  function reloadCatalog(): ReturnType<RunningCollector['reloadCatalog']> {
    let next: Catalog;
    try {
      next = loadCollectorCatalog(options.localCatalogDir);
    } catch (err) {
      const error = (err as Error).message;
      logger.error(
        { code: (err as { code?: string }).code ?? 'CATALOG_INVALID', err: error },
        'catalog refused; the running one stays',
      );
      return { ok: false, error };
    }
    const changedGuests = reevaluate(next);
    return { ok: true, version: next.version, changedGuests };
  }
  // A collector upgraded with a new catalog judges what it stored under the old one again at once.
  if (store.lastCatalogRun() !== catalog.version) reevaluate(catalog);
  alerts.reconcileAll();
  const evaluationSeconds = new Histogram();
  const sessions = new AgentSessions({
    store,
    evaluator,
    logger: logger.child({ component: 'ingest' }),
    intervalSec,
    helloTimeoutMs: options.helloTimeoutMs ?? COLLECTOR_DEFAULTS.helloTimeoutMs,
    pingIntervalMs: options.pingIntervalMs ?? COLLECTOR_DEFAULTS.pingIntervalMs,
    frameRate: options.frameRate,
    onChanges: (agentName, changes) => events.emit('changes', agentName, changes),
    maxGuestsPerHost: options.maxGuestsPerHost ?? COLLECTOR_DEFAULTS.maxGuestsPerHost,
    observeEvaluation: (seconds) => evaluationSeconds.observe(seconds),
  });
  // What is older than the retention is forgotten: at start, then hourly.
  const retentionDays = options.retentionDays ?? COLLECTOR_DEFAULTS.retentionDays;
  const prune = () => {
    try {
      const pruned = store.prune(new Date(Date.now() - retentionDays * 86_400_000).toISOString());
      if (pruned.guests + pruned.changes + pruned.alerts)
        logger.info({ ...pruned, retentionDays }, 'forgot what is older than the retention');
    } catch (err) {
      logger.warn({ code: 'STORE_FAILED', err: (err as Error).message }, 'retention not applied');
    }
  };
  prune();
  const pruning = setInterval(prune, 3_600_000);
  pruning.unref();
  // A revoke by another process (hvmap tokens revoke on this database) cuts its agent within a second.
  const revocations = setInterval(() => {
    try {
      if (sessions.connected) sessions.closeRevoked(tokens.revokedNames());
    } catch (err) {
      // Debug: a database away fails every second here, and the snapshots it refuses already say so.
      logger.debug({ code: 'STORE_FAILED', err: (err as Error).message }, 'revoked tokens not read');
    }
  }, 1000);
  revocations.unref();
  const poller = options.poll
    ? new Poller({
        file: options.poll.file,
        defaultUser: options.poll.defaultUser,
        scan: options.poll.scan,
        intervalMs: intervalSec * 1000,
        parallel: options.poll.parallel ?? COLLECTOR_DEFAULTS.pollParallel,
        deadlineMs: options.poll.deadlineMs ?? COLLECTOR_DEFAULTS.pollDeadlineMs,
        firstPollWithinMs: Math.min(intervalSec * 1000, COLLECTOR_DEFAULTS.firstPollWithinMs),
        sessions,
        store,
        tokens,
        maxGuestsPerHost: options.maxGuestsPerHost ?? COLLECTOR_DEFAULTS.maxGuestsPerHost,
        onPollStateChanged: (name) => events.emit('pollStateChanged', name),
        logger: logger.child({ component: 'poll' }),
      })
    : null;
  // What the page and the API call connected: an agent holding its connection, a polled host whose
  // last poll read it. The count stays the agents' (the summary counts polled hosts apart).
  // On a shared database, an agent that holds its connection to another collector is connected too:
  // marked so there, and heard from within the silence delay (a killed collector leaves its marks).
  let connectedElsewhere = new Set<string>();
  const markedConnected = onFile
    ? null
    : db.prepare(
        `SELECT a.name FROM agents a JOIN hosts h ON h.agent_name = a.name
         WHERE a.connected_at IS NOT NULL AND a.kind = 'agent' AND h.last_contact_at > ?`,
      );
  const readConnectedElsewhere = (marked: Statement) => {
    try {
      const since = new Date(Date.now() - silentAfterMs).toISOString();
      connectedElsewhere = new Set((marked.all(since) as { name: string }[]).map((r) => r.name));
    } catch (err) {
      logger.warn({ code: 'STORE_FAILED', err: (err as Error).message }, 'connections elsewhere not read');
    }
  };
  const live = {
    counters: sessions.counters,
    isConnected: (name: string) =>
      sessions.isConnected(name) || Boolean(poller?.isReachable(name)) || connectedElsewhere.has(name),
    get connected() {
      let elsewhere = 0;
      for (const name of connectedElsewhere) if (!sessions.isConnected(name)) elsewhere++;
      return sessions.connected + elsewhere;
    },
  };
  const operators = new OperatorTokens(db);
  const connections = newConnectionCounters();
  const access = defaultAccess(host, options.trustProxyHeader);
  const web = new Web({
    db,
    sessions: live,
    operators,
    access: { ...access, requireToken: options.requireOperatorToken ?? access.requireToken },
    events,
    catalog: () => evaluator.catalogInForce,
    alertDeliveries: () => alerts.notifier.counters,
    evaluationSeconds,
    connections,
    logger,
    live: { maxClients: options.maxLivePages ?? COLLECTOR_DEFAULTS.maxLivePages },
  });
  let server: Server;
  let address: Awaited<ReturnType<typeof listen>>;
  try {
    server = createHttpServer({
      db,
      tokens,
      sessions,
      web,
      logger,
      tls: options.tls,
      maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? COLLECTOR_DEFAULTS.maxConnectionsPerAddress,
      headersTimeoutMs: options.headersTimeoutMs ?? COLLECTOR_DEFAULTS.headersTimeoutMs,
      connections,
    });
    address = await listen(server, host, port);
  } catch (err) {
    await sessions.closeAll();
    web.close();
    feed?.close();
    alerts.close();
    db.close();
    unlock();
    undoCreation();
    throw err;
  }
  // Polling starts once the port is ours: a second collector on this database never got this far.
  if (poller) {
    const loaded = poller.load();
    if (!loaded.ok) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sessions.closeAll();
      web.close();
      feed?.close();
      alerts.close();
      db.close();
      unlock();
      undoCreation();
      throw new PollFileError(loaded.error);
    }
  }
  const checkpoints =
    onFile && options.db !== ':memory:'
      ? checkpointInBackground(options.db, db, logger.child({ component: 'store' }))
      : null;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const secure = options.tls ? 's' : '';
  const url = `http${secure}://${hostPart}:${address.port}`;
  const followConnections = markedConnected
    ? setInterval(() => readConnectedElsewhere(markedConnected), COLLECTOR_DEFAULTS.sharedConnectionsEveryMs)
    : undefined;
  followConnections?.unref();
  logger.info(
    { url, db: onFile ? options.db : redactedUrl(options.db), catalog: catalog.version },
    'collector listening',
  );
  if (!isLoopback(host) && !options.tls)
    logger.warn({ code: 'INSECURE_LISTEN' }, 'serving beyond loopback without TLS (--insecure-plaintext)');
  return {
    url,
    agentUrl: `ws${secure}://${hostPart}:${address.port}/agent`,
    db,
    tokens,
    store,
    sessions,
    poller,
    evaluator,
    alerts,
    events,
    operators,
    web,
    server,
    connections,
    reloadCatalog() {
      const result = reloadCatalog();
      if (result.ok) feed?.publishCatalog(result.version);
      return result;
    },
    async close() {
      clearInterval(followConnections);
      feed?.close();
      poller?.close();
      clearInterval(revocations);
      clearInterval(pruning);
      web.close();
      alerts.close();
      const stopping = sessions.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stopping;
      await checkpoints?.stop();
      db.close();
      unlock();
    },
  };
}

/** The poll file given at start does not parse: refused with its line, nothing polled. */
export class PollFileError extends Error {
  readonly code = 'POLL_FILE_INVALID';
}
