import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Inventory } from '@hvmap/shared';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectPeer } from '../../../test/helpers/agent-peer.js';
import { listAlerts } from '../alerts/store.js';
import { type RunningCollector, startCollector } from '../collector.js';

let dir: string;
let collector: RunningCollector;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-samename-'));
  collector = await startCollector({
    db: path.join(dir, 'hvmap.db'),
    listen: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
  });
});
afterEach(async () => {
  await collector.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An agent with its own token reporting hostname kvm-01 with one guest whose OS is unknown. */
async function reportAsKvm01(agent: string, uuid: string) {
  const peer = await connectPeer(collector.agentUrl, collector.tokens.create(agent).token);
  peer.send({ type: 'hello', protocol: 1, agentId: `${agent}-id`, agentVersion: '0.1.0', hostname: 'kvm-01' });
  await peer.next('welcome');
  const inventory: Inventory = {
    type: 'inventory',
    seq: 1,
    collectedAt: new Date().toISOString(),
    host: { hostname: 'kvm-01', os: { platform: 'linux' }, cpu: {} },
    hypervisor: { driver: 'libvirt', product: 'kvm', hostOs: 'Red Hat Enterprise Linux 9.2 (Plow)' },
    guests: [{ uuid, name: `vm-${agent}`, state: 'running', os: { evidence: [], reason: 'no_guest_agent' } }],
    errors: [],
    partial: false,
  };
  peer.send(inventory);
  await peer.next('ack');
  peer.ws.close();
}

const get = (pathname: string) => fetch(new URL(pathname, collector.url));

describe('two agents reporting one hostname', () => {
  it('are two hosts: looked up by agent, the hostname ambiguous, and each alert naming its agent', async () => {
    await reportAsKvm01('rack2-a', 'u-real');
    expect((await get('/api/hosts/kvm-01')).status).toBe(200);
    await reportAsKvm01('impostor', 'u-fake');

    const ambiguous = await get('/api/hosts/kvm-01');
    expect(ambiguous.status).toBe(409);
    expect(await ambiguous.json()).toMatchObject({ error: 'AMBIGUOUS_HOST', agents: ['impostor', 'rack2-a'] });
    expect((await get('/api/guests/kvm-01/u-real')).status).toBe(409);

    const byAgent = (await (await get('/api/hosts/impostor')).json()) as { agent: string; hostname: string };
    expect(byAgent).toMatchObject({ agent: 'impostor', hostname: 'kvm-01' });
    expect(await (await get('/api/guests/impostor/u-fake')).json()).toMatchObject({ name: 'vm-impostor' });
    expect((await get('/api/guests/impostor/u-real')).status).toBe(404);

    const hosts = (await (await get('/api/hosts')).json()) as { items: { agent: string }[] };
    expect(hosts.items.map((h) => h.agent).sort()).toEqual(['impostor', 'rack2-a']);
    const unknown = listAlerts(collector.db, { state: 'firing' }).filter((a) => a.kind === 'guest-os-unknown');
    expect(unknown.find((a) => a.agent === 'impostor')?.message).toContain('on kvm-01 [agent impostor]');
  });
});
