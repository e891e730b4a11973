import { hash } from 'node:crypto';

/** Where each guest of an inventory frame lies in its bytes (`[starts[i], ends[i])`), in order. */
export interface GuestSpans {
  starts: number[];
  ends: number[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const GUESTS_KEY = Buffer.from('"guests"');

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * Finds the guests of a frame's top-level `guests` array without parsing them, so that the ingest
 * worker parses only those whose bytes changed (snapshot-deltas.ts): ~40 µs for test/bench's
 * 35 KiB frames, against ~180 for parsing and validating the whole frame.
 *
 * The spans are exact for JSON text; for other bytes they may be anything, which is why the caller
 * parses all the frame but the spans it skips, and skips only spans whose bytes were a valid guest
 * before. Null where the spans might not be the guests JSON.parse reads: no top-level object, a
 * second `guests` key (JSON.parse keeps the last), a top-level key with an escape (it may spell
 * "guests"), an element that is not an object, or text that ends inside a string.
 */
export function scanGuestSpans(bytes: Uint8Array): GuestSpans | null {
  const starts: number[] = [];
  const ends: number[] = [];
  const n = bytes.length;
  let depth = 0;
  // Inside the top-level object: whether the next string is a key, and whether the last key was "guests".
  let keyNext = false;
  let guestsKeyed = false;
  let guestsFound = false;
  // The guests array is open (at depth 2), and where its element being read began.
  let inGuests = false;
  let elementStart = -1;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      const end = closingQuote(bytes, i + 1);
      if (end < 0) return null;
      if (depth === 1 && keyNext) {
        keyNext = false;
        if (bytes.subarray(i + 1, end).includes(BACKSLASH)) return null;
        guestsKeyed = end - i + 1 === GUESTS_KEY.length && GUESTS_KEY.equals(bytes.subarray(i, end + 1));
        if (guestsKeyed && guestsFound) return null;
      } else if (inGuests && depth === 2) return null;
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      if (depth === 1) {
        if (c !== OPEN_OBJECT || i !== firstNonSpace(bytes)) return null;
        keyNext = true;
      } else if (depth === 2 && guestsKeyed) {
        if (c !== OPEN_ARRAY) return null;
        inGuests = true;
        guestsFound = true;
        guestsKeyed = false;
      } else if (depth === 3 && inGuests) {
        if (c !== OPEN_OBJECT) return null;
        elementStart = i;
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === 3 && inGuests) {
        starts.push(elementStart);
        ends.push(i + 1);
      } else if (depth === 2 && inGuests) inGuests = false;
      depth--;
    } else if (c === COMMA) {
      if (depth === 1) keyNext = true;
    } else if (inGuests && depth === 2 && !isSpace(c)) return null;
    else if (depth === 1 && guestsKeyed && c !== 0x3a && !isSpace(c)) return null;
  }
  return guestsFound ? { starts, ends } : null;
}

/** The index of the quote closing a string whose text begins at `from`, or -1. */
function closingQuote(bytes: Uint8Array, from: number): number {
  let at = from;
  for (;;) {
    const quote = bytes.indexOf(QUOTE, at);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    at = quote + 1;
  }
}

function firstNonSpace(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && isSpace(bytes[i])) i++;
  return i;
}

/** The length of each digest `spanDigests` gives, in characters. */
export const DIGEST_LENGTH = 20;

/**
 * A digest of each guest's bytes: what the worker keeps of a snapshot to tell unchanged guests,
 * SHA-1's 20 bytes as a one-byte string rather than the guest's text. One native call a guest
 * (~0.6 µs); a collision would need an agent to forge it against its own guests, which it could as
 * well misreport.
 */
export function spanDigests(bytes: Uint8Array, spans: GuestSpans): string[] {
  const digests = new Array<string>(spans.starts.length);
  for (let i = 0; i < digests.length; i++) {
    digests[i] = hash('sha1', bytes.subarray(spans.starts[i], spans.ends[i]), 'binary');
  }
  return digests;
}
