/**
 * One agent cannot grow the collector without end: a host's guests per snapshot, the guests it keeps
 * after they left and its change history are capped, what is older than the retention is forgotten,
 * and its alert lines in the log are rate-limited, while other agents keep being served.
 */
import type { Inventory } from '@hvmap/shared';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { useCollector, welcomedAgent } from '../../../test/helpers/collector.js';
import { AlertNotifier } from '../alerts/notify.js';

const test = useCollector({ maxGuestsPerHost: 100, maxRemovedGuestsPerHost: 200, maxChangesPerHost: 1000 });

function snapshot(hostname: string, seq: number, uuids: string[]): Inventory {
  return {
    type: 'inventory',
    seq,
    collectedAt: new Date().toISOString(),
    host: { hostname, os: { platform: 'linux' }, cpu: {} },
    hypervisor: { driver: 'libvirt', product: 'kvm', hostOs: 'Red Hat Enterprise Linux 9.2 (Plow)' },
    guests: uuids.map((uuid) => ({
      uuid,
      name: `vm-${uuid}`,
      state: 'running' as const,
      os: { evidence: [{ source: 'libosinfo' as const, text: 'http://redhat.com/rhel/9.2' }] },
    })),
    errors: [],
    partial: false,
  };
}

const agent = (name: string) => welcomedAgent(test.collector, name);

const count = (sql: string, ...args: unknown[]) => (test.collector.db.prepare(sql).get(...args) as { n: number }).n;

describe('bounds per agent', () => {
  it('keeps disk bounded while one agent reports new guests in every snapshot, and serves another meanwhile', async () => {
    const flooder = await agent('flood-01');
    const neighbour = await agent('kvm-02');
    let neighbourSeq = 0;
    for (let seq = 1; seq <= 25; seq++) {
      flooder.send(
        snapshot(
          'flood-01',
          seq,
          Array.from({ length: 100 }, (_, i) => `f-${seq}-${i}`),
        ),
      );
      expect(await flooder.next('ack')).toMatchObject({ seq });
      if (seq % 5 === 0) {
        neighbour.send(snapshot('kvm-02', ++neighbourSeq, [`n-${neighbourSeq}`]));
        expect(await neighbour.next('ack')).toMatchObject({ seq: neighbourSeq });
      }
    }
    const host = (test.collector.db.prepare("SELECT id FROM hosts WHERE hostname = 'flood-01'").get() as { id: number })
      .id;
    // 2,500 guests came and 2,400 went: the host keeps its 100 and the newest 200 that left.
    expect(count('SELECT COUNT(*) AS n FROM guests WHERE host_id = ? AND removed_at IS NULL', host)).toBe(100);
    expect(count('SELECT COUNT(*) AS n FROM guests WHERE host_id = ? AND removed_at IS NOT NULL', host)).toBe(200);
    // 4,900 changes were recorded: at most the cap, plus what came since the last trim.
    expect(count('SELECT COUNT(*) AS n FROM changes WHERE host_id = ?', host)).toBeLessThanOrEqual(1000 + 100 + 200);
    expect(
      count("SELECT COUNT(*) AS n FROM guests g JOIN hosts h ON h.id = g.host_id WHERE h.hostname = 'kvm-02'"),
    ).toBe(5);
    // A guest that left long ago and comes back is recorded as added, not lost in a stale cache.
    flooder.send(snapshot('flood-01', 26, ['f-1-0']));
    await flooder.next('ack');
    expect(
      count("SELECT COUNT(*) AS n FROM guests WHERE host_id = ? AND guest_key = 'f-1-0' AND removed_at IS NULL", host),
    ).toBe(1);
  });

  it('refuses a snapshot with more guests than --max-guests-per-host (TOO_MANY_GUESTS, 4413)', async () => {
    const peer = await agent('big-01');
    peer.send(
      snapshot(
        'big-01',
        1,
        Array.from({ length: 101 }, (_, i) => `b-${i}`),
      ),
    );
    expect(await peer.next('error')).toMatchObject({ code: 'TOO_MANY_GUESTS' });
    expect((await peer.closed).code).toBe(4413);
    expect(count('SELECT COUNT(*) AS n FROM guests')).toBe(0);
  });

  it('forgets removed guests, changes and resolved alerts older than the retention', async () => {
    const peer = await agent('kvm-03');
    peer.send(snapshot('kvm-03', 1, ['a', 'b']));
    await peer.next('ack');
    peer.send(snapshot('kvm-03', 2, ['a']));
    await peer.next('ack');
    expect(count('SELECT COUNT(*) AS n FROM guests WHERE removed_at IS NOT NULL')).toBe(1);
    const pruned = test.collector.store.prune(new Date(Date.now() + 60_000).toISOString());
    expect(pruned.guests).toBe(1);
    expect(pruned.changes).toBeGreaterThan(0);
    expect(count('SELECT COUNT(*) AS n FROM guests')).toBe(1);
    expect(count('SELECT COUNT(*) AS n FROM changes')).toBe(0);
    // The store reloads its cache: b returns as added, a stays.
    peer.send(snapshot('kvm-03', 3, ['a', 'b']));
    await peer.next('ack');
    expect(test.collector.db.prepare('SELECT kind FROM changes').all()).toEqual([{ kind: 'guest-added' }]);
  });
});

describe('alert lines in the log', () => {
  it('are rate-limited per agent, and what was left out is counted', () => {
    vi.useFakeTimers({ now: new Date('2026-12-02T10:00:00Z') });
    try {
      const lines: { msg: string; dropped?: number }[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
      const notifier = new AlertNotifier(test.collector.db, logger);
      const notice = (agent: string, i: number) => ({
        alertId: i,
        event: 'firing' as const,
        alert: {
          key: `k${i}`,
          kind: 'guest-os-unknown',
          agent,
          severity: 'warning',
          message: `m${i}`,
          silencedUntil: null,
        } as never,
      });
      notifier.notify(Array.from({ length: 100 }, (_, i) => notice('flood-01', i)));
      notifier.notify([notice('kvm-02', 1000)]);
      expect(lines.filter((l) => l.msg.includes('guest-os-unknown'))).toHaveLength(61);
      vi.setSystemTime(new Date('2026-12-02T10:01:00Z'));
      notifier.notify([notice('flood-01', 2000)]);
      expect(lines).toContainEqual(expect.objectContaining({ dropped: 40 }));
      notifier.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
