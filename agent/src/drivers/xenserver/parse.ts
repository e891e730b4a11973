/**
 * Pure parsers for the xe CLI of XenServer / XCP-ng / Citrix Hypervisor (`xe vm-list params=all`,
 * `xe host-list params=all`) and for the dom0 files /etc/xensource-inventory and
 * /etc/xensource/pool.conf. No I/O here: xenserver.ts runs the commands.
 */
import type { GuestState } from '@hvmap/shared';

/** One xe record: each parameter's value as xe printed it (maps and sets still as "k: v; …"). */
export type XeRecord = Record<string, string>;

/** What xe prints for a reference to nothing: a VM without guest metrics, a halted VM's host. */
export const NOT_IN_DATABASE = '<not in database>';

// `name-label ( RW): value`, `os-version (MRO): …`, `ha-always-run ( RW) [DEPRECATED]: false`; xe pads
// the names to a column. The access mark (RO, RW, MRO, MRW, SRO, SRW) tells a parameter line from a
// continuation of the previous value.
const PARAM_RE = /^\s*(\S+)\s+\(\s*(?:RO|RW|MRO|MRW|SRO|SRW)\)(?:\s*\[DEPRECATED\])?\s*:\s?(.*)$/;

/**
 * Records as `xe <class>-list params=all` (or `-param-list`) prints them: each starts at its `uuid`
 * line; records are separated by blank lines; a line that is not a parameter continues the value
 * before it (a description with line breaks).
 */
export function parseXeRecords(text: string): XeRecord[] {
  const records: XeRecord[] = [];
  let current: XeRecord | undefined;
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const m = PARAM_RE.exec(line);
    if (m) {
      const [, key, value] = m;
      if (key === 'uuid' || !current) {
        current = {};
        records.push(current);
      }
      current[key] = value.trimEnd();
      last = key;
    } else if (line.trim() && current && last) {
      current[last] += `\n${line.trimEnd()}`;
    }
  }
  return records;
}

/**
 * A map parameter ("k1: v1; k2: v2"), or null for `<not in database>`. Keys may hold colons
 * ("xs:main: XenServer Pack, version 6.5.0"), so a pair splits at its first ": "; a piece without
 * one belongs to the value before it, whose text held "; ".
 */
export function parseXeMap(value: string | undefined): Record<string, string> | null {
  if (value === undefined || value.trim() === NOT_IN_DATABASE) return null;
  const map: Record<string, string> = {};
  let lastKey: string | undefined;
  for (const piece of value.split('; ')) {
    const colon = piece.indexOf(': ');
    const bare = piece.endsWith(':') && !piece.includes(' ');
    if (colon > 0 || bare) {
      lastKey = bare ? piece.slice(0, -1) : piece.slice(0, colon);
      map[lastKey] = bare ? '' : piece.slice(colon + 2);
    } else if (lastKey !== undefined) {
      map[lastKey] += `; ${piece}`;
    }
  }
  return map;
}

/** The one mapping of XenServer power states onto the shared states. Suspended means saved to disk. */
export function xeState(powerState: string | undefined): GuestState {
  switch (powerState?.trim().toLowerCase()) {
    case 'running':
      return 'running';
    case 'halted':
      return 'shutoff';
    case 'paused':
      return 'paused';
    case 'suspended':
      return 'saved';
    default:
      return 'unknown';
  }
}

/** The guest tools version from `PV-drivers-version` ("major: 7; minor: 1; micro: 0; build: 1020" → "7.1.0.1020"). */
export function pvDriversVersion(value: string | undefined): string | undefined {
  const map = parseXeMap(value);
  if (!map?.major) return undefined;
  return [map.major, map.minor, map.micro, map.build].filter((v) => v !== undefined && v !== '').join('.');
}

/** Whether this dom0 is its pool's master: /etc/xensource/pool.conf says "master" or "slave:MASTER-ADDRESS". */
export function isPoolMaster(poolConf: string | null): boolean {
  return !poolConf?.trim().startsWith('slave');
}
