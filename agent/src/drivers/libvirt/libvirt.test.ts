import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOsRelease } from '@hvmap/shared';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { caseOrigin } from '../../../../test/helpers/replay-cases.js';
import { localRunner, localStream, type Runner, type RunResult } from '../../runner.js';
import { hypervisorProduct, libvirtDriver } from './libvirt.js';
import {
  parseCapabilities,
  parseDomainXml,
  parseGuestInfoOs,
  parseNodeinfo,
  parseQemuAgentOsinfo,
  parseUuidList,
  parseVirshEvent,
  parseVirshState,
  parseVirshVersion,
  splitDomainXml,
} from './parse.js';

const TESTCASES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testcases');
const CORPUS = path.join(TESTCASES, 'corpus');
const HOST_ROOT = path.join(TESTCASES, 'rhel9-host');
const read = (...parts: string[]) => readFileSync(path.join(TESTCASES, ...parts), 'utf8');

/** Which parser reads a case file, by the file's name: `<kind>[+<kind>][_<label>].<ext>`. */
const PARSERS: Record<string, (text: string) => unknown> = {
  'list-uuid': parseUuidList,
  domstate: parseVirshState,
  dumpxml: (text) => splitDomainXml(text).map(parseDomainXml),
  version: parseVirshVersion,
  nodeinfo: parseNodeinfo,
  capabilities: parseCapabilities,
  'guestinfo-os': parseGuestInfoOs,
  'qemu-agent-osinfo': parseQemuAgentOsinfo,
  'os-release': parseOsRelease,
  events: (text) => text.split('\n').map(parseVirshEvent),
};

function parsersOf(file: string): [string, (text: string) => unknown][] {
  const kinds = path
    .basename(file)
    .replace(/\.(txt|xml|json)$/, '')
    .split('_')[0]
    .split('+');
  return kinds.map((kind) => {
    if (!PARSERS[kind])
      throw new Error(`${file}: no parser for "${kind}"; name it after one of ${Object.keys(PARSERS).join(', ')}`);
    return [kind, PARSERS[kind]];
  });
}

describe('libvirt parsers on their test cases', () => {
  const cases = readdirSync(TESTCASES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'corpus')
    .map((d) => d.name);

  it.each(cases.map((name) => [name, caseOrigin(path.join(TESTCASES, name))]))(
    'reads the %s case (%s) as its expected.json says',
    (name) => {
      const files = readdirSync(path.join(TESTCASES, name), { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile() && d.name !== 'ORIGIN' && d.name !== 'expected.json')
        .map((d) => path.relative(path.join(TESTCASES, name), path.join(d.parentPath, d.name)))
        .sort();
      const actual: Record<string, Record<string, unknown>> = {};
      for (const file of files) {
        actual[file] = Object.fromEntries(parsersOf(file).map(([kind, parse]) => [kind, parse(read(name, file))]));
      }
      // JSON round trip: the golden file holds no undefined members.
      const normalized = JSON.parse(JSON.stringify(actual));
      const expectedFile = path.join(TESTCASES, name, 'expected.json');
      if (process.env.UPDATE_FIXTURES === '1') writeFileSync(expectedFile, `${JSON.stringify(normalized, null, 2)}\n`);
      expect(normalized).toEqual(JSON.parse(readFileSync(expectedFile, 'utf8')));
    },
  );

  it('maps every virsh domain state onto the shared vocabulary, in list and domstate alike', () => {
    const words = [
      'running',
      'idle',
      'paused',
      'in shutdown',
      'shut off',
      'crashed',
      'pmsuspended',
      'no state',
      'dying',
    ];
    const states = [
      'running',
      'running',
      'paused',
      'stopping',
      'shutoff',
      'crashed',
      'suspended',
      'unknown',
      'unknown',
    ];
    expect(words.map((word) => parseVirshState(`${word}\n\n`))).toEqual(states);
  });

  it("honours libvirt's memory units and prefers the current vcpu count", () => {
    const domain = (memory: string, vcpu = '<vcpu>2</vcpu>') =>
      parseDomainXml(`<domain type="kvm"><name>a</name><uuid>u</uuid>${memory}${vcpu}</domain>`);
    expect(domain('<memory>1024</memory>').memoryBytes).toBe(1024 * 1024);
    expect(domain('<memory unit="b">1024</memory>').memoryBytes).toBe(1024);
    expect(domain('<memory unit="KB">1</memory>').memoryBytes).toBe(1000);
    expect(domain('<memory unit="MiB">2048</memory>').memoryBytes).toBe(2 * 1024 ** 3);
    expect(domain('<memory unit="G">4</memory>').memoryBytes).toBe(4 * 1024 ** 3);
    expect(domain('<memory unit="GB">4</memory>').memoryBytes).toBe(4e9);
    expect(domain('<memory>1</memory>', '<vcpu current="2">8</vcpu>').vcpus).toBe(2);
  });

  it('finds the libosinfo id, UEFI firmware and the final document of a virt-install pair', () => {
    const [install, final] = splitDomainXml(read('virt-install', 'dumpxml_kvm-win10.xml')).map(parseDomainXml);
    expect(install.name).toBe(final.name);
    expect(final).toMatchObject({ libosinfoId: 'http://microsoft.com/win/10', domainType: 'kvm', osType: 'hvm' });
    const win11 = parseDomainXml(read('virt-install', 'dumpxml_aarch64-win11.xml'));
    expect(win11).toMatchObject({
      firmware: 'efi',
      arch: 'aarch64',
      machine: 'virt',
      libosinfoId: 'http://microsoft.com/win/11',
    });
  });

  it('decodes named and numeric character references in a domain name', () => {
    const xml = '<domain type="kvm"><name>caf&#233; &amp; &apos;b&#x4e2d;&apos;</name><uuid>u</uuid></domain>';
    expect(parseDomainXml(xml).name).toBe("café & 'b中'");
  });

  it('refuses text that is not one libvirt domain', () => {
    expect(() => parseDomainXml('<capabilities/>')).toThrow(/not a libvirt domain/);
    expect(() => parseDomainXml(read('virt-install', 'dumpxml_kvm-centos7.xml'))).toThrow(/not a libvirt domain/);
  });

  it('reads a guest agent reply only when it is JSON', () => {
    expect(parseQemuAgentOsinfo('{"error":')).toBeNull();
    expect(parseQemuAgentOsinfo('[1]')).toBeNull();
  });
});

describe('hypervisorProduct', () => {
  const offered = (name: string) => parseCapabilities(read(name, 'capabilities.xml')).domainTypes;

  it('calls a QEMU host kvm when its capabilities offer KVM guests, qemu when only TCG', () => {
    expect(hypervisorProduct('QEMU', offered('skylake-kvm-x86_64'), [])).toBe('kvm');
    expect(hypervisorProduct('QEMU', ['qemu'], [])).toBe('qemu');
  });

  it('calls a QEMU host qemu when its running guests all run under TCG, though it offers KVM', () => {
    const kvmHost = offered('skylake-kvm-x86_64');
    expect(hypervisorProduct('QEMU', kvmHost, ['qemu'])).toBe('qemu');
    expect(hypervisorProduct('QEMU', kvmHost, ['qemu', 'kvm'])).toBe('kvm');
    expect(hypervisorProduct('QEMU', kvmHost, ['kvm'])).toBe('kvm');
  });

  it('calls a Xen connection xen', () => {
    expect(hypervisorProduct('Xen', offered('rhel5.4-xen'), [])).toBe('xen');
  });

  it('lets domains that all say kvm (or all xen) decide, as on a test-driver demo host', () => {
    expect(hypervisorProduct('TEST', offered('libvirt-9.0-test-driver'), ['kvm', 'kvm'])).toBe('kvm');
    expect(hypervisorProduct('TEST', offered('libvirt-9.0-test-driver'), ['xen'])).toBe('xen');
    expect(hypervisorProduct('TEST', offered('libvirt-9.0-test-driver'), ['kvm', 'qemu'])).toBe('test');
    expect(hypervisorProduct('TEST', offered('libvirt-9.0-test-driver'), [])).toBe('test');
  });

  it("names other connections by libvirt's own hypervisor type", () => {
    expect(hypervisorProduct('LXC', offered('lxc-host'), ['lxc'])).toBe('lxc');
    expect(hypervisorProduct('ESX', [], [])).toBe('esxi');
  });
});

/** One row of the corpus SOURCES.md table. */
interface CorpusRow {
  node: string;
  name: string;
  uuid: string;
  libosinfo: string;
}

const corpusRows: CorpusRow[] = [
  ...read('corpus', 'SOURCES.md').matchAll(/^\| (node-\d+\.xml) \| (\S+) \| (\S+) \| (\S*) \|/gm),
].map((m) => ({ node: m[1], name: m[2], uuid: m[3], libosinfo: m[4] }));
const nodeFiles = readdirSync(CORPUS).filter((f) => /^node-\d+\.xml$/.test(f));
const uriOf = (file: string) => `test://${file}`;

/** What virsh itself says of a domain's vCPUs and maximum memory: the check on the driver's XML reading. */
async function dominfo(uri: string, uuid: string): Promise<{ vcpus: number; memoryBytes: number }> {
  const { stdout } = await localRunner().run('virsh', ['-r', '-c', uri, 'dominfo', uuid]);
  return {
    vcpus: Number(/^CPU\(s\):\s+(\d+)/m.exec(stdout)?.[1]),
    memoryBytes: Number(/^Max memory:\s+(\d+) KiB/m.exec(stdout)?.[1]) * 1024,
  };
}

const tmp = mkdtempSync(path.join(tmpdir(), 'hvmap-libvirt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a node file for the test driver from `<domain>` documents. */
function nodeFile(name: string, domains: string[]): string {
  const file = path.join(tmp, name);
  writeFileSync(file, `<node>\n${domains.join('\n')}\n</node>\n`);
  return file;
}

describe('libvirt driver with the real virsh on the test driver corpus', () => {
  it('has the corpus its SOURCES.md describes: 161 domains, 95 with a libosinfo id', () => {
    expect(corpusRows).toHaveLength(161);
    expect(corpusRows.filter((r) => r.libosinfo)).toHaveLength(95);
  });

  it.each(nodeFiles)('reports every domain of %s with its UUID, state, size and libosinfo id', async (node) => {
    const file = path.join(CORPUS, node);
    const domainCount = readFileSync(file, 'utf8').match(/^<domain[\s>]/gm)?.length;
    const rows = corpusRows.filter((r) => r.node === node);
    expect(rows).toHaveLength(domainCount ?? -1);

    const { guests, errors } = await libvirtDriver({ uri: uriOf(file) }).guests(localRunner());
    expect(errors).toEqual([]);
    expect(guests.map((g) => [g.name, g.uuid]).sort()).toEqual(rows.map((r) => [r.name, r.uuid]).sort());
    for (const row of rows) {
      const guest = guests.find((g) => g.uuid === row.uuid);
      expect(guest?.state).toBe('running');
      expect({ vcpus: guest?.vcpus, memoryBytes: guest?.memoryBytes }).toEqual(await dominfo(uriOf(file), row.uuid));
      const expectedEvidence = [
        ...(row.libosinfo ? [{ source: 'libosinfo', text: row.libosinfo }] : []),
        { source: 'name-hint', text: row.name },
      ];
      expect(guest?.os.evidence).toEqual(expectedEvidence);
      // libvirt's test driver has no guest agent to ask.
      expect(guest?.os.reason).toBe('not_supported');
    }
  });

  it('reports a test-driver host with domains of mixed types as the test driver', async () => {
    const hypervisor = await libvirtDriver({ uri: uriOf(path.join(CORPUS, 'node-03.xml')) }).hypervisor(
      localRunner({ root: HOST_ROOT }),
    );
    expect(hypervisor).toMatchObject({ driver: 'libvirt', product: 'test', version: '0.0.2' });
  });

  it('reports a test-driver host whose domains are all kvm as a kvm host, with the host OS from os-release', async () => {
    const kvmOnly = splitDomainXml(read('corpus', 'node-03.xml')).filter((d) => d.startsWith('<domain type="kvm"'));
    const driver = libvirtDriver({ uri: uriOf(nodeFile('kvm-only.xml', kvmOnly)) });
    const hypervisor = await driver.hypervisor(localRunner({ root: HOST_ROOT }));
    const osRelease = parseOsRelease(read('rhel9-host', 'etc', 'os-release'));
    expect(hypervisor).toEqual({
      driver: 'libvirt',
      product: 'kvm',
      version: '0.0.2',
      managementStack: expect.stringMatching(/^libvirt \d+\.\d+\.\d+ \(test driver\)$/),
      hostOs: osRelease.PRETTY_NAME,
      hostOsFields: {
        ID: 'rhel',
        VERSION_ID: osRelease.VERSION_ID,
        NAME: osRelease.NAME,
        PRETTY_NAME: osRelease.PRETTY_NAME,
      },
    });
  });

  it('reports names with spaces, quotes and non-ASCII letters exactly as libvirt holds them', async () => {
    const names = ['serveur comptabilité', `it's "quoted"; x\\y $z`, '-dash', '数据库'];
    const [template] = splitDomainXml(read('corpus', 'node-07.xml'));
    const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
    const docs = names.map((name, i) =>
      template
        .replace(/<name>[^<]*<\/name>/, `<name>${xmlText(name)}</name>`)
        .replace(/<uuid>[^<]*<\/uuid>/, `<uuid>00000000-0000-4000-8000-00000000000${i}</uuid>`),
    );
    const { guests, errors } = await libvirtDriver({ uri: uriOf(nodeFile('names.xml', docs)) }).guests(localRunner());
    expect(errors).toEqual([]);
    expect(guests.map((g) => g.name).sort()).toEqual([...names].sort());
  });

  it('detects a reachable libvirt connection', async () => {
    expect(await libvirtDriver({ uri: uriOf(path.join(CORPUS, 'node-07.xml')) }).detect(localRunner())).toBe(true);
    expect(await libvirtDriver({ uri: 'test:///no/such/node.xml' }).detect(localRunner())).toBe(false);
  });

  it('rejects with VIRSH_FAILED, naming the URI, when libvirt refuses the connection', async () => {
    const driver = libvirtDriver({ uri: 'test:///no/such/node.xml' });
    await expect(driver.guests(localRunner())).rejects.toMatchObject({
      code: 'VIRSH_FAILED',
      message: expect.stringContaining('test:///no/such/node.xml'),
    });
  });
});

type Override = (args: readonly string[]) => RunResult | undefined | Promise<RunResult | undefined>;

/** The real virsh, except for the calls `override` answers: replayed failures and guest agent replies. */
function standIn(override: Override): Runner & { calls: string[][] } {
  const real = localRunner();
  const calls: string[][] = [];
  return {
    calls,
    async run(program, args, options) {
      calls.push([...args]);
      return (await override(args)) ?? real.run(program, args, options);
    },
    readFile: real.readFile,
  };
}

const NODE_07 = path.join(CORPUS, 'node-07.xml');
const node07 = corpusRows.filter((r) => r.node === 'node-07.xml');
const fail = (stderr: string): RunResult => ({ stdout: '', stderr: `error: ${stderr}\n`, code: 1 });

/** The commands of a batch describing domains (echo, dumpxml, domstate), when these arguments are one. */
function describeBatch(args: readonly string[]): string[] | undefined {
  const script = args.at(-1) ?? '';
  return script.includes('dumpxml --domain') ? script.split(' ; ') : undefined;
}

/** Runs a describing batch through the real virsh with only the given commands. */
function realBatch(args: readonly string[], commands: string[]): Promise<RunResult> {
  return localRunner().run('virsh', [...args.slice(0, -1), commands.join(' ; ')]);
}

describe('libvirt driver replaying failures', () => {
  const driver = libvirtDriver({ uri: uriOf(NODE_07) });

  it('says virsh is missing: detect is false, hypervisor() and guests() reject with VIRSH_NOT_FOUND', async () => {
    const missing: Runner = {
      run: async () => ({ stdout: '', stderr: '', code: null, error: 'ENOENT' }),
      readFile: async () => null,
    };
    const notFound = { code: 'VIRSH_NOT_FOUND', message: expect.stringContaining('libvirt-clients') };
    expect(await driver.detect(missing)).toBe(false);
    await expect(driver.hypervisor(missing)).rejects.toMatchObject(notFound);
    await expect(driver.guests(missing)).rejects.toMatchObject(notFound);
  });

  it('skips a domain that vanished between list and dumpxml with DOMAIN_VANISHED, and reports the rest', async () => {
    const gone = '00000000-0000-4000-8000-00000000dead';
    const run = standIn(async (args) => {
      if (!args.includes('list')) return undefined;
      const real = await localRunner().run('virsh', args);
      return { ...real, stdout: `${real.stdout.trimEnd()}\n${gone}\n\n` };
    });
    const { guests, errors } = await driver.guests(run);
    expect(guests).toHaveLength(node07.length);
    expect(errors).toEqual([
      {
        driver: 'libvirt',
        code: 'DOMAIN_VANISHED',
        guest: gone,
        message: expect.stringContaining(`failed to get domain '${gone}'`),
      },
    ]);
  });

  it('reports DUMPXML_FAILED for the one domain whose dumpxml fails, and every other domain', async () => {
    const broken = node07[3];
    const run = standIn(async (args) => {
      const commands = describeBatch(args);
      if (!commands?.includes(`dumpxml --domain ${broken.uuid}`)) return undefined;
      const rest = await realBatch(
        args,
        commands.filter((c) => c !== `dumpxml --domain ${broken.uuid}`),
      );
      return { ...rest, stderr: `${rest.stderr}error: internal error: failed to format the domain XML\n` };
    });
    const { guests, errors } = await driver.guests(run);
    expect(guests.map((g) => g.name)).toEqual(node07.filter((r) => r !== broken).map((r) => r.name));
    expect(errors).toEqual([
      {
        driver: 'libvirt',
        code: 'DUMPXML_FAILED',
        guest: broken.uuid,
        message: expect.stringContaining('failed to format'),
      },
    ]);
  });

  it('reports COMMAND_TIMEOUT for the domains a hung dumpxml did not describe, and the ones it did', async () => {
    const hung = `dumpxml --domain ${node07[3].uuid}`;
    const run = standIn(async (args) => {
      const commands = describeBatch(args);
      if (!commands?.includes(hung)) return undefined;
      const before = await realBatch(args, commands.slice(0, commands.indexOf(hung)));
      return { stdout: before.stdout, stderr: '', code: null, error: 'TIMEOUT' };
    });
    const { guests, errors } = await driver.guests(run);
    expect(guests.map((g) => g.name)).toEqual(node07.slice(0, 3).map((r) => r.name));
    expect(errors.map((e) => [e.code, e.guest])).toEqual(node07.slice(3).map((r) => ['COMMAND_TIMEOUT', r.uuid]));
  });

  it('rejects with COMMAND_TIMEOUT when virsh list does not answer', async () => {
    const run = standIn((args) =>
      args.includes('list') ? { stdout: '', stderr: '', code: null, error: 'TIMEOUT' } : undefined,
    );
    await expect(driver.guests(run)).rejects.toMatchObject({ code: 'COMMAND_TIMEOUT' });
  });
});

describe('libvirt driver reading each domain once per scan', () => {
  it('lets guests() use the domains hypervisor() read for their types, and reads afresh after', async () => {
    const driver = libvirtDriver({ uri: uriOf(NODE_07) });
    const run = standIn(() => undefined);
    const lists = () => run.calls.filter((args) => args.includes('list')).length;
    await driver.hypervisor(run);
    const { guests } = await driver.guests(run);
    expect(lists()).toBe(1);
    expect(guests.map((g) => g.name)).toEqual(node07.map((r) => r.name));
    await driver.guests(run);
    expect(lists()).toBe(2);
  });
});

describe('libvirt driver asking guest agents', () => {
  const driver = libvirtDriver({ uri: uriOf(NODE_07) });
  const rhel = read('rhel7.8-guestinfo', 'guestinfo-os.txt');
  const isAgentCall = (args: readonly string[]) => args.includes('guestinfo') || args.includes('qemu-agent-command');

  it("keeps the guest agent's answer first, then the libosinfo id, then the name", async () => {
    const answering = node07[0];
    const run = standIn((args) => {
      if (!args.includes('guestinfo')) return undefined;
      if (args.includes(answering.uuid)) return { stdout: rhel, stderr: '', code: 0 };
      return fail('Guest agent is not responding: QEMU guest agent is not connected');
    });
    const { guests } = await driver.guests(run);
    const guest = guests.find((g) => g.uuid === answering.uuid);
    expect(guest?.os).toEqual({
      evidence: [
        {
          source: 'guest-agent',
          text: 'Red Hat Enterprise Linux Server 7.8 Beta (Maipo)',
          fields: parseGuestInfoOs(rhel),
        },
        { source: 'libosinfo', text: answering.libosinfo },
        { source: 'name-hint', text: answering.name },
      ],
    });
    const others = guests.filter((g) => g.uuid !== answering.uuid);
    expect(others.map((g) => g.os.reason)).toEqual(others.map(() => 'no_guest_agent'));
    expect(others[0].os.reasonDetail).toBe('Guest agent is not responding: QEMU guest agent is not connected');
  });

  it('falls back to qemu-agent-command guest-get-osinfo where virsh has no guestinfo', async () => {
    const centos = read('centos7-qga', 'qemu-agent-osinfo.json');
    const run = standIn((args) => {
      if (args.includes('guestinfo')) return fail("unknown command: 'guestinfo'");
      if (args.includes('qemu-agent-command')) return { stdout: centos, stderr: '', code: 0 };
      return undefined;
    });
    const { guests } = await driver.guests(run);
    expect(guests.map((g) => g.os.evidence[0])).toEqual(
      guests.map(() => ({
        source: 'guest-agent',
        text: 'CentOS Linux 7 (Core)',
        fields: parseQemuAgentOsinfo(centos),
      })),
    );
    expect(run.calls.filter((args) => args.includes('guestinfo'))).toHaveLength(1);
  });

  it('asks only one guest when the connection cannot ask any (the test driver: not supported)', async () => {
    const run = standIn(() => undefined);
    const { guests } = await driver.guests(run);
    expect(run.calls.filter(isAgentCall)).toHaveLength(1);
    expect(guests.map((g) => g.os.reasonDetail)).toEqual(
      guests.map(() => 'this function is not supported by the connection driver: virDomainGetGuestInfo'),
    );
  });

  it('reports permission_denied when libvirt refuses the agent command on a read-only connection', async () => {
    // The real refusal: the same guestinfo, sent over a read-only connection.
    const run = standIn((args) =>
      args.includes('guestinfo') ? localRunner().run('virsh', ['-r', ...args]) : undefined,
    );
    const { guests } = await driver.guests(run);
    expect(guests.map((g) => g.os.reason)).toEqual(guests.map(() => 'permission_denied'));
    expect(guests[0].os.reasonDetail).toMatch(/read only access prevents virDomainGetGuestInfo/);
    expect(run.calls.filter(isAgentCall)).toHaveLength(1);
  });

  it('reports timeout for a guest agent that does not answer, and asks the others', async () => {
    const silent = node07[1];
    const run = standIn((args) => {
      if (!args.includes('guestinfo')) return undefined;
      if (args.includes(silent.uuid)) return { stdout: '', stderr: '', code: null, error: 'TIMEOUT' };
      return { stdout: rhel, stderr: '', code: 0 };
    });
    const { guests } = await driver.guests(run);
    expect(guests.find((g) => g.uuid === silent.uuid)?.os.reason).toBe('timeout');
    expect(guests.filter((g) => g.os.evidence[0].source === 'guest-agent')).toHaveLength(node07.length - 1);
  });

  it('does not ask shut-off or paused domains and gives them vm_off', async () => {
    // test:runstate (libvirt's test driver namespace) sets a domain's state: 5 is shut off, 3 is paused.
    const [a, b, c] = splitDomainXml(read('corpus', 'node-07.xml'));
    const withState = (doc: string, state: number) =>
      doc
        .replace(/^<domain /, '<domain xmlns:test="http://libvirt.org/schemas/domain/test/1.0" ')
        .replace(/<\/domain>$/, `  <test:runstate>${state}</test:runstate>\n</domain>`);
    const file = nodeFile('states.xml', [withState(a, 5), withState(b, 3), c]);
    const run = standIn((args) => (args.includes('guestinfo') ? { stdout: rhel, stderr: '', code: 0 } : undefined));
    const { guests } = await libvirtDriver({ uri: uriOf(file) }).guests(run);
    const [off, paused, running] = [a, b, c].map((doc) => parseDomainXml(doc).name);
    expect(Object.fromEntries(guests.map((g) => [g.name, [g.state, g.os.reason]]))).toEqual({
      [running]: ['running', undefined],
      [paused]: ['paused', 'vm_off'],
      [off]: ['shutoff', 'vm_off'],
    });
    expect(run.calls.filter(isAgentCall)).toHaveLength(1);
  });
});

describe('libvirt driver watching events', () => {
  const captured = read('libvirt-9.0-qemu-events', 'events.txt');
  const driver = libvirtDriver({ uri: 'qemu:///system' });

  /** A runner whose streamed program is a real `sh` printing `output` and exiting with `code`. */
  const printing = (output: string, code = 0): Runner & { streamed: string[][] } => {
    const streamed: string[][] = [];
    return {
      streamed,
      run: localRunner().run,
      readFile: localRunner().readFile,
      stream(program, args, onLine) {
        streamed.push([program, ...args]);
        return localStream(
          'sh',
          ['-c', 'printf %s "$1"; echo "error: $2" >&2; exit "$3"', 'sh', output, 'bye', String(code)],
          onLine,
        );
      },
    };
  };

  it('runs virsh event --all --loop read-only on its connection, and reports each change the scan shows', async () => {
    const run = printing(captured);
    const changes: string[] = [];
    const watch = driver.watch?.(run, (what) => changes.push(what));
    await watch?.ended;
    expect(run.streamed).toEqual([['virsh', '-r', '-c', 'qemu:///system', 'event', '--all', '--loop']]);
    // Every captured line is a lifecycle or agent-lifecycle event: each one is a change.
    expect(changes).toHaveLength(captured.trim().split('\n').length);
    expect(changes[0]).toBe('lifecycle hvmap-t-rhel: Shutdown Finished after host request');
    expect(changes).toContain("agent-lifecycle hvmap-t-rhel: state: 'connected' reason: 'channel event'");
  });

  it('leaves out events that change nothing a scan reports', async () => {
    const changes: string[] = [];
    const lines = [
      "event 'reboot' for domain 'a'",
      "event 'tunable' for domain 'a': cputune.vcpupin0: 0-1",
      "event 'metadata-change' for domain 'a': type: element uri: http://libosinfo.org/xmlns/libvirt/domain/1.0",
      'events received: 3',
    ];
    await driver.watch?.(printing(`${lines.join('\n')}\n`), (what) => changes.push(what))?.ended;
    expect(changes).toEqual(['metadata-change a: type: element uri: http://libosinfo.org/xmlns/libvirt/domain/1.0']);
  });

  it('says why the watch ended: virsh missing, or its own error', async () => {
    const missing: Runner = {
      ...localRunner(),
      stream: (_program, args, onLine) => localStream('hvmap-no-such-virsh', args, onLine),
    };
    await expect(driver.watch?.(missing, () => {})?.ended).resolves.toMatch(/^virsh was not found/);
    await expect(driver.watch?.(printing('', 1), () => {})?.ended).resolves.toBe('virsh event ended: bye');
  });

  it('watches nothing through a runner that cannot keep a program running (replayed outputs)', () => {
    const { stream: _unused, ...runner } = localRunner();
    expect(driver.watch?.(runner, () => {})).toBeUndefined();
  });

  it('reads any line without throwing, and only event lines as events', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (line) => {
        const event = parseVirshEvent(line);
        if (event) expect(line).toMatch(/event '/);
      }),
    );
  });
});

describe('libvirt parsers on the edges of their formats', () => {
  const domain = (os: string, extra = '') =>
    parseDomainXml(`<domain type="kvm"><name> a </name><uuid> u </uuid>${os}${extra}</domain>`);

  it('tells the firmware from what the XML declares, its loader, or the default of an x86 HVM guest', () => {
    const firmware = (os: string) => domain(os).firmware;
    expect(firmware('<os firmware="efi"><type arch="x86_64">hvm</type></os>')).toBe('efi');
    expect(firmware('<os firmware="bios"><type arch="aarch64">hvm</type></os>')).toBe('bios');
    expect(firmware('<os><type arch="x86_64">hvm</type><loader type="pflash">/x</loader></os>')).toBe('efi');
    expect(
      firmware('<os><type arch="x86_64">hvm</type><loader type="rom">/usr/share/OVMF/OVMF_CODE.fd</loader></os>'),
    ).toBe('efi');
    expect(firmware('<os><type arch="x86_64">hvm</type><loader>/usr/lib/xen/boot/hvmloader</loader></os>')).toBe(
      'bios',
    );
    expect(firmware('<os><type arch="i686">hvm</type></os>')).toBe('bios');
    for (const os of [
      '<os><type arch="aarch64">hvm</type></os>',
      '<os><type arch="x86_64">xen</type></os>',
      '<os><type arch="xx86_64">hvm</type></os>',
    ]) {
      expect(firmware(os), os).toBeUndefined();
    }
  });

  it('trims names, leaves out sizes it cannot read, and refuses XML that is no domain', () => {
    expect(
      domain(
        '<os><type arch="i686">hvm</type></os>',
        '<memory unit="zz">5</memory><vcpu current="2">4</vcpu><currentMemory>x</currentMemory>',
      ),
    ).toEqual({
      name: 'a',
      uuid: 'u',
      domainType: 'kvm',
      vcpus: 2,
      arch: 'i686',
      firmware: 'bios',
      osType: 'hvm',
    });
    expect(parseDomainXml('<domain><name>a</name><uuid>u</uuid></domain>').domainType).toBe('unknown');
    for (const xml of ['<domain><name>a</name></domain>', '<domain><uuid>u</uuid></domain>', '<notdomain/>', '']) {
      expect(() => parseDomainXml(xml), xml).toThrow(
        'not a libvirt domain: expected one <domain> with <name> and <uuid>',
      );
    }
  });

  it('splits a batch at <domain> elements that start a line, nothing nested or alike', () => {
    expect(
      splitDomainXml(
        'x\n<domain type="kvm">\n  <domain-ish/>\n</domain>\n<domainx>\n</domainx>\n<domain>\n</domain>\n  <domain>\n</domain>',
      ),
    ).toEqual(['<domain type="kvm">\n  <domain-ish/>\n</domain>', '<domain>\n</domain>']);
  });

  it('reads virsh version, including a hypervisor whose version it cannot extract', () => {
    expect(
      parseVirshVersion(
        'Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.0\n',
      ),
    ).toEqual({
      compiledAgainst: '9.0.0',
      library: '9.0.0',
      api: { type: 'QEMU', version: '9.0.0' },
      hypervisor: { type: 'QEMU', version: '7.2.0' },
    });
    expect(parseVirshVersion('Using API: Xen 1.2.2  \nCannot extract running Xen hypervisor version\n')).toEqual({
      api: { type: 'Xen', version: '1.2.2' },
      hypervisor: { type: 'Xen' },
    });
    expect(parseVirshVersion(' Using library: libvirt 9.0.0\nx Running hypervisor: QEMU 7.2.0\n')).toEqual({});
  });

  it('reads virsh nodeinfo, leaving out what is not a number', () => {
    expect(
      parseNodeinfo(
        'CPU model:           x86_64\nCPU(s):              8\nCPU frequency:       2400 MHz\nCPU socket(s):       1\nCore(s) per socket:  4\nThread(s) per core:  2\nNUMA cell(s):        1\nMemory size:         16303776 KiB\n',
      ),
    ).toEqual({
      cpuModel: 'x86_64',
      cpus: 8,
      cpuMhz: 2400,
      sockets: 1,
      coresPerSocket: 4,
      threadsPerCore: 2,
      numaCells: 1,
      memoryBytes: 16303776 * 1024,
    });
    expect(parseNodeinfo('CPU(s): many\n x CPU(s): 4\n')).toEqual({});
  });

  it('reads capabilities with several guests, and nothing from XML that has none', () => {
    expect(
      parseCapabilities(
        '<capabilities><host><cpu><arch>x86_64</arch><model>Skylake</model></cpu></host><guest><os_type>hvm</os_type><arch name="x86_64"><domain type="qemu"/><domain type="kvm"/></arch></guest><guest><os_type>xen</os_type></guest></capabilities>',
      ),
    ).toEqual({ hostArch: 'x86_64', cpuModel: 'Skylake', domainTypes: ['qemu', 'kvm'], osTypes: ['hvm', 'xen'] });
    expect(parseCapabilities('<capabilities/>')).toEqual({ domainTypes: [], osTypes: [] });
    expect(parseCapabilities('not xml')).toEqual({ domainTypes: [], osTypes: [] });
  });

  it('reads guest agent answers: only os. lines, only string members of a JSON reply', () => {
    expect(
      parseGuestInfoOs('os.id               : rhel\nos.name:Red Hat\n xos.id : nope\nos.pretty-name      : RHEL 9  \n'),
    ).toEqual({
      id: 'rhel',
      name: 'Red Hat',
      'pretty-name': 'RHEL 9',
    });
    expect(parseQemuAgentOsinfo('{"return":{"id":"centos","version-id":"7","x":1,"y":null}}')).toEqual({
      id: 'centos',
      'version-id': '7',
    });
    expect(parseQemuAgentOsinfo('{"id":"centos"}')).toEqual({ id: 'centos' });
    for (const reply of ['[1]', 'nope', '{"return":[1]}']) expect(parseQemuAgentOsinfo(reply), reply).toBeNull();
  });

  it('keeps only whole UUID lines of virsh list --uuid', () => {
    expect(
      parseUuidList('  5A0C7E10-0000-4000-8000-000000000001  \n\nnot-a-uuid\n5a0c7e10-0000-4000-8000-000000000002x\n'),
    ).toEqual(['5A0C7E10-0000-4000-8000-000000000001']);
  });
});
