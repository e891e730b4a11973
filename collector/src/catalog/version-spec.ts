/**
 * Version lists as catalog rows write them. Versions are compared with the shared compareVersions,
 * so "2012 R2" sorts between "2012" and "2016" and "8.10" after "8.9".
 */
import { compareVersions, parseVersionParts } from '@hvmap/shared';

/** One parsed item of a version list. */
export type VersionSpecItem =
  /** "9" (9, 9.0, 9.2 ...), "2008 R2", "RHEL" (any RHEL version): the version and its finer versions. */
  | { kind: 'exact'; version: string }
  /** "2019+": this version and every later one with the same label. */
  | { kind: 'from'; from: string }
  /** "7.0-7.2": both ends included, with their finer versions. "8.1-8.6+": 8.1 up to 8.6 and every later 8.x. */
  | { kind: 'range'; from: string; to: string; openSeries: boolean };

/** Parses one item, or returns why it cannot be one. Versions in a list never contain "-" or "+". */
export function parseVersionSpecItem(item: string): VersionSpecItem | { error: string } {
  const text = item.trim();
  const open = text.endsWith('+');
  const body = open ? text.slice(0, -1).trim() : text;
  const dash = body.indexOf('-');
  if (dash < 0) {
    if (!body) return { error: `empty version in "${item}"` };
    return open ? { kind: 'from', from: body } : { kind: 'exact', version: body };
  }
  const from = body.slice(0, dash).trim();
  const to = body.slice(dash + 1).trim();
  if (!from || !to || to.includes('-')) return { error: `"${item}" is not a range like "7.0-7.2" or "8.1-8.6+"` };
  if (label(from) !== label(to))
    return { error: `"${item}": both ends of a range need the same label ("RHEL 5.4-RHEL 7")` };
  if (compareVersions(from, to) > 0) return { error: `"${item}": the range starts after it ends` };
  return { kind: 'range', from, to, openSeries: open };
}

/** True when `version` is one of the list's versions. An unknown (empty) version matches no list. */
export function matchesVersionSpec(version: string, items: readonly string[]): boolean {
  if (!version.trim()) return false;
  return items.some((item) => {
    const spec = parseVersionSpecItem(item);
    return !('error' in spec) && matchesItem(version, spec);
  });
}

/**
 * True when `version` is above every version the list names in its own series ("8.6" above "8.0-8.5",
 * "9.1" above "9.0"), or, when the list names none of its series, above the whole list ("25.04" above
 * "24.04"). A list read before a guest was released cannot exclude that guest. An open item ("2019+",
 * "8.1-8.6+" for 8.x) is never below a version of its own label.
 */
export function isNewerThanVersionSpec(version: string, items: readonly string[]): boolean {
  if (!version.trim()) return false;
  const tops = items
    .map(parseVersionSpecItem)
    .filter((spec): spec is VersionSpecItem => !('error' in spec))
    .map(topOf)
    .filter((top) => label(top.version) === label(version));
  if (tops.length === 0) return false;
  const own = tops.filter((top) => series(top.version) === series(version));
  return (own.length ? own : tops).every(
    (top) =>
      top.open !== 'label' &&
      !(top.open === 'series' && series(top.version) === series(version)) &&
      compareVersions(version, top.version) > 0 &&
      !isFinerVersion(version, top.version),
  );
}

/** The highest version an item names, and how far it is open above it: not, within its series, or for its whole label. */
function topOf(spec: VersionSpecItem): { version: string; open: 'no' | 'series' | 'label' } {
  switch (spec.kind) {
    case 'exact':
      return { version: spec.version, open: 'no' };
    case 'from':
      return { version: spec.from, open: 'label' };
    case 'range':
      return { version: spec.to, open: spec.openSeries ? 'series' : 'no' };
  }
}

function matchesItem(v: string, spec: VersionSpecItem): boolean {
  switch (spec.kind) {
    case 'exact':
      return compareVersions(v, spec.version) === 0 || isFinerVersion(v, spec.version);
    case 'from':
      return label(v) === label(spec.from) && compareVersions(v, spec.from) >= 0;
    case 'range':
      return (
        label(v) === label(spec.from) &&
        compareVersions(v, spec.from) >= 0 &&
        (compareVersions(v, spec.to) <= 0 ||
          isFinerVersion(v, spec.to) ||
          (spec.openSeries && series(v) === series(spec.to)))
      );
  }
}

/** "9.2" is a finer version of "9" and "RHEL 9.2" of "RHEL", but "2008 R2" is not one of "2008": a number must follow. */
function isFinerVersion(v: string, of: string): boolean {
  const pv = parseVersionParts(v);
  const po = parseVersionParts(of);
  return po.length < pv.length && po.every((p, i) => p === pv[i]) && typeof pv[po.length] === 'number';
}

/** The words before the first number: "rhel" for "RHEL 9.2", "" for "2012 R2", "windows" for "Windows 11". */
function label(v: string): string {
  const parts = parseVersionParts(v);
  const firstNumber = parts.findIndex((p) => typeof p === 'number');
  return (firstNumber < 0 ? parts : parts.slice(0, firstNumber)).join(' ');
}

/** The label and the first number: "rhel 8" for "RHEL 8.6", "8" for "8.10". */
function series(v: string): string {
  const parts = parseVersionParts(v);
  const firstNumber = parts.findIndex((p) => typeof p === 'number');
  return firstNumber < 0 ? '' : parts.slice(0, firstNumber + 1).join(' ');
}
