/** The CLI's answers to the mistakes a newcomer makes first: exit 2 with what it takes, or a note. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectPeer } from '../helpers/agent-peer.js';
import { useCollector, welcomedAgent } from '../helpers/collector.js';
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
  it('tokens create says when it made a new database, so a mistyped --db is seen', async () => {
    const db = path.join(test.dir, 'nodir', 'hvmap.db');
    const r = await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-01', '--db', db]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^hvm_/);
    expect(r.stderr).toContain(`there was no database at ${db}: created it`);
    const again = await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-02', '--db', db]);
    expect(again.stderr).toBe('');
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

describe('hvmap serve says what happens', () => {
  it('logs an agent that disconnects, and its own shutdown', async () => {
    const db = path.join(test.dir, 'served.db');
    const token = (await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-05', '--db', db])).stdout.trim();
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
