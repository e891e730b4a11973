/** RESULTS.md: the machine, the date, the commit, the headline on a line of its own, then every figure. */
import type { ProfileSummary } from './profile.js';
import type { Results } from './run.js';
import type { BackendRun, PostgresFigures, PostgresResult } from './sections/postgres.js';

/** Issue 17's ingest ratio has a floor (0.50) and a goal (0.80): the first can be met alone. */
type Status = 'met' | 'missed' | '—' | 'floor met, goal missed';

const fmt = (x: number | undefined | null, digits = 0) =>
  x === undefined || x === null || Number.isNaN(x)
    ? 'n/a'
    : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function row(measure: string, figure: string, unit: string, target: string, status: Status): string {
  return `| ${measure} | ${figure} | ${unit} | ${target} | ${status} |`;
}

function profileTable(p: ProfileSummary, title: string): string[] {
  const lines = [
    `#### ${title}`,
    '',
    `${fmt(p.sampledMs)} ms sampled, ${fmt(p.idlePct, 1)}% idle. Busy time by component:`,
    '',
    '| component | % of busy samples |',
    '|---|---|',
    ...Object.entries(p.byComponent)
      .slice(0, 12)
      .map(([k, v]) => `| ${k} | ${fmt(v, 1)} |`),
    '',
    'Top functions, self time:',
    '',
    '| function | where | % |',
    '|---|---|---|',
    ...p.topSelf.slice(0, 12).map((f) => `| \`${f.fn || '(anonymous)'}\` | ${f.where} | ${fmt(f.pct, 1)} |`),
    '',
    'Top functions including callees:',
    '',
    '| function | where | % |',
    '|---|---|---|',
    ...p.topInclusive.slice(0, 15).map((f) => `| \`${f.fn || '(anonymous)'}\` | ${f.where} | ${fmt(f.pct, 1)} |`),
    '',
  ];
  return lines;
}

/** A statement's head and tail: statements that start alike (two reads of a host's guests) differ at their end. */
function statementLabel(sql: string): string {
  const label = sql.length > 110 ? `${sql.slice(0, 60)} … ${sql.slice(-45)}` : sql;
  return label.replaceAll('|', '\\|');
}

/** Section 7: one column per configuration (backend × collectors), one row per measure. */
function postgresSection(p: PostgresResult): string[] {
  const column = (b: BackendRun) =>
    `${b.backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, ${b.collectors} collector${b.collectors > 1 ? 's' : ''}`;
  const onPostgres = (figure: (c: PostgresFigures) => string) => (b: BackendRun) =>
    b.postgres ? figure(b.postgres) : '–';
  const measures: [string, (b: BackendRun) => string][] = [
    ['snapshots stored/s, all collectors', (b) => fmt(b.snapshotsPerSec)],
    ['collector CPU per snapshot, µs', (b) => fmt(b.collectorCpuUsPerSnapshot)],
    ['collector RSS after ingest, MiB (each)', (b) => b.collectorRssMiB.map((x) => fmt(x, 1)).join(' / ')],
    ['ack latency p50 / p99, ms', (b) => `${fmt(b.ackLatencyMs.p50)} / ${fmt(b.ackLatencyMs.p99)}`],
    ['connections to PostgreSQL per collector', onPostgres((c) => fmt(c.connectionsPerCollector, 1))],
    ['PostgreSQL CPU, % of a core', onPostgres((c) => fmt(c.cpuPct))],
    ['PostgreSQL CPU per snapshot, µs', onPostgres((c) => fmt(c.cpuUsPerSnapshot))],
    ['statements per snapshot (BEGIN, COMMIT included)', onPostgres((c) => fmt(c.statements, 1))],
    ['transactions per snapshot', onPostgres((c) => fmt(c.transactions, 1))],
    ['collector wait per statement, µs (mean)', onPostgres((c) => fmt(c.waitUsPerStatement))],
    ['collector wait per COMMIT, µs', onPostgres((c) => fmt(c.commitWaitUs))],
    ['PostgreSQL executing, µs per statement', onPostgres((c) => fmt(c.serverUsPerStatement))],
    ["collector's event loop waiting on PostgreSQL, ms per snapshot", onPostgres((c) => fmt(c.waitMsPerSnapshot, 2))],
    ['rows written per snapshot', onPostgres((c) => fmt(c.rowsWritten, 1))],
    ['WAL bytes / WAL flushes per snapshot', onPostgres((c) => `${fmt(c.walBytes)} / ${fmt(c.walSyncs, 2)}`)],
  ];
  const runs = p.runs;
  const lines = [
    '## 7. Store backends: SQLite and PostgreSQL, one collector and two',
    '',
    `${fmt(p.agents)} simulated agents (the ingest section's load generator and snapshots; fewer than its 1,000, so that ` +
      "a PostgreSQL collector's first snapshot of every host and the acks queued behind them fit the time budget), " +
      `one load generator per collector, a ${p.warmupSec} s warm-up after every agent's first ack, then a ${p.windowSec} s window. ` +
      'With two collectors the agents are split between them, their windows start and end together, and the rates add up; ' +
      'the two-collector run uses the database the one-collector run filled. ' +
      'The database is analysed once every host is stored (as autovacuum does within about a minute of a fresh database being filled; NOTES.md says why). ' +
      `${p.server} (PostgreSQL's defaults, max_connections aside), on this machine's loopback; ` +
      'SQLite as the collector opens it (WAL, synchronous=NORMAL: a commit is not flushed to disk, PostgreSQL flushes each one). ' +
      'Statements and their waits are counted in the collectors (every call of the store to PostgreSQL, timed where the collector waits for it); ' +
      "CPU from /proc over every PostgreSQL process; rows, WAL and execution time from pg_stat_database and pg_stat_wal, read at the window's edges. " +
      'Per snapshot means over the snapshots stored in the window, all collectors together.',
    '',
    `| measure | ${runs.map(column).join(' | ')} |`,
    `|---|${runs.map(() => '---|').join('')}`,
    ...measures.map(([name, figure]) => `| ${name} | ${runs.map(figure).join(' | ')} |`),
    `| re-evaluation of ${fmt(p.reevaluation.guests)} guests (${fmt(p.reevaluation.hosts)} hosts) after a catalog change, ms (median of 3) | ${runs
      .map((b) =>
        b.collectors > 1 ? '–' : fmt(b.backend === 'sqlite' ? p.reevaluation.sqliteMs : p.reevaluation.postgresMs),
      )
      .join(' | ')} |`,
    '',
  ];
  for (const b of runs) {
    if (!b.postgres) continue;
    lines.push(
      `Where the collectors wait (${column(b)}): the statements with the longest total wait, per snapshot stored:`,
      '',
      '| statement | calls per snapshot | mean wait µs |',
      '|---|---|---|',
      ...b.postgres.topStatements.map(
        (t) => `| \`${statementLabel(t.sql)}\` | ${fmt(t.callsPerSnapshot, 2)} | ${fmt(t.meanWaitUs)} |`,
      ),
      '',
    );
  }
  return lines;
}

export function renderResults(r: Results, notes: string): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`# hvmap benchmark results${r.mode === 'quick' ? ' (--quick: shorter windows, fewer steps)' : ''}`);
  out.push('');
  out.push(
    `Written by \`npm run bench${r.mode === 'quick' ? ' -- --quick' : ''}\` (test/bench/). Every figure comes from this one run, on loopback.`,
  );
  out.push('');
  out.push(`- date: ${r.date}`);
  out.push(`- commit: ${r.commit}`);
  out.push(
    `- machine: ${m.cores} cores (${m.cpuModel}), ${fmt(m.ramGiB, 1)} GiB RAM, Node ${m.node}, ${m.kernel}; load average at start ${m.loadAverageAtStart.join(' / ')}; open files ${m.fdLimit}`,
  );
  out.push(`- duration: ${r.durationSec} s`);
  out.push('');
  const ing = r.ingest;
  out.push(ing ? `ingest ratio: ${ing.ratio.toFixed(2)}` : 'ingest ratio: not measured');
  out.push('');
  out.push('| measure | figure | unit | target | status |');
  out.push('|---|---|---|---|---|');
  if (ing) {
    out.push(
      row(
        '1. ingest ratio, collector ÷ bare ws (snapshots/s, same run)',
        ing.ratio.toFixed(2),
        'ratio',
        '≥ 0.80 (never < 0.50)',
        ing.ratio >= 0.8 ? 'met' : ing.ratio >= 0.5 ? 'floor met, goal missed' : 'missed',
      ),
    );
    out.push(
      row('1. collector, end to end (stored and acked)', fmt(ing.collectorSnapshotsPerSec), 'snapshots/s', '—', '—'),
    );
    out.push(row('1. bare ws (JSON.parse + ack)', fmt(ing.bareSnapshotsPerSec), 'snapshots/s', '—', '—'));
    out.push(
      row(
        '1. server CPU per snapshot, collector / bare ws',
        `${fmt(ing.collectorCpuUsPerSnapshot)} / ${fmt(ing.bareCpuUsPerSnapshot)}`,
        'µs',
        '—',
        '—',
      ),
    );
    out.push(
      row(
        '1. CPU ratio, bare ÷ collector µs per snapshot',
        ing.cpuRatio.toFixed(2),
        'ratio',
        '≥ 0.80',
        ing.cpuRatio >= 0.8 ? 'met' : 'missed',
      ),
    );
  }
  const sc = r.scale;
  if (sc) {
    for (const p of sc.collector.points) {
      const last = p.agents === 10_000;
      out.push(
        row(
          `2. collector RSS with ${fmt(p.agents)} agents connected (${fmt(p.connected)} counted)`,
          `${fmt(p.rssMiB)} (${fmt(p.rssPerAgentKiB, 1)} KiB/agent)`,
          'MiB',
          last ? '< 1,024 MiB at 10,000' : '—',
          last ? (p.rssMiB < 1024 && p.connected >= 10_000 ? 'met' : 'missed') : '—',
        ),
      );
    }
    if (sc.collector.error)
      out.push(
        row('2. collector scale stopped', sc.collector.error.replace(/\|/g, '/'), '—', '10,000 agents', 'missed'),
      );
    for (const p of sc.bare.points) {
      out.push(
        row(
          `2. bare ws RSS with ${fmt(p.agents)} agents`,
          `${fmt(p.rssMiB)} (${fmt(p.rssPerAgentKiB, 1)} KiB/agent)`,
          'MiB',
          '—',
          '—',
        ),
      );
    }
  }
  const d = r.data;
  if (d) {
    out.push(
      row(
        `3. full re-evaluation after a catalog change (reloadCatalog, ${fmt(d.reload.parts.guests)} guests)`,
        fmt(d.reload.medianMs),
        'ms',
        '< 1,000 ms',
        d.reload.medianMs < 1000 && d.reload.parts.guests >= 100_000 ? 'met' : 'missed',
      ),
    );
    out.push(
      row(
        `3. incremental: one snapshot (${d.incremental.guests} guests, 2 changed): identify its hypervisor + store (judging the changed guests) + alerts`,
        `${fmt(d.incremental.totalUs)} (${fmt(d.incremental.warmEvaluateUs)} + ${fmt(d.incremental.applyUs)} + ${fmt(d.incremental.alertsUs)})`,
        'µs',
        '—',
        '—',
      ),
    );
    out.push(
      row(
        `3. evaluate one snapshot with a cold memo (${d.incremental.guests} guests)`,
        fmt(d.incremental.coldEvaluateUs),
        'µs',
        '—',
        '—',
      ),
    );
    out.push(
      row(
        `3. alerts' silence check over ${fmt(d.silenceCheck.hosts)} hosts (every 10 s); reading their guests as it did before`,
        `${fmt(d.silenceCheck.checkMs)}; ${fmt(d.silenceCheck.readingGuestsMs)}`,
        'ms',
        '—',
        '—',
      ),
    );
    out.push(
      row(
        `3. store.apply per snapshot: one transaction each / ${d.groupCommit.group} per transaction`,
        `${fmt(d.groupCommit.applyUsSingle)} / ${fmt(d.groupCommit.applyUsGrouped)}`,
        'µs',
        '—',
        '—',
      ),
    );
  }
  const f = r.freshness;
  if (f) {
    out.push(
      row(
        `4. freshness beyond the scan: agent sent → live map (median / max of ${f.edits})`,
        `${fmt(f.beyondScanMs.median)} / ${fmt(f.beyondScanMs.max)}`,
        'ms',
        '< 2,000 ms',
        f.beyondScanMs.max < 2000 ? 'met' : 'missed',
      ),
    );
    out.push(
      row(
        `4. node file edited → live map, scan interval ${f.intervalSec} s (median / max)`,
        `${fmt(f.totalMs.median)} / ${fmt(f.totalMs.max)}`,
        'ms',
        '—',
        '—',
      ),
    );
    out.push(
      row(
        '4. node file edited → /api/report shows it (median / max); beyond the scan',
        `${fmt(f.apiTotalMs.median)} / ${fmt(f.apiTotalMs.max)}; ${fmt(f.apiBeyondScanMs.median)} / ${fmt(f.apiBeyondScanMs.max)}`,
        'ms',
        '< 2,000 ms beyond the scan',
        f.apiBeyondScanMs.max < 2000 ? 'met' : 'missed',
      ),
    );
    if (f.pageTotalMs && f.pageBeyondScanMs) {
      out.push(
        row(
          '4. node file edited → the open web page shows it (median / max); beyond the scan',
          `${fmt(f.pageTotalMs.median)} / ${fmt(f.pageTotalMs.max)}; ${fmt(f.pageBeyondScanMs.median)} / ${fmt(f.pageBeyondScanMs.max)}`,
          'ms',
          '< 2,000 ms beyond the scan',
          f.pageBeyondScanMs.max < 2000 ? 'met' : 'missed',
        ),
      );
    } else {
      out.push(row('4. → an open web page', f.webPage, '—', '< 2,000 ms beyond the scan', '—'));
    }
  }
  for (const a of r.agent ?? []) {
    // Issue 17: under 60 MiB with 10 domains, under 80 MiB up to 500; the peak counts.
    const limitMiB = a.domains <= 10 ? 60 : 80;
    out.push(
      row(
        `5. agent with ${a.domains} domains (real virsh, test driver): RSS steady / peak`,
        `${fmt(a.rssMiB.steady, 1)} / ${fmt(a.rssMiB.peak, 1)}`,
        'MiB',
        `< ${limitMiB} MiB`,
        a.rssMiB.peak < limitMiB ? 'met' : 'missed',
      ),
    );
    out.push(
      row(
        `5. agent with ${a.domains} domains: CPU per scan, agent + virsh (wall ${fmt(a.scanWallMs)} ms)`,
        `${fmt(a.cpuMsPerScan.total)} (${fmt(a.cpuMsPerScan.agent)} + ${fmt(a.cpuMsPerScan.virsh)})`,
        'ms',
        '—',
        '—',
      ),
    );
  }
  if (r.agentIdle) {
    const i = r.agentIdle;
    out.push(
      row(
        `5. agent idle between scans, watching libvirt events (${i.domains} domains, ${i.windowSec} s): CPU, agent + virsh event`,
        `${fmt(i.cpuPercent.total, 2)} (${fmt(i.cpuPercent.agent, 2)} + ${fmt(i.cpuPercent.watch, 2)})`,
        '% of a core',
        '< 1 %',
        i.cpuPercent.total < 1 ? 'met' : 'missed',
      ),
    );
  }
  if (d) {
    const s = d.storeDay;
    out.push(
      row(
        `6. DB growth per host per day (${s.guests} guests, ${s.intervals} scans, ${s.changeRate * 100}% of guests change per scan)`,
        fmt(s.bytesPerHostPerDay / 1024, 1),
        'KiB',
        '—',
        '—',
      ),
    );
    out.push(
      row(
        `6. matrix query (GROUP BY hypervisor, OS, status) at ${fmt(d.populate.guests)} guests, median`,
        fmt(d.matrix.sql.medianMs, 1),
        'ms',
        '—',
        '—',
      ),
    );
    if (d.matrix.liveMap) {
      const lm = d.matrix.liveMap;
      out.push(
        row(
          "6. the collector's live map: load whole / matrix() from memory / one host's refresh, median",
          `${fmt(lm.load.medianMs, 1)} / ${fmt(lm.matrix.medianMs, 2)} / ${fmt(lm.refreshHost.medianMs, 3)}`,
          'ms',
          '—',
          '—',
        ),
      );
    }
  }
  for (const [section, error] of Object.entries(r.errors)) {
    out.push(row(`${section}: failed`, error.split('\n')[0].replace(/\|/g, '/').slice(0, 200), '—', '—', 'missed'));
  }
  out.push('');

  if (ing) {
    out.push('## 1. Ingest');
    out.push('');
    out.push(
      `${ing.agents} simulated agents (real WebSocket clients, protocol v1, one token each, at most one snapshot in flight each, ` +
        `as the real agent), ${fmt(ing.guests)} guests in all (20–100 per host, 60% KVM hosts with guest-agent and libosinfo evidence, ` +
        `40% Hyper-V with KVP items); mean frame ${fmt(ing.meanFrameBytes / 1024, 1)} KiB; every snapshot changes 2 guests (stopped/started or upgraded). ` +
        `Every agent has one snapshot acknowledged, then a warm-up of ${ing.warmupSec} s, then a ${ing.windowSec} s window per server, the servers alternating (each window with a fresh load-generator process and fresh connections). Server CPU is read from /proc.`,
    );
    out.push('');
    out.push(
      '| rep | server | snapshots/s | server CPU µs/snapshot | server CPU % | load generator CPU % | MB/s | ack p50 / p99 ms |',
    );
    out.push('|---|---|---|---|---|---|---|---|');
    for (const w of ing.windows) {
      out.push(
        `| ${w.rep + 1} | ${w.server} | ${fmt(w.snapshotsPerSec)} | ${fmt(w.serverCpuUsPerSnapshot)} | ${w.serverCpuPct} | ${w.loadgenCpuPct} | ${fmt(w.mbPerSec, 1)} | ${fmt(w.ackLatencyMs.p50, 1)} / ${fmt(w.ackLatencyMs.p99, 1)} |`,
      );
    }
    out.push('');
    out.push(
      `Stored by the collector over the run: ${fmt(ing.stored.snapshotsStored)} snapshots, ${fmt(ing.stored.framesRejected)} frames rejected, ` +
        `${fmt(ing.stored.hosts)} hosts, ${fmt(ing.stored.guests)} guests, ${fmt(ing.stored.changes)} change rows.` +
        (ing.loadgenSaturated
          ? ' The load generator used ≥ 90% of a core during a baseline window: the bare-ws rate may be held back by it, which would flatter the ratio.'
          : ''),
    );
    out.push('');
    if (ing.profile)
      out.push(...profileTable(ing.profile, 'Collector CPU profile under the same load (a separate window)'));
  }
  if (sc) {
    out.push('## 2. Scale');
    out.push('');
    out.push(
      `Agents connect (64 at a time), say hello, send one snapshot (mean ${sc.guestsPerAgentMean} guests) and stay connected and idle; ` +
        `RSS is read from /proc after two forced GCs. Collector RSS with no agent: ${fmt(sc.collector.baseRssMiB, 1)} MiB; ` +
        `bare ws: ${fmt(sc.bare.baseRssMiB, 1)} MiB. The per-agent figure includes the collector's in-memory state of that agent's host and guests.`,
    );
    out.push('');
    out.push(
      '| server | agents | connected | RSS MiB | KiB per agent | heap used MiB | time to connect and store s | idle CPU % of a core |',
    );
    out.push('|---|---|---|---|---|---|---|---|');
    for (const [name, s] of [
      ['collector', sc.collector],
      ['bare ws', sc.bare],
    ] as const) {
      for (const p of s.points) {
        out.push(
          `| ${name} | ${fmt(p.agents)} | ${fmt(p.connected)} | ${fmt(p.rssMiB, 1)} | ${fmt(p.rssPerAgentKiB, 1)} | ${fmt(p.heapUsedMiB, 1)} | ${fmt(p.connectSec, 1)} | ${fmt(p.idleCpuPct, 1)} |`,
        );
      }
    }
    out.push('');
  }
  if (d) {
    out.push('## 3. Evaluation');
    out.push('');
    out.push(
      `${fmt(d.populate.guests)} guests on ${fmt(d.populate.hosts)} hosts stored through the store API (judgeInventory, then store.apply, which judges each new guest, ` +
        `then alerts) in ${fmt(d.populate.totalMs)} ms (judgeInventory ${fmt(d.populate.evaluateMs)}, apply ${fmt(d.populate.applyMs)}, alerts ${fmt(d.populate.alertsMs)}); ` +
        `${fmt(d.populate.firingAlerts)} alerts firing. Statuses: ${d.populate.byStatus.map((s) => `${s.status} ${fmt(s.n)}`).join(', ')}. ` +
        `Collector JS heap per stored guest: ${fmt(d.populate.heapPerGuest.totalBytes)} bytes, of which the evaluator's memo ${fmt(d.populate.heapPerGuest.evaluatorMemoBytes)} ` +
        `and the store's diff cache (and the rest) ${fmt(d.populate.heapPerGuest.storeCacheAndRestBytes)}.`,
    );
    out.push('');
    out.push(
      `reloadCatalog() after an operator's local catalog row is added or edited (a new catalog version each time): ` +
        d.reload.runs.map((x) => `${fmt(x.ms)} ms (${fmt(x.changedGuests)} guests changed)`).join(', ') +
        `. Its parts, measured alone: reading and parsing the stored guests ${fmt(d.reload.parts.readAndParseRowsMs)} ms, ` +
        `evaluating them with an empty memo ${fmt(d.reload.parts.evaluateOnlyMs)} ms, alerts.reconcileAll() ${fmt(d.reload.parts.alertsReconcileAllMs)} ms.`,
    );
    out.push('');
    if (d.reload.profile) out.push(...profileTable(d.reload.profile, 'CPU profile of one reloadCatalog()'));
    out.push('## 6. Store');
    out.push('');
    const s = d.storeDay;
    out.push(
      `One host with ${s.guests} guests over ${s.intervals} scans (a day at 60 s): ${fmt(s.snapshots)} snapshots (a scan with a change) and ` +
        `${fmt(s.heartbeats)} heartbeats; ${fmt(s.guestChanges)} guest changes (${fmt(s.replacedGuests)} guests replaced by new ones), ` +
        `${fmt(s.changeRows)} change rows; the database grew by ${fmt(s.bytesPerHostPerDay)} bytes (pages in use after a checkpoint). ` +
        `At that rate 1,000 hosts add ${fmt((s.bytesPerHostPerDay * 1000 * 365) / 1024 ** 3, 1)} GiB a year.`,
    );
    out.push('');
    out.push(
      `Matrix SQL over ${fmt(d.populate.guests)} guests: median ${fmt(d.matrix.sql.medianMs, 1)} ms, max ${fmt(d.matrix.sql.maxMs, 1)} ms, ${d.matrix.sql.cells} cells; plan: ${d.matrix.plan.join('; ')}.` +
        (d.matrix.liveMap
          ? ` The collector's LiveMap (what /api/matrix serves): loading it whole ${fmt(d.matrix.liveMap.load.medianMs, 1)} ms, matrix() from memory ${fmt(d.matrix.liveMap.matrix.medianMs, 2)} ms, one host's refresh after a snapshot ${fmt(d.matrix.liveMap.refreshHost.medianMs, 3)} ms.`
          : ''),
    );
    out.push(
      ` The whole map as /api/report returns it (${fmt(d.matrix.fullReport.guests)} guests): read ${fmt(d.matrix.fullReport.readMs)} ms, ` +
        `serialised ${fmt(d.matrix.fullReport.serializeMs)} ms, ${fmt(d.matrix.fullReport.bytes / 1024 ** 2, 1)} MiB.`,
    );
    out.push('');
  }
  if (f) {
    out.push('## 4. Freshness');
    out.push('');
    out.push(
      `A real \`hvmap-agent run --interval ${f.intervalSec}\` process scans a libvirt test-driver node file of ${f.domains} domains through the real virsh ` +
        `(a scan takes ~${fmt(f.scanDurationMs)} ms, then the agent sleeps ${f.intervalSec} s). At a random moment one domain's libosinfo id is edited ` +
        `(atomic rename). "To the scan" is edit → the agent's \`inventory sent\` log line; "beyond the scan" is from there to the collector's ` +
        `\`changes\` event (the live map) or to the first /api/report poll (every 25 ms) that shows the new OS.`,
    );
    out.push('');
    out.push(
      '| edit | edit → map ms | waiting for and running the scan ms | beyond the scan ms | edit → /api/report ms | edit → web page ms |',
    );
    out.push('|---|---|---|---|---|---|');
    f.samples.forEach((s, i) => {
      out.push(`| ${i + 1} | ${s.totalMs} | ${s.toScanMs} | ${s.beyondScanMs} | ${s.apiMs} | ${s.pageMs ?? 'n/a'} |`);
    });
    out.push('');
    out.push(`Web page: ${f.webPage}.`);
    out.push('');
  }
  if (r.agent?.length) {
    out.push('## 5. Agent footprint');
    out.push('');
    out.push(
      'The real agent CLI (`node --lite-mode hvmap-agent run --interval 1 --log-level debug`, the Node options the installer gives it) against a libvirt test-driver node file, through the real virsh. ' +
        'After a warm-up scan, CPU is read from /proc at scan boundaries: the agent process (utime + stime) and the virsh processes it ran and reaped (cutime + cstime).',
    );
    out.push('');
    if (r.idleNodeRssMiB) {
      out.push(
        `For scale: an idle Node process (\`node -e 'setInterval(() => {}, 1000)'\`) has ${fmt(r.idleNodeRssMiB, 1)} MiB RSS here.`,
      );
      out.push('');
    }
    out.push(
      '| domains | scans | RSS steady MiB | RSS peak MiB | CPU/scan agent ms | CPU/scan virsh ms | scan wall ms |',
    );
    out.push('|---|---|---|---|---|---|---|');
    for (const a of r.agent) {
      out.push(
        `| ${a.domains} | ${a.scans} | ${fmt(a.rssMiB.steady, 1)} | ${fmt(a.rssMiB.peak, 1)} | ${fmt(a.cpuMsPerScan.agent)} | ${fmt(a.cpuMsPerScan.virsh)} | ${fmt(a.scanWallMs)} |`,
      );
    }
    out.push('');
  }
  if (r.postgres) out.push(...postgresSection(r.postgres));
  if (Object.keys(r.errors).length) {
    out.push('## Failures');
    out.push('');
    for (const [section, error] of Object.entries(r.errors)) out.push(`- ${section}: \`${error.split('\n')[0]}\``);
    out.push('');
  }
  if (notes.trim()) {
    out.push(notes.trim());
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
