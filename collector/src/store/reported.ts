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

/**
 * Keeps each guest as it was last reported, for `sameJson`, in as little memory as it can: the parts
 * that thousands of guests repeat (an OS's evidence, its fields, a machine type) are one shared copy,
 * so what a guest holds of its own is little more than its object, UUID and name (test/bench).
 * The copies are the store's: a caller that changes its objects later cannot change them.
 */
export class ReportedGuests {
  private readonly shared = new Map<string, unknown>();

  keep(guest: Guest): Guest {
    const kept: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(guest)) {
      if (k === 'os') continue;
      kept[k] = k === 'uuid' || k === 'name' ? v : this.share(v);
    }
    const os: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(guest.os)) {
      // The name hint repeats the guest's name: it holds the name's string, not a copy of its own.
      os[k] =
        k === 'evidence'
          ? guest.os.evidence.map((e) =>
              e.source === 'name-hint' && Object.keys(e).length === 2 && e.text === guest.name
                ? { source: e.source, text: guest.name }
                : this.share(e),
            )
          : this.share(v);
    }
    kept.os = os;
    return kept as Guest;
  }

  /** One copy of an equal value for all who hold it (values are never changed once kept). */
  private share(value: unknown): unknown {
    if (typeof value !== 'object' && typeof value !== 'string') return value;
    const key = JSON.stringify(value);
    const known = this.shared.get(key);
    if (known !== undefined) return known;
    if (this.shared.size >= MAX_SHARED) this.shared.clear();
    const copy = JSON.parse(key) as unknown;
    this.shared.set(key, copy);
    return copy;
  }
}
