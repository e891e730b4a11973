/**
 * The agent's spool: the newest snapshot the collector has not acknowledged yet, and the seq counter,
 * in one plain JSON file in the state dir. A snapshot is complete, so only the newest one matters; a
 * restart or an outage resends it and loses nothing.
 */
import { mkdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Inventory } from '@hvmap/shared';
import type { Logger } from 'pino';
import { StateError, writeFileAtomic } from './state-file.js';

/** File in the state dir holding the spool. */
export const SPOOL_FILE = 'spool.json';
const SPOOL_VERSION = 1;

/** What the spool holds: the highest seq ever used and the unacknowledged snapshot, if any. */
export interface SpoolState {
  seq: number;
  pending: Inventory | null;
}

/** The spool of one state dir. Call `load()` once before `save` and `clear`. */
export class Spool {
  private state: SpoolState = { seq: 0, pending: null };
  /** Writes run one after another so an older state never overwrites a newer one. */
  private writes: Promise<void> = Promise.resolve();
  readonly file: string;

  constructor(
    private readonly stateDir: string,
    private readonly log: Logger,
  ) {
    this.file = path.join(stateDir, SPOOL_FILE);
  }

  /** Reads the spool. A corrupt file is moved aside with a warning and the spool starts empty. */
  async load(): Promise<SpoolState> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.current();
      throw new StateError(
        'STATE_DIR_UNREADABLE',
        `cannot read ${this.file}: ${(err as Error).message}; run as a user who may, or pass --state-dir DIR`,
      );
    }
    const problem = validate(text);
    if (typeof problem !== 'string') {
      this.state = problem;
      return this.current();
    }
    const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(this.file, aside);
    // The collector's welcome tells the highest seq it stored, so seq still continues upwards.
    this.log.warn({ file: this.file, movedTo: aside, problem }, 'spool file is corrupt; moved aside, starting empty');
    return this.current();
  }

  /** Makes `inventory` the pending snapshot, replacing any older one, and persists it. */
  save(inventory: Inventory): Promise<void> {
    this.state = { seq: Math.max(this.state.seq, inventory.seq), pending: inventory };
    return this.persist();
  }

  /** Drops the pending snapshot once the collector acknowledged `seq` or a later one. */
  clear(seq: number): Promise<void> {
    const pending = this.state.pending;
    if (!pending || pending.seq > seq) return this.writes;
    this.state = { seq: Math.max(this.state.seq, seq), pending: null };
    return this.persist();
  }

  /** Resolves once every write started so far has finished (or failed). */
  settled(): Promise<void> {
    return this.writes.catch(() => undefined);
  }

  private current(): SpoolState {
    return { ...this.state };
  }

  private persist(): Promise<void> {
    const text = `${JSON.stringify({ version: SPOOL_VERSION, ...this.state })}\n`;
    this.writes = this.writes.catch(() => undefined).then(() => writeFileAtomic(this.file, text));
    return this.writes;
  }
}

/** The spool state in `text`, or why it is not one. */
function validate(text: string): SpoolState | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const { version, seq, pending } = (value ?? {}) as { version?: unknown; seq?: unknown; pending?: unknown };
  if (version !== SPOOL_VERSION) return `unknown spool version ${JSON.stringify(version)}`;
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) return 'seq is not a counter';
  if (pending === null) return { seq, pending: null };
  // The agent wrote it itself; the collector checks it in full. Here only what would make the run loop
  // trip: an inventory with a seq and its guest list. (A schema check would cost the agent TypeBox.)
  const frame = pending as Partial<Inventory> | undefined;
  if (typeof frame !== 'object' || frame === null || frame.type !== 'inventory')
    return 'pending snapshot is not an inventory';
  if (typeof frame.seq !== 'number' || !Number.isInteger(frame.seq) || frame.seq < 0)
    return 'pending snapshot has no seq';
  if (!Array.isArray(frame.guests) || !Array.isArray(frame.errors))
    return 'pending snapshot lacks its guests or errors';
  return { seq: Math.max(seq, frame.seq), pending: frame as Inventory };
}
