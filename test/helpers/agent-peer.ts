import type { CollectorFrame } from '@hvmap/shared';
import { WebSocket } from 'ws';

export type AgentPeer = Awaited<ReturnType<typeof connectPeer>>;

/**
 * A raw protocol v1 peer for tests: sends whatever frames a test gives it (valid or not), collects
 * the collector's frames and tells how the socket ended. An HTTP refusal rejects with its status.
 */
export async function connectPeer(
  agentUrl: string,
  bearer: string | null,
  /** `localAddress`: connect from this address (any of 127.0.0.0/8 on Linux); `ca`: for wss://. */
  options: { localAddress?: string; ca?: string } = {},
) {
  const ws = new WebSocket(agentUrl, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {}, ...options });
  const frames: CollectorFrame[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (d) => {
    frames.push(JSON.parse(d.toString()));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })),
    );
    ws.once('error', reject);
  });
  /** The next frame of a type, waiting for it if it has not come yet. */
  const next = async (type: CollectorFrame['type']): Promise<CollectorFrame> => {
    for (;;) {
      const found = frames.find((f) => f.type === type);
      if (found) {
        frames.splice(frames.indexOf(found), 1);
        return found;
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const send = (frame: unknown) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  return { ws, next, send, closed };
}
