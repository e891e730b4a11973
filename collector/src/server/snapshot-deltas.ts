import type { AgentFrame, Guest } from '@hvmap/shared';
import { parseAgentFrame } from '@hvmap/shared/schema';
import type { SnapshotDelta } from '../store/inventory.js';
import { guestKeys, ReportedGuests, type ReportedRest, reportsAsKept } from '../store/reported.js';

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
 */
export class SnapshotDeltas {
  private readonly last = new Map<number, LastSnapshot>();
  private readonly reported = new ReportedGuests();

  read(connection: number, text: string): FrameOutcome {
    const parsed = parseAgentFrame(text);
    if (!parsed.ok) return { kind: 'refused', code: parsed.code, reason: parsed.reason };
    const frame = parsed.frame;
    if (frame.type !== 'inventory') return { kind: 'frame', frame };
    const keys = guestKeys(frame.guests);
    const before = this.last.get(connection);
    if (new Set(keys).size !== keys.length) {
      // Two guests with one UUID and one name: the store compares each with the one applied before
      // it, which a comparison with the last snapshot cannot stand for: such a snapshot goes whole.
      this.last.delete(connection);
      return { kind: 'whole' };
    }
    const count = keys.length;
    // Sized once: arrays grown by push keep up to half again their length spare.
    const now: LastSnapshot = {
      seq: frame.seq,
      keys,
      uuids: new Array(count),
      names: new Array(count),
      reported: new Array(count),
    };
    const sent: Guest[] = [];
    const sentKeys: string[] = [];
    let unchanged = 0;
    // Where each key was in the last snapshot: read only if the guests moved (a scan lists them in
    // the same order from one snapshot to the next).
    let positions: Map<string, number> | undefined;
    // Which of the last snapshot's guests this one still lists: the others are sent as gone.
    const stillListed = new Uint8Array(before?.keys.length ?? 0);
    for (let i = 0; i < count; i++) {
      const key = keys[i];
      const guest = frame.guests[i];
      now.uuids[i] = guest.uuid;
      now.names[i] = guest.name;
      let j = -1;
      if (before?.keys[i] === key) j = i;
      else if (before) {
        positions ??= new Map(before.keys.map((k, at) => [k, at]));
        j = positions.get(key) ?? -1;
      }
      if (j >= 0) stillListed[j] = 1;
      // As the store compares: the same key, then the same UUID, name and report.
      if (before && j >= 0 && reportsAsKept(before.uuids[j], before.names[j], before.reported[j], guest)) {
        unchanged++;
        now.reported[i] = before.reported[j];
        continue;
      }
      sent.push(guest);
      sentKeys.push(key);
      now.reported[i] = this.reported.keep(guest);
    }
    this.last.set(connection, now);
    if (!before) return { kind: 'whole' };
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

/**
 * A connection's last snapshot as compared: per guest, in its order, its key, UUID and name, and what
 * was kept of the rest (the key and UUID are one string but for clones). Arrays rather than a map of
 * objects: 108 → 77 MiB for the ~600,000 guests of 10,000 test/bench agents (~135 bytes a guest, most
 * of it the UUID and name strings).
 */
interface LastSnapshot {
  seq: number;
  keys: string[];
  uuids: string[];
  names: string[];
  reported: ReportedRest[];
}
