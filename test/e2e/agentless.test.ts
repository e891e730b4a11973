/**
 * Agentless scans against a real sshd on 127.0.0.1, with the real virsh behind it: `hvmap scan --ssh`
 * reads the same inventory as `hvmap-agent scan` run on the host, and refuses a host key it does not
 * know or that changed, as `hvmap install` does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guests, writeHost } from '../helpers/kvm-host.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli } from '../helpers/processes.js';
import { freePort, keygen, startSshd, type TestSshd } from '../helpers/sshd.js';

let dir: string;
let sshd: TestSshd;
let uri: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-agentless-'));
  sshd = await startSshd(path.join(dir, 'sshd'));
  const host = writeHost(dir, 'kvm-ssh', [...guests(3), ...guests(5, 'http://microsoft.com/win/2k22').slice(3)]);
  uri = `test://${path.join(host, 'node.xml')}`;
}, 30_000);

afterAll(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const knownHosts = (line: string) => {
  const file = path.join(dir, `known_hosts-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, line);
  return file;
};
const sshArgs = (file: string) => [
  'scan',
  '--ssh',
  `root@127.0.0.1:${sshd.port}`,
  '--identity',
  sshd.userKey,
  '--known-hosts',
  file,
  '--driver',
  'libvirt',
  '--libvirt-uri',
  uri,
  '--json',
];
/** What two scans of one host must share: all but timings and the facts systeminformation adds. */
const comparable = (inv: {
  hypervisor: unknown;
  guests: unknown;
  errors: unknown;
  partial: boolean;
  host: { hostname: string; os: { kernel?: string; arch?: string } };
  drivers: { driver: string; ok: boolean; guests: number }[];
}) => ({
  hypervisor: inv.hypervisor,
  guests: inv.guests,
  errors: inv.errors,
  partial: inv.partial,
  hostname: inv.host.hostname,
  kernel: inv.host.os.kernel,
  drivers: inv.drivers.map(({ driver, ok, guests }) => ({ driver, ok, guests })),
});

describe('hvmap scan --ssh', () => {
  it('reads the inventory hvmap-agent scan reads on the host itself', async () => {
    const local = await runCli(AGENT_CLI, ['scan', '--driver', 'libvirt', '--libvirt-uri', uri, '--json']);
    expect(local.code, local.stderr).toBe(0);
    const remote = await runCli(COLLECTOR_CLI, sshArgs(knownHosts(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`)));
    expect(remote.code, remote.stderr).toBe(0);
    const [l, r] = [JSON.parse(local.stdout), JSON.parse(remote.stdout)];
    expect(r.guests).toHaveLength(5);
    expect(comparable(r)).toEqual(comparable(l));
  });

  it('refuses a host key known_hosts does not list, naming its fingerprint, and takes it once accepted', async () => {
    const empty = knownHosts('');
    const refused = await runCli(COLLECTOR_CLI, sshArgs(empty));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`unknown host key for [127.0.0.1]:${sshd.port}`);
    expect(refused.stderr).toContain(sshd.hostFingerprint);
    expect(refused.stderr).toContain('(HOST_KEY_UNKNOWN)');
    expect(refused.stdout).toBe('');
    const accepted = await runCli(COLLECTOR_CLI, [...sshArgs(empty), '--accept-fingerprint', sshd.hostFingerprint]);
    expect(accepted.code, accepted.stderr).toBe(0);
  });

  it('refuses a changed host key, even told to accept new ones', async () => {
    const other = keygen(path.join(dir, 'other_host_key'));
    const stale = knownHosts(`[127.0.0.1]:${sshd.port} ${readFileSync(`${other}.pub`, 'utf8').trim()}\n`);
    const r = await runCli(COLLECTOR_CLI, [...sshArgs(stale), '--accept-new-host-key']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('HOST KEY CHANGED');
    expect(r.stderr).toContain('(HOST_KEY_CHANGED)');
  });

  it('says which host it cannot reach, with a stable code', async () => {
    const port = await freePort();
    const r = await runCli(COLLECTOR_CLI, [
      'scan',
      '--ssh',
      `root@127.0.0.1:${port}`,
      '--identity',
      sshd.userKey,
      '--known-hosts',
      knownHosts(''),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`connection refused at 127\\.0\\.0\\.1:${port}.*\\(SSH_UNREACHABLE\\)`));
  });
});
