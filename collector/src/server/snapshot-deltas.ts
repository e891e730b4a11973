import type { AgentFrame, Guest } from '@hvmap/shared';
import { parseAgentFrame } from '@hvmap/shared/schema';
import type { SnapshotDelta } from '../store/inventory.js';
import { guestKeys, type KeptGuest, ReportedGuests, reportsAsKept } from '../store/reported.js';

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
  private readonly last = new Map<number, { seq: number; guests: Map<string, KeptGuest> }>();
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
      // it, which a comparison with the last snapshot cannot stand for. Never seen from a real host.
      this.last.delete(connection);
      return { kind: 'whole' };
    }
    const guests = new Map<string, KeptGuest>();
    const sent: Guest[] = [];
    const sentKeys: string[] = [];
    const unchanged: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const guest = frame.guests[i];
      const kept = before?.guests.get(key);
      if (kept && reportsAsKept(kept, guest)) {
        unchanged.push(key);
        guests.set(key, kept);
        continue;
      }
      sent.push(guest);
      sentKeys.push(key);
      guests.set(key, { uuid: guest.uuid, name: guest.name, reported: this.reported.keep(guest) });
    }
    this.last.set(connection, { seq: frame.seq, guests });
    if (!before) return { kind: 'whole' };
    return {
      kind: 'frame',
      frame: { ...frame, guests: sent },
      delta: { since: before.seq, keys: sentKeys, unchanged },
    };
  }

  /** Compares the connection's next snapshot with nothing (it closed, or the store did not take the last). */
  forget(connection: number): void {
    this.last.delete(connection);
  }
}
