/**
 * Loads the catalog: the shipped program files, then an operator's local files merged over them.
 * Every file and every row is checked; the first problem throws a CatalogError (the caller keeps
 * the catalog it had), and `validateCatalogDir` lists every problem of a directory at once.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Compile } from 'typebox/compile';
import {
  type CertificationHeader,
  CertificationHeaderSchema,
  type CertificationRow,
  CertificationRowSchema,
  KindSchema,
  type LifecycleHeader,
  LifecycleHeaderSchema,
  type LifecycleRow,
  LifecycleRowSchema,
  type Source,
} from './schema.js';
import { parseVersionSpecItem } from './version-spec.js';

/** Marks what an operator must write before a template row is accepted (see gaps.ts). */
export const FILL_IN = 'FILL-IN';

/** Where a row came from: the files shipped with the collector or the operator's local directory. */
export type RowOrigin = 'shipped' | 'local';

export type CertificationProgram = Omit<CertificationHeader, 'rows'> & {
  rows: (CertificationRow & { origin: RowOrigin })[];
  /** The files it was read from, shipped first. */
  files: string[];
};
export type LifecycleProgram = Omit<LifecycleHeader, 'rows'> & {
  rows: (LifecycleRow & { origin: RowOrigin })[];
  files: string[];
};
export type CatalogProgram = CertificationProgram | LifecycleProgram;

/** Every program in force, and a version that changes whenever any of their contents does. */
export interface Catalog {
  /** First 12 hex digits of the SHA-256 of the merged programs' contents: stamps each evaluation. */
  version: string;
  programs: CatalogProgram[];
}

export type CatalogErrorCode =
  | 'CATALOG_DIR_UNREADABLE'
  | 'CATALOG_EMPTY'
  | 'CATALOG_FILE_UNREADABLE'
  | 'CATALOG_BAD_JSON'
  | 'CATALOG_BAD_FILE'
  | 'CATALOG_BAD_ROW'
  | 'CATALOG_KIND_CONFLICT'
  | 'CATALOG_UNKNOWN_PROGRAM'
  | 'CATALOG_CONTRADICTION';

/** One thing wrong with a catalog file; `row` is the index in its `rows` array. */
export interface CatalogProblem {
  code: CatalogErrorCode;
  file: string;
  row?: number;
  reason: string;
}

/** A catalog that cannot be loaded. The message names the file, the row and what is wrong. */
export class CatalogError extends Error {
  readonly code: CatalogErrorCode;
  readonly file: string;
  readonly row?: number;
  readonly reason: string;

  constructor(problem: CatalogProblem) {
    super(`${describeProblem(problem)} (fix it, or check a directory with "hvmap catalog validate DIR")`);
    this.name = 'CatalogError';
    this.code = problem.code;
    this.file = problem.file;
    this.row = problem.row;
    this.reason = problem.reason;
  }
}

/** "file.json rows[3]: reason", as `hvmap catalog validate` prints it. */
export function describeProblem(p: CatalogProblem): string {
  return `${p.file}${p.row === undefined ? '' : ` rows[${p.row}]`}: ${p.reason}`;
}

const kindValidator = Compile(KindSchema);
const validators = {
  certification: { header: Compile(CertificationHeaderSchema), row: Compile(CertificationRowSchema) },
  lifecycle: { header: Compile(LifecycleHeaderSchema), row: Compile(LifecycleRowSchema) },
};

type CheckedFile =
  | { kind: 'certification'; header: CertificationHeader; rows: CertificationRow[] }
  | { kind: 'lifecycle'; header: LifecycleHeader; rows: LifecycleRow[] };

/**
 * Loads and merges the catalog. Local files use the same schema: their rows are appended to the
 * shipped program of the same name (whose header stays in force), or form a new program.
 */
export function loadCatalog(dirs: { shipped: string; local?: string }): Catalog {
  const shipped = readDir(dirs.shipped, 'shipped');
  if (shipped.length === 0) {
    throw new CatalogError({
      code: 'CATALOG_EMPTY',
      file: dirs.shipped,
      reason: 'no catalog files (*.json) in the shipped catalog directory',
    });
  }
  const local = dirs.local ? readDir(dirs.local, 'local') : [];
  const shippedNames = new Set(shipped.map((f) => f.checked.header.program));
  const programs = new Map<string, CatalogProgram>();
  for (const f of [...shipped, ...local]) {
    const problem =
      (f.origin === 'local' ? unknownProgram(f.checked.header, f.file, shippedNames) : null) ?? merge(programs, f);
    if (problem) throw new CatalogError(problem);
  }
  const contradiction = findContradictions(local)[0];
  if (contradiction) throw new CatalogError(contradiction);
  const list = [...programs.values()];
  // File paths differ between installs: the version hashes contents only.
  const contents = JSON.stringify(list.map(({ files: _files, ...program }) => program));
  return { version: createHash('sha256').update(contents).digest('hex').slice(0, 12), programs: list };
}

/**
 * Every problem of the catalog files in one directory (empty when they are all valid). With `shipped`,
 * the directory is read as local files merged over those programs: a local file must name one of
 * them (or say `"newProgram": true`), and two of its rows must not contradict each other.
 */
export function validateCatalogDir(dir: string, shipped?: ReadonlySet<string>): string[] {
  let names: string[];
  try {
    names = listJson(dir);
  } catch (err) {
    return [describeProblem({ code: 'CATALOG_DIR_UNREADABLE', file: dir, reason: (err as Error).message })];
  }
  if (names.length === 0)
    return [describeProblem({ code: 'CATALOG_EMPTY', file: dir, reason: 'no catalog files (*.json)' })];
  const problems: CatalogProblem[] = [];
  const programs = new Map<string, CatalogProgram>();
  const read: ReadFile[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const checked = checkFile(file, readText(file, problems), problems);
    if (!checked) continue;
    const unknown = shipped ? unknownProgram(checked.header, file, shipped) : null;
    if (unknown) {
      problems.push(unknown);
      continue;
    }
    const f: ReadFile = { file, origin: 'local', checked };
    const problem = merge(programs, f);
    if (problem) problems.push(problem);
    else read.push(f);
  }
  if (shipped) problems.push(...findContradictions(read));
  return problems.map(describeProblem);
}

/** Names of the programs a directory's files define. */
export function programNames(dir: string): Set<string> {
  return new Set(readDir(dir, 'shipped').map((f) => f.checked.header.program));
}

function unknownProgram(
  header: CheckedFile['header'],
  file: string,
  shipped: ReadonlySet<string>,
): CatalogProblem | null {
  if (shipped.has(header.program) || header.newProgram) return null;
  return {
    code: 'CATALOG_UNKNOWN_PROGRAM',
    file,
    reason: `"${header.program}" is not a shipped program (${[...shipped].join(', ')}): a local file adds rows to one of them; to start a program of your own, set "newProgram": true`,
  };
}

/**
 * Local rows of one program that cover and exclude the same pair: the same hypervisor product with a
 * version in common (or no versions), and guests with a distro and a version in common. The second
 * row of each such pair is reported; shipped rows may be overridden by an excluding local row.
 */
function findContradictions(files: ReadFile[]): CatalogProblem[] {
  const seen = new Map<string, { file: string; row: number; value: CertificationRow }[]>();
  const problems: CatalogProblem[] = [];
  for (const f of files) {
    if (f.checked.kind !== 'certification') continue;
    const program = f.checked.header.program;
    const earlier = seen.get(program) ?? [];
    f.checked.rows.forEach((value, row) => {
      const clash = earlier.find(
        (e) => (e.value.verdict ?? 'covered') !== (value.verdict ?? 'covered') && samePair(e.value, value),
      );
      if (clash) {
        problems.push({
          code: 'CATALOG_CONTRADICTION',
          file: f.file,
          row,
          reason: `${value.verdict ?? 'covered'} here, but ${clash.value.verdict ?? 'covered'} in ${path.basename(clash.file)} rows[${clash.row}] for the same hypervisor and guest: keep the one your source states`,
        });
      }
      earlier.push({ file: f.file, row, value });
    });
    seen.set(program, earlier);
  }
  return problems;
}

function samePair(a: CertificationRow, b: CertificationRow): boolean {
  const common = (x?: readonly string[], y?: readonly string[]) => !x || !y || x.some((v) => y.includes(v));
  return (
    a.hypervisor.product === b.hypervisor.product &&
    common(a.hypervisor.versions, b.hypervisor.versions) &&
    (!a.guest.family || !b.guest.family || a.guest.family === b.guest.family) &&
    common(a.guest.distro, b.guest.distro) &&
    common(a.guest.versions, b.guest.versions)
  );
}

interface ReadFile {
  file: string;
  origin: RowOrigin;
  checked: CheckedFile;
}

function readDir(dir: string, origin: RowOrigin): ReadFile[] {
  let names: string[];
  try {
    names = listJson(dir);
  } catch (err) {
    throw new CatalogError({ code: 'CATALOG_DIR_UNREADABLE', file: dir, reason: (err as Error).message });
  }
  return names.map((name) => {
    const file = path.join(dir, name);
    const problems: CatalogProblem[] = [];
    const checked = checkFile(file, readText(file, problems), problems);
    if (!checked || problems.length) throw new CatalogError(problems[0]);
    return { file, origin, checked };
  });
}

function listJson(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => e.name)
    .sort();
}

function readText(file: string, problems: CatalogProblem[]): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ code: 'CATALOG_FILE_UNREADABLE', file, reason: (err as Error).message });
    return null;
  }
}

function merge(programs: Map<string, CatalogProgram>, f: ReadFile): CatalogProblem | null {
  const { header, rows } = f.checked;
  const tagged = rows.map((r) => ({ ...r, origin: f.origin }));
  const existing = programs.get(header.program);
  if (!existing) {
    programs.set(header.program, { ...header, rows: tagged, files: [f.file] } as CatalogProgram);
    return null;
  }
  if (existing.kind !== header.kind) {
    return {
      code: 'CATALOG_KIND_CONFLICT',
      file: f.file,
      reason: `program "${header.program}" is a ${existing.kind} program in ${existing.files[0]}, not ${header.kind}`,
    };
  }
  (existing.rows as unknown[]).push(...tagged);
  if (existing.kind === 'certification' && header.kind === 'certification' && header.lists) {
    const known = new Set((existing.lists ?? []).map((l) => l.id));
    existing.lists = [...(existing.lists ?? []), ...header.lists.filter((l) => !known.has(l.id))];
  }
  existing.files.push(f.file);
  return null;
}

/** Checks one file; pushes every problem found and returns the file when its header is usable and no row is bad. */
function checkFile(file: string, text: string | null, problems: CatalogProblem[]): CheckedFile | null {
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    problems.push({ code: 'CATALOG_BAD_JSON', file, reason: `not JSON: ${(err as Error).message}` });
    return null;
  }
  if (!kindValidator.Check(value)) {
    problems.push({ code: 'CATALOG_BAD_FILE', file, reason: 'needs "kind": "certification" or "lifecycle"' });
    return null;
  }
  const kind = value.kind;
  const { header: headerValidator, row: rowValidator } = validators[kind];
  if (!headerValidator.Check(value)) {
    problems.push({ code: 'CATALOG_BAD_FILE', file, reason: firstSchemaError(headerValidator, value) });
    return null;
  }
  const headerReason =
    kind === 'certification'
      ? checkCertificationHeader(value as CertificationHeader)
      : checkSource(value.source, '/source');
  if (headerReason) {
    problems.push({ code: 'CATALOG_BAD_FILE', file, reason: headerReason });
    return null;
  }
  const before = problems.length;
  const declaredLists = new Set(
    kind === 'certification' ? ((value as CertificationHeader).lists ?? []).map((l) => l.id) : [],
  );
  value.rows.forEach((row, i) => {
    const reason =
      waitingFor(row) ??
      (rowValidator.Check(row)
        ? kind === 'certification'
          ? checkCertificationRow(row as CertificationRow, declaredLists)
          : checkLifecycleRow(row as LifecycleRow)
        : firstSchemaError(rowValidator, row));
    if (reason) problems.push({ code: 'CATALOG_BAD_ROW', file, row: i, reason });
  });
  if (problems.length > before) return null;
  return kind === 'certification'
    ? { kind, header: value as CertificationHeader, rows: value.rows as CertificationRow[] }
    : { kind, header: value as LifecycleHeader, rows: value.rows as LifecycleRow[] };
}

/**
 * What a row written from a `hvmap catalog gaps` template still waits for (its FILL-IN fields), or a
 * source it lacks altogether: said plainly rather than as a schema mismatch.
 */
function waitingFor(row: unknown): string | null {
  if (typeof row !== 'object' || row === null) return null;
  const r = row as Record<string, unknown>;
  const pending = (v: unknown) => typeof v === 'string' && v.startsWith(FILL_IN);
  const source = r.source as Record<string, unknown> | undefined;
  if (pending(r.verdict)) return '/verdict: waiting for its verdict: write "covered" or "excluded"';
  if (r.source === undefined) return '/source: no source: every row needs the URL or document it was read from';
  if (source && Object.values(source).some(pending))
    return '/source: waiting for its source: write the URL (or the title) of the vendor page that decides the pair';
  if (pending(r.read)) return '/read: waiting for the date the source was read (YYYY-MM-DD)';
  return null;
}

/** The most telling schema error: an unknown field by name, else the first mismatch with its path. */
function firstSchemaError(
  validator: { Errors(v: unknown): { keyword: string; instancePath: string; message: string; params: unknown }[] },
  value: unknown,
): string {
  const errors = validator.Errors(value).filter((e) => e.keyword !== 'boolean');
  const extra = errors.find((e) => e.keyword === 'additionalProperties');
  if (extra) {
    const names = (extra.params as { additionalProperties?: string[] }).additionalProperties ?? [];
    return `${extra.instancePath || '/'}: unknown field ${names.map((n) => `"${n}"`).join(', ')}`;
  }
  const first = errors[0];
  return first ? `${first.instancePath || '/'}: ${first.message}` : 'does not match the catalog schema';
}

function checkCertificationHeader(h: CertificationHeader): string | null {
  return (
    checkSource(h.source, '/source') ??
    (h.scopeSource ? checkSource(h.scopeSource, '/scopeSource') : null) ??
    firstOf(h.hosts.map((s, i) => checkVersions(s.versions, `/hosts/${i}/versions`))) ??
    firstOf(
      h.guests.flatMap((g, i) => [
        g.family || g.distro ? null : `/guests/${i}: needs "family" or "distro"`,
        checkVersions(g.versions, `/guests/${i}/versions`),
        ...(g.hosts ?? []).map((s, j) => checkVersions(s.versions, `/guests/${i}/hosts/${j}/versions`)),
      ]),
    )
  );
}

function checkCertificationRow(r: CertificationRow, lists: ReadonlySet<string>): string | null {
  return (
    (r.list === undefined || lists.has(r.list) ? null : `/list: "${r.list}" is not among the header's lists`) ??
    checkSource(r.source, '/source') ??
    checkDate(r.read, '/read') ??
    (r.guest.family || r.guest.distro ? null : '/guest: needs "family" or "distro"') ??
    checkVersions(r.hypervisor.versions, '/hypervisor/versions') ??
    checkVersions(r.guest.versions, '/guest/versions')
  );
}

function checkLifecycleRow(r: LifecycleRow): string | null {
  return (
    checkSource(r.source, '/source') ??
    checkDate(r.read, '/read') ??
    checkDate(r.end, '/end') ??
    (r.mainstreamEnd ? checkDate(r.mainstreamEnd, '/mainstreamEnd') : null) ??
    (r.extended ? checkDate(r.extended.date, '/extended/date') : null) ??
    checkVersions(r.os.versions, '/os/versions')
  );
}

function checkSource(s: Source, at: string): string | null {
  if (s.url || (s.repo && s.path) || s.title) return null;
  return `${at}: a source needs a url, a repo and path, or a title`;
}

function checkDate(date: string, at: string): string | null {
  const d = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(date)
    ? null
    : `${at}: "${date}" is not a calendar date`;
}

function checkVersions(items: string[] | undefined, at: string): string | null {
  for (const item of items ?? []) {
    const spec = parseVersionSpecItem(item);
    if ('error' in spec) return `${at}: ${spec.error}`;
  }
  return null;
}

function firstOf(reasons: (string | null)[]): string | null {
  return reasons.find((r) => r !== null) ?? null;
}

/** One line naming a source: the pinned revision where known, else its address or title. */
export function formatSource(s: Source): string {
  if (s.repo && s.path && s.commit) return `https://github.com/${s.repo}/blob/${s.commit}/${s.path}`;
  return s.url ?? (s.repo && s.path ? `https://github.com/${s.repo}/blob/HEAD/${s.path}` : (s.title as string));
}
