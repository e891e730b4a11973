import type { Guest } from '@hvmap/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReportedGuests, sameJson, sameReport } from './reported.js';

/** JSON with object keys sorted: equal for values that say the same whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The same value built again with its keys in reverse order (JSON.parse makes fresh objects). */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reordered(v)]),
    );
  return value;
}

const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

describe('sameJson', () => {
  it('agrees with comparing the values as JSON, key order aside', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(sameJson(a, b)).toBe(canonical(a) === canonical(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('finds a value equal to its copy in another key order, and unequal to any one-leaf change of it', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), json, { minKeys: 1 }), fc.nat(), json, (value, pick, other) => {
        expect(sameJson(value, reordered(value))).toBe(true);
        const keys = Object.keys(value);
        const key = keys[pick % keys.length];
        const changed = { ...value, [key]: other };
        expect(sameJson(value, changed)).toBe(canonical(value[key]) === canonical(other));
        const { [key]: _gone, ...fewer } = value;
        expect(sameJson(value, fewer)).toBe(false);
        expect(sameJson(fewer, value)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('tells arrays from objects with the same entries, and null from an empty object', () => {
    expect(sameJson(['a'], { 0: 'a' })).toBe(false);
    expect(sameJson({ 0: 'a' }, ['a'])).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson({}, null)).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson({ a: 1 }, { a: '1' })).toBe(false);
  });
});

describe('ReportedGuests and sameReport', () => {
  const guest = (name: string, text: string): Guest => ({
    uuid: `u-${name}`,
    name,
    state: 'running',
    vcpus: 2,
    machine: 'pc-q35-rhel9.2.0',
    os: {
      evidence: [
        { source: 'guest-agent', text, fields: { id: 'rhel', 'version-id': '9.2' } },
        { source: 'name-hint', text: name },
      ],
    },
  });
  /** The guest less its UUID and name: what is kept of it. */
  const rest = ({ uuid: _u, name: _n, ...r }: Guest) => r;

  it('keeps a copy that the guest reports again, which later changes to the guest do not reach', () => {
    const kept = new ReportedGuests();
    const g = guest('web01', 'Red Hat Enterprise Linux 9.2 (Plow)');
    const copy = kept.keep(g);
    expect(sameReport(copy, g)).toBe(true);
    expect(sameReport(copy, JSON.parse(JSON.stringify(g)))).toBe(true);
    g.os.evidence[0].fields = { id: 'rhel', 'version-id': '9.4' };
    expect(sameReport(copy, g)).toBe(false);
    g.os.evidence[0].fields = { id: 'rhel', 'version-id': '9.2' };
    g.state = 'shutoff';
    expect(sameReport(copy, g)).toBe(false);
  });

  it('shares one copy between guests that report the same under their own names', () => {
    const kept = new ReportedGuests();
    const a = kept.keep(guest('web01', 'Red Hat Enterprise Linux 9.2 (Plow)'));
    const b = kept.keep(guest('db01', 'Red Hat Enterprise Linux 9.2 (Plow)'));
    expect(a).toBe(b);
    expect(sameReport(a, guest('db01', 'Red Hat Enterprise Linux 9.2 (Plow)'))).toBe(true);
    expect(kept.keep(guest('db01', 'Red Hat Enterprise Linux 9.4 (Plow)'))).not.toBe(a);
  });

  it('tells a name hint that repeats the name from one that does not, or has no text', () => {
    const kept = new ReportedGuests();
    const g = guest('web01', 'RHEL');
    const copy = kept.keep(g);
    const hint = (e: Guest['os']['evidence'][number]) => ({ ...g, os: { evidence: [g.os.evidence[0], e] } });
    expect(sameReport(copy, hint({ source: 'name-hint', text: 'web02' }))).toBe(false);
    expect(sameReport(copy, hint({ source: 'name-hint' }))).toBe(false);
    expect(sameReport(copy, hint({ source: 'name-hint', text: 'web01', fields: {} }))).toBe(false);
    const other = kept.keep(hint({ source: 'name-hint', text: 'web02' }));
    expect(other).not.toBe(copy);
    expect(sameReport(other, hint({ source: 'name-hint', text: 'web02' }))).toBe(true);
    expect(sameReport(other, g)).toBe(false);
  });

  const text = fc.string({ maxLength: 12 });
  const evidence = fc.record(
    {
      source: fc.constantFrom('guest-agent', 'libosinfo', 'name-hint', 'kvp') as fc.Arbitrary<'guest-agent'>,
      text: fc.oneof(text, fc.constant('web01')),
      fields: fc.dictionary(text, text, { maxKeys: 3 }),
    },
    { requiredKeys: ['source'] },
  );
  const guests = fc.record(
    {
      uuid: fc.constantFrom('u-1', 'u-2'),
      name: fc.constantFrom('web01', 'web02'),
      state: fc.constantFrom('running', 'shutoff') as fc.Arbitrary<'running'>,
      vcpus: fc.nat(4),
      arch: text,
      os: fc.record(
        { evidence: fc.array(evidence, { maxLength: 3 }), reasonDetail: text },
        { requiredKeys: ['evidence'] },
      ),
    },
    { requiredKeys: ['uuid', 'name', 'state', 'os'] },
  );

  it('says two guests report the same exactly when their JSON does, key order, UUID and name aside', () => {
    fc.assert(
      fc.property(guests, guests, (a, b) => {
        const kept = new ReportedGuests();
        const copy = kept.keep(a);
        expect(sameReport(copy, a)).toBe(true);
        expect(sameReport(copy, reordered(a) as Guest)).toBe(true);
        const sameRest =
          canonical(rest(a)).replaceAll(JSON.stringify(a.name), '"<name>"') ===
          canonical(rest(b)).replaceAll(JSON.stringify(b.name), '"<name>"');
        // Name hints compare as "the name": two guests that differ only in their names report the same.
        if (canonical(rest(a)) === canonical(rest(b)) && a.name === b.name) expect(sameReport(copy, b)).toBe(true);
        if (sameReport(copy, b)) expect(sameRest).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
