/**
 * Reading one piece of OS evidence (free text or a source's structured fields) into a candidate.
 * Internal to the os/ folder: identify-guest.ts ranks the candidates, identify-hypervisor.ts reads host OSes.
 */
import {
  canonicalDistro,
  cleanOsText,
  distroCandidate,
  fromNamedVersion,
  isKnownDistro,
  normalizeVersion,
  type OsCandidate,
} from './distros.js';
import { libosinfoCandidate, osinfoNameCandidate } from './libosinfo.js';
import { windowsFromFacts, windowsFromText } from './windows.js';

/** Free-text names of Linux and BSD distributions, most specific first ("CentOS Stream" before "CentOS"). */
const DISTRO_PATTERNS: { re: RegExp; distro: string; display?: string; rolling?: boolean }[] = [
  { re: /\bcentos\s+stream\b/i, distro: 'centos', display: 'CentOS Stream' },
  { re: /\bcentos\b/i, distro: 'centos' },
  { re: /\bscientific\s+linux\b/i, distro: 'scientific' },
  // RHEL CoreOS (OpenShift nodes) is its own os-release ID, not a RHEL release of that number.
  {
    re: /\bred\s*hat\s+enterprise\s+linux\s+coreos\b|\brhcos\b/i,
    distro: 'rhcos',
    display: 'Red Hat Enterprise Linux CoreOS',
  },
  // Atomic Host is its own product (libosinfo's rhel-atomic), not a RHEL minor release.
  {
    re: /\bred\s*hat\s+enterprise\s+linux\s+atomic\s+host\b/i,
    distro: 'rhel-atomic',
    display: 'Red Hat Enterprise Linux Atomic Host',
  },
  { re: /\bred\s*hat\s+enterprise\s+linux\b|\brhel(?=\d|\b)/i, distro: 'rhel' },
  // Oracle Enterprise Linux 4 and 5 wrote /etc/enterprise-release as "Enterprise Linux Enterprise
  // Linux Server release 5.4 (Carthage)": Oracle Linux under its first name.
  {
    re: /\boracle\s+(?:enterprise\s+)?linux\b|\boel(?=\d|\b)|\benterprise\s+linux\s+enterprise\s+linux\b/i,
    distro: 'ol',
  },
  { re: /\bsuse\s+linux\s+enterprise\s+server\b|\bsles(?=\d|\b)/i, distro: 'sles' },
  { re: /\bsuse\s+linux\s+enterprise\s+desktop\b|\bsled(?=\d|\b)/i, distro: 'sled' },
  { re: /\bopensuse\s+tumbleweed\b/i, distro: 'opensuse-tumbleweed' },
  { re: /\bopensuse\b/i, distro: 'opensuse-leap' },
  { re: /\bubuntu\b/i, distro: 'ubuntu' },
  { re: /\bdebian\b/i, distro: 'debian' },
  { re: /\brocky(?:\s*linux)?\b/i, distro: 'rocky' },
  { re: /\balma\s*linux\b/i, distro: 'almalinux' },
  { re: /\bfedora\s+coreos\b/i, distro: 'fedora-coreos', display: 'Fedora CoreOS' },
  { re: /\bfedora\b/i, distro: 'fedora' },
  { re: /\bamazon\s+linux\b/i, distro: 'amzn' },
  // Outside the table: the os-release ID each ships (from their os-release files), so that a
  // release line and the guest agent agree, and the name as the vendor writes it.
  { re: /\bcloudlinux\b/i, distro: 'cloudlinux', display: 'CloudLinux' },
  { re: /\beurolinux\b/i, distro: 'eurolinux', display: 'EuroLinux' },
  { re: /\bopeneuler\b/i, distro: 'openeuler', display: 'openEuler' },
  { re: /\bazure\s+linux\b/i, distro: 'azurelinux', display: 'Azure Linux' },
  { re: /\bcbl[-\s]mariner\b|\bcommon\s+base\s+linux\s+mariner\b/i, distro: 'mariner', display: 'CBL-Mariner' },
  { re: /\balt\s+(?:linux|server|workstation)\b/i, distro: 'altlinux', display: 'ALT Linux' },
  { re: /\bmageia\b/i, distro: 'mageia', display: 'Mageia' },
  { re: /\bmandriva\b|\bmandrake\b/i, distro: 'mandriva', display: 'Mandriva Linux' },
  { re: /\bslackware\b/i, distro: 'slackware', display: 'Slackware' },
  { re: /\bkvm\s+for\s+ibm\s+z\s+systems\b/i, distro: 'kvmibm', display: 'KVM for IBM z Systems' },
  // Rolling: /etc/gentoo-release's number is the baselayout package's, not a release.
  { re: /\bgentoo\b/i, distro: 'gentoo', display: 'Gentoo', rolling: true },
  { re: /\bfreebsd\b/i, distro: 'freebsd' },
  { re: /\bopenbsd\b/i, distro: 'openbsd' },
];

// A release number stands alone: not inside "x86_64" or "s390x", not the "64" of "64-bit".
const RELEASE_RE = /\b(\d+(?:\.\d+)*)(?![.\d]|[\s-]*bit)(?:\s*-?\s*SP\s*(\d+))?/i;
// RHEL and CentOS 3 and 4 wrote the minor as an update: "release 4 (Nahant Update 9)" is 4.9.
const UPDATE_RE = /^\D*?(\d+)\s*\([^)]*\bupdate\s+(\d+)\)/i;
// /etc/SuSE-release puts the service pack on a line of its own: "PATCHLEVEL = 1".
const PATCHLEVEL_RE = /\bPATCHLEVEL\s*=\s*(\d+)/;

// RHEL 5 to 7 named their variant: "Red Hat Enterprise Linux Server release 7.9 (Maipo)".
const RHEL_EDITION_RE = /\bred\s*hat\s+enterprise\s+linux\s+(server|workstation|client)\b/i;

/** The release a distribution's name is followed by, in that distribution's VERSION_ID form. */
function versionAfterName(distro: string, rest: string): string {
  const update = UPDATE_RE.exec(rest);
  if (update) return `${update[1]}.${update[2]}`;
  const m = RELEASE_RE.exec(rest);
  if (!m) return '';
  const sp = m[2] ?? PATCHLEVEL_RE.exec(rest)?.[1];
  return normalizeVersion(distro, sp ? `${m[1]} SP${sp}` : m[1]);
}

function distroFromText(text: string): OsCandidate | null {
  for (const p of DISTRO_PATTERNS) {
    const m = p.re.exec(text);
    if (!m) continue;
    const version = p.rolling ? '' : versionAfterName(p.distro, text.slice(m.index + m[0].length));
    const c = distroCandidate(p.distro, version, p.display);
    const edition = p.distro === 'rhel' ? RHEL_EDITION_RE.exec(text)?.[1] : undefined;
    return edition ? { ...c, edition: edition[0].toUpperCase() + edition.slice(1).toLowerCase() } : c;
  }
  return null;
}

/** An OS named in free text: a release line, a PRETTY_NAME, a Windows caption, a libosinfo id. */
export function textCandidate(raw: string): OsCandidate | null {
  const text = cleanOsText(raw);
  if (!text || /<not in database>/i.test(text)) return null;
  if (/^https?:\/\//i.test(text)) return libosinfoCandidate(text);
  return osinfoNameCandidate(text) ?? windowsFromText(text) ?? distroFromText(text);
}

/**
 * os-release fields. The ID decides, except where a distribution borrows another's: Scientific
 * Linux 7 ships ID=rhel, and openSUSE Leap 42 and Tumbleweed shipped ID=opensuse.
 */
function fromOsRelease(f: Record<string, string>): OsCandidate | null {
  const name = f.NAME ?? '';
  const pretty = cleanOsText(f.PRETTY_NAME ?? '');
  if (!f.ID) return fromNamedVersion(textCandidate(pretty || name), f.VERSION_ID);
  let distro = canonicalDistro(f.ID);
  if (distro === 'rhel' && /scientific/i.test(name)) distro = 'scientific';
  if (distro === 'opensuse-leap' && /tumbleweed/i.test(name)) distro = 'opensuse-tumbleweed';
  const version = normalizeVersion(distro, f.VERSION_ID ?? '') || versionAfterName(distro, pretty);
  const stream = distro === 'centos' && /stream/i.test(name);
  const display = stream ? 'CentOS Stream' : isKnownDistro(distro) ? undefined : name || undefined;
  const c = distroCandidate(distro, version, display);
  return f.VARIANT ? { ...c, edition: f.VARIANT } : c;
}

/** QEMU guest agent guest-get-osinfo (also `virsh guestinfo --os`, whose keys carry an "os." prefix). */
function fromGuestAgent(f: Record<string, string>): OsCandidate | null {
  const arch = f.machine;
  if (f.id === 'mswindows') {
    // kernel-release is the build; variant-id server/client stands in for ProductType.
    const productType = f['variant-id'] === 'server' ? 3 : f['variant-id'] === 'client' ? 1 : undefined;
    return windowsFromFacts({ caption: f['pretty-name'] || f.name, build: f['kernel-release'], productType, arch });
  }
  const c = fromOsRelease({
    ID: f.id ?? '',
    VERSION_ID: f['version-id'] ?? '',
    NAME: f.name ?? '',
    PRETTY_NAME: f['pretty-name'] ?? '',
    VARIANT: f.variant ?? '',
  });
  return c && arch ? { ...c, arch } : c;
}

/**
 * Hyper-V KVP intrinsic items. Windows sends its caption, NT version and ProductType. Linux's
 * hv_kvp_daemon sends os-release NAME as OSName and the whole VERSION_ID as OSMajorVersion, or on
 * old releases without os-release the lines of /etc/redhat-release or /etc/SuSE-release
 * ("SUSE Linux Enterprise Server 11 (x86_64)", "VERSION = 11", "PATCHLEVEL = 4").
 */
function fromKvp(f: Record<string, string>): OsCandidate | null {
  const name = f.OSName ?? '';
  if (f.OSPlatformId === '2' || f.ProductType || /windows/i.test(name)) {
    return windowsFromFacts({
      caption: name,
      build: f.OSBuildNumber || f.OSVersion,
      productType: f.ProductType,
      servicePack: f.CSDVersion,
    });
  }
  const major = f.OSMajorVersion ?? '';
  const minor = f.OSMinorVersion ?? '';
  const suse = /VERSION\s*=\s*(\S+)/i.exec(major);
  const patch = /PATCHLEVEL\s*=\s*(\d+)/i.exec(minor);
  let version = major;
  if (suse) version = patch ? `${suse[1]} SP${patch[1]}` : suse[1];
  else if (/^\d+$/.test(major) && /^\d+$/.test(minor)) version = `${major}.${minor}`;
  return fromNamedVersion(textCandidate(name), version);
}

/**
 * XenServer guest metrics os-version (name, distro, major, minor) and the xenstore data/os_* keys
 * (os_name, os_distro, os_majorver, os_minorver) that the same guest tools write.
 */
function fromXenGuestTools(f: Record<string, string>): OsCandidate | null {
  const name = f.name ?? f.os_name ?? '';
  const distro = f.distro ?? f.os_distro ?? '';
  if (distro === 'windows' || /windows/i.test(name)) {
    // Windows' major/minor here are what the API reports without a compatibility manifest (6.2 for
    // Windows Server 2016, see the ansible-test-vm-1 fixture): only the name can be trusted.
    return windowsFromFacts({ caption: name, servicePack: f.spmajor });
  }
  const major = f.major ?? f.os_majorver ?? '';
  const minor = f.minor ?? f.os_minorver ?? '';
  const hint = canonicalDistro(distro);
  const byName = textCandidate(name) ?? (isKnownDistro(hint) ? distroCandidate(hint, '') : null);
  return fromNamedVersion(byName, minor ? `${major}.${minor}` : major);
}

/**
 * An OS from structured fields, read by the keys present whichever source sent them: os-release
 * (ID, VERSION_ID...), KVP (OSName...), guest agent (id, pretty-name...), XenServer guest tools (name, distro...).
 */
export function fieldsCandidate(raw: Record<string, string>): OsCandidate | null {
  const f: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) f[k.replace(/^os\./, '')] = v.trim();
  if (f.ID || f.VERSION_ID || f.PRETTY_NAME || f.NAME) return fromOsRelease(f);
  if (f.OSName || f.OSVersion || f.OSBuildNumber) return fromKvp(f);
  if (f.id || f['pretty-name'] || f['version-id'] || f['kernel-release']) return fromGuestAgent(f);
  if (f.name || f.distro || f.os_name || f.os_distro) return fromXenGuestTools(f);
  return null;
}
