/**
 * The evidence readers one field set or text at a time: which reader the keys choose, and the
 * rules each applies (os-release IDs borrowed by other distributions, the guest agent's Windows
 * variant, Hyper-V KVP's SUSE lines, XenServer guest tools' names).
 */
import { describe, expect, it } from 'vitest';
import { fieldsCandidate, textCandidate } from './read-evidence.js';

const linux = (distro: string, version: string, display: string, extra: object = {}) => ({
  family: 'linux',
  distro,
  version,
  display,
  ...extra,
});

describe('fieldsCandidate: os-release', () => {
  it.each([
    [{ NAME: 'Scientific Linux', ID: 'rhel', VERSION_ID: '7.9' }, linux('scientific', '7.9', 'Scientific Linux')],
    [
      { NAME: 'openSUSE Tumbleweed', ID: 'opensuse', VERSION_ID: '20230101' },
      linux('opensuse-tumbleweed', '20230101', 'openSUSE Tumbleweed'),
    ],
    [{ NAME: 'CentOS Stream', ID: 'centos', VERSION_ID: '9' }, linux('centos', '9', 'CentOS Stream')],
    [{ NAME: 'CentOS Linux', ID: 'centos', VERSION_ID: '7' }, linux('centos', '7', 'CentOS')],
    // A distribution hvmap does not know keeps its own NAME.
    [{ NAME: 'Foo Linux', ID: 'foolinux', VERSION_ID: '3' }, linux('foolinux', '3', 'Foo Linux')],
    // Without ID, the name decides and VERSION_ID gives the version.
    [{ PRETTY_NAME: 'Ubuntu 22.04.3 LTS', VERSION_ID: '22.04' }, linux('ubuntu', '22.04', 'Ubuntu')],
    [{ NAME: 'Fedora Linux', VERSION_ID: '39' }, linux('fedora', '39', 'Fedora')],
    [
      { NAME: 'SLES', ID: 'sles', VERSION_ID: '15.5', VARIANT: '' },
      linux('sles', '15.5', 'SUSE Linux Enterprise Server'),
    ],
  ])('%j', (fields, expected) => {
    expect(fieldsCandidate(fields)).toEqual(expected);
  });
});

describe('fieldsCandidate: QEMU guest agent (virsh guestinfo --os keys)', () => {
  it('reads os-release style keys, trimmed, with the machine as arch and the variant as edition', () => {
    expect(
      fieldsCandidate({
        'os.id': 'rhel',
        'os.version-id': '9.4',
        'os.name': 'Red Hat Enterprise Linux',
        'os.pretty-name': 'Red Hat Enterprise Linux 9.4 (Plow)',
        'os.machine': 'x86_64',
        'os.variant': 'Server',
      }),
    ).toEqual(linux('rhel', '9.4', 'Red Hat Enterprise Linux', { edition: 'Server', arch: 'x86_64' }));
    expect(fieldsCandidate({ 'os.id': '  rhel ', 'os.version-id': ' 9.4 ' })).toEqual(
      linux('rhel', '9.4', 'Red Hat Enterprise Linux'),
    );
    expect(fieldsCandidate({ 'os.kernel-release': '5.14.0' })).toBeNull();
  });

  it('reads Windows from its name and build, variant-id standing in for the product type', () => {
    const windows = (variant?: string) =>
      fieldsCandidate({
        'os.id': 'mswindows',
        'os.name': 'Microsoft Windows',
        'os.kernel-release': '20348',
        ...(variant ? { 'os.variant-id': variant } : {}),
      });
    expect(windows('server')).toEqual({
      family: 'windows',
      distro: 'windows-server',
      version: '2022',
      display: 'Windows Server',
      build: '20348',
    });
    expect(windows('client')).toMatchObject({ distro: 'windows', version: '10' });
    expect(windows()).toMatchObject({ distro: 'windows-server', version: '2022' });
    expect(
      fieldsCandidate({
        'os.id': 'mswindows',
        'os.pretty-name': 'Windows Server 2022 Datacenter',
        'os.kernel-release': '20348',
        'os.variant-id': 'server',
        'os.machine': 'x86_64',
      }),
    ).toEqual({
      family: 'windows',
      distro: 'windows-server',
      version: '2022',
      display: 'Windows Server',
      build: '20348',
      edition: 'Datacenter',
      arch: 'x86_64',
    });
  });
});

describe('fieldsCandidate: Hyper-V KVP', () => {
  it.each([
    [
      {
        OSName: 'SUSE Linux Enterprise Server 11 (x86_64)',
        OSMajorVersion: 'VERSION = 11',
        OSMinorVersion: 'PATCHLEVEL = 4',
        OSVersion: '3.0.101',
      },
      linux('sles', '11.4', 'SUSE Linux Enterprise Server'),
    ],
    [
      {
        OSName: 'SUSE Linux Enterprise Server 11 (x86_64)',
        OSMajorVersion: 'VERSION=11',
        OSMinorVersion: 'PATCHLEVEL=12',
        OSVersion: '3.0',
      },
      linux('sles', '11.12', 'SUSE Linux Enterprise Server'),
    ],
    [
      {
        OSName: 'SUSE Linux Enterprise Server 11 (x86_64)',
        OSMajorVersion: 'VERSION=11',
        OSMinorVersion: '',
        OSVersion: '3.0',
      },
      linux('sles', '11', 'SUSE Linux Enterprise Server'),
    ],
    [
      { OSName: 'CentOS Linux', OSMajorVersion: '7', OSMinorVersion: '9', OSVersion: '3.10' },
      linux('centos', '7.9', 'CentOS'),
    ],
    [
      { OSName: 'CentOS Linux', OSMajorVersion: '7', OSMinorVersion: 'x', OSVersion: '3.10' },
      linux('centos', '7', 'CentOS'),
    ],
    [
      {
        OSName: 'Red Hat Enterprise Linux Server release 6.10 (Santiago)',
        OSMajorVersion: '6.10',
        OSMinorVersion: '',
        OSVersion: '2.6',
      },
      linux('rhel', '6.10', 'Red Hat Enterprise Linux', { edition: 'Server' }),
    ],
  ])('%j', (fields, expected) => {
    expect(fieldsCandidate(fields)).toEqual(expected);
  });

  it('takes Windows from its caption and build when it says ProductType, or its name says Windows', () => {
    const server = {
      family: 'windows',
      distro: 'windows-server',
      version: '2019',
      display: 'Windows Server',
      build: '17763',
    };
    expect(
      fieldsCandidate({ OSName: 'Hyper-V Server', ProductType: '3', OSVersion: '10.0.17763', OSBuildNumber: '17763' }),
    ).toEqual(server);
    expect(
      fieldsCandidate({
        OSName: 'Windows Server 2019 Datacenter',
        OSVersion: '10.0.17763',
        OSBuildNumber: '17763',
        ProductType: '3',
      }),
    ).toEqual({ ...server, edition: 'Datacenter' });
  });
});

describe('fieldsCandidate: XenServer guest tools', () => {
  it.each([
    [
      {
        name: 'Microsoft Windows Server 2016 Standard|C:\\Windows|\\Device\\Harddisk0\\Partition2',
        distro: 'windows',
        major: '6',
        minor: '2',
        spmajor: '0',
      },
      { family: 'windows', distro: 'windows-server', version: '2016', display: 'Windows Server', edition: 'Standard' },
    ],
    [
      { name: 'Windows Server 2012 R2', major: '6', minor: '3' },
      { family: 'windows', distro: 'windows-server', version: '2012 R2', display: 'Windows Server' },
    ],
    [
      { os_name: 'CentOS Linux release 7.9.2009 (Core)', os_distro: 'centos', os_majorver: '7', os_minorver: '9' },
      linux('centos', '7.9', 'CentOS'),
    ],
    [
      { os_name: 'Ubuntu 22.04 LTS', os_distro: 'ubuntu', os_majorver: '22', os_minorver: '04' },
      linux('ubuntu', '22.04', 'Ubuntu'),
    ],
    // No name: the distro key, when it is one hvmap knows.
    [{ distro: 'debian', major: '12' }, linux('debian', '12', 'Debian')],
    [{ os_distro: 'centos', os_majorver: '7' }, linux('centos', '7', 'CentOS')],
    [{ distro: 'nosuchdistro', major: '1' }, null],
    [{ name: 'My Weird OS', distro: 'windows' }, null],
  ])('%j', (fields, expected) => {
    expect(fieldsCandidate(fields)).toEqual(expected);
  });
});

describe('textCandidate', () => {
  it.each([
    [
      'Red Hat Enterprise Linux Server release 7.9 (Maipo)',
      linux('rhel', '7.9', 'Red Hat Enterprise Linux', { edition: 'Server' }),
    ],
    // "Server" names an edition of RHEL only.
    ['Oracle Linux Server release 7.9', linux('ol', '7.9', 'Oracle Linux')],
    ['http://redhat.com/rhel/9.4', linux('rhel', '9.4', 'Red Hat Enterprise Linux')],
    ['<not in database>', null],
    ['', null],
  ])('%j', (text, expected) => {
    expect(textCandidate(text)).toEqual(expected);
  });
});

describe('fieldsCandidate: which keys decide, and what is missing', () => {
  it.each([
    // An unknown distribution without NAME is shown by its id; without VERSION_ID the pretty name gives it.
    [{ ID: 'foolinux', VERSION_ID: '3' }, linux('foolinux', '3', 'foolinux')],
    [{ ID: 'foolinux', NAME: 'Foo', PRETTY_NAME: 'Foo 3' }, linux('foolinux', '3', 'Foo')],
    // Only RHEL's ID is borrowed by Scientific Linux, only openSUSE's by Tumbleweed, only CentOS's by Stream.
    [{ NAME: 'Scientific Fedora', ID: 'fedora', VERSION_ID: '39' }, linux('fedora', '39', 'Fedora')],
    [
      { NAME: 'SLES Tumbleweed', ID: 'sles', VERSION_ID: '15.5' },
      linux('sles', '15.5', 'SUSE Linux Enterprise Server'),
    ],
    [{ NAME: 'Fedora Stream', ID: 'fedora', VERSION_ID: '39' }, linux('fedora', '39', 'Fedora')],
    [{ 'os.id': 'foolinux', 'os.version-id': '2' }, linux('foolinux', '2', 'foolinux')],
    [{ 'pretty-name': 'Debian GNU/Linux 12 (bookworm)' }, linux('debian', '12', 'Debian')],
    [{ 'version-id': '12', id: 'debian' }, linux('debian', '12', 'Debian')],
    [{ 'os.id': '', 'os.machine': 'x86_64', 'os.kernel-release': '1' }, null],
    [{ 'xos.id': 'rhel' }, null],
    // KVP: no major version, or one that is not a number, is no version.
    [{ OSName: 'CentOS Linux', OSVersion: '3.10' }, linux('centos', '', 'CentOS')],
    [{ OSName: 'CentOS Linux', OSMajorVersion: 'v7', OSMinorVersion: '9' }, linux('centos', '7', 'CentOS')],
    [{ OSName: 'CentOS Linux', OSMajorVersion: '7', OSMinorVersion: '9x' }, linux('centos', '7', 'CentOS')],
    [{ OSName: 'CentOS Linux', OSMajorVersion: '7x', OSMinorVersion: '9' }, linux('centos', '7', 'CentOS')],
    // OSPlatformId 2 (Win32 NT) makes the build a Windows build.
    [
      { OSName: '', OSPlatformId: '2', OSBuildNumber: '20348' },
      { family: 'windows', distro: 'windows-server', version: '2022', display: 'Windows Server', build: '20348' },
    ],
    [{ OSName: '', OSPlatformId: '1', OSBuildNumber: '20348' }, null],
    // XenServer guest tools: Windows by its distro key or its name.
    [{ name: '', distro: '', major: '7' }, null],
    [{ os_distro: 'windows', os_name: '' }, null],
    [
      { name: 'Microsoft Windows 10 Pro', distro: 'mswindows' },
      { family: 'windows', distro: 'windows', version: '10', display: 'Windows', edition: 'Pro' },
    ],
  ])('%j', (fields, expected) => {
    expect(fieldsCandidate(fields)).toEqual(expected);
  });

  it('reads a libosinfo id only when the text is one, not when it quotes one', () => {
    expect(textCandidate('RHEL 9.4 (http://redhat.com/rhel/8.6)')).toEqual(
      linux('rhel', '9.4', 'Red Hat Enterprise Linux'),
    );
  });
});
