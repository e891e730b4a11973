/**
 * 3. Evaluation: reloadCatalog() over 100,000 stored guests; one snapshot's incremental evaluation.
 * 6. Store: database bytes per host per day of history; the matrix query at 100,000 guests.
 * Both run in a child (store-worker) so that its heap holds only the collector's data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { progress, startChild } from '../common.js';
import { type ProfileSummary, summarizeProfile } from '../profile.js';

export interface DataResult {
  populate: {
    hosts: number;
    guests: number;
    totalMs: number;
    evaluateMs: number;
    applyMs: number;
    alertsMs: number;
    firingAlerts: number;
    heapPerGuest: { totalBytes: number; evaluatorMemoBytes: number; storeCacheAndRestBytes: number };
    db: { pages: number } | null;
    byStatus: { status: string; n: number }[];
  };
  reload: {
    runs: { ms: number; version: string; changedGuests: number }[];
    medianMs: number;
    parts: { readAndParseRowsMs: number; evaluateOnlyMs: number; alertsReconcileAllMs: number; guests: number };
    profile: ProfileSummary | null;
  };
  incremental: {
    guests: number;
    coldEvaluateUs: number;
    warmEvaluateUs: number;
    applyUs: number;
    alertsUs: number;
    totalUs: number;
    samples: number;
  };
  groupCommit: { hosts: number; group: number; applyUsSingle: number; applyUsGrouped: number };
  silenceCheck: { hosts: number; checkMs: number; readingGuestsMs: number };
  matrix: {
    sql: { medianMs: number; maxMs: number; cells: number };
    plan: string[];
    liveMap: {
      load: { medianMs: number; maxMs: number; cells: number };
      matrix: { medianMs: number; maxMs: number; cells: number };
      refreshHost: { medianMs: number; maxMs: number; cells: number };
    } | null;
    fullReport: { guests: number; readMs: number; serializeMs: number; bytes: number };
  };
  storeDay: {
    guests: number;
    intervals: number;
    changeRate: number;
    snapshots: number;
    heartbeats: number;
    guestChanges: number;
    replacedGuests: number;
    changeRows: number;
    guestRows: number;
    bytesPerHostPerDay: number;
    simulatedInMs: number;
  };
}

export async function runData(opts: {
  hosts: number;
  guestsPerHost: number;
  reloadReps: number;
  profile: boolean;
  profileDir: string;
  dayIntervals: number;
}): Promise<DataResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-bench-data-'));
  const worker = await startChild('./children/store-worker.js', [dir], {
    execArgv: ['--expose-gc', '--max-old-space-size=8192'],
  });
  try {
    progress(
      `evaluation: storing ${opts.hosts * opts.guestsPerHost} guests on ${opts.hosts} hosts through the store API`,
    );
    const populate = await worker.call<DataResult['populate']>('populate', {
      hosts: opts.hosts,
      guestsPerHost: opts.guestsPerHost,
    });
    progress(
      `evaluation: stored ${populate.guests} guests in ${populate.totalMs} ms (evaluate ${populate.evaluateMs}, apply ${populate.applyMs}, alerts ${populate.alertsMs})`,
    );
    const profileFile = opts.profile ? path.join(opts.profileDir, 'catalog-reload.cpuprofile') : undefined;
    const reload = await worker.call<Omit<DataResult['reload'], 'profile'>>('reload', {
      reps: opts.reloadReps + (profileFile ? 1 : 0),
      profileFile,
    });
    progress(`evaluation: reloadCatalog() over ${reload.parts.guests} guests: median ${reload.medianMs} ms`);
    const incremental = await worker.call<DataResult['incremental']>('incremental', { iterations: 200 });
    const groupCommit = await worker.call<DataResult['groupCommit']>('groupCommit', { hosts: 300, group: 10 });
    const silenceCheck = await worker.call<DataResult['silenceCheck']>('silenceCheck');
    const matrix = await worker.call<DataResult['matrix']>('matrix', { reps: 10 });
    progress(`store: matrix query ${matrix.sql.medianMs} ms over ${populate.guests} guests`);
    const storeDay = await worker.call<DataResult['storeDay']>('storeDay', {
      guests: 100,
      intervals: opts.dayIntervals,
      changeRate: 0.01,
    });
    progress(`store: one host-day of history: ${storeDay.bytesPerHostPerDay} bytes`);
    return {
      populate,
      reload: { ...reload, profile: profileFile ? summarizeProfile(profileFile) : null },
      incremental,
      groupCommit,
      silenceCheck,
      matrix,
      storeDay,
    };
  } finally {
    await worker.stop(60_000);
    rmSync(dir, { recursive: true, force: true });
  }
}
