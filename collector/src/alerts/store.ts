import { atomicWrite, type Db } from '../store/db.js';
import {
  ALERT_KINDS,
  type AlertDelta,
  type AlertPolicy,
  alertDelta,
  alertKey,
  type DesiredAlert,
  desiredAlerts,
  type FiringAlert,
  type HostState,
} from './rules.js';

export type AlertEvent = 'firing' | 'resolved';

export interface AlertRecord {
  key: string;
  kind: string;
  host: string | null;
  agent: string;
  guestKey: string | null;
  guest: string | null;
  severity: string;
  state: 'firing' | 'resolved';
  message: string;
  firedAt: string;
  resolvedAt: string | null;
  silencedUntil: string | null;
}

export interface AlertFilter {
  state?: 'firing' | 'resolved';
  kind?: string;
  host?: string;
  limit?: number;
  offset?: number;
}

function toRecord(r: Record<string, string | null>): AlertRecord {
  return {
    key: r.alert_key as string,
    kind: r.kind as string,
    host: r.hostname,
    agent: r.agent_name as string,
    guestKey: r.guest_key,
    guest: r.guest_name,
    severity: r.severity as string,
    state: r.state as 'firing' | 'resolved',
    message: r.message as string,
    firedAt: r.fired_at as string,
    resolvedAt: r.resolved_at,
    silencedUntil: r.silenced_until,
  };
}

/** The WHERE clause of an alert filter, and its parameters. */
function alertsWhere(filter: AlertFilter): { where: string; params: (string | number)[] } {
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  for (const [column, value] of [
    ['state', filter.state],
    ['kind', filter.kind],
    ['hostname', filter.host],
  ] as const) {
    if (value === undefined) continue;
    clauses.push(`${column} = ?`);
    params.push(value);
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/** How many alerts match a filter (for paging). */
export function countAlerts(db: Db, filter: AlertFilter = {}): number {
  const { where, params } = alertsWhere(filter);
  return (db.prepare(`SELECT COUNT(*) AS n FROM alerts ${where}`).get(...params) as { n: number }).n;
}

/** Alerts as `hvmap alerts` and `/api/alerts` show them, newest first. */
export function listAlerts(db: Db, filter: AlertFilter = {}): AlertRecord[] {
  const { where, params } = alertsWhere(filter);
  params.push(Math.min(filter.limit ?? 1000, 10_000), filter.offset ?? 0);
  const rows = db
    .prepare(`SELECT * FROM alerts ${where} ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?`)
    .all(...params) as Record<string, string | null>[];
  return rows.map(toRecord);
}

/** What a notification carries: the alert and whether it starts or ends. */
export interface AlertNotice {
  alertId: number;
  event: AlertEvent;
  alert: AlertRecord;
}

const GUEST_KINDS = ALERT_KINDS.filter((k) => k.startsWith('guest-'));
const HOST_KINDS = ALERT_KINDS.filter((k) => !k.startsWith('guest-'));

const firingByKey = (db: Db, keys: number) =>
  db.prepare(
    `SELECT alert_key, kind, guest_key, severity, message FROM alerts
     WHERE alert_key IN (${Array(keys).fill('?').join(', ')}) AND state = 'firing'`,
  );

interface GuestRow {
  guest_key: string;
  name: string;
  status: string;
  os_name: string | null;
  os_unknown_reason: string | null;
  lifecycle_end: string | null;
}

interface FiringRow {
  alert_key: string;
  kind: string;
  guest_key: string | null;
  severity: FiringAlert['severity'];
  message: string;
}

const toFiring = (rows: FiringRow[]): FiringAlert[] =>
  rows.map((r) => ({ key: r.alert_key, severity: r.severity, message: r.message }));

/** Reads a host's state for the rules, and applies their delta to the alerts table. */
export class AlertStore {
  /** Prepared once: a host is reconciled after every snapshot that changed it (test/bench). */
  private readonly stmts;

  /**
   * `guestsWritten`: the named guests of a host as the inventory store just wrote them, or null when
   * it holds no copy (they are read from the database then, as without it).
   */
  constructor(
    private readonly db: Db,
    private readonly guestsWritten?: (agentName: string, keys: ReadonlySet<string>) => HostState['guests'] | null,
  ) {
    this.stmts = {
      host: db.prepare(
        `SELECT hostname, hypervisor_name, last_contact_at, partial, errors_json,
                EXISTS (SELECT 1 FROM hosts o WHERE o.hostname = hosts.hostname AND o.agent_name != hosts.agent_name) AS shared,
                (SELECT poll_error FROM agents WHERE agents.name = hosts.agent_name) AS poll_error
         FROM hosts WHERE agent_name = ?`,
      ),
      guests: db.prepare(
        `SELECT g.guest_key, g.name, g.status, json_extract(g.os_json, '$.name') AS os_name,
                json_extract(g.verdict_json, '$.osUnknownReason') AS os_unknown_reason,
                json_extract(g.verdict_json, '$.lifecycle.end') AS lifecycle_end
         FROM guests g JOIN hosts h ON h.id = g.host_id WHERE h.agent_name = ? AND g.removed_at IS NULL`,
      ),
      guest: db.prepare(
        `SELECT g.guest_key, g.name, g.status, json_extract(g.os_json, '$.name') AS os_name,
                json_extract(g.verdict_json, '$.osUnknownReason') AS os_unknown_reason,
                json_extract(g.verdict_json, '$.lifecycle.end') AS lifecycle_end
         FROM guests g JOIN hosts h ON h.id = g.host_id
         WHERE h.agent_name = ? AND g.guest_key = ? AND g.removed_at IS NULL`,
      ),
      firing: db.prepare(
        "SELECT alert_key, kind, guest_key, severity, message FROM alerts WHERE agent_name = ? AND state = 'firing'",
      ),
      silenceCandidates: db.prepare(
        `SELECT agent_name FROM hosts WHERE last_contact_at < ?
         UNION SELECT agent_name FROM alerts WHERE state = 'firing' AND kind = 'host-silent'`,
      ),
      // By key, the unique index: the agent's other firing alerts are not read (test/bench).
      firingOfGuest: firingByKey(db, GUEST_KINDS.length),
      firingOfHost: firingByKey(db, HOST_KINDS.length),
      upsert: db.prepare(
        `INSERT INTO alerts (alert_key, kind, agent_name, hostname, guest_key, guest_name, severity, state, message, fired_at, updated_at)
         VALUES (@key, @kind, @agentName, @hostname, @guestKey, @guestName, @severity, 'firing', @message, @now, @now)
         ON CONFLICT(alert_key) DO UPDATE SET hostname = excluded.hostname, guest_name = excluded.guest_name,
           severity = excluded.severity, message = excluded.message, updated_at = excluded.updated_at,
           state = 'firing', resolved_at = NULL,
           fired_at = CASE WHEN alerts.state = 'resolved' THEN excluded.fired_at ELSE alerts.fired_at END
         RETURNING *`,
      ),
      resolve: db.prepare(
        "UPDATE alerts SET state = 'resolved', resolved_at = ?, updated_at = ? WHERE alert_key = ? AND state = 'firing' RETURNING *",
      ),
    };
  }

  /**
   * A host's state for the rules: with all its guests, none (only host-level kinds are asked for),
   * or only the guests named (those a snapshot changed).
   */
  hostState(agentName: string, withGuests: boolean | ReadonlySet<string> = true): HostState | null {
    const host = this.stmts.host.get(agentName) as
      | {
          hostname: string;
          hypervisor_name: string | null;
          last_contact_at: string;
          partial: number;
          errors_json: string;
          shared: number;
          poll_error: string | null;
        }
      | undefined;
    if (!host) return null;
    const written = typeof withGuests === 'object' ? this.guestsWritten?.(agentName, withGuests) : null;
    return {
      agentName,
      // Two agents reporting one hostname are two hosts: the alert names which one.
      hostname: host.shared ? `${host.hostname} [agent ${agentName}]` : host.hostname,
      hypervisorName: host.hypervisor_name,
      lastContact: host.last_contact_at,
      pollError: host.poll_error,
      partial: host.partial === 1,
      errors: JSON.parse(host.errors_json),
      guests: written ?? this.guestsRead(agentName, withGuests),
    };
  }

  /** A host's guests for the rules as the database holds them: all, none, or those named. */
  private guestsRead(agentName: string, withGuests: boolean | ReadonlySet<string>): HostState['guests'] {
    const rows =
      withGuests === true
        ? this.stmts.guests.all(agentName)
        : withGuests === false
          ? []
          : [...withGuests].flatMap((key) => this.stmts.guest.all(agentName, key));
    return (rows as GuestRow[]).map((g) => ({
      key: g.guest_key,
      name: g.name,
      status: g.status,
      osName: g.os_name,
      osUnknownReason: g.os_unknown_reason,
      lifecycleEnd: g.lifecycle_end,
    }));
  }

  /**
   * The hosts the silence check looks at: those not heard from since `before` (ISO time, as stored),
   * and those whose host-silent alert is firing (to resolve it). The others can neither raise nor
   * resolve one, and are not read: at 10,000 hosts, every 10 s, that was ~0.7 s of the event loop.
   */
  silenceCandidates(before: string): string[] {
    return (this.stmts.silenceCandidates.all(before) as { agent_name: string }[]).map((r) => r.agent_name);
  }

  agentNames(): string[] {
    return (this.db.prepare('SELECT agent_name FROM hosts').all() as { agent_name: string }[]).map((r) => r.agent_name);
  }

  firing(agentName: string, kinds?: readonly string[]): FiringAlert[] {
    const rows = this.stmts.firing.all(agentName) as FiringRow[];
    return toFiring(kinds ? rows.filter((r) => kinds.includes(r.kind)) : rows);
  }

  /**
   * Reconciles only what a snapshot changed: the alerts of the guests it names, and the host-level
   * ones when the host itself changed. The other guests' alerts cannot have moved (their rows did not),
   * so ingest does not re-read a whole host per snapshot; the hourly full pass covers the calendar.
   */
  reconcileChanged(
    agentName: string,
    policy: AlertPolicy,
    guestKeys: ReadonlySet<string>,
    hostChanged: boolean,
  ): AlertNotice[] {
    const state = this.hostState(agentName, guestKeys);
    if (!state) return [];
    const inScope = (guestKey: string | null) => (guestKey === null ? hostChanged : guestKeys.has(guestKey));
    const desired = desiredAlerts(state, policy).filter((a) => inScope(a.guestKey));
    // Read by guest: a host with many alerts firing costs no more than one with none (test/bench).
    const rows = [...guestKeys].flatMap((key) =>
      this.stmts.firingOfGuest.all(...GUEST_KINDS.map((kind) => alertKey(kind, agentName, key))),
    );
    if (hostChanged)
      rows.push(...this.stmts.firingOfHost.all(...HOST_KINDS.map((kind) => alertKey(kind, agentName, null))));
    const firing = toFiring(rows as FiringRow[]);
    return this.apply(alertDelta(firing, desired), firing, new Date(policy.now).toISOString());
  }

  /**
   * Brings one host's alerts in line with its state. `kinds` limits the reconciliation (the silence
   * check looks only at host-silent). Returns what must be notified: new alerts, escalations and
   * resolutions (a message that only changes wording is stored, not notified).
   */
  reconcile(agentName: string, policy: AlertPolicy, kinds?: readonly string[]): AlertNotice[] {
    // The silence check (every 10 s, every host) needs no guest: reading them cost ~0.3 ms a host.
    const state = this.hostState(agentName, !kinds || kinds.some((k) => k.startsWith('guest-')));
    if (!state) return [];
    const desired = desiredAlerts(state, policy).filter((a) => !kinds || kinds.includes(a.kind));
    const firing = this.firing(agentName, kinds);
    return this.apply(alertDelta(firing, desired), firing, new Date(policy.now).toISOString());
  }

  private apply(delta: AlertDelta, firing: FiringAlert[], now: string): AlertNotice[] {
    if (!delta.fire.length && !delta.update.length && !delta.resolve.length) return [];
    const severityOf = new Map(firing.map((f) => [f.key, f.severity]));
    const notices: AlertNotice[] = [];
    const { upsert, resolve } = this.stmts;
    atomicWrite(this.db, () => {
      const fire = (a: DesiredAlert) => {
        const row = upsert.get({ ...a, now }) as Record<string, string | null> & { id: number };
        return { alertId: row.id, event: 'firing' as const, alert: toRecord(row) };
      };
      for (const a of delta.fire) notices.push(fire(a));
      for (const a of delta.update) {
        const notice = fire(a);
        if (severityOf.get(a.key) !== a.severity) notices.push(notice);
      }
      for (const key of delta.resolve) {
        const row = resolve.get(now, now, key) as (Record<string, string | null> & { id: number }) | undefined;
        if (row) notices.push({ alertId: row.id, event: 'resolved', alert: toRecord(row) });
      }
    });
    return notices;
  }

  /** Silences one alert key until a time: it keeps its state, but no notification goes out. */
  silence(key: string, until: string): boolean {
    return this.db.prepare('UPDATE alerts SET silenced_until = ? WHERE alert_key = ?').run(until, key).changes > 0;
  }
}
