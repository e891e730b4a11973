/**
 * Release files of 60 systems, each compared with what python-distro's own tests expect of it
 * (testcases/python-distro/SOURCES.md): the same distribution, and the same version at hvmap's
 * precision. Where hvmap reads a file differently the difference is listed below with its reason.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Guest } from '../protocol.js';
import { identifyGuestOs } from './identify-guest.js';
import { parseOsRelease } from './os-release.js';

interface Case {
  test: string;
  file: string;
  expected: Record<string, string>;
}

const root = new URL('./testcases/python-distro/', import.meta.url);
const { cases } = JSON.parse(readFileSync(new URL('expected.json', root), 'utf8')) as { cases: Case[] };

/**
 * python-distro's ids where hvmap's differ. python-distro renames os-release IDs (ol → oracle,
 * opensuse-leap → opensuse) and takes a release file's id from the file's name (redhat-release,
 * SuSE-release, and the centos-release Rocky Linux ships), so the name decides first.
 */
const BY_NAME: Record<string, string> = {
  'Rocky Linux': 'rocky',
  'CentOS Stream': 'centos',
  // Scientific Linux 7 ships ID=rhel: hvmap reads its NAME, as Scientific Linux is its own product.
  'Scientific Linux': 'scientific',
  'SUSE Linux Enterprise Server': 'sles',
  openSUSE: 'opensuse-leap',
  'KVM for IBM z Systems': 'kvmibm',
  'Mandriva Linux': 'mandriva',
};
const BY_ID: Record<string, string> = { oracle: 'ol', opensuse: 'opensuse-leap', redhat: 'rhel' };

/** Files hvmap cannot identify, and why: evidence without the file's name says nothing here. */
const NOT_IDENTIFIED: Record<string, string> = {
  'arch/etc/arch-release': 'the file is empty: python-distro knows Arch from the file name alone',
  'armbian/etc/armbian-release': 'board settings (BOARD=, VERSION=) with no distribution name in them',
};

/** Versions hvmap reads differently on purpose. */
const OTHER_VERSION: Record<string, string> = {
  'gentoo/etc/gentoo-release': "Gentoo is rolling: the file's 2.2 is the baselayout package's version",
};

function identify(c: Case) {
  const text = readFileSync(new URL(c.file, root), 'utf8');
  const evidence: Guest['os']['evidence'] = c.file.endsWith('/os-release')
    ? [{ source: 'config', fields: parseOsRelease(text) }]
    : [{ source: 'config', text }];
  const r = identifyGuestOs({ evidence });
  return r.known ? r.os : null;
}

/** "7.1" and "7.1.1503", "12" and "12.1": one is the other at another precision. */
function samePrecisionPrefix(a: string, b: string): boolean {
  const [x, y] = [a.split('.'), b.split('.')];
  return x.slice(0, y.length).join('.') === y.slice(0, x.length).join('.');
}

describe("python-distro's systems", () => {
  it('holds its cases', () => {
    expect(cases.length).toBeGreaterThan(60);
    expect(new Set(cases.map((c) => c.file.split('/')[0])).size).toBeGreaterThan(50);
  });

  it.each(cases.map((c) => [c.file, c.test, c] as const))('%s (%s)', (_, __, c) => {
    const os = identify(c);
    if (c.file in NOT_IDENTIFIED) {
      expect(os).toBeNull();
      return;
    }
    const e = c.expected;
    const distro = BY_NAME[e.name] ?? BY_ID[e.id] ?? e.id;
    expect(os?.distro, JSON.stringify(os)).toBe(distro);
    const theirs = e.best_version ?? e.version_id ?? e.version ?? '';
    const ours = os?.version ?? '';
    if (c.file in OTHER_VERSION) expect(ours).toBe('');
    // A version python-distro gives as words ("bookworm/sid") or not at all leaves hvmap's empty.
    else if (!/^\d/.test(theirs)) expect(ours).toBe('');
    else expect(samePrecisionPrefix(ours, theirs) && ours !== '', `${ours} vs ${theirs}`).toBe(true);
  });
});
