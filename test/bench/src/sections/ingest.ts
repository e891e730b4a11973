/**
 * 1. Ingest: snapshots/s end to end (sent, stored, acknowledged) through the real collector, next
 *    to a bare `ws` server that only JSON.parses the same frames; each server in a child process of
 *    its own, the load generator in a third, so each one's CPU is counted apart.
 * 2. Scale: agents held connected at 1,000 / 5,000 / 10,000, with the collector's RSS per agent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type Child,
  MiB,
  median,
  type ProcSample,
  progress,
  readProc,
  round,
  sleep,
  startChild,
  waitUntil,
} from '../common.js';
import { type ProfileSummary, summarizeProfile } from '../profile.js';
import { agentName } from '../snapshots.js';

type ServerKind = 'collector' | 'bare-ws';

interface LoadCounters {
  acks: number;
  bytesSent: number;
  errors: number;
  closes: Record<string, number>;
  open: number;
  agentsAcked: number;
  latencyMs: { p50: number; p99: number; n: number };
}

export interface IngestWindow {
  server: ServerKind;
  rep: number;
  snapshotsPerSec: number;
  /** Server CPU time per snapshot, µs (user + system, from /proc). */
  serverCpuUsPerSnapshot: number;
  /** Server CPU use over the window, % of one core. */
  serverCpuPct: number;
  loadgenCpuPct: number;
  mbPerSec: number;
  ackLatencyMs: { p50: number; p99: number };
  errors: number;
}

export interface IngestResult {
  agents: number;
  guests: number;
  meanFrameBytes: number;
  warmupSec: number;
  windowSec: number;
  windows: IngestWindow[];
  collectorSnapshotsPerSec: number;
  bareSnapshotsPerSec: number;
  ratio: number;
  /** The same comparison in CPU per snapshot (bare ÷ collector): independent of the load generator. */
  cpuRatio: number;
  collectorCpuUsPerSnapshot: number;
  bareCpuUsPerSnapshot: number;
  loadgenSaturated: boolean;
  stored: { snapshotsStored: number; framesRejected: number; hosts: number; guests: number; changes: number };
  profile: ProfileSummary | null;
}

/** A collector on a fresh SQLite file under `dir`, or on `db` (a PostgreSQL URL); or the bare server. */
export async function startServer(
  kind: ServerKind,
  dir: string,
  extra: string[] = [],
  intervalSec = 60,
  db = path.join(dir, `collector-${Date.now()}.db`),
): Promise<Child> {
  if (kind === 'collector') {
    return startChild(
      './children/collector-server.js',
      [db, path.join(dir, `collector-${Date.now()}.log`), String(intervalSec)],
      { execArgv: extra },
    );
  }
  return startChild('./children/bare-server.js', [], { execArgv: extra });
}

/** Moments of a window: every agent acknowledged once (the warm-up begins), its start, its end. */
export type WindowMark = 'warm-up' | 'start' | 'end';

export async function oneWindow(
  kind: ServerKind,
  server: Child,
  agentUrl: string,
  tokens: string[],
  indices: number[],
  warmupMs: number,
  windowMs: number,
  rep: number,
  options: {
    profileFile?: string;
    /**
     * Awaited at each mark, next to the window's own readings: another server's window can be lined
     * up with this one, and readings of a shared database taken at the window's start and end.
     */
    atWindowMark?: (mark: WindowMark) => Promise<void>;
  } = {},
): Promise<{ window: IngestWindow; frameBytes: number; guests: number }> {
  const { profileFile, atWindowMark } = options;
  const gen = await startChild('./children/loadgen.js');
  try {
    const conn = await gen.call<{ connected: number; failed: number; frameBytes: number; guests: number }>('connect', {
      agentUrl,
      indices,
      tokens,
      snapshot: false,
      keepTemplates: true,
    });
    if (conn.failed) throw new Error(`${kind}: ${conn.failed} of ${indices.length} simulated agents could not connect`);
    await gen.call('run');
    // Steady state: every agent's first snapshot of this window (a host's first is all inserts) is
    // behind us before the warm-up starts.
    await waitUntil(
      async () => (await gen.call<LoadCounters>('counters')).agentsAcked >= indices.length,
      120_000,
      `a first ack for each of ${indices.length} agents`,
      250,
    );
    await atWindowMark?.('warm-up');
    await sleep(warmupMs);
    if (profileFile) await server.call('profileStart');
    await atWindowMark?.('start');
    const c0 = await gen.call<LoadCounters>('counters', { resetLatency: true });
    const s0 = readProc(server.pid);
    const l0 = readProc(gen.pid);
    await sleep(windowMs);
    const c1 = await gen.call<LoadCounters>('counters');
    const s1 = readProc(server.pid);
    const l1 = readProc(gen.pid);
    await atWindowMark?.('end');
    if (profileFile) await server.call('profileStop', { file: profileFile });
    await gen.call('pause');
    await gen.call('close');
    const seconds = (s1.at - s0.at) / 1000;
    const acks = c1.acks - c0.acks;
    const cpu = (a: ProcSample, b: ProcSample) => b.cpuMs - a.cpuMs;
    return {
      frameBytes: conn.frameBytes,
      guests: conn.guests,
      window: {
        server: kind,
        rep,
        snapshotsPerSec: round(acks / seconds),
        serverCpuUsPerSnapshot: round((cpu(s0, s1) * 1000) / Math.max(1, acks)),
        serverCpuPct: round((cpu(s0, s1) / (seconds * 1000)) * 100),
        loadgenCpuPct: round((cpu(l0, l1) / (seconds * 1000)) * 100),
        mbPerSec: round((c1.bytesSent - c0.bytesSent) / MiB / seconds, 1),
        ackLatencyMs: { p50: round(c1.latencyMs.p50, 2), p99: round(c1.latencyMs.p99, 2) },
        errors: c1.errors,
      },
    };
  } finally {
    await gen.stop();
  }
}

export async function runIngest(opts: {
  agents: number;
  reps: number;
  warmupMs: number;
  windowMs: number;
  profile: boolean;
  profileDir: string;
}): Promise<IngestResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-bench-ingest-'));
  const collector = await startServer('collector', dir);
  const bare = await startServer('bare-ws', dir);
  try {
    const indices = Array.from({ length: opts.agents }, (_, i) => i);
    const names = indices.map(agentName);
    const servers = {
      collector: {
        child: collector,
        tokens: await collector.call<string[]>('tokens', { names }),
        url: (await collector.call<{ agentUrl: string }>('info')).agentUrl,
      },
      'bare-ws': {
        child: bare,
        tokens: await bare.call<string[]>('tokens', { names }),
        url: (await bare.call<{ agentUrl: string }>('info')).agentUrl,
      },
    };
    const windows: IngestWindow[] = [];
    let frameBytes = 0;
    let guests = 0;
    for (let rep = 0; rep < opts.reps; rep++) {
      // Alternate the order: whatever else runs on the machine weighs on both alike.
      const order: ServerKind[] = rep % 2 ? ['collector', 'bare-ws'] : ['bare-ws', 'collector'];
      for (const kind of order) {
        const s = servers[kind];
        const r = await oneWindow(kind, s.child, s.url, s.tokens, indices, opts.warmupMs, opts.windowMs, rep);
        windows.push(r.window);
        frameBytes = r.frameBytes;
        guests = r.guests;
        progress(
          `ingest rep ${rep + 1}/${opts.reps} ${kind}: ${r.window.snapshotsPerSec} snapshots/s, ` +
            `${r.window.serverCpuUsPerSnapshot} µs CPU each, server ${r.window.serverCpuPct}% / load generator ${r.window.loadgenCpuPct}% of a core`,
        );
      }
    }
    let profile: ProfileSummary | null = null;
    if (opts.profile) {
      const file = path.join(opts.profileDir, 'collector-ingest.cpuprofile');
      progress('ingest: profiling the collector under the same load (not counted in the figures)');
      const s = servers.collector;
      await oneWindow('collector', s.child, s.url, s.tokens, indices, opts.warmupMs, opts.windowMs, -1, {
        profileFile: file,
      });
      profile = summarizeProfile(file);
    }
    const counters = await collector.call<{ snapshotsStored: number; framesRejected: number }>('counters');
    const rows = await collector.call<{ hosts: number; guests: number; changes: number }>('rows');
    const of = (kind: ServerKind) => windows.filter((w) => w.server === kind);
    const collectorRate = median(of('collector').map((w) => w.snapshotsPerSec));
    const bareRate = median(of('bare-ws').map((w) => w.snapshotsPerSec));
    const collectorCpu = median(of('collector').map((w) => w.serverCpuUsPerSnapshot));
    const bareCpu = median(of('bare-ws').map((w) => w.serverCpuUsPerSnapshot));
    return {
      agents: opts.agents,
      guests,
      meanFrameBytes: frameBytes,
      warmupSec: opts.warmupMs / 1000,
      windowSec: opts.windowMs / 1000,
      windows,
      collectorSnapshotsPerSec: collectorRate,
      bareSnapshotsPerSec: bareRate,
      ratio: round(collectorRate / bareRate, 2),
      cpuRatio: round(bareCpu / collectorCpu, 2),
      collectorCpuUsPerSnapshot: collectorCpu,
      bareCpuUsPerSnapshot: bareCpu,
      // A load generator near a full core means the baseline may be held back by it, not by ws.
      loadgenSaturated: of('bare-ws').some((w) => w.loadgenCpuPct >= 90),
      stored: {
        snapshotsStored: counters.snapshotsStored,
        framesRejected: counters.framesRejected,
        ...rows,
      },
      profile,
    };
  } finally {
    await collector.stop();
    await bare.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ScalePoint {
  agents: number;
  connected: number;
  rssMiB: number;
  heapUsedMiB: number;
  /** (RSS − RSS with no agent) ÷ agents. */
  rssPerAgentKiB: number;
  connectSec: number;
  /** CPU while the agents are connected and idle (pings, the alerts' silence check), % of a core. */
  idleCpuPct: number;
}

export interface ScaleResult {
  guestsPerAgentMean: number;
  collector: { baseRssMiB: number; points: ScalePoint[]; error?: string; guests: number };
  bare: { baseRssMiB: number; points: ScalePoint[]; error?: string; guests: number };
}

/** Agents connected (hello, one snapshot, acked, then idle) in steps; RSS after a full GC at each. */
async function holdSteps(kind: ServerKind, dir: string, steps: number[], perLoadgen: number, idleMs: number) {
  const server = await startServer(kind, dir, ['--expose-gc', '--max-old-space-size=8192']);
  const loadgens: Child[] = [];
  const points: ScalePoint[] = [];
  let baseRssMiB = 0;
  let error: string | undefined;
  let guests = 0;
  try {
    const max = steps[steps.length - 1];
    const names = Array.from({ length: max }, (_, i) => agentName(i));
    const tokens = await server.call<string[]>('tokens', { names });
    const { agentUrl } = await server.call<{ agentUrl: string }>('info');
    await server.call('memory');
    await sleep(300);
    baseRssMiB = round(readProc(server.pid).rssBytes / MiB, 1);
    let held = 0;
    for (const target of steps) {
      const started = performance.now();
      while (held < target) {
        const count = Math.min(perLoadgen, target - held);
        const gen = await startChild('./children/loadgen.js');
        loadgens.push(gen);
        const indices = Array.from({ length: count }, (_, i) => held + i);
        const r = await gen.call<{ connected: number; failed: number; guests: number }>(
          'connect',
          {
            agentUrl,
            indices,
            tokens: indices.map((i) => tokens[i]),
            snapshot: true,
            keepTemplates: false,
            concurrency: 64,
          },
          900_000,
        );
        if (r.failed) throw new Error(`${r.failed} of ${count} agents failed to connect or store their snapshot`);
        held += count;
        guests += r.guests;
      }
      const connectSec = (performance.now() - started) / 1000;
      const mem = await server.call<{ heapUsed: number }>('memory');
      await sleep(500);
      const { connected } = await server.call<{ connected: number }>('counters');
      const idle0 = readProc(server.pid);
      await sleep(idleMs);
      const idle1 = readProc(server.pid);
      const rss = idle0.rssBytes;
      const point: ScalePoint = {
        idleCpuPct: round(((idle1.cpuMs - idle0.cpuMs) / (idle1.at - idle0.at)) * 100, 1),
        agents: target,
        connected,
        rssMiB: round(rss / MiB, 1),
        heapUsedMiB: round(mem.heapUsed / MiB, 1),
        rssPerAgentKiB: round((rss - baseRssMiB * MiB) / 1024 / target, 1),
        connectSec: round(connectSec, 1),
      };
      points.push(point);
      progress(
        `scale ${kind}: ${connected} agents connected, RSS ${point.rssMiB} MiB (${point.rssPerAgentKiB} KiB per agent), heap ${point.heapUsedMiB} MiB, idle CPU ${point.idleCpuPct}%`,
      );
    }
  } catch (err) {
    error = (err as Error).message;
    progress(`scale ${kind}: stopped: ${error}`);
  } finally {
    for (const g of loadgens) await g.stop();
    await server.stop(30_000);
  }
  return { baseRssMiB, points, error, guests };
}

export async function runScale(opts: {
  steps: number[];
  perLoadgen: number;
  bare: boolean;
  idleMs: number;
}): Promise<ScaleResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-bench-scale-'));
  try {
    const collector = await holdSteps('collector', dir, opts.steps, opts.perLoadgen, opts.idleMs);
    const bare = opts.bare
      ? await holdSteps('bare-ws', dir, opts.steps, opts.perLoadgen, opts.idleMs)
      : { baseRssMiB: 0, points: [], error: 'not measured in --quick', guests: 0 };
    const held = collector.points.at(-1)?.agents ?? 0;
    return { guestsPerAgentMean: held ? round(collector.guests / held) : 0, collector, bare };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
