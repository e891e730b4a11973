/**
 * 4. Freshness: a libvirt test-driver node file is edited; how long until the collector's map holds
 *    the change, with a real `hvmap-agent run` process scanning through the real `virsh` every second.
 * 5. Agent footprint: the same agent's RSS and CPU time per scan for 10 / 100 / 500 domains, and its
 *    CPU between scans while it watches libvirt's events (its `virsh event` child included).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AGENT_NODE_OPTIONS } from '../../../../agent/dist/config.js';
import { type DemoGuest, nodeXml } from '../../../../collector/dist/demo/fleet.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../chromium.js';
import {
  AGENT_CLI,
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
import { prng } from '../snapshots.js';

const RHEL_92_OS_RELEASE =
  'NAME="Red Hat Enterprise Linux"\nVERSION="9.2 (Plow)"\nID="rhel"\nVERSION_ID="9.2"\nPRETTY_NAME="Red Hat Enterprise Linux 9.2 (Plow)"\n';

const OSINFO = [
  'http://redhat.com/rhel/9.2',
  'http://redhat.com/rhel/8.6',
  'http://microsoft.com/win/2k19',
  'http://microsoft.com/win/2k22',
  'http://ubuntu.com/ubuntu/22.04',
  'http://centos.org/centos/7.0',
  'http://debian.org/debian/12',
];

function domains(n: number, seed: number): DemoGuest[] {
  const rand = prng(seed);
  return Array.from({ length: n }, (_, i) => ({
    name: `vm-${String(i + 1).padStart(3, '0')}`,
    uuid: `5f0c${String(seed).padStart(4, '0')}-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
    osinfo: rand() < 0.9 ? OSINFO[Math.floor(rand() * OSINFO.length)] : undefined,
    memoryMiB: 2048,
    vcpus: 2,
    running: rand() < 0.85,
  }));
}

function writeNode(file: string, guests: DemoGuest[]): void {
  writeFileSync(`${file}.tmp`, nodeXml({ name: 'bench', osRelease: RHEL_92_OS_RELEASE, guests }));
  renameSync(`${file}.tmp`, file);
}

interface AgentLine {
  time: number;
  msg: string;
  seq?: number;
}

interface AgentProcess {
  child: ChildProcess;
  lines: AgentLine[];
  output: () => string;
  stop(): Promise<void>;
}

/**
 * The real agent CLI under the Node options the installer gives it, scanning every `intervalSec`,
 * logging at debug (its `scanned` and `inventory sent` lines).
 */
function startAgent(agentUrl: string, token: string, nodeFile: string, dir: string, intervalSec = 1): AgentProcess {
  const root = path.join(dir, 'root');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(path.join(root, 'etc', 'os-release'), RHEL_92_OS_RELEASE);
  const child = spawn(
    process.execPath,
    [
      ...AGENT_NODE_OPTIONS,
      AGENT_CLI,
      'run',
      '--collector',
      agentUrl,
      '--libvirt-uri',
      `test://${nodeFile}`,
      '--state-dir',
      path.join(dir, 'state'),
      '--interval',
      String(intervalSec),
      '--root',
      root,
      '--log-level',
      'debug',
    ],
    { env: { ...process.env, HVMAP_TOKEN: token }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const lines: AgentLine[] = [];
  let raw = '';
  let rest = '';
  child.stderr?.on('data', (d: Buffer) => {
    const text = rest + d.toString();
    const parts = text.split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      if (raw.length < 200_000) raw += `${line}\n`;
      try {
        const j = JSON.parse(line) as AgentLine;
        if (j.msg === 'scanned' || j.msg === 'inventory sent') lines.push({ time: j.time, msg: j.msg, seq: j.seq });
      } catch {
        // Not a log line (a crash trace): kept in the raw output.
      }
    }
  });
  return {
    child,
    lines,
    output: () => raw,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** An open live page in headless Chromium (playwright-core), when both are here and the collector serves one. */
interface OpenPage {
  /** Resolves with Date.now() when the guest's OS cell shows `text`. */
  shows(guest: string, text: string): Promise<number>;
  close(): Promise<void>;
}

async function openLivePage(url: string, dir: string): Promise<OpenPage | string> {
  if (!existsSync(CHROMIUM)) return `not measured: no Chromium at ${CHROMIUM}`;
  const web = await fetch(`${url}/`).catch(() => null);
  if (!web?.ok || !(web.headers.get('content-type') ?? '').includes('html')) {
    return 'not measured: the collector serves no web page at / in this build';
  }
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch {
    return 'not measured: playwright-core is not installed';
  }
  const browser = await pw.chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(`${url}/#/guests`);
  await page.locator('table.guests tbody tr[data-name]').first().waitFor({ timeout: 20_000 });
  return {
    async shows(guest, text) {
      await page.waitForFunction(
        ([name, want]) =>
          document.querySelector(`table.guests tr[data-name="${name}"] td.os`)?.textContent?.includes(want) ?? false,
        [guest, text] as const,
        { polling: 10, timeout: 20_000 },
      );
      return Date.now();
    },
    close: () => browser.close(),
  };
}

interface ChangeEvent {
  at: number;
  agent: string;
  changes: { kind: string; guest: string | null; new: string | null }[];
}

export interface FreshnessResult {
  intervalSec: number;
  domains: number;
  edits: number;
  /** Edit → the change in the collector's live map (its `changes` event), ms. */
  totalMs: { median: number; max: number };
  /** Edit → the agent sent the snapshot holding it: waiting for the next scan, and that scan. */
  toScanMs: { median: number; max: number };
  /** total − toScan: transport, validation, evaluation, store, to the live map. */
  beyondScanMs: { median: number; max: number };
  /** Edit → first poll of /api/report (every 25 ms) that shows the change, and the same beyond the scan. */
  apiTotalMs: { median: number; max: number };
  apiBeyondScanMs: { median: number; max: number };
  scanDurationMs: number;
  /** Edit → the open page (Chromium) shows the new OS, and the same beyond the scan; null when not measured. */
  pageTotalMs: { median: number; max: number } | null;
  pageBeyondScanMs: { median: number; max: number } | null;
  webPage: string;
  samples: { totalMs: number; toScanMs: number; beyondScanMs: number; apiMs: number; pageMs: number | null }[];
}

export interface AgentFootprint {
  domains: number;
  scans: number;
  rssMiB: { steady: number; peak: number };
  /** CPU per scan: the agent process itself and the virsh processes it ran, ms. */
  cpuMsPerScan: { agent: number; virsh: number; total: number };
  scanWallMs: number;
}

async function withCollector<T>(dir: string, f: (c: Child, agentUrl: string, url: string) => Promise<T>): Promise<T> {
  const c = await startChild('./children/collector-server.js', [
    path.join(dir, 'live.db'),
    path.join(dir, 'collector.log'),
    '1',
  ]);
  try {
    const info = await c.call<{ agentUrl: string; url: string }>('info');
    await c.call('emitChanges');
    return await f(c, info.agentUrl, info.url);
  } finally {
    await c.stop();
  }
}

const stats = (v: number[]) => ({ median: round(median(v)), max: round(Math.max(...v)) });

export async function runFreshness(opts: { edits: number }): Promise<FreshnessResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-bench-fresh-'));
  try {
    return await withCollector(dir, async (c, agentUrl, url) => {
      const events: ChangeEvent[] = [];
      c.onEvent((e) => {
        if (e.event === 'changes') events.push(e.data as ChangeEvent);
      });
      const [token] = await c.call<string[]>('tokens', { names: ['fresh-kvm'] });
      const nodeFile = path.join(dir, 'node.xml');
      const guests = domains(20, 1);
      writeNode(nodeFile, guests);
      const agent = startAgent(agentUrl, token, nodeFile, dir);
      try {
        await waitUntil(() => events.some((e) => e.agent === 'fresh-kvm'), 30_000, 'the first snapshot').catch(
          (err) => {
            throw new Error(`${err.message}\nagent output:\n${agent.output().slice(-3000)}`);
          },
        );
        const page = await openLivePage(url, dir).catch((err: Error) => `not measured: ${err.message.split('\n')[0]}`);
        await sleep(1500);
        const rand = prng(77);
        const samples: FreshnessResult['samples'] = [];
        for (let i = 0; i < opts.edits; i++) {
          // A random phase against the scan loop: edits land anywhere between two scans.
          await sleep(Math.floor(rand() * 1000));
          const g = guests[i % guests.length];
          const target =
            g.osinfo === 'http://redhat.com/rhel/9.4' ? 'http://redhat.com/rhel/9.2' : 'http://redhat.com/rhel/9.4';
          g.osinfo = target;
          const wantOs = target.endsWith('9.4') ? 'rhel-9.4' : 'rhel-9.2';
          const firstEvent = events.length;
          writeNode(nodeFile, guests);
          const edited = Date.now();
          const onPage =
            typeof page === 'string'
              ? Promise.resolve(null)
              : page.shows(g.name, target.endsWith('9.4') ? '9.4' : '9.2');
          let apiAt = 0;
          const polling = (async () => {
            const deadline = Date.now() + 20_000;
            while (Date.now() < deadline) {
              const r = (await (await fetch(`${url}/api/report`)).json()) as {
                guests: { name: string; os: { id: string } | null; removedAt: string | null }[];
              };
              if (r.guests.some((x) => x.name === g.name && !x.removedAt && x.os?.id === wantOs)) {
                apiAt = Date.now();
                return;
              }
              await sleep(25);
            }
          })();
          const match = (e: ChangeEvent) =>
            e.agent === 'fresh-kvm' && e.changes.some((ch) => ch.guest === g.name && ch.kind === 'os-changed');
          await waitUntil(() => events.slice(firstEvent).some(match), 20_000, `edit ${i + 1} on the map`);
          await polling;
          const pageAt = await onPage;
          const mapAt = (events.slice(firstEvent).find(match) as ChangeEvent).at;
          const sent = agent.lines.find((l) => l.msg === 'inventory sent' && l.time >= edited);
          if (!sent || !apiAt) throw new Error(`edit ${i + 1}: no inventory sent or not seen by /api/report`);
          samples.push({
            totalMs: mapAt - edited,
            toScanMs: sent.time - edited,
            beyondScanMs: mapAt - sent.time,
            apiMs: apiAt - edited,
            pageMs: pageAt === null ? null : pageAt - edited,
          });
          progress(
            `freshness edit ${i + 1}/${opts.edits}: map after ${mapAt - edited} ms (${sent.time - edited} ms waiting for and running the scan, ${mapAt - sent.time} ms beyond it)`,
          );
        }
        const scans = agent.lines.filter((l) => l.msg === 'scanned').map((l) => l.time);
        const gaps = scans.slice(1).map((t, i) => t - scans[i] - 1000);
        if (typeof page !== 'string') await page.close();
        const pageSamples = samples.filter((x) => x.pageMs !== null);
        return {
          intervalSec: 1,
          domains: guests.length,
          edits: samples.length,
          totalMs: stats(samples.map((s) => s.totalMs)),
          toScanMs: stats(samples.map((s) => s.toScanMs)),
          beyondScanMs: stats(samples.map((s) => s.beyondScanMs)),
          apiTotalMs: stats(samples.map((s) => s.apiMs)),
          apiBeyondScanMs: stats(samples.map((s) => s.apiMs - s.toScanMs)),
          scanDurationMs: round(median(gaps)),
          pageTotalMs: pageSamples.length ? stats(pageSamples.map((x) => x.pageMs as number)) : null,
          pageBeyondScanMs: pageSamples.length
            ? stats(pageSamples.map((x) => (x.pageMs as number) - x.toScanMs))
            : null,
          webPage:
            typeof page === 'string'
              ? page
              : 'the live page (#/guests) in headless Chromium, following /live; the OS cell polled every 10 ms in the page',
          samples,
        };
      } finally {
        await agent.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** RSS of a Node process that does nothing (the floor under any agent written in Node), MiB. */
export async function idleNodeRssMiB(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await sleep(1000);
    return round(readProc(child.pid ?? -1).rssBytes / MiB, 1);
  } finally {
    child.kill('SIGKILL');
  }
}

export async function runAgentFootprint(opts: { sizes: number[]; scans: number }): Promise<AgentFootprint[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-bench-agent-'));
  try {
    return await withCollector(dir, async (c, agentUrl) => {
      const out: AgentFootprint[] = [];
      for (const n of opts.sizes) {
        const name = `footprint-${n}`;
        const [token] = await c.call<string[]>('tokens', { names: [name] });
        const sub = path.join(dir, name);
        mkdirSync(sub, { recursive: true });
        const nodeFile = path.join(sub, 'node.xml');
        writeNode(nodeFile, domains(n, n));
        const agent = startAgent(agentUrl, token, nodeFile, sub);
        try {
          const pid = agent.child.pid ?? -1;
          const scanned = () => agent.lines.filter((l) => l.msg === 'scanned').length;
          // Warm up: the first scan (and the first snapshot sent) is not counted.
          await waitUntil(() => scanned() >= 2, 120_000, `two scans of ${n} domains`).catch((err) => {
            throw new Error(`${err.message}\nagent output:\n${agent.output().slice(-3000)}`);
          });
          let start: ProcSample | null = null;
          let startScans = 0;
          let startTime = 0;
          let last = readProc(pid);
          const rss: number[] = [last.rssBytes];
          const deadline = Date.now() + 180_000;
          let seen = scanned();
          while (Date.now() < deadline) {
            await sleep(5);
            const now = scanned();
            if (performance.now() - last.at > 100) {
              last = readProc(pid);
              rss.push(last.rssBytes);
            }
            if (now === seen) continue;
            seen = now;
            // Read right after a scan ended: CPU counted from one scan boundary to another.
            const s = readProc(pid);
            if (!start) {
              start = s;
              startScans = now;
              startTime = agent.lines.filter((l) => l.msg === 'scanned')[now - 1].time;
            } else if (now - startScans >= opts.scans) {
              const scans = now - startScans;
              const endTime = agent.lines.filter((l) => l.msg === 'scanned')[now - 1].time;
              const agentMs = (s.cpuMs - start.cpuMs) / scans;
              const virshMs = (s.childCpuMs - start.childCpuMs) / scans;
              out.push({
                domains: n,
                scans,
                rssMiB: { steady: round(median(rss) / MiB, 1), peak: round(s.hwmBytes / MiB, 1) },
                cpuMsPerScan: { agent: round(agentMs), virsh: round(virshMs), total: round(agentMs + virshMs) },
                // The loop sleeps the interval (1 s) between the end of a scan and the next.
                scanWallMs: round((endTime - startTime) / scans - 1000),
              });
              progress(
                `agent ${n} domains: RSS ${round(median(rss) / MiB, 1)} MiB (peak ${round(s.hwmBytes / MiB, 1)}), CPU per scan ${round(agentMs)} ms agent + ${round(virshMs)} ms virsh`,
              );
              break;
            }
          }
          if (out.at(-1)?.domains !== n) throw new Error(`agent with ${n} domains: no ${opts.scans} scans in time`);
        } finally {
          await agent.stop();
        }
      }
      return out;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface AgentIdle {
  domains: number;
  intervalSec: number;
  windowSec: number;
  /** Percent of one core over the window: the agent process, and its running `virsh event` child. */
  cpuPercent: { agent: number; watch: number; total: number };
}

/** The live children of a process (the agent's `virsh event --loop`). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The agent between two scans (interval 60 s, 50 domains): connected, watching libvirt's events
 * through a running `virsh event --all --loop`, nothing changing. Its own CPU and its watcher's,
 * over a window that starts after the first scan and ends before the second.
 */
export async function runAgentIdle(opts: { windowSec: number }): Promise<AgentIdle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-bench-idle-'));
  const intervalSec = 60;
  const domainCount = 50;
  try {
    return await withCollector(dir, async (c, agentUrl) => {
      const [token] = await c.call<string[]>('tokens', { names: ['idle-kvm'] });
      const nodeFile = path.join(dir, 'node.xml');
      writeNode(nodeFile, domains(domainCount, 9));
      const agent = startAgent(agentUrl, token, nodeFile, dir, intervalSec);
      try {
        const pid = agent.child.pid ?? -1;
        await waitUntil(() => agent.lines.some((l) => l.msg === 'inventory sent'), 60_000, 'the first snapshot');
        await waitUntil(() => childPids(pid).length > 0, 10_000, 'the virsh event watcher');
        await sleep(2000);
        const [watcher] = childPids(pid);
        const first = { agent: readProc(pid), watch: readProc(watcher) };
        await sleep(opts.windowSec * 1000);
        const last = { agent: readProc(pid), watch: readProc(watcher) };
        const scans = agent.lines.filter((l) => l.msg === 'scanned').length;
        if (scans !== 1) throw new Error(`expected no scan in the window, saw ${scans - 1}`);
        const percent = (a: ProcSample, b: ProcSample) => round(((b.cpuMs - a.cpuMs) / (b.at - a.at)) * 100, 2);
        const cpu = { agent: percent(first.agent, last.agent), watch: percent(first.watch, last.watch) };
        progress(`agent idle, watching: ${cpu.agent} % + ${cpu.watch} % of a core over ${opts.windowSec} s`);
        return {
          domains: domainCount,
          intervalSec,
          windowSec: opts.windowSec,
          cpuPercent: { ...cpu, total: round(cpu.agent + cpu.watch, 2) },
        };
      } finally {
        await agent.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
