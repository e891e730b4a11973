import type { Guest } from '@hvmap/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReportedGuests, sameJson } from './reported.js';

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

describe('ReportedGuests', () => {
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

  it('keeps a copy equal to the guest, which later changes to the guest do not reach', () => {
    const kept = new ReportedGuests();
    const g = guest('web01', 'Red Hat Enterprise Linux 9.2 (Plow)');
    const copy = kept.keep(g);
    expect(copy).toEqual(g);
    expect(sameJson(copy, g)).toBe(true);
    g.os.evidence[0].fields = { id: 'rhel', 'version-id': '9.4' };
    g.state = 'shutoff';
    expect(copy.os.evidence[0].fields).toEqual({ id: 'rhel', 'version-id': '9.2' });
    expect(copy.state).toBe('running');
  });

  it('shares what guests repeat: two guests of one OS hold one copy of its evidence', () => {
    const kept = new ReportedGuests();
    const a = kept.keep(guest('web01', 'Red Hat Enterprise Linux 9.2 (Plow)'));
    const b = kept.keep(guest('db01', 'Red Hat Enterprise Linux 9.2 (Plow)'));
    expect(a.os.evidence[0]).toBe(b.os.evidence[0]);
    expect(a.os.evidence[1]).not.toBe(b.os.evidence[1]);
    expect(a.os.evidence[1].text).toBe(a.name);
  });

  it('keeps any guest the schema lets through as it came', () => {
    const kept = new ReportedGuests();
    const text = fc.string({ maxLength: 20 });
    const evidence = fc.record(
      {
        source: fc.constantFrom('guest-agent', 'libosinfo', 'name-hint', 'kvp') as fc.Arbitrary<'guest-agent'>,
        text,
        fields: fc.dictionary(text, text, { maxKeys: 4 }),
      },
      { requiredKeys: ['source'] },
    );
    const guests = fc.record(
      {
        uuid: text,
        name: text,
        state: fc.constantFrom('running', 'shutoff') as fc.Arbitrary<'running'>,
        vcpus: fc.nat(),
        arch: text,
        os: fc.record(
          { evidence: fc.array(evidence, { maxLength: 4 }), reasonDetail: text },
          { requiredKeys: ['evidence'] },
        ),
      },
      { requiredKeys: ['uuid', 'name', 'state', 'os'] },
    );
    fc.assert(
      fc.property(guests, (g) => {
        const copy = kept.keep(g);
        expect(canonical(copy)).toBe(canonical(g));
        expect(sameJson(copy, g)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
