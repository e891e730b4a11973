import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { FromFrameWorker, ToFrameWorker } from './frame-worker.js';
import type { FrameOutcome } from './snapshot-deltas.js';

/**
 * What became of a frame: the worker's outcome, or `lost` when the worker failed holding the frame's
 * only bytes (moved to it, not copied): the connection is closed and its agent sends it again.
 */
export type ReadOutcome = FrameOutcome | { kind: 'lost' };

/** A WebSocket frame's header: 2 bytes, 8 of extended length, 4 of mask (RFC 6455 §5.2). */
const MAX_HEADER_BYTES = 14;

/** Called with each frame of a connection, in order: what the worker made of it, and its bytes. */
export type FrameHandler = (outcome: ReadOutcome, bytes: Buffer) => void;

/**
 * The worker's module as built. From the sources (vitest), the build beside them: tests build first
 * (test/global-setup.ts), and a worker thread cannot load TypeScript on Node 20.
 */
function workerModule(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new URL(here.replace('/src/server/frame-reader.ts', '/dist/server/frame-worker.js'))
    : new URL('./frame-worker.js', here);
}

/**
 * Hands the agents' frames to the ingest worker, which parses, validates and compares them with the
 * connection's last snapshot (snapshot-deltas.ts), and gives each connection its frames back in
 * order. The main thread then skips the parse (~130 µs a bench snapshot) and the comparison of every
 * guest (~90 µs): test/bench NOTES §1. Should the worker fail, the frames waiting for it and all
 * later ones are handed over as `whole`, for the main thread to parse as it did before; so are those
 * read before the worker is ready.
 */
export class FrameReader {
  private worker: Worker | null;
  /**
   * Per open connection, its handler and the frames the worker has not answered yet: their bytes, or
   * null for those whose memory moved to the worker.
   */
  private readonly waiting = new Map<number, { handler: FrameHandler; bytes: (Buffer | null)[]; closed: boolean }>();
  private stopping = false;
  /** Whether the worker has loaded: until then (~300 ms), frames are read in the main thread. */
  private loaded = false;
  /** Settles once frames go to the worker (or never will: it failed). */
  readonly ready: Promise<void>;
  private markReady: () => void = () => {};

  /** `module`: the worker's code (tests give one that fails). */
  constructor(
    private readonly logger: Logger,
    module: URL = workerModule(),
  ) {
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
    // A young generation of 4 MiB instead of V8's default: the worker's garbage is frames that live
    // one parse, and at 10,000 agents the default kept 30–70 MiB more RSS (test/bench NOTES §2).
    this.worker = new Worker(module, { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    this.worker.unref();
    this.worker.on('message', (message: FromFrameWorker) => {
      if ('ready' in message) {
        this.loaded = true;
        this.markReady();
        return;
      }
      const { connection, outcome, bytes } = message;
      const open = this.waiting.get(connection);
      if (!open || open.bytes.shift() === undefined) return;
      if (open.closed && open.bytes.length === 0) this.waiting.delete(connection);
      open.handler(outcome, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
    this.worker.on('error', (err) => this.fallBack(err.message));
    this.worker.on('exit', (code) => this.fallBack(`ingest worker exited (${code})`));
  }

  open(connection: number, handler: FrameHandler): void {
    this.waiting.set(connection, { handler, bytes: [], closed: false });
  }

  read(connection: number, data: Buffer): void {
    const open = this.waiting.get(connection);
    if (!open || open.closed) return;
    if (!this.worker || !this.loaded) {
      open.handler({ kind: 'whole' }, data);
      return;
    }
    // The frame's memory moves to the worker and back with its answer, when that memory holds
    // nothing else ws or another frame could still read: the frame ends where it ends, and only a
    // WebSocket header (at most 14 bytes, ws done with it) is before it. Under the bench's load a
    // socket read is one whole frame, header and all: every 34 KiB snapshot moves. Another frame (a
    // view of a read with more in it) moves as a copy, ~11–38 µs of this thread against ~3–5.
    const memory = data.buffer;
    const moved =
      memory instanceof ArrayBuffer &&
      data.byteLength > 0 &&
      data.byteOffset <= MAX_HEADER_BYTES &&
      data.byteOffset + data.byteLength === memory.byteLength;
    const bytes = moved ? new Uint8Array(memory, data.byteOffset, data.byteLength) : new Uint8Array(data);
    open.bytes.push(moved ? null : data);
    this.worker.postMessage({ connection, bytes } satisfies ToFrameWorker, [bytes.buffer]);
  }

  /** The connection's next snapshot is compared with nothing (the store did not take its last). */
  reset(connection: number): void {
    this.worker?.postMessage({ forget: connection } satisfies ToFrameWorker);
  }

  /**
   * No more frames come from this connection. Those it sent before are still handed over: a snapshot
   * received in full is stored even if its agent is gone before the ack (test/e2e/faults).
   */
  close(connection: number): void {
    const open = this.waiting.get(connection);
    if (!open) return;
    open.closed = true;
    if (open.bytes.length === 0) this.waiting.delete(connection);
    this.reset(connection);
  }

  stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    this.worker = null;
    return worker ? worker.terminate().then(() => undefined) : Promise.resolve();
  }

  private fallBack(reason: string): void {
    if (this.stopping || !this.worker) return;
    this.worker = null;
    this.markReady();
    this.logger.warn({ code: 'INGEST_WORKER_FAILED', err: reason }, 'frames are read in the main thread again');
    for (const [connection, open] of this.waiting) {
      for (const bytes of open.bytes.splice(0))
        open.handler(bytes ? { kind: 'whole' } : { kind: 'lost' }, bytes ?? Buffer.alloc(0));
      if (open.closed) this.waiting.delete(connection);
    }
  }
}
