/**
 * Benchmark child: the collector's store and evaluation in-process (no sockets), for the measures
 * that are about data rather than connections: re-evaluation of 100,000 guests after a catalog
 * change, one snapshot's incremental evaluation, the matrix query, and a day of one host's history.
 * argv: DIR
 */
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Inventory } from '@hvmap/shared';
import type Database from 'better-sqlite3';
import { pino } from 'pino';
import {
  loadCollectorCatalog,
  type RunningCollector,
  SHIPPED_CATALOG_DIR,
  startCollector,
} from '../../../../collector/dist/collector.js';
import { median, REPO, serveParent } from '../common.js';
import { esxiRow, localSvvpFile } from '../local-catalog.js';
import { startProfile, stopProfile } from '../profile.js';
import { agentName, inventoryOf, prng, SIM_OSES, type SimAgent, simAgent, VARIANTS } from '../snapshots.js';

const [dir] = process.argv.slice(2);
const localCatalogDir = path.join(dir, 'catalog.d');
const logger = pino({ level: 'info' }, pino.destination({ dest: path.join(dir, 'store-worker.log'), sync: true }));

let fleet: RunningCollector | null = null;
let fleetAgents: SimAgent[] = [];

const ms = (since: number) => performance.now() - since;

/** An operator's local SVVP row added or edited: a real catalog change, a new version. */
function writeLocalCatalog(variant: number): void {
  writeFileSync(
    path.join(localCatalogDir, 'svvp-local.json'),
    localSvvpFile(SHIPPED_CATALOG_DIR, [esxiRow(variant % 2 ? '8.0' : '7.0')]),
  );
}

function dbBytes(c: RunningCollector): { file: number; pages: number; freePages: number } {
  // This benchmark's collector stores in an SQLite file: its handle is better-sqlite3's.
  const db = c.db as unknown as Database.Database;
  db.pragma('wal_checkpoint(TRUNCATE)');
  const file = db.name;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  return {
    file: statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0),
    pages: (db.pragma('page_count', { simple: true }) as number) * pageSize,
    freePages: (db.pragma('freelist_count', { simple: true }) as number) * pageSize,
  };
}

/** 100,000 guests across 2,000 hosts, through the store API (evaluate, then apply: the ingest path minus the socket). */
async function populate(args: { hosts: number; guestsPerHost: number; db?: string }) {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(localCatalogDir, { recursive: true });
  const onFile = args.db === undefined;
  fleet = await startCollector({
    db: args.db ?? path.join(dir, 'fleet.db'),
    listen: '127.0.0.1:0',
    localCatalogDir,
    logger,
  });
  const c = fleet;
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const heapBefore = heap();
  const names = Array.from({ length: args.hosts }, (_, i) => agentName(i));
  c.db.transaction(() => {
    for (const n of names) c.tokens.create(n);
  })();
  fleetAgents = names.map((_, i) =>
    simAgent(i, { seed: 100, minGuests: args.guestsPerHost, maxGuests: args.guestsPerHost }),
  );
  let evalMs = 0;
  let applyMs = 0;
  const started = performance.now();
  for (let i = 0; i < names.length; i++) {
    const inv: Inventory = { ...inventoryOf(fleetAgents[i], null), seq: 1, collectedAt: new Date().toISOString() };
    const t0 = performance.now();
    const evaluated = c.evaluator.judgeInventory(inv);
    const t1 = performance.now();
    c.store.apply(names[i], evaluated);
    applyMs += performance.now() - t1;
    evalMs += t1 - t0;
  }
  const t2 = performance.now();
  c.alerts.reconcileAll();
  const alertsMs = ms(t2);
  const guests = (c.db.prepare('SELECT COUNT(*) AS n FROM guests WHERE removed_at IS NULL').get() as { n: number }).n;
  // The collector's JS heap per stored guest, and how much of it is the evaluator's memo (dropped
  // by putting the same catalog in force again; the reload below refills it).
  const heapAfter = heap();
  c.evaluator.setCatalog(loadCollectorCatalog(localCatalogDir));
  const heapWithoutMemo = heap();
  const heapPerGuest = {
    totalBytes: Math.round((heapAfter - heapBefore) / guests),
    evaluatorMemoBytes: Math.round((heapAfter - heapWithoutMemo) / guests),
    storeCacheAndRestBytes: Math.round((heapWithoutMemo - heapBefore) / guests),
  };
  const byStatus = c.db.prepare('SELECT status, COUNT(*) AS n FROM guests GROUP BY status').all();
  const alerts = (c.db.prepare("SELECT COUNT(*) AS n FROM alerts WHERE state = 'firing'").get() as { n: number }).n;
  return {
    hosts: names.length,
    guests,
    byStatus,
    firingAlerts: alerts,
    heapPerGuest,
    totalMs: Math.round(ms(started)),
    evaluateMs: Math.round(evalMs),
    applyMs: Math.round(applyMs),
    alertsMs: Math.round(alertsMs),
    // Pages and bytes of the SQLite file (a PostgreSQL database is measured by its server).
    db: onFile ? dbBytes(c) : null,
  };
}

/** reloadCatalog() after a real change to the catalog (an operator's local row added or edited). */
async function reload(args: { reps: number; profileFile?: string }) {
  const c = fleet;
  if (!c) throw new Error('populate first');
  const runs: { ms: number; version: string; changedGuests: number }[] = [];
  for (let r = 0; r < args.reps; r++) {
    writeLocalCatalog(r);
    const profiling = args.profileFile && r === args.reps - 1;
    if (profiling) await startProfile();
    const t0 = performance.now();
    const result = c.reloadCatalog();
    const elapsed = ms(t0);
    if (profiling && args.profileFile) await stopProfile(args.profileFile);
    if (!result.ok) throw new Error(result.error);
    if (!profiling)
      runs.push({ ms: Math.round(elapsed), version: result.version, changedGuests: result.changedGuests });
  }
  // Where the time goes, part by part: the evaluation alone (memo cleared) and the alerts pass alone.
  const hvOf = new Map(fleetAgents.map((a) => [a.hostname, a.hypervisor]));
  const { identifyHypervisor } = await import('@hvmap/shared');
  const rows = c.db
    .prepare(
      'SELECT g.uuid, g.name, g.state, g.vcpus, g.memory_bytes, g.details_json, g.os_evidence_json, h.hostname FROM guests g JOIN hosts h ON h.id = g.host_id WHERE g.removed_at IS NULL',
    )
    .all() as Record<string, string | number | null>[];
  const t1 = performance.now();
  const parsed = rows.map((r) => ({
    guest: {
      ...(JSON.parse(r.details_json as string) as object),
      uuid: r.uuid,
      name: r.name,
      state: r.state,
      os: JSON.parse(r.os_evidence_json as string),
    } as Parameters<typeof c.evaluator.evaluateGuest>[0],
    hv: hvOf.get(r.hostname as string),
  }));
  const readParseMs = ms(t1);
  // A fresh memo, as after a catalog change.
  c.evaluator.setCatalog(loadCollectorCatalog(localCatalogDir));
  const hvIds = new Map<string, ReturnType<typeof identifyHypervisor>>();
  const t2 = performance.now();
  for (const { guest, hv } of parsed) {
    if (!hv) continue;
    const key = JSON.stringify(hv);
    let id = hvIds.get(key);
    if (id === undefined) {
      id = identifyHypervisor(hv);
      hvIds.set(key, id);
    }
    c.evaluator.evaluateGuest(guest, id);
  }
  const evaluateOnlyMs = ms(t2);
  const t3 = performance.now();
  c.alerts.reconcileAll();
  const alertsOnlyMs = ms(t3);
  return {
    runs,
    medianMs: median(runs.map((r) => r.ms)),
    parts: {
      readAndParseRowsMs: Math.round(readParseMs),
      evaluateOnlyMs: Math.round(evaluateOnlyMs),
      alertsReconcileAllMs: Math.round(alertsOnlyMs),
      guests: parsed.length,
    },
  };
}

/** One snapshot of one host (50 guests, 2 changed) through evaluate → apply → alerts, as ingest does it. */
function incremental(args: { iterations: number }) {
  const c = fleet;
  if (!c) throw new Error('populate first');
  const agent = fleetAgents[0];
  const name = agentName(0);
  const cold = { evaluate: [] as number[] };
  const warm = { evaluate: [] as number[], apply: [] as number[], alerts: [] as number[], total: [] as number[] };
  let seq = c.store.lastSeq(name) ?? 1;
  const catalog = loadCollectorCatalog(localCatalogDir);
  for (let k = 0; k < args.iterations; k++) {
    const inv: Inventory = { ...inventoryOf(agent, k % VARIANTS), seq: ++seq, collectedAt: new Date().toISOString() };
    if (k % 10 === 5) {
      // Cold: every verdict evaluated again (a catalog change or a new day just cleared them).
      c.evaluator.setCatalog(catalog);
      const t = performance.now();
      const judged = c.evaluator.judgeInventory(inv);
      for (const g of inv.guests) judged.judge(g);
      cold.evaluate.push(ms(t));
      continue;
    }
    const t0 = performance.now();
    const evaluated = c.evaluator.judgeInventory(inv);
    const t1 = performance.now();
    // null for a seq already stored (newer store), [] for nothing changed (older one).
    const changes = c.store.apply(name, evaluated) ?? [];
    const t2 = performance.now();
    if (changes.length) c.alerts.hostChanged(name, changes);
    const t3 = performance.now();
    if (k >= VARIANTS * 2) {
      warm.evaluate.push(t1 - t0);
      warm.apply.push(t2 - t1);
      warm.alerts.push(t3 - t2);
      warm.total.push(t3 - t0);
    }
  }
  const us = (v: number[]) => Math.round(median(v) * 1000);
  return {
    guests: agent.guests.length,
    changedGuestsPerSnapshot: 2,
    coldEvaluateUs: us(cold.evaluate),
    warmEvaluateUs: us(warm.evaluate),
    applyUs: us(warm.apply),
    alertsUs: us(warm.alerts),
    totalUs: us(warm.total),
    samples: warm.total.length,
  };
}

/**
 * What committing in groups would save: the same kind of snapshot (2 guests changed) applied to
 * `hosts` hosts, each in its own transaction (as ingest does) and then ten to a transaction.
 */
function groupCommit(args: { hosts: number; group: number }) {
  const c = fleet;
  if (!c) throw new Error('populate first');
  const run = (from: number, group: number) => {
    const evaluated = Array.from({ length: args.hosts }, (_, i) => {
      const name = agentName(from + i);
      const seq = (c.store.lastSeq(name) ?? 1) + 1;
      const inv: Inventory = {
        ...inventoryOf(fleetAgents[from + i], seq % VARIANTS),
        seq,
        collectedAt: new Date().toISOString(),
      };
      return { name, e: c.evaluator.judgeInventory(inv) };
    });
    const t0 = performance.now();
    for (let i = 0; i < evaluated.length; i += group) {
      const batch = evaluated.slice(i, i + group);
      if (group === 1) c.store.apply(batch[0].name, batch[0].e);
      // As ingest stores a turn: one commit for the group, no savepoint each.
      else c.store.inOneCommit(() => batch.map((b) => c.store.apply(b.name, b.e)), { savepoints: false });
    }
    return Math.round(((performance.now() - t0) * 1000) / evaluated.length);
  };
  // A first pass each, untimed: after the catalog reload before this, a host's next snapshot judges
  // all its guests again (once), which is not what grouping changes.
  run(0, 1);
  run(args.hosts, args.group);
  const single = run(0, 1);
  const grouped = run(args.hosts, args.group);
  return { hosts: args.hosts, group: args.group, applyUsSingle: single, applyUsGrouped: grouped };
}

/**
 * The alerts' silence check (every 10 s, over every host): as it runs now, and what reading every
 * host's guests for it costs (what it did before it skipped them).
 */
function silenceCheck() {
  const c = fleet;
  if (!c) throw new Error('populate first');
  const agents = c.alerts.store.agentNames();
  const t0 = performance.now();
  c.alerts.check();
  const checkMs = ms(t0);
  const t1 = performance.now();
  for (const a of agents) c.alerts.store.hostState(a, true);
  const withGuestsMs = ms(t1);
  return { hosts: agents.length, checkMs: Math.round(checkMs), readingGuestsMs: Math.round(withGuestsMs) };
}

/** The matrix (hypervisor × OS × status) over every present guest: our SQL, and the API's own when built. */
async function matrix(args: { reps: number }) {
  const c = fleet;
  if (!c) throw new Error('populate first');
  const sql = `SELECT h.hypervisor_id AS hv, g.os_id AS os, g.status, COUNT(*) AS n
     FROM guests g JOIN hosts h ON h.id = g.host_id WHERE g.removed_at IS NULL
     GROUP BY h.hypervisor_id, g.os_id, g.status`;
  const stmt = c.db.prepare(sql);
  const time = (f: () => unknown) => {
    f();
    const t: number[] = [];
    let cells = 0;
    for (let r = 0; r < args.reps; r++) {
      const t0 = performance.now();
      const out = f() as unknown[] | { cells: unknown[] };
      t.push(ms(t0));
      cells = Array.isArray(out) ? out.length : out.cells.length;
    }
    return { medianMs: Math.round(median(t) * 1000) / 1000, maxMs: Math.round(Math.max(...t) * 1000) / 1000, cells };
  };
  const plain = time(() => stmt.all());
  const plan = (c.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail);
  // The collector's own live map (collector/src/api/live-map.ts), when this build has it: read whole
  // at start and after a catalog change, then one host's share per snapshot; the page reads memory.
  let liveMap: {
    load: ReturnType<typeof time>;
    matrix: ReturnType<typeof time>;
    refreshHost: ReturnType<typeof time>;
  } | null = null;
  const file = path.join(REPO, 'collector/dist/api/live-map.js');
  if (existsSync(file)) {
    type LiveMapLike = { matrix(): { cells: unknown[] }; refreshHost(agent: string): void; totals(): unknown };
    const mod = (await import(pathToFileURL(file).href)) as { LiveMap?: new (db: unknown) => LiveMapLike };
    const LiveMap = mod.LiveMap;
    if (LiveMap) {
      let map = new LiveMap(c.db);
      const load = time(() => {
        map = new LiveMap(c.db);
        return map.matrix();
      });
      liveMap = {
        load,
        matrix: time(() => map.matrix()),
        // The host's share is read when the map is next read (totals(): no matrix built).
        refreshHost: time(() => {
          map.refreshHost(agentName(0));
          map.totals();
          return [];
        }),
      };
    }
  }
  // /api/report (every guest, as `hvmap report` prints it): what a poller of the whole map pays.
  const { readReport } = await import('../../../../collector/dist/store/report.js');
  const t0 = performance.now();
  const report = readReport(c.db);
  const reportMs = ms(t0);
  const t1 = performance.now();
  const reportBytes = Buffer.byteLength(JSON.stringify(report));
  const serializeMs = ms(t1);
  return {
    sql: plain,
    plan,
    liveMap,
    fullReport: {
      guests: report.guests.length,
      readMs: Math.round(reportMs),
      serializeMs: Math.round(serializeMs),
      bytes: reportBytes,
    },
  };
}

/**
 * A day of one host at 60 s intervals, compressed: 1,440 scans of a host with `guests` guests, each
 * guest changing with probability `changeRate` per scan (stopped or started; sometimes upgraded in
 * place, or deleted and replaced by a new one). A scan that changed nothing sends a heartbeat, as the
 * agent does. The database grows by what a day of history costs.
 */
async function storeDay(args: { guests: number; intervals: number; changeRate: number }) {
  const c = await startCollector({ db: path.join(dir, 'day.db'), listen: '127.0.0.1:0', logger });
  try {
    const name = agentName(0);
    c.tokens.create(name);
    const agent = simAgent(7, { seed: 200, minGuests: args.guests, maxGuests: args.guests });
    const rand = prng(4242);
    const day0 = Date.parse('2026-11-01T00:00:00Z');
    let seq = 0;
    const snapshot = (t: number) => {
      const inv: Inventory = { ...inventoryOf(agent, null), seq: ++seq, collectedAt: new Date(t).toISOString() };
      const changes = c.store.apply(name, c.evaluator.judgeInventory(inv), new Date(t).toISOString()) ?? [];
      if (changes.length) c.alerts.hostChanged(name, changes);
      return changes.length;
    };
    snapshot(day0);
    const before = dbBytes(c);
    const changesBefore = (c.db.prepare('SELECT COUNT(*) AS n FROM changes').get() as { n: number }).n;
    let snapshots = 0;
    let heartbeats = 0;
    let guestChanges = 0;
    let replaced = 0;
    const t0 = performance.now();
    for (let i = 1; i <= args.intervals; i++) {
      let changed = false;
      for (const g of agent.guests) {
        if (rand() >= args.changeRate) continue;
        changed = true;
        guestChanges++;
        const roll = rand();
        if (roll < 0.7) g.running = !g.running;
        else if (roll < 0.9) g.os = SIM_OSES[Math.floor(rand() * SIM_OSES.length)];
        else {
          // Deleted and replaced by a new guest: a new UUID and name.
          replaced++;
          g.uuid = `${g.uuid.slice(0, 24)}${String(i).padStart(12, '0')}`;
          g.name = `${g.name.replace(/-r\d+$/, '')}-r${i}`;
        }
      }
      if (changed) {
        snapshot(day0 + i * 60_000);
        snapshots++;
      } else {
        c.store.recordContact(name);
        heartbeats++;
      }
    }
    const elapsedMs = ms(t0);
    const after = dbBytes(c);
    const changeRows = (c.db.prepare('SELECT COUNT(*) AS n FROM changes').get() as { n: number }).n - changesBefore;
    const guestRows = (c.db.prepare('SELECT COUNT(*) AS n FROM guests').get() as { n: number }).n;
    return {
      guests: args.guests,
      intervals: args.intervals,
      changeRate: args.changeRate,
      snapshots,
      heartbeats,
      guestChanges,
      replacedGuests: replaced,
      changeRows,
      guestRows,
      bytesBefore: before.pages,
      bytesAfter: after.pages,
      bytesPerHostPerDay: after.pages - before.pages,
      freePagesAfter: after.freePages,
      simulatedInMs: Math.round(elapsedMs),
    };
  } finally {
    await c.close();
    rmSync(path.join(dir, 'day.db'), { force: true });
  }
}

serveParent(
  {
    populate: (a) => populate(a as { hosts: number; guestsPerHost: number }),
    reload: (a) => reload(a as { reps: number; profileFile?: string }),
    incremental: (a) => incremental(a as { iterations: number }),
    groupCommit: (a) => groupCommit(a as { hosts: number; group: number }),
    silenceCheck: () => silenceCheck(),
    matrix: (a) => matrix(a as { reps: number }),
    storeDay: (a) => storeDay(a as { guests: number; intervals: number; changeRate: number }),
    memory: () => process.memoryUsage(),
  },
  async () => {
    await fleet?.close();
  },
);
