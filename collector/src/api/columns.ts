import type { AlertRecord } from '../alerts/store.js';
import { csvField, terminalTable } from '../report/hygiene.js';
import type { AgentView, GuestView, HostView, MatrixView, StatusCounts } from './queries.js';

/** One column of a view: its CSV header, its value, and whether the terminal table shows it. */
export interface Column<T> {
  csv: string;
  value: (row: T) => unknown;
  /** Terminal table header; absent: CSV only. */
  table?: string;
}

/** One matrix cell with the names of its hypervisor and OS, as CSV and tables list it. */
export interface MatrixRow extends StatusCounts {
  hypervisorId: string | null;
  hypervisorName: string;
  osId: string | null;
  osName: string;
}

const counts = <T>(of: (row: T) => StatusCounts): Column<T>[] => [
  { csv: 'guests', table: 'guests', value: (r) => of(r).total },
  { csv: 'certified', table: 'certified', value: (r) => of(r).certified },
  { csv: 'not_certified', table: 'not cert.', value: (r) => of(r).notCertified },
  { csv: 'unknown', table: 'unknown', value: (r) => of(r).unknown },
  { csv: 'eol', table: 'EOL', value: (r) => of(r).eol },
];

export const HOST_COLUMNS: Column<HostView>[] = [
  { csv: 'hostname', table: 'host', value: (h) => h.hostname },
  { csv: 'agent', value: (h) => h.agent },
  { csv: 'hypervisor_id', value: (h) => h.hypervisor.id },
  {
    csv: 'hypervisor',
    table: 'hypervisor',
    value: (h) => h.hypervisor.name ?? `${h.hypervisor.product} (unidentified)`,
  },
  { csv: 'product', value: (h) => h.hypervisor.product },
  { csv: 'version', value: (h) => h.hypervisor.version },
  ...counts<HostView>((h) => h.guests),
  { csv: 'connected', table: 'connected', value: (h) => (h.connected ? 'yes' : 'no') },
  { csv: 'last_contact', table: 'last contact', value: (h) => h.lastContact },
  { csv: 'last_report', value: (h) => h.lastReport },
  { csv: 'partial', value: (h) => (h.partial ? 'yes' : 'no') },
  { csv: 'errors', value: (h) => h.errors },
];

export const GUEST_COLUMNS: Column<GuestView>[] = [
  { csv: 'host', table: 'host', value: (g) => g.host },
  { csv: 'hypervisor', value: (g) => g.hypervisor.name },
  { csv: 'name', table: 'guest', value: (g) => g.name },
  { csv: 'uuid', value: (g) => g.uuid },
  { csv: 'key', value: (g) => g.key },
  { csv: 'state', table: 'state', value: (g) => g.state },
  { csv: 'os_id', value: (g) => g.os?.id },
  { csv: 'os_name', table: 'OS', value: (g) => g.os?.name ?? `? (${g.osUnknownReason})` },
  { csv: 'os_unknown_reason', value: (g) => g.osUnknownReason },
  { csv: 'status', table: 'status', value: (g) => g.status },
  { csv: 'eol', table: 'EOL', value: (g) => g.eol?.date },
  { csv: 'why', value: (g) => g.why.join('; ') },
  { csv: 'first_seen', value: (g) => g.firstSeen },
  { csv: 'last_seen', value: (g) => g.lastSeen },
  { csv: 'removed_at', table: 'removed', value: (g) => g.removedAt },
];

export const MATRIX_COLUMNS: Column<MatrixRow>[] = [
  { csv: 'hypervisor_id', value: (m) => m.hypervisorId },
  { csv: 'hypervisor', table: 'hypervisor', value: (m) => m.hypervisorName },
  { csv: 'os_id', value: (m) => m.osId },
  { csv: 'os', table: 'guest OS', value: (m) => m.osName },
  ...counts<MatrixRow>((m) => m),
];

export const AGENT_COLUMNS: Column<AgentView>[] = [
  { csv: 'name', table: 'agent', value: (a) => a.name },
  { csv: 'kind', table: 'kind', value: (a) => a.kind },
  { csv: 'host', table: 'host', value: (a) => a.host },
  { csv: 'connected', table: 'connected', value: (a) => (a.connected ? 'yes' : 'no') },
  { csv: 'poll_error', table: 'poll error', value: (a) => a.pollError },
  { csv: 'agent_id', value: (a) => a.agentId },
  { csv: 'version', table: 'version', value: (a) => a.version },
  { csv: 'last_contact', table: 'last contact', value: (a) => a.lastContact },
  { csv: 'last_hello', value: (a) => a.lastHello },
  { csv: 'last_seq', value: (a) => a.lastSeq },
  { csv: 'created_at', value: (a) => a.createdAt },
  { csv: 'revoked_at', table: 'revoked', value: (a) => a.revokedAt },
];

export const ALERT_COLUMNS: Column<AlertRecord>[] = [
  { csv: 'state', table: 'state', value: (a) => a.state },
  { csv: 'severity', table: 'severity', value: (a) => a.severity },
  { csv: 'kind', table: 'kind', value: (a) => a.kind },
  { csv: 'host', table: 'host', value: (a) => a.host },
  { csv: 'agent', value: (a) => a.agent },
  { csv: 'guest', table: 'guest', value: (a) => a.guest },
  { csv: 'guest_key', value: (a) => a.guestKey },
  { csv: 'message', table: 'message', value: (a) => a.message },
  { csv: 'fired_at', table: 'since', value: (a) => a.firedAt },
  { csv: 'resolved_at', value: (a) => a.resolvedAt },
  { csv: 'silenced_until', value: (a) => a.silencedUntil },
  { csv: 'key', value: (a) => a.key },
];

/** The matrix as one row per cell, in the order of its rows (OS) and columns (hypervisor). */
export function matrixRows(m: MatrixView): MatrixRow[] {
  const hvName = new Map(m.hypervisors.map((h) => [h.id, h.name ?? `${h.product} (unidentified)`]));
  const osName = new Map(m.oses.map((o) => [o.id, o.name]));
  const osOrder = new Map(m.oses.map((o, i) => [o.id, i]));
  const hvOrder = new Map(m.hypervisors.map((h, i) => [h.id, i]));
  return [...m.cells]
    .sort(
      (a, b) =>
        (osOrder.get(a.os) ?? 0) - (osOrder.get(b.os) ?? 0) ||
        (hvOrder.get(a.hypervisor) ?? 0) - (hvOrder.get(b.hypervisor) ?? 0),
    )
    .map(({ hypervisor, os, ...c }) => ({
      hypervisorId: hypervisor,
      hypervisorName: hvName.get(hypervisor) ?? 'unidentified',
      osId: os,
      osName: osName.get(os) ?? 'Not identified',
      ...c,
    }));
}

/** RFC 4180 text: a header line, then one line per row, CRLF line ends. */
export function* csvLines<T>(columns: readonly Column<T>[], rows: Iterable<T>): Generator<string> {
  yield `${columns.map((c) => c.csv).join(',')}\r\n`;
  for (const row of rows) yield `${columns.map((c) => csvField(c.value(row))).join(',')}\r\n`;
}

export function toCsv<T>(columns: readonly Column<T>[], rows: Iterable<T>): string {
  return [...csvLines(columns, rows)].join('');
}

/** A terminal table of the columns that have a table header. */
export function toTable<T>(columns: readonly Column<T>[], rows: Iterable<T>): string {
  const shown = columns.filter((c) => c.table);
  const table = terminalTable(shown.map((c) => c.table as string));
  for (const row of rows) table.push(shown.map((c) => c.value(row)));
  return table.toString();
}
