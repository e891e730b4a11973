import type { Guest } from '@hvmap/shared';
import { parseAgentFrame } from '@hvmap/shared/schema';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { judgedSnapshot } from '../../../test/helpers/judged-snapshot.js';
import { type Db, openDatabase } from '../store/db.js';
import { type Change, InventoryStore, type JudgedInventory } from '../store/inventory.js';
import { guestKeys } from '../store/reported.js';
import { TokenStore } from '../store/tokens.js';
import { SnapshotDeltas } from './snapshot-deltas.js';

const NOW = '2026-12-04T10:00:00.000Z';

function freshStore(): { db: Db; store: InventoryStore } {
  const db = openDatabase(':memory:', { create: true });
  new TokenStore(db).create('kvm-01');
  return { db, store: new InventoryStore(db) };
}

/** What a store holds: its rows (changes without their order, which a delta may change) and the agent's seq. */
function dump(db: Db): unknown {
  const changes = db
    .prepare('SELECT host_id, guest_key, guest_name, kind, old_value, new_value, at FROM changes')
    .all();
  return {
    hosts: db.prepare('SELECT * FROM hosts ORDER BY id').all(),
    guests: db.prepare('SELECT * FROM guests ORDER BY id').all(),
    changes: changes.map((c) => JSON.stringify(c)).sort(),
  };
}

const sorted = (changes: Change[] | null) => changes?.map((c) => JSON.stringify(c)).sort();

const guestArb: fc.Arbitrary<Guest> = fc
  .record({
    // u-1/web01 is also the key of a clone u-1 named web01: a key alone does not tell guests apart.
    uuid: fc.constantFrom('u-1', 'u-2', 'u-3', 'u-4', 'u-1/web01'),
    name: fc.constantFrom('web01', 'db01', 'app01'),
    state: fc.constantFrom('running', 'shutoff') as fc.Arbitrary<Guest['state']>,
    vcpus: fc.constantFrom(2, 4),
    os: fc.constantFrom(null, 'rhel-9.2', 'rhel-8.6'),
    hinted: fc.boolean(),
  })
  .map(({ os, hinted, ...g }) => ({
    ...g,
    os: {
      evidence: [
        ...(os ? [{ source: 'libosinfo' as const, text: os }] : []),
        // A name hint repeating the name: kept as "the name", to be made again when judged again.
        ...(hinted ? [{ source: 'name-hint' as const, text: g.name }] : []),
      ],
    },
  }));

/** A snapshot's guests as edits of the last one's: most guests stay as they were, as on a real host. */
const editsArb = fc.array(
  fc.record({ op: fc.constantFrom('replace', 'remove', 'add'), at: fc.nat(), guest: guestArb }),
  { maxLength: 2 },
);

function edited(guests: Guest[], edits: { op: string; at: number; guest: Guest }[]): Guest[] {
  const next = [...guests];
  for (const { op, at, guest } of edits) {
    if (op === 'add' || next.length === 0) next.push(guest);
    else if (op === 'remove') next.splice(at % next.length, 1);
    else next[at % next.length] = guest;
  }
  return next;
}

const stepArb = fc.record({
  edits: editsArb,
  /** Another hypervisor version: the host changed, its guests are judged again. */
  upgraded: fc.boolean(),
  /** Another catalog: every guest is judged again. */
  catalog: fc.constantFrom('c1', 'c2'),
  /**
   * forget: the store dropped its cache (a failed write, another collector); resend: the last snapshot
   * again; replay: other guests under the last seq (an agent that lies, or a bug), stored by no one.
   */
  event: fc.constantFrom('none', 'none', 'none', 'forget', 'resend', 'replay'),
});

/** A snapshot judged under `catalog`: c2 holds rhel-8.6 not certified. */
function judged(seq: number, step: { guests: Guest[]; upgraded: boolean; catalog: string }): JudgedInventory {
  const snapshot = judgedSnapshot(
    seq,
    step.guests,
    (osId) => ({
      status: osId === null ? 'unknown' : step.catalog === 'c2' && osId === 'rhel-8.6' ? 'not-certified' : 'certified',
      eolDate: null,
      verdict: { programs: [], catalog: step.catalog },
    }),
    step.catalog,
  );
  if (step.upgraded) snapshot.inventory.hypervisor.version = '9.0.0';
  return snapshot;
}

describe('SnapshotDeltas with the store', () => {
  it('stores what the whole snapshots store, whatever the snapshots, resends and dropped caches', () => {
    let deltasTaken = 0;
    let unchangedSent = 0;
    fc.assert(
      fc.property(
        fc.array(guestArb, { maxLength: 6 }),
        fc.array(stepArb, { minLength: 1, maxLength: 12 }),
        (first, steps) => {
          const whole = freshStore();
          const viaDeltas = freshStore();
          const deltas = new SnapshotDeltas();
          let seq = 0;
          let last: { guests: Guest[]; upgraded: boolean; catalog: string } | undefined;
          for (const step of steps) {
            const again = (step.event === 'resend' || step.event === 'replay') && last !== undefined;
            const guests = edited(last?.guests ?? first, step.edits);
            const taken = step.event === 'resend' && last ? last : { ...step, guests };
            if (!again) seq++;
            if (step.event === 'forget') viaDeltas.store.forgetHost('kvm-01');
            const full = judged(seq, taken);
            const outcome = deltas.read(1, Buffer.from(JSON.stringify(full.inventory)));
            expect(outcome.kind).not.toBe('refused');
            let sent = judged(seq, taken);
            // As ingest does: a delta only when the store holds the snapshot it was compared with.
            if (outcome.kind === 'frame' && outcome.frame.type === 'inventory' && outcome.delta) {
              if (viaDeltas.store.holdsSnapshot('kvm-01', outcome.delta.since)) {
                sent = { ...judged(seq, { ...taken, guests: outcome.frame.guests }), delta: outcome.delta };
                deltasTaken++;
                unchangedSent += outcome.delta.unchanged;
              }
            }
            const expected = whole.store.apply('kvm-01', full, NOW);
            const got = viaDeltas.store.apply('kvm-01', sent, NOW);
            if (got === null) deltas.forget(1);
            expect(sorted(got)).toEqual(sorted(expected));
            expect(dump(viaDeltas.db)).toEqual(dump(whole.db));
            last = taken;
          }
          whole.db.close();
          viaDeltas.db.close();
        },
      ),
      { numRuns: 400 },
    );
    // The runs went through deltas, with guests left out of them.
    expect(deltasTaken).toBeGreaterThan(400);
    expect(unchangedSent).toBeGreaterThan(400);
  });

  it('sends only the guests that changed, counts the rest and names those gone', () => {
    const deltas = new SnapshotDeltas();
    const g = (name: string, uuid: string, state: Guest['state'] = 'running'): Guest => ({
      uuid,
      name,
      state,
      os: { evidence: [] },
    });
    const text = (seq: number, guests: Guest[]) =>
      Buffer.from(JSON.stringify(judged(seq, { guests, upgraded: false, catalog: 'c1' }).inventory));
    expect(deltas.read(7, text(1, [g('a', 'u-1'), g('b', 'u-2')]))).toEqual({ kind: 'whole' });
    const second = deltas.read(7, text(2, [g('a', 'u-1', 'shutoff'), g('b', 'u-2'), g('c', 'u-2')]));
    expect(second).toMatchObject({
      kind: 'frame',
      frame: { seq: 2, guests: [g('a', 'u-1', 'shutoff'), g('b', 'u-2'), g('c', 'u-2')] },
      delta: { since: 1, keys: ['u-1', 'u-2/b', 'u-2/c'], unchanged: 0, gone: ['u-2'] },
    });
    const third = deltas.read(7, text(3, [g('a', 'u-1', 'shutoff'), g('c', 'u-2')]));
    expect(third).toMatchObject({
      kind: 'frame',
      frame: { guests: [g('c', 'u-2')] },
      delta: { since: 2, keys: ['u-2'], unchanged: 1, gone: ['u-2/b', 'u-2/c'] },
    });
    // Listed in another order, the same guests are unchanged.
    expect(deltas.read(7, text(4, [g('c', 'u-2'), g('a', 'u-1', 'shutoff')]))).toMatchObject({
      delta: { since: 3, keys: [], unchanged: 2, gone: [] },
    });
    // Another connection compares with nothing; a forgotten one neither.
    expect(deltas.read(8, text(3, [g('a', 'u-1', 'shutoff')]))).toEqual({ kind: 'whole' });
    deltas.forget(7);
    expect(deltas.read(7, text(5, [g('a', 'u-1', 'shutoff')]))).toEqual({ kind: 'whole' });
    // Two guests with one UUID and one name: whole, and the next is compared with nothing.
    expect(deltas.read(7, text(6, [g('a', 'u-1'), g('a', 'u-1')]))).toEqual({ kind: 'whole' });
    expect(deltas.read(7, text(7, [g('a', 'u-1')]))).toEqual({ kind: 'whole' });
    // One key, two guests: u-1/web01 alone, then web01 a clone of u-1.
    deltas.read(9, text(1, [g('web01', 'u-1/web01')]));
    expect(deltas.read(9, text(2, [g('web01', 'u-1'), g('db01', 'u-1')]))).toMatchObject({
      delta: { keys: ['u-1/web01', 'u-1/db01'], unchanged: 0 },
    });
    expect(deltas.read(7, Buffer.from('{"type":"inventory"'))).toMatchObject({ kind: 'refused', code: 'BAD_JSON' });
  });

  it('reads any frame after a snapshot as parseAgentFrame reads it whole: the same refusals, the same guests', () => {
    const inventoryText = (seq: number, guests: Guest[]) =>
      JSON.stringify(judged(seq, { guests, upgraded: false, catalog: 'c1' }).inventory);
    // Bytes that break the frame, or keep it valid where they land: a guest more, a second guests
    // key, a key that spells guests with an escape, spaces.
    const insert = fc.constantFrom(
      '0',
      ',',
      '"',
      '\\',
      '{',
      '}',
      ']',
      ' ',
      '"guests":[],',
      ',"guests":[]',
      '"gu\\u0065sts":[],',
      '{"uuid":"u-9","name":"n","state":"running","os":{"evidence":[]}},',
    );
    const mutation = fc.record({ at: fc.nat(), afterComma: fc.boolean(), cut: fc.nat({ max: 2 }), insert });
    let deltasChecked = 0;
    let mutatedChecked = 0;
    fc.assert(
      fc.property(
        fc.array(guestArb, { minLength: 1, maxLength: 6 }),
        editsArb,
        fc.array(mutation, { maxLength: 2 }),
        (first, edits, mutations) => {
          const deltas = new SnapshotDeltas();
          const firstText = inventoryText(1, first);
          deltas.read(1, Buffer.from(firstText));
          const unmutated = inventoryText(2, edited(first, edits));
          let text = unmutated;
          for (const m of mutations) {
            let at = m.at % (text.length + 1);
            if (m.afterComma) at = text.indexOf(',', at) + 1;
            text = text.slice(0, at) + m.insert + text.slice(at + m.cut);
          }
          const outcome = deltas.read(1, Buffer.from(text));
          const whole = parseAgentFrame(text);
          if (!whole.ok) {
            expect(outcome).toEqual({ kind: 'refused', code: whole.code, reason: whole.reason });
            return;
          }
          expect(outcome.kind).not.toBe('refused');
          if (outcome.kind !== 'frame' || !outcome.delta || whole.frame.type !== 'inventory') return;
          deltasChecked++;
          if (text !== unmutated) mutatedChecked++;
          // The guests the delta stands for: those sent, the others as the first snapshot had them.
          const firstGuests: Guest[] = JSON.parse(firstText).guests;
          const firstByKey = new Map(guestKeys(firstGuests).map((k, i) => [k, firstGuests[i]]));
          const sentByKey = new Map(outcome.delta.keys.map((k, i) => [k, outcome.frame.guests[i]]));
          const keys = guestKeys(whole.frame.guests);
          expect(keys.map((k) => sentByKey.get(k) ?? firstByKey.get(k))).toEqual(whole.frame.guests);
          expect(outcome.delta.unchanged + outcome.delta.keys.length).toBe(keys.length);
          expect(outcome.delta.gone).toEqual([...firstByKey.keys()].filter((k) => !keys.includes(k)));
          expect({ ...outcome.frame, guests: [] }).toEqual({ ...whole.frame, guests: [] });
        },
      ),
      { numRuns: 2000 },
    );
    // Deltas checked (~500 here), of which mutated frames that stayed valid (~50).
    expect(deltasChecked).toBeGreaterThan(400);
    expect(mutatedChecked).toBeGreaterThan(10);
  });

  it('is refused by the store, which then stores nothing, when it does not name every guest held', () => {
    const { db, store } = freshStore();
    const g = (name: string, uuid: string): Guest => ({ uuid, name, state: 'running', os: { evidence: [] } });
    const step = (guests: Guest[]) => ({ guests, upgraded: false, catalog: 'c1' });
    store.apply('kvm-01', judged(1, step([g('a', 'u-1'), g('b', 'u-2')])), NOW);
    const before = dump(db);
    const missing = { ...judged(2, step([])), delta: { since: 1, keys: [], unchanged: 1, gone: [] } };
    expect(() => store.apply('kvm-01', missing, NOW)).toThrow(/holds 2 guests, the delta names 1/);
    expect(dump(db)).toEqual(before);
    const goneAndSent = {
      ...judged(2, step([g('b', 'u-2')])),
      delta: { since: 1, keys: ['u-2'], unchanged: 1, gone: ['u-2'] },
    };
    expect(() => store.apply('kvm-01', goneAndSent, NOW)).toThrow(/holds 1 guests, the delta names 2/);
    expect(dump(db)).toEqual(before);
    db.close();
  });
});
