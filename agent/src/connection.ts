/**
 * The run loop: scans on an interval and on demand, keeps the newest unacknowledged snapshot in the
 * spool, and keeps a WebSocket to the collector open, reconnecting with backoff. Scans go on while
 * the collector is away; when it is back, the newest snapshot goes first, so nothing is lost.
 *
 * Flow per connection: hello → welcome → the pending snapshot, if any → per scan, an `inventory`
 * when the content changed since the last acknowledged one, else a `heartbeat` carrying the seq of
 * that acknowledged snapshot. At most one inventory is unacknowledged at a time.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AgentFrame,
  CLOSE_CODES,
  type ErrorFrame,
  type HostFacts,
  type Inventory,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseCollectorFrame,
  type Welcome,
} from '@hvmap/shared';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { loadOrCreateAgentId } from './agent-id.js';
import { AGENT_DEFAULTS, AGENT_VERSION } from './config.js';
import type { Driver, Watch } from './drivers/driver.js';
import { collectHostFacts } from './host-facts.js';
import type { Runner } from './runner.js';
import { contentHash, type InventoryBody, scanOnce } from './scan.js';
import { Spool } from './spool.js';

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export interface AgentOptions {
  /** ws(s)://HOST:PORT/agent */
  collectorUrl: string;
  /**
   * Collectors on the same store to move to, in order, when the one in use fails (`--collector`
   * given again); after the last, back to collectorUrl with the backoff.
   */
  fallbackCollectorUrls?: readonly string[];
  /** Connected to a fallback this long, the agent goes back to collectorUrl (its first choice). */
  failbackMs?: number;
  /** Sent as `Authorization: Bearer …` at upgrade; never logged. */
  token: string;
  /**
   * PEM CA certificate(s) for a wss:// collector: its certificate must chain to one of these (and
   * name the URL's host); the system's CAs are then not consulted. Absent: the system's CAs.
   */
  ca?: string | Buffer;
  /** Drivers in priority order; see `detect`. */
  drivers: Driver[];
  /** true (default): every driver that detects its hypervisor runs; false: drivers[0] runs unasked. */
  detect?: boolean;
  runner: Runner;
  /** Holds the agent id and the spool. */
  stateDir: string;
  /**
   * Seconds between scans, when the operator chose it; it then wins over the collector's. When
   * absent the collector's `welcome.interval` applies (AGENT_DEFAULTS.intervalSec until one arrives).
   */
  intervalSec?: number;
  logger: Logger;
  /** Host facts for each scan; systeminformation by default. */
  hostFacts?: () => Promise<HostFacts>;
  /** Sent in hello; os.hostname() by default. */
  hostname?: string;
  backoff?: BackoffOptions;
  /** How often the agent pings the collector; an unanswered ping means the link is dead. */
  pingIntervalMs?: number;
  /** How long connecting, hello and welcome may take together. */
  welcomeTimeoutMs?: number;
  /**
   * true (default): each driver that ran in a scan and can watch its hypervisor (Driver.watch)
   * triggers a scan on a change, WATCH_DEBOUNCE_MS after the first event of a burst.
   */
  watch?: boolean;
}

/** A running agent. */
export interface RunningAgent {
  readonly agentId: string;
  /** Scans now (a scan already running is followed by one more). */
  rescanNow(): void;
  /** Closes the connection, waits for the running scan and spool writes, and stops every timer. */
  stop(): Promise<void>;
}

/** Delay before reconnect attempt `attempt` (0-based): full jitter, uniform in [0, min(cap, base·2^attempt)). */
export function backoffDelay(attempt: number, { baseMs, capMs }: BackoffOptions, random = Math.random): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** How one connection ended, gathered while it lived and logged once when it closes. */
interface Outcome {
  welcomed: boolean;
  /** HTTP status of a refused upgrade. */
  status?: number;
  code?: number;
  reason?: string;
  errorFrame?: ErrorFrame;
  error?: Error;
  /** Closed by the agent to go back to its first collector. */
  failback?: boolean;
  failbackTimer?: NodeJS.Timeout;
}

/** How long stop() waits for the collector to answer the close handshake. */
const STOP_GRACE_MS = 1_000;
/** A burst of events (a guest starting gives three or four) is one scan, this long after its first. */
export const WATCH_DEBOUNCE_MS = 500;
/** A watch that lived this long was working: its end is a new failure, logged again. */
const WATCH_HEALTHY_MS = 60_000;

interface Snapshot {
  inventory: Inventory;
  hash: string;
}

/**
 * Starts the agent: loads (or creates) its id and spool, scans now, and connects. Rejects only when
 * the state dir cannot be used; everything after that is retried and logged, never thrown.
 */
export async function runAgent(options: AgentOptions): Promise<RunningAgent> {
  const log = options.logger.child({ component: 'connection' });
  const scanLog = options.logger.child({ component: 'scan' });
  const backoff = options.backoff ?? { baseMs: AGENT_DEFAULTS.backoffBaseMs, capMs: AGENT_DEFAULTS.backoffCapMs };
  const pingIntervalMs = options.pingIntervalMs ?? AGENT_DEFAULTS.pingIntervalMs;
  const welcomeTimeoutMs = options.welcomeTimeoutMs ?? AGENT_DEFAULTS.welcomeTimeoutMs;
  const hostFacts = options.hostFacts ?? collectHostFacts;
  const collectors = [options.collectorUrl, ...(options.fallbackCollectorUrls ?? [])];
  const failbackMs = options.failbackMs ?? AGENT_DEFAULTS.failbackMs;
  /** The collector in use or tried next: an index into `collectors`. */
  let current = 0;
  const collector = () => displayUrl(collectors[current]);

  const agentId = await loadOrCreateAgentId(options.stateDir);
  const spool = new Spool(options.stateDir, options.logger.child({ component: 'spool' }));
  const spooled = await spool.load();

  /** Highest seq used or known to the collector; the next inventory takes the one above. */
  let seqFloor = spooled.seq;
  let pending: Snapshot | null = spooled.pending
    ? { inventory: spooled.pending, hash: contentHash(spooled.pending) }
    : null;
  let acked: { seq: number; hash: string } | null = null;
  let inFlight: { seq: number; hash: string } | null = null;
  let socket: WebSocket | null = null;
  let welcomed = false;
  let stopped = false;
  let intervalMs = (options.intervalSec ?? AGENT_DEFAULTS.intervalSec) * 1000;
  let scanTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | null = null;
  let scanAgain = false;
  const sleeping = new AbortController();
  const watchLog = options.logger.child({ component: 'watch' });
  /** Drivers being watched, and the watch running for each (absent between retries). */
  const watches = new Map<string, Watch | undefined>();
  const watchLoops: Promise<void>[] = [];
  let changeTimer: NodeJS.Timeout | undefined;

  log.info(
    {
      agentId,
      collector: collectors.map(displayUrl).join(' '),
      stateDir: options.stateDir,
      drivers: options.drivers.map((d) => d.name),
    },
    'agent started',
  );
  if (pending) log.info({ seq: pending.inventory.seq }, 'found an unacknowledged snapshot in the spool; it goes first');

  function requestScan(): void {
    if (stopped) return;
    if (scanning) {
      scanAgain = true;
      return;
    }
    clearTimeout(scanTimer);
    scanning = scan().finally(() => {
      scanning = null;
      if (scanAgain) {
        scanAgain = false;
        requestScan();
      } else if (!stopped) {
        scanTimer = setTimeout(requestScan, intervalMs);
      }
    });
  }

  function setIntervalSec(seconds: number): void {
    if (seconds * 1000 === intervalMs) return;
    intervalMs = seconds * 1000;
    log.info({ intervalSec: seconds }, 'scan interval set by the collector');
    if (!scanning && !stopped) {
      clearTimeout(scanTimer);
      scanTimer = setTimeout(requestScan, intervalMs);
    }
  }

  /** A change event: one scan for the whole burst. */
  function onChange(what: string): void {
    watchLog.debug({ what }, 'hypervisor event');
    if (stopped || changeTimer) return;
    changeTimer = setTimeout(() => {
      changeTimer = undefined;
      requestScan();
    }, WATCH_DEBOUNCE_MS);
  }

  /**
   * Watches one driver until stop(): a watch that ends is started again after a backoff, the
   * interval scan going on meanwhile; the failure is logged once until a watch works again.
   */
  async function watchLoop(driver: Driver): Promise<void> {
    let attempt = 0;
    let failing = false;
    while (!stopped) {
      const started = Date.now();
      const watch = driver.watch?.(options.runner, onChange);
      if (!watch) return;
      watches.set(driver.name, watch);
      if (attempt === 0 && !failing) watchLog.info({ driver: driver.name }, 'watching hypervisor events');
      const reason = await watch.ended;
      watches.set(driver.name, undefined);
      if (stopped) return;
      if (Date.now() - started >= WATCH_HEALTHY_MS) {
        attempt = 0;
        failing = false;
      }
      const delayMs = backoffDelay(attempt++, backoff);
      if (!failing) {
        watchLog.warn(
          { driver: driver.name, reason, retryMs: delayMs },
          'watching hypervisor events failed: changes show at the next interval scan until it works again',
        );
        failing = true;
      }
      try {
        await sleep(delayMs, undefined, { signal: sleeping.signal });
      } catch {
        return;
      }
    }
  }

  /** Starts watching each driver that ran in this scan, once. */
  function watchDriversThatRan(body: InventoryBody): void {
    if (options.watch === false) return;
    for (const driver of options.drivers) {
      if (!driver.watch || watches.has(driver.name) || !body.drivers?.some((run) => run.driver === driver.name))
        continue;
      watches.set(driver.name, undefined);
      watchLoops.push(watchLoop(driver));
    }
  }

  async function scan(): Promise<void> {
    try {
      const body = await scanOnce(options.drivers, options.runner, {
        detect: options.detect,
        hostFacts: await hostFacts(),
      });
      watchDriversThatRan(body);
      await onSnapshot(body);
    } catch (err) {
      scanLog.error({ err }, 'scan failed');
    }
  }

  async function onSnapshot(body: InventoryBody): Promise<void> {
    const hash = contentHash(body);
    scanLog.debug({ guests: body.guests.length, errors: body.errors.length, partial: body.partial }, 'scanned');
    if (pending?.hash === hash) return;
    if (!pending && acked?.hash === hash) {
      if (welcomed) send({ type: 'heartbeat', seq: acked.seq });
      return;
    }
    // A snapshot is complete: the newest replaces any older unacknowledged one.
    const inventory: Inventory = { type: 'inventory', seq: ++seqFloor, ...body };
    pending = { inventory, hash };
    await persist(spool.save(inventory));
    flush();
  }

  /** Sends the pending snapshot when connected and nothing else awaits its ack. */
  function flush(): void {
    if (!welcomed || !pending || inFlight) return;
    const text = JSON.stringify(pending.inventory);
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_FRAME_BYTES) {
      log.error(
        { seq: pending.inventory.seq, bytes, limit: MAX_FRAME_BYTES },
        'inventory is larger than the collector accepts; not sent',
      );
      return;
    }
    socket?.send(text);
    inFlight = { seq: pending.inventory.seq, hash: pending.hash };
    log.debug({ seq: inFlight.seq, bytes }, 'inventory sent');
  }

  function onAck(seq: number): void {
    let newlyAcked: { seq: number; hash: string } | null = null;
    if (pending && pending.inventory.seq <= seq) {
      newlyAcked = { seq: pending.inventory.seq, hash: pending.hash };
      pending = null;
    } else if (inFlight && inFlight.seq <= seq) {
      // An older snapshot was acknowledged while a newer one waits in the spool.
      newlyAcked = inFlight;
    }
    if (inFlight && inFlight.seq <= seq) inFlight = null;
    if (newlyAcked) acked = newlyAcked;
    log.debug({ seq }, 'ack');
    void persist(spool.clear(seq));
    flush();
  }

  function onWelcome(frame: Welcome, ws: WebSocket, outcome: Outcome): void {
    if (frame.protocol !== PROTOCOL_VERSION) {
      log.error(
        { protocol: frame.protocol },
        `collector speaks protocol ${frame.protocol}, this agent ${PROTOCOL_VERSION}`,
      );
      ws.close(1002, 'protocol version');
      return;
    }
    outcome.welcomed = true;
    welcomed = true;
    log.info({ collector: collector(), agentId, lastSeq: frame.lastSeq }, 'connected');
    if (current !== 0) {
      // On a fallback: back to the first collector after a while (if it is still away, the agent
      // moves on again at once, and its snapshot goes again under the seq the store already has).
      outcome.failbackTimer = setTimeout(() => {
        outcome.failback = true;
        log.info({ collector: collector(), first: displayUrl(collectors[0]) }, 'going back to the first collector');
        ws.close(1000, 'going back to the first collector');
      }, failbackMs);
    }
    if (options.intervalSec === undefined) setIntervalSec(frame.interval);
    if (frame.lastSeq !== undefined) {
      seqFloor = Math.max(seqFloor, frame.lastSeq);
      if (pending && pending.inventory.seq <= frame.lastSeq) {
        // The collector already holds this seq (an ack lost, or a state dir restored from a backup):
        // the snapshot goes again under a seq it will accept. Ingest is idempotent.
        pending = { inventory: { ...pending.inventory, seq: ++seqFloor }, hash: pending.hash };
        void persist(spool.save(pending.inventory));
      } else if (!pending && acked && frame.lastSeq < acked.seq) {
        // The collector lost what it acknowledged (e.g. restored database): a full snapshot, now.
        acked = null;
        requestScan();
      }
    }
    flush();
  }

  function onFrame(text: string, ws: WebSocket, outcome: Outcome, welcomeTimer: NodeJS.Timeout): void {
    const parsed = parseCollectorFrame(text);
    if (!parsed.ok) {
      log.warn({ code: parsed.code, reason: parsed.reason }, 'ignoring a frame from the collector');
      return;
    }
    const frame = parsed.frame;
    switch (frame.type) {
      case 'welcome':
        clearTimeout(welcomeTimer);
        onWelcome(frame, ws, outcome);
        break;
      case 'ack':
        onAck(frame.seq);
        break;
      case 'rescan':
        log.info('rescan requested by the collector');
        requestScan();
        break;
      case 'error':
        outcome.errorFrame = frame;
        log.error({ code: frame.code, message: frame.message }, 'collector reported an error');
        break;
    }
  }

  function send(frame: AgentFrame): void {
    socket?.send(JSON.stringify(frame));
  }

  /** Spool write failures are logged, not fatal: the snapshot stays in memory and is still sent. */
  async function persist(write: Promise<void>): Promise<void> {
    try {
      await write;
    } catch (err) {
      log.error({ err, file: spool.file }, 'cannot write the spool; an agent restart would lose the newest snapshot');
    }
  }

  /** One connection, from connect to close. Resolves (never rejects) with how it ended. */
  function connectOnce(): Promise<Outcome> {
    return new Promise((resolve) => {
      const outcome: Outcome = { welcomed: false };
      const ws = new WebSocket(collectors[current], {
        headers: { Authorization: `Bearer ${options.token}` },
        maxPayload: MAX_FRAME_BYTES,
        ...(options.ca ? { ca: options.ca } : {}),
      });
      socket = ws;
      let alive = true;
      let pinger: NodeJS.Timeout | undefined;
      const welcomeTimer = setTimeout(() => {
        outcome.error = new Error(`no welcome within ${welcomeTimeoutMs} ms`);
        ws.terminate();
      }, welcomeTimeoutMs);

      ws.on('unexpected-response', (_req, res) => {
        outcome.status = res.statusCode;
        res.resume();
        ws.terminate();
      });
      ws.on('open', () => {
        send({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          agentId,
          agentVersion: AGENT_VERSION,
          hostname: options.hostname ?? os.hostname(),
        });
        // A half-open TCP connection looks open for many minutes; an unanswered ping reveals it.
        pinger = setInterval(() => {
          if (!alive) {
            outcome.error = new Error(`no answer to a ping within ${pingIntervalMs} ms`);
            ws.terminate();
            return;
          }
          alive = false;
          ws.ping();
        }, pingIntervalMs);
      });
      const markAlive = () => {
        alive = true;
      };
      ws.on('pong', markAlive);
      ws.on('ping', markAlive);
      ws.on('message', (data, isBinary) => {
        markAlive();
        if (isBinary) {
          log.warn('ignoring a binary frame from the collector');
          return;
        }
        // The client's default binaryType delivers every message as one Buffer.
        onFrame((data as Buffer).toString('utf8'), ws, outcome, welcomeTimer);
      });
      ws.on('error', (err) => {
        outcome.error ??= err;
      });
      ws.on('close', (code, reason) => {
        clearTimeout(welcomeTimer);
        clearTimeout(outcome.failbackTimer);
        clearInterval(pinger);
        socket = null;
        welcomed = false;
        inFlight = null;
        resolve({ ...outcome, code, reason: reason.toString('utf8') });
      });
    });
  }

  function logOutcome(outcome: Outcome, attempt: number, delayMs: number): void {
    const retry = { collector: collector(), attempt, retryInMs: delayMs };
    if (outcome.errorFrame?.code === 'TOKEN_REVOKED') {
      log.error(
        { ...retry, closeCode: outcome.code },
        "the collector revoked this agent's token (hvmap tokens revoke): give the agent a new token; retrying rarely",
      );
    } else if (outcome.status === 401 || outcome.code === CLOSE_CODES.unauthorized) {
      log.error(
        { ...retry, status: outcome.status, closeCode: outcome.code },
        'collector refused the token: check --token-file, HVMAP_TOKEN or --token (hvmap tokens list); retrying',
      );
    } else if (outcome.status !== undefined) {
      log.warn({ ...retry, status: outcome.status }, 'collector refused the connection; retrying');
    } else if (isCertificateError(outcome.error)) {
      log.error(
        { ...retry, errorCode: (outcome.error as NodeJS.ErrnoException).code, error: outcome.error?.message },
        "the collector's TLS certificate is not trusted (nothing was sent): check --ca and that the --collector host is a name in the certificate; retrying",
      );
    } else if (schemeMismatch(collectors[current], outcome)) {
      log.error(
        { ...retry, errorCode: (outcome.error as NodeJS.ErrnoException).code, error: outcome.error?.message },
        collectors[current].startsWith('wss:')
          ? 'the collector does not speak TLS on this port (nothing was sent): use ws:// for a collector without --tls-cert; retrying'
          : 'the collector closed the connection before answering: if it serves TLS (hvmap serve --tls-cert), use wss:// and --ca; retrying',
      );
    } else if (outcome.code === CLOSE_CODES.protocolVersion) {
      log.error({ ...retry, closeCode: outcome.code }, 'collector refused protocol v1: upgrade the agent; retrying');
    } else if (outcome.code === CLOSE_CODES.replaced) {
      log.warn(
        { ...retry, closeCode: outcome.code, agentId },
        'another agent connected with this agent id (a copied state dir?); retrying',
      );
    } else if (outcome.welcomed) {
      log.warn(
        { ...retry, closeCode: outcome.code, reason: outcome.reason || undefined },
        'disconnected; reconnecting',
      );
    } else {
      log.warn(
        { ...retry, closeCode: outcome.code, error: outcome.error?.message, errorCode: outcome.errorFrame?.code },
        'cannot connect to the collector; retrying',
      );
    }
  }

  /**
   * Connects until stop(): on a failure, the next collector of the list at once; after the last,
   * the first again with the backoff (a round of the list is one attempt).
   */
  async function connectionLoop(): Promise<void> {
    let attempt = 0;
    while (!stopped) {
      const outcome = await connectOnce();
      if (stopped) return;
      if (outcome.welcomed) attempt = 0;
      if (outcome.failback) {
        current = 0;
        continue;
      }
      // A refused or revoked token will not work on the next try: wait the longest, not the shortest.
      const refused = outcome.status === 401 || outcome.code === CLOSE_CODES.unauthorized;
      const another = current + 1 < collectors.length;
      const delayMs = another
        ? 0
        : refused
          ? Math.round(backoff.capMs * (0.5 + Math.random() / 2))
          : backoffDelay(attempt, backoff);
      logOutcome(outcome, attempt, delayMs);
      current = another ? current + 1 : 0;
      if (!another) attempt++;
      try {
        await sleep(delayMs, undefined, { signal: sleeping.signal });
      } catch {
        return; // stop() aborted the wait
      }
    }
  }

  requestScan();
  const loop = connectionLoop();

  return {
    agentId,
    rescanNow: requestScan,
    async stop() {
      stopped = true;
      clearTimeout(scanTimer);
      clearTimeout(changeTimer);
      for (const watch of watches.values()) watch?.stop();
      sleeping.abort();
      const ws = socket;
      ws?.close(1000, 'agent stopping');
      // A collector that is gone never answers the close handshake; ws alone would wait 30 s.
      const force = setTimeout(() => ws?.terminate(), STOP_GRACE_MS);
      await loop;
      clearTimeout(force);
      await scanning;
      await Promise.all(watchLoops);
      await spool.settled();
    },
  };
}

/** Node's codes for a certificate that does not verify or does not name the host. */
function isCertificateError(err: Error | undefined): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return /CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(code);
}

/**
 * The errors a scheme that does not match the port gives before any HTTP answer: ws:// to a TLS
 * port is hung up on; wss:// to a plain one fails the TLS handshake ("wrong version number").
 */
function schemeMismatch(collectorUrl: string, outcome: Outcome): boolean {
  if (outcome.status !== undefined || outcome.welcomed) return false;
  const err = outcome.error as NodeJS.ErrnoException | undefined;
  if (collectorUrl.startsWith('wss:')) return err?.code === 'EPROTO' || /wrong version number/.test(err?.message ?? '');
  return err?.code === 'ECONNRESET' && err.message === 'socket hang up';
}

/** The collector URL without credentials or query, for log lines. */
function displayUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
