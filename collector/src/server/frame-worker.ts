/**
 * The ingest worker: reads agents' frames off the collector's main thread (frame-reader.ts). It
 * answers every frame it is given, in order, with what `SnapshotDeltas` made of it.
 */
import { parentPort } from 'node:worker_threads';
import { type FrameOutcome, SnapshotDeltas } from './snapshot-deltas.js';

export type ToFrameWorker = { connection: number; bytes: Uint8Array<ArrayBuffer> } | { forget: number };
/** The frame's bytes go back with its outcome (moved, not copied): the main thread may parse them. */
export type FromFrameWorker =
  | { connection: number; outcome: FrameOutcome; bytes: Uint8Array<ArrayBuffer> }
  | { ready: true };

const deltas = new SnapshotDeltas();
const port = parentPort;
if (!port) throw new Error('frame-worker.js runs as a worker thread');
port.on('message', (message: ToFrameWorker) => {
  if ('forget' in message) return deltas.forget(message.forget);
  const { connection, bytes } = message;
  let outcome: FrameOutcome;
  try {
    outcome = deltas.read(connection, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch {
    // Not a verdict on the frame: the main thread reads it itself, and the next one starts afresh.
    deltas.forget(connection);
    outcome = { kind: 'whole' };
  }
  port.postMessage({ connection, outcome, bytes } satisfies FromFrameWorker, [bytes.buffer]);
});
// Loading the schemas takes ~300 ms (~600 on a busy machine): frames are read in the main thread until then.
port.postMessage({ ready: true } satisfies FromFrameWorker);
