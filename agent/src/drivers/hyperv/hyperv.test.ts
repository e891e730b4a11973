import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Guest, identifyGuestOs, identifyHypervisor } from '@hvmap/shared';
import { parseAgentFrame } from '@hvmap/shared/schema';
import { describe, expect, it } from 'vitest';
import { caseOrigin } from '../../../../test/helpers/replay-cases.js';
import { replayRunner } from '../../replay.js';
import type { Runner, RunResult } from '../../runner.js';
import { DriverError } from '../driver.js';
import { hypervDriver } from './hyperv.js';
import {
  guestUuid,
  hyperVState,
  isPermissionDenied,
  legacyKvp,
  legacyVms,
  parseHostInfo,
  parseKvpDetail,
  parseKvpItems,
  parsePowerShellErrors,
  parseVmList,
  parseWmiList,
} from './parse.js';
import { DETECT_SCRIPT, HOST_SCRIPT, KVP_SCRIPT, LEGACY_SCRIPTS, LIST_SCRIPT } from './scripts.js';

const TESTCASES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testcases');
const PARSERS = path.join(TESTCASES, 'parsers');
const cases = readdirSync(TESTCASES, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'parsers')
  .map((d) => d.name);
const utf16 = (file: string) => readFileSync(file, 'utf16le').replace(/^\uFEFF/, '');
const utf8 = (...parts: string[]) => readFileSync(path.join(...parts), 'utf8');

/** A settled promise as data: its value, or the code and message of the DriverError it rejected with. */
async function settle<T>(promise: Promise<T>): Promise<T | { error: { code: string; message: string } }> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof DriverError) return { error: { code: err.code, message: err.message } };
    throw err;
  }
}

/** A case's replayed host, except for the scripts `override` answers (it gets the script text). */
function replayWith(name: string, override: (script: string) => RunResult | undefined): Runner {
  const replay = replayRunner(path.join(TESTCASES, name));
  return {
    run: async (program, args, options) => override(args.at(-1) ?? '') ?? replay.run(program, args, options),
    readFile: replay.readFile,
  };
}

const ok = (stdout: string, stderr = '', code = 0): RunResult => ({ stdout, stderr, code });
const isList = (script: string) => script.includes('Hyper-V\\Get-VM');
const isKvp = (script: string) => script.includes('-ClassName Msvm_KvpExchangeComponent');
const byName = (guests: Guest[]) => Object.fromEntries(guests.map((g) => [g.name, g]));

describe('hyperv driver on its test cases', () => {
  it.each(cases.map((name) => [name, caseOrigin(path.join(TESTCASES, name))]))(
    'reports the %s case (%s) as its expected.json says',
    async (name) => {
      const run = replayRunner(path.join(TESTCASES, name));
      const driver = hypervDriver();
      const actual = JSON.parse(
        JSON.stringify({
          detect: await driver.detect(run),
          hypervisor: await settle(driver.hypervisor(run)),
          scan: await settle(driver.guests(run)),
        }),
      );
      expect(run.uncaptured, 'commands neither captured nor declared notCaptured').toEqual([]);
      const expectedFile = path.join(TESTCASES, name, 'expected.json');
      if (process.env.UPDATE_FIXTURES === '1') writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`);
      expect(actual).toEqual(JSON.parse(readFileSync(expectedFile, 'utf8')));
    },
  );

  /** What each case's guests are, and the host's Hyper-V, as the shared identification reads the driver's evidence. */
  const IDENTITIES: Record<string, { hypervisor: string; guests: Record<string, string> }> = {
    'ws2019-hyperv': {
      hypervisor: 'hyper-v-2019',
      guests: {
        dc01: 'windows-server-2019',
        'web-rhel82': 'rhel-8.2',
        'build-ubuntu2204': 'ubuntu-22.04',
        'vdi-042': 'windows-11',
      },
    },
    'ws2012r2-hyperv': {
      hypervisor: 'hyper-v-2012-r2',
      guests: { sql01: 'windows-server-2012-r2', 'centos7-app': 'centos-7', 'sles11-erp': 'sles-11.4' },
    },
    'ws2008r2-hyperv-wmi-fr': { hypervisor: 'hyper-v-2008-r2', guests: {} },
  };

  it.each(cases)('gives the %s case evidence the shared identification reads right', async (name) => {
    const run = replayRunner(path.join(TESTCASES, name));
    const driver = hypervDriver();
    const { guests } = await driver.guests(run);
    expect(identifyHypervisor(await driver.hypervisor(run))?.id).toBe(IDENTITIES[name].hypervisor);
    const kvpGuests = guests.filter((g) => g.os.evidence.some((e) => e.source === 'kvp'));
    const identified = kvpGuests.map((g) => {
      const r = identifyGuestOs(g.os);
      return [g.name, r.known ? r.os.id : r.reason];
    });
    expect(Object.fromEntries(identified)).toEqual(IDENTITIES[name].guests);
  });

  it.each(cases)('gives the %s case an inventory the protocol schema accepts', async (name) => {
    const run = replayRunner(path.join(TESTCASES, name));
    const driver = hypervDriver();
    const { guests, errors } = await driver.guests(run);
    const frame = {
      type: 'inventory',
      seq: 1,
      collectedAt: '2025-01-01T00:00:00.000Z',
      host: { hostname: 'hv', os: { platform: 'win32' }, cpu: {} },
      hypervisor: await driver.hypervisor(run),
      guests,
      errors,
      partial: false,
    };
    expect(parseAgentFrame(JSON.stringify(frame))).toMatchObject({ ok: true });
  });

  it('says why each guest without KVP items has no OS: off, paused or saved, or a silent guest', async () => {
    const reasons = async (name: string) => {
      const { guests } = await hypervDriver().guests(replayRunner(path.join(TESTCASES, name)));
      return Object.fromEntries(guests.filter((g) => g.os.reason).map((g) => [g.name, g.os.reason]));
    };
    expect(await reasons('ws2019-hyperv')).toEqual({
      'comptabilité 2008': 'vm_off',
      'lab-paused': 'vm_off',
      'new-vm': 'kvp_empty',
    });
    expect(await reasons('ws2012r2-hyperv')).toEqual({
      'w2008r2-template': 'vm_off',
      'rhel6-reporting': 'vm_off',
      appliance: 'kvp_empty',
    });
    expect(await reasons('ws2008r2-hyperv-wmi-fr')).toEqual({ 'vm-0450-glpi': 'vm_off' });
  });

  it('keeps the OS items of the KVP exchange and leaves the guest addresses out', async () => {
    const { guests } = await hypervDriver().guests(replayRunner(path.join(TESTCASES, 'ws2019-hyperv')));
    const kvp = byName(guests).dc01.os.evidence[0];
    expect(kvp).toMatchObject({ source: 'kvp', text: 'Windows Server 2019 Datacenter' });
    expect(Object.keys(kvp.fields ?? {})).not.toContain('NetworkAddressIPv4');
    expect(Object.keys(kvp.fields ?? {})).not.toContain('RDPAddressIPv4');
    expect(kvp.fields?.IntegrationServicesVersion).toBe('10.0.17763.1');
  });

  it('detects a host where the vmms service is installed, and no other', async () => {
    const driver = hypervDriver();
    const noVmms = replayWith('ws2019-hyperv', (script) => (script.includes('Get-Service') ? ok('') : undefined));
    const noPowerShell: Runner = {
      run: async () => ({ stdout: '', stderr: '', code: null, error: 'ENOENT' }),
      readFile: async () => null,
    };
    expect(await driver.detect(replayRunner(path.join(TESTCASES, 'ws2019-hyperv')))).toBe(true);
    expect(await driver.detect(noVmms)).toBe(false);
    expect(await driver.detect(noPowerShell)).toBe(false);
    await expect(driver.guests(noPowerShell)).rejects.toMatchObject({ code: 'POWERSHELL_NOT_FOUND' });
    await expect(driver.hypervisor(noPowerShell)).rejects.toMatchObject({ code: 'POWERSHELL_NOT_FOUND' });
  });
});

describe('hyperv driver on faults', () => {
  const driver = hypervDriver();
  const kvpJson = utf8(TESTCASES, 'ws2019-hyperv', 'kvp.json');
  const listJson = utf8(TESTCASES, 'ws2019-hyperv', 'get-vm.json');
  const running = ['dc01', 'web-rhel82', 'build-ubuntu2204', 'vdi-042', 'new-vm'];

  it('reports BAD_OUTPUT for truncated KVP JSON, and every VM with the reason it has no OS', async () => {
    const run = replayWith('ws2019-hyperv', (s) => (isKvp(s) ? ok(kvpJson.slice(0, 5000)) : undefined));
    const { guests, errors } = await driver.guests(run);
    expect(guests).toHaveLength(7);
    expect(errors).toEqual([
      { driver: 'hyperv', code: 'BAD_OUTPUT', message: expect.stringMatching(/^the KVP output is not JSON/) },
    ]);
    const reasons = byName(guests);
    for (const name of running) expect(reasons[name].os.reason).toBe('error');
    expect(reasons['lab-paused'].os.reason).toBe('vm_off');
  });

  it('rejects with BAD_OUTPUT when the Get-VM JSON is truncated: no guest can be told', async () => {
    const run = replayWith('ws2019-hyperv', (s) => (isList(s) ? ok(listJson.slice(0, 300)) : undefined));
    await expect(driver.guests(run)).rejects.toMatchObject({ code: 'BAD_OUTPUT' });
    expect(await driver.hypervisor(run)).toMatchObject({ version: '2019' });
  });

  it('reports POWERSHELL_ERROR with the message of an error record, and the VMs Get-VM still listed', async () => {
    const stderr = [
      "Hyper-V\\Get-VM : The Virtual Machine Management Service failed to load the virtual machine configuration: 'web-rhel82' (5F0E8A7C-2B4D-4C3E-8F6A-1D2E3F4A5B02)",
      'At line:1 char:184',
      '+ ... ; $vms = @(Hyper-V\\Get-VM | Select-Object -Property Name, @{n=...',
      '+                ~~~~~~~~~~~~~~',
      '    + CategoryInfo          : NotSpecified: (:) [Get-VM], VirtualizationException',
      '    + FullyQualifiedErrorId : OperationFailed,Microsoft.HyperV.PowerShell.Commands.GetVM',
      ' ',
    ].join('\r\n');
    const doc = JSON.parse(listJson) as { vms: { Name: string }[] };
    const partial = JSON.stringify({ ...doc, vms: doc.vms.filter((v) => v.Name !== 'web-rhel82') });
    const run = replayWith('ws2019-hyperv', (s) => (isList(s) ? ok(partial, stderr, 1) : undefined));
    const { guests, errors } = await driver.guests(run);
    expect(guests.map((g) => g.name)).not.toContain('web-rhel82');
    expect(guests).toHaveLength(6);
    expect(errors).toEqual([
      {
        driver: 'hyperv',
        code: 'POWERSHELL_ERROR',
        message:
          "Get-VM: Hyper-V\\Get-VM : The Virtual Machine Management Service failed to load the virtual machine configuration: 'web-rhel82' (5F0E8A7C-2B4D-4C3E-8F6A-1D2E3F4A5B02) [OperationFailed,Microsoft.HyperV.PowerShell.Commands.GetVM]",
      },
    ]);
  });

  it('reports a VM that went away between Get-VM and the KVP query as VM_VANISHED, not as a guest', async () => {
    const gone = '5F0E8A7C-2B4D-4C3E-8F6A-1D2E3F4A5B02';
    const doc = JSON.parse(kvpJson) as { systems: string[]; kvp: { SystemName: string }[] };
    const after = JSON.stringify({
      systems: doc.systems.filter((s) => s !== gone),
      kvp: doc.kvp.filter((k) => k.SystemName !== gone),
    });
    const run = replayWith('ws2019-hyperv', (s) => (isKvp(s) ? ok(after) : undefined));
    const { guests, errors } = await driver.guests(run);
    expect(guests.map((g) => g.name)).not.toContain('web-rhel82');
    expect(guests).toHaveLength(6);
    expect(errors).toEqual([
      {
        driver: 'hyperv',
        code: 'VM_VANISHED',
        guest: guestUuid('{4C3B2A19-0817-4F6E-8D5C-4B3A29180722}', 2),
        message: `VM 'web-rhel82' (${gone.toLowerCase()}) went away between Get-VM and the KVP query`,
      },
    ]);
  });

  it('gives running guests permission_denied and one PERMISSION_DENIED entry when the KVP query is refused', async () => {
    const stderr = utf8(PARSERS, 'cmhealth-1_get-ciminstance-access-denied.stderr.txt');
    const run = replayWith('ws2019-hyperv', (s) => (isKvp(s) ? ok('{"systems":[],"kvp":[]}', stderr, 1) : undefined));
    const { guests, errors } = await driver.guests(run);
    // The refused query found no computer system; that says nothing about which VMs exist.
    expect(guests).toHaveLength(7);
    const reasons = byName(guests);
    for (const name of running) expect(reasons[name].os.reason).toBe('permission_denied');
    expect(reasons['comptabilité 2008'].os.reason).toBe('vm_off');
    expect(errors.map((e) => e.code)).toEqual(['PERMISSION_DENIED', 'PERMISSION_DENIED']);
    expect(errors[0].message).toMatch(/Access is denied.*Hyper-V Administrators/);
  });

  it('rejects with PERMISSION_DENIED, naming the group to join, when Get-VM is refused', async () => {
    const stderr = utf8(PARSERS, 'minikube-6732_get-vm-permission.stderr.txt');
    const run = replayWith('ws2019-hyperv', (s) => (isList(s) ? ok('', stderr, 1) : undefined));
    await expect(driver.guests(run)).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringMatching(/required permission.*Hyper-V Administrators/),
    });
  });

  it("says which integration services Get-VM saw when a running guest's KVP exchange is empty", async () => {
    const doc = JSON.parse(kvpJson) as {
      systems: string[];
      kvp: { SystemName: string; GuestIntrinsicExchangeItems: unknown }[];
    };
    const silent = JSON.stringify({
      ...doc,
      kvp: doc.kvp.map((k) => (k.SystemName.startsWith('D1C9B9F3') ? { ...k, GuestIntrinsicExchangeItems: null } : k)),
    });
    const run = replayWith('ws2019-hyperv', (s) => (isKvp(s) ? ok(silent) : undefined));
    const { guests } = await driver.guests(run);
    expect(byName(guests).dc01.os).toMatchObject({
      reason: 'kvp_empty',
      reasonDetail: expect.stringContaining('(integration services: 10.0.17763.1, Up to date)'),
    });
  });

  it('gives running guests timeout when the KVP query does not answer, and lists them all', async () => {
    const run = replayWith('ws2019-hyperv', (s) =>
      isKvp(s) ? { stdout: '', stderr: '', code: null, error: 'TIMEOUT' } : undefined,
    );
    const { guests, errors } = await hypervDriver({ commandTimeoutMs: 5000 }).guests(run);
    expect(guests).toHaveLength(7);
    expect(byName(guests).dc01.os).toMatchObject({
      reason: 'timeout',
      reasonDetail: expect.stringContaining('5000 ms'),
    });
    expect(errors.map((e) => e.code)).toEqual(['COMMAND_TIMEOUT']);
  });

  it('reads a host whose caption is localized, in any script, from its caption and build', async () => {
    const host = [
      'Caption=Майкрософт Windows Server 2016 Standard',
      'Version=10.0.14393',
      'BuildNumber=14393',
      'ProductType=3',
      'OSLanguage=1049',
      'VmmsVersion=10.0.14393.0',
      '',
    ].join('\r\n');
    const run = replayWith('ws2019-hyperv', (s) => (s.includes('Win32_OperatingSystem') ? ok(host) : undefined));
    expect(await driver.hypervisor(run)).toEqual({
      driver: 'hyperv',
      product: 'hyper-v',
      version: '2016',
      build: '14393',
      managementStack: 'vmms 10.0.14393.0',
      hostOs: 'Майкрософт Windows Server 2016 Standard',
      hostOsFields: {
        Caption: 'Майкрософт Windows Server 2016 Standard',
        Version: '10.0.14393',
        BuildNumber: '14393',
        ProductType: '3',
        OSLanguage: '1049',
      },
    });
  });

  it('falls back to root\\virtualization when Get-VM is missing, and says how to get it when that fails too', async () => {
    const invalidNamespace = [
      'Get-WmiObject : Invalid namespace "root\\virtualization"',
      'At line:1 char:73',
      '+ ... ; Get-WmiObject -Namespace root\\virtualization -Class Msvm_ComputerSystem ...',
      '+       ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~',
      '    + CategoryInfo          : InvalidArgument: (:) [Get-WmiObject], ManagementException',
      '    + FullyQualifiedErrorId : GetWMIManagementException,Microsoft.PowerShell.Commands.GetWmiObjectCommand',
    ].join('\r\n');
    const run = replayWith('ws2019-hyperv', (s) => {
      if (isList(s)) return ok('', '', 3);
      if (s.includes('root\\virtualization -Class Msvm_ComputerSystem')) return ok('', invalidNamespace, 1);
      return undefined;
    });
    await expect(driver.guests(run)).rejects.toMatchObject({
      code: 'POWERSHELL_ERROR',
      message: expect.stringMatching(/Invalid namespace.*Install-WindowsFeature Hyper-V-PowerShell/),
    });
  });
});

describe('hyperv parsers', () => {
  it("turns a BIOSGUID into the UUID a generation 1 guest reads, with virt-who's example", () => {
    // candlepin/virt-who virtwho/virt/hyperv/hyperv.py decodeWinUUID: the first three groups byte-swapped.
    expect(guestUuid('{78563412-AB90-EFCD-1234-567890ABCDEF}', 1)).toBe('12345678-90ab-cdef-1234-567890abcdef');
    // Generation 2 firmware (SMBIOS 3.1) is read little-endian: the guest sees what WMI prints (candlepin/virt-who#421).
    expect(guestUuid('{78563412-AB90-EFCD-1234-567890ABCDEF}', 2)).toBe('78563412-ab90-efcd-1234-567890abcdef');
    expect(guestUuid('78563412-AB90-EFCD-1234-567890ABCDEF', 1)).toBe('12345678-90ab-cdef-1234-567890abcdef');
    expect(guestUuid('not a guid', 1)).toBeNull();
  });

  it('maps every EnabledState code and Get-VM state name onto the shared vocabulary', () => {
    const codes = [2, 3, 4, 10, 32768, 32769, 32770, 32773, 32774, 32776, 32777, 0, 32771];
    expect(codes.map(hyperVState)).toEqual([
      'running',
      'shutoff',
      'stopping',
      'starting',
      'paused',
      'saved',
      'starting',
      'stopping',
      'stopping',
      'stopping',
      'starting',
      'unknown',
      'unknown',
    ]);
    const names = ['Running', 'Off', 'Saved', 'Paused', 'Starting', 'Stopping', 'Saving', 'Pausing', 'Resuming'];
    expect(names.map(hyperVState)).toEqual([
      'running',
      'shutoff',
      'saved',
      'paused',
      'starting',
      'stopping',
      'stopping',
      'stopping',
      'starting',
    ]);
    expect(['RunningCritical', 'OffCritical', 'FastSaved', 'Other', ''].map(hyperVState)).toEqual([
      'running',
      'shutoff',
      'saved',
      'unknown',
      'unknown',
    ]);
  });

  it("reads GLPI's capture of an unknown host: three VMs, the host row left out whatever its language", () => {
    const systems = parseWmiList(utf16(path.join(PARSERS, 'glpi-unknown-MSVM_ComputerSystem.wmi')));
    expect(systems).toHaveLength(4);
    expect(legacyVms(systems, [], [], []).map((vm) => [vm.name, vm.id, vm.state])).toEqual([
      ['vmw7cainf295537', '0346a680-adf9-4b2c-8681-70e0d9c7f889', 'running'],
      ['COLETA_FABIANO', 'e3e2976b-fc19-489d-b579-24f80ededb68', 'running'],
      ['W2012', 'f3ae8a91-00d9-42eb-8556-cc7caa4a92e6', 'shutoff'],
    ]);
  });

  it('joins the French 2008 R2 captures: the VM, its 2048 MB and 2 processors, not the Definition templates', () => {
    const dir = path.join(TESTCASES, 'ws2008r2-hyperv-wmi-fr');
    const [systems, memory, processors] = ['ComputerSystem', 'MemorySettingData', 'ProcessorSettingData'].map((c) =>
      parseWmiList(utf16(path.join(dir, `glpi-2008-MSVM_${c}.wmi`))),
    );
    expect(systems[0].Caption).toBe("Système informatique d'hébergement");
    expect(legacyVms(systems, memory, processors, [])).toEqual([
      {
        name: 'vm-0450-glpi',
        id: '6a257fa0-fa76-4bf4-a3fb-67aee79316bd',
        state: 'shutoff',
        generation: 1,
        processorCount: 2,
        memoryBytes: 2048 * 1024 * 1024,
        biosGuid: undefined,
      },
    ]);
  });

  it('reads the real KVP item host-sflow quotes, with its line breaks and tabs', () => {
    expect(parseKvpItems([utf8(PARSERS, 'host-sflow_kvp_item_OSVersion.xml')])).toEqual({ OSVersion: '6.2.8064' });
  });

  it('reads KVP items with entities, empty values and junk among them', () => {
    const item = (name: string, data: string | null) =>
      `<INSTANCE CLASSNAME="Msvm_KvpExchangeDataItem"><PROPERTY NAME="Data" TYPE="string">${data === null ? '' : `<VALUE>${data}</VALUE>`}</PROPERTY><PROPERTY NAME="Name" TYPE="string"><VALUE>${name}</VALUE></PROPERTY></INSTANCE>`;
    expect(
      parseKvpItems([
        item('OSName', 'Caf&#233; &amp; Co Linux'),
        item('OSMinorVersion', null),
        item('NetworkAddressIPv4', '192.0.2.1'),
        '<INSTANCE CLASSNAME="Msvm_KvpExchangeDataItem"><PROPERTY',
        'not xml',
      ]),
    ).toEqual({ OSName: 'Café & Co Linux', OSMinorVersion: '' });
  });

  it("reads the legacy KVP script's lines, one per item, into each VM's items", () => {
    const xml = utf8(PARSERS, 'host-sflow_kvp_item_OSVersion.xml').replace(/\r?\n/g, ' ');
    const text = `\r\nSystemName=6A257FA0-FA76-4BF4-A3FB-67AEE79316BD\r\nGuestIntrinsicExchangeItems=${xml}\r\nGuestIntrinsicExchangeItems=${xml.replace('OSVersion', 'OSName').replace('6.2.8064', 'Windows Server 2008 R2 Enterprise')}\r\n\r\nSystemName=0346A680-ADF9-4B2C-8681-70E0D9C7F889\r\nGuestIntrinsicExchangeItems=\r\n`;
    const items = legacyKvp(parseWmiList(text));
    expect(parseKvpItems(items.get('6a257fa0-fa76-4bf4-a3fb-67aee79316bd') ?? [])).toEqual({
      OSVersion: '6.2.8064',
      OSName: 'Windows Server 2008 R2 Enterprise',
    });
    expect(parseKvpItems(items.get('0346a680-adf9-4b2c-8681-70e0d9c7f889') ?? [])).toEqual({});
  });

  it('reads collections however Windows PowerShell wrote them: array, single object, {value, Count}, null', () => {
    const vm = { Name: 'a', Id: 'D1C9B9F3-6E3A-4F51-9A52-3C1F6F0B2A01', State: 'Running', Generation: 2 };
    const settings = { VirtualSystemIdentifier: vm.Id, BIOSGUID: '{0E7C4B5A-1D2F-4E3A-9B8C-7D6E5F4A3B21}' };
    for (const doc of [
      { vms: [vm], settings: [settings] },
      { vms: vm, settings },
      { vms: { value: [vm], Count: 1 }, settings },
    ]) {
      expect(parseVmList(JSON.stringify(doc))).toMatchObject([
        { name: 'a', id: vm.Id.toLowerCase(), state: 'running', generation: 2, biosGuid: settings.BIOSGUID },
      ]);
    }
    expect(parseVmList('{"vms":null,"settings":null}')).toEqual([]);
    expect(
      parseVmList('\uFEFF{"vms":[{"Name":"old","Id":"D1C9B9F3-6E3A-4F51-9A52-3C1F6F0B2A01","State":"Off"}]}'),
    ).toMatchObject([{ name: 'old', generation: 1 }]);
    expect(parseKvpDetail('{"systems":"HOST","kvp":null}')).toEqual({ systems: new Set(['host']), items: new Map() });
    expect(() => parseVmList('{"vms":[{"Name":"a"')).toThrow(DriverError);
  });

  it('reads the host lines, leaving out empty values', () => {
    expect(
      parseHostInfo('Caption=Microsoft Windows Server 2008 R2 Entreprise \r\nBuildNumber=7601\r\nVmmsVersion=\r\n'),
    ).toEqual({
      Caption: 'Microsoft Windows Server 2008 R2 Entreprise',
      BuildNumber: '7601',
    });
  });

  it('reads the error records of real stderr captures, and tells a refused access from other errors', () => {
    const getVm = parsePowerShellErrors(utf8(PARSERS, 'minikube-6732_get-vm-permission.stderr.txt'));
    expect(getVm).toEqual([
      {
        message:
          "Hyper-V\\Get-VM : You do not have the required permission to complete this task. Contact the administrator of the authorization policy for the computer 'DESKTOP-1CILTF5'.",
        category: 'NotSpecified',
        errorId: 'Unspecified,Microsoft.HyperV.PowerShell.Commands.GetVM',
      },
    ]);
    const cim = parsePowerShellErrors(utf8(PARSERS, 'cmhealth-1_get-ciminstance-access-denied.stderr.txt'));
    expect(cim.map((e) => [e.message, e.category])).toEqual([
      ['Get-CimInstance : Access is denied.', 'PermissionDenied'],
      ['Get-CimInstance : Access is denied.', 'PermissionDenied'],
    ]);
    expect([...getVm, ...cim].every(isPermissionDenied)).toBe(true);
    const other = parsePowerShellErrors(
      'Get-VM : The operation failed.\r\n    + CategoryInfo : NotSpecified: (:) [Get-VM], VirtualizationException\r\n    + FullyQualifiedErrorId : OperationFailed,Microsoft.HyperV.PowerShell.Commands.GetVM\r\n',
    );
    expect(other.map(isPermissionDenied)).toEqual([false]);
    expect(parsePowerShellErrors('Program exited: out of memory\n')).toEqual([
      { message: 'Program exited: out of memory' },
    ]);
    expect(parsePowerShellErrors(' \r\n')).toEqual([]);
  });
});

describe('hyperv parsers on the edges of PowerShell and wmic output', () => {
  const DENIED =
    '\uFEFFGet-VM : You do not have the required permission to complete this task.\r\nAt line:1 char:1\r\n+ Get-VM\r\n+ ~~~~~~\r\n' +
    '    + CategoryInfo          : NotSpecified: (:) [Get-VM], VirtualizationException\r\n' +
    '    + FullyQualifiedErrorId : Unspecified,Microsoft.HyperV.PowerShell.Commands.GetVM\r\n';

  it('reads an error record written with a byte order mark and CRLF, leaving out the position and excerpt', () => {
    expect(parsePowerShellErrors(DENIED)).toEqual([
      {
        message: 'Get-VM : You do not have the required permission to complete this task.',
        category: 'NotSpecified',
        errorId: 'Unspecified,Microsoft.HyperV.PowerShell.Commands.GetVM',
      },
    ]);
    expect(parsePowerShellErrors('')).toEqual([]);
    expect(parsePowerShellErrors('  \r\n\n')).toEqual([]);
  });

  it('reads several records, one without a category, one without an id, and text that is no record', () => {
    const two =
      'Get-CimInstance : Access denied\nAt line:1 char:1\n+ Get-CimInstance\n' +
      '    + CategoryInfo          : PermissionDenied: (root/virtualization/v2:Msvm_ComputerSystem:String) [Get-CimInstance], CimException\n' +
      '    + FullyQualifiedErrorId : HRESULT 0x80041003,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand\n' +
      'Start-VM : failed\n    + FullyQualifiedErrorId : AccessDenied,Start-VM\n';
    expect(parsePowerShellErrors(two)).toEqual([
      {
        message: 'Get-CimInstance : Access denied',
        category: 'PermissionDenied',
        errorId: 'HRESULT 0x80041003,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand',
      },
      { message: 'Start-VM : failed', errorId: 'AccessDenied,Start-VM' },
    ]);
    // A "+ PSComputerName" line left from the record before is not the next one's message.
    expect(
      parsePowerShellErrors(
        '    + PSComputerName        : hv01\nNext error\nAt line:2\n+ x\n    + CategoryInfo : ObjectNotFound: (x) [], Y\n',
      ),
    ).toEqual([{ message: 'Next error', category: 'ObjectNotFound' }]);
    expect(parsePowerShellErrors('plain failure text\nsecond line')).toEqual([
      { message: 'plain failure text second line' },
    ]);
    expect(parsePowerShellErrors('one line\n+ excerpt only')).toEqual([{ message: 'one line' }]);
  });

  it('calls an error a refused access by its category, its id, or its words', () => {
    const denied = (e: { message?: string; category?: string; errorId?: string }) =>
      isPermissionDenied({ message: '', ...e });
    expect(denied({ category: 'PermissionDenied' })).toBe(true);
    expect(denied({ category: 'NotSpecified' })).toBe(false);
    for (const errorId of ['AccessDenied,Start-VM', 'HRESULT 0x80070005,X', 'HRESULT 0x80041003,Y']) {
      expect(denied({ errorId }), errorId).toBe(true);
    }
    expect(denied({ errorId: 'NotAccessDenied,X' })).toBe(false);
    expect(denied({ errorId: 'Unspecified,Microsoft.HyperV.PowerShell.Commands.GetVM' })).toBe(false);
    for (const message of [
      'Access is denied.',
      'access denied',
      'You do not have the required permission',
      'Accès refusé',
      'Zugriff verweigert',
    ]) {
      expect(denied({ message }), message).toBe(true);
    }
    expect(denied({ message: 'The operation failed' })).toBe(false);
  });

  it('reads wmic lists with a byte order mark and CRLF, joining repeated names, a value keeping its "="', () => {
    expect(parseWmiList('\uFEFFName=a\r\nX=1=2\r\nX=3\r\n\r\n\r\nName = b \r\nnoise\r\nName=c\r\n')).toEqual([
      { Name: 'a', X: '1=2\n3' },
      { Name: 'b' },
      { Name: 'c' },
    ]);
  });
});

describe('hyperv parsers on the edges of ConvertTo-Json output', () => {
  const ID = '4C3B2A19-0817-4F6E-8D5C-4B3A29180722';

  it('reads the VM list whether PowerShell wrote an array, {value, Count}, one object or null', () => {
    const vm = {
      Id: ID,
      Name: ' web ',
      State: 'Running',
      Generation: 2,
      ProcessorCount: '4',
      MemoryStartup: 2147483648,
    };
    const settings = { VirtualSystemIdentifier: ID.toLowerCase(), BIOSGUID: '{78563412-AB90-EFCD-1234-567890ABCDEF}' };
    const expected = {
      name: 'web',
      id: ID.toLowerCase(),
      state: 'running',
      generation: 2,
      processorCount: 4,
      memoryBytes: 2147483648,
      biosGuid: settings.BIOSGUID,
    };
    expect(parseVmList(JSON.stringify({ vms: [vm], settings: [settings] }))).toEqual([expected]);
    expect(parseVmList(JSON.stringify({ vms: { value: [vm], Count: 1 }, settings }))).toEqual([expected]);
    expect(parseVmList(`\uFEFF${JSON.stringify({ vms: vm, settings: null })}`)).toEqual([
      { ...expected, biosGuid: undefined },
    ]);
    expect(parseVmList(JSON.stringify({ vms: null }))).toEqual([]);
  });

  it('keeps what it can read of a row: no Generation is generation 1, bad counts are left out, rows without id or name skipped', () => {
    const rows = [
      { Id: ID, Name: 'old', State: 3, Generation: null, ProcessorCount: -1, MemoryStartup: 'lots', Version: '5.0' },
      { Id: '', Name: 'no id' },
      { Id: 'x', Name: '   ' },
      { Name: 'no id either' },
      'not a row',
    ];
    expect(
      parseVmList(JSON.stringify({ vms: rows, settings: [{ VirtualSystemIdentifier: ID }, { BIOSGUID: 'x' }] })),
    ).toEqual([
      {
        name: 'old',
        id: ID.toLowerCase(),
        state: 'shutoff',
        generation: 1,
        configurationVersion: '5.0',
        processorCount: undefined,
        memoryBytes: undefined,
        integrationServicesVersion: undefined,
        integrationServicesState: undefined,
        biosGuid: undefined,
      },
    ]);
  });

  it('says what it got when the output is not JSON, cut to 200 characters', () => {
    expect(() => parseVmList('Get-VM : access denied')).toThrow(
      /^the Get-VM output is not JSON \(.*\); it began: "Get-VM : access denied"$/,
    );
    const long = 'x'.repeat(300);
    expect(() => parseKvpDetail(long)).toThrow(`it began: "${'x'.repeat(200)}…"`);
    expect(() => parseKvpDetail(long)).toThrow(/^the KVP output is not JSON/);
  });

  it('reads the KVP detail: systems in lower case, each VM its string items', () => {
    const detail = parseKvpDetail(
      JSON.stringify({
        systems: ['HV01', ID, 7, null],
        kvp: [
          { SystemName: ID, GuestIntrinsicExchangeItems: ['<INSTANCE/>', 3] },
          { SystemName: 'other', GuestIntrinsicExchangeItems: '<INSTANCE/>' },
          { GuestIntrinsicExchangeItems: ['orphan'] },
        ],
      }),
    );
    expect([...detail.systems]).toEqual(['hv01', ID.toLowerCase(), '7']);
    expect(Object.fromEntries(detail.items)).toEqual({ [ID.toLowerCase()]: ['<INSTANCE/>'], other: ['<INSTANCE/>'] });
  });

  it('joins legacy WMI settings to their VM by the GUID in InstanceID, the first of each', () => {
    const vmId = ID.toLowerCase();
    const vms = legacyVms(
      [
        { Name: ID, ElementName: 'legacy', EnabledState: '2' },
        { Name: 'HV2008', ElementName: 'Hosting Computer System', EnabledState: '2' },
        { Name: '11111111-2222-3333-4444-555555555555', EnabledState: '3' },
      ],
      [
        { InstanceID: `Microsoft:${ID}\\4764334d-e001-4176-82ee-5594ec9b530e`, VirtualQuantity: '1024' },
        { InstanceID: `Microsoft:${ID}\\second`, VirtualQuantity: '9' },
        { InstanceID: 'Microsoft:Definition\\x', VirtualQuantity: '5' },
      ],
      [{ InstanceID: `Microsoft:${ID}`, VirtualQuantity: '2' }],
      [{ SystemName: ID, BIOSGUID: '{78563412-AB90-EFCD-1234-567890ABCDEF}' }, { SystemName: 'x' }],
    );
    expect(vms).toEqual([
      {
        name: 'legacy',
        id: vmId,
        state: 'running',
        generation: 1,
        processorCount: 2,
        memoryBytes: 1024 * 1024 * 1024,
        biosGuid: '{78563412-AB90-EFCD-1234-567890ABCDEF}',
      },
      {
        name: '11111111-2222-3333-4444-555555555555',
        id: '11111111-2222-3333-4444-555555555555',
        state: 'shutoff',
        generation: 1,
        processorCount: undefined,
        memoryBytes: undefined,
        biosGuid: undefined,
      },
    ]);
    expect(
      Object.fromEntries(legacyKvp([{ SystemName: ID, GuestIntrinsicExchangeItems: 'a\nb' }, { SystemName: 'y' }, {}])),
    ).toEqual({
      [vmId]: ['a', 'b'],
      y: [],
    });
  });

  it('reads the host lines, leaving out empty values', () => {
    expect(
      parseHostInfo(
        'Caption=Microsoft Windows Server 2019 Datacenter\r\nVersion=10.0.17763\r\nBuildNumber=\r\nOther=x\r\n',
      ),
    ).toEqual({
      Caption: 'Microsoft Windows Server 2019 Datacenter',
      Version: '10.0.17763',
    });
    expect(parseHostInfo('')).toEqual({});
  });
});

describe('hyperv scripts', () => {
  it('are single lines without a double quote, which the Windows command line would mangle', () => {
    const scripts = [DETECT_SCRIPT, HOST_SCRIPT, LIST_SCRIPT, KVP_SCRIPT, ...Object.values(LEGACY_SCRIPTS)];
    for (const script of scripts) {
      expect(script).not.toMatch(/["\r\n]/);
    }
  });

  it('are told apart by the fragments the replay cases match them with', () => {
    const fragments = {
      'Get-Service -Name vmms': DETECT_SCRIPT,
      Win32_OperatingSystem: HOST_SCRIPT,
      'Hyper-V\\Get-VM': LIST_SCRIPT,
      '-ClassName Msvm_KvpExchangeComponent': KVP_SCRIPT,
      ...Object.fromEntries(
        [
          'Msvm_ComputerSystem',
          'Msvm_MemorySettingData',
          'Msvm_ProcessorSettingData',
          'Msvm_VirtualSystemSettingData',
          'Msvm_KvpExchangeComponent',
        ].map((c, i) => [`root\\virtualization -Class ${c}`, Object.values(LEGACY_SCRIPTS)[i]]),
      ),
    };
    const scripts = [DETECT_SCRIPT, HOST_SCRIPT, LIST_SCRIPT, KVP_SCRIPT, ...Object.values(LEGACY_SCRIPTS)];
    for (const [fragment, script] of Object.entries(fragments)) {
      expect(scripts.filter((s) => s.includes(fragment))).toEqual([script]);
    }
  });
});
