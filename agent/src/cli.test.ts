import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Guest } from '@hvmap/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { type CliIo, main } from './cli.js';
import { AGENT_VERSION } from './config.js';
import { DriverError } from './drivers/driver.js';
import type { DriverEntry, DriverSettings } from './drivers/index.js';
import type { IdentifiedInventory } from './report.js';

const rhel92: Guest = {
  uuid: '7b1c0d2e-0000-4000-8000-000000000001',
  name: 'web1',
  state: 'running',
  os: {
    evidence: [
      {
        source: 'guest-agent',
        text: 'Red Hat Enterprise Linux 9.2 (Plow)',
        fields: { id: 'rhel', 'version-id': '9.2' },
      },
      { source: 'libosinfo', text: 'http://redhat.com/rhel/9.2' },
    ],
  },
};

/** A registry with one fake driver that records the settings it was made with. */
function registry(behaviour: 'ok' | 'missing' = 'ok') {
  const made: DriverSettings[] = [];
  const entry: DriverEntry = {
    name: 'fake',
    create(settings) {
      made.push(settings);
      return {
        name: 'fake',
        detect: async () => behaviour === 'ok',
        hypervisor: async () => {
          if (behaviour === 'missing') throw new DriverError('VIRSH_NOT_FOUND', 'virsh was not found');
          return { driver: 'fake', product: 'kvm', hostOs: 'Red Hat Enterprise Linux 9.2 (Plow)' };
        },
        guests: async () => ({ guests: [rhel92], errors: [] }),
      };
    },
  };
  return { entries: [entry], made };
}

function io(env: NodeJS.ProcessEnv = {}, shutdown: Promise<void> = new Promise(() => undefined)) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env, shutdown: () => shutdown };
  return { cli, stdout: () => out.join(''), stderr: () => err.join('') };
}

describe('hvmap-agent', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hvmap-cli-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints help and version, exit 0', async () => {
    const help = io();
    expect(await main(['--help'], help.cli, registry().entries)).toBe(0);
    expect(help.stdout()).toContain('hvmap-agent run --collector URL');
    const version = io();
    expect(await main(['--version'], version.cli, registry().entries)).toBe(0);
    expect(version.stdout()).toBe(`${AGENT_VERSION}\n`);
  });

  it('exits 2 with a message on bad usage', async () => {
    const { cli, stderr } = io();
    expect(await main(['scan', '--driver', 'vmware'], cli, registry().entries)).toBe(2);
    expect(stderr()).toBe('hvmap-agent: --driver vmware is not a driver; expected auto or one of: fake\n');
  });

  it('scan --json prints the inventory with what the collector would identify, per guest and for the hypervisor', async () => {
    const { cli, stdout } = io();
    const fake = registry();
    expect(await main(['scan', '--json', '--libvirt-uri', 'qemu:///system'], cli, fake.entries)).toBe(0);
    const printed = JSON.parse(stdout()) as IdentifiedInventory;
    expect(fake.made).toEqual([{ libvirtUri: 'qemu:///system' }]);
    expect(printed).toMatchObject({ partial: false, errors: [], drivers: [{ driver: 'fake', ok: true, guests: 1 }] });
    expect(printed.guests[0]).toMatchObject({
      ...rhel92,
      identified: { known: true, source: 'guest-agent', os: { id: 'rhel-9.2', distro: 'rhel', version: '9.2' } },
    });
    expect(printed.hypervisor.identified).toMatchObject({ product: 'kvm', version: 'RHEL 9.2' });
    expect(printed.host.hostname.length).toBeGreaterThan(0);
  });

  it('scan prints a table for a person', async () => {
    const { cli, stdout } = io();
    expect(await main(['scan'], cli, registry().entries)).toBe(0);
    expect(stdout()).toMatch(/^hypervisor {2}kvm {2}\[driver fake\] {2}=> KVM on RHEL 9\.2/m);
    expect(stdout()).toMatch(/^web1 +running +Red Hat Enterprise Linux 9\.2 \(rhel-9\.2, from guest-agent\)/m);
  });

  it('scan exits 1 and shows the error when the named driver fails', async () => {
    const { cli, stdout } = io();
    expect(await main(['scan', '--driver', 'fake'], cli, registry('missing').entries)).toBe(1);
    expect(stdout()).toContain('VIRSH_NOT_FOUND [fake] virsh was not found');
  });

  it('scan --driver xen --replay DIR --json runs the real driver on the outputs captured in DIR', async () => {
    const { cli, stdout } = io();
    const dir = fileURLToPath(new URL('./drivers/xen/testcases/rhel5.4-xen-xm', import.meta.url));
    expect(await main(['scan', '--driver', 'xen', '--replay', dir, '--json'], cli)).toBe(0);
    const printed = JSON.parse(stdout()) as IdentifiedInventory;
    expect(printed.hypervisor).toMatchObject({ driver: 'xen', identified: { product: 'xen', version: 'RHEL 5.4' } });
    expect(printed.guests.map((g) => g.name)).toEqual(['rhel54-web', 'rhel4-db', 'win2008r2-app', 'rhel53-test']);
    expect(printed.guests[0].identified).toMatchObject({ known: true, os: { id: 'rhel-5.4' } });
    expect(printed.drivers).toEqual([expect.objectContaining({ driver: 'xen', ok: true, guests: 4 })]);
  });

  it('scan --replay exits 1 and says what is wrong with a folder that is no replay', async () => {
    const { cli, stderr } = io();
    expect(await main(['scan', '--driver', 'xen', '--replay', dir, '--json'], cli)).toBe(1);
    expect(stderr()).toMatch(/^hvmap-agent: cannot read .*commands\.json: ENOENT/);
  });

  it('run reports to the collector until shut down, then exits 0', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/agent' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const frames: { type: string; seq?: number }[] = [];
    const authorization: (string | undefined)[] = [];
    wss.on('connection', (ws, req) => {
      authorization.push(req.headers.authorization);
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString());
        frames.push(frame);
        if (frame.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', protocol: 1, interval: 60 }));
        if (frame.type === 'inventory') ws.send(JSON.stringify({ type: 'ack', seq: frame.seq }));
      });
    });
    const tokenFile = path.join(dir, 'token');
    await writeFile(tokenFile, 's3cret\n');
    let shutdown = () => {};
    const { cli } = io({}, new Promise<void>((resolve) => (shutdown = resolve)));
    try {
      const { port } = wss.address() as AddressInfo;
      const exit = main(
        [
          'run',
          ...['--collector', `ws://127.0.0.1:${port}`, '--token-file', tokenFile],
          ...['--state-dir', path.join(dir, 'state'), '--log-level', 'silent'],
        ],
        cli,
        registry().entries,
      );
      await vi.waitFor(() => expect(frames.map((f) => f.type)).toEqual(['hello', 'inventory']), { timeout: 5_000 });
      expect(authorization).toEqual(['Bearer s3cret']);
      shutdown();
      expect(await exit).toBe(0);
    } finally {
      await new Promise((resolve) => wss.close(resolve));
    }
  });

  it('run exits 1 with a message saying what to do when the state dir cannot be written', async () => {
    const blocker = path.join(dir, 'file');
    await writeFile(blocker, '');
    const { cli, stderr } = io({ HVMAP_TOKEN: 't' });
    const argv = ['run', '--collector', 'ws://127.0.0.1:9/agent', '--state-dir', path.join(blocker, 'state')];
    expect(await main(argv, cli, registry().entries)).toBe(1);
    expect(stderr()).toContain('pass --state-dir DIR');
  });
});
