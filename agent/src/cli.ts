#!/usr/bin/env node
/**
 * hvmap-agent: `run` reports this host to a collector until stopped; `scan` prints one inventory,
 * sends nothing and changes nothing. Exit codes: 0 done, 1 failure, 2 bad usage.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
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
import { formatTable, identify } from './report.js';
import { localRunner } from './runner.js';
import { scanOnce } from './scan.js';
import { StateError } from './state-file.js';

/** The CLI's surroundings, injectable so tests run `main` in-process. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when `run` should stop: SIGINT or SIGTERM. */
  shutdown(): Promise<void>;
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
    fallbackCollectorUrls: config.fallbackCollectorUrls,
    failbackMs: config.failbackSec === undefined ? undefined : config.failbackSec * 1000,
    token: config.token,
    drivers,
    detect,
    runner: localRunner({ root: config.root }),
    stateDir: config.stateDir,
    intervalSec: config.intervalSec,
    watch: config.watch,
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
