import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { chatText } from '../report/hygiene.js';
import { atomicWrite, type Db, type Statement } from '../store/db.js';
import type { AlertNotice } from './store.js';

export interface WebhookOptions {
  urls: readonly string[];
  /** When set, each POST carries `X-Hvmap-Timestamp` and `X-Hvmap-Signature: sha256=<HMAC of timestamp.body>`. */
  secret?: string;
  timeoutMs?: number;
  /** Attempts before a delivery is marked failed (it stays visible in the table and /metrics). */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface DeliveryCounters {
  delivered: number;
  failedAttempts: number;
  gaveUp: number;
}

/** The text chat tools display (Slack, Teams and Mattermost incoming webhooks read `text`). */
export function alertText(n: AlertNotice): string {
  const a = n.alert;
  const head = n.event === 'resolved' ? 'RESOLVED' : a.severity === 'critical' ? 'FIRING' : 'WARNING';
  // The message names guests and hosts as their agents reported them: plain text, never markup.
  return `[hvmap] ${head} ${a.kind}: ${chatText(a.message)}`;
}

/**
 * `sha256=` HMAC of `timestamp.body`: the timestamp (X-Hvmap-Timestamp, Unix seconds) is signed with
 * the body, so a receiver that refuses old timestamps cannot be fed a captured delivery again.
 */
export function signBody(body: string, secret: string, timestamp: number): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Alert log lines per agent and minute, beyond which they are counted instead of written. */
export const ALERT_LOG_LINES_PER_MINUTE = 60;

/** A per-key budget refilled every minute; reports what it dropped once the minute is over. */
class PerKeyRate {
  private readonly used = new Map<string, { minute: number; n: number }>();
  constructor(
    private readonly perMinute: number,
    private readonly onDropped: (key: string, dropped: number) => void,
  ) {}

  take(key: string): boolean {
    const minute = Math.floor(Date.now() / 60_000);
    const u = this.used.get(key);
    if (!u || u.minute !== minute) {
      if (u && u.n > this.perMinute) this.onDropped(key, u.n - this.perMinute);
      this.used.set(key, { minute, n: 1 });
      return true;
    }
    u.n++;
    return u.n <= this.perMinute;
  }
}

/** A claimed delivery is taken again this long after its POST's own timeout ran out. */
const LEASE_MARGIN_MS = 5_000;

/**
 * Delivers alert notices: to the log at once, and to webhooks through a queue kept in the database,
 * so ingest never waits for a webhook and a restart loses no notice. Failed POSTs are retried with
 * exponential backoff and jitter.
 */
export class AlertNotifier {
  readonly counters: DeliveryCounters = { delivered: 0, failedAttempts: 0, gaveUp: 0 };
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private closed = false;
  private readonly opts: Required<Omit<WebhookOptions, 'secret'>> & { secret?: string };
  /** One agent churning guests cannot fill the log: its alert lines are rate-limited (the alerts themselves are kept). */
  private readonly logLines = new PerKeyRate(ALERT_LOG_LINES_PER_MINUTE, (agent, dropped) =>
    this.logger.warn(
      { agent, dropped, code: 'ALERT_LOG_LIMITED' },
      `${dropped} alert log lines of this agent left out`,
    ),
  );

  private readonly claim: Statement;
  private readonly nextDue: Statement;
  private readonly enqueue: Statement;

  /**
   * `shared`: other collectors take deliveries from the same queue (PostgreSQL); a delivery is then
   * claimed with FOR UPDATE SKIP LOCKED, so that each goes out from one collector.
   */
  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    webhooks: WebhookOptions = { urls: [] },
    shared = false,
  ) {
    this.opts = { timeoutMs: 5000, maxAttempts: 12, baseDelayMs: 1000, maxDelayMs: 300_000, ...webhooks };
    // Per webhook, in order: the oldest delivery not yet done goes first, so a receiver never sees an
    // alert resolved before it fired. A claim is a lease: 'sending' until it ends, and taken again
    // after it (by this collector or another) when the one sending died meanwhile.
    this.claim = db.prepare(
      `UPDATE alert_deliveries SET status = 'sending', next_attempt_at = @lease
       WHERE id IN (SELECT id FROM alert_deliveries WHERE id IN
                      (SELECT MIN(id) FROM alert_deliveries WHERE status IN ('pending', 'sending') GROUP BY channel)
                    AND next_attempt_at <= @now${shared ? ' FOR UPDATE SKIP LOCKED' : ''})
         AND status IN ('pending', 'sending') AND next_attempt_at <= @now
       RETURNING id, channel, payload, attempts`,
    );
    this.nextDue = db.prepare(
      `SELECT MIN(next_attempt_at) AS at FROM alert_deliveries WHERE id IN
         (SELECT MIN(id) FROM alert_deliveries WHERE status IN ('pending', 'sending') GROUP BY channel)`,
    );
    this.enqueue = db.prepare(
      `INSERT INTO alert_deliveries (alert_id, event, channel, payload, status, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, 'pending', ?, ?)`,
    );
    // Deliveries left pending by a previous run go out now.
    this.schedule(0);
  }

  notify(notices: readonly AlertNotice[]): void {
    if (!notices.length) return;
    const now = new Date().toISOString();
    const { urls } = this.opts;
    const logAndQueue = () => {
      for (const n of notices) {
        const silenced = n.alert.silencedUntil !== null && n.alert.silencedUntil > now;
        if (this.logLines.take(n.alert.agent))
          this.logger[n.event === 'firing' && !silenced ? 'warn' : 'info'](
            { alert: n.alert.key, event: n.event, severity: n.alert.severity, silenced },
            alertText(n),
          );
        if (silenced || !urls.length) continue;
        const payload = JSON.stringify({ text: alertText(n), event: n.event, alert: n.alert });
        for (const url of urls) this.enqueue.run(n.alertId, n.event, url, payload, now, now);
      }
    };
    // Notices come with every snapshot that moves an alert: without webhooks, they only reach the log.
    if (!urls.length) {
      logAndQueue();
      return;
    }
    atomicWrite(this.db, logAndQueue);
    this.schedule(0);
  }

  /** Looks at the queue now (a delivery another collector left may be due). */
  resume(): void {
    this.schedule(0);
  }

  /** Stops retrying; pending deliveries stay in the database for the next start. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.drain(), delayMs);
    this.timer.unref();
  }

  private backoff(attempts: number): number {
    const cap = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (attempts - 1));
    return cap / 2 + Math.random() * (cap / 2);
  }

  private async drain(): Promise<void> {
    this.running = true;
    let nextInMs: number | null;
    try {
      for (;;) {
        if (this.closed) return;
        const now = Date.now();
        const due = this.claim.all({
          now: new Date(now).toISOString(),
          lease: new Date(now + 2 * this.opts.timeoutMs + LEASE_MARGIN_MS).toISOString(),
        }) as { id: number; channel: string; payload: string; attempts: number }[];
        if (!due.length) break;
        await Promise.all(due.map((d) => this.deliver(d)));
      }
      const next = this.nextDue.get() as { at: string | null };
      nextInMs = next.at ? Math.max(0, Date.parse(next.at) - Date.now()) : null;
    } catch (err) {
      // The queue could not be read or written (a database away): it stays as it is, and a claim
      // cut short is taken again when its lease ends.
      this.logger.warn({ code: 'STORE_FAILED', err: (err as Error).message }, 'webhook queue not read; retrying');
      nextInMs = this.opts.baseDelayMs;
    } finally {
      this.running = false;
    }
    if (nextInMs !== null) this.schedule(nextInMs);
  }

  private async deliver(d: { id: number; channel: string; payload: string; attempts: number }): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'hvmap-collector' };
    if (this.opts.secret) {
      const timestamp = Math.floor(Date.now() / 1000);
      headers['x-hvmap-timestamp'] = String(timestamp);
      headers['x-hvmap-signature'] = signBody(d.payload, this.opts.secret, timestamp);
    }
    let error: string | null = null;
    try {
      const res = await fetch(d.channel, {
        method: 'POST',
        headers,
        body: d.payload,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.arrayBuffer();
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).cause ? String((err as Error).cause) : (err as Error).message;
    }
    if (this.closed) return;
    const now = new Date();
    if (!error) {
      this.counters.delivered++;
      this.db
        .prepare(
          "UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE id = ?",
        )
        .run(now.toISOString(), d.id);
      return;
    }
    this.counters.failedAttempts++;
    const attempts = d.attempts + 1;
    const gaveUp = attempts >= this.opts.maxAttempts;
    if (gaveUp) this.counters.gaveUp++;
    // The URL may carry a secret (chat webhooks do): log its origin only.
    this.logger.warn(
      { code: 'WEBHOOK_FAILED', webhook: new URL(d.channel).origin, attempts, gaveUp, error },
      'alert webhook delivery failed',
    );
    this.db
      .prepare('UPDATE alert_deliveries SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?')
      .run(
        gaveUp ? 'failed' : 'pending',
        attempts,
        error,
        new Date(now.getTime() + this.backoff(attempts)).toISOString(),
        d.id,
      );
  }
}
