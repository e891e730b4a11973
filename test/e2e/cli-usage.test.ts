/** The CLI's answers to the mistakes a newcomer makes first: exit 2 with what it takes, or a note. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { connectPeer } from '../helpers/agent-peer.js';
import { useCollector, welcomedAgent } from '../helpers/collector.js';
import { inventory, testFleet } from '../helpers/fleet.js';
import { COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

const test = useCollector();

describe('bad usage is answered with exit 2 and what is accepted', () => {
  it.each([
    [['check', '--hypervisor', 'RHEL 9.2 KVM', '--guest', 'RHEL 9.2', '--date', '2026-13-45'], /calendar date/],
    [
      ['check', '--hypervisor', ' ', '--guest', 'RHEL 9.2'],
      /--hypervisor is empty: give the hypervisor as .*"RHEL 9.2 KVM"/,
    ],
    [['report', '--collector', '127.0.0.1:8643'], /--collector must be the collector's http\(s\) URL/],
    [['alerts', '--collector', 'ws://127.0.0.1:8643/agent'], /--collector must be the collector's http\(s\) URL/],
  ])('hvmap %j', async (args, message) => {
    const r = await runCli(COLLECTOR_CLI, args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('check says what it takes when it cannot identify a text', async () => {
    const r = await runCli(COLLECTOR_CLI, ['check', '--hypervisor', 'my box', '--guest', 'Ubuntu 22.04.3 LTS']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^hint: +give the hypervisor as a person or tool writes it/m);
  });
});

describe('the database', () => {
  it('no command but serve makes a database where there is none, unless told --create', async () => {
    const db = path.join(test.dir, 'nodir', 'hvmap.db');
    for (const args of [
      ['tokens', 'create', 'kvm-01', '--db', db],
      ['tokens', 'list', '--db', db],
      ['report', '--db', db],
      ['alerts', '--db', db],
      ['catalog', 'gaps', '--db', db],
    ]) {
      const r = await runCli(COLLECTOR_CLI, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(`no database at ${db}: give the --db that hvmap serve uses`);
    }
    expect((await runCli(COLLECTOR_CLI, ['report', '--db', db])).stderr).toContain('or --collector URL');
    expect((await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-01', '--db', db])).stderr).toContain('or --create');
    expect(existsSync(path.dirname(db))).toBe(false);

    const r = await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-01', '--db', db, '--create']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^hvm_/);
    expect(r.stderr).toContain(`created a new database at ${db}: serve it with hvmap serve --db ${db}`);
    const again = await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-02', '--db', db]);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('');
  });

  it('refuses, by name, a --db that is not an hvmap database, and leaves it as it was', async () => {
    const folder = path.join(test.dir, 'a-folder');
    mkdirSync(folder);
    const text = path.join(test.dir, 'notes.txt');
    writeFileSync(text, 'not a database\n');
    const other = path.join(test.dir, 'other.sqlite');
    const otherDb = new Database(other);
    otherDb.exec('CREATE TABLE schema_migrations (version TEXT PRIMARY KEY); CREATE TABLE users (id INTEGER)');
    otherDb.close();
    // Another program's table of the same name, without a version column.
    const otherShape = path.join(test.dir, 'other-shape.sqlite');
    const otherShapeDb = new Database(otherShape);
    otherShapeDb.exec('CREATE TABLE schema_migrations (id INTEGER)');
    otherShapeDb.close();
    const newer = path.join(test.dir, 'newer.db');
    await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-01', '--db', newer, '--create']);
    const newerDb = new Database(newer);
    newerDb.prepare("INSERT INTO schema_migrations VALUES (999, 'from the future', '2030-01-01')").run();
    newerDb.close();
    const cases: [string, RegExp][] = [
      [folder, /is not a file: --db takes a database file/],
      [text, /is not an hvmap database \(not an SQLite file\)/],
      [other, /is an SQLite database but not hvmap's \(tables: schema_migrations, users\)/],
      [otherShape, /is an SQLite database but not hvmap's \(tables: schema_migrations\)/],
      [newer, /was written by a newer hvmap \(schema version 999; this one knows up to \d+\)/],
    ];
    for (const [file, message] of cases) {
      const before = readFileSync(file === folder ? text : file);
      for (const args of [
        ['report', '--db', file],
        ['tokens', 'create', 'x', '--db', file, '--create'],
        ['serve', '--db', file, '--listen', '127.0.0.1:0'],
      ]) {
        const r = await runCli(COLLECTOR_CLI, args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(`hvmap: ${file}`);
        expect(r.stderr).toMatch(message);
      }
      expect(readFileSync(file === folder ? text : file)).toEqual(before);
    }
  });

  it('serve on a busy port leaves no database behind', async () => {
    const db = path.join(test.dir, 'busy', 'deeper', 'hvmap.db');
    const port = new URL(test.collector.url).port;
    const r = await runCli(COLLECTOR_CLI, ['serve', '--db', db, '--listen', `127.0.0.1:${port}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/in use|EADDRINUSE/);
    expect(existsSync(path.join(test.dir, 'busy'))).toBe(false);
  });

  it('report --db shows an agent the collector holds as connected', async () => {
    const peer = await welcomedAgent(test.collector, 'kvm-07');
    const r = await runCli(COLLECTOR_CLI, [
      'report',
      '--db',
      path.join(test.dir, 'hvmap.db'),
      '--view',
      'agents',
      '--format',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).items).toEqual([expect.objectContaining({ name: 'kvm-07', connected: true })]);
    peer.ws.close();
  });
});

describe('hvmap alerts', () => {
  it('shows each alert key in its table, and silence takes it from there', async () => {
    const host = testFleet()[0];
    const peer = await welcomedAgent(test.collector, host.agent, host.hostname);
    peer.send(inventory(host, 1));
    await peer.next('ack');
    const db = path.join(test.dir, 'hvmap.db');
    const table = await runCli(COLLECTOR_CLI, ['alerts', '--db', db]);
    expect(table.code, table.stderr).toBe(0);
    const header = table.stdout.split('\n').find((l) => l.includes('severity')) as string;
    expect(
      header
        .trim()
        .split(/\s*│\s*|\s{2,}/)
        .filter(Boolean)
        .at(-1),
    ).toBe('key');
    const key = /(guest-os-unknown\|kvm-01\|[0-9a-f-]+)/.exec(table.stdout)?.[1] as string;
    expect(key).toBeTruthy();
    const silenced = await runCli(COLLECTOR_CLI, ['alerts', 'silence', key, '--for', '2h', '--db', db]);
    expect(silenced.code, silenced.stderr).toBe(0);
    expect(silenced.stdout).toContain(`silenced ${key} until`);
    const unknown = await runCli(COLLECTOR_CLI, ['alerts', 'silence', 'no|such|key', '--for', '2h', '--db', db]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('hvmap alerts shows each key in its last column');
    peer.ws.close();
  });
});

describe('hvmap serve says what happens', () => {
  it('logs an agent that disconnects, and its own shutdown', async () => {
    const db = path.join(test.dir, 'served.db');
    const token = (await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-05', '--db', db, '--create'])).stdout.trim();
    const serve = startCli(COLLECTOR_CLI, ['serve', '--db', db, '--listen', '127.0.0.1:0']);
    try {
      const out = await waitFor(
        () => serve.output(),
        (o) => o.includes('hvmap collector on'),
        15_000,
        'the collector',
      );
      const url = /hvmap collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
      const peer = await connectPeer(`${url.replace('http', 'ws')}/agent`, token);
      peer.send({ type: 'hello', protocol: 1, agentId: 'kvm-05-id', agentVersion: '0.1.0', hostname: 'kvm-05' });
      await peer.next('welcome');
      peer.ws.close(1000, 'bye');
      await waitFor(
        () => serve.output(),
        (o) => o.includes('"msg":"agent disconnected"'),
        10_000,
        'the disconnect line',
      );
      await stopProcess(serve);
      expect(serve.output()).toMatch(/"signal":"SIGTERM".*"msg":"shutting down"/);
      expect(serve.output()).toContain('"msg":"stopped"');
    } finally {
      await stopProcess(serve);
    }
  });
});

describe('hvmap agent-bundle', () => {
  it('writes the single-file agent, which runs on its own', async () => {
    const out = path.join(test.dir, 'bundle');
    const r = await runCli(COLLECTOR_CLI, ['agent-bundle', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const scan = await runCli(path.join(out, 'dist', 'hvmap-agent.js'), [
      'scan',
      '--driver',
      'libvirt',
      '--libvirt-uri',
      'test:///default',
      '--json',
    ]);
    expect(scan.code, scan.stderr).toBe(0);
    expect(JSON.parse(scan.stdout).guests.map((g: { name: string }) => g.name)).toEqual(['test']);
  });
});
