import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { identifyGuestOsText } from './identify-guest.js';

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
