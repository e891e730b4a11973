/**
 * One scan of this host: host facts, then the drivers of its hypervisor. A driver failing is reported
 * in the inventory (`errors`, `partial`, its run with `ok: false`), never thrown: the rest still goes.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { DriverRun, Guest, HostFacts, Hypervisor, Inventory, ReportError } from '@hvmap/shared';
import { type Driver, DriverError } from './drivers/driver.js';
import { collectHostFacts } from './host-facts.js';
import type { Runner } from './runner.js';

/** An inventory before the connection numbers it: everything but `type` and `seq`. */
export type InventoryBody = Omit<Inventory, 'type' | 'seq'>;

export interface ScanOptions {
  /**
   * true (default, `--driver auto`): ask every driver whether its hypervisor is here and run each
   * that says yes. false (`--driver NAME`): run the first driver without asking, so that its own
   * error (e.g. VIRSH_NOT_FOUND) is what the report shows.
   */
  detect?: boolean;
  /** Host facts to report; collected through systeminformation when absent. */
  hostFacts?: HostFacts;
}

/** Code of the error reported when no driver detects its hypervisor. */
export const NO_HYPERVISOR = 'NO_HYPERVISOR';
const MAX_MESSAGE = 2048;

/** What one driver's run gave; `hypervisor` is absent when its hypervisor question failed. */
interface DriverResult {
  hypervisor?: Hypervisor;
  guests: Guest[];
  run: DriverRun;
}

/**
 * Scans this host once. Never throws for a driver's failure. `drivers` are in priority order
 * (drivers/index.ts): when several see the same host, as xe and xl do on XenServer or libvirt and xl
 * on a Xen host, the first one's hypervisor is reported and each guest once, as the first driver
 * that saw its UUID reported it.
 */
export async function scanOnce(drivers: Driver[], runner: Runner, options: ScanOptions = {}): Promise<InventoryBody> {
  const collectedAt = new Date().toISOString();
  const host = options.hostFacts ?? (await collectHostFacts());
  const errors = new ErrorList();
  const runs: DriverRun[] = [];
  const results: DriverResult[] = [];
  for (const driver of options.detect === false ? drivers.slice(0, 1) : drivers) {
    const started = performance.now();
    const present = options.detect === false ? true : await detect(driver, runner, errors);
    if (present === undefined) {
      runs.push({ driver: driver.name, ok: false, durationMs: elapsed(started), guests: 0 });
    } else if (present) {
      const result = await runDriver(driver, runner, errors, started);
      runs.push(result.run);
      results.push(result);
    }
  }
  if (results.length === 0) {
    errors.add({
      driver: 'auto',
      code: NO_HYPERVISOR,
      message: `no driver (${drivers.map((d) => d.name).join(', ')}) detected its hypervisor on this host; pass --driver NAME to run one anyway`,
    });
    return {
      collectedAt,
      host,
      hypervisor: { driver: 'none', product: 'unknown' },
      guests: [],
      errors: errors.items,
      drivers: runs,
      partial: true,
    };
  }
  const hypervisor = results.find((r) => r.hypervisor)?.hypervisor ?? {
    driver: results[0].run.driver,
    product: 'unknown',
  };
  return {
    collectedAt,
    host,
    hypervisor,
    guests: oncePerUuid(results.map((r) => r.guests)),
    errors: errors.items,
    drivers: runs,
    partial: runs.some((r) => !r.ok),
  };
}

/**
 * The guests of every driver, highest priority first, leaving out a guest whose UUID a higher
 * driver already reported. Guests sharing a UUID within one driver's list stay: they are clones
 * (a copied VM keeps its UUID), distinct guests however alike their identifiers.
 */
function oncePerUuid(lists: Guest[][]): Guest[] {
  const seen = new Set<string>();
  const guests: Guest[] = [];
  for (const list of lists) {
    const fresh = list.filter((g) => !g.uuid || !seen.has(g.uuid.toLowerCase()));
    for (const g of fresh) if (g.uuid) seen.add(g.uuid.toLowerCase());
    guests.push(...fresh);
  }
  return guests;
}

/** Whether the driver's hypervisor is here; undefined when detect() itself failed (reported in `errors`). */
async function detect(driver: Driver, runner: Runner, errors: ErrorList): Promise<boolean | undefined> {
  try {
    return await driver.detect(runner);
  } catch (err) {
    errors.add(toReportError(driver.name, err, 'DETECT_FAILED'));
    return undefined;
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

/** Runs one driver; its duration counts from `started`, detection included. */
async function runDriver(driver: Driver, runner: Runner, errors: ErrorList, started: number): Promise<DriverResult> {
  const errorsBefore = errors.items.length;
  let hypervisor: Hypervisor | undefined;
  let guests: Guest[] = [];
  // The two questions are independent: a host whose version cannot be read still lists its guests.
  try {
    hypervisor = await driver.hypervisor(runner);
  } catch (err) {
    errors.add(toReportError(driver.name, err, 'DRIVER_FAILED'));
  }
  try {
    const scan = await driver.guests(runner);
    guests = scan.guests;
    for (const e of scan.errors) errors.add(e);
  } catch (err) {
    errors.add(toReportError(driver.name, err, 'DRIVER_FAILED'));
  }
  const run: DriverRun = {
    driver: driver.name,
    ok: errors.items.length === errorsBefore,
    durationMs: elapsed(started),
    guests: guests.length,
  };
  return { hypervisor, guests, run };
}

function toReportError(driver: string, err: unknown, fallbackCode: string): ReportError {
  if (err instanceof DriverError) return { driver, code: err.code, message: err.message };
  return { driver, code: fallbackCode, message: err instanceof Error ? err.message : String(err) };
}

/** The report's errors: each once (both driver questions fail alike when virsh is missing), clipped to the schema. */
class ErrorList {
  readonly items: ReportError[] = [];
  private readonly seen = new Set<string>();

  add(error: ReportError): void {
    const item = { ...error, message: error.message.slice(0, MAX_MESSAGE) };
    const key = JSON.stringify([item.driver, item.code, item.message, item.guest]);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push(item);
  }
}

/**
 * A hash of what the inventory says, so the run loop sends a full snapshot only when something
 * changed. Left out: `collectedAt` and the driver runs (their durations differ every time); guests
 * are taken in UUID order, because a driver may list them in a different order from one scan to the next.
 */
export function contentHash(inventory: InventoryBody): string {
  const { host, hypervisor, guests, errors, partial } = inventory;
  const sorted = [...guests].sort((a, b) => compare(a.uuid, b.uuid) || compare(a.name, b.name));
  return createHash('sha256')
    .update(stableStringify({ host, hypervisor, guests: sorted, errors, partial }))
    .digest('hex');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON with object keys sorted, so equal content always gives equal text. */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stableStringify(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => compare(a, b))
      .map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}
