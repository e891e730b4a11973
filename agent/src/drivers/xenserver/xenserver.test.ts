import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { identifyGuestOs, identifyHypervisor } from '@hvmap/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { caseOrigin, caseVariants, expectGolden, replayInventory } from '../../../../test/helpers/replay-cases.js';
import { replayRunner } from '../../replay.js';
import { scanOnce } from '../../scan.js';
import { isPoolMaster, parseXeMap, parseXeRecords, pvDriversVersion, xeState } from './parse.js';
import { xenServerDriver } from './xenserver.js';

const TESTCASES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testcases');
const hostFacts = { hostname: 'dom0', os: { platform: 'linux' }, cpu: {} };

const inventoryOf = (dir: string) => replayInventory(xenServerDriver(), dir);
const cases = caseVariants(TESTCASES);
afterAll(cases.cleanup);
const variant = cases.variant;

const guestsOf = (inventory: Awaited<ReturnType<typeof inventoryOf>>) =>
  'guests' in inventory ? inventory.guests : [];

describe('xenserver driver on its test cases', () => {
  const cases = readdirSync(TESTCASES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(TESTCASES, d.name, 'commands.json')))
    .map((d) => d.name);

  it.each(cases.map((name) => [name, caseOrigin(path.join(TESTCASES, name))]))(
    'reports the %s case (%s) as its expected.json says',
    async (name) => {
      expectGolden(path.join(TESTCASES, name, 'expected.json'), await inventoryOf(path.join(TESTCASES, name)));
    },
  );

  it.each([
    ['xenserver-6.2-xe', { product: 'xenserver', version: '6.2', name: 'XenServer 6.2' }],
    ['xenserver-7.2-xe', { product: 'xenserver', version: '7.2', name: 'XenServer 7.2' }],
    ['xcpng-8.2-xe', { product: 'xcp-ng', version: '8.2', name: 'XCP-ng 8.2' }],
  ])('gives the %s host the identity support lists use', async (name, identity) => {
    const { hypervisor } = await inventoryOf(path.join(TESTCASES, name));
    expect(identifyHypervisor(hypervisor as never)).toMatchObject(identity);
  });

  it('identifies the guests from their os-version, and says why where it cannot', async () => {
    const guests = guestsOf(await inventoryOf(path.join(TESTCASES, 'xcpng-8.2-xe')));
    const identified = guests.map((g) => {
      const r = identifyGuestOs(g.os);
      return [g.name, g.state, r.known ? `${r.os.id} from ${r.source}` : `unknown: ${r.reason}`, g.os.reason];
    });
    expect(identified).toEqual([
      ['win2022-sql', 'running', 'windows-server-2022 from xe-os-version', undefined],
      ['rocky86-web', 'running', 'rocky-8.6 from xe-os-version', undefined],
      // Without guest metrics only the name is left, weak evidence the reason qualifies.
      ['debian11-notools', 'running', 'debian-11 from name-hint', 'not_in_database'],
      ['rhel79-app', 'saved', 'rhel-7.9 from xe-os-version', undefined],
      ['ubuntu2204-build', 'paused', 'ubuntu-22.04 from xe-os-version', undefined],
      ['win2019-old', 'shutoff', 'windows-server-2019 from name-hint', 'vm_off'],
    ]);
  });
});

describe('xenserver driver in a pool', () => {
  it('reports, on a pool member, only the VMs resident on it or whose affinity it is', async () => {
    const dir = variant('xenserver-7.2-xe', (d) =>
      writeFileSync(path.join(d, 'root/etc/xensource/pool.conf'), 'slave:10.0.0.1'),
    );
    expect(guestsOf(await inventoryOf(dir)).map((g) => g.name)).toEqual(['ansible-test-vm-1']);
  });

  it('reports every VM of the pool where it cannot tell which host it runs on', async () => {
    const dir = variant('xenserver-7.2-xe', (d) => rmSync(path.join(d, 'root/etc/xensource-inventory')));
    const inventory = await inventoryOf(dir);
    expect(guestsOf(inventory).map((g) => g.name)).toEqual([
      'ansible-test-vm-1',
      'ansible-test-vm-2',
      'ansible-test-vm-3',
    ]);
    // Nor which of the two hosts it is: the hypervisor question fails and says why.
    expect(inventory.hypervisor).toMatchObject({ thrown: { code: 'XE_HOST_UNKNOWN' } });
  });
});

describe('xenserver driver on faults', () => {
  it('leaves out a VM whose record was cut short before its power state, and reports the rest', async () => {
    const dir = variant('xcpng-8.2-xe', (d) => {
      const file = path.join(d, 'vm-list.txt');
      const text = readFileSync(file, 'utf8');
      const last = text.lastIndexOf('uuid ( RO)');
      writeFileSync(file, text.slice(0, text.indexOf('is-control-domain', last)));
    });
    const inventory = await inventoryOf(dir);
    expect(inventory.errors).toEqual([
      {
        driver: 'xenserver',
        code: 'XE_RECORD_INCOMPLETE',
        guest: '3f2a9c1e-5b7d-4e0f-a1b2-c3d4e5f60006',
        message: 'a VM record of xe vm-list lacks power-state (output cut short?); the VM is left out',
      },
    ]);
    expect(guestsOf(inventory)).toHaveLength(5);
  });

  it('keeps a VM whose record ends before os-version, with its OS unknown and the error recorded', async () => {
    const dir = variant('xcpng-8.2-xe', (d) => {
      const file = path.join(d, 'vm-list.txt');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.slice(0, text.indexOf('os-version', text.lastIndexOf('uuid ( RO)'))));
    });
    const inventory = await inventoryOf(dir);
    expect(inventory.errors).toEqual([
      expect.objectContaining({ code: 'XE_RECORD_INCOMPLETE', guest: '3f2a9c1e-5b7d-4e0f-a1b2-c3d4e5f60006' }),
    ]);
    expect(guestsOf(inventory).at(-1)).toMatchObject({ name: 'win2019-old', os: { reason: 'error' } });
  });

  it('warns once on a product version it does not know, and reads the output as the newest it knows', async () => {
    const dir = variant('xcpng-8.2-xe', (d) => {
      const file = path.join(d, 'root/etc/xensource-inventory');
      writeFileSync(file, readFileSync(file, 'utf8').replace("PRODUCT_VERSION='8.2.1'", "PRODUCT_VERSION='9.0.0'"));
    });
    const inventory = await inventoryOf(dir);
    const golden = JSON.parse(readFileSync(path.join(TESTCASES, 'xcpng-8.2-xe', 'expected.json'), 'utf8'));
    expect(inventory.errors).toEqual([
      expect.objectContaining({
        code: 'FORMAT_VERSION_UNKNOWN',
        message: expect.stringContaining('XCP-ng 9.0.0 is newer'),
      }),
    ]);
    expect(JSON.parse(JSON.stringify(guestsOf(inventory)))).toEqual(golden.guests);
  });

  it('reports PERMISSION_DENIED, saying to run as root in dom0, in a partial inventory when xe is refused', async () => {
    const dir = variant('xcpng-8.2-xe', (_d, commands) => {
      for (const c of commands.filter((c) => c.program === 'xe')) {
        Object.assign(c, { stdout: undefined, code: 1, stderrText: 'Error: Permission denied (calling connect )\n' });
      }
    });
    const inventory = await scanOnce([xenServerDriver()], replayRunner(dir), { hostFacts, detect: false });
    expect(inventory).toMatchObject({ partial: true, guests: [], drivers: [{ driver: 'xenserver', ok: false }] });
    expect(inventory.errors.map((e) => e.code)).toEqual(['PERMISSION_DENIED', 'PERMISSION_DENIED']);
    expect(inventory.errors[0].message).toContain('run the agent as root in dom0');
  });

  it('does not detect a host without /etc/xensource-inventory, and says xe is missing when asked anyway', async () => {
    const dir = variant('xcpng-8.2-xe', (d, commands) => {
      rmSync(path.join(d, 'root/etc/xensource-inventory'));
      commands.splice(0, commands.length);
    });
    expect(await inventoryOf(dir)).toMatchObject({
      detected: false,
      hypervisor: { thrown: { code: 'XE_NOT_FOUND' } },
      thrown: { code: 'XE_NOT_FOUND' },
    });
  });
});

describe('xe parsers', () => {
  it('reads map parameters whose keys hold colons and whose values hold "; " or nothing', () => {
    expect(
      parseXeMap(
        'product_version: 6.5.0; xs:main: XenServer Pack, version 6.5.0, build 90233c; error: WTSQueryUserToken : 1008 failed.; vgpu_pci: ; note: a; b',
      ),
    ).toEqual({
      product_version: '6.5.0',
      'xs:main': 'XenServer Pack, version 6.5.0, build 90233c',
      error: 'WTSQueryUserToken : 1008 failed.',
      vgpu_pci: '',
      note: 'a; b',
    });
    expect(parseXeMap('vm-data:')).toEqual({ 'vm-data': '' });
    expect(parseXeMap('<not in database>')).toBeNull();
  });

  it('splits records at their uuid line and keeps a value that runs over several lines', () => {
    const text = [
      'uuid ( RO)           : 11111111-2222-4333-8444-555555555555',
      '     name-label ( RW): web',
      'name-description ( RW): first line',
      'second line',
      '    ha-always-run ( RW) [DEPRECATED]: false',
      '',
      'uuid ( RO)           : 66666666-7777-4888-9999-000000000000',
      '     name-label ( RW): db',
    ].join('\n');
    expect(parseXeRecords(text)).toEqual([
      {
        uuid: '11111111-2222-4333-8444-555555555555',
        'name-label': 'web',
        'name-description': 'first line\nsecond line',
        'ha-always-run': 'false',
      },
      { uuid: '66666666-7777-4888-9999-000000000000', 'name-label': 'db' },
    ]);
  });
});

describe('xenserver parsers on the edges of xe output', () => {
  it('reads records with CRLF, a value continued on the next lines, and padding at either end', () => {
    expect(
      parseXeRecords(
        'uuid ( RO)           : a\r\n    name-label ( RW): web   \r\n    name-description ( RW): first\r\n   second line   \r\n\r\nuuid ( RO) : b\r\n',
      ),
    ).toEqual([{ uuid: 'a', 'name-label': 'web', 'name-description': 'first\n   second line' }, { uuid: 'b' }]);
    // A parameter before any uuid still opens a record.
    expect(parseXeRecords('name-label ( RW): x\n')).toEqual([{ 'name-label': 'x' }]);
  });

  it('splits a map at "; ", keeping keys with colons, bare keys, and values that held "; "', () => {
    expect(parseXeMap('xs:main: XenServer Pack, version 6.5.0; major: 7; note: a; b; empty:')).toEqual({
      'xs:main': 'XenServer Pack, version 6.5.0',
      major: '7',
      note: 'a; b',
      empty: '',
    });
    expect(parseXeMap(' <not in database> ')).toBeNull();
    expect(parseXeMap(undefined)).toBeNull();
  });

  it('maps power states in any case, and the guest tools version from its parts', () => {
    expect([' Running ', 'HALTED', 'paused', 'Suspended', 'crashed', undefined].map(xeState)).toEqual([
      'running',
      'shutoff',
      'paused',
      'saved',
      'unknown',
      'unknown',
    ]);
    expect(pvDriversVersion('major: 7; minor: 1; micro: 0; build: 1020')).toBe('7.1.0.1020');
    expect(pvDriversVersion('major: 6; minor: 2; micro: ; build: 75')).toBe('6.2.75');
    expect(pvDriversVersion('minor: 1')).toBeUndefined();
    expect(pvDriversVersion('<not in database>')).toBeUndefined();
  });

  it('calls a dom0 its pool master unless pool.conf names another', () => {
    expect(isPoolMaster('master\n')).toBe(true);
    expect(isPoolMaster(null)).toBe(true);
    expect(isPoolMaster('  slave:10.0.0.1\n')).toBe(false);
  });
});
