import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCollector } from '../../../test/helpers/collector.js';

const test = useCollector({ maxLivePages: 2 });
const sockets: WebSocket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.terminate();
});

/** Opens /live; resolves with the HTTP status of a refusal, or 101 once open. */
function openLive(): Promise<number> {
  const ws = new WebSocket(`${test.collector.url.replace('http', 'ws')}/live`);
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
        async () =>
          (await (await fetch(`${test.collector.url}/metrics`)).text()).match(/^hvmap_live_clients (\d+)/m)?.[1],
      )
      .toBe('1');
    expect(await openLive()).toBe(101);
  });
});
