/**
 * `hvmap serve --poll FILE`: the collector reads the listed hosts over SSH on the scan interval and
 * stores each inventory through the same path as an agent's snapshot (DESIGN.md "Agentless"). A
 * polled host is an agent of kind `ssh`; a failed poll records its reason, which host-silent names.
 *
 * Each host keeps its own schedule (interval ± 10 %), so one slow or hung host never holds the
 * others back: at most `parallel` polls run at once, and each ends at its deadline.
 */
import { readFileSync } from 'node:fs';
import { DRIVERS, type InventoryBody } from '@hvmap/agent';
import type { Inventory } from '@hvmap/shared';
import { parseAgentFrame } from '@hvmap/shared/schema';
import type { Logger } from 'pino';
import { parseHostsFile, type Target } from '../install/target.js';
import type { AgentSessions } from '../server/ingest.js';
import type { InventoryStore } from '../store/inventory.js';
import type { TokenStore } from '../store/tokens.js';

/** One line of the poll file: where to log in, and what to read there. */
export interface PollTarget extends Target {
  /** `auto` offers every driver to detection; a name runs that driver unasked. */
  driver: string;
  libvirtUri?: string;
  /** `sudo=yes`: each command through `sudo -n` (least privilege: collector/src/agentless/README.md). */
  sudo?: boolean;
}

/**
 * The poll file: the installer's hosts-file lines (`USER@HOST[:PORT] [name=NAME] [identity=KEY]`)
 * plus `libvirt-uri=URI`, `driver=NAME` and `sudo=yes`. Errors name the line; names must be unique (each is
 * an agent at the collector).
 */
export function parsePollFile(text: string, defaultUser: string): PollTarget[] {
  const lines = parseHostsFile(text, defaultUser, ['libvirt-uri', 'driver', 'sudo']);
  const seen = new Set<string>();
  return lines.map(({ settings = {}, ...target }) => {
    const driver = settings.driver ?? 'auto';
    if (driver !== 'auto' && !DRIVERS.some((d) => d.name === driver))
      throw new Error(
        `${target.name}: driver=${driver} is not a driver; expected auto or one of: ${DRIVERS.map((d) => d.name).join(', ')}`,
      );
    if (seen.has(target.name)) throw new Error(`two hosts are named ${target.name}: give one of them name=…`);
    seen.add(target.name);
    if (settings.sudo !== undefined && settings.sudo !== 'yes' && settings.sudo !== 'no')
      throw new Error(`${target.name}: sudo=${settings.sudo}; expected sudo=yes or sudo=no`);
    return {
      ...target,
      driver,
      ...(settings['libvirt-uri'] ? { libvirtUri: settings['libvirt-uri'] } : {}),
      ...(settings.sudo === 'yes' ? { sudo: true } : {}),
    };
  });
}

/** Reads one host; throws an error with a stable `code` (the installer's SSH codes among them). */
export type PollScan = (target: PollTarget, signal: AbortSignal) => Promise<InventoryBody>;

export interface PollerOptions {
  file: string;
  defaultUser: string;
  scan: PollScan;
  intervalMs: number;
  /** Polls running at once. */
  parallel: number;
  /** A poll still running after this long is ended (POLL_DEADLINE) and its connection closed. */
  deadlineMs: number;
  /** The first poll of a host starts within this long (spread so a large file does not start at once). */
  firstPollWithinMs: number;
  sessions: AgentSessions;
  store: InventoryStore;
  tokens: TokenStore;
  maxGuestsPerHost: number;
  /** A host's poll began or stopped failing, or its error changed: pages showing it refetch at once. */
  onPollStateChanged: (name: string) => void;
  logger: Logger;
}

export interface PolledHostStatus {
  name: string;
  /** When the last poll ended, and with what error (null: it read the host). */
  lastPollAt: string | null;
  error: string | null;
}

interface Slot {
  target: PollTarget;
  timer: NodeJS.Timeout | null;
  running: AbortController | null;
  status: PolledHostStatus;
}

class PollError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Poller {
  /** Polls ended, by result (`ok` or an error code), for /metrics. */
  readonly results: Record<string, number> = {};
  private readonly slots = new Map<string, Slot>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: PollerOptions) {}

  /** Hosts being polled, and how their last poll ended. */
  hosts(): PolledHostStatus[] {
    return [...this.slots.values()].map((s) => ({ ...s.status }));
  }

  /** Whether the last poll of this host read it (a polled host's "connected"). */
  isReachable(name: string): boolean {
    const slot = this.slots.get(name);
    return Boolean(slot?.status.lastPollAt && slot.status.error === null);
  }

  get reachable(): number {
    return [...this.slots.keys()].filter((name) => this.isReachable(name)).length;
  }

  /**
   * Reads the poll file (at start and on SIGHUP) and follows it: new hosts are polled, removed ones
   * stop (their host stays on the map, as a revoked agent's does), changed lines apply from the next
   * poll. A file that does not parse is refused with its line, and the hosts polled so far go on.
   */
  load(): { ok: true; hosts: number; refused: string[] } | { ok: false; error: string } {
    const { file, defaultUser, logger } = this.options;
    let targets: PollTarget[];
    try {
      targets = parsePollFile(readFileSync(file, 'utf8'), defaultUser);
    } catch (err) {
      const error = `${file}: ${(err as Error).message}`;
      logger.error({ code: 'POLL_FILE_INVALID', err: error }, 'poll file refused; the hosts polled so far go on');
      return { ok: false, error };
    }
    const refused = this.options.tokens.setPolledHosts(targets.map((t) => t.name));
    for (const name of refused)
      logger.error(
        { code: 'POLL_NAME_TAKEN', host: name },
        'an agent token has this name: the host is not polled (give its line another name=)',
      );
    const wanted = new Map(targets.filter((t) => !refused.includes(t.name)).map((t) => [t.name, t]));
    for (const [name, slot] of this.slots) {
      if (wanted.has(name)) continue;
      if (slot.timer) clearTimeout(slot.timer);
      slot.running?.abort();
      this.slots.delete(name);
    }
    for (const [name, target] of wanted) {
      const slot = this.slots.get(name);
      if (slot) slot.target = target;
      else {
        const fresh: Slot = { target, timer: null, running: null, status: { name, lastPollAt: null, error: null } };
        this.slots.set(name, fresh);
        this.schedule(fresh, Math.random() * this.options.firstPollWithinMs);
      }
    }
    logger.info({ file, hosts: wanted.size }, 'polling hosts over SSH');
    return { ok: true, hosts: wanted.size, refused };
  }

  close(): void {
    this.closed = true;
    for (const slot of this.slots.values()) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.running?.abort();
    }
    this.slots.clear();
  }

  private schedule(slot: Slot, delayMs: number): void {
    if (this.closed) return;
    slot.timer = setTimeout(() => {
      slot.timer = null;
      void this.poll(slot);
    }, delayMs);
    slot.timer.unref();
  }

  private async poll(slot: Slot): Promise<void> {
    await this.acquire();
    const name = slot.status.name;
    const log = this.options.logger.child({ agent: name, kind: 'ssh' });
    const controller = new AbortController();
    slot.running = controller;
    let error: PollError | null = null;
    try {
      const body = await this.withDeadline(this.options.scan(slot.target, controller.signal), controller);
      this.storePolled(name, body, log);
    } catch (err) {
      const e = err as Error & { code?: string };
      error = e instanceof PollError ? e : new PollError(e.code ?? 'POLL_FAILED', e.message);
    } finally {
      slot.running = null;
      this.release();
    }
    // A host dropped from the file while its poll ran is not recorded again.
    if (this.slots.get(name) !== slot) return;
    const reason = error && `${error.code}: ${error.message}`;
    const stateChanged = reason !== slot.status.error;
    if (stateChanged) {
      if (error) log.warn({ code: error.code, err: error.message }, 'poll failed');
      else if (slot.status.error) log.info('poll reads the host again');
    }
    slot.status = { name, lastPollAt: new Date().toISOString(), error: reason };
    this.results[error?.code ?? 'ok'] = (this.results[error?.code ?? 'ok'] ?? 0) + 1;
    try {
      this.options.store.recordPoll(name, reason);
      if (stateChanged) this.options.onPollStateChanged(name);
    } catch (err) {
      log.warn({ code: 'STORE_FAILED', err: (err as Error).message }, 'poll result not recorded');
    }
    const jitter = 1 + (Math.random() - 0.5) * 0.2;
    this.schedule(slot, this.options.intervalMs * jitter);
  }

  /** The inventory as an agent's snapshot: the same schema check, limits, evaluation and store. */
  private storePolled(name: string, body: InventoryBody, log: Logger): void {
    const { store, sessions, maxGuestsPerHost } = this.options;
    const frame = { type: 'inventory', seq: (store.lastSeq(name) ?? 0) + 1, ...body };
    // What a host prints is untrusted as an agent's frame is: it passes the same wire schema.
    const parsed = parseAgentFrame(JSON.stringify(frame));
    if (!parsed.ok) throw new PollError(parsed.code, parsed.reason);
    const inventory = parsed.frame as Inventory;
    if (inventory.guests.length > maxGuestsPerHost)
      throw new PollError(
        'TOO_MANY_GUESTS',
        `${inventory.guests.length} guests; this collector takes at most ${maxGuestsPerHost} per host (--max-guests-per-host)`,
      );
    let changes: ReturnType<AgentSessions['storeSnapshot']>;
    try {
      changes = sessions.storeSnapshot(name, inventory);
    } catch (err) {
      throw new PollError('STORE_FAILED', `the collector could not store this inventory (${(err as Error).message})`);
    }
    sessions.announce(name, inventory, changes, log);
  }

  private withDeadline<T>(work: Promise<T>, controller: AbortController): Promise<T> {
    const { deadlineMs } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new PollError('POLL_DEADLINE', `no inventory within ${deadlineMs / 1000} s; connection closed`));
      }, deadlineMs);
    });
    // The scan may still settle after the deadline (its connection closing): that outcome is dropped.
    work.catch(() => {});
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  private async acquire(): Promise<void> {
    if (this.running < this.options.parallel) {
      this.running++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}
