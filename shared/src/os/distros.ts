import type { GuestFamily, GuestOsIdentity } from './types.js';

/** A guest OS as the identifiers of DESIGN.md, before its id and name are spelled out. */
export interface OsCandidate {
  family: GuestFamily;
  distro: string;
  version: string;
  /** Product name without the version: "Red Hat Enterprise Linux", "CentOS Stream", "Windows Server". */
  display: string;
  /** Windows feature release shown after the name: "24H2" in "Windows 11 (24H2)". */
  release?: string;
  build?: string;
  edition?: string;
  servicePack?: string;
  arch?: string;
}

/** The first SUSE Linux Enterprise release numbered major.minor instead of service packs. */
const SLES_MINOR_RELEASES = 16;

/** How much of a version a distribution's os-release VERSION_ID keeps. */
type Precision = 'major' | 'minor' | 'raw';

interface Distro {
  name: string;
  /** What a vendor writes for it as a hypervisor host: "RHEL 9.2", "CentOS 7.9". */
  short: string;
  family: GuestFamily;
  precision: Precision;
}

/** Known os-release IDs (DESIGN.md "Identifiers"), plus the few others the evidence names. */
const DISTROS: Record<string, Distro> = {
  rhel: { name: 'Red Hat Enterprise Linux', short: 'RHEL', family: 'linux', precision: 'minor' },
  centos: { name: 'CentOS', short: 'CentOS', family: 'linux', precision: 'minor' },
  ol: { name: 'Oracle Linux', short: 'Oracle Linux', family: 'linux', precision: 'minor' },
  sles: { name: 'SUSE Linux Enterprise Server', short: 'SLES', family: 'linux', precision: 'minor' },
  sled: { name: 'SUSE Linux Enterprise Desktop', short: 'SLED', family: 'linux', precision: 'minor' },
  ubuntu: { name: 'Ubuntu', short: 'Ubuntu', family: 'linux', precision: 'minor' },
  // Debian's and Fedora's VERSION_ID is the major release only ("12", not "12.5").
  debian: { name: 'Debian', short: 'Debian', family: 'linux', precision: 'major' },
  fedora: { name: 'Fedora', short: 'Fedora', family: 'linux', precision: 'major' },
  rocky: { name: 'Rocky Linux', short: 'Rocky Linux', family: 'linux', precision: 'minor' },
  almalinux: { name: 'AlmaLinux', short: 'AlmaLinux', family: 'linux', precision: 'minor' },
  'opensuse-leap': { name: 'openSUSE Leap', short: 'openSUSE Leap', family: 'linux', precision: 'minor' },
  'opensuse-tumbleweed': {
    name: 'openSUSE Tumbleweed',
    short: 'openSUSE Tumbleweed',
    family: 'linux',
    precision: 'raw',
  },
  scientific: { name: 'Scientific Linux', short: 'Scientific Linux', family: 'linux', precision: 'minor' },
  amzn: { name: 'Amazon Linux', short: 'Amazon Linux', family: 'linux', precision: 'raw' },
  freebsd: { name: 'FreeBSD', short: 'FreeBSD', family: 'bsd', precision: 'minor' },
  openbsd: { name: 'OpenBSD', short: 'OpenBSD', family: 'bsd', precision: 'minor' },
};

/** Other spellings of a distribution id: XenServer's xe-linux-distribution says "oracle" for Oracle Linux. */
const ALIASES: Record<string, string> = { oracle: 'ol', oel: 'ol', redhat: 'rhel', opensuse: 'opensuse-leap' };

/** The canonical distro id for an id as a source spells it. */
export function canonicalDistro(id: string): string {
  const lower = id.trim().toLowerCase();
  return ALIASES[lower] ?? lower;
}

/**
 * Brings a version to the VERSION_ID form of its distribution: "7.9.2009" → "7.9" (CentOS),
 * "22.04.3 LTS" → "22.04", "15 SP5" → "15.5" (SLES), "13.2-RELEASE" → "13.2", "12.5" → "12" (Debian).
 * Returns "" when there is no number in it ("N/A", "unknown").
 */
export function normalizeVersion(distro: string, raw: string): string {
  const text = raw.trim();
  if (distro === 'sles' || distro === 'sled') {
    const sp = /^(\d+)(?:\.(\d+)|\s*-?\s*SP\s*(\d+))?/i.exec(text);
    if (!sp) return '';
    const level = sp[2] ?? sp[3];
    // From 16 SUSE numbers minor releases (VERSION_ID "16.0", then "16.1"), without service packs.
    if (Number(sp[1]) >= SLES_MINOR_RELEASES) return `${sp[1]}.${sp[2] ?? '0'}`;
    return level && level !== '0' ? `${sp[1]}.${level}` : sp[1];
  }
  const num = /\d+(?:\.\d+)*/.exec(text);
  if (!num) return '';
  // Amazon Linux 2023 and later are the major release; "2023.6.20241010" is an update of it.
  // The older AMI releases are year.month ("2018.03") and Amazon Linux 2 is "2".
  if (distro === 'amzn' && Number(num[0].split('.')[0]) >= 2022) return num[0].split('.')[0];
  const parts = num[0].split('.');
  const precision = DISTROS[distro]?.precision ?? 'raw';
  if (precision === 'major') return parts[0];
  if (precision === 'minor') return parts.slice(0, 2).join('.');
  return num[0];
}

/** Whether the distro id is one this module knows by name. */
export function isKnownDistro(distro: string): boolean {
  return distro in DISTROS;
}

/** A Linux or BSD candidate for a distro id; `display` overrides the table's name (e.g. "CentOS Stream"). */
export function distroCandidate(distro: string, version: string, display?: string): OsCandidate {
  const known = DISTROS[distro];
  return { family: known?.family ?? 'linux', distro, version, display: display ?? known?.name ?? distro };
}

/** The distro as a vendor names it for a hypervisor host: "RHEL 9.2", "CentOS Stream 9", "Ubuntu 22.04". */
export function hostDistroName(c: OsCandidate): string {
  const known = DISTROS[c.distro];
  const short = c.display === known?.name ? known.short : c.display;
  return `${short} ${spokenVersion(c)}`.trim();
}

/** SUSE says "15 SP5" where its VERSION_ID says "15.5"; from 16 it says "16.0". */
function spokenVersion(c: OsCandidate): string {
  const sp = (c.distro === 'sles' || c.distro === 'sled') && /^(\d+)\.(\d+)$/.exec(c.version);
  return sp && Number(sp[1]) < SLES_MINOR_RELEASES ? `${sp[1]} SP${sp[2]}` : c.version;
}

/** Spells out a candidate's id and name. */
export function toIdentity(c: OsCandidate): GuestOsIdentity {
  const name = `${c.display} ${spokenVersion(c)}`.trim() + (c.release ? ` (${c.release})` : '');
  const id = (c.version ? `${c.distro}-${c.version}` : c.distro).toLowerCase().replace(/\s+/g, '-');
  const identity: GuestOsIdentity = { id, family: c.family, distro: c.distro, version: c.version, name };
  for (const key of ['build', 'edition', 'servicePack', 'arch'] as const) {
    if (c[key]) identity[key] = c[key];
  }
  return identity;
}

/**
 * Gives a candidate found from a name the version a structured field states (os-release VERSION_ID,
 * KVP OSMajorVersion, xe major.minor), which is more exact than a number read out of free text.
 * Windows keeps its own: its numeric fields are NT versions, not product names.
 */
export function fromNamedVersion(c: OsCandidate | null, version: string | undefined): OsCandidate | null {
  if (!c || c.family === 'windows' || !version) return c;
  const v = normalizeVersion(c.distro, version);
  return v ? { ...c, version: v } : c;
}

/**
 * Strips what is not part of an OS name: XenServer's `|C:\Windows|\Device\...` suffix, ® and ™ marks
 * ("Microsoft® Windows Server® 2008", "Microsoft(R) Windows(R) Server 2003"), and runs of whitespace.
 */
export function cleanOsText(text: string): string {
  return text
    .split('|')[0]
    .replace(/[®™]|\((?:R|TM)\)/gi, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
