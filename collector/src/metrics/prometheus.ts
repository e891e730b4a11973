import type { DeliveryCounters } from '../alerts/notify.js';
import type { LiveMap } from '../api/live-map.js';
import { GUEST_STATUSES, type LiveState, readSummary } from '../api/queries.js';
import type { IngestCounters } from '../server/ingest.js';
import type { ConnectionCounters } from '../server/limits.js';
import type { Db } from '../store/db.js';
import type { Histogram } from './histogram.js';

/** Everything /metrics reads; each source is asked at scrape time. */
export interface MetricsSource {
  db: Db;
  map: LiveMap;
  ingest: LiveState & { counters: IngestCounters };
  evaluationSeconds: Histogram;
  liveClients(): number;
  catalogVersion(): string;
  alertDeliveries(): DeliveryCounters;
  connections: ConnectionCounters;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label values escape backslash, double quote and line feed (exposition format). */
function label(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** One sample per key, sorted so scrapes diff cleanly. */
function byLabel(name: string, labelName: string, counts: Record<string, number>): string[] {
  return Object.keys(counts)
    .sort()
    .map((k) => `${name}{${labelName}="${label(k)}"} ${counts[k]}`);
}

/** The collector's metrics in the Prometheus text exposition format. */
export function renderMetrics(src: MetricsSource): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  const summary = readSummary(src.db, src.ingest, src.map.totals());
  const byStatus: Record<(typeof GUEST_STATUSES)[number], number> = {
    certified: summary.guests.certified,
    'not-certified': summary.guests.notCertified,
    unknown: summary.guests.unknown,
  };
  metric(
    'hvmap_guests',
    'gauge',
    'Guests present on their hosts, by compatibility status.',
    GUEST_STATUSES.map((s) => `hvmap_guests{status="${s}"} ${byStatus[s]}`),
  );
  metric('hvmap_guests_eol', 'gauge', 'Guests present on their hosts whose OS is past its end of support.', [
    `hvmap_guests_eol ${summary.guests.eol}`,
  ]);
  metric('hvmap_hosts', 'gauge', 'Hosts known to the collector.', [`hvmap_hosts ${summary.hosts}`]);
  metric('hvmap_agents_connected', 'gauge', 'Agents holding a connection now.', [
    `hvmap_agents_connected ${summary.agents.connected}`,
  ]);
  metric('hvmap_polled_hosts', 'gauge', 'Hosts the collector polls over SSH, by how their last poll ended.', [
    `hvmap_polled_hosts{state="ok"} ${summary.agents.polled - summary.agents.pollsFailing}`,
    `hvmap_polled_hosts{state="failing"} ${summary.agents.pollsFailing}`,
  ]);
  metric('hvmap_agent_tokens_active', 'gauge', 'Agent tokens not revoked.', [
    `hvmap_agent_tokens_active ${summary.agents.active}`,
  ]);
  const c = src.ingest.counters;
  metric('hvmap_ingest_frames_total', 'counter', 'Agent frames since start, by result.', [
    `hvmap_ingest_frames_total{result="accepted"} ${c.framesAccepted}`,
    `hvmap_ingest_frames_total{result="rejected"} ${c.framesRejected}`,
  ]);
  metric(
    'hvmap_ingest_rejected_total',
    'counter',
    'Agent frames refused since start, by code (BAD_JSON, BAD_FRAME, RATE_LIMITED, TOKEN_BOUND, ...).',
    byLabel('hvmap_ingest_rejected_total', 'code', c.rejectedByCode),
  );
  metric('hvmap_ingest_snapshots_stored_total', 'counter', 'Snapshots stored since start.', [
    `hvmap_ingest_snapshots_stored_total ${c.snapshotsStored}`,
  ]);
  metric(
    'hvmap_evaluation_duration_seconds',
    'histogram',
    'Time to identify and evaluate the guests of one stored snapshot that needed a verdict (new or changed ones; all of them under a new catalog or on a new day).',
    src.evaluationSeconds.lines('hvmap_evaluation_duration_seconds'),
  );
  metric('hvmap_alerts_firing', 'gauge', 'Firing alerts, by severity.', [
    `hvmap_alerts_firing{severity="critical"} ${summary.alerts.critical}`,
    `hvmap_alerts_firing{severity="warning"} ${summary.alerts.warning}`,
  ]);
  const d = src.alertDeliveries();
  metric('hvmap_alert_deliveries_total', 'counter', 'Alert webhook delivery attempts since start, by result.', [
    `hvmap_alert_deliveries_total{result="delivered"} ${d.delivered}`,
    `hvmap_alert_deliveries_total{result="failed"} ${d.failedAttempts}`,
    `hvmap_alert_deliveries_total{result="gave_up"} ${d.gaveUp}`,
  ]);
  metric('hvmap_live_clients', 'gauge', 'Web pages following the map over /live.', [
    `hvmap_live_clients ${src.liveClients()}`,
  ]);
  const n = src.connections;
  metric('hvmap_connections_open', 'gauge', "TCP connections to the collector's port now.", [
    `hvmap_connections_open ${n.open}`,
  ]);
  metric(
    'hvmap_connections_refused_total',
    'counter',
    'Connections closed at accept since start: their address already held the most allowed.',
    [`hvmap_connections_refused_total{reason="per_address_limit"} ${n.refusedPerAddress}`],
  );
  metric(
    'hvmap_http_client_errors_total',
    'counter',
    'Connections closed since start for a request not complete in time, malformed or oversized, or a failed TLS handshake, by code.',
    byLabel('hvmap_http_client_errors_total', 'code', n.clientErrors),
  );
  metric(
    'hvmap_http_refused_total',
    'counter',
    'Requests and upgrades answered 4xx since start, by status.',
    byLabel('hvmap_http_refused_total', 'status', n.refusedByStatus),
  );
  metric('hvmap_catalog_info', 'gauge', 'The catalog version in force (always 1).', [
    `hvmap_catalog_info{version="${label(src.catalogVersion())}"} 1`,
  ]);
  return `${out.join('\n')}\n`;
}
