import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { identifyGuestOsText } from './identify-guest.js';
import { isOsinfoName, libosinfoCandidate, osinfoNameCandidate } from './libosinfo.js';

const corpusIds = readFileSync(new URL('./testcases/libosinfo/ids.txt', import.meta.url), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

const KNOWN_VENDORS =
  /^https?:\/\/(redhat\.com|centos\.org|microsoft\.com|ubuntu\.com|debian\.org|fedoraproject\.org|suse\.com|opensuse\.org|oracle\.com|rockylinux\.org|almalinux\.org|freebsd\.org)\//;

describe('libosinfo ids', () => {
  it('finds ids of every known vendor in the corpus file', () => {
    expect(corpusIds.filter((id) => KNOWN_VENDORS.test(id)).length).toBeGreaterThan(30);
  });

  it.each(corpusIds.filter((id) => KNOWN_VENDORS.test(id)))('identifies %s from the libvirt corpus', (id) => {
    expect(identifyGuestOsText(id)).not.toBeNull();
  });

  it.each([
    ['http://redhat.com/rhel/8.6', 'rhel-8.6'],
    ['http://redhat.com/rhel/10.0', 'rhel-10.0'],
    ['http://centos.org/centos/6.5', 'centos-6.5'],
    ['http://centos.org/centos/7.0', 'centos-7'],
    ['http://centos.org/centos-stream/9', 'centos-9'],
    ['http://microsoft.com/win/2k25', 'windows-server-2025'],
    ['http://microsoft.com/win/2k22', 'windows-server-2022'],
    ['http://microsoft.com/win/2k19', 'windows-server-2019'],
    ['http://microsoft.com/win/2k16', 'windows-server-2016'],
    ['http://microsoft.com/win/2k12r2', 'windows-server-2012-r2'],
    ['http://microsoft.com/win/2k12', 'windows-server-2012'],
    ['http://microsoft.com/win/2k8r2', 'windows-server-2008-r2'],
    ['http://microsoft.com/win/2k8', 'windows-server-2008'],
    ['http://microsoft.com/win/2k3r2', 'windows-server-2003-r2'],
    ['http://microsoft.com/win/2k3', 'windows-server-2003'],
    ['http://microsoft.com/win/11', 'windows-11'],
    ['http://microsoft.com/win/10', 'windows-10'],
    ['http://microsoft.com/win/8.1', 'windows-8.1'],
    ['http://microsoft.com/win/7', 'windows-7'],
    ['http://ubuntu.com/ubuntu/22.04', 'ubuntu-22.04'],
    ['http://debian.org/debian/11', 'debian-11'],
    ['http://fedoraproject.org/fedora/30', 'fedora-30'],
    ['http://fedoraproject.org/fedora/unknown', 'fedora'],
    ['http://fedoraproject.org/silverblue/29', 'fedora-29'],
    ['http://suse.com/sles/15.5', 'sles-15.5'],
    ['http://suse.com/sles/12', 'sles-12'],
    ['http://suse.com/sled/15', 'sled-15'],
    ['http://opensuse.org/opensuse/15.5', 'opensuse-leap-15.5'],
    ['http://opensuse.org/opensuse/42.3', 'opensuse-leap-42.3'],
    ['http://opensuse.org/opensuse/tumbleweed', 'opensuse-tumbleweed'],
    ['http://oracle.com/ol/8.6', 'ol-8.6'],
    ['http://rockylinux.org/rocky/9', 'rocky-9'],
    ['http://almalinux.org/almalinux/9', 'almalinux-9'],
    ['http://freebsd.org/freebsd/13.0', 'freebsd-13.0'],
    ['http://openbsd.org/openbsd/4.9', 'openbsd-4.9'],
  ])('maps %s to %s', (url, id) => {
    expect(identifyGuestOsText(url)?.id).toBe(id);
  });

  it('names the variant where the id is one: CentOS Stream, Fedora Silverblue', () => {
    expect(identifyGuestOsText('http://centos.org/centos-stream/9')?.name).toBe('CentOS Stream 9');
    expect(identifyGuestOsText('http://fedoraproject.org/silverblue/29')?.name).toBe('Fedora Silverblue 29');
  });

  it('gives null for generic ids, which name no distribution', () => {
    expect(identifyGuestOsText('http://libosinfo.org/linux/2020')).toBeNull();
    expect(identifyGuestOsText('http://libosinfo.org/linux/2022')).toBeNull();
  });

  it('gives null for unknown vendors and for short ids that are no URL', () => {
    expect(identifyGuestOsText('http://example.org/someos/1.0')).toBeNull();
    expect(identifyGuestOsText('frib')).toBeNull();
    expect(identifyGuestOsText('http://microsoft.com/win/me')).toBeNull();
  });
});

describe('libosinfo ids and names, one rule at a time', () => {
  const os = (family: string, distro: string, version: string, display: string) => ({
    family,
    distro,
    version,
    display,
  });

  it.each([
    [' http://redhat.com/rhel/9.4 ', os('linux', 'rhel', '9.4', 'Red Hat Enterprise Linux')],
    ['HTTP://REDHAT.COM/RHEL/9.4', os('linux', 'rhel', '9.4', 'Red Hat Enterprise Linux')],
    // A version newer than the database: the product path still names the distribution.
    ['http://redhat.com/rhel/10.9', os('linux', 'rhel', '10.9', 'Red Hat Enterprise Linux')],
    ['http://opensuse.org/opensuse/tumbleweed', os('linux', 'opensuse-tumbleweed', '', 'openSUSE Tumbleweed')],
    ['http://opensuse.org/opensuse/factory', os('linux', 'opensuse-tumbleweed', '', 'openSUSE Tumbleweed')],
    ['http://opensuse.org/opensuse/15.5', os('linux', 'opensuse-leap', '15.5', 'openSUSE Leap')],
    // libosinfo's one CentOS 7 entry stands for every 7.x; CentOS 6 kept its minor versions.
    ['http://centos.org/centos/7.0', os('linux', 'centos', '7', 'CentOS')],
    ['http://centos.org/centos/6.10', os('linux', 'centos', '6.10', 'CentOS')],
    ['http://centos.org/centos-stream/9', os('linux', 'centos', '9', 'CentOS Stream')],
    ['http://microsoft.com/win/2k', os('windows', 'windows-server', '2000', 'Windows Server')],
    ['http://microsoft.com/win/2k3', os('windows', 'windows-server', '2003', 'Windows Server')],
    ['http://microsoft.com/win/2k12r2', os('windows', 'windows-server', '2012 R2', 'Windows Server')],
    ['http://microsoft.com/win/2k25', os('windows', 'windows-server', '2025', 'Windows Server')],
    ['http://microsoft.com/win/10', os('windows', 'windows', '10', 'Windows')],
    ['http://microsoft.com/win/vista', os('windows', 'windows', 'Vista', 'Windows')],
    ['http://microsoft.com/win/95', null],
    ['http://guix.gnu.org/guix/latest', os('linux', 'guix', '', 'Guix')],
  ])('%j', (id, expected) => {
    expect(libosinfoCandidate(id)).toEqual(expected);
  });

  it('reads short ids and names in any case, and no name several entries share', () => {
    expect(osinfoNameCandidate(' win2k19 ')).toEqual(os('windows', 'windows-server', '2019', 'Windows Server'));
    expect(osinfoNameCandidate('sle15sp1')).toMatchObject({ distro: 'sle', version: '15.1' });
    expect(osinfoNameCandidate('Microsoft Windows Server 2019')).toMatchObject({
      distro: 'windows-server',
      version: '2019',
    });
    expect(osinfoNameCandidate('Guix latest')).toEqual(os('linux', 'guix', '', 'Guix'));
    expect(isOsinfoName('ORACLE ENTERPRISE LINUX 5.4')).toBe(true);
    expect(isOsinfoName('openSUSE')).toBe(false);
    expect(osinfoNameCandidate('openSUSE')).toBeNull();
    expect(osinfoNameCandidate('nothing')).toBeNull();
  });
});
