import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Inventory } from '@hvmap/shared';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentPeer, connectPeer } from '../../../test/helpers/agent-peer.js';
import { BACKENDS, type Backend, databaseTargets } from '../../../test/helpers/store-backends.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { listAlerts } from './store.js';

interface Received {
  body: { text: string; event: string; alert: { kind: string; guest: string; state: string } };
  signature: string | undefined;
  timestamp: string | undefined;
  raw: string;
}

/** What a receiver does (README "Alerts"): HMAC-SHA256 of `timestamp.body` with the shared secret. */
function verified(r: Received, secret: string): boolean {
  const expected = `sha256=${createHmac('sha256', secret).update(`${r.timestamp}.${r.raw}`).digest('hex')}`;
  return r.signature === expected && Math.abs(Date.now() / 1000 - Number(r.timestamp)) < 300;
}

let collector: RunningCollector;
let receiver: Server;
let received: Received[];
/** How the webhook receiver answers: the tests make it fail to prove retries. */
let answer: number;

async function startReceiver(): Promise<string> {
  receiver = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      if (answer === 200)
        received.push({
          body: JSON.parse(body),
          raw: body,
          signature: req.headers['x-hvmap-signature'] as string,
          timestamp: req.headers['x-hvmap-timestamp'] as string,
        });
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
}

async function waitFor(ok: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const databases = databaseTargets();
let backend: Backend;

describe.each(BACKENDS)('alerts on %s', (name) => {
  beforeEach(() => {
    backend = name;
  });

  beforeEach(async () => {
    token = undefined as unknown as string;
    received = [];
    answer = 200;
    const url = await startReceiver();
    collector = await startCollector({
      db: await databases.target(backend),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
      webhooks: { urls: [url], secret: 's3cret', baseDelayMs: 50, maxDelayMs: 200 },
      silentAfterSec: 1,
      alertCheckIntervalMs: 100,
    });
  });
  afterEach(async () => {
    await collector.close();
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  function inventory(seq: number, libosinfo: string): Inventory {
    return {
      type: 'inventory',
      seq,
      collectedAt: new Date().toISOString(),
      host: { hostname: 'hv-01.example', os: { platform: 'win32' }, cpu: {} },
      hypervisor: {
        driver: 'hyperv',
        product: 'hyper-v',
        hostOs: 'Microsoft Windows Server 2019 Datacenter',
        hostOsFields: {
          Caption: 'Microsoft Windows Server 2019 Datacenter',
          Version: '10.0.17763',
          BuildNumber: '17763',
          ProductType: '3',
        },
      },
      guests: [
        {
          uuid: '0d2b8f3e-1111-4222-8333-944444444444',
          name: 'app01',
          state: 'running',
          os: { evidence: [{ source: 'libosinfo', text: libosinfo }] },
        },
      ],
      errors: [],
      partial: false,
    };
  }

  let token: string;

  /** The agent of host hv-01, connected and welcomed (its token is created on first use). */
  async function agent(): Promise<AgentPeer> {
    token ??= collector.tokens.create('hv-01').token;
    const peer = await connectPeer(collector.agentUrl, token);
    peer.send({ type: 'hello', protocol: 1, agentId: 'agent-hv-01', agentVersion: '0.1.0', hostname: 'hv-01.example' });
    await peer.next('welcome');
    return peer;
  }

  describe('alerts', () => {
    it('posts a signed firing alert when a guest is upgraded out of the lists, and the resolution when it comes back', async () => {
      const peer = await agent();
      // RHEL 8.2 on Hyper-V 2019: Microsoft's RHEL page lists it (built-in drivers).
      peer.send(inventory(1, 'http://redhat.com/rhel/8.2'));
      await peer.next('ack');
      expect(listAlerts(collector.db, { state: 'firing' })).toEqual([]);

      // Upgraded to Windows Server 2025, which Microsoft supports only on Hyper-V 2022 and later.
      peer.send(inventory(2, 'http://microsoft.com/win/2k25'));
      await peer.next('ack');
      await waitFor(() => received.some((r) => r.body.event === 'firing'), 'the firing webhook');
      const firing = received.find((r) => r.body.event === 'firing') as Received;
      expect(firing.body.alert).toMatchObject({ kind: 'guest-not-certified', guest: 'app01', state: 'firing' });
      expect(firing.body.text).toMatch(/^\[hvmap\] FIRING guest-not-certified: app01 \(Windows Server 2025\)/);
      // Signed with its timestamp: the same body under another timestamp (a replay) does not verify.
      expect(verified(firing, 's3cret')).toBe(true);
      expect(verified({ ...firing, timestamp: String(Number(firing.timestamp) - 1) }, 's3cret')).toBe(false);
      expect(verified(firing, 'other')).toBe(false);

      peer.send(inventory(3, 'http://redhat.com/rhel/8.2'));
      await peer.next('ack');
      await waitFor(() => received.some((r) => r.body.event === 'resolved'), 'the resolved webhook');
      expect(received.find((r) => r.body.event === 'resolved')?.body.alert).toMatchObject({
        kind: 'guest-not-certified',
        state: 'resolved',
      });
      expect(listAlerts(collector.db, { state: 'resolved' }).map((a) => a.kind)).toEqual(['guest-not-certified']);
      peer.ws.close();
    });

    it('keeps ingesting while the webhook is down, and delivers every alert once it is back', async () => {
      answer = 503;
      const peer = await agent();
      peer.send(inventory(1, 'http://microsoft.com/win/2k25'));
      await peer.next('ack');
      peer.send(inventory(2, 'http://redhat.com/rhel/8.2'));
      expect(await peer.next('ack')).toEqual({ type: 'ack', seq: 2 });
      await waitFor(() => collector.alerts.notifier.counters.failedAttempts >= 2, 'failed attempts');
      answer = 200;
      await waitFor(() => received.length === 2, 'both deliveries after the webhook returned');
      expect(received.map((r) => r.body.event)).toEqual(['firing', 'resolved']);
      peer.ws.close();
    });

    it('raises host-silent when an agent stops reporting and resolves it when it returns', async () => {
      const peer = await agent();
      peer.send(inventory(1, 'http://redhat.com/rhel/8.2'));
      await peer.next('ack');
      peer.ws.close();
      await waitFor(
        () => listAlerts(collector.db, { state: 'firing', kind: 'host-silent' }).length === 1,
        'host-silent',
      );
      // The same agent returns, with its token, and says hello: that contact resolves the alert.
      const back = await agent();
      await waitFor(
        () => listAlerts(collector.db, { state: 'resolved', kind: 'host-silent' }).length === 1,
        'host-silent resolved',
      );
      expect(listAlerts(collector.db, { state: 'firing', kind: 'host-silent' })).toEqual([]);
      back.ws.close();
    });

    it('raises agent-error when a later snapshot comes back partial, and resolves it when the driver recovers', async () => {
      const peer = await agent();
      peer.send(inventory(1, 'http://redhat.com/rhel/8.2'));
      await peer.next('ack');
      const partial = inventory(2, 'http://redhat.com/rhel/8.2');
      partial.partial = true;
      partial.errors = [{ driver: 'hyperv', code: 'POWERSHELL_ERROR', message: 'Get-VM failed' }];
      peer.send(partial);
      await peer.next('ack');
      expect(listAlerts(collector.db, { state: 'firing', kind: 'agent-error' }).map((a) => a.message)).toEqual([
        expect.stringContaining('hyperv POWERSHELL_ERROR'),
      ]);
      peer.send(inventory(3, 'http://redhat.com/rhel/8.2'));
      await peer.next('ack');
      expect(listAlerts(collector.db, { state: 'resolved', kind: 'agent-error' })).toHaveLength(1);
      peer.ws.close();
    });

    it('raises guest-eol and guest-os-unknown from the stored verdicts', async () => {
      const peer = await agent();
      const inv = inventory(1, 'http://microsoft.com/win/2k8r2');
      inv.guests.push({
        uuid: '0d2b8f3e-1111-4222-8333-955555555555',
        name: 'mystery',
        state: 'running',
        os: { evidence: [], reason: 'kvp_empty' },
      });
      peer.send(inv);
      await peer.next('ack');
      const kinds = listAlerts(collector.db, { state: 'firing' }).map((a) => `${a.kind} ${a.guest}`);
      expect(kinds).toEqual(expect.arrayContaining(['guest-eol app01', 'guest-os-unknown mystery']));
      peer.ws.close();
    });
  });
});
