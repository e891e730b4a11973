import {
  type Guest,
  type GuestOsResult,
  type HypervisorIdentity,
  type Inventory,
  identifyGuestOs,
  identifyHypervisor,
} from '@hvmap/shared';
import type { Catalog } from '../catalog/load.js';
import { evaluate } from '../compat/evaluate.js';
import type { EvaluatedGuest, JudgedInventory } from '../store/inventory.js';

/** Today's date as the evaluation date (UTC), YYYY-MM-DD. */
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** A real day written YYYY-MM-DD ("2026-13-45" is not one). */
export function isCalendarDate(text: string): boolean {
  const d = new Date(`${text}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(d.getTime()) && d.toISOString().startsWith(text);
}

/** What a guest's verdict depends on besides the hypervisor and the date: its identified OS and VM facts. */
export interface EvaluationInput {
  /** Shared by every guest with the same OS evidence (the identification memo's object). */
  identified: GuestOsResult;
  generation?: Guest['generation'];
  arch?: Guest['arch'];
}

/** One guest's verdict; guests with the same inputs on the same hypervisor share one such object. */
export type GuestEvaluation = Omit<EvaluatedGuest, 'key' | 'guest'>;

/**
 * Identifies and evaluates every guest of a snapshot against the catalog in force. Fleets repeat
 * the same few (OS evidence, hypervisor) pairs, so identifications, verdicts and results are shared.
 */
export class Evaluator {
  /**
   * Identifications per OS evidence, the name hint left out: all guests that report the same
   * evidence share one entry, and it survives catalog changes (identifying does not depend on the
   * catalog). A per-guest memo keyed by the whole evidence held the guest's name and cost ~0.9 KB of
   * memory per guest (test/bench).
   */
  private identities = new Map<string, GuestOsResult>();
  /**
   * Verdicts per (hypervisor, identified OS, VM facts, date): the catalog's verdict depends only on
   * the identities, and a fleet has a few hundred pairs of them. Without it a full re-evaluation ran
   * the catalog once per guest (~190 µs each: test/bench).
   */
  private verdicts = new Map<string, ReturnType<typeof evaluate>>();
  /**
   * Results per verdict and identification outcome: the guests of one OS on one hypervisor share one
   * result object, so the store keeps one copy of its JSON for all of them, not one per guest.
   */
  private results = new Map<string, GuestEvaluation>();
  private memoDate = today();
  private readonly identityIds = new WeakMap<object, number>();
  /**
   * Hypervisors identified, by their report's JSON: a host reports the same one in every snapshot,
   * and identifying it took ~3% of ingest's main thread (test/bench NOTES §1).
   */
  private readonly hypervisors = new Map<string, HypervisorIdentity | null>();
  private nextIdentityId = 1;

  constructor(private catalog: Catalog) {}

  get catalogVersion(): string {
    return this.catalog.version;
  }

  /** The catalog in force (the API lists its programs). */
  get catalogInForce(): Catalog {
    return this.catalog;
  }

  /** Puts a new catalog in force; verdicts made under the old one are dropped. */
  setCatalog(catalog: Catalog): void {
    this.catalog = catalog;
    this.verdicts.clear();
    this.results.clear();
  }

  /**
   * A snapshot with its judge: the store calls it for the guests that need a verdict (new or changed
   * ones, all of them under a new catalog or on a new day), not for every guest of every snapshot.
   */
  judgeInventory(inventory: Inventory): JudgedInventory {
    const reported = JSON.stringify(inventory.hypervisor);
    let hypervisor = this.hypervisors.get(reported);
    if (hypervisor === undefined) {
      if (this.hypervisors.size >= MAX_HYPERVISORS) this.hypervisors.clear();
      hypervisor = identifyHypervisor(inventory.hypervisor);
      this.hypervisors.set(reported, hypervisor);
    }
    const date = today();
    const catalogVersion = this.catalog.version;
    return {
      inventory,
      hypervisor,
      catalogVersion,
      judgedUnder: `${catalogVersion}\u0000${date}`,
      judge: (guest) => this.evaluateGuest(guest, hypervisor, date),
    };
  }

  /** Identifies and evaluates one guest on an identified hypervisor (the date defaults to today). */
  evaluateGuest(guest: Guest, hypervisor: HypervisorIdentity | null, date = today()): GuestEvaluation {
    return this.evaluateInput(
      { identified: this.identify(guest.os), generation: guest.generation, arch: guest.arch },
      hypervisor,
      date,
    );
  }

  /**
   * Judges guests on one hypervisor on one date from their inputs, for a whole re-evaluation: guests
   * with the same outcome share their input object (the store keeps the result's), so each distinct
   * input is evaluated once and the rest is a lookup by reference.
   */
  judgeOn(hypervisor: HypervisorIdentity | null, date: string): (input: EvaluationInput) => GuestEvaluation {
    const seen = new Map<EvaluationInput, GuestEvaluation>();
    return (input) => {
      let result = seen.get(input);
      if (!result) {
        result = this.evaluateInput(input, hypervisor, date);
        seen.set(input, result);
      }
      return result;
    };
  }

  /**
   * Evaluates what a guest's verdict depends on, identified once: the store keeps it per guest, so
   * that a new catalog re-judges the fleet without reading and identifying every guest again.
   */
  evaluateInput(input: EvaluationInput, hypervisor: HypervisorIdentity | null, date = today()): GuestEvaluation {
    if (date !== this.memoDate) {
      // End-of-life flags depend on the date: yesterday's verdicts may be stale.
      this.verdicts.clear();
      this.results.clear();
      this.memoDate = date;
    }
    const { identified, generation, arch } = input;
    const os = identified.known ? identified.os : null;
    // Identifications are shared objects: their number stands for their JSON in the keys below.
    const identity = this.identityId(identified);
    const osId = identified.known ? this.identityId(identified.os) : 0;
    const verdictKey = `${hypervisor?.id ?? '?'}\u0000${hypervisor?.name ?? ''}\u0000${date}\u0000${generation ?? ''}\u0000${arch ?? ''}\u0000${osId}`;
    let evaluated = this.verdicts.get(verdictKey);
    if (!evaluated) {
      evaluated = evaluate(hypervisor, os, this.catalog, date, { generation, arch });
      this.verdicts.set(verdictKey, evaluated);
    }
    const resultKey = `${verdictKey}\u0000${identity}`;
    const shared = this.results.get(resultKey);
    if (shared) return shared;
    // The catalog version is stamped on the stored row, not inside the verdict, so that a catalog
    // which changes no verdict changes no stored verdict either.
    const { catalogVersion: _stamp, ...verdict } = evaluated;
    const result: GuestEvaluation = {
      input: { identified, generation, arch },
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
    this.results.set(resultKey, result);
    return result;
  }

  private identityId(value: object): number {
    let id = this.identityIds.get(value);
    if (id === undefined) {
      id = this.nextIdentityId++;
      this.identityIds.set(value, id);
    }
    return id;
  }

  /**
   * The guest's OS from its evidence. The name hint counts only when nothing else identifies the OS
   * with its version, so the shared entry is made without it and the hint is read per guest only then.
   * Every result comes from the map, so equal evidence always yields the same object.
   */
  private identify(os: Guest['os']): GuestOsResult {
    const strong = os.evidence.filter((e) => e.source !== 'name-hint');
    const withoutHint = strong.length === os.evidence.length ? os : { ...os, evidence: strong };
    const shared = this.identification(withoutHint);
    if (withoutHint === os || (shared.known && shared.os.version)) return shared;
    return this.identification(os);
  }

  private identification(os: Guest['os']): GuestOsResult {
    const key = JSON.stringify([os.evidence, os.reason ?? null, os.reasonDetail ?? null]);
    let identified = this.identities.get(key);
    if (!identified) {
      // Bounded: a fleet repeats a few thousand kinds of evidence (and guests known only by their
      // name add one each); beyond the bound, start over, with what was keyed on the old entries.
      if (this.identities.size >= MAX_IDENTITIES) {
        this.identities.clear();
        this.verdicts.clear();
        this.results.clear();
      }
      identified = identifyGuestOs(os);
      this.identities.set(key, identified);
    }
    return identified;
  }
}

const MAX_IDENTITIES = 200_000;
/** A fleet runs a few kinds of hypervisor, and a host one at a time. */
const MAX_HYPERVISORS = 10_000;
