import { distroCandidate, normalizeVersion, type OsCandidate } from './distros.js';

/** libosinfo `<vendor host>/<product>` → os-release ID (and a display name where the product is a variant). */
const PRODUCTS: Record<string, { distro: string; display?: string }> = {
  'redhat.com/rhel': { distro: 'rhel' },
  'centos.org/centos': { distro: 'centos' },
  'centos.org/centos-stream': { distro: 'centos', display: 'CentOS Stream' },
  'fedoraproject.org/fedora': { distro: 'fedora' },
  // Silverblue's os-release says ID=fedora, VARIANT_ID=silverblue.
  'fedoraproject.org/silverblue': { distro: 'fedora', display: 'Fedora Silverblue' },
  'ubuntu.com/ubuntu': { distro: 'ubuntu' },
  'debian.org/debian': { distro: 'debian' },
  'suse.com/sles': { distro: 'sles' },
  'suse.com/sled': { distro: 'sled' },
  'opensuse.org/opensuse': { distro: 'opensuse-leap' },
  'oracle.com/ol': { distro: 'ol' },
  'rockylinux.org/rocky': { distro: 'rocky' },
  'almalinux.org/almalinux': { distro: 'almalinux' },
  'freebsd.org/freebsd': { distro: 'freebsd' },
  'openbsd.org/openbsd': { distro: 'openbsd' },
};

const ID_RE = /^https?:\/\/(?:www\.)?([^/\s]+)\/([^/\s]+)\/([^/\s]+)\/?$/i;

/**
 * A libosinfo id (`http://redhat.com/rhel/9.2`, `http://microsoft.com/win/2k19`) as a candidate.
 * Generic ids (`http://libosinfo.org/linux/2020`) name no distribution and give null, as do vendors
 * this module does not know: the caller then reports the guest as unrecognised.
 */
export function libosinfoCandidate(id: string): OsCandidate | null {
  const m = ID_RE.exec(id.trim());
  if (!m) return null;
  const [, host, product, rawVersion] = m;
  if (host.toLowerCase() === 'microsoft.com' && product === 'win') return windowsShortId(rawVersion.toLowerCase());
  const known = PRODUCTS[`${host.toLowerCase()}/${product.toLowerCase()}`];
  if (!known) return null;
  if (known.distro === 'opensuse-leap' && rawVersion.toLowerCase() === 'tumbleweed') {
    return distroCandidate('opensuse-tumbleweed', '');
  }
  let version = normalizeVersion(known.distro, rawVersion);
  // libosinfo has one CentOS 7 entry, `centos/7.0`, named "CentOS 7": it stands for every 7.x.
  if (known.distro === 'centos' && Number(version.split('.')[0]) >= 7) version = version.split('.')[0];
  return distroCandidate(known.distro, version, known.display);
}

/** Windows server short ids are `2k<yy>[r2]` ("2k12r2", "2k3"); client ones are the product number. */
function windowsShortId(short: string): OsCandidate | null {
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
