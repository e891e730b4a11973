import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach } from 'vitest';
import { type CollectorOptions, type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { connectPeer } from './agent-peer.js';

/**
 * A real collector on a fresh SQLite file for each test of the calling file (on 127.0.0.1, port 0,
 * silent log), closed and its directory removed after. Read `.collector` and `.dir` inside a test.
 */
export function useCollector(options: Partial<CollectorOptions> = {}) {
  const state = {} as { collector: RunningCollector; dir: string };
  beforeEach(async () => {
    state.dir = mkdtempSync(path.join(tmpdir(), 'hvmap-test-'));
    state.collector = await startCollector({
      db: path.join(state.dir, 'hvmap.db'),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
      ...options,
    });
  });
  afterEach(async () => {
    await state.collector.close();
    rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
}

/** An agent with a token of its own (`.token`), connected and welcomed, reporting `hostname` (default: its name). */
export async function welcomedAgent(collector: RunningCollector, name: string, hostname = name) {
  const { token } = collector.tokens.create(name);
  const peer = await connectPeer(collector.agentUrl, token);
  peer.send({ type: 'hello', protocol: 1, agentId: `${name}-id`, agentVersion: '0.1.0', hostname });
  await peer.next('welcome');
  return Object.assign(peer, { token });
}
