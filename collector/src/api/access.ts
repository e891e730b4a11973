import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { OperatorTokens } from './operators.js';

/** Who may read the page, the API and /metrics (agents authenticate at /agent on their own). */
export interface AccessOptions {
  /** Ask every request for an operator token or the trusted proxy header. */
  requireToken: boolean;
  /** A header a reverse proxy sets to the user it authenticated; trusted as-is when non-empty. */
  trustProxyHeader?: string;
}

/** The cookie `?token=` sets, so a browser presents the token without a header. */
export const OPERATOR_COOKIE = 'hvmap_operator';
const COOKIE_MAX_AGE_SEC = 7 * 24 * 3600;

export type AccessResult =
  | { ok: true; operator: string | null }
  | { ok: false; status: 401 | 403; code: string; message: string }
  /** A valid `?token=`: answer with this cookie and a redirect to the same URL without the token. */
  | { ok: 'redirect'; location: string; cookie: string };

/** True for addresses and names only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopback(h.slice(7));
  return h === '::1';
}

/**
 * The default rule: open on loopback, closed elsewhere. A proxy header means a reverse proxy sits in
 * front, and then loopback says nothing about who is asking: requests must be authenticated.
 */
export function defaultAccess(boundHost: string, trustProxyHeader?: string): AccessOptions {
  return { requireToken: !isLoopback(boundHost) || Boolean(trustProxyHeader), trustProxyHeader };
}

function hostnameOf(hostHeader: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(hostHeader);
  return m ? m[1] : hostHeader;
}

function cookie(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      // A cookie that is not valid percent-encoding is no token: the request goes on without it.
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** Decides each request of the page, the API, /metrics and /live by the rule in force. */
export class AccessGuard {
  constructor(
    private readonly operators: OperatorTokens,
    readonly options: AccessOptions,
  ) {}

  check(req: IncomingMessage, url: URL): AccessResult {
    if (!this.options.requireToken) {
      // An open collector answers only to loopback names: a web page elsewhere that rebinds its own
      // DNS name to 127.0.0.1 must not read the map through the visitor's browser.
      const host = req.headers.host;
      if (host && !isLoopback(hostnameOf(host))) {
        return {
          ok: false,
          status: 403,
          code: 'HOST_NOT_ALLOWED',
          message: `this collector is bound to loopback and answers only to 127.0.0.1, [::1] or localhost, not "${host}"`,
        };
      }
      return { ok: true, operator: null };
    }
    const header = this.options.trustProxyHeader;
    const proxied = header ? req.headers[header.toLowerCase()] : undefined;
    if (typeof proxied === 'string' && proxied.trim()) return { ok: true, operator: proxied.trim() };

    const auth = req.headers.authorization;
    const bearer = auth ? /^Bearer\s+(\S+)$/i.exec(auth)?.[1] : undefined;
    if (bearer) return this.byToken(bearer, 'the Authorization bearer token');

    const fromQuery = url.searchParams.get('token');
    if (fromQuery) {
      const result = this.byToken(fromQuery, 'the token in the URL');
      if (result.ok !== true || req.method !== 'GET') return result;
      const clean = new URL(url);
      clean.searchParams.delete('token');
      const tls = (req.socket as TLSSocket).encrypted === true || req.headers['x-forwarded-proto'] === 'https';
      const secure = tls ? '; Secure' : '';
      // A path starting with // would name another host in Location: answer the page's root then.
      const location = clean.pathname.startsWith('//') ? '/' : `${clean.pathname}${clean.search}`;
      return {
        ok: 'redirect',
        location,
        cookie: `${OPERATOR_COOKIE}=${encodeURIComponent(fromQuery)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MAX_AGE_SEC}${secure}`,
      };
    }
    const fromCookie = cookie(req, OPERATOR_COOKIE);
    if (fromCookie) return this.byToken(fromCookie, 'the session cookie');
    return {
      ok: false,
      status: 401,
      code: 'UNAUTHORIZED',
      message:
        'this collector asks for an operator token: send "Authorization: Bearer hvo_…" or open the page once with ?token=hvo_… (create one with: hvmap tokens create --operator NAME)',
    };
  }

  /**
   * A WebSocket from a browser carries the page's Origin: one from another site is refused even
   * with a valid cookie (cross-site WebSocket hijacking).
   */
  sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (!origin) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  private byToken(token: string, where: string): AccessResult {
    const operator = this.operators.authenticate(token);
    if (operator) return { ok: true, operator };
    return {
      ok: false,
      status: 401,
      code: 'TOKEN_REJECTED',
      message: `${where} is not an active operator token (hvmap tokens list shows them)`,
    };
  }
}
