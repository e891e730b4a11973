import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Guest, OsEvidenceSource, OsUnknownReason } from '../protocol.js';
import { identifyGuestOs, identifyGuestOsText } from './identify-guest.js';

interface Evidence {
  source: OsEvidenceSource;
  text?: string;
  fields?: Record<string, string>;
}

const guestOs = (evidence: Evidence[], reason?: { reason: OsUnknownReason; reasonDetail?: string }): Guest['os'] =>
  ({ evidence, ...reason }) as Guest['os'];

const testcases = new URL('./testcases/', import.meta.url);
const readJson = (path: string) => JSON.parse(readFileSync(new URL(path, testcases), 'utf8'));

describe('identifyGuestOsText', () => {
  it.each([
    // Release files and their one-line forms
    ['Red Hat Enterprise Linux Server release 7.9 (Maipo)', 'rhel-7.9', 'Red Hat Enterprise Linux 7.9'],
    ['Red Hat Enterprise Linux release 9.2 (Plow)', 'rhel-9.2', 'Red Hat Enterprise Linux 9.2'],
    ['Red Hat Enterprise Linux release 8.10 (Ootpa)', 'rhel-8.10', 'Red Hat Enterprise Linux 8.10'],
    ['Red Hat Enterprise Linux Server release 5.11 (Tikanga)', 'rhel-5.11', 'Red Hat Enterprise Linux 5.11'],
    ['Red Hat Enterprise Linux Server release 6.5 (Santiago)', 'rhel-6.5', 'Red Hat Enterprise Linux 6.5'],
    ['Red Hat Enterprise Linux Server 7.8 Beta (Maipo)', 'rhel-7.8', 'Red Hat Enterprise Linux 7.8'],
    ['Red Hat Enterprise Linux 10.0 (Coughlan)', 'rhel-10.0', 'Red Hat Enterprise Linux 10.0'],
    ['Red Hat Enterprise Linux ES release 4 (Nahant Update 9)', 'rhel-4.9', 'Red Hat Enterprise Linux 4.9'],
    ['RHEL 9', 'rhel-9', 'Red Hat Enterprise Linux 9'],
    ['Red Hat Enterprise Linux CoreOS 4.14', 'rhcos-4.14', 'Red Hat Enterprise Linux CoreOS 4.14'],
    ['RHEL 8.6', 'rhel-8.6', 'Red Hat Enterprise Linux 8.6'],
    ['rhel9', 'rhel-9', 'Red Hat Enterprise Linux 9'],
    ['CentOS Linux 7 (Core)', 'centos-7', 'CentOS 7'],
    ['CentOS Linux release 7.9.2009 (Core)', 'centos-7.9', 'CentOS 7.9'],
    ['CentOS Linux release 7.1.1503 (Core) ', 'centos-7.1', 'CentOS 7.1'],
    ['CentOS release 5.11 (Final)', 'centos-5.11', 'CentOS 5.11'],
    ['CentOS release 6.10 (Final)', 'centos-6.10', 'CentOS 6.10'],
    ['CentOS Linux release 8.5.2111', 'centos-8.5', 'CentOS 8.5'],
    ['CentOS Stream release 9', 'centos-9', 'CentOS Stream 9'],
    ['CentOS Stream 10', 'centos-10', 'CentOS Stream 10'],
    ['Oracle Linux Server release 8.6', 'ol-8.6', 'Oracle Linux 8.6'],
    ['Oracle Linux Server 7.5', 'ol-7.5', 'Oracle Linux 7.5'],
    ['Rocky Linux release 9.2 (Blue Onyx)', 'rocky-9.2', 'Rocky Linux 9.2'],
    ['Rocky Linux 10.0 (Red Quartz)', 'rocky-10.0', 'Rocky Linux 10.0'],
    ['AlmaLinux release 9.2', 'almalinux-9.2', 'AlmaLinux 9.2'],
    ['AlmaLinux release 10.0 (Purple Lion)', 'almalinux-10.0', 'AlmaLinux 10.0'],
    ['Scientific Linux release 7.2 (Nitrogen)', 'scientific-7.2', 'Scientific Linux 7.2'],
    ['Fedora release 30 (Thirty)', 'fedora-30', 'Fedora 30'],
    ['Fedora Linux 38 (Server Edition)', 'fedora-38', 'Fedora 38'],
    ['Ubuntu 22.04.3 LTS', 'ubuntu-22.04', 'Ubuntu 22.04'],
    ['Ubuntu 12.04.5 LTS', 'ubuntu-12.04', 'Ubuntu 12.04'],
    ['Ubuntu 24.04 LTS (64-bit)', 'ubuntu-24.04', 'Ubuntu 24.04'],
    ['Debian GNU/Linux 12 (bookworm)', 'debian-12', 'Debian 12'],
    ['Debian GNU/Linux 8 (jessie)', 'debian-8', 'Debian 8'],
    ['Debian 11.7', 'debian-11', 'Debian 11'],
    ['SUSE Linux Enterprise Server 15 SP5', 'sles-15.5', 'SUSE Linux Enterprise Server 15 SP5'],
    ['SUSE Linux Enterprise Server 12 SP1', 'sles-12.1', 'SUSE Linux Enterprise Server 12 SP1'],
    ['SUSE Linux Enterprise Server 11 (x86_64)', 'sles-11', 'SUSE Linux Enterprise Server 11'],
    ['SLES 15-SP4', 'sles-15.4', 'SUSE Linux Enterprise Server 15 SP4'],
    ['SLES 15.3', 'sles-15.3', 'SUSE Linux Enterprise Server 15 SP3'],
    ['openSUSE Leap 15.5', 'opensuse-leap-15.5', 'openSUSE Leap 15.5'],
    ['openSUSE 42.1 (x86_64)', 'opensuse-leap-42.1', 'openSUSE Leap 42.1'],
    ['openSUSE Tumbleweed', 'opensuse-tumbleweed', 'openSUSE Tumbleweed'],
    ['Amazon Linux 2023', 'amzn-2023', 'Amazon Linux 2023'],
    ['FreeBSD 13.2-RELEASE', 'freebsd-13.2', 'FreeBSD 13.2'],
    ['FreeBSD 12.4-RELEASE-p4', 'freebsd-12.4', 'FreeBSD 12.4'],
    // Windows captions, English and localized, with the marks and suffixes tools add
    ['Microsoft Windows Server 2008 R2 Enterprise', 'windows-server-2008-r2', 'Windows Server 2008 R2'],
    ['Microsoft Windows Server 2008 R2 Entreprise', 'windows-server-2008-r2', 'Windows Server 2008 R2'],
    ['Microsoft® Windows Server® 2008 Standard', 'windows-server-2008', 'Windows Server 2008'],
    ['Microsoft(R) Windows(R) Server 2003, Standard Edition', 'windows-server-2003', 'Windows Server 2003'],
    ['Microsoft Windows Server 2003 R2', 'windows-server-2003-r2', 'Windows Server 2003 R2'],
    ['Windows Server 2012 R2 Standard', 'windows-server-2012-r2', 'Windows Server 2012 R2'],
    ['Windows Server 2012R2', 'windows-server-2012-r2', 'Windows Server 2012 R2'],
    ['Windows Server 2012 Datacenter', 'windows-server-2012', 'Windows Server 2012'],
    ['Windows Server 2016 Standard Evaluation', 'windows-server-2016', 'Windows Server 2016'],
    ['Microsoft Windows Server 2019 Datacenter', 'windows-server-2019', 'Windows Server 2019'],
    ['Windows Server 2022 Datacenter 10.0.20348', 'windows-server-2022', 'Windows Server 2022'],
    ['Windows Server 2022 Datacenter Azure Edition', 'windows-server-2022', 'Windows Server 2022'],
    ['Windows Server 2025 Standard', 'windows-server-2025', 'Windows Server 2025'],
    ['Windows 2019', 'windows-server-2019', 'Windows Server 2019'],
    ['Microsoft Windows Web Server 2008 R2', 'windows-server-2008-r2', 'Windows Server 2008 R2'],
    [
      'Microsoft Windows Server 2016 Standard|C:\\Windows|\\Device\\Harddisk0\\Partition2',
      'windows-server-2016',
      'Windows Server 2016',
    ],
    ['Microsoft Windows 10 Pro', 'windows-10', 'Windows 10'],
    ['Microsoft Windows 10 Professionnel', 'windows-10', 'Windows 10'],
    ['Windows 10 Enterprise LTSC 2019', 'windows-10', 'Windows 10'],
    ['Windows 11 Enterprise', 'windows-11', 'Windows 11'],
    ['Microsoft Windows 11 Pro 10.0.22631', 'windows-11', 'Windows 11 (23H2)'],
    ['Windows 7 Professional', 'windows-7', 'Windows 7'],
    ['Microsoft Windows 8.1 Pro', 'windows-8.1', 'Windows 8.1'],
    ['Microsoft Windows XP Professional', 'windows-xp', 'Windows XP'],
    // libosinfo ids (more in libosinfo.test.ts)
    ['http://redhat.com/rhel/8.6', 'rhel-8.6', 'Red Hat Enterprise Linux 8.6'],
    ['http://microsoft.com/win/2k19', 'windows-server-2019', 'Windows Server 2019'],
    ['http://opensuse.org/opensuse/15.5', 'opensuse-leap-15.5', 'openSUSE Leap 15.5'],
  ])('identifies %j as %s', (text, id, name) => {
    const os = identifyGuestOsText(text);
    expect(os?.id).toBe(id);
    expect(os?.name).toBe(name);
  });

  it('spells out the identifiers of DESIGN.md', () => {
    expect(identifyGuestOsText('Microsoft Windows Server 2008 R2 Enterprise')).toEqual({
      id: 'windows-server-2008-r2',
      family: 'windows',
      distro: 'windows-server',
      version: '2008 R2',
      name: 'Windows Server 2008 R2',
      edition: 'Enterprise',
    });
    expect(identifyGuestOsText('FreeBSD 13.2-RELEASE')).toEqual({
      id: 'freebsd-13.2',
      family: 'bsd',
      distro: 'freebsd',
      version: '13.2',
      name: 'FreeBSD 13.2',
    });
  });

  it('keeps the build and the edition of a Windows caption apart from its version', () => {
    expect(identifyGuestOsText('Windows Server 2022 Datacenter 10.0.20348')).toMatchObject({
      version: '2022',
      build: '20348',
      edition: 'Datacenter',
    });
  });

  it('maps localized editions to their English names', () => {
    expect(identifyGuestOsText('Microsoft Windows Server 2008 R2 Entreprise')?.edition).toBe('Enterprise');
    expect(identifyGuestOsText('Microsoft Windows 7 Professionnel')?.edition).toBe('Professional');
  });

  it('reads a service pack from a caption', () => {
    expect(identifyGuestOsText('Windows Server 2008 R2 Enterprise Service Pack 1')?.servicePack).toBe('SP1');
  });

  it('names Windows 11 when a caption says Windows 10 but the build is a Windows 11 one', () => {
    expect(identifyGuestOsText('Windows 10 Enterprise 10.0.22631')?.id).toBe('windows-11');
  });

  it('records the RHEL edition a release line names', () => {
    expect(identifyGuestOsText('Red Hat Enterprise Linux Server release 7.9 (Maipo)')?.edition).toBe('Server');
    expect(identifyGuestOsText('Red Hat Enterprise Linux Workstation release 7.9 (Maipo)')?.edition).toBe(
      'Workstation',
    );
  });

  it('reads the service pack of a whole /etc/SuSE-release', () => {
    const text = 'SUSE Linux Enterprise Server 12 (s390x)\nVERSION = 12\nPATCHLEVEL = 1\n# This file is deprecated\n';
    expect(identifyGuestOsText(text)?.id).toBe('sles-12.1');
  });

  it('names a distribution outside the table by its os-release ID, never guessing a version', () => {
    // Gentoo's release file carries the baselayout package's version: Gentoo itself is rolling.
    expect(identifyGuestOsText('Gentoo Base System release 2.14')).toMatchObject({ id: 'gentoo', version: '' });
    expect(identifyGuestOsText('CloudLinux Server release 7.9 (Boris Yegorov)')).toMatchObject({
      id: 'cloudlinux-7.9',
      name: 'CloudLinux 7.9',
    });
    expect(identifyGuestOsText('openEuler release 24.03 (LTS)')).toMatchObject({ id: 'openeuler-24.03' });
    expect(identifyGuestOsText('EuroLinux 7.9 (Minsk)')).toMatchObject({ id: 'eurolinux-7.9' });
    expect(identifyGuestOsText('Microsoft Azure Linux 3.0')).toMatchObject({ id: 'azurelinux-3.0' });
    expect(identifyGuestOsText('CBL-Mariner 2.0')).toMatchObject({ id: 'mariner-2.0' });
    // os-release of the same systems agrees (IDs as they ship them: ID="openEuler", ID=azurelinux).
    const fields = (id: string, version: string, name: string) =>
      identifyGuestOs({ evidence: [{ source: 'config', fields: { ID: id, VERSION_ID: version, NAME: name } }] });
    expect(fields('openEuler', '24.03', 'openEuler')).toMatchObject({ os: { id: 'openeuler-24.03' } });
    expect(fields('azurelinux', '3.0', 'Microsoft Azure Linux')).toMatchObject({ os: { id: 'azurelinux-3.0' } });
    expect(fields('eurolinux', '7.9', 'EuroLinux')).toMatchObject({ os: { id: 'eurolinux-7.9' } });
  });

  it('writes versions as each vendor does', () => {
    // SUSE numbers 16 by minor releases, 15 by service packs.
    expect(identifyGuestOsText('SUSE Linux Enterprise Server 16.0')).toMatchObject({
      id: 'sles-16.0',
      name: 'SUSE Linux Enterprise Server 16.0',
    });
    expect(identifyGuestOsText('SLES 16.1')).toMatchObject({
      id: 'sles-16.1',
      name: 'SUSE Linux Enterprise Server 16.1',
    });
    expect(identifyGuestOsText('SLES 15 SP5')).toMatchObject({
      id: 'sles-15.5',
      name: 'SUSE Linux Enterprise Server 15 SP5',
    });
    // Amazon Linux 2023 updates are releases of 2023; the AMI's year.month and AL2 stay as written.
    expect(identifyGuestOsText('Amazon Linux 2023.6.20241010')).toMatchObject({ id: 'amzn-2023' });
    expect(identifyGuestOsText('Amazon Linux AMI release 2018.03')).toMatchObject({ id: 'amzn-2018.03' });
    expect(identifyGuestOsText('Amazon Linux release 2 (Karoo)')).toMatchObject({ id: 'amzn-2' });
    // Oracle Linux 5's /etc/enterprise-release, under its first name.
    expect(identifyGuestOsText('Enterprise Linux Enterprise Linux Server release 5.4 (Carthage)')).toMatchObject({
      id: 'ol-5.4',
    });
    expect(identifyGuestOsText('Microsoft Windows Server 2022 Datacenter Evaluation')).toMatchObject({
      id: 'windows-server-2022',
      edition: 'Datacenter Evaluation',
    });
  });

  it('gives a distribution named without a release version ""', () => {
    expect(identifyGuestOsText('Ubuntu')).toMatchObject({ id: 'ubuntu', distro: 'ubuntu', version: '' });
    expect(identifyGuestOsText('Windows Server Datacenter')).toMatchObject({ id: 'windows-server', version: '' });
  });

  it.each([
    'Linux',
    'http://libosinfo.org/linux/2020',
    'Microsoft Windows',
    'Microsoft Windows 10.0.17763',
    '<not in database>',
    '',
    '   ',
  ])('gives null for %j, which names no known OS', (text) => {
    expect(identifyGuestOsText(text)).toBeNull();
  });
});

describe('identifyGuestOs from real guest-agent replies', () => {
  const qga = (file: string): Evidence => {
    const reply = readJson(`guest-agent/${file}`);
    return { source: 'guest-agent', fields: reply.return ?? reply };
  };

  it('identifies CentOS 7 from libvirt’s guest-get-osinfo test reply', () => {
    const r = identifyGuestOs(guestOs([qga('libvirt-qemuagenttest-centos7.json')]));
    expect(r).toEqual({
      known: true,
      os: { id: 'centos-7', family: 'linux', distro: 'centos', version: '7', name: 'CentOS 7', arch: 'x86_64' },
      source: 'guest-agent',
      conflicts: [],
    });
  });

  it('identifies Windows 7 from its pretty-name and build, ignoring the agent’s "Microsoft Windows 77" version', () => {
    const r = identifyGuestOs(guestOs([qga('libvirt-qemuagenttest-win7.json')]));
    expect(r.known && r.os).toEqual({
      id: 'windows-7',
      family: 'windows',
      distro: 'windows',
      version: '7',
      name: 'Windows 7',
      build: '7601',
      edition: 'Professional',
      servicePack: 'SP1',
      arch: 'x86_64',
    });
  });

  it('identifies a Windows Server 2022 preview whose agent reports version-id "N/A"', () => {
    const r = identifyGuestOs(guestOs([qga('qemu-devel-2021-09-win2022-preview.json')]));
    expect(r.known && r.os).toMatchObject({ id: 'windows-server-2022', build: '20344', edition: 'Datacenter' });
  });

  // oVirt/vdsm lib/vdsm/virt/guestagenthelpers.py (fd4b0df2), comment examples of guest-get-osinfo.
  it('identifies Fedora 27 Cloud Edition and Windows 10 Enterprise from vdsm’s examples', () => {
    const fedora = identifyGuestOs(
      guestOs([
        {
          source: 'guest-agent',
          fields: {
            id: 'fedora',
            'kernel-release': '4.13.9-300.fc27.x86_64',
            machine: 'x86_64',
            name: 'Fedora',
            'pretty-name': 'Fedora 27 (Cloud Edition)',
            variant: 'Cloud Edition',
            'variant-id': 'cloud',
            version: '27 (Cloud Edition)',
            'version-id': '27',
          },
        },
      ]),
    );
    expect(fedora.known && fedora.os).toMatchObject({ id: 'fedora-27', edition: 'Cloud Edition' });
    const windows = identifyGuestOs(
      guestOs([
        {
          source: 'guest-agent',
          fields: {
            id: 'mswindows',
            'kernel-release': '10240',
            'kernel-version': '10.0',
            machine: 'x86_64',
            name: 'Microsoft Windows',
            'pretty-name': 'Windows 10 Enterprise',
            variant: 'client',
            'variant-id': 'client',
            'version-id': '10',
            version: 'Microsoft Windows 10',
          },
        },
      ]),
    );
    expect(windows.known && windows.os).toMatchObject({ id: 'windows-10', name: 'Windows 10 (1507)', build: '10240' });
  });

  // oVirt/vdsm tests/virt/qemuguestagent_test.py (fd4b0df2): virDomainGetGuestInfo typed parameters.
  it('reads virsh guestinfo keys, which carry an "os." prefix', () => {
    const r = identifyGuestOs(
      guestOs([
        {
          source: 'guest-agent',
          fields: {
            'os.id': 'rhel',
            'os.name': 'Red Hat Enterprise Linux Server',
            'os.pretty-name': 'Red Hat Enterprise Linux Server 7.8 Beta (Maipo)',
            'os.version': '7.8 (Maipo)',
            'os.version-id': '7.8',
            'os.machine': 'x86_64',
            'os.variant': 'Server',
            'os.variant-id': 'server',
            'os.kernel-release': '3.10.0-1101.el7.x86_64',
          },
        },
      ]),
    );
    expect(r.known && r.os).toMatchObject({ id: 'rhel-7.8', edition: 'Server', arch: 'x86_64' });
  });
});

describe('identifyGuestOs from Hyper-V KVP items', () => {
  // Constructed from the documented item names (MicrosoftDocs msvm-kvpexchangedataitem) and, for
  // Linux, from what hv_kvp_daemon.c sends: os-release NAME and VERSION_ID, or release-file lines.
  const kvp = (fields: Record<string, string>) => identifyGuestOs(guestOs([{ source: 'kvp', fields }]));

  it('identifies a Windows Server 2019 guest from its caption, build and ProductType', () => {
    const r = kvp({
      OSName: 'Windows Server 2019 Datacenter',
      OSVersion: '10.0.17763',
      OSMajorVersion: '10',
      OSMinorVersion: '0',
      OSBuildNumber: '17763',
      ProductType: '3',
      OSPlatformId: '2',
      CSDVersion: '',
    });
    expect(r).toMatchObject({ known: true, source: 'kvp', os: { id: 'windows-server-2019', build: '17763' } });
  });

  it('takes the service pack from CSDVersion', () => {
    const r = kvp({
      OSName: 'Windows Server 2008 R2 Enterprise',
      OSVersion: '6.1.7601',
      OSBuildNumber: '7601',
      ProductType: '3',
      CSDVersion: 'Service Pack 1',
    });
    expect(r.known && r.os).toMatchObject({ id: 'windows-server-2008-r2', servicePack: 'SP1' });
  });

  it('identifies Windows from its NT version when the caption names no product', () => {
    const r = kvp({ OSName: 'Windows Server Datacenter', OSVersion: '10.0.20348', ProductType: '3' });
    expect(r.known && r.os.id).toBe('windows-server-2022');
  });

  it('names Windows 11 when the caption says Windows 10 and the build is 22000 or later', () => {
    const r = kvp({
      OSName: 'Windows 10 Enterprise',
      OSVersion: '10.0.22631',
      OSBuildNumber: '22631',
      ProductType: '1',
    });
    expect(r.known && r.os).toMatchObject({ id: 'windows-11', name: 'Windows 11 (23H2)' });
  });

  it('reads a Linux guest whose whole VERSION_ID sits in OSMajorVersion', () => {
    const r = kvp({
      OSName: 'Red Hat Enterprise Linux',
      OSMajorVersion: '8.2',
      OSVersion: '4.18.0',
      OSBuildNumber: '4.18.0-193.el8.x86_64',
      ProcessorArchitecture: 'x86_64',
    });
    expect(r.known && r.os.id).toBe('rhel-8.2');
  });

  it('reads the /etc/SuSE-release lines an old SLES guest sends', () => {
    const r = kvp({
      OSName: 'SUSE Linux Enterprise Server 11 (x86_64)',
      OSMajorVersion: 'VERSION = 11',
      OSMinorVersion: 'PATCHLEVEL = 4',
    });
    expect(r.known && r.os).toMatchObject({ id: 'sles-11.4', name: 'SUSE Linux Enterprise Server 11 SP4' });
  });

  it('reads the /etc/redhat-release line an old RHEL guest sends', () => {
    const r = kvp({ OSName: 'Red Hat Enterprise Linux Server release 6.5 (Santiago)', OSVersion: '2.6.32' });
    expect(r.known && r.os.id).toBe('rhel-6.5');
  });

  it('joins a numeric major and minor', () => {
    const r = kvp({ OSName: 'Ubuntu', OSMajorVersion: '22', OSMinorVersion: '04' });
    expect(r.known && r.os.id).toBe('ubuntu-22.04');
  });

  // sflow/host-sflow src/Windows/hsflowd/hypervVm.c (67993534): one captured OSVersion item, 6.2.8064.
  it('reports a lone OSVersion item, which could be a Windows or a Linux kernel version, as unrecognised', () => {
    expect(kvp({ OSVersion: '6.2.8064' })).toEqual({
      known: false,
      reason: 'unrecognised',
      detail: 'kvp: OSVersion=6.2.8064',
    });
  });

  it('reports a guest that sent only its kernel name as unrecognised', () => {
    const r = kvp({ OSName: 'Linux', OSVersion: '5.14.0' });
    expect(r).toMatchObject({ known: false, reason: 'unrecognised' });
  });
});

describe('identifyGuestOs from XenServer guest tools', () => {
  // community.general tests/unit/plugins/module_utils/_xenserver/fixtures (ade4f3ec), VM_guest_metrics.os_version.
  it.each([
    [
      'ansible-test-vm-1 (Windows reports NT 6.2 for 2016)',
      {
        distro: 'windows',
        major: '6',
        minor: '2',
        name: 'Microsoft Windows Server 2016 Standard|C:\\Windows|\\Device\\Harddisk0\\Partition2',
        spmajor: '0',
        spminor: '0',
      },
      'windows-server-2016',
    ],
    [
      'ansible-test-vm-2',
      {
        distro: 'centos',
        major: '7',
        minor: '2',
        name: 'CentOS Linux release 7.2.1511 (Core)',
        uname: '3.10.0-327.22.2.el7.x86_64',
      },
      'centos-7.2',
    ],
    [
      'ansible-test-vm-3',
      {
        distro: 'centos',
        major: '6',
        minor: '10',
        name: 'CentOS release 6.10 (Final)',
        uname: '2.6.32-754.6.3.el6.x86_64',
      },
      'centos-6.10',
    ],
    // glpi-agent resources/virtualization/xe/xenserver-6.2_vm_param_list_00x (77f7cdda): the minor keeps its zero.
    [
      'glpi xenserver-6.2 vm-param-list',
      { name: 'Ubuntu 12.04.3 LTS', uname: '3.2.0-53-generic', distro: 'ubuntu', major: '12', minor: '04' },
      'ubuntu-12.04',
    ],
  ])('identifies %s', (_case, fields, id) => {
    const r = identifyGuestOs(guestOs([{ source: 'xe-os-version', fields }]));
    expect(r).toMatchObject({ known: true, source: 'xe-os-version', os: { id } });
  });

  it('falls back on the distro key when the name is not one it knows', () => {
    const r = identifyGuestOs(
      guestOs([{ source: 'xe-os-version', fields: { distro: 'oracle', major: '8', minor: '6' } }]),
    );
    expect(r.known && r.os.id).toBe('ol-8.6');
  });

  it('reads the xenstore data/os_* keys the same guest tools write', () => {
    const r = identifyGuestOs(
      guestOs([
        {
          source: 'xenstore',
          fields: {
            os_name: 'Debian GNU/Linux 11 (bullseye)',
            os_distro: 'debian',
            os_majorver: '11',
            os_minorver: '',
          },
        },
      ]),
    );
    expect(r.known && r.os.id).toBe('debian-11');
  });

  it('reports "<not in database>" as not_in_database', () => {
    const r = identifyGuestOs(guestOs([{ source: 'xe-os-version', text: '<not in database>' }]));
    expect(r).toEqual({ known: false, reason: 'not_in_database', detail: 'xe-os-version: <not in database>' });
  });
});

describe('identifyGuestOs across sources', () => {
  it('lets the guest agent win over libosinfo and lists the disagreeing libosinfo id as a conflict', () => {
    const r = identifyGuestOs(
      guestOs([
        { source: 'libosinfo', text: 'http://redhat.com/rhel/8.6' },
        {
          source: 'guest-agent',
          fields: { id: 'rhel', 'version-id': '9.2', 'pretty-name': 'Red Hat Enterprise Linux 9.2 (Plow)' },
        },
      ]),
    );
    expect(r).toMatchObject({
      known: true,
      source: 'guest-agent',
      os: { id: 'rhel-9.2' },
      conflicts: [{ source: 'libosinfo', id: 'rhel-8.6' }],
    });
  });

  it('sees no conflict where a lower source is only less precise', () => {
    const r = identifyGuestOs(
      guestOs([
        {
          source: 'xe-os-version',
          fields: { name: 'CentOS Linux release 7.9.2009 (Core)', distro: 'centos', major: '7', minor: '9' },
        },
        { source: 'libosinfo', text: 'http://centos.org/centos/7.0' },
      ]),
    );
    expect(r).toMatchObject({ known: true, os: { id: 'centos-7.9' }, conflicts: [] });
  });

  it('reports a different product, such as 2008 against 2008 R2, as a conflict', () => {
    const r = identifyGuestOs(
      guestOs([
        {
          source: 'kvp',
          fields: { OSName: 'Windows Server 2008 R2 Standard', OSVersion: '6.1.7601', ProductType: '3' },
        },
        { source: 'libosinfo', text: 'http://microsoft.com/win/2k8' },
      ]),
    );
    expect(r).toMatchObject({
      os: { id: 'windows-server-2008-r2' },
      conflicts: [{ source: 'libosinfo', id: 'windows-server-2008' }],
    });
  });

  it('borrows the version of a lower source naming the same OS when the deciding one has none', () => {
    const r = identifyGuestOs(
      guestOs([
        {
          source: 'guest-agent',
          fields: { id: 'mswindows', 'variant-id': 'server', 'kernel-release': '20344', 'version-id': 'N/A' },
        },
        { source: 'libosinfo', text: 'http://microsoft.com/win/2k22' },
      ]),
    );
    expect(r).toMatchObject({
      known: true,
      source: 'guest-agent',
      os: { id: 'windows-server-2022', build: '20344' },
      conflicts: [],
    });
  });

  it('reads os-release fields whichever source sent them', () => {
    const r = identifyGuestOs(
      guestOs([{ source: 'config', fields: { ID: 'ubuntu', VERSION_ID: '24.04', PRETTY_NAME: 'Ubuntu 24.04.3 LTS' } }]),
    );
    expect(r).toMatchObject({ known: true, source: 'config', os: { id: 'ubuntu-24.04' } });
  });

  it('uses the name hint only when nothing else names an OS, and never as a conflict', () => {
    const hintOnly = identifyGuestOs(guestOs([{ source: 'name-hint', text: 'rhel9-web01' }]));
    expect(hintOnly).toMatchObject({ known: true, source: 'name-hint', os: { id: 'rhel-9' } });
    const withLibosinfo = identifyGuestOs(
      guestOs([
        { source: 'name-hint', text: 'rhel8-web01' },
        { source: 'libosinfo', text: 'http://redhat.com/rhel/9.2' },
      ]),
    );
    expect(withLibosinfo).toMatchObject({ known: true, source: 'libosinfo', os: { id: 'rhel-9.2' }, conflicts: [] });
  });

  it('passes on the driver’s reason when nothing identifies the guest', () => {
    const r = identifyGuestOs(guestOs([], { reason: 'no_guest_agent', reasonDetail: 'guest agent not connected' }));
    expect(r).toEqual({ known: false, reason: 'no_guest_agent', detail: 'guest agent not connected' });
  });

  it('still identifies the guest from other evidence when the driver gave a reason', () => {
    const r = identifyGuestOs(
      guestOs([{ source: 'libosinfo', text: 'http://redhat.com/rhel/9.2' }], { reason: 'no_guest_agent' }),
    );
    expect(r).toMatchObject({ known: true, os: { id: 'rhel-9.2' } });
  });

  it('reports no_evidence when there is nothing to read', () => {
    expect(identifyGuestOs(guestOs([]))).toEqual({ known: false, reason: 'no_evidence' });
    expect(identifyGuestOs(guestOs([{ source: 'config', text: '  ' }]))).toMatchObject({ reason: 'no_evidence' });
  });

  it('reports unrecognised evidence with every text it saw', () => {
    const r = identifyGuestOs(
      guestOs([
        { source: 'libosinfo', text: 'http://libosinfo.org/linux/2020' },
        { source: 'name-hint', text: 'vm-7fa1157035' },
      ]),
    );
    expect(r).toEqual({
      known: false,
      reason: 'unrecognised',
      detail: 'libosinfo: http://libosinfo.org/linux/2020; name-hint: vm-7fa1157035',
    });
  });
});

describe('name hints', () => {
  const hint = (name: string) => {
    const r = identifyGuestOs(guestOs([{ source: 'name-hint', text: name }]));
    return r.known ? r.os.id : null;
  };

  it.each([
    ['rhel9-web01', 'rhel-9'],
    ['RHEL8.6-db', 'rhel-8.6'],
    ['centos7-build', 'centos-7'],
    ['ol8-app', 'ol-8'],
    ['rocky9', 'rocky-9'],
    ['alma9-ci', 'almalinux-9'],
    ['sles15sp5-hana', 'sles-15.5'],
    ['ubuntu2204', 'ubuntu-22.04'],
    ['ubuntu-24.04-runner', 'ubuntu-24.04'],
    ['debian12', 'debian-12'],
    ['fedora39-ws', 'fedora-39'],
    ['freebsd13', 'freebsd-13'],
    ['win2019-dc', 'windows-server-2019'],
    ['prod_win2016_sql', 'windows-server-2016'],
    ['ws2022-file', 'windows-server-2022'],
    ['w2k12r2-print', 'windows-server-2012-r2'],
    ['win2k8r2', 'windows-server-2008-r2'],
    ['win10-dev', 'windows-10'],
    ['windows-11-kiosk', 'windows-11'],
  ])('reads %s as %s', (name, id) => {
    expect(hint(name)).toBe(id);
  });

  it.each(['web01', 'rhel86', 'myubuntu2204', 'vm-7fa1157035', 'win2000', 'Domain-0', 'controlvm'])(
    'reads nothing into %s',
    (name) => {
      expect(hint(name)).toBeNull();
    },
  );
});
