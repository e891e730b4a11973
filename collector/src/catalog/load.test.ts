import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { evaluate } from '../compat/evaluate.js';
import { CatalogError, type CertificationProgram, formatSource, loadCatalog, validateCatalogDir } from './load.js';

const SHIPPED = fileURLToPath(new URL('../../catalog', import.meta.url));
const PROGRAMS = [
  'citrix-hypervisor-guests',
  'lifecycle',
  'ms-hyperv-linux',
  'ms-hyperv-windows',
  'ms-svvp',
  'rh-certified-hypervisors',
  'rh-kvm-guests',
  'suse-guests',
];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-catalog-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

function shippedFile(program: string): Record<string, unknown> & { rows: Record<string, unknown>[] } {
  return JSON.parse(readFileSync(path.join(SHIPPED, `${program}.json`), 'utf8'));
}

/** A small valid program: the SVVP file with its first two rows. */
function smallProgram(): Record<string, unknown> & { rows: Record<string, unknown>[] } {
  const p = shippedFile('ms-svvp');
  return { ...p, rows: p.rows.slice(0, 2) };
}

const localRow = {
  hypervisor: { product: 'esxi', versions: ['8.0'] },
  guest: { distro: ['windows-server'], versions: ['2019', '2022'] },
  conditions: [],
  source: {
    title: 'Windows Server Catalog entry checked by the operator',
    url: 'https://www.windowsservercatalog.com/',
  },
  read: '2026-11-20',
};

describe('loadCatalog', () => {
  it('loads every shipped file', () => {
    const catalog = loadCatalog({ shipped: SHIPPED });
    expect(readdirSync(SHIPPED).filter((f) => f.endsWith('.json')).length).toBe(PROGRAMS.length);
    expect(catalog.programs.map((p) => p.program).sort()).toEqual(PROGRAMS);
    for (const p of catalog.programs) expect(p.rows.length, p.program).toBeGreaterThan(0);
    expect(catalog.version).toMatch(/^[0-9a-f]{12}$/);
  });

  it('gives every shipped row a source and the date it was read', () => {
    for (const p of loadCatalog({ shipped: SHIPPED }).programs) {
      p.rows.forEach((row, i) => {
        expect(formatSource(row.source), `${p.program} rows[${i}]`).toBeTruthy();
        expect(row.read, `${p.program} rows[${i}]`).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(row.origin).toBe('shipped');
      });
    }
  });

  it('marks every row that reads its source rather than quoting it', () => {
    const windows = loadCatalog({ shipped: SHIPPED }).programs.find(
      (p) => p.program === 'ms-hyperv-windows',
    ) as CertificationProgram;
    const ws2016 = windows.rows.find(
      (r) => r.guest.versions?.includes('2016') && r.hypervisor.versions?.includes('2016+'),
    );
    expect(ws2016?.inferred).toMatch(/page's scope|scope is Hyper-V on Windows Server/);
  });

  it('refuses a file with a bad row, naming the file, the row and the reason', () => {
    const program = smallProgram();
    program.rows[1] = { ...program.rows[1], conditions: 'needs SP2' };
    const dir = tempDir({ 'ms-svvp.json': program });
    const err = catchError(() => loadCatalog({ shipped: dir }));
    expect(err).toBeInstanceOf(CatalogError);
    expect(err).toMatchObject({ code: 'CATALOG_BAD_ROW', file: path.join(dir, 'ms-svvp.json'), row: 1 });
    expect((err as CatalogError).reason).toMatch(/^\/conditions: /);
    expect((err as CatalogError).message).toContain('ms-svvp.json rows[1]: /conditions');
  });

  it('names an unknown field', () => {
    const program = smallProgram();
    program.rows[0] = { ...program.rows[0], sauce: 'typo' };
    const err = catchError(() => loadCatalog({ shipped: tempDir({ 'p.json': program }) }));
    expect(err).toMatchObject({ code: 'CATALOG_BAD_ROW', row: 0, reason: '/: unknown field "sauce"' });
  });

  it('refuses a row whose source names nothing, and a version list that is no list', () => {
    const program = smallProgram();
    program.rows[0] = { ...program.rows[0], source: { trust: 'high' } };
    program.rows[1] = { ...program.rows[1], hypervisor: { product: 'esxi', versions: ['8.0-7.0'] } };
    const problems = validateCatalogDir(tempDir({ 'p.json': program }));
    expect(problems).toEqual([
      expect.stringMatching(/p\.json rows\[0\]: \/source: a source needs a url, a repo and path, or a title$/),
      expect.stringMatching(/p\.json rows\[1\]: \/hypervisor\/versions: "8\.0-7\.0": the range starts after it ends$/),
    ]);
  });

  it('refuses a file that is not JSON, and a file without a kind', () => {
    expect(catchError(() => loadCatalog({ shipped: tempDir({ 'a.json': '{ "program": ' }) }))).toMatchObject({
      code: 'CATALOG_BAD_JSON',
    });
    expect(catchError(() => loadCatalog({ shipped: tempDir({ 'a.json': { program: 'x' } }) }))).toMatchObject({
      code: 'CATALOG_BAD_FILE',
      reason: 'needs "kind": "certification" or "lifecycle"',
    });
  });

  it('refuses an empty or missing shipped directory', () => {
    expect(catchError(() => loadCatalog({ shipped: tempDir({}) }))).toMatchObject({ code: 'CATALOG_EMPTY' });
    expect(catchError(() => loadCatalog({ shipped: path.join(tmpdir(), 'hvmap-no-such-dir') }))).toMatchObject({
      code: 'CATALOG_DIR_UNREADABLE',
    });
  });

  it('merges local rows over the shipped program of the same name, tagged local', () => {
    const shipped = loadCatalog({ shipped: SHIPPED });
    const local = tempDir({ 'svvp-esxi.json': { ...smallProgram(), rows: [localRow] } });
    const merged = loadCatalog({ shipped: SHIPPED, local });
    const svvp = merged.programs.find((p) => p.program === 'ms-svvp') as CertificationProgram;
    const before = shipped.programs.find((p) => p.program === 'ms-svvp') as CertificationProgram;
    expect(svvp.rows.length).toBe(before.rows.length + 1);
    expect(svvp.rows.at(-1)?.origin).toBe('local');
    expect(svvp.title).toBe(before.title);
    expect(svvp.files).toEqual([path.join(SHIPPED, 'ms-svvp.json'), path.join(local, 'svvp-esxi.json')]);
    expect(merged.version).not.toBe(shipped.version);

    const esxi = { id: 'esxi-8.0', product: 'esxi', version: '8.0', name: 'VMware ESXi 8.0' };
    const ws2019 = {
      id: 'windows-server-2019',
      family: 'windows' as const,
      distro: 'windows-server',
      version: '2019',
      name: 'Windows Server 2019',
    };
    expect(evaluate(esxi, ws2019, shipped, '2026-11-26').status).toBe('unknown');
    const v = evaluate(esxi, ws2019, merged, '2026-11-26');
    expect(v.status).toBe('certified');
    expect(v.programs.find((p) => p.program === 'ms-svvp')).toMatchObject({ verdict: 'covered', origin: 'local' });
  });

  it("adds a local file's lists to those of the shipped program, each id once", () => {
    const shipped = shippedFile('ms-hyperv-linux') as Record<string, unknown> & { lists: { id: string }[] };
    const own = { id: 'site-page', title: 'Our copy of a vendor page' };
    const local = tempDir({
      'l.json': { ...shipped, lists: [shipped.lists[0], own], rows: [{ ...shipped.rows[0], read: '2026-11-30' }] },
    });
    const merged = loadCatalog({ shipped: SHIPPED, local }).programs.find(
      (p) => p.program === 'ms-hyperv-linux',
    ) as CertificationProgram;
    expect(merged.lists?.map((l) => l.id)).toEqual([...shipped.lists.map((l) => l.id), 'site-page']);
  });

  it('adds a local program of a new name when the file says it is new', () => {
    const site = { ...smallProgram(), program: 'site-policy', title: 'Our own support policy', rows: [localRow] };
    const merged = loadCatalog({ shipped: SHIPPED, local: tempDir({ 'site.json': { ...site, newProgram: true } }) });
    expect(merged.programs.map((p) => p.program)).toContain('site-policy');
  });

  it('refuses a local program of an unknown name, which is most likely a misspelt shipped one', () => {
    const typo = { ...smallProgram(), program: 'ms-svp', rows: [localRow] };
    expect(catchError(() => loadCatalog({ shipped: SHIPPED, local: tempDir({ 'typo.json': typo }) }))).toMatchObject({
      code: 'CATALOG_UNKNOWN_PROGRAM',
      reason: expect.stringContaining('"ms-svp" is not a shipped program'),
    });
  });

  it('refuses a local file that gives a shipped program another kind', () => {
    const lifecycle = shippedFile('lifecycle');
    const local = tempDir({ 'x.json': { ...lifecycle, program: 'ms-svvp', rows: lifecycle.rows.slice(0, 1) } });
    expect(catchError(() => loadCatalog({ shipped: SHIPPED, local }))).toMatchObject({ code: 'CATALOG_KIND_CONFLICT' });
  });

  it('keeps the same version for the same contents, wherever the files are', () => {
    const copy = tempDir(
      Object.fromEntries(PROGRAMS.map((p) => [`${p}.json`, readFileSync(path.join(SHIPPED, `${p}.json`), 'utf8')])),
    );
    expect(loadCatalog({ shipped: copy }).version).toBe(loadCatalog({ shipped: SHIPPED }).version);
  });
});

describe('validateCatalogDir', () => {
  it('finds nothing wrong with the shipped catalog', () => {
    expect(validateCatalogDir(SHIPPED)).toEqual([]);
  });

  it('lists every problem of every file', () => {
    const program = smallProgram();
    program.rows[0] = { ...program.rows[0], read: '2026-02-30' };
    program.rows[1] = { ...program.rows[1], guest: { versions: ['2019'] } };
    const dir = tempDir({ 'a.json': program, 'b.json': 'not json' });
    mkdirSync(path.join(dir, 'ignored.d'));
    const problems = validateCatalogDir(dir);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/a\.json rows\[0\]: \/read: "2026-02-30" is not a calendar date/);
    expect(problems[1]).toMatch(/a\.json rows\[1\]: \/guest: needs "family" or "distro"/);
    expect(problems[2]).toMatch(/b\.json: not JSON/);
  });
});

describe('local rows that contradict each other', () => {
  const row = (over: Record<string, unknown> = {}) => ({ ...localRow, ...over });
  const esxiGuest = (over: Record<string, unknown>) => ({ guest: { ...localRow.guest, ...over } });
  const excluded = { verdict: 'excluded' };
  const load = (rows: Record<string, unknown>[]) =>
    catchError(() => loadCatalog({ shipped: SHIPPED, local: tempDir({ 'a.json': { ...smallProgram(), rows } }) }));
  const loads = (rows: Record<string, unknown>[]) =>
    loadCatalog({ shipped: SHIPPED, local: tempDir({ 'a.json': { ...smallProgram(), rows } }) });

  it('refuses a row that excludes what an earlier one covers, naming both', () => {
    expect(load([row(), row(excluded)])).toMatchObject({
      code: 'CATALOG_CONTRADICTION',
      row: 1,
      reason:
        'excluded here, but covered in a.json rows[0] for the same hypervisor and guest: keep the one your source states',
    });
    // A row without a verdict covers.
    expect(load([row(excluded), row({ verdict: 'covered' })])).toMatchObject({
      reason: expect.stringMatching(/^covered here, but excluded in a\.json rows\[0\]/),
    });
  });

  it('finds the same pair through one version in common, or a side that lists no versions', () => {
    expect(load([row(), row({ ...excluded, ...esxiGuest({ versions: ['2022', '2025'] }) })])).toMatchObject({
      code: 'CATALOG_CONTRADICTION',
    });
    expect(load([row(), row({ ...excluded, hypervisor: { product: 'esxi' } })])).toMatchObject({
      code: 'CATALOG_CONTRADICTION',
    });
    expect(load([row(), row({ ...excluded, guest: { family: 'windows', versions: ['2019'] } })])).toMatchObject({
      code: 'CATALOG_CONTRADICTION',
    });
  });

  it('lets rows of different pairs disagree', () => {
    const others = [
      { hypervisor: { product: 'kvm', versions: ['8.0'] } },
      { hypervisor: { product: 'esxi', versions: ['7.0'] } },
      esxiGuest({ versions: ['2016'] }),
      esxiGuest({ distro: ['rhel'] }),
    ];
    for (const other of others)
      expect(loads([row(), row({ ...excluded, ...other })]).programs.length).toBe(PROGRAMS.length);
    const family = (f: string) => esxiGuest({ family: f });
    expect(loads([row(family('windows')), row({ ...excluded, ...family('linux') })]).programs.length).toBe(
      PROGRAMS.length,
    );
  });

  it('lets a local row exclude what a shipped row covers: the operator read the newer source', () => {
    const shipped = shippedFile('ms-svvp').rows[0];
    expect(loads([{ ...shipped, ...excluded, read: '2026-11-30' }]).programs.length).toBe(PROGRAMS.length);
  });

  it('are reported by validate with the shipped names, and not without them', () => {
    const dir = tempDir({ 'a.json': { ...smallProgram(), rows: [row(), row(excluded)] } });
    expect(validateCatalogDir(dir, new Set(['ms-svvp']))).toEqual([
      expect.stringMatching(/a\.json rows\[1\]: excluded here, but covered in a\.json rows\[0\]/),
    ]);
    expect(validateCatalogDir(dir)).toEqual([]);
  });
});

describe('validateCatalogDir as a local directory', () => {
  it('names a program that is not shipped, and checks the files after it', () => {
    const dir = tempDir({
      'a.json': { ...smallProgram(), program: 'ms-svp', rows: [localRow] },
      'b.json': { ...smallProgram(), rows: [{ ...localRow, read: '2026-02-30' }] },
    });
    expect(validateCatalogDir(dir, new Set(['ms-svvp', 'lifecycle']))).toEqual([
      expect.stringMatching(
        /a\.json: "ms-svp" is not a shipped program \(ms-svvp, lifecycle\): a local file adds rows/,
      ),
      expect.stringMatching(/b\.json rows\[0\]: \/read: "2026-02-30" is not a calendar date/),
    ]);
  });

  it('says so for a directory that cannot be read or holds no catalog file', () => {
    expect(validateCatalogDir(path.join(tmpdir(), 'hvmap-no-such-dir'))).toEqual([
      expect.stringMatching(/hvmap-no-such-dir.*ENOENT/),
    ]);
    expect(validateCatalogDir(tempDir({ 'notes.txt': 'x' }))).toEqual([
      expect.stringMatching(/no catalog files \(\*\.json\)/),
    ]);
  });

  it('says plainly what a row from a gaps template still waits for', () => {
    const waiting = (over: Record<string, unknown>) =>
      validateCatalogDir(tempDir({ 'a.json': { ...smallProgram(), rows: [{ ...localRow, ...over }] } }));
    expect(waiting({ verdict: 'FILL-IN: covered or excluded' })).toEqual([
      expect.stringMatching(/rows\[0\]: \/verdict: waiting for its verdict: write "covered" or "excluded"$/),
    ]);
    expect(waiting({ source: { url: 'FILL-IN: the address' } })).toEqual([
      expect.stringMatching(/rows\[0\]: \/source: waiting for its source: write the URL/),
    ]);
    expect(waiting({ read: 'FILL-IN: YYYY-MM-DD' })).toEqual([
      expect.stringMatching(/rows\[0\]: \/read: waiting for the date the source was read \(YYYY-MM-DD\)$/),
    ]);
    const { source: _source, ...unsourced } = localRow;
    expect(validateCatalogDir(tempDir({ 'a.json': { ...smallProgram(), rows: [unsourced] } }))).toEqual([
      expect.stringMatching(/rows\[0\]: \/source: no source: every row needs the URL or document it was read from$/),
    ]);
  });

  it("checks the header's sources, host and guest versions, and guests that name nothing", () => {
    const header = (over: Record<string, unknown>) =>
      validateCatalogDir(tempDir({ 'a.json': { ...smallProgram(), rows: [localRow], ...over } }));
    expect(header({ scopeSource: {} })).toEqual([
      expect.stringMatching(/\/scopeSource: a source needs a url, a repo and path, or a title$/),
    ]);
    expect(header({ hosts: [{ product: 'esxi', versions: ['1-2-3'] }] })).toEqual([
      expect.stringMatching(/a\.json: \/hosts\/0\/versions: /),
    ]);
    expect(header({ guests: [{ versions: ['2019'] }] })).toEqual([
      expect.stringMatching(/a\.json: \/guests\/0: needs "family" or "distro"$/),
    ]);
    expect(header({ guests: [{ distro: ['rhel'], versions: ['1-2-3'] }] })).toEqual([
      expect.stringMatching(/a\.json: \/guests\/0\/versions: /),
    ]);
    expect(header({ guests: [{ distro: ['rhel'], hosts: [{ product: 'kvm', versions: ['1-2-3'] }] }] })).toEqual([
      expect.stringMatching(/a\.json: \/guests\/0\/hosts\/0\/versions: /),
    ]);
  });

  it("checks a lifecycle row's dates and versions", () => {
    const lifecycle = shippedFile('lifecycle');
    const first = lifecycle.rows[0];
    const rowProblem = (over: Record<string, unknown>) =>
      validateCatalogDir(tempDir({ 'l.json': { ...lifecycle, rows: [{ ...first, ...over }] } }));
    expect(rowProblem({})).toEqual([]);
    expect(rowProblem({ end: '2026-13-01' })).toEqual([
      expect.stringMatching(/\/end: "2026-13-01" is not a calendar date$/),
    ]);
    expect(rowProblem({ mainstreamEnd: '2026-02-30' })).toEqual([expect.stringMatching(/\/mainstreamEnd: /)]);
    expect(rowProblem({ extended: { date: '2026-02-30', kind: 'ESU' } })).toEqual([
      expect.stringMatching(/\/extended\/date: /),
    ]);
    expect(rowProblem({ source: {} })).toEqual([expect.stringMatching(/\/source: a source needs/)]);
  });
});

describe('formatSource', () => {
  it('names the pinned revision where known, else the address, else the title', () => {
    expect(formatSource({ repo: 'o/r', path: 'a/b.md', commit: 'abc123', url: 'https://x' })).toBe(
      'https://github.com/o/r/blob/abc123/a/b.md',
    );
    expect(formatSource({ repo: 'o/r', path: 'a/b.md', url: 'https://x' })).toBe('https://x');
    expect(formatSource({ repo: 'o/r', path: 'a/b.md' })).toBe('https://github.com/o/r/blob/HEAD/a/b.md');
    expect(formatSource({ repo: 'o/r', title: 'KB 973163' })).toBe('KB 973163');
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
