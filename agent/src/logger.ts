/**
 * The agent's logger: pino JSON lines on stderr (stdout belongs to `scan` output), with token
 * fields redacted wherever a caller might put them. Components take a child: `logger.child({component})`.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './config.js';

/** Field paths that may carry the agent's token; their values never reach a log line. */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'authorization',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
];

/** A logger writing to `destination` (default stderr). */
export function createLogger(level: LogLevel, destination: DestinationStream = pino.destination(2)): Logger {
  return pino(
    { level, base: { name: 'hvmap-agent' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    destination,
  );
}
