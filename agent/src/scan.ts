/**
 * One scan of this host: host facts, then the driver of its hypervisor. A driver failing is reported
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
   * true (default, `--driver auto`): ask each driver in order whether its hypervisor is here and run
   * the first that says yes. false (`--driver NAME`): run the first driver without asking, so that
   * its own error (e.g. VIRSH_NOT_FOUND) is what the report shows.
   */
  detect?: boolean;
  /** Host facts to report; collected through systeminformation when absent. */
  hostFacts?: HostFacts;
}

/** Code of the error reported when no driver detects its hypervisor. */
export const NO_HYPERVISOR = 'NO_HYPERVISOR';
const MAX_MESSAGE = 2048;

/** Scans this host once. Never throws for a driver's failure. */
export async function scanOnce(drivers: Driver[], runner: Runner, options: ScanOptions = {}): Promise<InventoryBody> {
  const collectedAt = new Date().toISOString();
  const host = options.hostFacts ?? (await collectHostFacts());
  const errors = new ErrorList();
  const driver = options.detect === false ? drivers[0] : await detectDriver(drivers, runner, errors);
  if (!driver) {
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
      drivers: [],
      partial: true,
    };
  }
  const { hypervisor, guests, run } = await runDriver(driver, runner, errors);
  return { collectedAt, host, hypervisor, guests, errors: errors.items, drivers: [run], partial: !run.ok };
}

/**
 * The first driver whose hypervisor is here. Drivers are asked in registry order, which is their
 * priority: a Xen host managed through libvirt answers to both, and must be reported once.
 */
async function detectDriver(drivers: Driver[], runner: Runner, errors: ErrorList): Promise<Driver | undefined> {
  for (const driver of drivers) {
    try {
      if (await driver.detect(runner)) return driver;
    } catch (err) {
      errors.add(toReportError(driver.name, err, 'DETECT_FAILED'));
    }
  }
  return undefined;
}

async function runDriver(
  driver: Driver,
  runner: Runner,
  errors: ErrorList,
): Promise<{ hypervisor: Hypervisor; guests: Guest[]; run: DriverRun }> {
  const started = performance.now();
  const errorsBefore = errors.items.length;
  let hypervisor: Hypervisor = { driver: driver.name, product: 'unknown' };
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
    durationMs: Math.round(performance.now() - started),
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
