import { type ExplainInput, explain } from '../compat/explain.js';
import type { Db } from './db.js';

export interface HostReport {
  hostname: string;
  agent: { name: string; agentId: string | null; version: string | null };
  hypervisor: {
    id: string | null;
    name: string | null;
    product: string;
    version: string | null;
    managementStack: string | null;
  };
  lastContact: string;
  lastReport: string;
  partial: boolean;
  errors: unknown[];
}

export interface GuestReport {
  host: string;
  uuid: string;
  name: string;
  state: string;
  vcpus: number | null;
  memoryBytes: number | null;
  os: unknown;
  osUnknownReason: string | null;
  hypervisor: string | null;
  status: string;
  eol: { date: string } | null;
  programs: unknown;
  /** Why the guest is unknown or not certified (compat/explain.ts); empty when certified. */
  why: string[];
  firstSeen: string;
  lastSeen: string;
  /** When the guest was no longer on its host; null while it is there. */
  removedAt: string | null;
}

export interface Report {
  hosts: HostReport[];
  guests: GuestReport[];
}

export interface ReportFilter {
  status?: string;
  /** Include guests that left their host (default true: the report says when they went). */
  includeRemoved?: boolean;
}

/** The map as `hvmap report --format json` prints it and `/api/report` serves it. */
export function readReport(db: Db, filter: ReportFilter = {}): Report {
  const hostRows = db
    .prepare(
      `SELECT h.*, a.agent_id, a.agent_version FROM hosts h JOIN agents a ON a.name = h.agent_name ORDER BY h.hostname`,
    )
    .all() as Record<string, string | number | null>[];
  const hosts: HostReport[] = hostRows.map((h) => {
    const hv = JSON.parse(h.hypervisor_json as string) as {
      product: string;
      version?: string;
      managementStack?: string;
    };
    return {
      hostname: h.hostname as string,
      agent: {
        name: h.agent_name as string,
        agentId: h.agent_id as string | null,
        version: h.agent_version as string | null,
      },
      hypervisor: {
        id: h.hypervisor_id as string | null,
        name: h.hypervisor_name as string | null,
        product: hv.product,
        version: hv.version ?? null,
        managementStack: hv.managementStack ?? null,
      },
      lastContact: h.last_contact_at as string,
      lastReport: h.last_report_at as string,
      partial: h.partial === 1,
      errors: JSON.parse(h.errors_json as string),
    };
  });
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.status) {
    where.push('g.status = ?');
    params.push(filter.status);
  }
  if (filter.includeRemoved === false) where.push('g.removed_at IS NULL');
  const guestRows = db
    .prepare(
      `SELECT g.*, h.hostname, h.hypervisor_name, h.last_report_at FROM guests g JOIN hosts h ON h.id = g.host_id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY h.hostname, g.name, g.guest_key`,
    )
    .all(...params) as Record<string, string | number | null>[];
  const guests: GuestReport[] = guestRows.map((g) => {
    const verdict = JSON.parse(g.verdict_json as string) as Omit<ExplainInput, 'status'>;
    const evidence = JSON.parse(g.os_evidence_json as string) as { reason?: string };
    const osUnknownReason = g.os_json ? null : (verdict.osUnknownReason ?? evidence.reason ?? 'no_evidence');
    return {
      host: g.hostname as string,
      uuid: g.uuid as string,
      name: g.name as string,
      state: g.state as string,
      vcpus: g.vcpus as number | null,
      memoryBytes: g.memory_bytes as number | null,
      os: g.os_json ? JSON.parse(g.os_json as string) : null,
      osUnknownReason,
      hypervisor: g.hypervisor_name as string | null,
      status: g.status as string,
      eol: g.eol_date ? { date: g.eol_date as string } : null,
      programs: verdict.programs ?? [],
      why: explain({ ...verdict, status: g.status as string, osUnknownReason }),
      firstSeen: g.first_seen as string,
      // A present guest was seen in its host's latest report; only changes are written per guest.
      lastSeen: g.removed_at ? (g.last_seen as string) : (g.last_report_at as string),
      removedAt: g.removed_at as string | null,
    };
  });
  return { hosts, guests };
}
