import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_FRAME_BYTES } from '@hvmap/shared';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { guestsCsv } from '../report/format.js';
import type { Db } from '../store/db.js';
import { readReport } from '../store/report.js';
import type { TokenStore } from '../store/tokens.js';
import type { Web } from '../web/web.js';
import type { AgentSessions } from './ingest.js';

export interface HttpOptions {
  db: Db;
  tokens: TokenStore;
  sessions: AgentSessions;
  /** The page, the API views, /metrics and /live, behind the operators' access rule. */
  web: Web;
  logger: Logger;
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

/** The collector's one HTTP server: agents upgrade at /agent, reports at /api, health at /healthz. */
export function createHttpServer(options: HttpOptions): Server {
  const { db, tokens, sessions, web, logger } = options;
  const log = logger.child({ component: 'http' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://collector');
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'METHOD_NOT_ALLOWED' });
    if (url.pathname === '/healthz') return json(res, 200, { ok: true, agentsConnected: sessions.connected });
    if (!web.authorize(req, res, url)) return;
    if (url.pathname === '/api/report') {
      const status = url.searchParams.get('status') ?? undefined;
      const report = readReport(db, { status });
      if (url.searchParams.get('format') === 'csv') {
        res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
        return res.end(guestsCsv(report));
      }
      return json(res, 200, report);
    }
    if (web.handle(req, res, url)) return;
    json(res, 404, { error: 'NOT_FOUND', path: url.pathname });
  });

  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://collector').pathname;
    const refuse = (status: number, reason: string) => {
      log.warn({ remote: req.socket.remoteAddress, status }, reason);
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${reason}\n`,
      );
    };
    if (web.upgrade(req, socket, head)) return;
    if (path !== '/agent') return refuse(404, 'no WebSocket endpoint here; agents connect to /agent, pages to /live');
    const token = bearer(req);
    const agentName = token ? tokens.authenticate(token) : null;
    if (!agentName) return refuse(401, token ? 'token unknown or revoked' : 'missing Authorization: Bearer token');
    wss.handleUpgrade(req, socket, head, (ws) => sessions.attach(ws, agentName, req));
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
