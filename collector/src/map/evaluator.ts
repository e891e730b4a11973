import {
  type Guest,
  type HypervisorIdentity,
  type Inventory,
  identifyGuestOs,
  identifyHypervisor,
} from '@hvmap/shared';
import type { Catalog } from '../catalog/load.js';
import { evaluate } from '../compat/evaluate.js';
import { type EvaluatedGuest, type EvaluatedInventory, guestKeys } from '../store/inventory.js';

/** Today's date as the evaluation date (UTC), YYYY-MM-DD. */
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/**
 * Identifies and evaluates every guest of a snapshot against the catalog in force. Fleets repeat
 * the same few (OS evidence, hypervisor) pairs, so results are memoised per catalog and date.
 */
export class Evaluator {
  private memo = new Map<string, Omit<EvaluatedGuest, 'key' | 'guest'>>();
  private memoDate = today();

  constructor(private catalog: Catalog) {}

  get catalogVersion(): string {
    return this.catalog.version;
  }

  /** The catalog in force (the API lists its programs). */
  get catalogInForce(): Catalog {
    return this.catalog;
  }

  /** Puts a new catalog in force; cached results made under the old one are dropped. */
  setCatalog(catalog: Catalog): void {
    this.catalog = catalog;
    this.memo.clear();
  }

  evaluateInventory(inventory: Inventory): EvaluatedInventory {
    const date = today();
    if (date !== this.memoDate) {
      // End-of-life flags depend on the date: yesterday's results may be stale.
      this.memo.clear();
      this.memoDate = date;
    }
    const hypervisor = identifyHypervisor(inventory.hypervisor);
    const keys = guestKeys(inventory.guests);
    const guests = inventory.guests.map((guest, i) => ({
      key: keys[i],
      guest,
      ...this.evaluateGuest(guest, hypervisor, date),
    }));
    return { inventory, hypervisor, guests, catalogVersion: this.catalog.version };
  }

  /** Identifies and evaluates one guest on an identified hypervisor (the date defaults to today). */
  evaluateGuest(guest: Guest, hypervisor: HypervisorIdentity | null, date = today()) {
    const memoKey = `${hypervisor?.id ?? '?'}\u0000${guest.generation ?? ''}\u0000${guest.arch ?? ''}\u0000${JSON.stringify(guest.os)}`;
    const hit = this.memo.get(memoKey);
    if (hit) return hit;
    const identified = identifyGuestOs(guest.os);
    const os = identified.known ? identified.os : null;
    // The catalog version is stamped on the stored row, not inside the verdict, so that a catalog
    // which changes no verdict changes no stored verdict either.
    const { catalogVersion: _stamp, ...verdict } = evaluate(hypervisor, os, this.catalog, date, {
      generation: guest.generation,
      arch: guest.arch,
    });
    const result = {
      os,
      status: verdict.status,
      eolDate: verdict.eol?.date ?? null,
      verdict: {
        ...verdict,
        osSource: identified.known ? identified.source : null,
        osConflicts: identified.known ? identified.conflicts : [],
        osUnknownReason: identified.known ? null : identified.reason,
        osUnknownDetail: identified.known ? null : (identified.detail ?? null),
      },
    };
    this.memo.set(memoKey, result);
    return result;
  }
}
