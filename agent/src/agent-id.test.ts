import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_ID_FILE, loadOrCreateAgentId } from './agent-id.js';

describe('loadOrCreateAgentId', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hvmap-id-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('generates a random UUID on first use, in a state dir it creates, and returns the same one afterwards', async () => {
    const stateDir = path.join(dir, 'nested', 'state');
    const id = await loadOrCreateAgentId(stateDir);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await loadOrCreateAgentId(stateDir)).toBe(id);
    expect((await readFile(path.join(stateDir, AGENT_ID_FILE), 'utf8')).trim()).toBe(id);
  });

  it('keeps an id an operator wrote by hand', async () => {
    await writeFile(path.join(dir, AGENT_ID_FILE), 'kvm1-rack4\n');
    expect(await loadOrCreateAgentId(dir)).toBe('kvm1-rack4');
  });

  it('refuses a file that holds no id, with a code and a message that says to delete it', async () => {
    await writeFile(path.join(dir, AGENT_ID_FILE), 'two words\n');
    await expect(loadOrCreateAgentId(dir)).rejects.toMatchObject({
      code: 'AGENT_ID_INVALID',
      message: expect.stringContaining('delete it'),
    });
  });
});
