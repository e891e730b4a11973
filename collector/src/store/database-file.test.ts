import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COLLECTOR_CLI, runCli } from '../../../test/helpers/processes.js';
import { startCollector } from '../collector.js';
import { openDatabase } from './db.js';
import { TokenStore } from './tokens.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-dbfile-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (file: string) => statSync(file).mode & 0o777;

describe('the database file', () => {
  it('is created readable by its owner only, with its WAL and shared-memory files', () => {
    const file = path.join(dir, 'new', 'hvmap.db');
    const db = openDatabase(file, { create: true });
    new TokenStore(db).create('kvm-01');
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(mode(f), f).toBe(0o600);
    db.close();
  });

  it('is narrowed to its owner when an earlier version left it readable by all', () => {
    const file = path.join(dir, 'hvmap.db');
    openDatabase(file, { create: true }).close();
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      writeFileSync(f, '', { flag: 'a' });
      chmodSync(f, 0o644);
    }
    const db = openDatabase(file);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(mode(f), f).toBe(0o600);
    db.close();
  });
});

describe('one collector per database', () => {
  it('refuses a second serve on the same file, naming the file and the other process', async () => {
    const db = path.join(dir, 'hvmap.db');
    const first = await startCollector({ db, listen: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
    try {
      const second = await runCli(COLLECTOR_CLI, ['serve', '--db', db, '--listen', '127.0.0.1:0']);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`${db} is served by another collector (pid ${process.pid}`);
      expect(second.stderr).toContain('DB_IN_USE');
      // Other commands still use the database beside it.
      expect((await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-09', '--db', db])).code).toBe(0);
    } finally {
      await first.close();
    }
    // Closed, the database can be served again.
    const again = await startCollector({ db, listen: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
    await again.close();
  });

  it('takes over the lock of a collector that died without releasing it', async () => {
    const db = path.join(dir, 'hvmap.db');
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => gone.once('exit', r));
    writeFileSync(`${db}.lock`, JSON.stringify({ pid: gone.pid, since: '2026-12-01T00:00:00.000Z' }));
    const c = await startCollector({ db, listen: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
    await c.close();
  });
});
