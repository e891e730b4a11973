import { type Logger, pino } from 'pino';

/**
 * The collector's root logger: JSON to stderr, secrets redacted wherever they appear. Written
 * asynchronously: under load a synchronous write a line (an alert that fires or resolves) was ~3% of
 * ingest's thread (test/bench NOTES §1). Lines are flushed on exit (pino's own hook, signals included:
 * `hvmap serve` exits through its close); only a killed process (SIGKILL, OOM) loses its last lines.
 */
export function createLogger(level = process.env.HVMAP_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { app: 'hvmap' },
      redact: {
        paths: [
          'token',
          '*.token',
          'authorization',
          '*.authorization',
          'headers.authorization',
          'password',
          '*.password',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ dest: 2, sync: false }),
  );
}
