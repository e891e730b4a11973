import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type RunningCollector, startCollector } from '../collector.js';

let dir: string;
let collector: RunningCollector;
const sockets: WebSocket[] = [];

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-live-'));
  collector = await startCollector({
    db: path.join(dir, 'hvmap.db'),
    listen: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    maxLivePages: 2,
  });
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await collector.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens /live; resolves with the HTTP status of a refusal, or 101 once open. */
function openLive(): Promise<number> {
  const ws = new WebSocket(`${collector.url.replace('http', 'ws')}/live`);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
}

describe('/live', () => {
  it('follows at most --max-live-pages pages at once and refuses the next with 503, until one leaves', async () => {
    expect(await openLive()).toBe(101);
    expect(await openLive()).toBe(101);
    expect(await openLive()).toBe(503);
    sockets[0].close();
    await new Promise((r) => sockets[0].once('close', r));
    await expect
      .poll(
        async () => (await (await fetch(`${collector.url}/metrics`)).text()).match(/^hvmap_live_clients (\d+)/m)?.[1],
      )
      .toBe('1');
    expect(await openLive()).toBe(101);
  });
});
