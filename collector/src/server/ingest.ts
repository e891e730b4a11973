import type { IncomingMessage } from 'node:http';
import { CLOSE_CODES, type CollectorFrame, type Inventory, PROTOCOL_VERSION } from '@hvmap/shared';
import { parseAgentFrame } from '@hvmap/shared/schema';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Evaluator } from '../map/evaluator.js';
import { RolledBackWhole } from '../store/db.js';
import type { Change, InventoryStore, SnapshotDelta } from '../store/inventory.js';
import { FrameReader, type ReadOutcome } from './frame-reader.js';
import type { FrameOutcome } from './snapshot-deltas.js';

export interface IngestOptions {
  store: InventoryStore;
  evaluator: Evaluator;
  logger: Logger;
  /** Scan interval the collector asks agents to use, seconds. */
  intervalSec: number;
  helloTimeoutMs: number;
  pingIntervalMs: number;
  /** Called after each stored snapshot with what changed (the live map and alerts hang here). */
  onChanges?: (agentName: string, changes: Change[]) => void;
  /** Called with how long judging each stored snapshot's new or changed guests took, seconds (/metrics). */
  observeEvaluation?: (seconds: number) => void;
  /** Frames one connection may send: a sustained rate and a burst (an agent sends one per interval). */
  frameRate?: { perSecond: number; burst: number };
  /** A snapshot with more guests than this is refused (TOO_MANY_GUESTS). */
  maxGuestsPerHost?: number;
}

/** A peer that lets this much pile up unread is too slow to keep: it is cut off. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const DEFAULT_FRAME_RATE = { perSecond: 5, burst: 30 };

export interface IngestCounters {
  framesAccepted: number;
  framesRejected: number;
  snapshotsStored: number;
  /** Snapshots whose seq was already stored (a resend after a lost ack): acknowledged, not applied. */
  snapshotsDuplicate: number;
  /** Rejections by stable code (BAD_JSON, BAD_FRAME, RATE_LIMITED, ...), for /metrics. */
  rejectedByCode: Record<string, number>;
}

/**
 * One agent's session: hello within the deadline, then snapshots (stored, then acked) and heartbeats.
 * A bad frame is answered with an `error` frame and a 4xxx close; nothing it carried is stored.
 */
export class AgentSessions {
  readonly counters: IngestCounters = {
    framesAccepted: 0,
    framesRejected: 0,
    snapshotsStored: 0,
    snapshotsDuplicate: 0,
    rejectedByCode: {},
  };
  private readonly open = new Map<string, WebSocket>();
  private readonly frames: FrameReader;
  private connections = 0;
  /** Frames the worker answered, handled together at the end of this turn of the event loop. */
  private inbox: (() => void)[] = [];
  /** Whether a frame in the inbox may write when handled (`handleTogether`). */
  private inboxMayWrite = false;
  /** While the inbox is handled: the snapshots among its frames, stored once the others are handled. */
  private snapshots: PendingSnapshot[] = [];

  constructor(private readonly options: IngestOptions) {
    this.frames = new FrameReader(options.logger);
  }

  /** Settles once agents' frames are read by the ingest worker (until then, in the main thread). */
  get framesInWorker(): Promise<void> {
    return this.frames.ready;
  }

  get connected(): number {
    return this.open.size;
  }

  /** Whether this agent holds a connection now. */
  isConnected(agentName: string): boolean {
    return this.open.has(agentName);
  }

  /** Asks every connected agent (or one) to scan now. */
  rescan(agentName?: string): number {
    let n = 0;
    for (const [name, socket] of this.open) {
      if (agentName && name !== agentName) continue;
      send(socket, { type: 'rescan' });
      n++;
    }
    return n;
  }

  /**
   * Closes the connections of agents whose token was revoked (4401, with an error frame saying so);
   * names without a connection are passed over. Returns how many it closed.
   */
  closeRevoked(names: readonly string[]): number {
    let n = 0;
    for (const name of names) {
      const socket = this.open.get(name);
      if (!socket) continue;
      this.options.logger.warn({ agent: name, code: 'TOKEN_REVOKED' }, 'token revoked: connection closed');
      send(socket, {
        type: 'error',
        code: 'TOKEN_REVOKED',
        message: "this agent's token was revoked (hvmap tokens revoke)",
      });
      socket.close(CLOSE_CODES.unauthorized, 'TOKEN_REVOKED');
      this.open.delete(name);
      this.recordContact(this.options.logger, () => this.options.store.recordDisconnect(name, null));
      n++;
    }
    return n;
  }

  /** Closes every agent's connection and stops the ingest worker. */
  closeAll(): Promise<void> {
    for (const socket of this.open.values()) socket.close(1001, 'collector shutting down');
    return this.frames.stop();
  }

  attach(socket: WebSocket, agentName: string, request: IncomingMessage): void {
    const { store, logger: parentLogger } = this.options;
    const log = parentLogger.child({ agent: agentName, remote: request.socket.remoteAddress });
    const connection = ++this.connections;
    /** This connection's mark in the store (recordHello), cleared when it closes if still its own. */
    let connectedAt: string | undefined;
    let helloDone = false;
    let alive = true;
    /** Set once this collector refused a frame: the frames behind it are neither applied nor counted. */
    let refused = false;

    const rate = this.options.frameRate ?? DEFAULT_FRAME_RATE;
    let tokens = rate.burst;
    let refilledAt = performance.now();
    const reject = (code: string, message: string, closeCode: number) => {
      refused = true;
      this.counters.framesRejected++;
      this.counters.rejectedByCode[code] = (this.counters.rejectedByCode[code] ?? 0) + 1;
      log.warn({ code }, message);
      send(socket, { type: 'error', code, message });
      socket.close(closeCode, code);
    };

    const helloTimer = setTimeout(() => {
      if (!helloDone)
        reject('HELLO_TIMEOUT', `no hello within ${this.options.helloTimeoutMs} ms`, CLOSE_CODES.helloTimeout);
    }, this.options.helloTimeoutMs);
    const pingTimer = setInterval(() => {
      // A peer that missed a whole ping interval is gone (half-open TCP): free its slot.
      if (!alive) return socket.terminate();
      alive = false;
      socket.ping();
    }, this.options.pingIntervalMs);
    socket.on('pong', () => {
      alive = true;
    });

    socket.on('error', (err: Error & { code?: string }) => {
      // ws reports oversized frames (WS_ERR_UNSUPPORTED_MESSAGE_LENGTH) here and closes with 1009.
      this.counters.framesRejected++;
      log.warn({ code: err.code ?? 'SOCKET_ERROR' }, err.message);
    });

    socket.on('close', (code, reason) => {
      this.frames.close(connection);
      clearTimeout(helloTimer);
      clearInterval(pingTimer);
      if (this.open.get(agentName) === socket) {
        this.open.delete(agentName);
        const mark = connectedAt;
        if (mark) this.recordContact(log, () => store.recordDisconnect(agentName, mark));
        log.info({ closeCode: code, reason: reason.toString() || undefined }, 'agent disconnected');
      }
    });

    socket.on('message', (data, isBinary) => {
      // Once refused, a connection is closing: frames already on the wire behind the refused one are
      // neither applied nor counted again (a flood of 100 is one RATE_LIMITED, not 70).
      if (socket.readyState !== socket.OPEN) return;
      const now = performance.now();
      tokens = Math.min(rate.burst, tokens + ((now - refilledAt) / 1000) * rate.perSecond);
      refilledAt = now;
      if (tokens < 1) return reject('RATE_LIMITED', `more than ${rate.perSecond} frames/s`, CLOSE_CODES.rateLimited);
      tokens--;
      if (isBinary) return reject('BINARY_FRAME', 'frames are JSON text', CLOSE_CODES.badFrame);
      this.frames.read(connection, data as Buffer);
    });

    /** Not the frame's fault: the agent is told, and reconnects with backoff to send again what was not acked. */
    const closeForResend = (code: string, message: string) => {
      send(socket, { type: 'error', code, message });
      socket.close(CLOSE_CODES.storeFailed, code);
      refused = true;
    };

    /** One frame the worker read, handled in order with the other frames of its turn (`handleInbox`). */
    const handle = (outcome: ReadOutcome, bytes: Buffer) => {
      try {
        if (refused) return;
        if (outcome.kind === 'lost') {
          log.error({ code: 'INGEST_WORKER_FAILED' }, 'frame lost with the ingest worker');
          return closeForResend('INGEST_WORKER_FAILED', 'the collector lost this frame; send it again');
        }
        const read = readFrame(outcome, bytes);
        if (read.kind === 'refused') return reject(read.code, read.reason, CLOSE_CODES.badFrame);
        const { frame } = read;
        // The agent left after sending this (its frames are read in the worker meanwhile): a snapshot
        // received in full is still stored, a hello or heartbeat of a closed connection means nothing.
        if (socket.readyState !== socket.OPEN && frame.type !== 'inventory') return;
        if (!helloDone) {
          if (frame.type !== 'hello')
            return reject('HELLO_EXPECTED', `expected hello, got ${frame.type}`, CLOSE_CODES.badFrame);
          if (frame.protocol !== PROTOCOL_VERSION) {
            return reject(
              'PROTOCOL_VERSION',
              `protocol ${frame.protocol} is not supported; this collector speaks ${PROTOCOL_VERSION}`,
              CLOSE_CODES.protocolVersion,
            );
          }
          if (!store.mayUseToken(agentName, frame.agentId)) {
            return reject(
              'TOKEN_BOUND',
              'this token belongs to another agent; create a token for this host',
              CLOSE_CODES.unauthorized,
            );
          }
          // Contact is recorded when the store can; a read-only or full database still lets agents in
          // (their snapshots are refused with STORE_FAILED until it can write again).
          this.recordContact(log, () => {
            connectedAt = store.recordHello(agentName, frame.agentId, frame.agentVersion);
          });
          helloDone = true;
          clearTimeout(helloTimer);
          this.counters.framesAccepted++;
          const previous = this.open.get(agentName);
          if (previous && previous !== socket) previous.close(CLOSE_CODES.replaced, 'replaced by a newer connection');
          this.open.set(agentName, socket);
          log.info(
            { agentId: frame.agentId, agentVersion: frame.agentVersion, hostname: frame.hostname },
            'agent connected',
          );
          const lastSeq = store.lastSeq(agentName);
          send(socket, {
            type: 'welcome',
            protocol: PROTOCOL_VERSION,
            interval: this.options.intervalSec,
            ...(lastSeq !== null ? { lastSeq } : {}),
          });
          return;
        }
        this.counters.framesAccepted++;
        if (frame.type === 'hello') return reject('HELLO_REPEATED', 'hello was already received', CLOSE_CODES.badFrame);
        if (frame.type === 'heartbeat') return this.recordContact(log, () => store.recordContact(agentName));
        const maxGuests = this.options.maxGuestsPerHost;
        const guests = guestCount(frame, read.delta);
        if (maxGuests !== undefined && guests > maxGuests)
          return reject(
            'TOO_MANY_GUESTS',
            `${guests} guests in one snapshot; this collector takes at most ${maxGuests} per host (--max-guests-per-host)`,
            CLOSE_CODES.tooLarge,
          );
        this.ingest(socket, connection, agentName, { frame, delta: read.delta }, bytes, log, {
          get refused() {
            return refused;
          },
          refuse() {
            refused = true;
          },
        });
      } catch (err) {
        // A write the store refuses (read-only database, full disk) during hello or a heartbeat: the
        // agent is told and reconnects with backoff; the collector itself goes on serving.
        log.error({ code: 'STORE_FAILED', err: (err as Error).message }, 'frame not handled');
        closeForResend('STORE_FAILED', `the collector could not record this (${(err as Error).message})`);
      }
    };
    this.frames.open(connection, (outcome, bytes) =>
      this.handleTogether(
        () => handle(outcome, bytes),
        !(
          outcome.kind === 'refused' ||
          outcome.kind === 'lost' ||
          (outcome.kind === 'frame' && outcome.frame.type === 'inventory')
        ),
      ),
    );
  }

  /** `mayWrite`: the frame may be one whose handling writes (a hello, a heartbeat), not a snapshot's. */
  private handleTogether(handle: () => void, mayWrite: boolean): void {
    this.inboxMayWrite ||= mayWrite;
    if (this.inbox.push(handle) === 1) setImmediate(() => this.handleInbox());
  }

  /**
   * Handles the frames the worker answered since the last turn of the event loop, in order, then
   * stores the snapshots among them together (`storeSnapshots`). What the other frames write (hellos,
   * heartbeats) is committed in one transaction before; one that cannot begin (PostgreSQL away) has
   * each frame handled alone. A turn of snapshots only opens none (on PostgreSQL, two round trips).
   */
  private handleInbox(): void {
    const handles = this.inbox;
    const mayWrite = this.inboxMayWrite;
    this.inbox = [];
    this.inboxMayWrite = false;
    const snapshots: PendingSnapshot[] = [];
    this.snapshots = snapshots;
    try {
      if (mayWrite) this.handleInOneCommit(handles);
      else for (const handle of handles) handle();
    } finally {
      this.snapshots = [];
    }
    if (snapshots.length) this.storeSnapshots(snapshots);
  }

  private handleInOneCommit(handles: (() => void)[]): void {
    let began = false;
    try {
      this.options.store.inOneCommit(
        () => {
          began = true;
          for (const handle of handles) handle();
        },
        { savepoints: true },
      );
    } catch (err) {
      if (!began) for (const handle of handles) handle();
      else this.options.logger.warn({ code: 'STORE_FAILED', err: (err as Error).message }, 'contacts not recorded');
    }
  }

  /**
   * Stores snapshots in one transaction, so one commit for all (a commit and its WAL writes cost more
   * than a snapshot's statements, test/bench NOTES §1), without a savepoint each (their journals were
   * most of SQLite's writes, NOTES §1). Should one fail, nothing is kept and they are stored again,
   * each in a savepoint of its own, so that the one the database refuses takes no other with it.
   * Their acks wait for the commit; if it fails, every one of them is refused as a store failure
   * (STORE_FAILED, the agents resend). A transaction that cannot begin has each stored alone.
   */
  private storeSnapshots(snapshots: PendingSnapshot[]): void {
    const { store } = this.options;
    let stored: StoredSnapshot[] = [];
    let began = false;
    try {
      store.inOneCommit(
        () => {
          began = true;
          stored = storeEach(snapshots, false);
        },
        { savepoints: false },
      );
    } catch (err) {
      if (!began) stored = storeEach(snapshots, true);
      else if (!(err instanceof RolledBackWhole)) {
        refuseAll(snapshots, err as Error);
        return;
      } else
        try {
          store.inOneCommit(
            () => {
              stored = storeEach(snapshots, true);
            },
            { savepoints: true },
          );
        } catch (again) {
          refuseAll(snapshots, again as Error);
          return;
        }
    }
    for (const snapshot of stored) snapshot.ack();
  }

  private recordContact(log: Logger, write: () => void): void {
    try {
      write();
    } catch (err) {
      log.warn({ code: 'STORE_FAILED', err: (err as Error).message }, 'contact not recorded');
    }
  }

  /**
   * Evaluates and stores one snapshot, an agent's or a polled host's: the changes, or null for a seq
   * already stored. Throws when the store refuses it (nothing is then stored).
   */
  storeSnapshot(agentName: string, inventory: Inventory): Change[] | null {
    const { changes, judgingMs } = this.applySnapshot(agentName, inventory);
    this.countStored(changes, judgingMs);
    return changes;
  }

  private countStored(changes: Change[] | null, judgingMs: number): void {
    if (changes === null) this.counters.snapshotsDuplicate++;
    else {
      this.counters.snapshotsStored++;
      this.options.observeEvaluation?.(judgingMs / 1000);
    }
  }

  /** Judges and applies one snapshot: its changes (null: a seq already stored) and how long judging took. */
  private applySnapshot(
    agentName: string,
    inventory: Inventory,
    delta?: SnapshotDelta,
  ): { changes: Change[] | null; judgingMs: number } {
    const { store, evaluator } = this.options;
    const judged = evaluator.judgeInventory(inventory);
    if (delta) judged.delta = delta;
    // Only the guests the store has to judge are (see JudgedInventory): their time is the evaluation's.
    let judging = 0;
    const judge = judged.judge;
    judged.judge = (guest) => {
      const started = performance.now();
      const result = judge(guest);
      judging += performance.now() - started;
      return result;
    };
    return { changes: store.apply(agentName, judged), judgingMs: judging };
  }

  /** Tells the live map and alerts what a stored snapshot changed. */
  announce(
    agentName: string,
    inventory: Inventory,
    changes: Change[] | null,
    log: Logger,
    guests = inventory.guests.length,
  ): void {
    if (changes?.length) {
      // Debug: a line per snapshot is ~17 a second at 1,000 hosts (and ~4% of ingest's CPU, test/bench);
      // what it changed is kept as change rows, and alerts log their own lines.
      log.debug({ seq: inventory.seq, changes: changes.length, guests, partial: inventory.partial }, 'snapshot stored');
      this.options.onChanges?.(agentName, changes);
    }
  }

  /** Queues a snapshot for `storeSnapshots`, with its ack and its refusal (`session`: its connection's flag). */
  private ingest(
    socket: WebSocket,
    connection: number,
    agentName: string,
    read: { frame: Inventory; delta?: SnapshotDelta },
    bytes: Buffer,
    log: Logger,
    session: { readonly refused: boolean; refuse(): void },
  ): void {
    const seq = read.frame.seq;
    this.snapshots.push({
      get refused() {
        return session.refused;
      },
      refuse: (err) => {
        // Not acknowledged, and the connection closed: the agent keeps the snapshot, reconnects with
        // backoff and resends it, until the store takes it (disk space back, database writable again).
        log.error({ code: 'STORE_FAILED', err: err.message, seq }, 'snapshot not stored');
        send(socket, {
          type: 'error',
          code: 'STORE_FAILED',
          message: `the collector could not store this snapshot (${err.message}); resend it later`,
        });
        socket.close(CLOSE_CODES.storeFailed, 'STORE_FAILED');
        session.refuse();
      },
      store: () => {
        let { frame: inventory, delta } = read;
        if (delta && !this.options.store.holdsSnapshot(agentName, delta.since)) {
          // The store holds another state of this host than the snapshot the worker compared with (its
          // cache was dropped after a failed write, another collector wrote): it takes the whole one.
          const whole = readFrame({ kind: 'whole' }, bytes);
          if (whole.kind !== 'frame' || whole.frame.type !== 'inventory') throw new Error('snapshot no longer parses');
          inventory = whole.frame;
          delta = undefined;
        }
        const { changes, judgingMs } = this.applySnapshot(agentName, inventory, delta);
        this.announce(agentName, inventory, changes, log, guestCount(inventory, delta));
        // A seq already stored (a resend) was compared as if it were: the next is compared with nothing.
        if (changes === null) this.frames.reset(connection);
        return {
          ack: () => {
            this.countStored(changes, judgingMs);
            send(socket, { type: 'ack', seq });
          },
        };
      },
    });
  }
}

/** A snapshot that passed its checks, to be stored with the others of its turn (`storeSnapshots`). */
interface PendingSnapshot {
  /**
   * Its connection was refused since it was queued (a snapshot before it failed, a frame after it broke
   * a rule): it is not stored, and its agent, never acknowledged, sends it again.
   */
  readonly refused: boolean;
  /** Stores it and tells the live map and alerts; throws what the store refused. */
  store(): StoredSnapshot;
  refuse(err: Error): void;
}

interface StoredSnapshot {
  /** Counts it and acknowledges it, once its commit is done. */
  ack(): void;
}

/**
 * Stores each snapshot not refused, in order; `isolated`: one the store refuses is refused alone (its
 * writes undone by its savepoint, or its own transaction), else the first failure is thrown.
 */
function storeEach(snapshots: readonly PendingSnapshot[], isolated: boolean): StoredSnapshot[] {
  const stored: StoredSnapshot[] = [];
  for (const snapshot of snapshots) {
    if (snapshot.refused) continue;
    if (!isolated) {
      stored.push(snapshot.store());
      continue;
    }
    try {
      stored.push(snapshot.store());
    } catch (err) {
      snapshot.refuse(err as Error);
    }
  }
  return stored;
}

function refuseAll(snapshots: readonly PendingSnapshot[], err: Error): void {
  for (const snapshot of snapshots) if (!snapshot.refused) snapshot.refuse(err);
}

/** A frame as the main thread uses it: a `whole` one is parsed here, from its bytes. */
function readFrame(outcome: FrameOutcome, bytes: Buffer): Exclude<FrameOutcome, { kind: 'whole' }> {
  if (outcome.kind !== 'whole') return outcome;
  const parsed = parseAgentFrame(bytes.toString());
  return parsed.ok
    ? { kind: 'frame', frame: parsed.frame }
    : { kind: 'refused', code: parsed.code, reason: parsed.reason };
}

/** How many guests a snapshot reported (a delta sends only the changed ones). */
function guestCount(inventory: Inventory, delta: SnapshotDelta | undefined): number {
  return inventory.guests.length + (delta?.unchanged ?? 0);
}

function send(socket: WebSocket, frame: CollectorFrame): void {
  if (socket.readyState !== socket.OPEN) return;
  if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    socket.terminate();
    return;
  }
  socket.send(JSON.stringify(frame));
}
