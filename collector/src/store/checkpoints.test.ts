import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointInBackground } from './checkpoints.js';
import { type Db, openDatabase } from './db.js';
import { TokenStore } from './tokens.js';

let dir: string;
let file: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-checkpoints-'));
  file = path.join(dir, 'hvmap.db');
  db = openDatabase(file, { create: true });
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes reach the database file itself only through a checkpoint; until then they are in the WAL. */
const fileBytes = () => statSync(file).size;
const walBytes = () => statSync(`${file}-wal`).size;

describe('WAL checkpoints in the background', () => {
  it("checkpoints from the worker, not in the connection's commits, and stops with it", async () => {
    const checkpoints = checkpointInBackground(file, db, pino({ level: 'silent' }));
    const autocheckpoint = db.prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number };
    expect(autocheckpoint.wal_autocheckpoint).toBe(0);
    const before = fileBytes();
    // ~2,000 pages: beyond the 1,000 at which the connection would have checkpointed on its own.
    const tokens = new TokenStore(db);
    const note = db.prepare('UPDATE agents SET agent_version = ? WHERE name = ?');
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) {
        tokens.create(`host-${i}`);
        note.run('x'.repeat(3000), `host-${i}`);
      }
    })();
    // (The worker may already have copied them: only the WAL is sure to hold them now.)
    expect(walBytes()).toBeGreaterThan(4_000_000);
    const deadline = Date.now() + 10_000;
    // Until the whole of it is copied: a size read while a checkpoint runs saw 2 of the 4 MB (CI).
    while (fileBytes() <= before + 4_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(fileBytes()).toBeGreaterThan(before + 4_000_000);
    await checkpoints.stop();
    // Stopped: later writes stay in the WAL until the connection closes.
    const stopped = fileBytes();
    note.run('y'.repeat(3000), 'host-1');
    await new Promise((r) => setTimeout(r, 1500));
    expect(fileBytes()).toBe(stopped);
  });
});
