import type { Inventory } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import { useCollector, welcomedAgent } from '../../../test/helpers/collector.js';
import { listAlerts } from '../alerts/store.js';

const test = useCollector();

/** An agent with its own token reporting hostname kvm-01 with one guest whose OS is unknown. */
async function reportAsKvm01(agent: string, uuid: string) {
  const peer = await welcomedAgent(test.collector, agent, 'kvm-01');
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

const get = (pathname: string) => fetch(new URL(pathname, test.collector.url));

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
    const unknown = listAlerts(test.collector.db, { state: 'firing' }).filter((a) => a.kind === 'guest-os-unknown');
    expect(unknown.find((a) => a.agent === 'impostor')?.message).toContain('on kvm-01 [agent impostor]');
  });
});
