/**
 * What if: the verdicts a host's guests would get if the host ran another hypervisor, and the
 * hypervisors a guest could move to and stay supported. Computed from what the store holds with the
 * catalog given (the running one, operators' local rows included), on one date: each "after" is what
 * `hvmap check --hypervisor TO --guest <its OS>` answers that day. Reading is at the edge
 * (`readFleet`); planning is pure.
 */
import {
  type GuestOsIdentity,
  type Hypervisor,
  type HypervisorIdentity,
  identifyHypervisor,
  identifyHypervisorText,
} from '@hvmap/shared';
import type { Catalog } from '../catalog/load.js';
import { type CompatStatus, evaluate, type GuestExtras, type ProgramVerdict } from '../compat/evaluate.js';
import { explain } from '../compat/explain.js';
import type { Db } from '../store/db.js';

/** A plan asked of hosts, guests or hypervisors that cannot be found or read: exit 2, or 400. */
export class PlanError extends Error {
  readonly code = 'BAD_PLAN';
}

export interface FleetGuest {
  key: string;
  name: string;
  os: GuestOsIdentity | null;
  osUnknownReason: string | null;
  extras: GuestExtras;
}

export interface FleetHost {
  agent: string;
  hostname: string;
  hypervisor: HypervisorIdentity | null;
  guests: FleetGuest[];
}

/** One verdict, with the rows that decide it. */
export interface PlannedVerdict {
  status: CompatStatus;
  eol: { date: string } | null;
  /** The programs whose rows decide: the excluding ones, else the covering ones; none when unknown. */
  deciding: Pick<ProgramVerdict, 'program' | 'verdict' | 'conditions' | 'source' | 'coverage'>[];
  /** The verdict rests on a program whose public list is incomplete (README "What a status means"). */
  partial: boolean;
  why: string[];
}

export interface PlannedGuest {
  host: string;
  hostname: string;
  key: string;
  name: string;
  os: { id: string; name: string } | null;
  now: PlannedVerdict;
  after: PlannedVerdict;
  /** "certified → not-certified", or "unchanged". */
  change: string;
}

export interface HostPlan {
  to: { id: string; name: string };
  date: string;
  catalogVersion: string;
  hosts: { agent: string; hostname: string; from: { id: string; name: string } | null }[];
  /** Losses first (certified → not-certified leading), then gains, then the unchanged. */
  guests: PlannedGuest[];
  summary: string;
}

export interface GuestPlan {
  guest: { host: string; hostname: string; key: string; name: string; os: { id: string; name: string } | null };
  date: string;
  catalogVersion: string;
  /** Each hypervisor of the fleet (and the candidates asked), certified first. */
  options: { hypervisor: { id: string; name: string }; hosts: string[]; current: boolean; verdict: PlannedVerdict }[];
  summary: string;
}

/** The accepted forms, said with every refusal. */
export const PLAN_FORMS = {
  hypervisor:
    'give the hypervisor as a person or tool writes it: "Hyper-V on Windows Server 2022", "RHEL 9.4 KVM", "VMware ESXi 8.0", "Citrix Hypervisor 8.2"',
  host: 'give a host by its agent name or its hostname (hvmap report --view hosts lists them)',
  guest: 'give a guest as HOST/GUEST: the host as above, the guest by its name or UUID',
} as const;

const SEVERITY: Record<CompatStatus, number> = { certified: 0, unknown: 1, 'not-certified': 2 };

function verdictOf(hv: HypervisorIdentity, g: FleetGuest, catalog: Catalog, date: string): PlannedVerdict {
  const v = evaluate(hv, g.os, catalog, date, g.extras);
  const deciding = v.programs
    .filter((p) => p.verdict === (v.status === 'not-certified' ? 'excluded' : 'covered') && v.status !== 'unknown')
    .map(({ program, verdict, conditions, source, coverage }) => ({ program, verdict, conditions, source, coverage }));
  const partial =
    v.status === 'unknown'
      ? v.programs.some((p) => p.coverage === 'partial' && p.note !== undefined)
      : deciding.some((p) => p.coverage === 'partial');
  const why = explain({
    ...v,
    osUnknownReason: g.os ? null : (g.osUnknownReason ?? 'no_evidence'),
    osUnknownDetail: null,
  });
  return { status: v.status, eol: v.eol, deciding, partial, why };
}

const ref = (hv: HypervisorIdentity) => ({ id: hv.id, name: hv.name });

/** The hosts a plan names: by agent name, or by a hostname one agent alone reports. */
export function selectHosts(fleet: FleetHost[], names: string[], pattern?: string): FleetHost[] {
  if (fleet.length === 0) throw new PlanError('the fleet is empty: no host has reported yet');
  const chosen = new Map<string, FleetHost>();
  for (const name of names) {
    const byAgent = fleet.find((h) => h.agent === name);
    const byName = fleet.filter((h) => h.hostname === name);
    if (!byAgent && byName.length > 1)
      throw new PlanError(
        `${byName.length} agents report the hostname "${name}" (${byName.map((h) => h.agent).join(', ')}): name the agent instead`,
      );
    const host = byAgent ?? byName[0];
    if (!host) throw new PlanError(`no host "${name}": ${PLAN_FORMS.host}`);
    chosen.set(host.agent, host);
  }
  if (pattern !== undefined) {
    const re = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    const matched = fleet.filter((h) => re.test(h.agent) || re.test(h.hostname));
    if (matched.length === 0) throw new PlanError(`no host matches "${pattern}" (* and ? are wildcards)`);
    for (const h of matched) chosen.set(h.agent, h);
  }
  if (chosen.size === 0) throw new PlanError(`name the hosts to plan: ${PLAN_FORMS.host}`);
  return [...chosen.values()];
}

/** The hypervisor of a plan's free text, or PlanError saying what it takes. */
export function planHypervisor(text: string): HypervisorIdentity {
  const hv = text.trim() ? identifyHypervisorText(text) : null;
  if (!hv) throw new PlanError(`cannot identify the hypervisor "${text}": ${PLAN_FORMS.hypervisor}`);
  return hv;
}

/** Every guest of the hosts, now and on `to`, losses first. */
export function planHosts(hosts: FleetHost[], to: HypervisorIdentity, catalog: Catalog, date: string): HostPlan {
  const guests: PlannedGuest[] = [];
  for (const h of hosts) {
    for (const g of h.guests) {
      const now: PlannedVerdict = h.hypervisor
        ? verdictOf(h.hypervisor, g, catalog, date)
        : {
            status: 'unknown',
            eol: null,
            deciding: [],
            partial: false,
            why: ["the host's hypervisor is not identified"],
          };
      const after = verdictOf(to, g, catalog, date);
      const change = now.status === after.status ? 'unchanged' : `${now.status} → ${after.status}`;
      const os = g.os ? { id: g.os.id, name: g.os.name } : null;
      guests.push({ host: h.agent, hostname: h.hostname, key: g.key, name: g.name, os, now, after, change });
    }
  }
  const delta = (g: PlannedGuest) => SEVERITY[g.after.status] - SEVERITY[g.now.status];
  // Losses (worst first), then gains, then the unchanged; by host and name within a group.
  const group = (g: PlannedGuest) => (delta(g) > 0 ? 0 : delta(g) < 0 ? 1 : 2);
  guests.sort(
    (a, b) =>
      group(a) - group(b) ||
      Math.abs(delta(b)) - Math.abs(delta(a)) ||
      SEVERITY[a.now.status] - SEVERITY[b.now.status] ||
      a.host.localeCompare(b.host) ||
      a.name.localeCompare(b.name),
  );
  const count = (test: (g: PlannedGuest) => boolean) => guests.filter(test).length;
  const lose = count((g) => g.now.status === 'certified' && g.after.status !== 'certified');
  const worse = count((g) => delta(g) > 0) - lose;
  const gain = count((g) => g.after.status === 'certified' && g.now.status !== 'certified');
  const better = count((g) => delta(g) < 0) - gain;
  const partial = count((g) => g.after.partial);
  const parts = [
    `${lose} lose certification`,
    ...(worse ? [`${worse} get worse (unknown → not-certified)`] : []),
    `${gain} gain it`,
    ...(better ? [`${better} improve without certification`] : []),
    `${count((g) => delta(g) === 0)} unchanged`,
  ];
  const names = hosts.map((h) => h.agent).join(', ');
  return {
    to: ref(to),
    date,
    catalogVersion: catalog.version,
    hosts: hosts.map((h) => ({ agent: h.agent, hostname: h.hostname, from: h.hypervisor ? ref(h.hypervisor) : null })),
    guests,
    summary: `${names} on ${to.name}: ${guests.length} guest${guests.length === 1 ? '' : 's'}; ${parts.join(', ')}${partial ? `; ${partial} of the new verdicts rest on partial lists` : ''}`,
  };
}

/** The guest named HOST/GUEST (name or UUID). */
export function selectGuest(fleet: FleetHost[], spec: string): { host: FleetHost; guest: FleetGuest } {
  const slash = spec.lastIndexOf('/');
  if (slash <= 0 || slash === spec.length - 1) throw new PlanError(`"${spec}" is not HOST/GUEST: ${PLAN_FORMS.guest}`);
  const [host] = selectHosts(fleet, [spec.slice(0, slash)]);
  const name = spec.slice(slash + 1);
  const matches = host.guests.filter((g) => g.name === name || g.key === name || g.key.split('/')[0] === name);
  if (matches.length === 0) throw new PlanError(`no guest "${name}" on ${host.agent}: ${PLAN_FORMS.guest}`);
  if (matches.length > 1)
    throw new PlanError(`${matches.length} guests of ${host.agent} are named "${name}": give its UUID instead`);
  return { host, guest: matches[0] };
}

/** The fleet's hypervisors and the candidates, each with the guest's verdict there, certified first. */
export function planGuest(
  fleet: FleetHost[],
  spec: string,
  candidates: HypervisorIdentity[],
  catalog: Catalog,
  date: string,
): GuestPlan {
  const { host, guest } = selectGuest(fleet, spec);
  const hypervisors = new Map<string, { hv: HypervisorIdentity; hosts: string[] }>();
  for (const h of fleet) {
    if (!h.hypervisor) continue;
    const entry = hypervisors.get(h.hypervisor.id) ?? { hv: h.hypervisor, hosts: [] };
    entry.hosts.push(h.agent);
    hypervisors.set(h.hypervisor.id, entry);
  }
  for (const hv of candidates) if (!hypervisors.has(hv.id)) hypervisors.set(hv.id, { hv, hosts: [] });
  const options = [...hypervisors.values()]
    .map(({ hv, hosts }) => ({
      hypervisor: ref(hv),
      hosts,
      current: hv.id === host.hypervisor?.id,
      verdict: verdictOf(hv, guest, catalog, date),
    }))
    .sort(
      (a, b) =>
        SEVERITY[a.verdict.status] - SEVERITY[b.verdict.status] || a.hypervisor.name.localeCompare(b.hypervisor.name),
    );
  const certified = options.filter((o) => o.verdict.status === 'certified').map((o) => o.hypervisor.name);
  const what = guest.os ? guest.os.name : 'its OS (not identified)';
  return {
    guest: {
      host: host.agent,
      hostname: host.hostname,
      key: guest.key,
      name: guest.name,
      os: guest.os ? { id: guest.os.id, name: guest.os.name } : null,
    },
    date,
    catalogVersion: catalog.version,
    options,
    summary: `${guest.name} (${what}) is certified on ${certified.length} of ${options.length} hypervisors${certified.length ? `: ${certified.join(', ')}` : ''}`,
  };
}

/** The present guests of every host, as the store holds them. */
export function readFleet(db: Db): FleetHost[] {
  const hosts = new Map<number, FleetHost>();
  const hostRows = db
    .prepare('SELECT id, agent_name, hostname, hypervisor_json FROM hosts ORDER BY agent_name')
    .all() as {
    id: number;
    agent_name: string;
    hostname: string;
    hypervisor_json: string;
  }[];
  for (const h of hostRows) {
    hosts.set(h.id, {
      agent: h.agent_name,
      hostname: h.hostname,
      hypervisor: identifyHypervisor(JSON.parse(h.hypervisor_json) as Hypervisor),
      guests: [],
    });
  }
  const guestRows = db
    .prepare(
      'SELECT host_id, guest_key, name, os_json, details_json, verdict_json FROM guests WHERE removed_at IS NULL ORDER BY host_id, name',
    )
    .all() as {
    host_id: number;
    guest_key: string;
    name: string;
    os_json: string | null;
    details_json: string | null;
    verdict_json: string | null;
  }[];
  for (const g of guestRows) {
    const details = (g.details_json ? JSON.parse(g.details_json) : {}) as GuestExtras;
    const verdict = (g.verdict_json ? JSON.parse(g.verdict_json) : {}) as { osUnknownReason?: string | null };
    hosts.get(g.host_id)?.guests.push({
      key: g.guest_key,
      name: g.name,
      os: g.os_json ? (JSON.parse(g.os_json) as GuestOsIdentity) : null,
      osUnknownReason: verdict.osUnknownReason ?? null,
      extras: { generation: details.generation, arch: details.arch },
    });
  }
  return [...hosts.values()];
}

/** A plan as the CLI's flags and the API's parameters ask it. */
export interface PlanRequest {
  hosts: string[];
  matching?: string;
  to?: string;
  guest?: string;
  candidates: string[];
  date: string;
}

export function makePlan(fleet: FleetHost[], req: PlanRequest, catalog: Catalog): HostPlan | GuestPlan {
  if (req.guest !== undefined) {
    if (req.to !== undefined || req.hosts.length > 0 || req.matching !== undefined)
      throw new PlanError('plan a guest (--guest HOST/GUEST) or hosts (--host NAME --to HYPERVISOR), not both');
    return planGuest(fleet, req.guest, req.candidates.map(planHypervisor), catalog, req.date);
  }
  if (req.to === undefined)
    throw new PlanError(`say what the hosts would run: --to "HYPERVISOR"; ${PLAN_FORMS.hypervisor}`);
  const to = planHypervisor(req.to);
  return planHosts(selectHosts(fleet, req.hosts, req.matching), to, catalog, req.date);
}

/** A plan for a terminal: the summary, then one line per guest (or hypervisor). */
export function planText(plan: HostPlan | GuestPlan): string {
  const verdict = (v: PlannedVerdict) =>
    `${v.status}${v.eol ? ` (end of support ${v.eol.date})` : ''}${v.partial ? ' [partial list]' : ''}`;
  const by = (v: PlannedVerdict) =>
    v.deciding.length
      ? `  by ${v.deciding.map((d) => d.program).join(', ')}`
      : v.why.length
        ? `  why: ${v.why.join('; ')}`
        : '';
  if ('options' in plan) {
    return [
      plan.summary,
      ...plan.options.map(
        (o) =>
          `${o.current ? '* ' : '  '}${o.hypervisor.name}${o.hosts.length ? ` [${o.hosts.join(', ')}]` : ' [not in the fleet]'}: ${verdict(o.verdict)}${by(o.verdict)}`,
      ),
    ].join('\n');
  }
  const lines = [plan.summary];
  let group = '';
  for (const g of plan.guests) {
    if (g.change !== group) {
      group = g.change;
      lines.push(`${group}:`);
    }
    lines.push(
      `  ${g.host}/${g.name} (${g.os?.name ?? 'OS not identified'}): ${verdict(g.now)} → ${verdict(g.after)}${by(g.after)}`,
    );
  }
  return lines.join('\n');
}
