/**
 * `--db postgres://…` through the command line against a real PostgreSQL server: hvmap serve stores
 * a real agent's snapshots there (real virsh, libvirt's test driver), and hvmap tokens and report
 * read and write the same database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentArgs, guests, writeHost } from '../helpers/kvm-host.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

const PASSWORD = 'pw-never-in-logs';

let server: TestPostgres;
let dir: string;
const children: ReturnType<typeof startCli>[] = [];

beforeAll(async () => {
  server = await startPostgres();
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-pg-e2e-'));
});
afterAll(async () => {
  await Promise.all(children.map((c) => stopProcess(c)));
  server?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('hvmap on PostgreSQL (--db postgres://…)', () => {
  it('serves a real agent into PostgreSQL, and the other commands read and write the same database', async () => {
    // The test server trusts loopback: any password is accepted, so the URL can carry one to prove
    // that no output repeats it.
    const db = (await server.createDatabase()).replace('postgres@', `postgres:${PASSWORD}@`);
    const created = await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-pg', '--db', db]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const token = created.stdout.trim();

    const collector = startCli(COLLECTOR_CLI, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--interval', '1']);
    children.push(collector);
    const url = await waitFor(
      async () => /agents: (ws:\/\/\S+?);/.exec(collector.output())?.[1],
      (u) => Boolean(u),
      15_000,
      'the collector listening',
    );

    const hostDir = writeHost(dir, 'kvm-pg', guests(1));
    const agent = startCli(AGENT_CLI, agentArgs(String(url), hostDir), { HVMAP_TOKEN: token });
    children.push(agent);

    const report = await waitFor(
      async () => {
        const r = await runCli(COLLECTOR_CLI, ['report', '--db', db, '--format', 'json']);
        return r.code === 0
          ? (JSON.parse(r.stdout) as { guests: { name: string; os: { id: string } | null }[] })
          : null;
      },
      (r) => (r?.guests.length ?? 0) > 0,
      20_000,
      'the guest in PostgreSQL',
    ).catch((err) => {
      throw new Error(`${err.message}\ncollector:\n${collector.output()}\nagent:\n${agent.output()}`);
    });
    expect(report?.guests.map((g) => [g.name, g.os?.id])).toEqual([['vm000', 'rhel-9.2']]);

    const agents = await runCli(COLLECTOR_CLI, ['tokens', 'list', '--db', db]);
    expect(agents.stdout).toContain('kvm-pg');
    expect(collector.output()).toContain(`postgres:***@127.0.0.1:${server.port}`);
    for (const out of [collector.output(), agent.output(), agents.stdout, agents.stderr])
      expect(out).not.toContain(PASSWORD);
  });

  it('says which server it cannot reach, with exit 2 and no password', async () => {
    const result = await runCli(COLLECTOR_CLI, [
      'report',
      '--db',
      `postgres://postgres:${PASSWORD}@127.0.0.1:${server.port + 1}/hvmap`,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot use PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/hvmap/);
    expect(result.stderr).not.toContain(PASSWORD);
  });
});
