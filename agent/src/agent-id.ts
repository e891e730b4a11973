/**
 * The agent's identity towards the collector: a random UUID generated on first start and kept in
 * the state dir. Hardware UUIDs are no substitute: containers report none and cloned VMs share one.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { StateError, writeFileAtomic } from './state-file.js';

/** File in the state dir holding the agent id. */
export const AGENT_ID_FILE = 'agent-id';

/** Returns the agent id stored in `stateDir`, creating the directory and the id on first use. */
export async function loadOrCreateAgentId(stateDir: string): Promise<string> {
  const file = path.join(stateDir, AGENT_ID_FILE);
  let text: string | null = null;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new StateError(
        'STATE_DIR_UNREADABLE',
        `cannot read ${file}: ${(err as Error).message}; run as a user who may, or pass --state-dir DIR`,
      );
    }
  }
  if (text !== null) {
    const id = text.trim();
    // An operator may set an id by hand (e.g. to keep a host's history across a reinstall), so any
    // short single-line text is accepted; anything else would be refused by the collector.
    if (/^[\x21-\x7e]{1,128}$/.test(id)) return id;
    throw new StateError(
      'AGENT_ID_INVALID',
      `${file} does not hold an agent id (1-128 printable characters); delete it to generate a new one`,
    );
  }
  const id = randomUUID();
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, `${id}\n`);
  } catch (err) {
    throw new StateError(
      'STATE_DIR_UNWRITABLE',
      `cannot write ${file}: ${(err as Error).message}; run as a user who may, or pass --state-dir DIR`,
    );
  }
  return id;
}
