/**
 * Pure parsers for what the Xen toolstacks print: `xl info` / `xm info`, `xl list -l` (JSON, or the
 * SXP of xm and of xl before Xen 4.2), the `xl list` / `xl list -v` / `xm list` tables, and
 * `xenstore-ls -f`. No I/O here: xen.ts runs the commands.
 */
import type { GuestState } from '@hvmap/shared';

/** The guest types of libxl (`c_info.type`); xend knew only pv ("linux" image) and hvm. */
export type XenDomainType = 'pv' | 'hvm' | 'pvh';

/** One domain as `xl list -l` or `xm list -l` describes it. */
export interface XenDomain {
  /** Absent for a domain xend manages but that is not running. */
  domid?: number;
  name: string;
  uuid?: string;
  type?: XenDomainType;
  vcpus?: number;
  /** The domain's maximum memory. */
  memoryBytes?: number;
  firmware?: 'bios' | 'efi';
  /** The six state letters (`-b----`); only the SXP carries them, the JSON has no state. */
  flags?: string;
}

/** One row of the `xl list` (`-v`) or `xm list` table. */
export interface XenListRow {
  name: string;
  /** Absent for a domain xend manages but that is not running (xm lists it without ID and state). */
  domid?: number;
  memoryMiB: number;
  vcpus: number;
  flags?: string;
  /** Only `xl list -v` prints it. */
  uuid?: string;
}

/** `xl info` / `xm info`: every `key : value` line, and the Xen version they spell out. */
export interface XenInfo {
  fields: Record<string, string>;
  /** "4.17.2", or major.minor+extra ("4.0.1", "3.1.2-164.el5") where xen_version is not printed. */
  version?: string;
  major?: number;
}

/** What xenstore holds for one domain: its UUID (from `vm`), its name, the `data/` keys guest tools wrote. */
export interface XenstoreDomain {
  uuid?: string;
  name?: string;
  data: Record<string, string>;
}

/** Output that is neither of the formats a parser knows, or JSON cut short. */
export class XenFormatError extends Error {
  readonly code = 'XEN_OUTPUT_UNREADABLE';
}

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * The one mapping of Xen's state letters (r running, b blocked, p paused, s shutdown, c crashed,
 * d dying) onto the shared states, most telling letter first as libvirt's Xen driver orders them.
 * A domain with no letter set is runnable, waiting for a CPU; a domain with no domid is xend's
 * record of a guest that is not running.
 */
export function xenState(flags: string | undefined, hasDomid: boolean): GuestState {
  if (!hasDomid) return 'shutoff';
  if (flags === undefined) return 'unknown';
  if (flags.includes('c')) return 'crashed';
  if (flags.includes('s')) return 'shutoff';
  if (flags.includes('d')) return 'stopping';
  if (flags.includes('p')) return 'paused';
  return /^[-rb]{6}$/.test(flags) ? 'running' : 'unknown';
}

/** `xl info` / `xm info`: `key : value` lines, keys padded to a column. */
export function parseXenInfo(text: string): XenInfo {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^(\w+)\s*:\s?(.*)$/.exec(line);
    if (m) fields[m[1]] = m[2].trim();
  }
  const major = /^\d+$/.test(fields.xen_major ?? '') ? Number(fields.xen_major) : undefined;
  const spelled =
    major !== undefined && fields.xen_minor ? `${major}.${fields.xen_minor}${fields.xen_extra ?? ''}` : undefined;
  const version = fields.xen_version || spelled;
  return { fields, version, major: major ?? (version ? Number.parseInt(version, 10) : undefined) };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Name, [ID], Mem, VCPUs, [State], Time(s), then `-v`'s UUID and the columns after it. ID and State
// are blank for a domain xend manages but that is not running. Read from the right: names may hold spaces.
const ROW_RE =
  /^(.+?)\s+(?:(\d+)\s+)?(\d+)\s+(\d+)\s+(?:([-rbpscd]{6})\s+)?\d+(?:\.\d+)?(?:\s+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b.*)?$/i;

/** The `xl list`, `xl list -v` or `xm list` table (header line first; CRLF tolerated). */
export function parseXenList(text: string): XenListRow[] {
  const rows: XenListRow[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trimEnd();
    if (!trimmed || /^Name\s+ID\s/.test(trimmed)) continue;
    const m = ROW_RE.exec(trimmed);
    if (!m) throw new XenFormatError(`not a line of the Xen domain list: "${trimmed}"`);
    const row: XenListRow = { name: m[1].trim(), memoryMiB: Number(m[3]), vcpus: Number(m[4]) };
    if (m[2] !== undefined) row.domid = Number(m[2]);
    if (m[5] !== undefined) row.flags = m[5];
    if (m[6] !== undefined) row.uuid = m[6].toLowerCase();
    rows.push(row);
  }
  return rows;
}

/** How `xl list -l` / `xm list -l` spoke: libxl JSON (Xen 4.2+) or SXP (xm, xl before 4.2, xl.conf output_format="sxp"). */
export type ListLongFormat = 'json' | 'sxp';

/** Reads `xl list -l` / `xm list -l` in whichever of its two formats it came. Throws XenFormatError. */
export function parseListLong(text: string): { format: ListLongFormat; domains: XenDomain[] } {
  const start = text.trimStart()[0];
  if (start === '[') return { format: 'json', domains: parseXlJson(text) };
  if (start === '(') return { format: 'sxp', domains: parseSxpDomains(text) };
  if (start === undefined) return { format: 'json', domains: [] };
  throw new XenFormatError(`neither libxl JSON nor SXP: starts with "${text.trimStart().slice(0, 40)}"`);
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * `xl list -l` as JSON: `[{"domid": N, "config": libxl_domain_config}]` (Xen tools/xl/xl_info.c).
 * libxl leaves out members at their default, so every field is optional; the dom0 stub of
 * init-dom-json has no uuid at all.
 */
export function parseXlJson(text: string): XenDomain[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new XenFormatError(`xl list -l is not valid JSON (cut short?): ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) throw new XenFormatError('xl list -l JSON is not an array of domains');
  return value.filter(isObject).map((entry) => {
    const config = isObject(entry.config) ? entry.config : {};
    const cInfo = isObject(config.c_info) ? config.c_info : {};
    const bInfo = isObject(config.b_info) ? config.b_info : {};
    const domain: XenDomain = { name: typeof cInfo.name === 'string' ? cInfo.name : '' };
    const domid = num(entry.domid);
    if (domid !== undefined) domain.domid = domid;
    if (typeof cInfo.uuid === 'string') domain.uuid = cInfo.uuid.toLowerCase();
    const type = cInfo.type;
    if (type === 'pv' || type === 'hvm' || type === 'pvh') domain.type = type;
    // avail_vcpus lists the vCPUs online at boot (the config's vcpus=); max_vcpus is maxvcpus=.
    const vcpus = Array.isArray(bInfo.avail_vcpus) ? bInfo.avail_vcpus.length : num(bInfo.max_vcpus);
    if (vcpus) domain.vcpus = vcpus;
    const maxKiB = num(bInfo.max_memkb);
    if (maxKiB !== undefined && maxKiB > 0) domain.memoryBytes = maxKiB * 1024;
    if (domain.type === 'hvm') {
      const hvm = isObject(bInfo['type.hvm']) ? bInfo['type.hvm'] : {};
      domain.firmware = hvm.bios === 'ovmf' ? 'efi' : 'bios';
    }
    return domain;
  });
}

/** An S-expression: an atom or a list. */
export type Sxp = string | Sxp[];

/** Reads S-expressions as xend and old xl print them: parentheses, bare atoms, '…' or "…" quoted atoms. */
export function parseSxp(text: string): Sxp[] {
  const stack: Sxp[][] = [[]];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(') {
      stack.push([]);
      i++;
    } else if (c === ')') {
      if (stack.length === 1) throw new XenFormatError(`unbalanced ")" at offset ${i}`);
      const list = stack.pop() as Sxp[];
      stack[stack.length - 1].push(list);
      i++;
    } else if (c === "'" || c === '"') {
      let atom = '';
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        atom += text[i++];
      }
      if (i >= text.length) throw new XenFormatError('unterminated quoted atom (output cut short?)');
      stack[stack.length - 1].push(atom);
      i++;
    } else {
      const m = /^[^\s()'"]+/.exec(text.slice(i, i + 4096)) as RegExpExecArray;
      stack[stack.length - 1].push(m[0]);
      i += m[0].length;
    }
  }
  if (stack.length !== 1) throw new XenFormatError(`${stack.length - 1} unclosed "(" (output cut short?)`);
  return stack[0];
}

/** The values of the first `(key value…)` child of an SXP list. */
function sxpGet(node: Sxp[], key: string): Sxp[] | undefined {
  for (const child of node) if (Array.isArray(child) && child[0] === key) return child.slice(1);
  return undefined;
}

function sxpAtom(node: Sxp[], key: string): string | undefined {
  const [value] = sxpGet(node, key) ?? [];
  return typeof value === 'string' ? value : undefined;
}

function sxpNumber(node: Sxp[], key: string): number | undefined {
  const value = sxpAtom(node, key);
  return value !== undefined && /^-?\d+$/.test(value) ? Number(value) : undefined;
}

/**
 * `(domain …)` records, in xend's layout (memory and maxmem in MiB, the image type as the first
 * element of `(image (linux|hvm …))`) or in the layout of xl's own SXP (max_memkb, `(hvm 0|1)`).
 */
export function parseSxpDomains(text: string): XenDomain[] {
  const domains: XenDomain[] = [];
  for (const node of parseSxp(text)) {
    if (!Array.isArray(node) || node[0] !== 'domain') continue;
    const domain: XenDomain = { name: sxpAtom(node, 'name') ?? '' };
    const domid = sxpNumber(node, 'domid');
    if (domid !== undefined && domid >= 0) domain.domid = domid;
    const uuid = sxpAtom(node, 'uuid');
    if (uuid) domain.uuid = uuid.toLowerCase();
    const vcpus = sxpNumber(node, 'vcpus') ?? sxpNumber(node, 'max_vcpus');
    if (vcpus) domain.vcpus = vcpus;
    const mib = sxpNumber(node, 'maxmem') ?? sxpNumber(node, 'memory');
    const kib = sxpNumber(node, 'max_memkb');
    if (mib !== undefined) domain.memoryBytes = mib * 1024 * 1024;
    else if (kib !== undefined) domain.memoryBytes = kib * 1024;
    const [image] = sxpGet(node, 'image') ?? [];
    const imageKind = Array.isArray(image) ? image[0] : undefined;
    const hvmFlag = sxpAtom(node, 'hvm');
    if (imageKind === 'hvm' || hvmFlag === '1') domain.type = 'hvm';
    else if (imageKind === 'linux' || hvmFlag === '0') domain.type = 'pv';
    if (domain.type === 'hvm') domain.firmware = 'bios';
    const flags = sxpAtom(node, 'state');
    if (flags) domain.flags = flags;
    domains.push(domain);
  }
  return domains;
}

/** Undoes xenstore-ls's escaping (xs_lib.c sanitise_value): \t \n \r \\ and \ooo octal for other bytes. */
function unescapeXenstore(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== '\\' || i + 1 >= value.length) {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const next = value[i + 1];
    const octal = /^[0-7]{3}/.exec(value.slice(i + 1, i + 4));
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8));
      i += 3;
    } else {
      bytes.push(({ t: 9, n: 10, r: 13 } as Record<string, number>)[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * `xenstore-ls -f /local/domain`: one `PATH = "VALUE"` line per node. Keeps, per domain id, the
 * UUID from `vm` ("/vm/UUID"), the `name` and the keys under `data/`, where guest tools write
 * os_name, os_distro, os_majorver, os_minorver and os_uname.
 */
export function parseXenstoreLs(text: string): Map<number, XenstoreDomain> {
  const domains = new Map<number, XenstoreDomain>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\/local\/domain\/(\d+)(?:\/(\S+))? = "(.*)"$/.exec(line);
    if (!m) continue;
    const domid = Number(m[1]);
    let domain = domains.get(domid);
    if (!domain) {
      domain = { data: {} };
      domains.set(domid, domain);
    }
    const key = m[2];
    const value = unescapeXenstore(m[3]);
    if (key === 'vm') {
      const uuid = /\/vm\/([0-9a-f-]{36})$/i.exec(value)?.[1];
      if (uuid && UUID_RE.test(uuid)) domain.uuid = uuid.toLowerCase();
    } else if (key === 'name') {
      domain.name = value;
    } else if (key?.startsWith('data/') && !key.slice(5).includes('/')) {
      domain.data[key.slice(5)] = value;
    }
  }
  return domains;
}
