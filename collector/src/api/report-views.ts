/**
 * `hvmap report --view VIEW`: the API's views in the terminal, read from a database file (the same
 * queries the API runs) or from a running collector (its API, page by page).
 */
import type { AlertRecord } from '../alerts/store.js';
import { counted } from '../report/hygiene.js';
import type { Db } from '../store/db.js';
import {
  AGENT_COLUMNS,
  ALERT_COLUMNS,
  type Column,
  GUEST_COLUMNS,
  HOST_COLUMNS,
  MATRIX_COLUMNS,
  matrixRows,
  toCsv,
  toTable,
} from './columns.js';
import { LiveMap } from './live-map.js';
import {
  type AgentView,
  EVERY_ROW,
  type GuestView,
  type HostView,
  iterateGuests,
  type LiveState,
  listAgents,
  listHosts,
  type MatrixView,
  type Page,
} from './queries.js';
import { alertFilter, allAlerts, guestFilter, hostFilter, PAGE_LIMITS } from './routes.js';

export const VIEWS = ['hosts', 'guests', 'matrix', 'alerts', 'agents'] as const;
export type ViewName = (typeof VIEWS)[number];

export type ViewData =
  | { view: 'hosts'; items: HostView[] }
  | { view: 'guests'; items: GuestView[] }
  | { view: 'matrix'; matrix: MatrixView }
  | { view: 'alerts'; items: AlertRecord[] }
  | { view: 'agents'; items: AgentView[] };

/** Which agents the collector serving this database holds a connection of, as it records them. */
function recordedConnections(db: Db): LiveState {
  const names = new Set(
    (db.prepare('SELECT name FROM agents WHERE connected_at IS NOT NULL').all() as { name: string }[]).map(
      (r) => r.name,
    ),
  );
  return { isConnected: (name) => names.has(name), connected: names.size };
}

/**
 * A view from the database, filtered by the same query parameters the API takes (and checked by
 * the same code, so a bad value fails alike).
 */
export function viewFromDb(db: Db, view: ViewName, params: URLSearchParams): ViewData {
  const url = new URL(`http://cli/?${params}`);
  switch (view) {
    case 'hosts':
      return { view, items: listHosts(db, recordedConnections(db), hostFilter(url), EVERY_ROW).items };
    case 'guests':
      return { view, items: [...iterateGuests(db, guestFilter(url))] };
    case 'matrix':
      return { view, matrix: new LiveMap(db).matrix() };
    case 'alerts':
      return { view, items: [...allAlerts(db, alertFilter(url))] };
    case 'agents':
      return { view, items: listAgents(db, recordedConnections(db), EVERY_ROW).items };
  }
}

/** Why a request did not reach the collector, with what to do for the usual mistakes. */
export function unreachable(url: URL, err: Error): string {
  const cause = (err.cause ?? err) as Error & { code?: string };
  const text = `${cause.message ?? cause}`;
  if (/certificate|self.signed|UNABLE_TO_VERIFY|CERT_/i.test(`${cause.code} ${text}`))
    return `${text}: the collector's certificate is not trusted here; give its CA with NODE_EXTRA_CA_CERTS=ca.crt (the file hvmap tls init wrote), or use the host name its certificate names`;
  if (/wrong version number|EPROTO/i.test(`${cause.code} ${text}`) && url.protocol === 'https:')
    return `${text}: the collector answers plain HTTP there; use http://`;
  if (
    /socket hang up|ECONNRESET|other side closed|UND_ERR_SOCKET/i.test(`${cause.code} ${text}`) &&
    url.protocol === 'http:'
  )
    return `${text}: if the collector serves TLS on that port (--tls-cert), use https://`;
  return text;
}

/** GETs one API answer; a network failure or an error status becomes an Error that says which. */
export async function getJson<T>(url: URL, token: string | undefined): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new Error(`cannot reach the collector at ${url.origin}: ${unreachable(url, err as Error)}`);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    throw Object.assign(
      new Error(`the collector answered ${res.status} for ${url.pathname}${body.message ? `: ${body.message}` : ''}`),
      { status: res.status },
    );
  }
  return (await res.json()) as T;
}

/** A view from a running collector's API: every page of a list, the matrix in one request. */
export async function viewFromCollector(
  collector: string,
  view: ViewName,
  params: URLSearchParams,
  token?: string,
): Promise<ViewData> {
  const url = new URL(`/api/${view}`, collector);
  for (const [k, v] of params) url.searchParams.set(k, v);
  if (view === 'matrix') return { view, matrix: await getJson<MatrixView>(url, token) };
  const items: unknown[] = [];
  url.searchParams.set('limit', String(PAGE_LIMITS.max));
  for (let offset: number | null = 0; offset !== null; ) {
    url.searchParams.set('offset', String(offset));
    const page: Page<unknown> = await getJson<Page<unknown>>(url, token);
    items.push(...page.items);
    offset = page.nextOffset;
  }
  return { view, items } as ViewData;
}

function columnsOf(data: ViewData): { columns: Column<never>[]; rows: unknown[] } {
  switch (data.view) {
    case 'hosts':
      return { columns: HOST_COLUMNS as Column<never>[], rows: data.items };
    case 'guests':
      return { columns: GUEST_COLUMNS as Column<never>[], rows: data.items };
    case 'matrix':
      return { columns: MATRIX_COLUMNS as Column<never>[], rows: matrixRows(data.matrix) };
    case 'alerts':
      return { columns: ALERT_COLUMNS as Column<never>[], rows: data.items };
    case 'agents':
      return { columns: AGENT_COLUMNS as Column<never>[], rows: data.items };
  }
}

/** JSON (the API's own shapes: `{items, total}` for lists, the matrix object), CSV or a table. */
export function formatView(data: ViewData, format: 'table' | 'json' | 'csv'): string {
  if (format === 'json') {
    return `${JSON.stringify(data.view === 'matrix' ? data.matrix : { items: data.items, total: data.items.length }, null, 2)}\n`;
  }
  const { columns, rows } = columnsOf(data);
  if (format === 'csv') return toCsv(columns, rows as never[]);
  const footer =
    data.view === 'matrix'
      ? `${counted(data.matrix.totals.total, 'guest')}: ${data.matrix.totals.certified} certified, ${data.matrix.totals.notCertified} not certified, ${data.matrix.totals.unknown} unknown; ${data.matrix.totals.eol} past end of support`
      : counted(rows.length, data.view.replace(/s$/, ''));
  return `${toTable(columns, rows as never[])}\n${footer}\n`;
}
