import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { Driver } from '../../agent/src/drivers/driver.js';
import { type ReplayEntry, replayRunner } from '../../agent/src/replay.js';

/**
 * What a driver says of a replayed host: detection, the hypervisor or its error, guests and errors.
 * Fails when the driver asked the case a command it neither captured nor declared `notCaptured`.
 */
export async function replayInventory(driver: Driver, dir: string) {
  const run = replayRunner(dir);
  const thrown = (err: unknown) => ({
    thrown: { code: (err as { code?: string }).code, message: (err as Error).message },
  });
  const inventory = {
    detected: await driver.detect(run),
    hypervisor: await driver.hypervisor(run).catch(thrown),
    ...(await driver.guests(run).catch(thrown)),
  };
  expect(run.uncaptured, `${dir}: commands neither captured nor declared notCaptured`).toEqual([]);
  return inventory;
}

/**
 * How a case came to be, from the first line of its ORIGIN, for test titles: "captured", "constructed",
 * or "captured, partly constructed" (a real capture with a constructed host file beside it).
 */
export function caseOrigin(dir: string): string {
  const origin = readFileSync(path.join(dir, 'ORIGIN'), 'utf8');
  if (/^constructed/i.test(origin)) return 'constructed';
  return /^constructed/im.test(origin) ? 'captured, partly constructed' : 'captured';
}

/** Compares with a case's golden file, or rewrites it when UPDATE_FIXTURES=1 (review the diff like code). */
export function expectGolden(file: string, actual: unknown): void {
  // JSON round trip: the golden file holds no undefined members.
  const normalized = JSON.parse(JSON.stringify(actual));
  if (process.env.UPDATE_FIXTURES === '1') writeFileSync(file, `${JSON.stringify(normalized, null, 2)}\n`);
  expect(normalized).toEqual(JSON.parse(readFileSync(file, 'utf8')));
}

/**
 * Copies of test cases to change (a fault injected into a real capture): `variant(name, edit)` gives
 * the copy's folder, after `edit` changed its files or its commands. `cleanup()` removes them all.
 */
export function caseVariants(testcases: string) {
  const tmp = mkdtempSync(path.join(tmpdir(), 'hvmap-case-'));
  let count = 0;
  return {
    variant(name: string, edit: (dir: string, commands: ReplayEntry[]) => void): string {
      const dir = path.join(tmp, `${name}-${count++}`);
      cpSync(path.join(testcases, name), dir, { recursive: true });
      const manifest = path.join(dir, 'commands.json');
      const commands = JSON.parse(readFileSync(manifest, 'utf8')) as ReplayEntry[];
      edit(dir, commands);
      writeFileSync(manifest, JSON.stringify(commands));
      return dir;
    },
    cleanup: () => rmSync(tmp, { recursive: true, force: true }),
  };
}
