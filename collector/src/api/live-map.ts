import type { Db } from '../store/db.js';
import { addCount, emptyCounts, type GuestOs, hypervisorRef, type MatrixView, type StatusCounts } from './queries.js';

interface Group {
  os: string | null;
  status: string;
  n: number;
  eol: number;
}

interface HostPart {
  hypervisor: string | null;
  groups: Group[];
}

type Cell = { hypervisor: string | null; os: string | null } & StatusCounts;

const cellKey = (hv: string | null, os: string | null) => `${hv ?? ''}\u0000${os ?? ''}`;

/**
 * The compatibility matrix and the fleet's status counts, kept in memory (DESIGN.md "Live map"):
 * read whole once, then each changed host's share is taken out and read again (one indexed query)
 * before the map is next read, so a snapshot costs the same with 10 hosts or 10,000, and a page
 * reading the map costs only the hosts that changed since the last reader.
 */
export class LiveMap {
  private readonly hosts = new Map<number, HostPart>();
  /** Agents whose host changed since the map was last read (`refreshHost`). */
  private readonly stale = new Set<string>();
  private readonly cells = new Map<string, Cell>();
  private totalCounts = emptyCounts();
  private readonly osNames = new Map<string, GuestOs>();
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      all: db.prepare(
        `SELECT g.host_id, h.hypervisor_id, g.os_id, g.status, g.n, g.eol FROM
           (SELECT host_id, os_id, status, COUNT(*) AS n, COUNT(eol_date) AS eol FROM guests
            WHERE removed_at IS NULL GROUP BY host_id, os_id, status) g
         JOIN hosts h ON h.id = g.host_id`,
      ),
      host: db.prepare('SELECT id, hypervisor_id FROM hosts WHERE agent_name = ?'),
      hostGroups: db.prepare(
        `SELECT os_id, status, COUNT(*) AS n, COUNT(eol_date) AS eol FROM guests
         WHERE host_id = ? AND removed_at IS NULL GROUP BY os_id, status`,
      ),
      hypervisors: db.prepare(
        `SELECT hypervisor_id, MAX(hypervisor_name) AS hypervisor_name, MAX(hypervisor_json) AS hypervisor_json,
           COUNT(*) AS hosts FROM hosts GROUP BY hypervisor_id`,
      ),
      os: db.prepare('SELECT os_json FROM guests WHERE os_id = ? LIMIT 1'),
    };
    this.reload();
  }

  /** Reads the whole map again (at start, and after a new catalog re-evaluated everyone). */
  reload(): void {
    this.stale.clear();
    this.hosts.clear();
    this.cells.clear();
    this.totalCounts = emptyCounts();
    const rows = this.stmts.all.all() as {
      host_id: number;
      hypervisor_id: string | null;
      os_id: string | null;
      status: string;
      n: number;
      eol: number;
    }[];
    for (const r of rows) {
      let part = this.hosts.get(r.host_id);
      if (!part) {
        part = { hypervisor: r.hypervisor_id, groups: [] };
        this.hosts.set(r.host_id, part);
      }
      part.groups.push({ os: r.os_id, status: r.status, n: r.n, eol: r.eol });
    }
    for (const part of this.hosts.values()) this.apply(part, 1);
  }

  /**
   * A snapshot changed this agent's host: its share of the map is read again when the map is next
   * read. Not at once: ingest does not wait for it (~5% of its main thread, test/bench), a host that
   * reports several times between two readers is read once, and what is read has been committed.
   */
  refreshHost(agentName: string): void {
    this.stale.add(agentName);
  }

  private catchUp(): void {
    for (const agentName of this.stale) {
      this.readHost(agentName);
      this.stale.delete(agentName);
    }
  }

  private readHost(agentName: string): void {
    const host = this.stmts.host.get(agentName) as { id: number; hypervisor_id: string | null } | undefined;
    if (!host) return;
    const old = this.hosts.get(host.id);
    if (old) this.apply(old, -1);
    const part: HostPart = {
      hypervisor: host.hypervisor_id,
      groups: (
        this.stmts.hostGroups.all(host.id) as { os_id: string | null; status: string; n: number; eol: number }[]
      ).map((g) => ({ os: g.os_id, status: g.status, n: g.n, eol: g.eol })),
    };
    this.hosts.set(host.id, part);
    this.apply(part, 1);
  }

  /** Present guests by status, and those past end of support. */
  totals(): StatusCounts {
    this.catchUp();
    return { ...this.totalCounts };
  }

  /** Hypervisor × guest OS, counts per status; hypervisors and OSes sorted for display. */
  matrix(): MatrixView {
    this.catchUp();
    const guestsByOs = new Map<string | null, number>();
    const guestsByHv = new Map<string | null, number>();
    for (const c of this.cells.values()) {
      guestsByOs.set(c.os, (guestsByOs.get(c.os) ?? 0) + c.total);
      guestsByHv.set(c.hypervisor, (guestsByHv.get(c.hypervisor) ?? 0) + c.total);
    }
    // Every hypervisor with hosts is a column, even one whose hosts have no guests yet.
    const hypervisors = (this.stmts.hypervisors.all() as Record<string, string | number | null>[]).map((r) => ({
      ...hypervisorRef(r),
      hosts: r.hosts as number,
      guests: guestsByHv.get(r.hypervisor_id as string | null) ?? 0,
    }));
    const oses = [...guestsByOs].map(([id, guests]) => {
      if (id === null) return { id, name: 'Not identified', family: null, distro: null, version: null, guests };
      const os = this.osIdentity(id);
      return { id, name: os.name, family: os.family, distro: os.distro, version: os.version, guests };
    });
    const collator = new Intl.Collator('en', { numeric: true });
    hypervisors.sort(
      (a, b) =>
        Number(a.id === null) - Number(b.id === null) ||
        collator.compare(a.product, b.product) ||
        collator.compare(a.version ?? '', b.version ?? ''),
    );
    // Families together, then distro, then the newest version first.
    oses.sort(
      (a, b) =>
        Number(a.id === null) - Number(b.id === null) ||
        collator.compare(a.family ?? '', b.family ?? '') ||
        collator.compare(a.distro ?? '', b.distro ?? '') ||
        collator.compare(b.version ?? '', a.version ?? ''),
    );
    return { hypervisors, oses, cells: [...this.cells.values()].map((c) => ({ ...c })), totals: this.totals() };
  }

  /** An OS id always names the same identity: read once per id. */
  private osIdentity(id: string): GuestOs {
    let os = this.osNames.get(id);
    if (!os) {
      os = JSON.parse((this.stmts.os.get(id) as { os_json: string }).os_json) as GuestOs;
      this.osNames.set(id, os);
    }
    return os;
  }

  private apply(part: HostPart, sign: 1 | -1): void {
    for (const g of part.groups) {
      const key = cellKey(part.hypervisor, g.os);
      let cell = this.cells.get(key);
      if (!cell) {
        cell = { hypervisor: part.hypervisor, os: g.os, ...emptyCounts() };
        this.cells.set(key, cell);
      }
      addCount(cell, g.status, sign * g.n, sign * g.eol);
      addCount(this.totalCounts, g.status, sign * g.n, sign * g.eol);
      if (cell.total === 0) this.cells.delete(key);
    }
  }
}
