import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { identifyGuestOs, identifyHypervisor } from '@hvmap/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { caseOrigin, caseVariants, expectGolden, replayInventory } from '../../../../test/helpers/replay-cases.js';
import { type ReplayEntry, replayRunner } from '../../replay.js';
import { scanOnce } from '../../scan.js';
import { parseListLong, parseSxp, parseXenList, parseXenstoreLs, xenState } from './parse.js';
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
