import type { AgentFrame, Guest, Inventory } from '@hvmap/shared';
import { isGuest, isInventoryEnvelope, parseAgentFrame } from '@hvmap/shared/schema';
import type { SnapshotDelta } from '../store/inventory.js';
import { guestKeys } from '../store/reported.js';
import { DIGEST_LENGTH, type GuestSpans, scanGuestSpans, spanDigests } from './guest-spans.js';

/** What reading one frame gave. */
export type FrameOutcome =
  | { kind: 'refused'; code: string; reason: string }
  /** A snapshot's guests are only those that changed when `delta` is set. */
  | { kind: 'frame'; frame: AgentFrame; delta?: SnapshotDelta }
  /**
   * A valid snapshot with nothing before it to compare with: whoever holds its text parses it again
   * (for the bench's 34 KiB frames, ~130 µs), which costs less than receiving it whole from another
   * thread (~200 µs, test/bench NOTES §1).
   */
  | { kind: 'whole' };

/**
 * Parses and validates frames per connection and compares each snapshot with the one before it on
 * that connection, so that only the guests that changed travel on (~2 of 60 in test/bench). It runs
 * in the ingest worker (frame-worker.ts); the store checks that it holds the snapshot compared with
 * before it takes a delta (`InventoryStore.holdsSnapshot`).
 *
 * A guest whose bytes are those of a guest of the last snapshot is not parsed again: the frame is
 * parsed and checked with a placeholder in its place (guest-spans.ts). A frame that fails to parse
 * or to pass the check so is parsed whole, and that verdict stands: refusals read as they always did.
 */
export class SnapshotDeltas {
  private readonly last = new Map<number, LastSnapshot>();

  read(connection: number, bytes: Buffer): FrameOutcome {
    const spans = scanGuestSpans(bytes);
    const digests = spans && spanDigests(bytes, spans);
    const before = this.last.get(connection);
    const matches = before && digests ? sameBytes(before.digests, digests) : undefined;
    let frame = spans && matches ? parseLeavingOut(bytes, spans, matches) : null;
    if (!frame) {
      const parsed = parseAgentFrame(bytes.toString());
      if (!parsed.ok) return { kind: 'refused', code: parsed.code, reason: parsed.reason };
      if (parsed.frame.type !== 'inventory') return { kind: 'frame', frame: parsed.frame };
      frame = parsed.frame;
    }
    const count = frame.guests.length;
    if (!spans || !digests || digests.length !== count) {
      this.last.delete(connection);
      return { kind: 'whole' };
    }
    // A guest left out is the one of the last snapshot with its bytes: its UUID and name are that one's.
    const ids = frame.guests.map((guest, i) => {
      const j = matches?.[i] ?? -1;
      return j >= 0 && before ? { uuid: before.uuids[j], name: before.names[j] } : (guest as Guest);
    });
    const keys = guestKeys(ids);
    if (new Set(keys).size !== count) {
      // Two guests with one UUID and one name: the store compares each with the one applied before
      // it, which a comparison with the last snapshot cannot stand for: such a snapshot goes whole.
      this.last.delete(connection);
      return { kind: 'whole' };
    }
    const now: LastSnapshot = {
      seq: frame.seq,
      keys,
      uuids: ids.map((id) => id.uuid),
      names: ids.map((id) => id.name),
      digests: digests.join(''),
    };
    this.last.set(connection, now);
    if (!before) return { kind: 'whole' };
    const sent: Guest[] = [];
    const sentKeys: string[] = [];
    let unchanged = 0;
    // Where each key was in the last snapshot: read only if the guests moved (a scan lists them in
    // the same order from one snapshot to the next).
    let positions: Map<string, number> | undefined;
    // Which of the last snapshot's guests this one still lists: the others are sent as gone.
    const stillListed = new Uint8Array(before.keys.length);
    for (let i = 0; i < count; i++) {
      const key = keys[i];
      let j = -1;
      if (before.keys[i] === key) j = i;
      else {
        positions ??= new Map(before.keys.map((k, at) => [k, at]));
        j = positions.get(key) ?? -1;
      }
      if (j >= 0) stillListed[j] = 1;
      // The same key and the same bytes; a guest whose key changed (it became a clone's) is sent.
      if (j >= 0 && before.digests.startsWith(digests[i], j * DIGEST_LENGTH)) {
        unchanged++;
        continue;
      }
      // A guest left out of the parse and sent all the same: its bytes passed the check before.
      const leftOut = (matches?.[i] ?? -1) >= 0;
      sent.push(
        (leftOut ? JSON.parse(bytes.toString('utf8', spans.starts[i], spans.ends[i])) : frame.guests[i]) as Guest,
      );
      sentKeys.push(key);
    }
    const gone = before.keys.filter((_, j) => stillListed[j] === 0);
    return {
      kind: 'frame',
      frame: { ...frame, guests: sent },
      delta: { since: before.seq, keys: sentKeys, unchanged, gone },
    };
  }

  /** Compares the connection's next snapshot with nothing (it closed, or the store did not take the last). */
  forget(connection: number): void {
    this.last.delete(connection);
  }
}

/** What stands in a frame's text for a guest not parsed again: JSON.parse reads it as this number. */
const LEFT_OUT = 0;

/**
 * Per guest of a snapshot, the position of the last snapshot's guest with the same bytes, or -1;
 * undefined when no guest kept its bytes. The same position first: a scan lists guests in the same
 * order from one snapshot to the next.
 */
function sameBytes(before: string, digests: readonly string[]): Int32Array | undefined {
  const matches = new Int32Array(digests.length).fill(-1);
  let positions: Map<string, number> | undefined;
  let found = false;
  for (let i = 0; i < digests.length; i++) {
    let j = before.startsWith(digests[i], i * DIGEST_LENGTH) ? i : -1;
    if (j < 0) {
      positions ??= digestPositions(before);
      j = positions.get(digests[i]) ?? -1;
    }
    matches[i] = j;
    found ||= j >= 0;
  }
  return found ? matches : undefined;
}

function digestPositions(digests: string): Map<string, number> {
  const positions = new Map<string, number>();
  for (let at = 0; at * DIGEST_LENGTH < digests.length; at++) {
    positions.set(digests.slice(at * DIGEST_LENGTH, (at + 1) * DIGEST_LENGTH), at);
  }
  return positions;
}

/**
 * The inventory frame in `bytes` with `LEFT_OUT` for each guest that has a match, parsed and checked
 * but for those guests (each the bytes of a guest that passed the check before); null when it is not
 * such a frame, to be parsed whole.
 */
function parseLeavingOut(
  bytes: Buffer,
  spans: GuestSpans,
  matches: Int32Array,
): (Omit<Inventory, 'guests'> & { guests: (Guest | typeof LEFT_OUT)[] }) | null {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < matches.length; i++) {
    if (matches[i] < 0) continue;
    parts.push(bytes.toString('utf8', from, spans.starts[i]), String(LEFT_OUT));
    from = spans.ends[i];
  }
  parts.push(bytes.toString('utf8', from));
  let value: unknown;
  try {
    value = JSON.parse(parts.join(''));
  } catch {
    return null;
  }
  if ((value as { type?: unknown } | null)?.type !== 'inventory' || !isInventoryEnvelope(value)) return null;
  const guests = (value as { guests: unknown[] }).guests;
  if (guests.length !== matches.length) return null;
  // The others are the placeholders: as many elements as spans, each span that was parsed a guest.
  for (let i = 0; i < guests.length; i++) if (matches[i] < 0 && !isGuest(guests[i])) return null;
  return value as Omit<Inventory, 'guests'> & { guests: (Guest | typeof LEFT_OUT)[] };
}

/**
 * A connection's last snapshot as compared: per guest, in its order, its key, UUID, name and the
 * digest of its bytes (the key and UUID are one string but for clones; the digests one string).
 * Arrays rather than a map of objects, for the ~600,000 guests of 10,000 test/bench agents: 77 MiB
 * in-process with each guest's report kept, 79 with its digest instead (100 with a string each).
 */
interface LastSnapshot {
  seq: number;
  keys: string[];
  uuids: string[];
  names: string[];
  digests: string;
}
