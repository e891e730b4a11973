import type { Hypervisor } from '../protocol.js';
import { cleanOsText, hostDistroName, type OsCandidate } from './distros.js';
import { fieldsCandidate, textCandidate } from './read-evidence.js';
import type { HypervisorIdentity } from './types.js';
import { windowsFromFacts, windowsFromText } from './windows.js';

const PRODUCT_NAMES: Record<string, string> = {
  'hyper-v': 'Hyper-V',
  kvm: 'KVM',
  qemu: 'QEMU',
  xen: 'Xen',
  xenserver: 'XenServer',
  'xcp-ng': 'XCP-ng',
  esxi: 'VMware ESXi',
  ahv: 'Nutanix AHV',
  rhv: 'Red Hat Virtualization',
  ovirt: 'oVirt',
  'openshift-virtualization': 'OpenShift Virtualization',
  'proxmox-ve': 'Proxmox VE',
  test: 'libvirt test driver',
};

/**
 * `host` is the OS a hosted product runs on ("Windows Server 2019", "RHEL 9.2", "Azure Stack HCI 20H2"),
 * named as "Hyper-V on …"; without one the name is the product and its version ("XenServer 8.2").
 */
function identity(
  product: string,
  version: string,
  opts: { host?: string; display?: string; build?: string } = {},
): HypervisorIdentity {
  const slug = version.toLowerCase().replace(/\s+/g, '-');
  const display = opts.display ?? PRODUCT_NAMES[product] ?? product;
  const name = opts.host ? `${display} on ${opts.host}` : `${display} ${version}`.trim();
  const id: HypervisorIdentity = { id: version ? `${product}-${slug}` : product, product, version, name };
  if (opts.build) id.build = opts.build;
  return id;
}

/** Hyper-V named after its host: "2019" runs on Windows Server 2019, "Windows 10" on itself. */
function hyperV(version: string, build?: string): HypervisorIdentity {
  const host = /^\d{4}/.test(version) ? `Windows Server ${version}` : version || undefined;
  return identity('hyper-v', version, { host, build });
}

/** KVM, Xen or QEMU on a Linux host: the version is the host in vendor terms ("RHEL 9.2"). */
function hosted(product: string, host: string, fallbackVersion = '', build?: string): HypervisorIdentity {
  return host ? identity(product, host, { host, build }) : identity(product, fallbackVersion, { build });
}

/** A Hyper-V version from a Windows candidate: the server release ("2012 R2") or the client ("Windows 10"). */
function hyperVVersion(c: OsCandidate | null): string {
  if (!c?.version) return '';
  return c.distro === 'windows-server' ? c.version : `Windows ${c.version}`;
}

/*
 * Azure Stack HCI (now Azure Local) runs Hyper-V on an OS of its own, built from Windows Server code.
 * It is reported as the Hyper-V of the Windows Server release it is closest to, so that Windows Server
 * support rows apply: 20H2 (build 17784) as 2019, 24H2 (build 26100) as 2025, every other release as
 * 2022 (21H2 and 22H2 are builds 20348 and 20349; 23H2, build 25398, has no Windows Server LTSC of its
 * own). The name keeps the product ("Hyper-V on Azure Stack HCI 20H2") for lists that name it.
 */
const AZURE_RELEASES: Record<string, string> = { '20h2': '2019', '24h2': '2025' };
const AZURE_BUILDS: Record<string, string> = { '17784': '2019', '26100': '2025' };
const AZURE_RE = /\bazure\s+(?:stack\s+hci|local)\b/i;

function azureStackHci(text: string, build?: string): HypervisorIdentity {
  const release = /\b(\d{2}H\d)\b/i.exec(text)?.[1];
  const version = (release && AZURE_RELEASES[release.toLowerCase()]) || (build && AZURE_BUILDS[build]) || '2022';
  const brand = /azure\s+local/i.test(text) ? 'Azure Local' : 'Azure Stack HCI';
  return identity('hyper-v', version, { host: release ? `${brand} ${release.toUpperCase()}` : brand, build });
}

const YEAR_RE = /\b(2008|2012|2016|2019|2022|2025)(\s*r2)?(?!\d)/i;

function hyperVFromText(text: string): HypervisorIdentity {
  if (AZURE_RE.test(text)) return azureStackHci(text);
  const version = hyperVVersion(windowsFromText(text));
  if (version) return hyperV(version);
  const year = YEAR_RE.exec(text);
  return hyperV(year ? (year[2] ? `${year[1]} R2` : year[1]) : '');
}

/** The first release number after a product's name, with an ESXi-style update ("7.0 U3"). */
function numberAfter(text: string, at: RegExp): string {
  const m = at.exec(text);
  const rest = m ? text.slice(m.index + m[0].length) : text;
  const v = /\b(\d+(?:\.\d+)*)(?:\s*(?:u|update)\s*(\d+))?/i.exec(rest);
  if (!v) return '';
  return v[2] ? `${v[1]} U${v[2]}` : v[1];
}

/** A Linux host distro in vendor terms ("RHEL 9.2"), or "" when the text names none. */
function linuxHost(c: OsCandidate | null): string {
  return c && c.family !== 'windows' ? hostDistroName(c) : '';
}

/** Products named outright, checked before the hosted ones ("Red Hat Virtualization" is not RHEL KVM). */
const NAMED: { re: RegExp; product: string; display?: (text: string) => string }[] = [
  {
    re: /\bopenshift\s+virtuali[sz]ation\b|\bcontainer[-\s]native\s+virtuali[sz]ation\b/i,
    product: 'openshift-virtualization',
  },
  { re: /\brhe?v(?:-?[mh])?\b|\bred\s*hat\s+(?:enterprise\s+)?virtuali[sz]ation\b/i, product: 'rhv' },
  { re: /\bovirt\b/i, product: 'ovirt' },
  // XCP-ng is a community fork of XenServer: support lists name XenServer / Citrix Hypervisor, and
  // whether a row covers XCP-ng is for the catalog to say, so it stays a product of its own.
  { re: /\bxcp-?ng\b/i, product: 'xcp-ng' },
  {
    re: /\bxenserver\b|\bcitrix\s+hypervisor\b/i,
    product: 'xenserver',
    display: (t) => (/citrix\s+hypervisor/i.test(t) ? 'Citrix Hypervisor' : 'XenServer'),
  },
  { re: /\besxi?\b|\bvsphere\b/i, product: 'esxi' },
  { re: /\bahv\b|\bnutanix\b/i, product: 'ahv' },
  { re: /\bproxmox\b/i, product: 'proxmox-ve' },
];

/**
 * Identifies a hypervisor from what a person writes: "Hyper-V on Windows Server 2019", "Windows
 * Server 2012 R2 Hyper-V", "Azure Stack HCI 21H2", "RHEL 9.2 KVM", "Red Hat Enterprise Linux Server
 * release 5.4 (Tikanga) Xen", "Citrix Hypervisor 8.2", "XCP-ng 8.2", "VMware ESXi 7.0". A Windows
 * Server alone is read as its Hyper-V, a Linux distribution alone as its KVM (Xen for RHEL 5, whose
 * main hypervisor was Xen; KVM only arrived in 5.4). Returns null when no hypervisor or host OS is named.
 */
export function identifyHypervisorText(raw: string): HypervisorIdentity | null {
  const text = cleanOsText(raw);
  if (!text) return null;
  if (AZURE_RE.test(text)) return azureStackHci(text);
  for (const p of NAMED) {
    if (p.re.test(text)) return identity(p.product, numberAfter(text, p.re), { display: p.display?.(text) });
  }
  if (/\bhyper-?v\b/i.test(text)) return hyperVFromText(text);
  const host = textCandidate(text);
  if (/\bkvm\b/i.test(text)) return hosted('kvm', linuxHost(host));
  if (/\bxen\b/i.test(text)) return hosted('xen', linuxHost(host), numberAfter(text, /\bxen\b/i));
  if (!host) return null;
  if (host.family === 'windows') return host.distro === 'windows-server' ? hyperV(hyperVVersion(host)) : null;
  const rhel5 = host.distro === 'rhel' && host.version.split('.')[0] === '5';
  return hosted(rhel5 ? 'xen' : 'kvm', hostDistroName(host));
}

function hyperVHost(hv: Hypervisor): HypervisorIdentity {
  const f = hv.hostOsFields ?? {};
  const caption = f.Caption ?? hv.hostOs ?? '';
  const ntVersion = /^\d+\.\d+\.\d+$/.test(hv.version ?? '') ? hv.version : undefined;
  const build = f.BuildNumber ?? f.Version ?? hv.build ?? ntVersion;
  if (AZURE_RE.test(caption)) return azureStackHci(caption, build?.split('.').pop());
  const c = windowsFromFacts({ caption, build, productType: f.ProductType });
  // "Hyper-V Server 2019" is no Windows caption; the driver may also have put "2019" in version.
  const version = hyperVVersion(c) || hyperVFromText(caption).version || hyperVFromText(hv.version ?? '').version;
  return hyperV(version, c?.build ?? hv.build);
}

function linuxHosted(product: string, hv: Hypervisor): HypervisorIdentity {
  const fields = hv.hostOsFields ? fieldsCandidate(hv.hostOsFields) : null;
  const host = linuxHost(fields ?? textCandidate(hv.hostOs ?? ''));
  // Without a host OS, Xen still has a version of its own ("4.17"); KVM's is the host kernel's.
  return hosted(product, host, product === 'xen' ? (hv.version ?? '') : '', hv.build);
}

function xenServer(hv: Hypervisor): HypervisorIdentity {
  const f = hv.hostOsFields ?? {};
  const brand = [hv.hostOs, f.NAME, f.PRETTY_NAME, f.ID, hv.managementStack].join(' ');
  const product = /^xcp-?ng$/i.test(hv.product) || /\bxcp-?ng\b/i.test(brand) ? 'xcp-ng' : 'xenserver';
  const display = /citrix\s+hypervisor/i.test(brand) ? 'Citrix Hypervisor' : undefined;
  // Support statements name XenServer by major.minor ("8.2"); "8.2.1" is a cumulative update of it.
  const raw = hv.version || f.VERSION_ID || numberAfter(hv.hostOs ?? '', /\b(?:xenserver|hypervisor|xcp-?ng)\b/i);
  const version = /^\d+(?:\.\d+)?/.exec(raw ?? '')?.[0] ?? '';
  return identity(product, version, { display, build: hv.build });
}

/**
 * Identifies a hypervisor from an agent's report. Hyper-V takes its version from the host's
 * Windows release ("2019", "2012 R2", "Windows 10"); KVM and Xen from the host distribution in vendor
 * terms ("RHEL 9.2", "CentOS 7.9"); XenServer from its product version. libvirt's test driver is
 * reported as product "test" with no version: it is no real hypervisor.
 */
export function identifyHypervisor(hv: Hypervisor): HypervisorIdentity | null {
  const product = hv.driver === 'hyperv' || /^hyper-?v$/i.test(hv.product) ? 'hyper-v' : hv.product.toLowerCase();
  if (!product) return null;
  if (product === 'test') return identity('test', '');
  if (product === 'hyper-v') return hyperVHost(hv);
  if (product === 'kvm' || product === 'qemu' || product === 'xen') return linuxHosted(product, hv);
  if (product === 'xenserver' || product === 'xcp-ng') return xenServer(hv);
  return identity(product, hv.version ?? '', { build: hv.build });
}
