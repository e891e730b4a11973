/**
 * The agent's state files (agent id, spool): crash-safe writes, so a reader sees either the old or
 * the new content, never a torn file, even after a power loss; and their error type.
 */
import { open, rename } from 'node:fs/promises';
import path from 'node:path';

/** Writes `data` to `file` through a temporary file, fsync and rename. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  await syncDirectory(file);
}

/** The rename itself lives in the directory entry, so the directory is synced too (POSIX only). */
async function syncDirectory(file: string): Promise<void> {
  // Windows cannot open a directory as a file; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Error with a stable code about the agent's state dir; the message says what to do. */
export class StateError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StateError';
  }
}
