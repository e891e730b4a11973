import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FrameReader, type ReadOutcome } from './frame-reader.js';

const hello = { type: 'hello', protocol: 1, agentId: 'agent-A', agentVersion: '0.1.0', hostname: 'kvm-01' };
const snapshot = (seq: number, states: string[]) => ({
  type: 'inventory',
  seq,
  collectedAt: '2026-12-04T10:00:00.000Z',
  host: { hostname: 'kvm-01', os: { platform: 'linux' }, cpu: {} },
  hypervisor: { driver: 'libvirt', product: 'kvm', version: '8.2.0' },
  guests: states.map((state, i) => ({ uuid: `u-${i}`, name: `vm${i}`, state, os: { evidence: [] } })),
  errors: [],
  partial: false,
});
/** A small frame's bytes: a view of Node's shared pool, so the reader sends the worker a copy. */
const bytes = (frame: unknown) => Buffer.from(JSON.stringify(frame));
/**
 * A frame's bytes at the end of memory of their own, after `header` bytes: a socket read holding one
 * whole frame (its header 8 bytes for 126 B to 64 KiB). They move to the worker when only a header
 * can be before them, else a copy does.
 */
const owned = (frame: unknown, header = 8, after = 0) => {
  const text = JSON.stringify(frame);
  const memory = Buffer.alloc(header + Buffer.byteLength(text) + after);
  memory.write(text, header);
  return memory.subarray(header, memory.length - after);
};

/** What each connection's handler was given, in order: the outcome's kind, and the frame's seq or type. */
function recorder(reader: FrameReader, connections: number[]) {
  const seen = new Map<number, string[]>(connections.map((c) => [c, []]));
  let count = 0;
  let wake: () => void = () => {};
  for (const c of connections)
    reader.open(c, (outcome: ReadOutcome, data) => {
      const frame =
        outcome.kind === 'refused'
          ? { type: outcome.code }
          : outcome.kind === 'lost'
            ? { type: `(${data.byteLength} bytes)` }
            : JSON.parse(data.toString());
      const unchanged = outcome.kind === 'frame' && outcome.delta ? ` unchanged ${outcome.delta.unchanged}` : '';
      seen.get(c)?.push(`${outcome.kind} ${frame.seq ?? frame.type}${unchanged}`);
      count++;
      wake();
    });
  const until = (n: number) =>
    new Promise<void>((resolve) => {
      wake = () => count >= n && resolve();
      wake();
    });
  return { seen, until };
}

/** A reader whose worker loads, then answers each frame with `onMessage` (JavaScript source); its warnings. */
async function readerWhoseWorker(onMessage: string) {
  const warnings: unknown[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) });
  const source = `import { parentPort } from 'node:worker_threads'; parentPort.on('message', ${onMessage}); parentPort.postMessage({ ready: true });`;
  const reader = new FrameReader(logger, new URL(`data:text/javascript,${encodeURIComponent(source)}`));
  await reader.ready;
  return { reader, warnings };
}

describe('FrameReader', () => {
  it("gives each connection its frames in order, snapshots after a connection's first as deltas", async () => {
    const reader = new FrameReader(pino({ level: 'silent' }));
    const { seen, until } = recorder(reader, [1, 2]);
    // Before the worker has loaded, frames are read in the main thread.
    reader.read(1, bytes(snapshot(0, ['running'])));
    expect(seen.get(1)).toEqual(['whole 0']);
    await reader.ready;
    reader.read(1, bytes(hello));
    reader.read(2, bytes(hello));
    reader.read(1, bytes(snapshot(1, ['running', 'running'])));
    reader.read(2, bytes(snapshot(5, ['running'])));
    // Its memory moves to the worker, and comes back with the answer.
    const moving = owned(snapshot(2, ['running', 'shutoff']));
    reader.read(1, moving);
    expect(moving.byteLength).toBe(0);
    // More than a header before it, or anything after it: another frame's bytes, which stay.
    for (const [header, after] of [
      [15, 0],
      [8, 1],
    ]) {
      const staying = owned(hello, header, after);
      reader.read(2, staying);
      expect(staying.byteLength).toBeGreaterThan(0);
    }
    reader.read(1, Buffer.from('{"type":'));
    await until(9);
    expect(seen.get(1)).toEqual(['whole 0', 'frame hello', 'whole 1', 'frame 2 unchanged 1', 'refused BAD_JSON']);
    expect(seen.get(2)).toEqual(['frame hello', 'whole 5', 'frame hello', 'frame hello']);
    // A connection closed with a frame still in the worker: that frame is handed over, later ones not.
    reader.read(2, bytes(snapshot(6, ['running'])));
    reader.close(2);
    reader.read(2, bytes(snapshot(7, ['running'])));
    // Reset: the next snapshot compares with nothing.
    reader.reset(1);
    reader.read(1, bytes(snapshot(3, ['running', 'shutoff'])));
    await until(11);
    expect(seen.get(1)?.at(-1)).toBe('whole 3');
    expect(seen.get(2)).toEqual(['frame hello', 'whole 5', 'frame hello', 'frame hello', 'frame 6 unchanged 1']);
    await reader.stop();
  });

  it('hands frames over whole, in order, once the worker fails, and says so once', async () => {
    const { reader, warnings } = await readerWhoseWorker("() => { throw new Error('worker broke'); }");
    const { seen, until } = recorder(reader, [1]);
    reader.read(1, bytes(hello));
    reader.read(1, bytes(snapshot(1, ['running'])));
    reader.read(1, bytes(snapshot(2, ['running'])));
    await until(3);
    reader.read(1, bytes(snapshot(3, ['running'])));
    expect(seen.get(1)).toEqual(['whole hello', 'whole 1', 'whole 2', 'whole 3']);
    expect(warnings).toEqual([
      expect.objectContaining({ code: 'INGEST_WORKER_FAILED', err: expect.stringContaining('worker broke') }),
    ]);
    await reader.stop();
  });

  it('says which frames were lost with a worker that died holding their only bytes', async () => {
    const { reader, warnings } = await readerWhoseWorker('() => process.exit(3)');
    const { seen, until } = recorder(reader, [1]);
    reader.read(1, bytes(hello));
    reader.read(1, owned(snapshot(1, ['running'])));
    reader.read(1, bytes(snapshot(2, ['running'])));
    await until(3);
    expect(seen.get(1)).toEqual(['whole hello', 'lost (0 bytes)', 'whole 2']);
    expect(warnings).toEqual([
      expect.objectContaining({ code: 'INGEST_WORKER_FAILED', err: 'ingest worker exited (3)' }),
    ]);
    await reader.stop();
  });
});
