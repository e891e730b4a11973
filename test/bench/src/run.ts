/**
 * `npm run bench [-- --quick] [-- --only ingest,scale,evaluation,freshness,agent,store,postgres] [-- --profile]`
 * `node test/bench/dist/run.js --render`: RESULTS.md again from results.json and NOTES.md.
 *
 * Runs every measure of issue 8 on this machine, on loopback only, with bounded loops, and writes
 * test/bench/results.json and test/bench/RESULTS.md (--quick: results-quick.json, RESULTS-quick.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { progress, REPO, round } from './common.js';
import { summarizeProfile } from './profile.js';
import { renderResults } from './report.js';
import { type DataResult, runData } from './sections/data.js';
import { type IngestResult, runIngest, runScale, type ScaleResult } from './sections/ingest.js';
import {
  type AgentFootprint,
  type AgentIdle,
  type FreshnessResult,
  idleNodeRssMiB,
  runAgentFootprint,
  runAgentIdle,
  runFreshness,
} from './sections/live.js';
import { type PostgresResult, runPostgres } from './sections/postgres.js';

const SECTIONS = ['ingest', 'scale', 'evaluation', 'freshness', 'agent', 'store', 'postgres'] as const;
type Section = (typeof SECTIONS)[number];

export interface Machine {
  cores: number;
  cpuModel: string;
  ramGiB: number;
  node: string;
  kernel: string;
  loadAverageAtStart: number[];
  fdLimit: string;
}

export interface Results {
  mode: 'full' | 'quick';
  date: string;
  commit: string;
  machine: Machine;
  durationSec: number;
  ingest?: IngestResult;
  scale?: ScaleResult;
  data?: DataResult;
  freshness?: FreshnessResult;
  agent?: AgentFootprint[];
  agentIdle?: AgentIdle;
  /** RSS of an idle Node process on this machine, for scale against the agent's. */
  idleNodeRssMiB?: number;
  postgres?: PostgresResult;
  errors: Record<string, string>;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function machine(): Machine {
  const cpus = os.cpus();
  let fdLimit = 'unknown';
  try {
    fdLimit = execFileSync('/bin/sh', ['-c', 'echo "$(ulimit -Sn) soft / $(ulimit -Hn) hard"'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    // Reported as unknown.
  }
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    ramGiB: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((x) => round(x, 2)),
    fdLimit,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'no-profile': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      render: { type: 'boolean', default: false },
    },
  });
  if (values.render) {
    // Writes RESULTS.md again from results.json (after NOTES.md was edited), measuring nothing.
    const suffix = values.quick ? '-quick' : '';
    const here = path.join(REPO, 'test/bench');
    const saved = JSON.parse(readFileSync(path.join(here, `results${suffix}.json`), 'utf8')) as Results;
    // Profiles still on disk are summarised again (the summary may have learnt new components).
    if (saved.ingest?.profile && existsSync(saved.ingest.profile.file))
      saved.ingest.profile = summarizeProfile(saved.ingest.profile.file);
    if (saved.data?.reload.profile && existsSync(saved.data.reload.profile.file))
      saved.data.reload.profile = summarizeProfile(saved.data.reload.profile.file);
    writeFileSync(path.join(here, `results${suffix}.json`), `${JSON.stringify(saved, null, 2)}\n`);
    const notesFile = path.join(here, 'NOTES.md');
    const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : '';
    writeFileSync(path.join(here, `RESULTS${suffix}.md`), renderResults(saved, notes));
    process.stdout.write(`written: test/bench/RESULTS${suffix}.md from results${suffix}.json\n`);
    return;
  }
  const quick = values.quick ?? false;
  const only = new Set((values.only?.split(',') ?? SECTIONS).map((s) => s.trim()) as Section[]);
  for (const s of only)
    if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section ${s}; one of ${SECTIONS.join(', ')}`);
  const profile = values.profile || (!quick && !values['no-profile']);
  if (
    !existsSync(path.join(REPO, 'collector/dist/collector.js')) ||
    !existsSync(path.join(REPO, 'agent/dist/cli.js'))
  ) {
    throw new Error('the packages are not built: run `npm run build` first (npm run bench does)');
  }
  const started = performance.now();
  const commit = git(['rev-parse', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  const results: Results = {
    mode: quick ? 'quick' : 'full',
    date: new Date().toISOString(),
    commit: dirty ? `${commit} (with uncommitted changes)` : commit,
    machine: machine(),
    durationSec: 0,
    errors: {},
  };
  // Profiles stay for Chrome DevTools (git-ignored); the summary goes into the results.
  const profileDir = path.join(REPO, 'test/bench/profiles');
  mkdirSync(profileDir, { recursive: true });
  const attempt = async (section: Section, f: () => Promise<void>) => {
    if (!only.has(section)) return;
    progress(`${section}: start`);
    try {
      await f();
    } catch (err) {
      results.errors[section] = (err as Error).message;
      progress(`${section}: FAILED: ${(err as Error).message}`);
    }
  };

  await attempt('ingest', async () => {
    results.ingest = await runIngest({
      agents: 1000,
      reps: quick ? 1 : 3,
      warmupMs: quick ? 1500 : 3000,
      windowMs: quick ? 4000 : 10_000,
      profile,
      profileDir,
    });
  });
  await attempt('scale', async () => {
    results.scale = await runScale({
      steps: quick ? [1000] : [1000, 5000, 10_000],
      perLoadgen: 5000,
      bare: !quick,
      // Long enough to hold one pass of the alerts' silence check (every 10 s).
      idleMs: quick ? 3000 : 12_000,
    });
  });
  if (only.has('evaluation') || only.has('store')) {
    await attempt(only.has('evaluation') ? 'evaluation' : 'store', async () => {
      results.data = await runData({
        hosts: 2000,
        guestsPerHost: 50,
        reloadReps: quick ? 1 : 3,
        profile,
        profileDir,
        dayIntervals: 1440,
      });
    });
  }
  await attempt('freshness', async () => {
    results.freshness = await runFreshness({ edits: quick ? 3 : 10 });
  });
  await attempt('agent', async () => {
    results.idleNodeRssMiB = await idleNodeRssMiB();
    results.agent = await runAgentFootprint({ sizes: [10, 100, 500], scans: quick ? 2 : 5 });
    results.agentIdle = await runAgentIdle({ windowSec: quick ? 15 : 45 });
  });

  await attempt('postgres', async () => {
    results.postgres = await runPostgres({
      // Not the ingest section's 1,000: a collector on PostgreSQL stores ~150 snapshots/s and a host's
      // first snapshot (all inserts) takes ~110 ms, so 1,000 agents would need ~2 minutes before a
      // window opens, and every ack would queue ~7 s behind the others. (The bench's collector lifts
      // the per-connection frame limit, which 200 agents at 5 frames/s each would hit.)
      agents: quick ? 100 : 200,
      warmupMs: quick ? 1500 : 3000,
      windowMs: quick ? 4000 : 10_000,
      reevaluation: quick ? { hosts: 100, guestsPerHost: 50 } : { hosts: 400, guestsPerHost: 50 },
    });
  });

  results.durationSec = Math.round((performance.now() - started) / 1000);
  const suffix = quick ? '-quick' : '';
  const here = path.join(REPO, 'test/bench');
  writeFileSync(path.join(here, `results${suffix}.json`), `${JSON.stringify(results, null, 2)}\n`);
  const notesFile = path.join(here, 'NOTES.md');
  const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : '';
  const md = renderResults(results, notes);
  writeFileSync(path.join(here, `RESULTS${suffix}.md`), md);
  const headline = md.split('\n').find((l) => l.startsWith('ingest ratio:'));
  process.stdout.write(`${headline ?? 'ingest ratio: not measured'}\n`);
  process.stdout.write(
    `written: test/bench/RESULTS${suffix}.md, test/bench/results${suffix}.json (${results.durationSec} s)\n`,
  );
  if (Object.keys(results.errors).length) {
    process.stdout.write(`sections that failed: ${Object.keys(results.errors).join(', ')}\n`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
