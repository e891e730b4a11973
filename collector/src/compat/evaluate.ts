/**
 * The compatibility engine: one guest on one hypervisor against every program of the catalog
 * (DESIGN.md "Collector"). Pure: the same identities, catalog and date give the same verdict.
 */
import { compareVersions, type GuestOsIdentity, type HypervisorIdentity } from '@hvmap/shared';
import {
  type Catalog,
  type CatalogProgram,
  type CertificationProgram,
  formatSource,
  type LifecycleProgram,
  type RowOrigin,
} from '../catalog/load.js';
import type { CertificationRow, GuestRowMatch, GuestScope, HostMatch, LifecycleRow } from '../catalog/schema.js';
import { isNewerThanVersionSpec, matchesVersionSpec } from '../catalog/version-spec.js';

export type CompatStatus = 'certified' | 'not-certified' | 'unknown';
export type ProgramVerdictKind = 'covered' | 'excluded' | 'silent';

/** What one program says of the pair. */
export interface ProgramVerdict {
  program: string;
  verdict: ProgramVerdictKind;
  /** What must hold for the coverage (empty unless covered). */
  conditions: string[];
  /** The row's source for a row's verdict; the program's own list otherwise (where to check). */
  source: string;
  coverage: 'complete' | 'partial';
  /** Why, where the verdict needs it: a partial program's gap, an inferred row, a medium-trust source. */
  note?: string;
  /** Whether the deciding row is shipped or the operator's. */
  origin?: RowOrigin;
}

/** The guest OS's end of support as the lifecycle program records it. */
export interface LifecycleInfo {
  name: string;
  end: string;
  endKind: string;
  extended?: { date: string; kind: string };
  source: string;
}

/** The overall answer for one guest on one hypervisor. */
export interface Verdict {
  status: CompatStatus;
  /** Set when the guest OS is past its end of support on the evaluation date. */
  eol: null | { date: string };
  /** The guest OS's lifecycle row, when the catalog has one (also before its end). */
  lifecycle: LifecycleInfo | null;
  programs: ProgramVerdict[];
  /** Why the status is unknown. */
  reason?: string;
  catalogVersion: string;
}

/** Facts about the VM rather than its OS, which some rows require (Windows 11: generation 2). */
export interface GuestExtras {
  generation?: number;
  arch?: string;
}

/**
 * Evaluates a guest on a hypervisor on `date` (YYYY-MM-DD). Each certification program covers the
 * pair (a row matches), excludes it (an excluding row matches, or the program speaks of this
 * hypervisor and guest but no row covers them) or is silent. Not certified if any program excludes;
 * certified if none excludes and one covers; unknown otherwise or when either side is unidentified.
 */
export function evaluate(
  hv: HypervisorIdentity | null,
  guest: GuestOsIdentity | null,
  catalog: Catalog,
  date: string,
  extras: GuestExtras = {},
): Verdict {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`evaluate: date must be YYYY-MM-DD, got "${date}"`);
  const lifecycle = guest ? findLifecycle(catalog.programs, guest) : null;
  const base = {
    eol: lifecycle && date > lifecycle.end ? { date: lifecycle.end } : null,
    lifecycle,
    catalogVersion: catalog.version,
  };
  if (!guest || !hv) {
    const reason =
      !guest && !hv
        ? 'guest OS and hypervisor not identified'
        : !guest
          ? 'guest OS not identified'
          : 'hypervisor not identified';
    return { status: 'unknown', programs: [], reason, ...base };
  }
  const facts = guestFacts(guest, extras);
  const programs = catalog.programs
    .filter((p): p is CertificationProgram => p.kind === 'certification')
    .map((p) => judge(p, hv, guest, facts));
  if (programs.some((p) => p.verdict === 'excluded')) return { status: 'not-certified', programs, ...base };
  if (programs.some((p) => p.verdict === 'covered')) return { status: 'certified', programs, ...base };
  const noted = programs.filter((p) => p.note).map((p) => p.program);
  return {
    status: 'unknown',
    programs,
    reason: noted.length
      ? `no program decides ${guest.name} on ${hv.name}: see what ${noted.join(', ')} lack${noted.length === 1 ? 's' : ''}`
      : `no program of the catalog speaks of ${guest.name} on ${hv.name}`,
    ...base,
  };
}

interface GuestFacts {
  arch?: string;
  generation?: number;
  build?: number;
}

function guestFacts(guest: GuestOsIdentity, extras: GuestExtras): GuestFacts {
  const arch = normaliseArch(extras.arch ?? guest.arch);
  const build = Number(windowsBuild(guest.build));
  return { arch, generation: extras.generation, build: Number.isFinite(build) ? build : undefined };
}

/** Drivers report "x64", "amd64", "x86_64", "i686" ...: rows speak of x86_64, i686 and aarch64. */
function normaliseArch(arch: string | undefined): string | undefined {
  if (!arch) return undefined;
  const a = arch.toLowerCase();
  if (/^(x86[_-]64|amd64|x64|64-bit)$/.test(a)) return 'x86_64';
  if (/^(i[3-6]86|x86|32-bit)$/.test(a)) return 'i686';
  if (/^(aarch64|arm64)$/.test(a)) return 'aarch64';
  return a;
}

function judge(
  p: CertificationProgram,
  hv: HypervisorIdentity,
  guest: GuestOsIdentity,
  facts: GuestFacts,
): ProgramVerdict {
  const base = { program: p.program, coverage: p.coverage };
  const candidates: { row: CertificationProgram['rows'][number]; conditions: string[] }[] = [];
  for (const row of p.rows) {
    if (!hostMatches(row.hypervisor, hv) || !guestMatches(row.guest, guest)) continue;
    const requirements = checkRequirements(row.guest, facts);
    if (requirements === null) continue;
    if (row.verdict === 'excluded') {
      // An exclusion applies only to guests known to meet all of its requirements.
      if (requirements.length) continue;
      return {
        ...base,
        verdict: 'excluded',
        conditions: [],
        source: formatSource(row.source),
        note: rowNote(row),
        origin: row.origin,
      };
    }
    candidates.push({ row, conditions: [...row.conditions, ...requirements] });
  }
  if (candidates.length) {
    const { row, conditions } = choose(candidates);
    return {
      ...base,
      verdict: 'covered',
      conditions,
      source: formatSource(row.source),
      note: rowNote(row),
      origin: row.origin,
    };
  }
  const byLists = judgeByLists(p, hv, guest);
  if (byLists) return { ...base, conditions: [], source: formatSource(p.source), ...byLists };
  const scope = scopeOf(p, hv, guest);
  if (scope.inScope) {
    const vendor = scope.vendor
      ? ` (${scope.vendor} products are in this program's scope)`
      : scope.note
        ? ` (${scope.note})`
        : '';
    const partial = p.coverage === 'partial' ? `; program coverage is partial: ${p.coverageNote}` : '';
    return {
      ...base,
      verdict: 'excluded',
      conditions: [],
      source: formatSource(p.source),
      note: `not listed: ${guest.name} on ${hv.name}${vendor}${partial}`,
    };
  }
  return { ...base, verdict: 'silent', conditions: [], source: formatSource(p.source), note: scope.silentNote };
}

type Row = CertificationProgram['rows'][number];

/**
 * What the vendor's lists say of a pair none of their rows covers. A list is one page with every
 * revision of it that was read: vendors drop old hosts and guests from their pages as support ends,
 * without saying the pair became unsupported, so a pair is covered when any revision lists it. A
 * list that names this host for the guest's distro excludes the guest's version when it lists that
 * version only with other hosts, or when the version is older than, or between, the versions it
 * lists; it is silent on a version newer than all it lists (the page predates the guest). The
 * program excludes the pair only when every such list does. Null when no list names this host for
 * the distro: the program's scope decides.
 */
function judgeByLists(
  p: CertificationProgram,
  hv: HypervisorIdentity,
  guest: GuestOsIdentity,
): { verdict: 'excluded' | 'silent'; note: string } | null {
  const lists = new Map<string, Row[]>();
  for (const row of p.rows) {
    if (!row.list || row.verdict === 'excluded') continue;
    if (row.hypervisor.product !== hv.product.toLowerCase()) continue;
    if (!guestMatches({ family: row.guest.family, distro: row.guest.distro }, guest)) continue;
    lists.set(row.list, [...(lists.get(row.list) ?? []), row]);
  }
  const judged = [...lists]
    .filter(([, rows]) => rows.some((r) => hostMatches(r.hypervisor, hv)))
    .map(([id, rows]) => {
      const title = p.lists?.find((l) => l.id === id)?.title ?? id;
      const revisions = revisionsOf(rows);
      const listing = rows.filter((r) => guestMatches(r.guest, guest));
      const distro = guest.name.replace(guest.version, '').trim() || guest.distro;
      if (listing.length) {
        const hosts = [...new Set(listing.flatMap((r) => r.hypervisor.versions ?? ['any version']))];
        const here = listing.filter((r) => hostMatches(r.hypervisor, hv));
        return {
          verdict: 'excluded' as const,
          note: here.length
            ? `${title} lists ${guest.name} on ${hv.name} only for guests that meet its requirements: ${describeRequirements(here[0].guest)} (${revisions})`
            : `${title} lists ${guest.name} only on hosts ${hosts.join(', ')}, not on ${hv.name} (${revisions})`,
        };
      }
      const versions = rows.flatMap((r) => r.guest.versions ?? []);
      const [oldest, newest] = span(versions);
      if (isNewerThanVersionSpec(guest.version, versions)) {
        const series = versions.filter((v) => v.split('.')[0] === guest.version.split('.')[0]);
        const top = series.length ? span(series)[1] : newest;
        return {
          verdict: 'silent' as const,
          note: `newer than the list: ${title} lists ${distro} up to ${top}; none of its revisions lists ${guest.version} (${revisions})`,
        };
      }
      return {
        verdict: 'excluded' as const,
        note: `not listed: ${title} lists ${distro} versions from ${oldest} to ${newest}, and ${guest.version} is not among them (${revisions})`,
      };
    });
  if (judged.length === 0) return null;
  const partial = p.coverage === 'partial' ? `; program coverage is partial: ${p.coverageNote}` : '';
  const silent = judged.find((j) => j.verdict === 'silent');
  if (silent) return { verdict: 'silent', note: silent.note };
  return { verdict: 'excluded', note: `${judged.map((j) => j.note).join('; ')}${partial}` };
}

/** "revisions 2025-06-19, 2021-01-08": the revisions of a list whose rows were read. */
function revisionsOf(rows: Row[]): string {
  const dates = [...new Set(rows.map((r) => r.source.revised ?? r.source.commit?.slice(0, 8) ?? 'undated'))];
  return `${dates.length === 1 ? 'revision' : 'revisions'} ${dates.sort().reverse().join(', ')}`;
}

/** The lowest and highest version a list of version items names. */
function span(versions: string[]): [string, string] {
  const ends = versions.flatMap((v) => v.replace(/\+$/, '').split('-'));
  const sorted = ends.sort(compareVersions);
  return [sorted[0], sorted[sorted.length - 1]];
}

function describeRequirements(m: GuestRowMatch): string {
  return [
    m.arch ? `${m.arch.join(' or ')} only` : '',
    m.generation ? `generation ${m.generation.join(' or ')} VM` : '',
    m.minBuild ? `${m.minBuild.label} (build ${m.minBuild.build} or later)` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/**
 * Among the rows that cover the pair, the one asking least wins (built-in drivers over an LIS
 * download), a stated row before an inferred one, then file order. Equally good rows asking
 * different things are alternatives: what they share, then "one of: A | B".
 */
function choose<R extends CertificationRow>(
  candidates: { row: R; conditions: string[] }[],
): { row: R; conditions: string[] } {
  const fewest = Math.min(...candidates.map((c) => c.conditions.length));
  const best = candidates
    .filter((c) => c.conditions.length === fewest)
    .sort((a, b) => Number(Boolean(a.row.inferred)) - Number(Boolean(b.row.inferred)));
  const sets = [...new Map(best.map((c) => [JSON.stringify(c.conditions), c.conditions])).values()];
  if (sets.length === 1) return best[0];
  const common = sets[0].filter((c) => sets.every((s) => s.includes(c)));
  const alternatives = sets.map((s) => s.filter((c) => !common.includes(c)).join(' and '));
  return { row: best[0].row, conditions: [...common, `one of: ${alternatives.join(' | ')}`] };
}

function rowNote(row: CertificationRow): string | undefined {
  const notes = [
    row.note,
    row.inferred ? `inferred: ${row.inferred}` : undefined,
    row.source.trust && row.source.trust !== 'high' ? `source trust: ${row.source.trust}` : undefined,
  ].filter(Boolean);
  return notes.length ? notes.join('; ') : undefined;
}

function hostMatches(m: HostMatch, hv: HypervisorIdentity): boolean {
  if (m.product !== hv.product.toLowerCase()) return false;
  const azure = azureLocalRelease(hv);
  if (azure)
    return (m.versions ?? []).some((item) => matchesVersionSpec(azure, [item.replace(AZURE_BRAND, 'Azure Local')]));
  return !m.versions || matchesVersionSpec(hv.version, m.versions);
}

const AZURE_BRAND = /^azure\s+(?:stack\s+hci|local)\b/i;

/**
 * "Azure Local 22H2" for a Hyper-V host on Azure Stack HCI / Azure Local, else null. The identification
 * files these hosts under the Windows Server column of their build; a row covers them only when its
 * source names Azure Stack HCI or Azure Local ("Azure Local", "Azure Local 23H2+"), since Microsoft's
 * Ubuntu or Debian pages, say, do not.
 */
function azureLocalRelease(hv: HypervisorIdentity): string | null {
  const m = /\bazure\s+(?:stack\s+hci|local)\b\s*(\d{2}H\d)?/i.exec(hv.name);
  return m ? `Azure Local${m[1] ? ` ${m[1].toUpperCase()}` : ''}` : null;
}

function guestMatches(m: Pick<GuestRowMatch, 'family' | 'distro' | 'versions'>, guest: GuestOsIdentity): boolean {
  return (
    (!m.family || m.family === guest.family) &&
    (!m.distro || m.distro.includes(guest.distro)) &&
    (!m.versions || matchesVersionSpec(guest.version, m.versions))
  );
}

/** The conditions a row's requirements add for facts not known, or null when a known fact fails one. */
function checkRequirements(m: GuestRowMatch, facts: GuestFacts): string[] | null {
  const conditions: string[] = [];
  if (m.arch) {
    if (facts.arch === undefined) conditions.push(`${m.arch.join(' or ')} guests only`);
    else if (!(m.arch as readonly string[]).includes(facts.arch)) return null;
  }
  if (m.generation) {
    if (facts.generation === undefined) conditions.push(`generation ${m.generation.join(' or ')} VM only`);
    else if (!(m.generation as readonly number[]).includes(facts.generation)) return null;
  }
  if (m.minBuild) {
    if (facts.build === undefined) conditions.push(`needs ${m.minBuild.label} (build ${m.minBuild.build} or later)`);
    else if (facts.build < Number(m.minBuild.build)) return null;
  }
  return conditions;
}

/**
 * Whether the program speaks of this guest on this hypervisor, so that having no row for them is an
 * exclusion. When it speaks of the hypervisor and of the guest's distro, but not of this version or
 * on this host, the scope entry's note tells the silent verdict why (a stored page older than the guest).
 */
function scopeOf(
  p: CertificationProgram,
  hv: HypervisorIdentity,
  guest: GuestOsIdentity,
): { inScope: boolean; vendor?: string; note?: string; silentNote?: string } {
  const programHost = p.hosts.find((h) => hostMatches(h, hv));
  const onHost = (g: GuestScope) => (g.hosts ? g.hosts.some((h) => hostMatches(h, hv)) : programHost !== undefined);
  if (p.guests.some((g) => guestMatches(g, guest) && onHost(g))) {
    if (programHost?.unlisted === 'unknown') {
      return {
        inScope: false,
        silentNote: `${programHost.note ?? `${programHost.vendor ?? hv.name} products are in this program's scope, but their rows are not in the catalog`}; program coverage is partial: ${p.coverageNote}`,
      };
    }
    return { inScope: true, vendor: programHost?.vendor };
  }
  if (!programHost && p.otherHosts && !p.otherHosts.except.includes(hv.product.toLowerCase())) {
    if (p.guests.some((g) => !g.hosts && guestMatches(g, guest))) return { inScope: true, note: p.otherHosts.note };
  }
  const near = p.guests.find(
    (g) => guestMatches({ family: g.family, distro: g.distro }, guest) && (programHost !== undefined || onHost(g)),
  );
  return { inScope: false, silentNote: near?.note };
}

/** The first lifecycle row for the guest OS; the operator's local rows are read before the shipped ones. */
function findLifecycle(programs: CatalogProgram[], guest: GuestOsIdentity): LifecycleInfo | null {
  const rows = programs
    .filter((p): p is LifecycleProgram => p.kind === 'lifecycle')
    .flatMap((p) => p.rows)
    .sort((a, b) => Number(a.origin === 'shipped') - Number(b.origin === 'shipped'));
  const row = rows.find((r) => lifecycleMatches(r, guest));
  if (!row) return null;
  const info: LifecycleInfo = { name: row.name, end: row.end, endKind: row.endKind, source: formatSource(row.source) };
  if (row.extended) info.extended = row.extended;
  return info;
}

function lifecycleMatches(r: LifecycleRow, guest: GuestOsIdentity): boolean {
  if (!r.os.distro.includes(guest.distro) || !matchesVersionSpec(guest.version, r.os.versions)) return false;
  if (r.os.builds && !r.os.builds.includes(windowsBuild(guest.build) ?? '')) return false;
  const edition = guest.edition?.toLowerCase();
  return !r.os.editions || (edition !== undefined && r.os.editions.some((e) => edition.includes(e.toLowerCase())));
}

/** "17763", "10.0.17763" and "17763.5458" all name build 17763. */
function windowsBuild(build: string | undefined): string | undefined {
  if (!build) return undefined;
  const parts = build.split('.');
  return parts.length >= 3 ? parts[2] : parts[0];
}
