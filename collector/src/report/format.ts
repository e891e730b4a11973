import type { GuestReport, Report } from '../store/report.js';
import { counted, csvField, terminalTable } from './hygiene.js';

const GUEST_COLUMNS: [string, (g: GuestReport) => unknown][] = [
  ['host', (g) => g.host],
  ['hypervisor', (g) => g.hypervisor],
  ['name', (g) => g.name],
  ['uuid', (g) => g.uuid],
  ['state', (g) => g.state],
  ['os_id', (g) => (g.os as { id?: string } | null)?.id ?? ''],
  ['os_name', (g) => (g.os as { name?: string } | null)?.name ?? ''],
  ['os_unknown_reason', (g) => g.osUnknownReason ?? ''],
  ['status', (g) => g.status],
  ['eol', (g) => g.eol?.date ?? ''],
  ['why', (g) => g.why.join('; ')],
  ['removed_at', (g) => g.removedAt ?? ''],
];

/** One CSV row per guest, header first. */
export function guestsCsv(report: Report): string {
  const lines = [GUEST_COLUMNS.map(([h]) => h).join(',')];
  for (const g of report.guests) lines.push(GUEST_COLUMNS.map(([, f]) => csvField(f(g))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Hosts, then guests, as terminal tables. */
export function reportTable(report: Report): string {
  const hosts = terminalTable(['host', 'hypervisor', 'agent', 'last contact', 'partial']);
  for (const h of report.hosts) {
    hosts.push([
      h.hostname,
      h.hypervisor.name ?? `${h.hypervisor.product} (unidentified)`,
      h.agent.name,
      h.lastContact,
      h.partial ? 'yes' : '',
    ]);
  }
  const guests = terminalTable(['host', 'guest', 'state', 'OS', 'status', 'eol', 'why', 'removed']);
  for (const g of report.guests) {
    const os = g.os as { name?: string } | null;
    guests.push([
      g.host,
      g.name,
      g.state,
      os?.name ?? `? (${g.osUnknownReason})`,
      g.status,
      g.eol?.date ?? '',
      shortWhy(g.why),
      g.removedAt ?? '',
    ]);
  }
  const counts = new Map<string, number>();
  for (const g of report.guests) if (!g.removedAt) counts.set(g.status, (counts.get(g.status) ?? 0) + 1);
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(', ') || 'no guests';
  return `${hosts.toString()}\n${guests.toString()}\n${counted(report.hosts.length, 'host')}; guests: ${summary}\n`;
}

/** The first reason, cut to fit a table cell; `--format json` and `csv` carry every reason whole. */
export function shortWhy(why: string[], width = 60): string {
  const first = why[0] ?? '';
  const text = why.length > 1 ? `${first} (+${why.length - 1})` : first;
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}
