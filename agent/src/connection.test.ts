import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type AgentFrame,
  CLOSE_CODES,
  type CollectorFrame,
  type Guest,
  type Hello,
  type HostFacts,
  type Inventory,
} from '@hvmap/shared';
import { parseAgentFrame } from '@hvmap/shared/schema';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { type AgentOptions, backoffDelay, type RunningAgent, runAgent, WATCH_DEBOUNCE_MS } from './connection.js';
import type { Driver, Watch } from './drivers/driver.js';
import { createLogger } from './logger.js';
import type { Runner } from './runner.js';
import { SPOOL_FILE } from './spool.js';

const TOKEN = 'tok-3f9a1c77-very-secret';

interface CollectorOptions {
  port?: number;
  /** Acknowledge every inventory at once. */
  autoAck?: boolean;
  interval?: number;
  lastSeq?: number;
  /** Answer hello with welcome; false plays a collector stuck before welcome. */
  welcome?: boolean;
  /** Answer pings; false plays a collector whose link died without a FIN. */
  autoPong?: boolean;
}

/** The collector's side of protocol v1, as small as the tests need, on a real socket. */
class FakeCollector {
  readonly frames: AgentFrame[] = [];
  /** Frames the protocol schema refused: any would be a bug in the agent. */
  readonly invalid: string[] = [];
  upgrades = 0;
  refusedUpgrades = 0;
  private socket: WebSocket | null = null;

  private constructor(
    private readonly wss: WebSocketServer,
    private readonly options: CollectorOptions,
  ) {
    wss.on('connection', (ws) => {
      this.socket = ws;
      ws.on('message', (data) => this.receive(ws, data.toString()));
    });
  }

  static async start(options: CollectorOptions = {}): Promise<FakeCollector> {
    let collector: FakeCollector | undefined;
    const wss = new WebSocketServer({
      port: options.port ?? 0,
      host: '127.0.0.1',
      path: '/agent',
      autoPong: options.autoPong ?? true,
      verifyClient: ({ req }, done) => {
        if (collector) collector.upgrades++;
        if (req.headers.authorization === `Bearer ${TOKEN}`) return done(true);
        if (collector) collector.refusedUpgrades++;
        done(false, 401, 'Unauthorized');
      },
    });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    collector = new FakeCollector(wss, options);
    return collector;
  }

  get port(): number {
    return (this.wss.address() as AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/agent`;
  }

  get inventories(): Inventory[] {
    return this.frames.filter((f): f is Inventory => f.type === 'inventory');
  }

  get hellos(): Hello[] {
    return this.frames.filter((f): f is Hello => f.type === 'hello');
  }

  send(frame: CollectorFrame): void {
    this.socket?.send(JSON.stringify(frame));
  }

  closeAgent(code: number, reason: string): void {
    this.socket?.close(code, reason);
  }

  /** Goes away like a crashed collector: every connection dropped, the port closed. */
  async stop(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private receive(ws: WebSocket, text: string): void {
    const parsed = parseAgentFrame(text);
    if (!parsed.ok) {
      this.invalid.push(`${parsed.code}: ${parsed.reason}`);
      return;
    }
    const frame = parsed.frame;
    this.frames.push(frame);
    if (frame.type === 'hello' && this.options.welcome !== false) {
      ws.send(
        JSON.stringify({
          type: 'welcome',
          protocol: 1,
          interval: this.options.interval ?? 3600,
          lastSeq: this.options.lastSeq,
        }),
      );
    } else if (frame.type === 'inventory' && this.options.autoAck !== false) {
      ws.send(JSON.stringify({ type: 'ack', seq: frame.seq }));
    }
  }
}

function guest(name: string): Guest {
  return { uuid: `uuid-${name}`, name, state: 'running', os: { evidence: [{ source: 'name-hint', text: name }] } };
}

/** A driver whose guest list the test changes between scans. */
function fakeDriver(names: string[]): Driver & { names: string[] } {
  return {
    name: 'fake',
    names,
    async detect() {
      return true;
    },
    async hypervisor() {
      return { driver: 'fake', product: 'kvm' };
    },
    async guests() {
      return { guests: this.names.map(guest), errors: [] };
    },
  };
}

interface FakeWatch {
  emit(what: string): void;
  end(reason: string): void;
  stopped: boolean;
}

/** A fakeDriver that watches: the test emits its events and ends its watches. */
function watchingDriver(names: string[]) {
  const driver = fakeDriver(names);
  const guests = driver.guests;
  const watches: FakeWatch[] = [];
  return Object.assign(driver, {
    watches,
    scans: 0,
    async guests() {
      this.scans++;
      return guests.call(this);
    },
    watch(_run: Runner, onChange: (what: string) => void): Watch {
      let end: (reason: string) => void = () => {};
      const ended = new Promise<string>((resolve) => {
        end = resolve;
      });
      const watch: FakeWatch = { emit: onChange, end, stopped: false };
      watches.push(watch);
      return {
        ended,
        stop() {
          watch.stopped = true;
          end('stopped');
        },
      };
    },
  });
}

const runner: Runner = { run: async () => ({ stdout: '', stderr: '', code: 0 }), readFile: async () => null };
const hostFacts: HostFacts = { hostname: 'kvm1', os: { platform: 'linux' }, cpu: {} };

function memoryLog() {
  const text: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => text.push(line) });
  return { logger, text, lines: () => text.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const until = <T>(check: () => T) => vi.waitFor(check, { timeout: 5_000, interval: 10 });

describe('runAgent', () => {
  let stateDir: string;
  const agents: RunningAgent[] = [];
  const collectors: FakeCollector[] = [];

  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'hvmap-agent-'));
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    for (const c of collectors.splice(0)) {
      expect(c.invalid).toEqual([]);
      await c.stop();
    }
    await rm(stateDir, { recursive: true, force: true });
  });

  async function startCollector(options: CollectorOptions = {}): Promise<FakeCollector> {
    const collector = await FakeCollector.start(options);
    collectors.push(collector);
    return collector;
  }

  async function startAgent(collector: FakeCollector, driver: Driver, extra: Partial<AgentOptions> = {}) {
    const agent = await runAgent({
      collectorUrl: collector.url,
      token: TOKEN,
      drivers: [driver],
      runner,
      stateDir,
      logger: memoryLog().logger,
      hostFacts: async () => hostFacts,
      hostname: 'kvm1',
      backoff: { baseMs: 10, capMs: 50 },
      ...extra,
    });
    agents.push(agent);
    return agent;
  }

  /** Takes the collector down like a crash; returns its port, for a new one to take over. */
  async function crash(collector: FakeCollector): Promise<number> {
    const port = collector.port;
    collectors.splice(collectors.indexOf(collector), 1);
    expect(collector.invalid).toEqual([]);
    await collector.stop();
    return port;
  }

  async function spoolFile(): Promise<{ seq: number; pending: Inventory | null }> {
    return JSON.parse(await readFile(path.join(stateDir, SPOOL_FILE), 'utf8'));
  }

  it('says hello with its persisted id, then sends its first scan as inventory seq 1, and an ack clears the spool', async () => {
    const collector = await startCollector();
    const agent = await startAgent(collector, fakeDriver(['web1']));
    await until(() => expect(collector.inventories).toHaveLength(1));
    expect(collector.hellos).toEqual([
      { type: 'hello', protocol: 1, agentId: agent.agentId, agentVersion: expect.any(String), hostname: 'kvm1' },
    ]);
    expect(collector.frames[0].type).toBe('hello');
    expect(collector.inventories[0]).toMatchObject({
      seq: 1,
      host: hostFacts,
      guests: [guest('web1')],
      partial: false,
    });
    await until(async () => expect(await spoolFile()).toMatchObject({ seq: 1, pending: null }));
    expect((await readFile(path.join(stateDir, 'agent-id'), 'utf8')).trim()).toBe(agent.agentId);
  });

  it('sends a heartbeat with the acknowledged seq when a scan finds nothing changed', async () => {
    const collector = await startCollector();
    const agent = await startAgent(collector, fakeDriver(['web1']));
    await until(async () => expect((await spoolFile()).pending).toBeNull());
    agent.rescanNow();
    await until(() => expect(collector.frames.at(-1)).toEqual({ type: 'heartbeat', seq: 1 }));
    expect(collector.inventories).toHaveLength(1);
  });

  it('scans when the collector asks with rescan, and sends an inventory when the guests changed', async () => {
    const collector = await startCollector();
    const driver = fakeDriver(['web1']);
    await startAgent(collector, driver);
    await until(() => expect(collector.inventories).toHaveLength(1));
    driver.names.push('db1');
    collector.send({ type: 'rescan' });
    await until(() => expect(collector.inventories).toHaveLength(2));
    expect(collector.inventories[1]).toMatchObject({ seq: 2, guests: [guest('web1'), guest('db1')] });
  });

  it("scans on the collector's welcome interval when the operator set none", async () => {
    const collector = await startCollector({ interval: 1 });
    await startAgent(collector, fakeDriver(['web1']));
    await until(() => expect(collector.frames.at(-1)).toEqual({ type: 'heartbeat', seq: 1 }));
  });

  it('keeps one inventory in flight: a newer snapshot waits for the ack of the previous one', async () => {
    const collector = await startCollector({ autoAck: false });
    const driver = fakeDriver(['web1']);
    const agent = await startAgent(collector, driver);
    await until(() => expect(collector.inventories).toHaveLength(1));
    driver.names.push('db1');
    agent.rescanNow();
    await until(async () => expect((await spoolFile()).pending?.seq).toBe(2));
    expect(collector.inventories).toHaveLength(1);
    collector.send({ type: 'ack', seq: 1 });
    await until(() => expect(collector.inventories).toHaveLength(2));
    expect(collector.inventories[1]).toMatchObject({ seq: 2, guests: [guest('web1'), guest('db1')] });
  });

  it('reconnects with backoff after the collector goes down and resends the unacknowledged snapshot', async () => {
    const first = await startCollector({ autoAck: false });
    const { logger, lines } = memoryLog();
    await startAgent(first, fakeDriver(['web1']), { logger });
    await until(() => expect(first.inventories).toHaveLength(1));
    const port = await crash(first);
    const retries = () => lines().filter((l) => l.msg === 'cannot connect to the collector; retrying');
    await until(() => expect(retries().length).toBeGreaterThanOrEqual(3));
    // The welcomed connection reset the backoff: attempt 0 was the drop, failures count from 1.
    retries().forEach((line, i) => {
      expect(line.attempt).toBe(i + 1);
      expect(line.retryInMs).toBeGreaterThanOrEqual(0);
      expect(line.retryInMs).toBeLessThanOrEqual(Math.min(50, 10 * 2 ** (i + 1)));
    });

    const second = await startCollector({ port });
    await until(() => expect(second.inventories).toHaveLength(1));
    expect(second.inventories[0]).toEqual(first.inventories[0]);
    await until(async () => expect((await spoolFile()).pending).toBeNull());
  });

  it('moves to the next collector at once when the one in use goes, resending what was not acknowledged, and goes back to the first after the failback time', async () => {
    const first = await startCollector({ autoAck: false });
    const fallback = await startCollector();
    const { logger, lines } = memoryLog();
    // A backoff far longer than the test: moving to a fallback must not wait for it.
    await startAgent(first, fakeDriver(['web1']), {
      logger,
      fallbackCollectorUrls: [fallback.url],
      failbackMs: 300,
      backoff: { baseMs: 60_000, capMs: 60_000 },
    });
    await until(() => expect(first.inventories).toHaveLength(1));
    const port = await crash(first);
    await until(() => expect(fallback.inventories).toHaveLength(1));
    expect(fallback.inventories[0]).toEqual(first.inventories[0]);

    // The first comes back: after the failback time on the fallback, the agent returns to it.
    const back = await startCollector({ port });
    await until(() => expect(back.hellos).toHaveLength(1));
    expect(lines().some((l) => l.msg === 'going back to the first collector')).toBe(true);
    expect(fallback.hellos).toHaveLength(1);
  });

  it('tries every collector of the list before waiting its backoff, then starts again from the first', async () => {
    const down = await Promise.all([startCollector(), startCollector()]);
    const urls = down.map((c) => c.url);
    for (const c of down) await crash(c);
    const spare = await startCollector();
    const { logger, lines } = memoryLog();
    await startAgent(spare, fakeDriver(['web1']), {
      collectorUrl: urls[0],
      fallbackCollectorUrls: [urls[1]],
      logger,
      backoff: { baseMs: 10, capMs: 20 },
    });
    const retries = () => lines().filter((l) => l.msg === 'cannot connect to the collector; retrying');
    await until(() => expect(retries().length).toBeGreaterThanOrEqual(4));
    // In order, round after round; the first of each round moves on at once, the last counts an
    // attempt of the backoff (whose wait is random, from 0 up).
    expect(
      retries()
        .slice(0, 4)
        .map((l) => [l.collector, l.attempt]),
    ).toEqual([
      [urls[0], 0],
      [urls[1], 0],
      [urls[0], 1],
      [urls[1], 1],
    ]);
    expect(retries()[0].retryInMs).toBe(0);
    expect(retries()[2].retryInMs).toBe(0);
    expect(spare.hellos).toHaveLength(0);
  });

  it('keeps scanning while the collector is away and sends the newest snapshot when it is back', async () => {
    const first = await startCollector({ autoAck: false });
    const driver = fakeDriver(['web1']);
    const agent = await startAgent(first, driver);
    await until(() => expect(first.inventories).toHaveLength(1));
    const port = await crash(first);

    driver.names.push('db1');
    agent.rescanNow();
    await until(async () => expect((await spoolFile()).pending?.seq).toBe(2));

    const second = await startCollector({ port });
    await until(() => expect(second.inventories).toHaveLength(1));
    expect(second.inventories[0]).toMatchObject({ seq: 2, guests: [guest('web1'), guest('db1')] });
  });

  it('after a restart, resends the spooled snapshot first and continues its seq', async () => {
    const first = await startCollector({ autoAck: false });
    const driver = fakeDriver(['web1']);
    const before = await startAgent(first, driver);
    await until(() => expect(first.inventories).toHaveLength(1));
    await agents.splice(agents.indexOf(before), 1)[0].stop();
    expect((await spoolFile()).pending?.seq).toBe(1);

    const second = await startCollector();
    const after = await startAgent(second, driver);
    expect(after.agentId).toBe(before.agentId);
    await until(() => expect(second.inventories).toHaveLength(1));
    expect(second.inventories[0]).toEqual(first.inventories[0]);
    driver.names.push('db1');
    after.rescanNow();
    await until(() => expect(second.inventories).toHaveLength(2));
    expect(second.inventories[1].seq).toBe(2);
  });

  it('continues seq above the highest one the collector stored (welcome.lastSeq)', async () => {
    const collector = await startCollector({ lastSeq: 41 });
    await startAgent(collector, fakeDriver(['web1']));
    await until(() => expect(collector.inventories).toHaveLength(1));
    expect(collector.inventories[0].seq).toBe(42);
    await until(async () => expect(await spoolFile()).toMatchObject({ seq: 42, pending: null }));
  });

  it('resends a snapshot whose ack was lost under a new seq when the collector says it stored that seq', async () => {
    const first = await startCollector({ autoAck: false });
    await startAgent(first, fakeDriver(['web1']));
    await until(() => expect(first.inventories).toHaveLength(1));
    const port = await crash(first);

    const second = await startCollector({ port, lastSeq: 1 });
    await until(() => expect(second.inventories).toHaveLength(1));
    expect(second.inventories[0]).toEqual({ ...first.inventories[0], seq: 2 });
  });

  it('sends a full snapshot at once to a collector that lost what it acknowledged', async () => {
    const first = await startCollector();
    await startAgent(first, fakeDriver(['web1']));
    await until(async () => expect(await spoolFile()).toMatchObject({ seq: 1, pending: null }));
    const port = await crash(first);

    const second = await startCollector({ port, lastSeq: 0 });
    await until(() => expect(second.inventories).toHaveLength(1));
    expect(second.inventories[0]).toMatchObject({ seq: 2, guests: [guest('web1')] });
  });

  it('starts despite a corrupt spool file, moving it aside with a warning', async () => {
    await writeFile(path.join(stateDir, SPOOL_FILE), '{"version":1,"seq":12,"pendi');
    const collector = await startCollector({ lastSeq: 12 });
    const { logger, lines } = memoryLog();
    await startAgent(collector, fakeDriver(['web1']), { logger });
    await until(() => expect(collector.inventories).toHaveLength(1));
    expect(collector.inventories[0].seq).toBe(13);
    expect((await readdir(stateDir)).some((f) => f.startsWith(`${SPOOL_FILE}.corrupt-`))).toBe(true);
    expect(lines()).toContainEqual(expect.objectContaining({ component: 'spool', level: 40 }));
  });

  it('logs a refused token (HTTP 401 at upgrade) without the token, and keeps retrying', async () => {
    const collector = await startCollector();
    const { logger, text, lines } = memoryLog();
    await startAgent(collector, fakeDriver(['web1']), { logger, token: 'wrong-token-d41d8cd98f00' });
    await until(() => expect(collector.refusedUpgrades).toBeGreaterThanOrEqual(3));
    expect(lines()).toContainEqual(
      expect.objectContaining({ level: 50, status: 401, msg: expect.stringContaining('collector refused the token') }),
    );
    expect(text.join('\n')).not.toContain('wrong-token-d41d8cd98f00');
    expect(collector.hellos).toEqual([]);
  });

  it("logs the collector's error frame with its code, a revoked token as such, and then waits its longest backoff", async () => {
    const collector = await startCollector();
    const { logger, lines } = memoryLog();
    await startAgent(collector, fakeDriver(['web1']), { logger });
    await until(() => expect(collector.inventories).toHaveLength(1));
    collector.send({ type: 'error', code: 'TOKEN_REVOKED', message: 'token kvm1 was revoked' });
    collector.closeAgent(CLOSE_CODES.unauthorized, 'token revoked');
    await until(() =>
      expect(lines()).toContainEqual(
        expect.objectContaining({ code: 'TOKEN_REVOKED', msg: 'collector reported an error', level: 50 }),
      ),
    );
    const revoked = await until(() => {
      const line = lines().find((l) => String(l.msg).includes("revoked this agent's token"));
      expect(line).toMatchObject({ closeCode: 4401, level: 50 });
      return line as { retryInMs: number };
    });
    // Not the shortest backoff of a fresh disconnect: at least half the cap (50 ms here).
    expect(revoked.retryInMs).toBeGreaterThanOrEqual(25);
    await until(() => expect(collector.hellos.length).toBeGreaterThanOrEqual(2));
  });

  it('logs a bare 4401 close as a refused token and waits its longest backoff', async () => {
    const collector = await startCollector();
    const { logger, lines } = memoryLog();
    await startAgent(collector, fakeDriver(['web1']), { logger });
    await until(() => expect(collector.inventories).toHaveLength(1));
    collector.closeAgent(CLOSE_CODES.unauthorized, 'token refused');
    const refused = await until(() => {
      const line = lines().find((l) => String(l.msg).includes('collector refused the token'));
      expect(line).toMatchObject({ closeCode: 4401 });
      return line as { retryInMs: number };
    });
    expect(refused.retryInMs).toBeGreaterThanOrEqual(25);
  });

  it('drops a collector that stops answering pings, and reconnects', async () => {
    const collector = await startCollector({ autoPong: false });
    await startAgent(collector, fakeDriver(['web1']), { pingIntervalMs: 50 });
    await until(() => expect(collector.hellos.length).toBeGreaterThanOrEqual(2));
  });

  it('drops a collector that never answers hello, and reconnects', async () => {
    const collector = await startCollector({ welcome: false });
    await startAgent(collector, fakeDriver(['web1']), { welcomeTimeoutMs: 50 });
    await until(() => expect(collector.upgrades).toBeGreaterThanOrEqual(2));
  });

  describe('watching the hypervisor', () => {
    it('scans once for a burst of change events, within the debounce, however long the interval', async () => {
      const collector = await startCollector({ interval: 3600 });
      const driver = watchingDriver(['web1']);
      await startAgent(collector, driver);
      await until(() => expect(collector.inventories).toHaveLength(1));
      await until(() => expect(driver.watches).toHaveLength(1));
      const scansBefore = driver.scans;
      driver.names.push('web2');
      const sent = Date.now();
      for (const what of [
        'lifecycle web2: Defined Added',
        'lifecycle web2: Started Booted',
        'lifecycle web2: Resumed',
      ]) {
        driver.watches[0].emit(what);
      }
      await until(() => expect(collector.inventories).toHaveLength(2));
      expect(Date.now() - sent).toBeGreaterThanOrEqual(WATCH_DEBOUNCE_MS - 10);
      expect(collector.inventories[1].guests.map((g) => g.name)).toEqual(['web1', 'web2']);
      await new Promise((r) => setTimeout(r, WATCH_DEBOUNCE_MS * 2));
      expect(driver.scans - scansBefore).toBe(1);
    });

    it('watches nothing when told not to, nor a driver that did not run in the scan', async () => {
      const collector = await startCollector();
      const watching = watchingDriver(['web1']);
      const absent = Object.assign(watchingDriver([]), { name: 'absent', detect: async () => false });
      await startAgent(collector, absent, { drivers: [watching, absent] });
      await until(() => expect(collector.inventories).toHaveLength(1));
      await until(() => expect(watching.watches).toHaveLength(1));
      expect(absent.watches).toHaveLength(0);

      const unwatched = watchingDriver(['web1']);
      const second = await startCollector();
      await startAgent(second, unwatched, { watch: false, stateDir: path.join(stateDir, 'unwatched') });
      await until(() => expect(second.inventories).toHaveLength(1));
      expect(unwatched.watches).toHaveLength(0);
    });

    it('starts a watch that ended again after a backoff, saying so once, and stops it on stop()', async () => {
      const collector = await startCollector();
      const driver = watchingDriver(['web1']);
      const log = memoryLog();
      const agent = await startAgent(collector, driver, { logger: log.logger });
      await until(() => expect(driver.watches).toHaveLength(1));
      driver.watches[0].end('virsh event ended: Disconnected from qemu:///system due to end of file');
      await until(() => expect(driver.watches).toHaveLength(2));
      driver.watches[1].end('virsh event ended: failed to connect to the hypervisor');
      await until(() => expect(driver.watches).toHaveLength(3));
      const failures = log.lines().filter((l) => l.component === 'watch' && l.level === 40);
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ driver: 'fake', reason: expect.stringMatching(/end of file/) });
      await agent.stop();
      expect(driver.watches.map((w) => w.stopped)).toEqual([false, false, true]);
    });
  });
});

describe('backoffDelay', () => {
  const options = { baseMs: 1_000, capMs: 60_000 };

  it('stays within [0, min(cap, base·2^n)] for every attempt', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = Math.min(options.capMs, options.baseMs * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(attempt, options);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
      expect(backoffDelay(attempt, options, () => 0)).toBe(0);
      expect(backoffDelay(attempt, options, () => 0.999999)).toBe(Math.floor(0.999999 * ceiling));
    }
  });

  it('doubles the ceiling per attempt until the cap', () => {
    const ceilings = [0, 1, 2, 5, 6, 7, 100].map((n) => backoffDelay(n, options, () => 1));
    expect(ceilings).toEqual([1_000, 2_000, 4_000, 32_000, 60_000, 60_000, 60_000]);
  });
});
