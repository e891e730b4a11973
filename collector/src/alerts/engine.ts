import type { Logger } from 'pino';
import { today } from '../map/evaluator.js';
import type { Db } from '../store/db.js';
import { type Change, movesJudgement } from '../store/inventory.js';
import { AlertNotifier, type WebhookOptions } from './notify.js';
import type { AlertPolicy, HostState } from './rules.js';
import { AlertStore } from './store.js';

export interface AlertEngineOptions {
  eolWarnDays: number;
  silentAfterMs: number;
  /** How often hosts are checked for silence (and, every hour, everything for a new day). */
  checkIntervalMs: number;
  webhooks?: WebhookOptions;
  /**
   * Several collectors on one database: whether this one runs the periodic checks now (the one that
   * holds their lock), and webhook deliveries are claimed from a shared queue. Absent: a lone collector.
   */
  shared?: { runsChecks(): boolean };
  /** The named guests of a host as the inventory store just wrote them (`AlertStore`). */
  guestsWritten?: (agentName: string, keys: ReadonlySet<string>) => HostState['guests'] | null;
}

/**
 * Keeps the alerts in line with the map: a host is reconciled when a snapshot changes it, every host
 * is checked for silence on a timer, and everything is reconciled when the catalog or the day changes.
 */
export class AlertEngine {
  readonly store: AlertStore;
  readonly notifier: AlertNotifier;
  private readonly timer: NodeJS.Timeout;
  private lastFullCheck = 0;

  constructor(
    db: Db,
    private readonly logger: Logger,
    private readonly options: AlertEngineOptions,
  ) {
    this.store = new AlertStore(db, options.guestsWritten);
    this.notifier = new AlertNotifier(db, logger, options.webhooks, options.shared !== undefined);
    this.timer = setInterval(() => this.check(), options.checkIntervalMs);
    this.timer.unref();
  }

  private policy(): AlertPolicy {
    return {
      today: today(),
      eolWarnDays: this.options.eolWarnDays,
      silentAfterMs: this.options.silentAfterMs,
      now: Date.now(),
    };
  }

  /** A snapshot changed this host: the guests whose judgement it may have moved, and the host itself when a change has no guest. */
  hostChanged(agentName: string, changes: readonly Change[]): void {
    const guestKeys = new Set<string>();
    let hostLevel = false;
    for (const c of changes) {
      if (c.guestKey === null) hostLevel = true;
      else if (movesJudgement(c)) guestKeys.add(c.guestKey);
    }
    if (!hostLevel && guestKeys.size === 0) return;
    this.run(() => this.notifier.notify(this.store.reconcileChanged(agentName, this.policy(), guestKeys, hostLevel)));
  }

  /** These guests have a new verdict (a catalog change): their alerts only. */
  guestsRejudged(agentName: string, guestKeys: ReadonlySet<string>): void {
    this.run(() => this.notifier.notify(this.store.reconcileChanged(agentName, this.policy(), guestKeys, false)));
  }

  /** Every host, every kind (at start, once an hour for a new day). */
  reconcileAll(): void {
    this.lastFullCheck = Date.now();
    const policy = this.policy();
    this.run(() => {
      for (const agent of this.store.agentNames()) this.notifier.notify(this.store.reconcile(agent, policy));
    });
  }

  /** Silence only, unless an hour has passed since the last full pass. */
  check(): void {
    // Deliveries another collector claimed and never finished (it died) are taken up here.
    this.notifier.resume();
    if (this.options.shared && !this.runsChecks()) return;
    if (Date.now() - this.lastFullCheck > 3_600_000) {
      this.reconcileAll();
      return;
    }
    const policy = this.policy();
    const before = new Date(policy.now - this.options.silentAfterMs).toISOString();
    this.run(() => {
      for (const agent of this.store.silenceCandidates(before))
        this.notifier.notify(this.store.reconcile(agent, policy, ['host-silent']));
    });
  }

  private runsChecks(): boolean {
    try {
      return this.options.shared?.runsChecks() ?? true;
    } catch (err) {
      this.logger.warn({ code: 'STORE_FAILED', err: (err as Error).message }, 'checks lock not read');
      return false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.notifier.close();
  }

  /** Alerts must never take ingest down: a failure is logged and the next pass tries again. */
  private run(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.logger.error({ code: 'ALERTS_FAILED', err: (err as Error).message }, 'alert evaluation failed');
    }
  }
}
