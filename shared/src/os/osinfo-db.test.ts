/**
 * libosinfo's whole database (Debian's osinfo-db, installed by .ci/run): every entry is identified
 * from its id URL, its short id and its name, the three agreeing, with the entry's own version and
 * family; or it is left out with the reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { identifyGuestOsText } from './identify-guest.js';
import { isOsinfoName, leftOutBecause, osinfoEntries } from './libosinfo.js';
import { OSINFO_DB_VERSION } from './osinfo-entries.js';

const DB = '/usr/share/osinfo';
const GENERATOR = new URL('../../scripts/generate-osinfo.mjs', import.meta.url).pathname;
const TABLE = new URL('./osinfo-entries.ts', import.meta.url).pathname;

const entries = osinfoEntries();
const identified = entries.filter((e) => leftOutBecause(e) === null);

/** The guest families libosinfo's families stand for. */
const FAMILY: Record<string, string> = {
  linux: 'linux',
  winnt: 'windows',
  freebsd: 'bsd',
  netbsd: 'bsd',
  openbsd: 'bsd',
  dragonflybsd: 'bsd',
};

describe('the generated table', () => {
  it('is what the generator makes of the installed osinfo-db', () => {
    expect(existsSync(`${DB}/VERSION`), `${DB} is missing: apt-get install osinfo-db`).toBe(true);
    expect(readFileSync(`${DB}/VERSION`, 'utf8').trim()).toBe(OSINFO_DB_VERSION);
    const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-osinfo-'));
    try {
      execFileSync(process.execPath, [GENERATOR, DB, path.join(dir, 'entries.ts')]);
      expect(readFileSync(path.join(dir, 'entries.ts'), 'utf8')).toBe(readFileSync(TABLE, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds the whole database', () => {
    expect(entries.length).toBeGreaterThan(750);
    expect(identified.length).toBeGreaterThan(730);
  });
});

describe('every entry of libosinfo', () => {
  it.each(identified.map((e) => [e.id, e] as const))('%s is identified alike from id, short id and name', (_, e) => {
    const fromId = identifyGuestOsText(e.id);
    expect(fromId, e.id).not.toBeNull();
    // A name several entries share ("openSUSE", "PureOS") stands for none of them.
    const names = isOsinfoName(e.name) ? [e.name] : [];
    for (const text of [...e.shortIds, ...names]) expect(identifyGuestOsText(text), text).toEqual(fromId);
    expect(fromId?.family).toBe(FAMILY[e.family] ?? 'linux');
    // The entry's version, in the distribution's VERSION_ID form: a prefix ("7" of "7.0"), or none
    // for streams and catch-alls ("unknown", "rawhide", "stable").
    const version = fromId?.version ?? '';
    if (/^\d/.test(e.version) && fromId?.family !== 'windows')
      expect(e.version.startsWith(version.split('.')[0]) && version !== '', `${e.version} → ${version}`).toBe(true);
  });

  it('leaves out only what it says why', () => {
    const out = entries.filter((e) => leftOutBecause(e) !== null);
    for (const e of out) {
      expect(identifyGuestOsText(e.id), e.id).toBeNull();
      expect(leftOutBecause(e)?.length).toBeGreaterThan(20);
    }
    expect(new Set(out.map((e) => e.family || e.distro || 'generic'))).toEqual(
      new Set([
        'darwin',
        'haiku',
        'solaris',
        'netware',
        'msdos',
        'hurd',
        'win16',
        'win9x',
        'winnt',
        'linux',
        'generic',
      ]),
    );
  });
});

describe('entries the hand-kept table missed', () => {
  it.each([
    ['http://redhat.com/rhel-atomic/7.4', 'rhel-atomic-7.4', 'Red Hat Enterprise Linux Atomic Host 7.4'],
    ['Red Hat Enterprise Linux Atomic Host 7.4', 'rhel-atomic-7.4', 'Red Hat Enterprise Linux Atomic Host 7.4'],
    ['http://oracle.com/oel/5.4', 'ol-5.4', 'Oracle Linux 5.4'],
    ['Oracle Enterprise Linux 5.4', 'ol-5.4', 'Oracle Linux 5.4'],
    ['oel5.4', 'ol-5.4', 'Oracle Linux 5.4'],
    ['http://scientificlinux.org/scientificlinux/6.10', 'scientific-6.10', 'Scientific Linux 6.10'],
    ['http://fedoraproject.org/coreos/stable', 'fedora-coreos', 'Fedora CoreOS'],
    ['http://suse.com/sle/15.1', 'sle-15.1', 'SUSE Linux Enterprise 15.1'],
    ['sles12sp5', 'sles-12.5', 'SUSE Linux Enterprise Server 12 SP5'],
    ['http://suse.com/sles/12-unknown', 'sles-12', 'SUSE Linux Enterprise Server 12'],
    ['http://alpinelinux.org/alpinelinux/3.17', 'alpine-3.17', 'Alpine Linux 3.17'],
    ['http://microsoft.com/win/2k', 'windows-server-2000', 'Windows Server 2000'],
    ['win2k19', 'windows-server-2019', 'Windows Server 2019'],
    ['centos-stream9', 'centos-9', 'CentOS Stream 9'],
    // Newer than the database: read from the URL with the database's product paths.
    ['http://redhat.com/rhel/9.6', 'rhel-9.6', 'Red Hat Enterprise Linux 9.6'],
    ['http://rockylinux.org/rocky/10', 'rocky-10', 'Rocky Linux 10'],
  ])('%s is %s (%s)', (text, id, name) => {
    expect(identifyGuestOsText(text)).toMatchObject({ id, name });
  });
});
