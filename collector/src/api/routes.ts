import type { ServerResponse } from 'node:http';
import { ALERT_KINDS } from '../alerts/rules.js';
import { type AlertFilter, type AlertRecord, countAlerts, listAlerts } from '../alerts/store.js';
import { findGaps } from '../catalog/gaps.js';
import type { Catalog } from '../catalog/load.js';
import { isCalendarDate, today } from '../map/evaluator.js';
import { makePlan, PlanError, readFleet } from '../plan/plan.js';
import type { Db } from '../store/db.js';
import {
  AGENT_COLUMNS,
  ALERT_COLUMNS,
  type Column,
  csvLines,
  GUEST_COLUMNS,
  HOST_COLUMNS,
  MATRIX_COLUMNS,
  matrixRows,
} from './columns.js';
import type { LiveMap } from './live-map.js';
import {
  AmbiguousHost,
  EVERY_ROW,
  GUEST_SORTS,
  GUEST_STATUSES,
  type GuestFilter,
  guestDetail,
  type HostFilter,
  hostDetail,
  iterateGuests,
  type LiveState,
  listAgents,
  listGuests,
  listHosts,
  type Page,
  type PageRequest,
  PROGRAM_VERDICTS,
  readSummary,
} from './queries.js';

/** Page sizes: JSON lists default to 100 rows and never exceed 1,000; CSV exports every row. */
export const PAGE_LIMITS = { default: 100, max: 1000 } as const;

/** A request the API cannot answer as asked: 400 with a stable code and what to send instead. */
export class BadRequest extends Error {
  readonly code = 'BAD_REQUEST';
}

export interface ApiContext {
  db: Db;
  live: LiveState;
  map: LiveMap;
  catalog(): Catalog;
}

function param(url: URL, name: string): string | undefined {
  const v = url.searchParams.get(name);
  return v === null || v === '' ? undefined : v;
}

function oneOf<T extends string>(url: URL, name: string, allowed: readonly T[]): T | undefined {
  const v = param(url, name);
  if (v !== undefined && !allowed.includes(v as T)) {
    throw new BadRequest(`${name} must be one of ${allowed.join(', ')}; got "${v}"`);
  }
  return v as T | undefined;
}

function bool(url: URL, name: string): boolean | undefined {
  const v = oneOf(url, name, ['true', 'false']);
  return v === undefined ? undefined : v === 'true';
}

function integer(url: URL, name: string, fallback: number, min: number, max: number): number {
  const v = param(url, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max)
    throw new BadRequest(`${name} must be an integer from ${min} to ${max}; got "${v}"`);
  return n;
}

export function pageRequest(url: URL): PageRequest {
  return {
    limit: integer(url, 'limit', PAGE_LIMITS.default, 1, PAGE_LIMITS.max),
    offset: integer(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** The guest filter of /api/guests (and `hvmap report --view guests`) from query parameters. */
export function guestFilter(url: URL): GuestFilter {
  return {
    status: oneOf(url, 'status', GUEST_STATUSES),
    eol: bool(url, 'eol'),
    host: param(url, 'host'),
    hypervisor: param(url, 'hypervisor'),
    os: param(url, 'os'),
    program: param(url, 'program'),
    verdict: oneOf(url, 'verdict', PROGRAM_VERDICTS),
    state: param(url, 'state'),
    q: param(url, 'q'),
    removed: oneOf(url, 'removed', ['exclude', 'include', 'only'] as const),
  };
}

/** The host filter of /api/hosts from query parameters. */
export function hostFilter(url: URL): HostFilter {
  return { q: param(url, 'q'), hypervisor: param(url, 'hypervisor'), status: oneOf(url, 'status', GUEST_STATUSES) };
}

/** The alert filter of /api/alerts from query parameters. */
export function alertFilter(url: URL): AlertFilter {
  return {
    state: oneOf(url, 'state', ['firing', 'resolved'] as const),
    kind: oneOf(url, 'kind', ALERT_KINDS),
    host: param(url, 'host'),
  };
}

/** Every alert matching a filter (listAlerts pages; an export wants them all). */
export function* allAlerts(db: Db, filter: AlertFilter): Generator<AlertRecord> {
  for (let offset = 0; ; offset += PAGE_LIMITS.max) {
    const batch = listAlerts(db, { ...filter, limit: PAGE_LIMITS.max, offset });
    yield* batch;
    if (batch.length < PAGE_LIMITS.max) return;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function sendCsv<T>(res: ServerResponse, name: string, columns: readonly Column<T>[], rows: Iterable<T>): void {
  res.writeHead(200, {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="hvmap-${name}.csv"`,
    'cache-control': 'no-store',
  });
  // Rows go out in chunks as they are read, so a 100,000-guest export never sits in memory whole.
  let chunk = '';
  for (const line of csvLines(columns, rows)) {
    chunk += line;
    if (chunk.length > 64 * 1024) {
      res.write(chunk);
      chunk = '';
    }
  }
  res.end(chunk);
}

function wantsCsv(url: URL): boolean {
  return oneOf(url, 'format', ['json', 'csv'] as const) === 'csv';
}

function segments(pathname: string): string[] {
  try {
    return pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw new BadRequest('the path is not valid percent-encoding');
  }
}

/** Runs a lookup by host; a hostname two agents report is answered 409 naming them (undefined then). */
function unambiguous<T>(res: ServerResponse, lookup: () => T): T | undefined {
  try {
    return lookup();
  } catch (err) {
    if (!(err instanceof AmbiguousHost)) throw err;
    sendJson(res, 409, { error: err.code, message: err.message, agents: err.agents });
    return undefined;
  }
}

/**
 * Answers the API views under /api/ (GET). Returns false for a path that is not one of them, so the
 * caller answers 404.
 */
export function handleApi(ctx: ApiContext, res: ServerResponse, url: URL): boolean {
  const { db, live, map } = ctx;
  const path = segments(url.pathname);
  if (path[0] !== 'api') return false;
  const [, view, a, b] = path;
  const list = <T>(
    name: string,
    columns: readonly Column<T>[],
    read: (req: PageRequest) => Page<T>,
    all: () => Iterable<T>,
  ) => {
    if (wantsCsv(url)) return sendCsv(res, name, columns, all());
    sendJson(res, 200, read(pageRequest(url)));
  };

  if (view === 'summary' && path.length === 2) {
    sendJson(res, 200, { ...readSummary(db, live, map.totals()), catalogVersion: ctx.catalog().version });
    return true;
  }
  if (view === 'catalog' && path.length === 2) {
    const catalog = ctx.catalog();
    sendJson(res, 200, {
      version: catalog.version,
      programs: catalog.programs.map((p) => ({
        program: p.program,
        title: p.title,
        kind: p.kind,
        coverage: p.coverage,
        rows: p.rows.length,
      })),
    });
    return true;
  }
  if (view === 'hosts' && path.length === 2) {
    const filter = hostFilter(url);
    list(
      'hosts',
      HOST_COLUMNS,
      (req) => listHosts(db, live, filter, req),
      () => listHosts(db, live, filter, EVERY_ROW).items,
    );
    return true;
  }
  if (view === 'hosts' && path.length === 3) {
    const host = unambiguous(res, () => hostDetail(db, live, a));
    if (host === undefined) return true;
    if (host) sendJson(res, 200, host);
    else sendJson(res, 404, { error: 'HOST_NOT_FOUND', message: `no host named "${a}"` });
    return true;
  }
  if (view === 'guests' && path.length === 2) {
    const filter = guestFilter(url);
    const sort = oneOf(url, 'sort', GUEST_SORTS) ?? 'host';
    list(
      'guests',
      GUEST_COLUMNS,
      (req) => listGuests(db, filter, req, sort),
      () => iterateGuests(db, filter, sort),
    );
    return true;
  }
  if (view === 'guests' && path.length === 4) {
    const guest = unambiguous(res, () => guestDetail(db, a, b));
    if (guest === undefined) return true;
    if (guest) sendJson(res, 200, guest);
    else sendJson(res, 404, { error: 'GUEST_NOT_FOUND', message: `no guest "${b}" on host "${a}"` });
    return true;
  }
  if (view === 'plan' && path.length === 2) {
    const date = param(url, 'date') ?? today();
    if (!isCalendarDate(date)) throw new BadRequest(`date must be a calendar date YYYY-MM-DD; got "${date}"`);
    try {
      const request = {
        hosts: url.searchParams.getAll('host').filter(Boolean),
        matching: param(url, 'matching'),
        to: param(url, 'to'),
        guest: param(url, 'guest'),
        candidates: url.searchParams.getAll('candidate').filter(Boolean),
        date,
      };
      sendJson(res, 200, makePlan(readFleet(db), request, ctx.catalog()));
    } catch (err) {
      if (err instanceof PlanError) throw new BadRequest(err.message);
      throw err;
    }
    return true;
  }
  if (view === 'gaps' && path.length === 2) {
    sendJson(res, 200, findGaps(db));
    return true;
  }
  if (view === 'matrix' && path.length === 2) {
    const m = map.matrix();
    if (wantsCsv(url)) sendCsv(res, 'matrix', MATRIX_COLUMNS, matrixRows(m));
    else sendJson(res, 200, { ...m, catalogVersion: ctx.catalog().version });
    return true;
  }
  if (view === 'alerts' && path.length === 2) {
    const filter = alertFilter(url);
    list(
      'alerts',
      ALERT_COLUMNS,
      (req) => {
        const items = listAlerts(db, { ...filter, ...req });
        const total = countAlerts(db, filter);
        return {
          items,
          total,
          ...req,
          nextOffset: req.offset + items.length < total ? req.offset + items.length : null,
        };
      },
      () => allAlerts(db, filter),
    );
    return true;
  }
  if (view === 'agents' && path.length === 2) {
    list(
      'agents',
      AGENT_COLUMNS,
      (req) => listAgents(db, live, req),
      () => listAgents(db, live, EVERY_ROW).items,
    );
    return true;
  }
  return false;
}
