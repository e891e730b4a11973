/**
 * One collector per SQLite file: two would each keep their own cache of what is stored and overwrite
 * each other's view. `hvmap serve` takes `<db>.lock` (its pid and start time); a lock whose process is
 * gone (a SIGKILL, a power cut) is taken over. Other commands (report, tokens) read and write the
 * database beside a running collector as before.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export class DatabaseInUseError extends Error {
  readonly code = 'DB_IN_USE';
}

interface Owner {
  pid: number;
  since: string;
}

/** Takes the database's serve lock; returns its release. Throws DatabaseInUseError naming the other process. */
export function lockDatabase(file: string): () => void {
  if (file === ':memory:') return () => {};
  const lock = `${path.resolve(file)}.lock`;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, since: new Date().toISOString() } satisfies Owner));
      closeSync(fd);
      return () => {
        if (ownerOf(lock)?.pid === process.pid) unlinkSync(lock);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = ownerOf(lock);
      if (owner && owner.pid !== process.pid && alive(owner.pid)) {
        throw new DatabaseInUseError(
          `${file} is served by another collector (pid ${owner.pid}, since ${owner.since}): stop it, or serve another database (if that process is not a collector, remove ${lock})`,
        );
      }
      unlinkSync(lock);
    }
  }
}

function ownerOf(lock: string): Owner | null {
  try {
    const owner = JSON.parse(readFileSync(lock, 'utf8')) as Partial<Owner>;
    return Number.isInteger(owner.pid) ? { pid: owner.pid as number, since: String(owner.since) } : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
