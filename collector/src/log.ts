import { type Logger, pino } from 'pino';

/** The collector's root logger: JSON to stderr, secrets redacted wherever they appear. */
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
    pino.destination(2),
  );
}
