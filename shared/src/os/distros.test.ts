/** Distribution ids, versions in each vendor's precision, and the names spoken of a candidate. */
import { describe, expect, it } from 'vitest';
import {
  canonicalDistro,
  cleanOsText,
  distroCandidate,
  fromNamedVersion,
  hostDistroName,
  normalizeVersion,
  toIdentity,
} from './distros.js';
import { nameHintCandidate } from './name-hint.js';
import { windowsFromText } from './windows.js';

describe('normalizeVersion', () => {
  it.each([
    ['sles', '12 SP5', '12.5'],
    ['sles', '12-SP3', '12.3'],
    ['sles', '12 SP0', '12'],
    ['sles', '11.4', '11.4'],
    ['sled', '15 SP4', '15.4'],
    // From 16 SUSE numbers releases major.minor: 16 is 16.0.
    ['sles', '16', '16.0'],
    ['sles', '16.1', '16.1'],
    ['sles', '', ''],
    ['sles', 'x', ''],
    // Amazon Linux 2023 and later are named by their year; Amazon Linux 2 keeps its number.
    ['amzn', '2023.1', '2023'],
    ['amzn', '2022.0', '2022'],
    ['amzn', '2', '2'],
    ['rhel', '9.4.1', '9.4'],
    ['centos', '7.9.2009', '7.9'],
    ['ubuntu', '22.04.3', '22.04'],
    ['debian', '12.5', '12'],
    ['fedora', '39', '39'],
    ['foolinux', ' 3.1.4 ', '3.1.4'],
  ])('%s %j is %j', (distro, raw, expected) => {
    expect(normalizeVersion(distro, raw)).toBe(expected);
  });
});

describe('the names of a candidate', () => {
  it('speaks of a host in vendor terms, SUSE by service pack', () => {
    expect(hostDistroName(distroCandidate('sles', '15.5'))).toBe('SLES 15 SP5');
    expect(hostDistroName(distroCandidate('rhel', '9.4'))).toBe('RHEL 9.4');
    expect(hostDistroName(distroCandidate('ubuntu', ''))).toBe('Ubuntu');
    expect(hostDistroName(distroCandidate('centos', '9', 'CentOS Stream'))).toBe('CentOS Stream 9');
    expect(hostDistroName(distroCandidate('foo', '1', 'Foo OS'))).toBe('Foo OS 1');
  });

  it('makes an identity whose id is distro and version in lower case, keeping only the details known', () => {
    expect(toIdentity(distroCandidate('sles', '15.5'))).toEqual({
      id: 'sles-15.5',
      family: 'linux',
      distro: 'sles',
      version: '15.5',
      name: 'SUSE Linux Enterprise Server 15 SP5',
    });
    expect(toIdentity(distroCandidate('ubuntu', ''))).toEqual({
      id: 'ubuntu',
      family: 'linux',
      distro: 'ubuntu',
      version: '',
      name: 'Ubuntu',
    });
    expect(
      toIdentity({
        family: 'windows',
        distro: 'windows-server',
        version: '2008 R2',
        display: 'Windows Server',
        build: '7601',
        edition: 'Enterprise',
        servicePack: 'SP1',
        arch: 'x86_64',
      }),
    ).toEqual({
      id: 'windows-server-2008-r2',
      family: 'windows',
      distro: 'windows-server',
      version: '2008 R2',
      name: 'Windows Server 2008 R2',
      build: '7601',
      edition: 'Enterprise',
      servicePack: 'SP1',
      arch: 'x86_64',
    });
  });

  it('gives a Linux name without a version the version beside it, never a Windows one', () => {
    expect(fromNamedVersion(distroCandidate('rhel', ''), '9.4')).toMatchObject({ distro: 'rhel', version: '9.4' });
    expect(fromNamedVersion(distroCandidate('rhel', '8'), '')).toMatchObject({ version: '8' });
    expect(fromNamedVersion(null, '9')).toBeNull();
    expect(fromNamedVersion(windowsFromText('Windows Server 2019'), '10.0')).toMatchObject({ version: '2019' });
  });

  it('reads ids in any case and spacing, with the ids other releases used', () => {
    expect(canonicalDistro(' RHEL ')).toBe('rhel');
    expect(canonicalDistro('opensuse')).toBe('opensuse-leap');
    expect(canonicalDistro('sles_sap')).toBe('sles_sap');
  });

  it('cleans OS text of trademarks, drive paths and runs of spaces', () => {
    expect(cleanOsText('Microsoft® Windows Server® 2008 Standard (R) x|C:\\Windows')).toBe(
      'Microsoft Windows Server 2008 Standard x',
    );
    expect(cleanOsText('  a   b (TM) ')).toBe('a b');
  });
});

describe('nameHintCandidate', () => {
  it.each([
    ['win2k19-dc', 'windows-server', '2019'],
    ['WIN2016', 'windows-server', '2016'],
    ['ws2022', 'windows-server', '2022'],
    ['w2k12r2', 'windows-server', '2012 R2'],
    ['win10', 'windows', '10'],
    ['win11-desk', 'windows', '11'],
    ['rhel9', 'rhel', '9'],
    ['centos7', 'centos', '7'],
  ])('%s is %s %s', (name, distro, version) => {
    const c = nameHintCandidate(name);
    expect(c).toMatchObject({ distro, version, family: distro.startsWith('windows') ? 'windows' : 'linux' });
    expect(c?.display).toBe({ 'windows-server': 'Windows Server', windows: 'Windows' }[distro] ?? c?.display);
  });

  it('says nothing of a name that hints at no OS', () => {
    expect(nameHintCandidate('db01')).toBeNull();
    expect(nameHintCandidate('srv-2k8r2')).toBeNull();
  });
});
