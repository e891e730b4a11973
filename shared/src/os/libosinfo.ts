/**
 * libosinfo's names for an OS (the id URL libvirt keeps in a domain's metadata, the short id of
 * virt-install --os-variant, the name virt-manager shows), read with the table generated from
 * libosinfo's own database (osinfo-entries.ts): every entry's distro and version come from the
 * database, not from hand-kept lists. An id newer than the database is read from its URL, with the
 * product paths the database uses.
 */
import { distroCandidate, isKnownDistro, normalizeVersion, type OsCandidate } from './distros.js';
import { OSINFO_ENTRIES } from './osinfo-entries.js';
import type { GuestFamily } from './types.js';

interface OsinfoEntry {
  id: string;
  shortIds: string[];
  distro: string;
  family: string;
  version: string;
  name: string;
}

/**
 * libosinfo distros whose os-release ID differs (ours are os-release IDs, so that a libosinfo id
 * and the guest agent's os-release agree on the same guest). Sources: each distribution's
 * os-release (python-distro's test resources for alpine, arch, altlinux, mageia, manjaro; the
 * distributions' own files for the rest).
 */
const OS_RELEASE_IDS: Record<string, string> = {
  // Oracle Enterprise Linux is Oracle Linux's name up to 5.x: one product line.
  oel: 'ol',
  scientificlinux: 'scientific',
  opensuse: 'opensuse-leap',
  alpinelinux: 'alpine',
  archlinux: 'arch',
  alt: 'altlinux',
  popos: 'pop',
  eos: 'endless',
  voidlinux: 'void',
  elementaryos: 'elementary',
  clearlinux: 'clear-linux-os',
  mandrake: 'mandriva',
  dragonflybsd: 'dragonfly',
  slem: 'sle-micro',
  manjaro: 'manjaro',
};

/**
 * Products libosinfo files under another distro that are distributions of their own (their own
 * os-release ID or VARIANT): keyed by the id URL's `host/product`.
 */
const PRODUCTS: Record<string, { distro: string; display: string }> = {
  'centos.org/centos-stream': { distro: 'centos', display: 'CentOS Stream' },
  'fedoraproject.org/silverblue': { distro: 'fedora', display: 'Fedora Silverblue' },
  // os-release ID=fedora VARIANT_ID=coreos, released as streams (stable, testing, next), not numbers.
  'fedoraproject.org/coreos': { distro: 'fedora-coreos', display: 'Fedora CoreOS' },
  // A separate product with its own life cycle and support terms, not a RHEL minor release.
  'redhat.com/rhel-atomic': { distro: 'rhel-atomic', display: 'Red Hat Enterprise Linux Atomic Host' },
};

/** Families of the database outside the guests hvmap judges, and why each is left out. */
const LEFT_OUT_FAMILIES: Record<string, string> = {
  darwin: 'macOS is no guest of these hypervisors under any vendor list',
  haiku: 'no vendor list or life cycle speaks of Haiku',
  solaris: 'no vendor list of these hypervisors speaks of Solaris guests',
  netware: 'NetWare left support in 2010; no list of these hypervisors speaks of it',
  msdos: 'no vendor list or life cycle speaks of MS-DOS',
  hurd: 'no vendor list or life cycle speaks of GNU Hurd',
  win16: 'Windows before NT: no vendor list of these hypervisors speaks of it',
  win9x: 'Windows 9x: no vendor list of these hypervisors speaks of it',
};

/** Distros left out whatever their family says. */
const LEFT_OUT_DISTROS: Record<string, string> = {
  '': 'a generic entry (Generic Linux 2022, Unknown) names no distribution to check against a list',
  winnt: 'Windows NT 3.x and 4.0: no vendor list of these hypervisors speaks of them',
  // The database files FreeDOS under family linux.
  freedos: 'no vendor list or life cycle speaks of FreeDOS',
};

/** Why the database's entry is left unidentified, or null when it is identified. */
export function leftOutBecause(e: { distro: string; family: string }): string | null {
  return LEFT_OUT_DISTROS[e.distro] ?? LEFT_OUT_FAMILIES[e.family] ?? null;
}

const FAMILIES: Record<string, GuestFamily> = {
  linux: 'linux',
  winnt: 'windows',
  freebsd: 'bsd',
  netbsd: 'bsd',
  openbsd: 'bsd',
  dragonflybsd: 'bsd',
};

const ENTRIES: OsinfoEntry[] = OSINFO_ENTRIES.map(([id, shortIds, distro, family, version, name]) => ({
  id,
  shortIds: shortIds ? shortIds.split(' ') : [],
  distro,
  family,
  version,
  name,
}));

/** Every entry of the database the table was generated from. */
export function osinfoEntries(): readonly OsinfoEntry[] {
  return ENTRIES;
}

/** Whether a libosinfo name stands for one entry alone. */
export function isOsinfoName(name: string): boolean {
  return Boolean(byName.get(name.toLowerCase()));
}

const ID_RE = /^https?:\/\/(?:www\.)?([^/\s]+)\/([^/\s]+)\/([^/\s]+)\/?$/i;

const byId = new Map(ENTRIES.map((e) => [e.id.toLowerCase(), e]));
const byShortId = new Map(ENTRIES.flatMap((e) => e.shortIds.map((s) => [s.toLowerCase(), e] as const)));
/** Names that stand for one entry: "openSUSE" and "PureOS" name several, and so none. */
const byName = new Map<string, OsinfoEntry | null>();
for (const e of ENTRIES) {
  const key = e.name.toLowerCase();
  byName.set(key, byName.has(key) ? null : e);
}
/** `host/product` of the id URLs → the entries' distro, for ids newer than the database. */
const byProduct = new Map(
  ENTRIES.flatMap((e) => {
    const m = ID_RE.exec(e.id);
    return m ? [[`${m[1]}/${m[2]}`.toLowerCase(), e] as const] : [];
  }),
);

/** An entry's name without its version: "Alpine Linux 3.10" → "Alpine Linux", "Guix latest" → "Guix". */
function productName(e: OsinfoEntry): string {
  const name = e.name.replace(/^Microsoft\s+/, '');
  const cut = name.search(/\s\d/);
  return (cut > 0 ? name.slice(0, cut) : name).replace(/\s+(latest|unknown|rolling)$/i, '').trim();
}

/** The candidate an entry stands for, with `version` as the id gives it; null for left-out families. */
function entryCandidate(e: OsinfoEntry, host: string, product: string, rawVersion: string): OsCandidate | null {
  if (leftOutBecause(e)) return null;
  if (e.distro === 'win') return windowsShortId(rawVersion.toLowerCase());
  const variant = PRODUCTS[`${host}/${product}`.toLowerCase()];
  const distro = variant?.distro ?? OS_RELEASE_IDS[e.distro] ?? e.distro.toLowerCase();
  if (distro === 'opensuse-leap' && /^(tumbleweed|factory)$/i.test(rawVersion))
    return distroCandidate('opensuse-tumbleweed', '');
  let version = normalizeVersion(distro, rawVersion);
  // libosinfo has one CentOS 7 entry, `centos/7.0`, named "CentOS 7": it stands for every 7.x.
  if (distro === 'centos' && !variant && Number(version.split('.')[0]) >= 7) version = version.split('.')[0];
  if (isKnownDistro(distro)) return distroCandidate(distro, version, variant?.display);
  return { family: FAMILIES[e.family] ?? 'linux', distro, version, display: variant?.display ?? productName(e) };
}

/**
 * A libosinfo id (`http://redhat.com/rhel/9.2`, `http://microsoft.com/win/2k19`) as a candidate: the
 * database's entry where it has one, else the URL read with the product paths the database uses.
 * Generic ids (`http://libosinfo.org/linux/2020`), left-out families and unknown vendors give null:
 * the caller then reports the guest as unrecognised.
 */
export function libosinfoCandidate(id: string): OsCandidate | null {
  const m = ID_RE.exec(id.trim());
  if (!m) return null;
  const [, host, product, rawVersion] = m;
  const entry = byId.get(id.trim().toLowerCase()) ?? byProduct.get(`${host}/${product}`.toLowerCase());
  return entry ? entryCandidate(entry, host, product, rawVersion) : null;
}

/**
 * An OS named exactly as libosinfo names one: a short id ("rhel9.2", "win2k19", "sle15sp1") or an
 * entry's name ("Oracle Enterprise Linux 5.4"). Null when the text is neither.
 */
export function osinfoNameCandidate(text: string): OsCandidate | null {
  const key = text.trim().toLowerCase();
  const entry = byShortId.get(key) ?? byName.get(key);
  if (!entry) return null;
  const m = ID_RE.exec(entry.id);
  return m ? entryCandidate(entry, m[1], m[2], m[3]) : null;
}

/** Windows server short ids are `2k<yy>[r2]` ("2k12r2", "2k3"); client ones are the product number. */
function windowsShortId(short: string): OsCandidate | null {
  if (short === '2k')
    return { family: 'windows', distro: 'windows-server', version: '2000', display: 'Windows Server' };
  const server = /^2k(3|8|1[2-9]|2\d)(r2)?$/.exec(short);
  if (server) {
    const year = server[1].length === 1 ? `200${server[1]}` : `20${server[1]}`;
    const version = server[2] ? `${year} R2` : year;
    return { family: 'windows', distro: 'windows-server', version, display: 'Windows Server' };
  }
  const client: Record<string, string> = {
    '11': '11',
    '10': '10',
    '8.1': '8.1',
    '8': '8',
    '7': '7',
    vista: 'Vista',
    xp: 'XP',
  };
  const version = client[short];
  return version ? { family: 'windows', distro: 'windows', version, display: 'Windows' } : null;
}
