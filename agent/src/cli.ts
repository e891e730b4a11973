#!/usr/bin/env node
/**
 * hvmap-agent: `run` reports this host to a collector until stopped; `scan` prints one inventory,
 * sends nothing and changes nothing. Exit codes: 0 done, 1 failure, 2 bad usage.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  type Guest,
  type GuestOsResult,
  type Hypervisor,
  type HypervisorIdentity,
  identifyGuestOs,
  identifyHypervisor,
} from '@hvmap/shared';
import {
  AGENT_DEFAULTS,
  AGENT_VERSION,
  parseCommandLine,
  type RunConfig,
  type ScanConfig,
  UsageError,
} from './config.js';
import { runAgent } from './connection.js';
import type { Driver } from './drivers/driver.js';
import { DRIVERS, type DriverEntry } from './drivers/index.js';
import { createLogger } from './logger.js';
import { ReplayError, replayRunner } from './replay.js';
import { localRunner } from './runner.js';
import { type InventoryBody, scanOnce } from './scan.js';
import { StateError } from './state-file.js';

/** The CLI's surroundings, injectable so tests run `main` in-process. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when `run` should stop: SIGINT or SIGTERM. */
  shutdown(): Promise<void>;
}

/** `scan` output: the inventory as it would be sent, plus what the collector would make of it. */
export interface IdentifiedInventory extends Omit<InventoryBody, 'hypervisor' | 'guests'> {
  hypervisor: Hypervisor & { identified: HypervisorIdentity | null };
  guests: (Guest & { identified: GuestOsResult })[];
}

/** Runs the command line `argv` (without node and script) and returns the exit code. */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo(),
  registry: readonly DriverEntry[] = DRIVERS,
): Promise<number> {
  try {
    const command = await parseCommandLine(
      argv,
      io.env,
      registry.map((d) => d.name),
    );
    switch (command.command) {
      case 'help':
        io.stdout(`${command.text}\n`);
        return 0;
      case 'version':
        io.stdout(`${AGENT_VERSION}\n`);
        return 0;
      case 'scan':
        return await scan(command, io, registry);
      case 'run':
        return await run(command, io, registry);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`hvmap-agent: ${err.message}\n`);
      return 2;
    }
    const known = err instanceof StateError || err instanceof ReplayError;
    io.stderr(`hvmap-agent: ${known ? err.message : (err as Error).stack}\n`);
    return 1;
  }
}

/** `--driver auto` offers every driver, in priority order, to detection; a named one runs unasked. */
function selectDrivers(
  registry: readonly DriverEntry[],
  config: RunConfig | ScanConfig,
): { drivers: Driver[]; detect: boolean } {
  const settings = { libvirtUri: config.libvirtUri };
  const chosen = config.driver === 'auto' ? registry : registry.filter((d) => d.name === config.driver);
  return { drivers: chosen.map((d) => d.create(settings)), detect: config.driver === 'auto' };
}

/** Prints one inventory; exits 1 when it is partial (a driver failed, or no hypervisor was found). */
async function scan(config: ScanConfig, io: CliIo, registry: readonly DriverEntry[]): Promise<number> {
  const { drivers, detect } = selectDrivers(registry, config);
  const runner = config.replay ? replayRunner(config.replay) : localRunner({ root: config.root });
  const inventory = identify(await scanOnce(drivers, runner, { detect }));
  io.stdout(config.json ? `${JSON.stringify(inventory, null, 2)}\n` : formatTable(inventory));
  return inventory.partial ? 1 : 0;
}

async function run(config: RunConfig, io: CliIo, registry: readonly DriverEntry[]): Promise<number> {
  const { drivers, detect } = selectDrivers(registry, config);
  const logger = createLogger(config.logLevel);
  const agent = await runAgent({
    collectorUrl: config.collectorUrl,
    token: config.token,
    drivers,
    detect,
    runner: localRunner({ root: config.root }),
    stateDir: config.stateDir,
    intervalSec: config.intervalSec,
    ca: config.ca,
    ...(config.pingIntervalSec !== undefined ? { pingIntervalMs: config.pingIntervalSec * 1000 } : {}),
    ...(config.maxBackoffSec !== undefined
      ? { backoff: { baseMs: AGENT_DEFAULTS.backoffBaseMs, capMs: config.maxBackoffSec * 1000 } }
      : {}),
    logger,
  });
  await io.shutdown();
  logger.child({ component: 'cli' }).info('stopping');
  await agent.stop();
  return 0;
}

/** Adds the identification the collector would make, for the operator at the host. */
export function identify(inventory: InventoryBody): IdentifiedInventory {
  return {
    ...inventory,
    hypervisor: { ...inventory.hypervisor, identified: identifyHypervisor(inventory.hypervisor) },
    guests: inventory.guests.map((g) => ({ ...g, identified: identifyGuestOs(g.os) })),
  };
}

/** The inventory for a person: host and hypervisor lines, a guest table, then any errors. */
export function formatTable(inventory: IdentifiedInventory): string {
  const { host, hypervisor: hv } = inventory;
  const hostOs = [host.os.distro, host.os.release].filter(Boolean).join(' ') || host.os.platform;
  const hvRaw = [hv.product, hv.version, hv.managementStack && `(${hv.managementStack})`].filter(Boolean).join(' ');
  const lines = [
    `host        ${host.hostname}  ${hostOs}  ${host.os.kernel ?? ''}`.trimEnd(),
    `hypervisor  ${hvRaw}  [driver ${hv.driver}]  => ${hv.identified ? `${hv.identified.name} (${hv.identified.id})` : 'not identified'}`,
  ];
  for (const run of inventory.drivers ?? []) {
    lines.push(`driver      ${run.driver}: ${run.ok ? 'ok' : 'FAILED'}, ${run.guests} guests in ${run.durationMs} ms`);
  }
  const rows = inventory.guests.map((g) => [g.name, g.state, guestOs(g.identified), g.uuid]);
  lines.push('', ...alignColumns([['GUEST', 'STATE', 'OS (identified)', 'UUID'], ...rows]));
  if (inventory.guests.length === 0) lines.push('(no guests)');
  if (inventory.errors.length > 0) {
    lines.push('', inventory.partial ? 'errors (the report is partial):' : 'errors:');
    for (const e of inventory.errors)
      lines.push(`  ${e.code} [${e.driver}${e.guest ? ` ${e.guest}` : ''}] ${e.message}`);
  }
  return `${lines.join('\n')}\n`;
}

function guestOs(result: GuestOsResult): string {
  if (!result.known) return `unknown: ${result.reason}`;
  const conflicts = result.conflicts.map((c) => `${c.source} says ${c.id}`).join(', ');
  return `${result.os.name} (${result.os.id}, from ${result.source})${conflicts ? `; ${conflicts}` : ''}`;
}

function alignColumns(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
}

function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    shutdown: () =>
      new Promise((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      }),
  };
}

// Run only as the program itself (the npm bin is a symlink, hence realpath), not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  // exitCode, not exit(): stdout may be a pipe still draining the inventory.
  process.exitCode = await main(process.argv.slice(2));
}
