/**
 * Which alerts a host should have, from what is stored about it now; and the delta between that and
 * the alerts already firing. Pure: the caller loads the state and applies the delta.
 */

export const ALERT_KINDS = [
  'guest-not-certified',
  'guest-eol',
  'guest-os-unknown',
  'host-silent',
  'agent-error',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export type Severity = 'critical' | 'warning';

export interface DesiredAlert {
  key: string;
  kind: AlertKind;
  agentName: string;
  hostname: string;
  guestKey: string | null;
  guestName: string | null;
  severity: Severity;
  message: string;
}

export interface HostState {
  agentName: string;
  hostname: string;
  hypervisorName: string | null;
  lastContact: string;
  /** Why the collector's last poll of this host over SSH failed (null: not polled, or it read the host). */
  pollError: string | null;
  partial: boolean;
  errors: { driver: string; code: string; message: string }[];
  guests: {
    key: string;
    name: string;
    status: string;
    osName: string | null;
    osUnknownReason: string | null;
    /** End of the guest OS's standard support, when the catalog knows it. */
    lifecycleEnd: string | null;
  }[];
}

export interface AlertPolicy {
  /** Evaluation date, YYYY-MM-DD. */
  today: string;
  /** Warn this many days before an end of support. */
  eolWarnDays: number;
  /** A host that has not been heard from for this long is silent. */
  silentAfterMs: number;
  now: number;
}

/** One key per (kind, host, guest). */
export function alertKey(kind: AlertKind, agentName: string, guestKey: string | null): string {
  return `${kind}|${agentName}|${guestKey ?? ''}`;
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** The alerts this host should have right now. */
export function desiredAlerts(host: HostState, policy: AlertPolicy): DesiredAlert[] {
  const out: DesiredAlert[] = [];
  const where = `${host.hostname}${host.hypervisorName ? ` (${host.hypervisorName})` : ''}`;
  const add = (kind: AlertKind, guest: HostState['guests'][number] | null, severity: Severity, message: string) =>
    out.push({
      key: alertKey(kind, host.agentName, guest?.key ?? null),
      kind,
      agentName: host.agentName,
      hostname: host.hostname,
      guestKey: guest?.key ?? null,
      guestName: guest?.name ?? null,
      severity,
      message,
    });

  for (const g of host.guests) {
    const os = g.osName ?? 'unidentified OS';
    if (g.status === 'not-certified')
      add('guest-not-certified', g, 'critical', `${g.name} (${os}) on ${where} is not certified`);
    if (!g.osName) {
      add(
        'guest-os-unknown',
        g,
        'warning',
        `${g.name} on ${where}: guest OS unknown (${g.osUnknownReason ?? 'no evidence'})`,
      );
    }
    if (g.lifecycleEnd) {
      if (policy.today > g.lifecycleEnd) {
        add('guest-eol', g, 'critical', `${g.name} (${os}) on ${where} is past its end of support (${g.lifecycleEnd})`);
      } else if (addDays(policy.today, policy.eolWarnDays) > g.lifecycleEnd) {
        add('guest-eol', g, 'warning', `${g.name} (${os}) on ${where} reaches its end of support on ${g.lifecycleEnd}`);
      }
    }
  }
  if (host.partial || host.errors.length) {
    const what = host.errors.map((e) => `${e.driver} ${e.code}`).join(', ') || 'partial inventory';
    add('agent-error', null, 'warning', `agent on ${host.hostname} reports errors: ${what}`);
  }
  if (policy.now - Date.parse(host.lastContact) > policy.silentAfterMs) {
    add(
      'host-silent',
      null,
      'critical',
      `${host.hostname} has not reported since ${host.lastContact}${host.pollError ? `: ${host.pollError}` : ''}`,
    );
  }
  return out;
}

export interface FiringAlert {
  key: string;
  severity: Severity;
  message: string;
}

export interface AlertDelta {
  fire: DesiredAlert[];
  /** Still firing, but with another severity or message (an end of support that arrived). */
  update: DesiredAlert[];
  resolve: string[];
}

/** What to change so the firing alerts of a host equal the desired ones. */
export function alertDelta(firing: readonly FiringAlert[], desired: readonly DesiredAlert[]): AlertDelta {
  const current = new Map(firing.map((a) => [a.key, a]));
  const wanted = new Set(desired.map((a) => a.key));
  const delta: AlertDelta = { fire: [], update: [], resolve: [] };
  for (const d of desired) {
    const c = current.get(d.key);
    if (!c) delta.fire.push(d);
    else if (c.severity !== d.severity || c.message !== d.message) delta.update.push(d);
  }
  for (const key of current.keys()) if (!wanted.has(key)) delta.resolve.push(key);
  return delta;
}
