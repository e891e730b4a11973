import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { MAX_FRAME_BYTES } from '@hvmap/shared';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { guestsCsv } from '../report/format.js';
import type { Db } from '../store/db.js';
import { readReport } from '../store/report.js';
import type { TokenStore } from '../store/tokens.js';
import type { Web } from '../web/web.js';
import type { AgentSessions } from './ingest.js';
import { type ConnectionCounters, countRefusal, limitConnections } from './limits.js';
import { requestTarget } from './request-target.js';

export interface HttpOptions {
  db: Db;
  tokens: TokenStore;
  sessions: AgentSessions;
  /** The page, the API views, /metrics and /live, behind the operators' access rule. */
  web: Web;
  logger: Logger;
  /** PEM certificate (chain) and private key: the port serves https:// and wss:// instead. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Concurrent connections one remote address may hold; 0: no limit. */
  maxConnectionsPerAddress: number;
  /** A connection must complete its request headers (and TLS handshake) within this time. */
  headersTimeoutMs: number;
  connections: ConnectionCounters;
}

/** A request line longer than this is refused with 414: no route needs one. */
const MAX_URL_BYTES = 8192;

/** The collector refuses to start as configured; the message says what to do instead. */
export class ListenError extends Error {
  constructor(
    readonly code: 'INSECURE_LISTEN' | 'TLS_INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

/** Parses "HOST:PORT" (IPv6 in brackets); the default binds loopback only. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`--listen must be HOST:PORT, got "${listen}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--listen port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function bearer(request: IncomingMessage): string | null {
  const header = request.headers.authorization;
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return m ? m[1] : null;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const REPORT_STATUSES = ['certified', 'not-certified', 'unknown'];
const BAD_TARGET = { error: 'BAD_REQUEST_TARGET', message: 'a request target is a path starting with "/"' };
const REPORT_FORMATS = ['json', 'csv'];

/**
 * The collector's one HTTP(S) server: agents upgrade at /agent, reports at /api, health at /healthz.
 * Throws ListenError (TLS_INVALID) when the key and certificate do not make a TLS context.
 */
export function createHttpServer(options: HttpOptions): Server {
  const { db, tokens, sessions, web, logger, connections } = options;
  const log = logger.child({ component: 'http' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    res.once('finish', () => countRefusal(connections, res.statusCode));
    if ((req.url ?? '').length > MAX_URL_BYTES)
      return json(res, 414, { error: 'URI_TOO_LONG', message: `request lines are limited to ${MAX_URL_BYTES} bytes` });
    const url = requestTarget(req.url);
    if (!url) return json(res, 400, BAD_TARGET);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return json(res, 405, { error: 'METHOD_NOT_ALLOWED', message: 'every route answers GET (and HEAD) only' });
    if (url.pathname === '/healthz') return json(res, 200, { ok: true, agentsConnected: sessions.connected });
    if (!web.authorize(req, res, url)) return;
    if (url.pathname === '/api/report') {
      const status = url.searchParams.get('status') || undefined;
      const format = url.searchParams.get('format') || 'json';
      if (status !== undefined && !REPORT_STATUSES.includes(status))
        return json(res, 400, {
          error: 'BAD_REQUEST',
          message: `status must be one of ${REPORT_STATUSES.join(', ')}; got "${status}"`,
        });
      if (!REPORT_FORMATS.includes(format))
        return json(res, 400, { error: 'BAD_REQUEST', message: `format must be json or csv; got "${format}"` });
      const report = readReport(db, { status });
      if (format === 'csv') {
        res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
        return res.end(guestsCsv(report));
      }
      return json(res, 200, report);
    }
    if (web.handle(req, res, url)) return;
    json(res, 404, { error: 'NOT_FOUND', message: 'no such route (README "API" lists them)', path: url.pathname });
  };
  // Whatever a request makes the collector throw is answered and logged; the collector goes on.
  const guardedRequest = (req: IncomingMessage, res: ServerResponse) => {
    try {
      onRequest(req, res);
    } catch (err) {
      log.error(
        { code: 'REQUEST_FAILED', path: (req.url ?? '').slice(0, 200), err: (err as Error).message },
        'request failed',
      );
      if (!res.headersSent)
        json(res, 500, { error: 'INTERNAL', message: 'the collector could not answer this; see its log' });
      else res.destroy();
    }
  };
  const timeouts = {
    headersTimeout: options.headersTimeoutMs,
    // Bigger than the headers' deadline (Node requires it); the API answers in far less.
    requestTimeout: options.headersTimeoutMs * 3,
    // How often those deadlines are checked (Node's default, 30 s, would let idle sockets sit 3× too long).
    connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs),
  };
  let server: Server;
  if (options.tls) {
    try {
      createSecureContext(options.tls);
    } catch (err) {
      throw new ListenError(
        'TLS_INVALID',
        `the TLS certificate and key do not make a usable pair (${(err as Error).message}); give the PEM files hvmap tls init wrote, or your own matching pair`,
      );
    }
    server = createTlsServer(
      { ...options.tls, ...timeouts, handshakeTimeout: options.headersTimeoutMs },
      guardedRequest,
    );
  } else {
    server = createServer(timeouts, guardedRequest);
  }
  limitConnections(server, options.maxConnectionsPerAddress, connections, log);

  server.on('upgrade', (req, socket, head) => {
    const refuse = (status: number, reason: string) => {
      countRefusal(connections, status);
      log.warn({ remote: req.socket.remoteAddress, status }, reason);
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${reason}\n`,
      );
    };
    try {
      const url = requestTarget(req.url);
      if (!url) return refuse(400, BAD_TARGET.message);
      if (web.upgrade(req, socket, head, url)) return;
      if (url.pathname !== '/agent')
        return refuse(404, 'no WebSocket endpoint here; agents connect to /agent, pages to /live');
      const token = bearer(req);
      const agentName = token ? tokens.authenticate(token) : null;
      if (!agentName) return refuse(401, token ? 'token unknown or revoked' : 'missing Authorization: Bearer token');
      wss.handleUpgrade(req, socket, head, (ws) => sessions.attach(ws, agentName, req));
    } catch (err) {
      log.error(
        { code: 'UPGRADE_FAILED', path: (req.url ?? '').slice(0, 200), err: (err as Error).message },
        'upgrade failed',
      );
      if (socket.writable) refuse(500, 'the collector could not take this connection; see its log');
      else socket.destroy();
    }
  });
  server.on('close', () => wss.close());
  return server;
}

/** Listens and resolves with the bound address (port 0 picks a free port). */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
