/** One piece of a version: a number, or a word such as the "r" of "2008 R2" or the "sp" of "12 SP3". */
export type VersionPart = number | string;

/**
 * Splits a version into numbers and lowercase words, dropping separators:
 * "7.10" → [7, 10], "2012 R2" → [2012, "r", 2], "12 SP3" → [12, "sp", 3], "15-SP5" → [15, "sp", 5].
 */
export function parseVersionParts(version: string): VersionPart[] {
  const tokens = version.toLowerCase().match(/\d+|[a-z]+/g) ?? [];
  return tokens.map((t) => (/^\d/.test(t) ? Number(t) : t));
}

/**
 * Orders two versions the way people read them: numbers numerically ("7.10" > "7.9"), a trailing
 * qualifier after a shared prefix ranks higher ("2012 R2" > "2012", "12 SP3" > "12 SP2"), and trailing
 * zeros do not count ("11" equals "11.0"). Returns a negative number, zero or a positive number.
 */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersionParts(a);
  const pb = parseVersionParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const c = comparePart(pa[i], pb[i]);
    if (c !== 0) return c;
  }
  return 0;
}

function comparePart(x: VersionPart | undefined, y: VersionPart | undefined): number {
  if (x === undefined) return -againstNothing(y ?? 0);
  if (y === undefined) return againstNothing(x);
  if (typeof x === typeof y) return x < y ? -1 : x > y ? 1 : 0;
  // A word against a number ("1.0rc1" vs "1.0.1"): the number is the later release.
  return typeof x === 'number' ? 1 : -1;
}

/** A part against a missing one: a number counts against zero ("11" = "11.0"), a word is a step up ("2012 R2" > "2012"). */
function againstNothing(part: VersionPart): number {
  return typeof part === 'string' ? 1 : Math.sign(part);
}
