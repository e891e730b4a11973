/**
 * The catalog's gaps in one fleet: the distinct (hypervisor, guest OS) pairs whose guests are
 * `unknown` although both sides were identified, most guests first, and local-rows templates for an
 * operator with vendor-portal access to fill in (`hvmap catalog gaps`, `/api/gaps`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type GuestOsIdentity, type Hypervisor, identifyHypervisor } from '@hvmap/shared';
import { explain } from '../compat/explain.js';
import { counted } from '../report/hygiene.js';
import type { Db } from '../store/db.js';
import { FILL_IN } from './load.js';

/** One undecided pair of the fleet. */
export interface Gap {
  hypervisor: { id: string; name: string; product: string; version: string };
  guest: { id: string; name: string; distro: string; version: string };
  guests: number;
  hosts: string[];
  /** The programs whose lists could decide the pair: they speak of it and say what they lack. */
  programs: string[];
  why: string[];
}

export interface Gaps {
  pairs: Gap[];
  /** Unknown guests that no catalog row can help: their OS or their hypervisor was not identified. */
  unidentified: number;
}

/** The undecided pairs among the guests present on their hosts. */
export function findGaps(db: Db): Gaps {
  const rows = db
    .prepare(
      `SELECT g.os_json, g.verdict_json, h.hostname, h.hypervisor_json FROM guests g JOIN hosts h ON h.id = g.host_id
       WHERE g.status = 'unknown' AND g.removed_at IS NULL`,
    )
    .all() as { os_json: string | null; verdict_json: string; hostname: string; hypervisor_json: string }[];
  const pairs = new Map<string, Gap>();
  // Every guest of a host carries the host's hypervisor: identify it once per host, not per guest.
  const hypervisors = new Map<string, ReturnType<typeof identifyHypervisor>>();
  const hypervisorOf = (json: string) => {
    if (!hypervisors.has(json)) hypervisors.set(json, identifyHypervisor(JSON.parse(json) as Hypervisor));
    return hypervisors.get(json) ?? null;
  };
  let unidentified = 0;
  for (const row of rows) {
    const hv = hypervisorOf(row.hypervisor_json);
    if (!row.os_json || !hv) {
      unidentified++;
      continue;
    }
    const os = JSON.parse(row.os_json) as GuestOsIdentity;
    const key = `${hv.id}\u0000${os.id}`;
    let gap = pairs.get(key);
    if (!gap) {
      const verdict = JSON.parse(row.verdict_json) as {
        reason?: string;
        programs?: { program: string; verdict: 'covered' | 'excluded' | 'silent'; note?: string }[];
      };
      gap = {
        hypervisor: { id: hv.id, name: hv.name, product: hv.product, version: hv.version },
        guest: { id: os.id, name: os.name, distro: os.distro, version: os.version },
        guests: 0,
        hosts: [],
        programs: (verdict.programs ?? []).filter((p) => p.verdict === 'silent' && p.note).map((p) => p.program),
        why: explain({ status: 'unknown', ...verdict }),
      };
      pairs.set(key, gap);
    }
    gap.guests++;
    if (!gap.hosts.includes(row.hostname)) gap.hosts.push(row.hostname);
  }
  const sorted = [...pairs.values()].sort(
    (a, b) =>
      b.guests - a.guests || a.hypervisor.id.localeCompare(b.hypervisor.id) || a.guest.id.localeCompare(b.guest.id),
  );
  return { pairs: sorted, unidentified };
}

/**
 * Writes one local-rows file per program that could decide a gap, each row waiting for its verdict,
 * source and reading date (`FILL-IN`): `hvmap catalog validate` refuses the file until they are
 * written. Returns the files written; pairs no program speaks of need a program of their own.
 */
export function writeGapTemplates(dir: string, gaps: Gap[], today: string): string[] {
  const byProgram = new Map<string, Gap[]>();
  for (const gap of gaps) for (const p of gap.programs) byProgram.set(p, [...(byProgram.get(p) ?? []), gap]);
  mkdirSync(dir, { recursive: true });
  return [...byProgram].map(([program, pairs]) => {
    const file = path.join(dir, `${program}.gaps.json`);
    const content = {
      program,
      kind: 'certification',
      title: `Local rows for ${program}, read from the vendor's portal`,
      vendor: 'this site',
      source: { title: `rows checked by this site's operators on ${today}` },
      coverage: 'partial',
      coverageNote: 'only the pairs of this fleet that the shipped catalog leaves undecided',
      hosts: [],
      guests: [],
      rows: pairs.map((gap) => ({
        hypervisor: { product: gap.hypervisor.product, versions: [gap.hypervisor.version] },
        guest: { distro: [gap.guest.distro], versions: [gap.guest.version] },
        verdict: `${FILL_IN}: covered or excluded`,
        conditions: [],
        note: `${counted(gap.guests, 'guest')} of ${gap.guest.name} on ${gap.hypervisor.name}`,
        source: { url: `${FILL_IN}: the address (or title) of the vendor page that decides this pair` },
        read: `${FILL_IN}: YYYY-MM-DD, the day you read it`,
      })),
    };
    writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
    return file;
  });
}
