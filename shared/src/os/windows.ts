import { cleanOsText, type OsCandidate, toIdentity } from './distros.js';
import type { GuestOsIdentity } from './types.js';

interface BuildRow {
  version: string;
  /** Feature release of a Windows 10/11 build ("22H2"). */
  release?: string;
  servicePack?: string;
  /** Name before the version, where it is not plain "Windows Server" / "Windows". */
  display?: string;
}

const SAC = 'Windows Server, version';

/*
 * NT build → product. Source: /work/shared/catalog-sources/build_numbers.json, read from
 * endoflife-date/endoflife.date products/windows-server.md and products/windows.md at commit
 * a70eca337600e7d721dc48112c271f98661d208b. Two corrections: that file gives Vista SP2 as 6200, but
 * Vista SP2 is build 6002 (as is Server 2008 SP2); and it marks 7600 (2008 R2 / 7 RTM) as inferred.
 * Builds are unique to a product line across NT versions, so the build alone keys the table.
 */
const SERVER_BUILDS: Record<number, BuildRow> = {
  26100: { version: '2025' },
  25398: { version: '23H2', display: SAC },
  20348: { version: '2022' },
  19042: { version: '20H2', display: SAC },
  19041: { version: '2004', display: SAC },
  18363: { version: '1909', display: SAC },
  18362: { version: '1903', display: SAC },
  // 17763 is also the semi-annual "version 1809", which shipped the same build as 2019.
  17763: { version: '2019' },
  17134: { version: '1803', display: SAC },
  16299: { version: '1709', display: SAC },
  14393: { version: '2016' },
  9600: { version: '2012 R2' },
  9200: { version: '2012' },
  7601: { version: '2008 R2', servicePack: 'SP1' },
  7600: { version: '2008 R2' },
  6003: { version: '2008', servicePack: 'SP2' },
  6002: { version: '2008', servicePack: 'SP2' },
  6001: { version: '2008' },
  3790: { version: '2003' },
  2195: { version: '2000' },
};

const WIN10_RELEASES: Record<number, string> = {
  10240: '1507',
  10586: '1511',
  14393: '1607',
  15063: '1703',
  16299: '1709',
  17134: '1803',
  17763: '1809',
  18362: '1903',
  18363: '1909',
  19041: '2004',
  19042: '20H2',
  19043: '21H1',
  19044: '21H2',
  19045: '22H2',
};
const WIN11_RELEASES: Record<number, string> = {
  22000: '21H2',
  22621: '22H2',
  22631: '23H2',
  26100: '24H2',
  26200: '25H2',
  28000: '26H1',
};
const OLDER_CLIENT_BUILDS: Record<number, BuildRow> = {
  9600: { version: '8.1' },
  9200: { version: '8' },
  7601: { version: '7', servicePack: 'SP1' },
  7600: { version: '7' },
  6003: { version: 'Vista', servicePack: 'SP2' },
  6002: { version: 'Vista', servicePack: 'SP2' },
  6001: { version: 'Vista', servicePack: 'SP1' },
  6000: { version: 'Vista' },
  2600: { version: 'XP' },
};
const FIRST_WIN10 = 10240;
const FIRST_WIN11 = 22000;

function clientRow(build: number): BuildRow | undefined {
  if (build >= FIRST_WIN11) return { version: '11', release: WIN11_RELEASES[build] };
  if (build >= FIRST_WIN10) return { version: '10', release: WIN10_RELEASES[build] };
  return OLDER_CLIENT_BUILDS[build];
}

function rowCandidate(row: BuildRow, server: boolean, build: number): OsCandidate {
  const candidate: OsCandidate = {
    family: 'windows',
    distro: server ? 'windows-server' : 'windows',
    version: row.version,
    display: row.display ?? (server ? 'Windows Server' : 'Windows'),
    build: String(build),
  };
  if (row.release) candidate.release = row.release;
  if (row.servicePack) candidate.servicePack = row.servicePack;
  return candidate;
}

/** Win32_OperatingSystem.ProductType: 1 workstation, 2 domain controller, 3 server. */
function isServerType(productType: number | string | undefined): boolean | undefined {
  const n = Number(productType);
  if (n === 1) return false;
  if (n === 2 || n === 3) return true;
  return undefined;
}

/** The build number of "10.0.17763", "17763" or 17763. */
function buildOf(version: number | string): number | undefined {
  const m = /(?:^|\.)(\d+)$/.exec(String(version).trim());
  return m ? Number(m[1]) : undefined;
}

/** Internal form of {@link identifyWindowsBuild}. */
function windowsBuildCandidate(version: number | string, productType?: number | string): OsCandidate | null {
  const build = buildOf(version);
  if (build === undefined) return null;
  const server = SERVER_BUILDS[build];
  const client = clientRow(build);
  const isServer = isServerType(productType);
  if (isServer === true) return server ? rowCandidate(server, true, build) : null;
  if (isServer === false) return client ? rowCandidate(client, false, build) : null;
  // Without a product type only a build listed for one line alone answers: 14393, 17763 and 26100 are
  // both, and 20348 falls in the Windows 10 range without being a Windows 10 release.
  const listedClient = WIN10_RELEASES[build] ?? WIN11_RELEASES[build] ?? OLDER_CLIENT_BUILDS[build];
  if (server && !listedClient) return rowCandidate(server, true, build);
  if (listedClient && !server && client) return rowCandidate(client, false, build);
  return null;
}

/**
 * The Windows product of an NT version or build ("10.0.17763", "6.1.7601", "17763") and a
 * Win32_OperatingSystem ProductType (1 workstation, 2 domain controller, 3 server): 17763 with 3 is
 * Windows Server 2019, 26100 with 1 is Windows 11 (24H2). Without a product type only builds that
 * belong to one line are answered; an unknown or ambiguous build gives null.
 */
export function identifyWindowsBuild(version: number | string, productType?: number | string): GuestOsIdentity | null {
  const c = windowsBuildCandidate(version, productType);
  return c ? toIdentity(c) : null;
}

const SERVER_YEAR_RE =
  /\bwin(?:dows)?\s*(?:(?:web|storage|hpc|essential business|small business)\s+)?(?:server\s*)?(2003|2008|2012|2016|2019|2022|2025)(\s*r2)?(?!\d)/i;
const SERVER_BARE_RE = /\bwindows\s+server\b/i;
const WINDOWS_2000_RE = /\bwindows\s+2000\b/i;
// "Windows 10.0.17763" is an NT version, not Windows 10: hence the lookahead.
const CLIENT_RE = /\bwin(?:dows)?\s*(11|10|8\.1|8|7|vista|xp)\b(?!\.\d)/i;
const NT_VERSION_RE = /\b(?:5|6|10)\.\d\.(\d{4,5})\b/;
const BUILD_RE = /\bbuild\s*(\d{4,5})\b/i;
const SERVICE_PACK_RE = /\b(?:service\s*pack|sp)\s*(\d)\b/i;

/** Editions as captions write them, localized ones (French, German, Spanish) mapped to English. */
const EDITIONS: Record<string, string> = {
  datacenter: 'Datacenter',
  standard: 'Standard',
  enterprise: 'Enterprise',
  entreprise: 'Enterprise',
  essentials: 'Essentials',
  foundation: 'Foundation',
  web: 'Web',
  pro: 'Pro',
  professional: 'Professional',
  professionnel: 'Professional',
  home: 'Home',
  famille: 'Home',
  education: 'Education',
  éducation: 'Education',
  ultimate: 'Ultimate',
  intégrale: 'Ultimate',
  business: 'Business',
  starter: 'Starter',
  'home premium': 'Home Premium',
  'home basic': 'Home Basic',
  'famille premium': 'Home Premium',
  'famille basique': 'Home Basic',
};

function editionAfter(rest: string): string | undefined {
  const words = rest
    .replace(/^[\s,.:-]+/, '')
    .toLowerCase()
    .split(/\s+/);
  return EDITIONS[`${words[0]} ${words[1]}`] ?? EDITIONS[words[0]];
}

function productFromText(text: string): { c: OsCandidate; rest: string } | null {
  const server = SERVER_YEAR_RE.exec(text);
  if (server) {
    const version = server[2] ? `${server[1]} R2` : server[1];
    return { c: windowsCandidate(true, version), rest: text.slice(server.index + server[0].length) };
  }
  const w2000 = WINDOWS_2000_RE.exec(text);
  if (w2000) return { c: windowsCandidate(true, '2000'), rest: text.slice(w2000.index + w2000[0].length) };
  const client = CLIENT_RE.exec(text);
  if (client) {
    const v = client[1].toLowerCase();
    const version = v === 'vista' ? 'Vista' : v === 'xp' ? 'XP' : v;
    return { c: windowsCandidate(false, version), rest: text.slice(client.index + client[0].length) };
  }
  const bare = SERVER_BARE_RE.exec(text);
  if (bare) return { c: windowsCandidate(true, ''), rest: text.slice(bare.index + bare[0].length) };
  return null;
}

function windowsCandidate(server: boolean, version: string): OsCandidate {
  return {
    family: 'windows',
    distro: server ? 'windows-server' : 'windows',
    version,
    display: server ? 'Windows Server' : 'Windows',
  };
}

/** What a source says about a Windows guest: caption, build, product type, service pack. */
interface WindowsFacts {
  caption?: string;
  build?: string;
  productType?: number | string;
  /** "Service Pack 1", "SP1" or a bare service pack number. */
  servicePack?: string;
  arch?: string;
}

/**
 * Combines a caption with a build number. The caption names the product ("2008 R2" cannot be told from
 * a build alone when the caption is there to say it), the build adds the feature release and corrects
 * one known lie: Windows 11 keeps "Windows 10" in the registry ProductName that some tools report.
 */
export function windowsFromFacts(facts: WindowsFacts): OsCandidate | null {
  const text = cleanOsText(facts.caption ?? '');
  const parsed = text ? productFromText(text) : null;
  const caption = parsed?.c;
  const buildNumber = facts.build ? buildOf(facts.build) : undefined;
  const build = buildNumber === undefined ? undefined : String(buildNumber);
  const productType = facts.productType ?? (caption ? (caption.distro === 'windows-server' ? 3 : 1) : undefined);
  const byBuild = build ? windowsBuildCandidate(build, productType) : null;
  let result: OsCandidate | null;
  if (caption?.version) {
    result = { ...caption };
    if (byBuild && byBuild.distro === caption.distro) {
      if (caption.version === '10' && byBuild.version === '11') result.version = '11';
      if (result.version === byBuild.version) {
        if (byBuild.release) result.release = byBuild.release;
        if (byBuild.servicePack) result.servicePack = byBuild.servicePack;
      }
    }
  } else if (byBuild) {
    result = byBuild;
  } else if (caption) {
    result = caption;
  } else {
    const server = isServerType(productType);
    result = server === undefined ? null : windowsCandidate(server, '');
  }
  if (!result) return null;
  return finish(result, parsed?.rest ?? '', build, facts);
}

function finish(c: OsCandidate, rest: string, build: string | undefined, facts: WindowsFacts): OsCandidate {
  const out = { ...c };
  if (build) out.build = build;
  const edition = editionAfter(rest);
  // Evaluation media say so after the edition ("Windows Server 2022 Datacenter Evaluation").
  if (edition) out.edition = /\bevaluation\b/i.test(rest) ? `${edition} Evaluation` : edition;
  const sp = servicePackOf(facts.servicePack ?? '') ?? servicePackOf(rest);
  if (sp) out.servicePack = sp;
  if (facts.arch) out.arch = facts.arch;
  return out;
}

function servicePackOf(text: string): string | undefined {
  const m = /^\s*(\d+)\s*$/.exec(text) ?? SERVICE_PACK_RE.exec(text);
  return m && m[1] !== '0' ? `SP${m[1]}` : undefined;
}

/** A Windows guest from free text such as a caption, with any NT version or build it carries. */
export function windowsFromText(text: string): OsCandidate | null {
  if (!/\bwin/i.test(text)) return null;
  const build = NT_VERSION_RE.exec(text)?.[1] ?? BUILD_RE.exec(text)?.[1];
  return windowsFromFacts({ caption: text, build });
}
