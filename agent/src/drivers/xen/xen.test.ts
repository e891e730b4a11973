import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { identifyGuestOs, identifyHypervisor } from '@hvmap/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { caseOrigin, caseVariants, expectGolden, replayInventory } from '../../../../test/helpers/replay-cases.js';
import { type ReplayEntry, replayRunner } from '../../replay.js';
import { scanOnce } from '../../scan.js';
import {
  parseListLong,
  parseSxp,
  parseSxpDomains,
  parseXenInfo,
  parseXenList,
  parseXenstoreLs,
  parseXlJson,
  xenState,
} from './parse.js';
import { xenDriver } from './xen.js';

const TESTCASES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testcases');
const hostFacts = { hostname: 'dom0', os: { platform: 'linux' }, cpu: {} };

const inventoryOf = (dir: string) => replayInventory(xenDriver(), dir);
const cases = caseVariants(TESTCASES);
afterAll(cases.cleanup);
const variant = cases.variant;

const command = (commands: ReplayEntry[], program: string, ...args: string[]) =>
  commands.find((c) => c.program === program && c.args?.join(' ') === args.join(' ')) as ReplayEntry;

describe('xen driver on its test cases', () => {
  const cases = readdirSync(TESTCASES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(TESTCASES, d.name, 'commands.json')))
    .map((d) => d.name);

  it.each(cases.map((name) => [name, caseOrigin(path.join(TESTCASES, name))]))(
    'reports the %s case (%s) as its expected.json says',
    async (name) => {
      expectGolden(path.join(TESTCASES, name, 'expected.json'), await inventoryOf(path.join(TESTCASES, name)));
    },
  );

  it('reads every captured list table as its expected.json says', () => {
    const dir = path.join(TESTCASES, 'list-tables');
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.txt'))
      .sort();
    const actual = Object.fromEntries(files.map((f) => [f, parseXenList(readFileSync(path.join(dir, f), 'utf8'))]));
    expectGolden(path.join(dir, 'expected.json'), actual);
  });

  it('gives the RHEL 5.4 host and its guests the identities support lists use', async () => {
    const inventory = await inventoryOf(path.join(TESTCASES, 'rhel5.4-xen-xm'));
    expect(identifyHypervisor(inventory.hypervisor as never)).toMatchObject({ product: 'xen', version: 'RHEL 5.4' });
    const [web] = (inventory as { guests: { os: never }[] }).guests;
    expect(identifyGuestOs(web.os)).toMatchObject({ known: true, source: 'xenstore', os: { id: 'rhel-5.4' } });
  });

  it('identifies a guest from the data/os_* keys an xl host holds, and the host from os-release', async () => {
    const inventory = await inventoryOf(path.join(TESTCASES, 'ubuntu24.04-xen-4.17-xl'));
    expect(identifyHypervisor(inventory.hypervisor as never)).toMatchObject({
      product: 'xen',
      version: 'Ubuntu 24.04',
    });
    const [pv] = (inventory as { guests: { os: never }[] }).guests;
    expect(identifyGuestOs(pv.os)).toMatchObject({ known: true, source: 'xenstore', os: { id: 'ubuntu-22.04' } });
  });
});

describe("GLPI-Agent's own expected results for its captures", () => {
  // testcases/glpi-expected.json: what GLPI-Agent's tests assert of these files (agent/scripts/glpi-xen-cases.py).
  const glpi = JSON.parse(readFileSync(path.join(TESTCASES, 'glpi-expected.json'), 'utf8')) as {
    lists: Record<string, { NAME: string; STATUS: string; MEMORY: string; VCPU: string }[]>;
    uuids: Record<string, string>;
  };
  const FILES: Record<string, string> = {
    xm_list: 'list-tables/xm-list_glpi.txt',
    xm_list2: 'list-tables/xm-list_glpi-inactive-crlf.txt',
    xl_list: 'list-tables/xl-list_glpi.txt',
    xl_list2: 'xl-list-v-glpi/xl-list-v.txt',
  };
  /**
   * GLPI's states in hvmap's words. GLPI calls a domain blocked (b: idle, waiting for an event) what
   * libvirt and hvmap call running; and off a domain with no state flag at all ("------"), which Xen's
   * xl(1) describes as runnable but not on a CPU this instant: hvmap says running there too.
   */
  const state = (glpiStatus: string, flags: string | undefined) =>
    flags === '------'
      ? 'running'
      : ({ STATUS_RUNNING: 'running', STATUS_BLOCKED: 'running', STATUS_OFF: 'shutoff' } as Record<string, string>)[
          glpiStatus
        ];

  it.each(Object.entries(FILES))('reads %s (%s) as GLPI-Agent does: names, memory, vCPUs, states', (key, file) => {
    // GLPI-Agent leaves the control domain out; so does the driver.
    const rows = parseXenList(readFileSync(path.join(TESTCASES, file), 'utf8')).filter((r) => r.name !== 'Domain-0');
    const expected = glpi.lists[key];
    expect(expected.length).toBeGreaterThan(0);
    expect(rows.map((r) => [r.name, r.memoryMiB, r.vcpus, xenState(r.flags, r.domid !== undefined)])).toEqual(
      expected.map((m, i) => [m.NAME, Number(m.MEMORY), Number(m.VCPU), state(m.STATUS, rows[i]?.flags)]),
    );
  });

  it('reads the UUIDs GLPI-Agent reads', () => {
    const [vm1] = parseXenList(readFileSync(path.join(TESTCASES, 'list-tables', 'xl-list-v-vm1_glpi.txt'), 'utf8'));
    expect(vm1.uuid).toBe(glpi.uuids['xl_list_-v_vmname']);
    const sxp = readFileSync(path.join(TESTCASES, 'oraclevm-xm-list-l-glpi', 'xm-list-l.sxp'), 'utf8');
    expect(parseListLong(sxp).domains.map((d) => d.uuid)).toContain(glpi.uuids['xm_list_-l_vmname']);
  });
});

describe('xen driver on faults', () => {
  it('reads the guests from the table, with their UUIDs, when the JSON of xl list -l is cut short', async () => {
    const dir = variant('ubuntu24.04-xen-4.17-xl', (d) => {
      const file = path.join(d, 'xl-list-l.json');
      const json = readFileSync(file, 'utf8');
      writeFileSync(file, json.slice(0, json.length / 2));
    });
    const inventory = await inventoryOf(dir);
    expect(inventory.errors).toEqual([
      expect.objectContaining({
        code: 'XEN_OUTPUT_UNREADABLE',
        message: expect.stringMatching(/^xl list -l: .*cut short/),
      }),
    ]);
    expect(inventory.guests?.map((g) => [g.name, g.uuid, g.state, g.machine])).toEqual([
      ['test-pv', '039e9ee6-4a84-3055-4c81-8ba426ae2656', 'running', undefined],
      ['test-hvm', '2147d599-9cc6-c0dc-92ab-4064b5446e9b', 'running', undefined],
    ]);
  });

  it('warns once on a Xen version it does not know, and reads the output with the newest parser', async () => {
    const dir = variant('ubuntu24.04-xen-4.17-xl', (d) => {
      const file = path.join(d, 'xl-info.txt');
      const info = readFileSync(file, 'utf8');
      writeFileSync(file, info.replace(/xen_major\s+: 4/, 'xen_major              : 5').replace(/4\.17\.3/, '5.0.0'));
    });
    const inventory = await inventoryOf(dir);
    const golden = JSON.parse(readFileSync(path.join(TESTCASES, 'ubuntu24.04-xen-4.17-xl', 'expected.json'), 'utf8'));
    expect(inventory.errors).toEqual([
      expect.objectContaining({ code: 'FORMAT_VERSION_UNKNOWN', message: expect.stringContaining('Xen 5.0.0') }),
    ]);
    expect(JSON.parse(JSON.stringify(inventory.guests))).toEqual(golden.guests);
  });

  it('reports a domain that vanished between xl list -l and xl list -v, and the others', async () => {
    const dir = variant('ubuntu24.04-xen-4.17-xl', (d) => {
      const file = path.join(d, 'xl-list-v.txt');
      writeFileSync(file, readFileSync(file, 'utf8').replace(/^test-hvm .*\n/m, ''));
    });
    const inventory = await inventoryOf(dir);
    expect(inventory.errors).toEqual([
      {
        driver: 'xen',
        code: 'DOMAIN_VANISHED',
        guest: '2147d599-9cc6-c0dc-92ab-4064b5446e9b',
        message: 'domain test-hvm (id 7) went away between xl list -l and xl list -v',
      },
    ]);
    expect(inventory.guests?.map((g) => g.name)).toEqual(['test-pv']);
  });

  it('reports a domain only the table lists, as the table has it', async () => {
    const dir = variant('ubuntu24.04-xen-4.17-xl', (d) => {
      const file = path.join(d, 'xl-list-v.txt');
      const row =
        'late-starter                                12   256     1     -b----       0.4 5c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e9f        -                -\n';
      writeFileSync(file, readFileSync(file, 'utf8') + row);
    });
    const inventory = await inventoryOf(dir);
    expect(inventory.errors).toEqual([]);
    expect(inventory.guests?.at(-1)).toMatchObject({
      name: 'late-starter',
      uuid: '5c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e9f',
      state: 'running',
      memoryBytes: 256 * 1024 * 1024,
      vcpus: 1,
    });
  });

  it('reports PERMISSION_DENIED, saying to run as root, in a partial inventory when xl is refused', async () => {
    const refused = {
      code: 1,
      stderrText:
        'xencall: error: Could not obtain handle on privileged command interface: Permission denied\nlibxl: error: libxl.c:102:libxl_ctx_alloc: cannot open libxc handle: Permission denied\ncannot init xl context\n',
    };
    const dir = variant('ubuntu24.04-xen-4.17-xl', (_d, commands) => {
      for (const c of commands.filter((c) => c.program === 'xl')) Object.assign(c, { stdout: undefined, ...refused });
    });
    const inventory = await scanOnce([xenDriver()], replayRunner(dir), { hostFacts });
    expect(inventory).toMatchObject({ partial: true, guests: [], drivers: [{ driver: 'xen', ok: false }] });
    // hypervisor() and guests() each say which command was refused.
    expect(inventory.errors.map((e) => [e.code, e.message.split(' was refused')[0]])).toEqual([
      ['PERMISSION_DENIED', 'xl info'],
      ['PERMISSION_DENIED', 'xl list -l'],
    ]);
    expect(inventory.errors[0].message).toContain('run the agent as root');
  });

  it('gives every guest permission_denied when xenstore refuses, and still lists them', async () => {
    const dir = variant('ubuntu24.04-xen-4.17-xl', (_d, commands) => {
      Object.assign(command(commands, 'xenstore-ls', '-f', '/local/domain'), {
        stdout: undefined,
        code: 1,
        stderrText: 'xenstore-ls: xs_open: Permission denied\n',
      });
    });
    const inventory = await inventoryOf(dir);
    expect(inventory.guests?.map((g) => [g.name, g.os.reason])).toEqual([
      ['test-pv', 'permission_denied'],
      ['test-hvm', 'permission_denied'],
    ]);
    expect(inventory.guests?.[0].os.reasonDetail).toContain('Permission denied');
  });

  it('falls back to xm where xl refuses to run beside xend', async () => {
    const dir = variant('rhel5.4-xen-xm', (_d, commands) => {
      commands.push({
        program: 'xl',
        args: ['info'],
        code: 1,
        stderrText:
          'xend is running, which may cause unpredictable results when using this xl command.  Please shut down xend before continuing.\n',
      });
    });
    const inventory = await inventoryOf(dir);
    expect(inventory.hypervisor).toMatchObject({ managementStack: 'xm (xend)', version: '3.1.2-164.el5' });
    expect(inventory.guests).toHaveLength(4);
  });

  it('says the Xen tools are missing where neither xl nor xm is installed, and detects no dom0 without control_d', async () => {
    const dir = variant('rhel5.4-xen-xm', (d, commands) => {
      commands.splice(0, commands.length);
      writeFileSync(path.join(d, 'root', 'proc', 'xen', 'capabilities'), '');
    });
    const inventory = await inventoryOf(dir);
    expect(inventory).toMatchObject({
      detected: false,
      hypervisor: { thrown: { code: 'XEN_TOOLS_NOT_FOUND' } },
      thrown: { code: 'XEN_TOOLS_NOT_FOUND' },
    });
  });
});

describe('xen parsers', () => {
  it('maps the state letters onto the shared states, most telling letter first', () => {
    const cases: [string | undefined, boolean, string][] = [
      ['r-----', true, 'running'],
      ['-b----', true, 'running'],
      ['------', true, 'running'],
      ['--p---', true, 'paused'],
      ['---s--', true, 'shutoff'],
      ['----c-', true, 'crashed'],
      ['--psc-', true, 'crashed'],
      ['-----d', true, 'stopping'],
      ['------', false, 'shutoff'],
      [undefined, true, 'unknown'],
      ['??????', true, 'unknown'],
    ];
    for (const [flags, hasDomid, state] of cases)
      expect([flags, hasDomid, xenState(flags, hasDomid)]).toEqual([flags, hasDomid, state]);
  });

  it('undoes xenstore-ls escapes: backslashes, control characters and octal UTF-8 bytes', () => {
    const text =
      '/local/domain/4/data/os_name = "Caf\\303\\251 OS \\\\ "edge" \\t1"\n/local/domain/4/vm = "/vm/AB0E2F4C-0000-4000-8000-000000000001"\n';
    expect(parseXenstoreLs(text).get(4)).toEqual({
      uuid: 'ab0e2f4c-0000-4000-8000-000000000001',
      data: { os_name: 'Café OS \\ "edge" \t1' },
    });
  });

  it('refuses SXP cut short instead of reading half a domain', () => {
    expect(() => parseSxp('(domain (domid 1) (name web')).toThrow(/unclosed/);
    expect(() => parseSxp("(domain (description 'cut")).toThrow(/unterminated/);
  });

  it('refuses a table line it cannot read rather than guess its columns', () => {
    expect(() => parseXenList('Name ID Mem VCPUs State Time(s)\nweb1 oops\n')).toThrow(
      /not a line of the Xen domain list/,
    );
  });
});

describe('xen parsers on the edges of their formats', () => {
  it('reads xl info: the spelled version, else major.minor.extra, else none', () => {
    expect(parseXenInfo('xen_major : 4\nxen_minor : 17\nxen_extra : .3\nxen_version : 4.17.3-pre\n')).toMatchObject({
      version: '4.17.3-pre',
      major: 4,
    });
    expect(
      parseXenInfo('xen_major              : 4\r\nxen_minor              : 1\r\nxen_extra              : .2\r\n'),
    ).toMatchObject({
      version: '4.1.2',
      major: 4,
      fields: { xen_major: '4', xen_minor: '1', xen_extra: '.2' },
    });
    expect(parseXenInfo('xen_major : 3\nxen_minor : 1\n')).toMatchObject({ version: '3.1', major: 3 });
    expect(parseXenInfo('xen_version : 4.2.1\n')).toMatchObject({ version: '4.2.1', major: 4 });
    expect(parseXenInfo('xen_major : four\nxen_minor : 1\n')).toMatchObject({ version: undefined, major: undefined });
    expect(parseXenInfo(' host : x\nhost: kept   \n')).toMatchObject({ fields: { host: 'kept' } });
  });

  it('maps the state letters: all six places of r, b or - are running, anything else unknown', () => {
    expect(['------', 'r-----', '-b----', 'rb----'].map((f) => xenState(f, true))).toEqual(Array(4).fill('running'));
    expect(['r-----x', 'xr-----', '-----', ''].map((f) => xenState(f, true))).toEqual(Array(4).fill('unknown'));
  });

  it('reads the list table with CRLF and blank lines, without ID and state for a guest xend keeps', () => {
    const rows = parseXenList(
      'Name    ID   Mem VCPUs      State   Time(s)\r\nDomain-0   0  1024  2  r-----  12.5   \r\n\r\nvm off   512  1  0.0\n',
    );
    expect(rows).toEqual([
      { name: 'Domain-0', domid: 0, memoryMiB: 1024, vcpus: 2, flags: 'r-----' },
      { name: 'vm off', memoryMiB: 512, vcpus: 1 },
    ]);
    expect(() => parseXenList('Name ID Mem\nnot a row\n')).toThrow('not a line of the Xen domain list: "not a row"');
  });

  it('tells the two formats of xl list -l apart, and names what it got otherwise', () => {
    expect(parseListLong('   \n')).toEqual({ format: 'json', domains: [] });
    expect(parseListLong('  []')).toEqual({ format: 'json', domains: [] });
    expect(parseListLong('\n(domain (name a))')).toEqual({ format: 'sxp', domains: [{ name: 'a' }] });
    expect(() => parseListLong('  error: no such domain')).toThrow(
      'neither libxl JSON nor SXP: starts with "error: no such domain"',
    );
    expect(() => parseListLong('[{"domid": 1')).toThrow(/^xl list -l is not valid JSON \(cut short\?\): /);
    expect(() => parseXlJson('{"domid": 1}')).toThrow('xl list -l JSON is not an array of domains');
  });

  it('reads libxl JSON whatever it leaves out, and only the types and numbers it knows', () => {
    const domains = parseXlJson(
      JSON.stringify([
        { domid: 0, config: { c_info: { name: 'Domain-0' } } },
        {
          domid: 3,
          config: {
            c_info: { name: 'Guest', uuid: 'ABCDEF01-2345-6789-ABCD-EF0123456789', type: 'pvh' },
            b_info: { max_vcpus: 4, max_memkb: 1048576 },
          },
        },
        {
          domid: 4,
          config: { c_info: { type: 'hvm' }, b_info: { avail_vcpus: [0, 1], 'type.hvm': { bios: 'ovmf' } } },
        },
        { domid: 5, config: { c_info: { type: 'hvm', name: 7 }, b_info: { max_vcpus: 0, max_memkb: 0 } } },
        { domid: 'six', config: { c_info: { type: 'stub' }, b_info: { max_vcpus: '2', max_memkb: null } } },
        'not a domain',
        [1, 2],
        null,
      ]),
    );
    expect(domains).toEqual([
      { name: 'Domain-0', domid: 0 },
      {
        name: 'Guest',
        domid: 3,
        uuid: 'abcdef01-2345-6789-abcd-ef0123456789',
        type: 'pvh',
        vcpus: 4,
        memoryBytes: 1024 ** 3,
      },
      { name: '', domid: 4, type: 'hvm', vcpus: 2, firmware: 'efi' },
      { name: '', domid: 5, type: 'hvm', firmware: 'bios' },
      { name: '' },
    ]);
  });

  it('reads S-expressions with quoted atoms and escapes, and refuses unbalanced ones', () => {
    expect(parseSxp(`(a 'b c' "d \\"e\\"" f\\g) (h)`)).toEqual([['a', 'b c', 'd "e"', 'f\\g'], ['h']]);
    expect(parseSxp(`('x\\\\')`)).toEqual([['x\\']]);
    expect(() => parseSxp('(a))')).toThrow('unbalanced ")" at offset 3');
    expect(() => parseSxp('((a)')).toThrow('1 unclosed "(" (output cut short?)');
    expect(() => parseSxp('(((a)')).toThrow('2 unclosed "(" (output cut short?)');
    expect(() => parseSxp("(a 'b")).toThrow('unterminated quoted atom (output cut short?)');
  });

  it("reads xend's and old xl's domain records", () => {
    const domains = parseSxpDomains(
      [
        '(domain (domid 0) (name Domain-0) (uuid 00000000-0000-0000-0000-000000000000) (vcpus 2) (memory 1024) (maxmem 2048) (state r-----))',
        '(domain (domid -1) (name off) (max_vcpus 1) (memory 512) (image (linux (kernel /boot/x))))',
        '(domain (name xl) (max_memkb 262144) (hvm 1))',
        '(domain (name xlpv) (hvm 0) (vcpus 0) (domid x))',
        '(domain (name hvmimg) (image (hvm (loader /x))))',
        '(other (name not-a-domain))',
        'bare',
      ].join('\n'),
    );
    expect(domains).toEqual([
      {
        name: 'Domain-0',
        domid: 0,
        uuid: '00000000-0000-0000-0000-000000000000',
        vcpus: 2,
        memoryBytes: 2048 * 1024 ** 2,
        flags: 'r-----',
      },
      { name: 'off', vcpus: 1, memoryBytes: 512 * 1024 ** 2, type: 'pv' },
      { name: 'xl', memoryBytes: 262144 * 1024, type: 'hvm', firmware: 'bios' },
      { name: 'xlpv', type: 'pv' },
      { name: 'hvmimg', type: 'hvm', firmware: 'bios' },
    ]);
  });

  it('reads xenstore-ls -f: the VM UUID, the name, data keys one level deep, escapes undone', () => {
    const domains = parseXenstoreLs(
      [
        '/local/domain/3 = ""',
        '/local/domain/3/vm = "/vm/ABCDEF01-2345-6789-abcd-ef0123456789"',
        '/local/domain/3/name = "caf\\303\\251 \\\\ tab\\there"',
        '/local/domain/3/data/os_name = "Microsoft Windows Server 2019 Standard|C:\\\\Windows"',
        '/local/domain/3/data/sub/key = "ignored"',
        '/local/domain/3/other = "ignored"',
        '/local/domain/4/vm = "/vm/not-a-uuid"',
        '/local/domain/4/data/os_distro = "centos\\n"',
        '  /local/domain/5/name = "indented is not a line of -f"',
        '/local/domain/6/name = "unterminated',
      ].join('\r\n'),
    );
    expect(Object.fromEntries(domains)).toEqual({
      3: {
        uuid: 'abcdef01-2345-6789-abcd-ef0123456789',
        name: 'café \\ tab\there',
        data: { os_name: 'Microsoft Windows Server 2019 Standard|C:\\Windows' },
      },
      4: { data: { os_distro: 'centos\n' } },
    });
  });
});
