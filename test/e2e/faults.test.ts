import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DemoGuest, nodeXml } from '../../collector/src/demo/fleet.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

const OS_RELEASE =
  'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="9.2"\nPRETTY_NAME="Red Hat Enterprise Linux 9.2 (Plow)"\n';

let dir: string;
const children: ReturnType<typeof startCli>[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function guests(n: number, osinfo = 'http://redhat.com/rhel/9.2'): DemoGuest[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `vm${String(i).padStart(3, '0')}`,
    uuid: `5a0c7e10-0000-4000-8000-${String(i).padStart(12, '0')}`,
    osinfo,
    memoryMiB: 1024,
    vcpus: 1,
    running: true,
  }));
}

function writeHost(name: string, list: DemoGuest[]): string {
  const hostDir = path.join(dir, name);
  mkdirSync(path.join(hostDir, 'root', 'etc'), { recursive: true });
  writeFileSync(path.join(hostDir, 'root', 'etc', 'os-release'), OS_RELEASE);
  writeFileSync(path.join(hostDir, 'node.xml.tmp'), nodeXml({ name, osRelease: OS_RELEASE, guests: list }));
  renameSync(path.join(hostDir, 'node.xml.tmp'), path.join(hostDir, 'node.xml'));
  return hostDir;
}

async function report(db: string) {
  const r = await runCli(COLLECTOR_CLI, ['report', '--db', db, '--format', 'json']);
  if (r.code !== 0) return { hosts: [], guests: [] };
  return JSON.parse(r.stdout) as {
    hosts: { hostname: string }[];
    guests: { host: string; name: string; removedAt: string | null; os: { id: string } | null }[];
  };
}

function serve(db: string, port: number) {
  const c = startCli(COLLECTOR_CLI, ['serve', '--db', db, '--listen', `127.0.0.1:${port}`, '--interval', '1'], {
    HVMAP_LOG_LEVEL: 'warn',
  });
  children.push(c);
  return c;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-faults-'));
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c, 'SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

describe('faults', () => {
  it('survives SIGKILL of the collector mid-ingest: the database opens cleanly and the map equals the hosts', async () => {
    const db = path.join(dir, 'hvmap.db');
    const port = await freePort();
    const hosts = ['kvm-a', 'kvm-b', 'kvm-c'];
    const tokens: string[] = [];
    for (const h of hosts) {
      const created = await runCli(COLLECTOR_CLI, ['tokens', 'create', h, '--db', db]);
      expect(created.code).toBe(0);
      tokens.push(created.stdout.trim());
    }
    let collector = serve(db, port);
    await waitFor(
      () => collector.output(),
      (o) => o.includes('hvmap collector on'),
      15_000,
      'the collector to listen',
    );
    hosts.forEach((h, i) => {
      const hostDir = writeHost(h, guests(60));
      children.push(
        startCli(
          AGENT_CLI,
          [
            'run',
            '--collector',
            `ws://127.0.0.1:${port}/agent`,
            '--libvirt-uri',
            `test://${path.join(hostDir, 'node.xml')}`,
            '--state-dir',
            path.join(hostDir, 'state'),
            '--interval',
            '1',
            '--root',
            path.join(hostDir, 'root'),
          ],
          { HVMAP_TOKEN: tokens[i] },
        ),
      );
    });
    await waitFor(
      () => report(db),
      (r) => r.guests.length === 180,
      30_000,
      'all guests stored',
    );

    // Change every host (so snapshots are in flight) and kill the collector without warning.
    for (const h of hosts) writeHost(h, guests(60, 'http://redhat.com/rhel/9.4'));
    await new Promise((r) => setTimeout(r, 300));
    await stopProcess(collector, 'SIGKILL');
    for (const [i, h] of hosts.entries()) {
      writeHost(h, [...guests(59, 'http://redhat.com/rhel/9.4'), ...guests(62).slice(60 + (i % 2))]);
    }

    collector = serve(db, port);
    const final = await waitFor(
      () => report(db),
      (r) => {
        const present = r.guests.filter((g) => !g.removedAt);
        // Each host: vm000-vm058 upgraded to 9.4, vm059 gone, and one or two new guests on 9.2.
        return present.length === 3 * 59 + 2 + 1 + 2 && present.filter((g) => g.os?.id === 'rhel-9.4').length === 177;
      },
      30_000,
      'the map to equal the hosts after the restart',
    );
    expect(final.hosts).toHaveLength(3);
    expect(final.guests.filter((g) => g.removedAt).map((g) => g.name)).toEqual(['vm059', 'vm059', 'vm059']);
    const check = new Database(db, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  }, 90_000);
});
