/**
 * README's set-up works in a fresh clone: the committed tree (HEAD), nothing built, no node_modules.
 * The test runs README's own set-up line (`npm ci && npm run build`; `npm ci` compiles better-sqlite3,
 * which takes minutes), then `npx hvmap --help` and `npx hvmap-agent --help` with the npm registry
 * made unreachable (a local bin answers, never a package of that name from the registry), README's
 * first command (`npm start`, the demo) for a few seconds, and a report against a collector it started.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const exec = promisify(execFile);
// Nothing listens on port 9: npx asking the registry for a package would fail, not find one.
const NO_REGISTRY = { npm_config_registry: 'http://127.0.0.1:9/', npm_config_fetch_retries: '0' };

let dir: string;
let clone: string;

/** Runs a shell line in the clone, as a reader would paste it. */
function sh(line: string, env: NodeJS.ProcessEnv = {}, timeout = 120_000) {
  return exec('sh', ['-c', line], { cwd: clone, env: { ...process.env, ...env }, timeout, maxBuffer: 64 << 20 });
}

/** A long-running command in a process group of its own: npm and npx run the CLI as their child. */
function spawnSh(line: string): ChildProcess & { output: () => string } {
  const child = spawn('sh', ['-c', `exec ${line}`], { cwd: clone, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return Object.assign(child, { output: () => output });
}

/** Signals the command's whole group and waits until none of it is left (SIGKILL after 10 s). */
async function stopGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  /** Whether the signal reached anyone of the group (signal 0: whether anyone is left). */
  const send = (sig: NodeJS.Signals | 0) => {
    try {
      process.kill(-(child.pid as number), sig);
      return true;
    } catch {
      return false;
    }
  };
  if (!send(signal)) return;
  const deadline = Date.now() + 10_000;
  while (send(0)) {
    if (Date.now() > deadline) send('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The set-up line README's "Running it for real" gives: the first fenced line that starts with npm. */
function readmeSetUp(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Running it for real'));
  const line = /```sh\n(npm [^\n]+)\n/.exec(section)?.[1];
  if (!line) throw new Error('README\'s "Running it for real" has no npm set-up line');
  return line;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-clone-'));
  clone = path.join(dir, 'hvmap');
  await exec('git', ['clone', '--quiet', ROOT, clone]);
  // The packages were just fetched for this run (.ci/run's npm ci): taken from npm's cache without
  // asking the registry again. What is tested is README's line in a clean tree, not the registry: a
  // run here waited on a revalidation request the registry never answered until this test's timeout.
  await sh(
    readmeSetUp(),
    { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_prefer_offline: 'true' },
    20 * 60_000,
  );
}, 21 * 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a fresh clone, after README set-up', () => {
  it('runs npx hvmap and npx hvmap-agent from the clone, never from the registry', async () => {
    expect(readmeSetUp()).toBe('npm ci && npm run build');
    const collector = await sh('npx hvmap --help', NO_REGISTRY);
    expect(collector.stdout).toContain('Usage: hvmap');
    const agent = await sh('npx hvmap-agent --help', NO_REGISTRY);
    expect(agent.stdout).toMatch(/hvmap-agent (run|scan)/);
  });

  it("runs README's first command: the demo shows its map", async () => {
    const demo = spawnSh('npm start -- --listen 127.0.0.1:0 --interval 1 --duration 20');
    try {
      const out = await waitFor(demo.output, (o) => /^map: 6 hosts/m.test(o), 60_000, 'the demo map');
      expect(out).toMatch(/^map: 6 hosts, \d+ guests/m);
    } finally {
      await stopGroup(demo, 'SIGINT');
    }
  }, 90_000);

  it('serves a database and reports from it', async () => {
    const serve = spawnSh('npx hvmap serve --db ./data/hvmap.db --listen 127.0.0.1:0');
    try {
      const out = await waitFor(serve.output, (o) => o.includes('hvmap collector on'), 30_000, 'the collector');
      const url = /hvmap collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
      const report = await sh(`npx hvmap report --collector ${url} --format json`, NO_REGISTRY);
      expect(JSON.parse(report.stdout)).toMatchObject({ hosts: [], guests: [] });
    } finally {
      await stopGroup(serve);
    }
  }, 60_000);
});
