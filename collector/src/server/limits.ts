import { STATUS_CODES } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { Logger } from 'pino';

/** What the collector's port refused or cut off, for /metrics. */
export interface ConnectionCounters {
  /** TCP connections open now. */
  open: number;
  /** Connections closed at accept because their address already held the maximum. */
  refusedPerAddress: number;
  /**
   * Connections closed for a request that never completed (idle, half-open, slow headers:
   * ERR_HTTP_REQUEST_TIMEOUT), a malformed or oversized one (HPE_*), or a failed TLS handshake.
   */
  clientErrors: Record<string, number>;
  /** Requests and upgrades answered 4xx, by status (bad paths and parameters, tokens, methods). */
  refusedByStatus: Record<string, number>;
}

export function newConnectionCounters(): ConnectionCounters {
  return { open: 0, refusedPerAddress: 0, clientErrors: {}, refusedByStatus: {} };
}

/** Counts one 4xx answer. */
export function countRefusal(counters: ConnectionCounters, status: number): void {
  if (status >= 400 && status < 500) counters.refusedByStatus[status] = (counters.refusedByStatus[status] ?? 0) + 1;
}

/** The status Node itself would answer for a client error (its default `clientError` behaviour). */
function statusFor(code: string | undefined): number {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  return 400;
}

/**
 * Holds every address to `maxPerAddress` concurrent connections (0: no limit): one host opening
 * thousands of idle sockets cannot use up the file descriptors every agent needs. Connections over
 * the limit are closed at accept, before any byte is read. Client errors (Node closes the socket for
 * them: headers not complete within `headersTimeout`, malformed requests) are counted by code and
 * answered as Node would; TLS handshake failures (`tlsClientError`) are counted the same way.
 */
export function limitConnections(
  server: NetServer,
  maxPerAddress: number,
  counters: ConnectionCounters,
  logger: Logger,
): void {
  const perAddress = new Map<string, number>();
  const saturated = new Set<string>();

  server.on('connection', (socket: Socket) => {
    // A socket reset before accept completed has no address: let Node close it.
    const address = socket.remoteAddress;
    if (!address) return;
    const held = perAddress.get(address) ?? 0;
    if (maxPerAddress > 0 && held >= maxPerAddress) {
      counters.refusedPerAddress++;
      // One line when an address reaches the limit, not one per refused socket of a flood.
      if (!saturated.has(address)) {
        saturated.add(address);
        logger.warn(
          { code: 'CONNECTION_LIMIT', remote: address, limit: maxPerAddress },
          'an address holds the most connections allowed; refusing more from it (--max-connections-per-address)',
        );
      }
      socket.destroy();
      return;
    }
    perAddress.set(address, held + 1);
    counters.open++;
    socket.once('close', () => {
      counters.open--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
      if (left < maxPerAddress) saturated.delete(address);
    });
  });

  const count = (code: string) => {
    counters.clientErrors[code] = (counters.clientErrors[code] ?? 0) + 1;
  };
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    const code = err.code ?? 'CLIENT_ERROR';
    count(code);
    // A listener replaces Node's own answer: give the same one and close at once, as Node does
    // (end() would wait for a half-open peer's FIN that never comes).
    if (code !== 'ECONNRESET' && socket.writable) {
      const status = statusFor(code);
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });
  server.on('tlsClientError', (err: Error & { code?: string }) => count(err.code ?? 'TLS_ERROR'));
}
