/**
 * Every OS version the identification meets on hypervisors has an end of support in the lifecycle
 * program, or is listed here as deliberately unknown with the reason (no source states one). The
 * versions are written as the OS names itself, so the real identification runs first.
 */
import { fileURLToPath } from 'node:url';
import { identifyGuestOsText } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../compat/evaluate.js';
import { loadCatalog } from './load.js';

const catalog = loadCatalog({ shipped: fileURLToPath(new URL('../../catalog', import.meta.url)) });
const HOST = { id: 'hyper-v-2019', product: 'hyper-v', version: '2019', name: 'Hyper-V on Windows Server 2019' };

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const texts = [
  ...['2.1', ...range(3, 10).map(String)].map((v) => `Red Hat Enterprise Linux ${v}`),
  ...range(3, 8).map((v) => `CentOS Linux release ${v}`),
  ...range(9, 10).map((v) => `CentOS Stream ${v}`),
  ...range(4, 10).map((v) => `Oracle Linux Server release ${v}`),
  ...range(4, 7).map((v) => `Scientific Linux release ${v}`),
  'SUSE Linux Enterprise Server 9',
  'SUSE Linux Enterprise Server 9 SP3',
  'SUSE Linux Enterprise Server 9 SP4',
  ...['5.9', '6.9', '7.4', '7.7'].map((v) => `OpenBSD ${v}`),
  ...['10', '11'].flatMap((major) =>
    ['', ' SP1', ' SP2', ' SP3', ' SP4'].map((sp) => `SUSE Linux Enterprise Server ${major}${sp}`),
  ),
  ...['', ' SP1', ' SP2', ' SP3', ' SP4', ' SP5'].map((sp) => `SUSE Linux Enterprise Server 12${sp}`),
  ...['', ' SP1', ' SP2', ' SP3', ' SP4', ' SP5', ' SP6', ' SP7'].map((sp) => `SUSE Linux Enterprise Server 15${sp}`),
  'SUSE Linux Enterprise Server 16.0',
  ...range(6, 26)
    .flatMap((y) => [`Ubuntu ${y}.04`, `Ubuntu ${y}.10`])
    .filter((t) => t !== 'Ubuntu 6.04' && t !== 'Ubuntu 26.10'),
  'Ubuntu 6.06 LTS',
  ...range(4, 13).map((v) => `Debian GNU/Linux ${v}`),
  ...['9.3', '10.4', '11.4', '12.4', '13.0', '13.5', '14.0', '14.3', '15.0'].map((v) => `FreeBSD ${v}-RELEASE`),
  ...range(8, 10).flatMap((v) => [`Rocky Linux ${v}`, `AlmaLinux ${v}`]),
  ...range(30, 44).map((v) => `Fedora Linux ${v}`),
  ...['15.0', '15.6', '16.0', '42.3'].map((v) => `openSUSE Leap ${v}`),
  'Amazon Linux 2',
  'Amazon Linux 2023',
  ...['2003', '2003 R2', '2008', '2008 R2', '2012', '2012 R2', '2016', '2019', '2022', '2025'].map(
    (v) => `Microsoft Windows Server ${v} Standard`,
  ),
  'Microsoft Windows XP Professional',
  'Microsoft Windows Vista Business',
  'Microsoft Windows 7 Professional',
  'Microsoft Windows 8.1 Pro',
  'Microsoft Windows 10 Pro 10.0.19045',
  'Microsoft Windows 11 Pro 10.0.22631',
  'Microsoft Windows 11 Pro 10.0.26100',
];

/** Versions with no end in the catalog, and why: no source read states one. */
const UNKNOWN: Record<string, string> = {
  'ol-4': 'endoflife.date starts at Oracle Linux 6; no Oracle source for 4 was read',
  'ol-5': 'endoflife.date starts at Oracle Linux 6; no Oracle source for 5 was read',
  'ol-10': 'Oracle has announced no end for Oracle Linux 10 (endoflife.date: eol false)',
  'scientific-5': 'Fermilab life-cycle pages were not read',
  'scientific-6': 'Fermilab life-cycle pages were not read',
  'scientific-7': 'Fermilab life-cycle pages were not read',
  'sles-9': "SLES 9 GA: only the SP3 and SP4 ends were found (a security vendor's table)",
};

describe('the lifecycle program knows the end of every OS version hvmap identifies', () => {
  it.each(texts)('%s', (text) => {
    const guest = identifyGuestOsText(text);
    expect(guest, `"${text}" identified`).not.toBeNull();
    if (!guest) return;
    const { lifecycle } = evaluate(HOST, guest, catalog, '2026-12-02');
    const key = `${guest.distro}-${guest.version}`;
    const unknown = UNKNOWN[key];
    if (unknown) expect(lifecycle, `${key} is listed as unknown (${unknown}): remove it from the list`).toBeNull();
    else expect(lifecycle, `${guest.name} (${key}) has no lifecycle row and is not listed as unknown`).not.toBeNull();
  });
});

describe('end of life', () => {
  const flag = (text: string) => evaluate(HOST, identifyGuestOsText(text), catalog, '2026-12-02').eol;

  it('flags a RHEL 3 guest, whose production support ended in October 2010', () => {
    expect(flag('Red Hat Enterprise Linux AS release 3 (Taroon Update 9)')).toEqual({ date: '2010-10-31' });
  });

  it('does not flag RHEL 9, in maintenance support until 2032', () => {
    expect(flag('Red Hat Enterprise Linux release 9.4 (Plow)')).toBeNull();
  });

  it('flags CentOS Stream 8 but not CentOS Stream 9', () => {
    expect(flag('CentOS Stream 8')).not.toBeNull();
    expect(flag('CentOS Stream 9')).toBeNull();
  });

  it('flags Rocky Linux 8 only after 2029-05-31', () => {
    const rocky = identifyGuestOsText('Rocky Linux 8.9');
    expect(evaluate(HOST, rocky, catalog, '2029-05-31').eol).toBeNull();
    expect(evaluate(HOST, rocky, catalog, '2029-06-01').eol).toEqual({ date: '2029-05-31' });
  });
});
