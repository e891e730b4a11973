import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanGuestSpans, spanDigests } from './guest-spans.js';

/** Strings with what a scanner must not take for structure: quotes, backslashes, brackets, commas. */
const trickyString = fc.stringOf(fc.constantFrom('"', '\\', '\\"', '{', '}', '[', ']', ',', ':', 'a', 'é', '😀', ' '), {
  maxLength: 6,
});
const value = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    trickyString,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(trickyString, tie('value'), { maxKeys: 3 }),
  ),
})).value;
const guestLike = fc.dictionary(fc.oneof(trickyString, fc.constantFrom('uuid', 'guests')), value, { maxKeys: 4 });
const frameLike = fc.record({
  before: fc.dictionary(trickyString, value, { maxKeys: 3 }),
  guests: fc.array(guestLike, { maxLength: 5 }),
  after: fc.dictionary(fc.oneof(trickyString, fc.constant('guests')), value, { maxKeys: 3 }),
  space: fc.constantFrom(undefined, 1, '\t', ' \r\n'),
});

describe('scanGuestSpans', () => {
  it('finds each guest of any JSON frame as JSON.parse reads it, whatever its strings and layout', () => {
    fc.assert(
      fc.property(frameLike, ({ before, guests, after, space }) => {
        // "guests" may be a key inside a guest (not the frame's), or one of `after` that replaces the array.
        const frame = { ...before, guests, ...after };
        const text = JSON.stringify(frame, null, space);
        const bytes = Buffer.from(text);
        const spans = scanGuestSpans(bytes);
        const parsed = JSON.parse(text).guests;
        // It gives up on guests that are not an array of objects, on a top-level key with an escape
        // (it could spell "guests"), and only there.
        const escapedKey = Object.keys(frame).some((k) => JSON.stringify(k).includes('\\'));
        const objects =
          Array.isArray(parsed) && parsed.every((g) => typeof g === 'object' && g !== null && !Array.isArray(g));
        if (!objects || escapedKey) {
          expect(spans).toBeNull();
          return;
        }
        expect(spans).not.toBeNull();
        const found = spans?.starts.map((s, i) => JSON.parse(bytes.toString('utf8', s, spans.ends[i])));
        expect(found).toEqual(parsed);
      }),
      { numRuns: 500 },
    );
  });

  it('gives up where the spans might not be the guests JSON.parse reads', () => {
    const scan = (text: string) => scanGuestSpans(Buffer.from(text));
    expect(scan('{"type":"inventory","guests":[{"a":1}, {"b":"}"}]}')?.starts).toEqual([30, 39]);
    // A second guests key: JSON.parse keeps the last.
    expect(scan('{"guests":[{"a":1}],"guests":[]}')).toBeNull();
    // An escape in a top-level key may spell guests.
    expect(scan('{"guests":[{"a":1}],"gu\\u0065sts":[]}')).toBeNull();
    // Elements that are no object, guests that are no array, no top-level object, an open string.
    expect(scan('{"guests":[{"a":1},2]}')).toBeNull();
    expect(scan('{"guests":["{}"]}')).toBeNull();
    expect(scan('{"guests":[[{"a":1}]]}')).toBeNull();
    expect(scan('{"guests":{"a":[{}]}}')).toBeNull();
    expect(scan('{"guests":7}')).toBeNull();
    expect(scan('[{"guests":[{}]}]')).toBeNull();
    expect(scan('x{"guests":[{}]}')).toBeNull();
    expect(scan('{"guests":[{"a":"}]}')).toBeNull();
    expect(scan('{"seq":1}')).toBeNull();
  });

  it('digests each guest by its bytes only', () => {
    const bytes = Buffer.from('{"guests":[{"a":1},{"a":1},{"a":2}],"seq":1}');
    const spans = scanGuestSpans(bytes);
    if (!spans) throw new Error('no spans');
    const [first, second, third] = spanDigests(bytes, spans);
    expect(first).toBe(second);
    expect(first).not.toBe(third);
  });
});
