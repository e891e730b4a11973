/**
 * Benchmark child: the baseline. A bare `ws` server with the collector's socket settings that only
 * JSON.parses each frame and answers as the protocol asks (welcome to hello, ack to inventory), so
 * the same load generator measures both end to end. No validation, no store, no evaluation.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { serveParent } from '../common.js';

const MAX_FRAME_BYTES = 1024 * 1024;
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
const counters = { framesAccepted: 0, framesRejected: 0, snapshotsStored: 0, connected: 0 };

server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    counters.connected++;
    ws.on('close', () => counters.connected--);
    ws.on('error', () => {});
    ws.on('message', (data) => {
      let frame: { type?: string; seq?: number };
      try {
        frame = JSON.parse(data.toString());
      } catch {
        counters.framesRejected++;
        return;
      }
      counters.framesAccepted++;
      if (frame.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', protocol: 1, interval: 60 }));
      else if (frame.type === 'inventory') {
        counters.snapshotsStored++;
        ws.send(JSON.stringify({ type: 'ack', seq: frame.seq }));
      }
    });
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

const gc = (globalThis as { gc?: () => void }).gc;

serveParent(
  {
    info: () => ({ url: `http://127.0.0.1:${port}`, agentUrl: `ws://127.0.0.1:${port}/agent` }),
    tokens: (args) => (args as { names: string[] }).names.map((n) => `bare-${n}`),
    counters: () => ({ ...counters }),
    memory: () => {
      gc?.();
      gc?.();
      return { ...process.memoryUsage(), gcExposed: gc !== undefined };
    },
  },
  async () => {
    for (const ws of wss.clients) ws.terminate();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  },
);
