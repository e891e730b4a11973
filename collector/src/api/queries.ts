/**
 * The SQL behind the API views, the web page and `hvmap report --view`. Every list pages in SQL and
 * every aggregate groups in SQL, so a view costs the same with 100 guests or 100,000 (the indexes
 * are migration 3). JSON columns are read with json_extract only where a filter needs a field.
 */
import { type Hypervisor, identifyHypervisor } from '@hvmap/shared';
import { type ExplainInput, explain } from '../compat/explain.js';
import type { Db } from '../store/db.js';

export const GUEST_STATUSES = ['certified', 'not-certified', 'unknown'] as const;
export type GuestStatus = (typeof GUEST_STATUSES)[number];
export const PROGRAM_VERDICTS = ['covered', 'excluded', 'silent'] as const;
export type ProgramVerdictKind = (typeof PROGRAM_VERDICTS)[number];
/** Filter value standing for "no identity" (a null hypervisor or OS id). */
export const UNIDENTIFIED = 'unidentified';

export interface PageRequest {
  limit: number;
  offset: number;
}

/** Every row (exports and the CLI want them all): a LIMIT no table reaches, valid in SQLite and PostgreSQL. */
export const EVERY_ROW: PageRequest = { limit: Number.MAX_SAFE_INTEGER, offset: 0 };

/** One page of a list; `nextOffset` is null on the last page. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
  nextOffset: number | null;
}

/** Guests present on their hosts, by status; `eol` counts those past end of support (any status). */
export interface StatusCounts {
  total: number;
  certified: number;
  notCertified: number;
  unknown: number;
  eol: number;
}

export interface HypervisorRef {
  /** Null when the hypervisor was not identified. */
  id: string | null;
  name: string | null;
  product: string;
  version: string | null;
}

export interface HostView {
  hostname: string;
  agent: string;
  hypervisor: HypervisorRef;
  guests: StatusCounts;
  /** Whether the host's agent holds a connection now. */
  connected: boolean;
  lastContact: string;
  lastReport: string;
  firstSeen: string;
  partial: boolean;
  /** Driver errors in the last snapshot. */
  errors: number;
}

export interface HostDetail extends Omit<HostView, 'errors'> {
  facts: unknown;
  /** The hypervisor as the agent's driver reported it. */
  reported: unknown;
  errors: unknown[];
}

export interface GuestOs {
  id: string;
  name: string;
  family: string;
  distro: string;
  version: string;
  build?: string;
  edition?: string;
}

export interface GuestView {
  host: string;
  /** Unique within the host: the UUID, or "UUID/name" where clones share a UUID. */
  key: string;
  uuid: string;
  name: string;
  state: string;
  hypervisor: { id: string | null; name: string | null };
  os: GuestOs | null;
  osUnknownReason: string | null;
  status: GuestStatus;
  eol: { date: string } | null;
  firstSeen: string;
  lastSeen: string;
  removedAt: string | null;
  /** Why the guest is unknown or not certified (compat/explain.ts); empty when certified. */
  why: string[];
}

export interface GuestDetail extends GuestView {
  hypervisor: HypervisorRef;
  vcpus: number | null;
  memoryBytes: number | null;
  /** Firmware, machine, generation, arch: what the driver reported beside the OS. */
  details: Record<string, unknown>;
  /** The OS evidence as the agent found it. */
  evidence: unknown;
  osSource: string | null;
  osConflicts: unknown[];
  osUnknownDetail: string | null;
  /** Why the status is unknown, when it is. */
  reason: string | null;
  lifecycle: unknown;
  programs: {
    program: string;
    verdict: ProgramVerdictKind;
    conditions: string[];
    source: string;
    coverage: string;
    note?: string;
    origin?: string;
  }[];
  catalogVersion: string;
  /** The guest's recorded changes, newest first (at most 50). */
  history: { at: string; kind: string; old: string | null; new: string | null }[];
}

export interface MatrixView {
  hypervisors: (HypervisorRef & { hosts: number; guests: number })[];
  oses: {
    id: string | null;
    name: string;
    family: string | null;
    distro: string | null;
    version: string | null;
    guests: number;
  }[];
  /** One per (hypervisor, OS) pair that has guests. */
  cells: ({ hypervisor: string | null; os: string | null } & StatusCounts)[];
  totals: StatusCounts;
}

export interface AgentView {
  name: string;
  /** `agent`: an hvmap-agent with a token; `ssh`: a host the collector polls (serve --poll). */
  kind: 'agent' | 'ssh';
  agentId: string | null;
  version: string | null;
  host: string | null;
  /** An agent: holds its connection now; a polled host: its last poll read it. */
  connected: boolean;
  /** Why the last poll of a polled host failed (null otherwise). */
  pollError: string | null;
  createdAt: string;
  revokedAt: string | null;
  lastHello: string | null;
  lastContact: string | null;
  lastSeq: number | null;
}

export interface SummaryView {
  hosts: number;
  guests: StatusCounts;
  /** Agents: tokens not revoked, and connections held; polled: hosts read over SSH, and those whose last poll failed. */
  agents: { active: number; connected: number; polled: number; pollsFailing: number };
  alerts: { firing: number; critical: number; warning: number };
}

export interface HostFilter {
  /** Substring of the hostname, agent name or hypervisor name. */
  q?: string;
  hypervisor?: string;
  /** Hosts with at least one present guest of this status. */
  status?: GuestStatus;
}

export interface GuestFilter {
  status?: GuestStatus;
  eol?: boolean;
  /** Hostname, exactly. */
  host?: string;
  hypervisor?: string;
  os?: string;
  program?: string;
  verdict?: ProgramVerdictKind;
  state?: string;
  /** Substring of guest name, UUID, hostname, OS id or OS name. */
  q?: string;
  /** Guests that left their host: left out (default), included, or only them. */
  removed?: 'exclude' | 'include' | 'only';
}

export const GUEST_SORTS = ['host', 'name', 'os', 'status'] as const;
export type GuestSort = (typeof GUEST_SORTS)[number];

/** What the views need to know that the database does not: which agents are connected now. */
export interface LiveState {
  isConnected(agentName: string): boolean;
  readonly connected: number;
}

type Row = Record<string, string | number | null>;

export function emptyCounts(): StatusCounts {
  return { total: 0, certified: 0, notCertified: 0, unknown: 0, eol: 0 };
}

export function addCount(c: StatusCounts, status: string, n: number, eol: number): void {
  c.total += n;
  c.eol += eol;
  if (status === 'certified') c.certified += n;
  else if (status === 'not-certified') c.notCertified += n;
  else c.unknown += n;
}

function page<T>(items: T[], total: number, req: PageRequest): Page<T> {
  const next = req.offset + items.length;
  return { items, total, limit: req.limit, offset: req.offset, nextOffset: next < total ? next : null };
}

/** LIKE pattern for a substring, with the user's % and _ taken literally. */
function contains(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Identity fields of a stored host: the stored id and name, product and version re-read from the report. */
export function hypervisorRef(row: Row): HypervisorRef {
  const reported = JSON.parse(row.hypervisor_json as string) as Hypervisor;
  if (!row.hypervisor_id) {
    return { id: null, name: null, product: reported.product, version: reported.version ?? null };
  }
  const identity = identifyHypervisor(reported);
  return {
    id: row.hypervisor_id as string,
    name: row.hypervisor_name as string | null,
    product: identity?.product ?? reported.product,
    version: identity?.version ?? reported.version ?? null,
  };
}

function idCondition(column: string, value: string, where: string[], params: unknown[]): void {
  if (value === UNIDENTIFIED) where.push(`${column} IS NULL`);
  else {
    where.push(`${column} = ?`);
    params.push(value);
  }
}

/** Status counts of the present guests of each given host (index-only: guests_present_host). */
function countsByHost(db: Db, hostIds: number[]): Map<number, StatusCounts> {
  const out = new Map<number, StatusCounts>();
  for (const id of hostIds) out.set(id, emptyCounts());
  // Chunks keep the statement under SQLite's bound-parameter limit on a full export.
  for (let i = 0; i < hostIds.length; i += 500) {
    const chunk = hostIds.slice(i, i + 500);
    const rows = db
      .prepare(
        `SELECT host_id, status, COUNT(*) AS n, COUNT(eol_date) AS eol FROM guests
         WHERE removed_at IS NULL AND host_id IN (${chunk.map(() => '?').join(',')}) GROUP BY host_id, status`,
      )
      .all(...chunk) as { host_id: number; status: string; n: number; eol: number }[];
    for (const r of rows) addCount(out.get(r.host_id) as StatusCounts, r.status, r.n, r.eol);
  }
  return out;
}

function hostQuery(filter: HostFilter): { where: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.q) {
    where.push(
      "(h.hostname LIKE ? ESCAPE '\\' OR h.agent_name LIKE ? ESCAPE '\\' OR h.hypervisor_name LIKE ? ESCAPE '\\')",
    );
    const p = contains(filter.q);
    params.push(p, p, p);
  }
  if (filter.hypervisor) idCondition('h.hypervisor_id', filter.hypervisor, where, params);
  if (filter.status) {
    where.push('EXISTS (SELECT 1 FROM guests g WHERE g.host_id = h.id AND g.removed_at IS NULL AND g.status = ?)');
    params.push(filter.status);
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}

function toHostView(row: Row, counts: StatusCounts, live: LiveState): HostView {
  return {
    hostname: row.hostname as string,
    agent: row.agent_name as string,
    hypervisor: hypervisorRef(row),
    guests: counts,
    connected: live.isConnected(row.agent_name as string),
    lastContact: row.last_contact_at as string,
    lastReport: row.last_report_at as string,
    firstSeen: row.first_seen as string,
    partial: row.partial === 1,
    errors: (JSON.parse(row.errors_json as string) as unknown[]).length,
  };
}

const HOST_COLUMNS =
  'h.id, h.hostname, h.agent_name, h.hypervisor_json, h.hypervisor_id, h.hypervisor_name, h.partial, h.errors_json, h.first_seen, h.last_report_at, h.last_contact_at';

/** Hosts by hostname, each with its guests' status counts. */
export function listHosts(db: Db, live: LiveState, filter: HostFilter, req: PageRequest): Page<HostView> {
  const { where, params } = hostQuery(filter);
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM hosts h ${where}`).get(...params) as { n: number }).n;
  const rows = db
    .prepare(`SELECT ${HOST_COLUMNS} FROM hosts h ${where} ORDER BY h.hostname, h.agent_name LIMIT ? OFFSET ?`)
    .all(...params, req.limit, req.offset) as Row[];
  const counts = countsByHost(
    db,
    rows.map((r) => r.id as number),
  );
  return page(
    rows.map((r) => toHostView(r, counts.get(r.id as number) as StatusCounts, live)),
    total,
    req,
  );
}

/** One host with its facts and driver errors; null when no host has that name. */
/**
 * A host is its agent: `name` is the agent's (token) name, or a hostname that one agent alone reports.
 * Two agents reporting one hostname (an impostor, a rebuilt host) are two hosts: asking by that
 * hostname is ambiguous and says which agents to name instead.
 */
export class AmbiguousHost extends Error {
  readonly code = 'AMBIGUOUS_HOST';
  constructor(
    hostname: string,
    readonly agents: string[],
  ) {
    super(
      `${agents.length} agents report the hostname "${hostname}" (${agents.join(', ')}): ask by agent name instead`,
    );
  }
}

function hostIdOf(db: Db, name: string): number | null {
  const byAgent = db.prepare('SELECT id FROM hosts WHERE agent_name = ?').get(name) as { id: number } | undefined;
  if (byAgent) return byAgent.id;
  const byName = db.prepare('SELECT id, agent_name FROM hosts WHERE hostname = ? ORDER BY agent_name').all(name) as {
    id: number;
    agent_name: string;
  }[];
  if (byName.length > 1)
    throw new AmbiguousHost(
      name,
      byName.map((h) => h.agent_name),
    );
  return byName[0]?.id ?? null;
}

export function hostDetail(db: Db, live: LiveState, name: string): HostDetail | null {
  const id = hostIdOf(db, name);
  if (id === null) return null;
  const row = db.prepare(`SELECT ${HOST_COLUMNS}, h.facts_json FROM hosts h WHERE h.id = ?`).get(id) as Row;
  const view = toHostView(row, countsByHost(db, [row.id as number]).get(row.id as number) as StatusCounts, live);
  return {
    ...view,
    facts: JSON.parse(row.facts_json as string),
    reported: JSON.parse(row.hypervisor_json as string),
    errors: JSON.parse(row.errors_json as string) as unknown[],
  };
}

interface GuestQuery {
  where: string[];
  params: unknown[];
  /** A condition reads the hosts table. */
  needsHosts: boolean;
  /** A condition on the guest itself: only some guests of each host match. */
  selective: boolean;
}

function guestQuery(filter: GuestFilter): GuestQuery {
  const where: string[] = [];
  const params: unknown[] = [];
  const removed = filter.removed ?? 'exclude';
  if (removed === 'exclude') where.push('g.removed_at IS NULL');
  else if (removed === 'only') where.push('g.removed_at IS NOT NULL');
  if (filter.status) {
    where.push('g.status = ?');
    params.push(filter.status);
  }
  if (filter.eol !== undefined) where.push(filter.eol ? 'g.eol_date IS NOT NULL' : 'g.eol_date IS NULL');
  if (filter.host) {
    where.push('h.hostname = ?');
    params.push(filter.host);
  }
  if (filter.hypervisor) idCondition('h.hypervisor_id', filter.hypervisor, where, params);
  if (filter.os) idCondition('g.os_id', filter.os, where, params);
  if (filter.state) {
    where.push('g.state = ?');
    params.push(filter.state);
  }
  if (filter.program || filter.verdict) {
    // A program alone means it speaks of the guest (covers or excludes it).
    const verdicts = filter.verdict ? [filter.verdict] : ['covered', 'excluded'];
    where.push(
      `EXISTS (SELECT 1 FROM json_each(g.verdict_json, '$.programs') p
        WHERE ${filter.program ? "json_extract(p.value, '$.program') = ? AND " : ''}json_extract(p.value, '$.verdict') IN (${verdicts.map(() => '?').join(',')}))`,
    );
    if (filter.program) params.push(filter.program);
    params.push(...verdicts);
  }
  if (filter.q) {
    // "Windows Server 2019" finds the id windows-server-2019 as well as the name.
    const p = contains(filter.q);
    const idForm = contains(filter.q.trim().toLowerCase().replace(/\s+/g, '-'));
    where.push(
      `(g.name LIKE ? ESCAPE '\\' OR g.uuid LIKE ? ESCAPE '\\' OR h.hostname LIKE ? ESCAPE '\\' OR g.os_id LIKE ? ESCAPE '\\'
        OR json_extract(g.os_json, '$.name') LIKE ? ESCAPE '\\')`,
    );
    params.push(p, p, p, idForm, p);
  }
  return {
    where,
    params,
    needsHosts: Boolean(filter.host || filter.hypervisor || filter.q),
    selective: Boolean(
      filter.status ||
        filter.eol !== undefined ||
        filter.os ||
        filter.state ||
        filter.program ||
        filter.verdict ||
        filter.q,
    ),
  };
}

const whereOf = (conditions: string[]) => (conditions.length ? `WHERE ${conditions.join(' AND ')}` : '');

/**
 * FROM and WHERE for a guest query. In host order with no guest-side filter, hosts lead (CROSS JOIN
 * keeps SQLite's join order): the hostname index, then each host's guests by name, so a page reads
 * only its own rows instead of sorting 100,000. Otherwise the guest indexes find the matches first.
 */
function guestSource(q: GuestQuery, sort: GuestSort): string {
  if (sort === 'host' && !q.selective) {
    return `FROM hosts h CROSS JOIN guests g ${whereOf(['g.host_id = h.id', ...q.where])}`;
  }
  return `FROM guests g JOIN hosts h ON h.id = g.host_id ${whereOf(q.where)}`;
}

const GUEST_ORDER: Record<GuestSort, string> = {
  host: 'h.hostname, h.id, g.name, g.id',
  name: 'g.name, h.hostname, g.id',
  os: 'g.os_id IS NULL, g.os_id, h.hostname, g.name, g.id',
  // Worst first: not certified, unknown, then certified.
  status: "CASE g.status WHEN 'not-certified' THEN 0 WHEN 'unknown' THEN 1 ELSE 2 END, h.hostname, g.name, g.id",
};

const GUEST_COLUMNS = `g.guest_key, g.uuid, g.name, g.state, g.os_json, g.status, g.eol_date, g.first_seen, g.last_seen,
  g.removed_at, h.hostname, h.hypervisor_id, h.hypervisor_name, h.last_report_at,
  CASE WHEN g.os_json IS NULL THEN coalesce(json_extract(g.verdict_json, '$.osUnknownReason'),
    json_extract(g.os_evidence_json, '$.reason'), 'no_evidence') END AS os_unknown_reason,
  CASE WHEN g.status = 'certified' THEN NULL ELSE g.verdict_json END AS verdict_for_why`;

function toGuestView(row: Row): GuestView {
  return {
    host: row.hostname as string,
    key: row.guest_key as string,
    uuid: row.uuid as string,
    name: row.name as string,
    state: row.state as string,
    hypervisor: { id: row.hypervisor_id as string | null, name: row.hypervisor_name as string | null },
    os: row.os_json ? (JSON.parse(row.os_json as string) as GuestOs) : null,
    osUnknownReason: row.os_unknown_reason as string | null,
    status: row.status as GuestStatus,
    eol: row.eol_date ? { date: row.eol_date as string } : null,
    firstSeen: row.first_seen as string,
    // A present guest was seen in its host's latest report; only changes are written per guest.
    lastSeen: (row.removed_at ? row.last_seen : row.last_report_at) as string,
    removedAt: row.removed_at as string | null,
    why: row.verdict_for_why
      ? explain({
          ...(JSON.parse(row.verdict_for_why as string) as Omit<ExplainInput, 'status'>),
          status: row.status as string,
          osUnknownReason: row.os_unknown_reason as string | null,
        })
      : [],
  };
}

/** Guests matching a filter, one page. */
export function listGuests(db: Db, filter: GuestFilter, req: PageRequest, sort: GuestSort = 'host'): Page<GuestView> {
  const q = guestQuery(filter);
  // Counting needs the hosts table only for a host-side condition; without it, a partial index suffices.
  const counted = q.needsHosts
    ? `FROM guests g JOIN hosts h ON h.id = g.host_id ${whereOf(q.where)}`
    : `FROM guests g ${whereOf(q.where)}`;
  const total = (db.prepare(`SELECT COUNT(*) AS n ${counted}`).get(...q.params) as { n: number }).n;
  const rows = db
    .prepare(`SELECT ${GUEST_COLUMNS} ${guestSource(q, sort)} ORDER BY ${GUEST_ORDER[sort]} LIMIT ? OFFSET ?`)
    .all(...q.params, req.limit, req.offset) as Row[];
  return page(rows.map(toGuestView), total, req);
}

/** Every guest matching a filter, row by row (CSV exports stream this). */
export function* iterateGuests(db: Db, filter: GuestFilter, sort: GuestSort = 'host'): Generator<GuestView> {
  const q = guestQuery(filter);
  const rows = db
    .prepare(`SELECT ${GUEST_COLUMNS} ${guestSource(q, sort)} ORDER BY ${GUEST_ORDER[sort]}`)
    .iterate(...q.params) as IterableIterator<Row>;
  for (const row of rows) yield toGuestView(row);
}

/** One guest with its full verdict, evidence and history; null when there is no such guest. */
export function guestDetail(db: Db, host: string, key: string): GuestDetail | null {
  const hostId = hostIdOf(db, host);
  if (hostId === null) return null;
  // A key is the UUID for all but clones; a clone may also be asked for by its bare UUID.
  const row = db
    .prepare(
      `SELECT g.*, ${GUEST_COLUMNS}, h.id AS host_id, h.hypervisor_json FROM guests g JOIN hosts h ON h.id = g.host_id
       WHERE h.id = ? AND (g.guest_key = ? OR g.uuid = ?)
       ORDER BY g.guest_key = ? DESC, g.removed_at IS NOT NULL LIMIT 1`,
    )
    .get(hostId, key, key, key) as Row | undefined;
  if (!row) return null;
  const verdict = JSON.parse(row.verdict_json as string) as {
    programs?: GuestDetail['programs'];
    reason?: string;
    lifecycle?: unknown;
    osSource?: string | null;
    osConflicts?: unknown[];
    osUnknownDetail?: string | null;
  };
  const history = db
    .prepare(
      'SELECT at, kind, old_value, new_value FROM changes WHERE host_id = ? AND guest_key = ? ORDER BY id DESC LIMIT 50',
    )
    .all(row.host_id, row.guest_key) as {
    at: string;
    kind: string;
    old_value: string | null;
    new_value: string | null;
  }[];
  return {
    ...toGuestView(row),
    hypervisor: hypervisorRef(row),
    vcpus: row.vcpus as number | null,
    memoryBytes: row.memory_bytes as number | null,
    details: JSON.parse(row.details_json as string) as Record<string, unknown>,
    evidence: JSON.parse(row.os_evidence_json as string),
    osSource: verdict.osSource ?? null,
    osConflicts: verdict.osConflicts ?? [],
    osUnknownDetail: verdict.osUnknownDetail ?? null,
    reason: verdict.reason ?? null,
    lifecycle: verdict.lifecycle ?? null,
    programs: verdict.programs ?? [],
    catalogVersion: row.catalog_version as string,
    history: history.map((h) => ({ at: h.at, kind: h.kind, old: h.old_value, new: h.new_value })),
  };
}

/** Agents (one per token, and one per polled host), with their host and whether they are connected now. */
export function listAgents(db: Db, live: LiveState, req: PageRequest): Page<AgentView> {
  const total = (db.prepare('SELECT COUNT(*) AS n FROM agents').get() as { n: number }).n;
  const rows = db
    .prepare(
      `SELECT a.name, a.kind, a.poll_error, a.agent_id, a.agent_version, a.created_at, a.revoked_at, a.last_hello_at,
              h.hostname, h.last_contact_at, h.last_seq
       FROM agents a LEFT JOIN hosts h ON h.agent_name = a.name ORDER BY a.name LIMIT ? OFFSET ?`,
    )
    .all(req.limit, req.offset) as Row[];
  return page(
    rows.map((r) => ({
      name: r.name as string,
      kind: r.kind as AgentView['kind'],
      agentId: r.agent_id as string | null,
      version: r.agent_version as string | null,
      host: r.hostname as string | null,
      connected: live.isConnected(r.name as string),
      pollError: r.poll_error as string | null,
      createdAt: r.created_at as string,
      revokedAt: r.revoked_at as string | null,
      lastHello: r.last_hello_at as string | null,
      lastContact: (r.last_contact_at ?? r.last_hello_at) as string | null,
      lastSeq: r.last_seq as number | null,
    })),
    total,
    req,
  );
}

/** The headline numbers: hosts, guests by status (from the live map), agents, firing alerts. */
export function readSummary(db: Db, live: LiveState, guests: StatusCounts): SummaryView {
  const alerts = { firing: 0, critical: 0, warning: 0 };
  const bySeverity = db
    .prepare("SELECT severity, COUNT(*) AS n FROM alerts WHERE state = 'firing' GROUP BY severity")
    .all() as { severity: string; n: number }[];
  for (const r of bySeverity) {
    alerts.firing += r.n;
    if (r.severity === 'critical' || r.severity === 'warning') alerts[r.severity] += r.n;
  }
  return {
    hosts: (db.prepare('SELECT COUNT(*) AS n FROM hosts').get() as { n: number }).n,
    guests,
    agents: {
      ...(db
        .prepare(
          `SELECT COUNT(*) FILTER (WHERE kind = 'agent') AS active, COUNT(*) FILTER (WHERE kind = 'ssh') AS polled,
                  COUNT(*) FILTER (WHERE kind = 'ssh' AND poll_error IS NOT NULL) AS "pollsFailing"
           FROM agents WHERE revoked_at IS NULL`,
        )
        .get() as { active: number; polled: number; pollsFailing: number }),
      connected: live.connected,
    },
    alerts,
  };
}
