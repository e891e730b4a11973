/**
 * Benchmark child: a load generator of simulated agents. Each is a real WebSocket client speaking
 * protocol v1 with its own token: hello, welcome, then inventories, each sent only after the
 * previous one was acknowledged (as the real agent does: at most one snapshot in flight).
 *
 * Commands: connect (open N agents, optionally send one snapshot each), run (every agent sends
 * snapshots back to back), pause (stop sending, wait for what is in flight), counters, close.
 */
import WebSocket from 'ws';
import { percentile, serveParent, sleep } from '../common.js';
import {
  DEFAULT_FLEET,
  type FrameTemplate,
  fillFrame,
  frameTemplate,
  helloFrame,
  inventoryOf,
  type SimAgent,
  simAgent,
  VARIANTS,
} from '../snapshots.js';

interface Peer {
  agent: SimAgent;
  ws: WebSocket;
  seq: number;
  templates: (FrameTemplate | undefined)[];
  sentAt: number;
  inFlight: boolean;
  acked: number;
}

export interface ConnectArgs {
  agentUrl: string;
  /** Agent indices in the simulated fleet and their tokens, pairwise. */
  indices: number[];
  tokens: string[];
  /** Send one snapshot per agent and wait for its ack. */
  snapshot: boolean;
  /** Keep every variant pre-serialised (throughput runs) or build each frame once (scale runs). */
  keepTemplates: boolean;
  /** Connections opened at once. */
  concurrency?: number;
  share?: number;
}

const peers: Peer[] = [];
let running = false;
let acks = 0;
let bytesSent = 0;
let errors = 0;
let latencies: number[] = [];
const closes = new Map<string, number>();
let share: number | undefined;
// A zero mask is valid (RFC 6455 5.3) and lets ws skip masking on this side; the server unmasks either way.
const zeroMask = (mask: Buffer) => {
  mask.fill(0);
};

function template(p: Peer, v: number, keep: boolean): FrameTemplate {
  const cached = p.templates[v];
  if (cached) return cached;
  const t = frameTemplate(inventoryOf(p.agent, v, share));
  if (keep) p.templates[v] = t;
  return t;
}

function sendNext(p: Peer, keep: boolean): void {
  p.seq++;
  const t = template(p, p.seq % VARIANTS, keep);
  p.inFlight = true;
  p.sentAt = performance.now();
  bytesSent += t.bytes;
  p.ws.send(fillFrame(t, p.seq, new Date().toISOString()));
}

/**
 * Each simulated agent connects from an address of its own in 127.0.0.0/8, as agents on their own
 * hosts do: the collector limits concurrent connections per remote address (64 by default).
 */
export function agentAddress(index: number): string {
  return `127.2.${Math.floor(index / 250)}.${1 + (index % 250)}`;
}

function open(agentUrl: string, index: number, token: string, onAck: (p: Peer) => void): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(agentUrl, {
      headers: { authorization: `Bearer ${token}` },
      localAddress: agentAddress(index),
      perMessageDeflate: false,
      generateMask: zeroMask,
    });
    const agent = simAgent(index, DEFAULT_FLEET);
    const p: Peer = { agent, ws, seq: 0, templates: [], sentAt: 0, inFlight: false, acked: 0 };
    let welcomed = false;
    ws.on('open', () => ws.send(helloFrame(agent)));
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; seq?: number; lastSeq?: number; code?: string };
      if (frame.type === 'welcome') {
        welcomed = true;
        p.seq = frame.lastSeq ?? 0;
        resolve(p);
      } else if (frame.type === 'ack') {
        p.inFlight = false;
        p.acked++;
        acks++;
        if (latencies.length < 200_000) latencies.push(performance.now() - p.sentAt);
        onAck(p);
      } else if (frame.type === 'error') {
        errors++;
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      errors++;
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    ws.on('error', (err) => {
      errors++;
      if (!welcomed) reject(err);
    });
    ws.on('close', (code) => {
      closes.set(String(code), (closes.get(String(code)) ?? 0) + 1);
      if (!welcomed) reject(new Error(`closed with ${code} before welcome`));
    });
  });
}

async function connect(args: ConnectArgs) {
  share = args.share;
  const started = performance.now();
  const concurrency = args.concurrency ?? 100;
  let next = 0;
  let failed = 0;
  const firstAcked = new Set<Peer>();
  const onAck = (p: Peer) => {
    if (running && !p.inFlight) sendNext(p, args.keepTemplates);
    else firstAcked.add(p);
  };
  const worker = async () => {
    while (next < args.indices.length) {
      const i = next++;
      try {
        const p = await open(args.agentUrl, args.indices[i], args.tokens[i], onAck);
        peers.push(p);
        if (args.snapshot) {
          sendNext(p, args.keepTemplates);
          const deadline = Date.now() + 60_000;
          while (!firstAcked.has(p) && Date.now() < deadline) await sleep(5);
          if (!firstAcked.has(p)) failed++;
        } else if (args.keepTemplates) {
          for (let v = 0; v < VARIANTS; v++) template(p, v, true);
        }
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, args.indices.length) }, worker));
  return {
    connected: peers.length,
    failed,
    ms: Math.round(performance.now() - started),
    frameBytes: peers.length
      ? Math.round(peers.reduce((s, p) => s + (p.templates[1]?.bytes ?? 0), 0) / peers.length)
      : 0,
    guests: peers.reduce((s, p) => s + p.agent.guests.length, 0),
  };
}

serveParent(
  {
    connect: (args) => connect(args as ConnectArgs),
    run: () => {
      running = true;
      for (const p of peers) if (!p.inFlight) sendNext(p, true);
      return peers.length;
    },
    pause: async () => {
      running = false;
      const deadline = Date.now() + 30_000;
      while (peers.some((p) => p.inFlight) && Date.now() < deadline) await sleep(10);
      return peers.filter((p) => p.inFlight).length;
    },
    counters: (args) => {
      const reset = (args as { resetLatency?: boolean } | undefined)?.resetLatency;
      const out = {
        acks,
        bytesSent,
        errors,
        closes: Object.fromEntries(closes),
        open: peers.filter((p) => p.ws.readyState === WebSocket.OPEN).length,
        /** Agents with at least one snapshot acknowledged in this process. */
        agentsAcked: peers.filter((p) => p.acked > 0).length,
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length },
      };
      if (reset) latencies = [];
      return out;
    },
    close: async () => {
      running = false;
      for (const p of peers) p.ws.close(1000, 'bench done');
      const deadline = Date.now() + 10_000;
      while (peers.some((p) => p.ws.readyState !== WebSocket.CLOSED) && Date.now() < deadline) await sleep(20);
      for (const p of peers) p.ws.terminate();
      peers.length = 0;
      return null;
    },
  },
  () => {
    for (const p of peers) p.ws.terminate();
  },
);
