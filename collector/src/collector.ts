import type { Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { type Catalog, loadCatalog } from './catalog/load.js';
import { Evaluator } from './map/evaluator.js';
import { createHttpServer, listen, parseListen } from './server/http.js';
import { AgentSessions, type IngestOptions } from './server/ingest.js';
import { type Db, openDatabase } from './store/db.js';
import { InventoryStore } from './store/inventory.js';
import { TokenStore } from './store/tokens.js';

/** Every default of the collector, in one place (printed by --help). */
export const COLLECTOR_DEFAULTS = {
  listen: '127.0.0.1:8600',
  db: './data/hvmap.db',
  intervalSec: 60,
  helloTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
} as const;

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
  logger: Logger;
  onChanges?: IngestOptions['onChanges'];
}

export interface RunningCollector {
  /** http://HOST:PORT */
  url: string;
  /** ws://HOST:PORT/agent */
  agentUrl: string;
  db: Db;
  tokens: TokenStore;
  store: InventoryStore;
  sessions: AgentSessions;
  evaluator: Evaluator;
  server: Server;
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
  const catalog = loadCollectorCatalog(options.localCatalogDir);
  const db = openDatabase(options.db);
  const tokens = new TokenStore(db);
  const store = new InventoryStore(db);
  const evaluator = new Evaluator(catalog);
  const sessions = new AgentSessions({
    store,
    evaluator,
    logger: logger.child({ component: 'ingest' }),
    intervalSec: options.intervalSec ?? COLLECTOR_DEFAULTS.intervalSec,
    helloTimeoutMs: options.helloTimeoutMs ?? COLLECTOR_DEFAULTS.helloTimeoutMs,
    pingIntervalMs: options.pingIntervalMs ?? COLLECTOR_DEFAULTS.pingIntervalMs,
    onChanges: options.onChanges,
  });
  const server = createHttpServer({ db, tokens, sessions, logger });
  const { host, port } = parseListen(options.listen ?? COLLECTOR_DEFAULTS.listen);
  let address: Awaited<ReturnType<typeof listen>>;
  try {
    address = await listen(server, host, port);
  } catch (err) {
    db.close();
    throw err;
  }
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${hostPart}:${address.port}`;
  logger.info({ url, db: options.db, catalog: catalog.version }, 'collector listening');
  return {
    url,
    agentUrl: `ws://${hostPart}:${address.port}/agent`,
    db,
    tokens,
    store,
    sessions,
    evaluator,
    server,
    async close() {
      sessions.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      db.close();
    },
  };
}
