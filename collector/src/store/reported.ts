import type { Guest } from '@hvmap/shared';

/**
 * Whether two JSON values say the same: what JSON.stringify would make equal, key order aside. A
 * property set to `undefined` counts as present, so such a value compares unequal to one without it,
 * which only costs a needless write. It allocates nothing: the store compares every guest of every
 * snapshot with its last report this way (~0.7 µs a guest, against ~5 µs to serialise and digest it).
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const k in x) {
    if (!Object.hasOwn(y, k) || !sameJson(x[k], y[k])) return false;
    keys++;
  }
  for (const _ in y) keys--;
  return keys === 0;
}

/** Shared copies beyond this many are dropped and made again: a fleet repeats a few thousand. */
const MAX_SHARED = 100_000;

/** A guest's report less its UUID and name, shared by every guest that reports the same. */
export type ReportedRest = Readonly<Record<string, unknown>>;

/** Stands in a kept report for a name hint that repeats the guest's name (JSON cannot make it). */
const NAME_HINT = Object.freeze({ source: 'name-hint' });

/** An evidence item that is exactly the name hint `name` (counted without allocating: it runs per guest). */
function isNameHint(e: unknown, name: string): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const item = e as { source?: unknown; text?: unknown };
  if (item.source !== 'name-hint' || item.text !== name) return false;
  let keys = 0;
  for (const _ in item) keys++;
  return keys === 2;
}

/**
 * Keeps what each guest last reported, for `sameReport`, in as little memory as it can: a report
 * less its UUID and name (the store holds those), with its name hint standing for "the name", is
 * what thousands of guests repeat (an OS, its state, its size), so they share one copy and a guest
 * holds a pointer (test/bench: ~220 bytes a guest kept whole). The copies are the store's: a
 * caller that changes its objects later cannot change them.
 */
export class ReportedGuests {
  private readonly shared = new Map<string, ReportedRest>();

  keep(guest: Guest): ReportedRest {
    const hints: number[] = [];
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(guest)) {
      if (k === 'uuid' || k === 'name') continue;
      if (k !== 'os') rest[k] = v;
      else
        rest.os = {
          ...guest.os,
          evidence: guest.os.evidence.map((e, i) => {
            if (!isNameHint(e, guest.name)) return e;
            hints.push(i);
            return null;
          }),
        };
    }
    // Evidence items are objects (the schema's): a null in the key is a name hint, and where they
    // stand is said before the JSON, which cannot begin with a digit or a bar.
    const key = `${hints.join()}|${JSON.stringify(rest)}`;
    let kept = this.shared.get(key);
    if (kept) return kept;
    if (this.shared.size >= MAX_SHARED) this.shared.clear();
    const copy = JSON.parse(key.slice(key.indexOf('|') + 1)) as { os: { evidence: unknown[] } };
    for (const i of hints) copy.os.evidence[i] = NAME_HINT;
    kept = copy as ReportedRest;
    this.shared.set(key, kept);
    return kept;
  }
}

/**
 * Whether a guest reports what a guest last reported as `uuid`, `name` and the kept rest (null: not
 * kept). Its key (UUID/name for clones) does not imply both. The store and the ingest worker compare
 * with it, each from what it keeps.
 */
export function reportsAsKept(uuid: string, name: string, kept: ReportedRest | null, guest: Guest): boolean {
  return kept !== null && uuid === guest.uuid && name === guest.name && sameReport(kept, guest);
}

/**
 * The guest a kept report stands for (`ReportedGuests.keep` undone): what a guest reported as before
 * is judged from when its verdict must be made again and the ingest worker sent only its key.
 */
export function reportedGuest(uuid: string, name: string, kept: ReportedRest): Guest {
  const os = kept.os as Guest['os'];
  return {
    ...(kept as Omit<Guest, 'uuid' | 'name'>),
    uuid,
    name,
    os: { ...os, evidence: os.evidence.map((e) => (e === NAME_HINT ? { source: 'name-hint', text: name } : e)) },
  };
}

/**
 * Keys guests by UUID; where two guests of one snapshot share a UUID (clones), each gets UUID/name so
 * both stay distinct guests.
 */
export function guestKeys(guests: readonly Pick<Guest, 'uuid' | 'name'>[]): string[] {
  const counts = new Map<string, number>();
  for (const g of guests) counts.set(g.uuid, (counts.get(g.uuid) ?? 0) + 1);
  return guests.map((g) => ((counts.get(g.uuid) ?? 0) > 1 ? `${g.uuid}/${g.name}` : g.uuid));
}

/** Whether a guest reports what was kept of it (`ReportedGuests.keep`), its UUID and name aside. */
export function sameReport(kept: ReportedRest, guest: Guest): boolean {
  let keys = 0;
  for (const k in guest) {
    if (k === 'uuid' || k === 'name') continue;
    keys++;
    const value = (guest as Record<string, unknown>)[k];
    if (!Object.hasOwn(kept, k)) return false;
    if (k === 'os' ? !sameOs(kept.os as Guest['os'], value, guest.name) : !sameJson(kept[k], value)) return false;
  }
  for (const _ in kept) keys--;
  return keys === 0;
}

function sameOs(kept: Guest['os'], os: unknown, name: string): boolean {
  if (typeof os !== 'object' || os === null || Array.isArray(os)) return false;
  let keys = 0;
  for (const k in os) {
    keys++;
    const value = (os as Record<string, unknown>)[k];
    if (!Object.hasOwn(kept, k)) return false;
    if (k !== 'evidence') {
      if (!sameJson((kept as Record<string, unknown>)[k], value)) return false;
      continue;
    }
    if (!Array.isArray(value) || value.length !== kept.evidence.length) return false;
    for (let i = 0; i < value.length; i++) {
      const e = kept.evidence[i];
      if (e === NAME_HINT ? !isNameHint(value[i], name) : !sameJson(e, value[i])) return false;
    }
  }
  for (const _ in kept) keys--;
  return keys === 0;
}
