import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { Inventory } from '@hvmap/shared';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AgentPeer, connectPeer } from '../../../test/helpers/agent-peer.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { readReport } from '../store/report.js';

let dir: string;
let collector: RunningCollector;
let token: string;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-ingest-'));
  collector = await startCollector({
    db: path.join(dir, 'hvmap.db'),
    listen: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    helloTimeoutMs: 500,
  });
  token = collector.tokens.create('kvm-01').token;
});
afterEach(async () => {
  await collector.close();
  rmSync(dir, { recursive: true, force: true });
});

const connect = (bearer: string | null = token) => connectPeer(collector.agentUrl, bearer);

const hello = { type: 'hello', protocol: 1, agentId: 'agent-A', agentVersion: '0.1.0', hostname: 'kvm-01.example' };

function inventory(seq: number, names: string[]): Inventory {
  return {
    type: 'inventory',
    seq,
    collectedAt: new Date().toISOString(),
    host: { hostname: 'kvm-01.example', os: { platform: 'linux' }, cpu: {} },
    hypervisor: {
      driver: 'libvirt',
      product: 'kvm',
      version: '8.2.0',
      hostOs: 'Red Hat Enterprise Linux 9.2 (Plow)',
      hostOsFields: { ID: 'rhel', VERSION_ID: '9.2' },
    },
    guests: names.map((name, i) => ({
      uuid: `00000000-0000-0000-0000-00000000000${i}`,
      name,
      state: 'running',
      os: { evidence: [{ source: 'libosinfo', text: 'http://redhat.com/rhel/9.2' }] },
    })),
    errors: [],
    partial: false,
  };
}

describe('agent ingest', () => {
  it('welcomes an agent, stores its snapshot, then acknowledges it', async () => {
    const peer = await connect();
    peer.send(hello);
    expect(await peer.next('welcome')).toMatchObject({ protocol: 1, interval: 60 });
    peer.send(inventory(1, ['web01', 'web02']));
    expect(await peer.next('ack')).toEqual({ type: 'ack', seq: 1 });
    const report = readReport(collector.db);
    expect(report.guests.map((g) => [g.name, g.os && (g.os as { id: string }).id])).toEqual([
      ['web01', 'rhel-9.2'],
      ['web02', 'rhel-9.2'],
    ]);
    peer.ws.close();
  });

  it('tells a reconnecting agent the last seq it stored', async () => {
    const first = await connect();
    first.send(hello);
    await first.next('welcome');
    first.send(inventory(7, ['web01']));
    await first.next('ack');
    first.ws.close();
    await first.closed;
    const second = await connect();
    second.send(hello);
    expect(await second.next('welcome')).toMatchObject({ lastSeq: 7 });
    second.ws.close();
  });

  it('stores each snapshot as reported when the ingest worker sends only what changed, and when the store dropped its copy', async () => {
    await collector.sessions.framesInWorker;
    const peer = await connect();
    peer.send(hello);
    await peer.next('welcome');
    const names = () =>
      (
        collector.db.prepare('SELECT name FROM guests WHERE removed_at IS NULL ORDER BY name').all() as {
          name: string;
        }[]
      ).map((g) => g.name);
    const sendAndAck = async (seq: number, guests: string[]) => {
      peer.send(inventory(seq, guests));
      expect(await peer.next('ack')).toEqual({ type: 'ack', seq });
    };
    await sendAndAck(1, ['web01', 'web02', 'web03']);
    const judged = vi.spyOn(collector.evaluator, 'judgeInventory');
    await sendAndAck(2, ['web01', 'web02', 'db03']);
    // The worker sent the third guest only (the other two are as in snapshot 1).
    expect(judged.mock.calls[0][0].guests.map((g) => g.name)).toEqual(['db03']);
    expect(names()).toEqual(['db03', 'web01', 'web02']);
    // Dropped as after a failed write or another collector's: the snapshot is read whole instead.
    collector.store.forgetHost('kvm-01');
    await sendAndAck(3, ['web01', 'app02']);
    expect(judged.mock.calls[1][0].guests.map((g) => g.name)).toEqual(['web01', 'app02']);
    expect(names()).toEqual(['app02', 'web01']);
    await sendAndAck(4, ['web01']);
    expect(judged.mock.calls[2][0].guests).toEqual([]);
    expect(names()).toEqual(['web01']);
    peer.ws.close();
  });

  it('closes a connection whose frame was lost with the ingest worker, and stores it when resent', async () => {
    await collector.sessions.framesInWorker;
    const peer = await connect();
    peer.send(hello);
    await peer.next('welcome');
    // A frame over several socket reads, which ws assembles in memory of its own: it moves to the worker.
    const many = Array.from({ length: 800 }, (_, i) => `vm-${String(i).padStart(3, '0')}`);
    const reader = (collector.sessions as unknown as { frames: { worker: Worker } }).frames;
    const worker = reader.worker;
    const handedOver = vi.spyOn(worker, 'postMessage').mockImplementation(() => {});
    peer.send(inventory(1, many));
    await vi.waitFor(() => expect(handedOver).toHaveBeenCalled());
    const [message, transfer] = handedOver.mock.calls[0] as [{ bytes: Uint8Array }, ArrayBuffer[]];
    expect(transfer).toEqual([message.bytes.buffer]);
    // The worker dies holding the frame's only bytes.
    await worker.terminate();
    expect(await peer.next('error')).toMatchObject({ code: 'INGEST_WORKER_FAILED' });
    expect((await peer.closed).code).toBe(4503);
    expect(readReport(collector.db).guests).toEqual([]);
    // Its agent sends it again: read in the main thread now.
    const again = await connect();
    again.send(hello);
    await again.next('welcome');
    again.send(inventory(1, many));
    expect(await again.next('ack')).toEqual({ type: 'ack', seq: 1 });
    expect(readReport(collector.db).guests).toHaveLength(800);
    again.ws.close();
  });

  it('refuses every snapshot whose commit fails, and stores each once when resent', async () => {
    const second = collector.tokens.create('kvm-02').token;
    const helloOf = (agentId: string) => ({ ...hello, agentId });
    const peers = [await connect(), await connectPeer(collector.agentUrl, second)];
    for (const [i, peer] of peers.entries()) {
      peer.send(helloOf(`agent-${i}`));
      await peer.next('welcome');
      peer.send(inventory(1, ['web01']));
      await peer.next('ack');
    }
    const commit = collector.store.inOneCommit.bind(collector.store);
    // What every statement wrote, then a commit that fails (a full disk at the WAL's write, say).
    const failing = vi.spyOn(collector.store, 'inOneCommit').mockImplementation((write, options) =>
      commit(() => {
        write();
        throw new Error('injected commit failure');
      }, options),
    );
    for (const peer of peers) peer.send(inventory(2, ['web01', 'web02']));
    for (const peer of peers) {
      expect(await peer.next('error')).toMatchObject({ code: 'STORE_FAILED' });
      expect((await peer.closed).code).toBe(4503);
    }
    const stored = () =>
      collector.db.prepare('SELECT COUNT(*) AS n FROM guests WHERE removed_at IS NULL').get() as { n: number };
    expect(stored().n).toBe(2);
    failing.mockRestore();
    const again = [await connect(), await connectPeer(collector.agentUrl, second)];
    for (const [i, peer] of again.entries()) {
      peer.send(helloOf(`agent-${i}`));
      expect(await peer.next('welcome')).toMatchObject({ lastSeq: 1 });
      peer.send(inventory(2, ['web01', 'web02']));
      expect(await peer.next('ack')).toEqual({ type: 'ack', seq: 2 });
      peer.ws.close();
    }
    expect(stored().n).toBe(4);
    expect(collector.sessions.counters.snapshotsDuplicate).toBe(0);
  });

  it('answers every frame of a turn whose transaction cannot begin, each on its own', async () => {
    const peer = await connect();
    peer.send(hello);
    await peer.next('welcome');
    // As PostgreSQL away at BEGIN: the frames are handled one by one, this one stored alone.
    const noTransaction = vi.spyOn(collector.store, 'inOneCommit').mockImplementation(() => {
      throw new Error('injected: no transaction');
    });
    peer.send(inventory(1, ['web01']));
    expect(await peer.next('ack')).toEqual({ type: 'ack', seq: 1 });
    expect(readReport(collector.db).guests.map((g) => g.name)).toEqual(['web01']);
    // The frames' transaction, then the snapshots'.
    expect(noTransaction).toHaveBeenCalledTimes(2);
    noTransaction.mockRestore();
    peer.ws.close();
  });

  describe('a turn of several snapshots, stored without savepoints', () => {
    const names = ['kvm-01', 'kvm-02', 'kvm-03'];
    let peers: AgentPeer[];
    const snapshotOf = (i: number, seq: number, guests: string[], os = true): Inventory => {
      const snapshot = inventory(seq, guests);
      snapshot.host.hostname = `${names[i]}.example`;
      if (!os) for (const g of snapshot.guests) g.os = { evidence: [] };
      return snapshot;
    };

    beforeEach(async () => {
      // The turn's snapshots then come from the worker as deltas: a turn of snapshots only, which
      // opens no transaction for the other frames' writes.
      await collector.sessions.framesInWorker;
      const tokens = [token, ...names.slice(1).map((name) => collector.tokens.create(name).token)];
      peers = [];
      for (const [i, bearer] of tokens.entries()) {
        const peer = await connect(bearer);
        peer.send({ ...hello, agentId: `agent-${i}`, hostname: `${names[i]}.example` });
        await peer.next('welcome');
        peer.send(snapshotOf(i, 1, ['web01']));
        await peer.next('ack');
        peers.push(peer);
      }
    });
    afterEach(() => {
      for (const peer of peers) peer.ws.close();
    });

    /** Sends each peer's snapshot and has the collector handle them in one turn; the commits it opened. */
    async function inOneTurn(snapshots: Inventory[]): Promise<unknown[]> {
      const sessions = collector.sessions as unknown as { handleInbox(): void; inbox: unknown[] };
      const handleInbox = sessions.handleInbox.bind(sessions);
      const held = vi.spyOn(sessions, 'handleInbox').mockImplementation(() => {});
      for (const [i, snapshot] of snapshots.entries()) peers[i].send(snapshot);
      const deadline = Date.now() + 5000;
      while (sessions.inbox.length < snapshots.length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      held.mockRestore();
      const commits = vi.spyOn(collector.store, 'inOneCommit');
      handleInbox();
      const options = commits.mock.calls.map((call) => call[1]);
      commits.mockRestore();
      return options;
    }

    const guestsOf = (agent: string) =>
      (
        collector.db
          .prepare(
            'SELECT g.name FROM guests g JOIN hosts h ON h.id = g.host_id WHERE h.agent_name = ? AND g.removed_at IS NULL ORDER BY g.name',
          )
          .all(agent) as { name: string }[]
      ).map((r) => r.name);

    it('refuses the snapshot the database refuses alone, storing the others of its turn again each in a savepoint', async () => {
      collector.db.exec(`CREATE TEMP TRIGGER poison AFTER INSERT ON main.guests WHEN NEW.name = 'poison'
        BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`);
      const commits = await inOneTurn([
        snapshotOf(0, 2, ['web01', 'web02']),
        snapshotOf(1, 2, ['web01', 'poison']),
        snapshotOf(2, 2, ['web01', 'web03']),
      ]);
      expect(commits).toEqual([{ savepoints: false }, { savepoints: true }]);
      expect(await peers[0].next('ack')).toEqual({ type: 'ack', seq: 2 });
      expect(await peers[1].next('error')).toMatchObject({ code: 'STORE_FAILED' });
      expect((await peers[1].closed).code).toBe(4503);
      expect(await peers[2].next('ack')).toEqual({ type: 'ack', seq: 2 });
      expect(names.map(guestsOf)).toEqual([['web01', 'web02'], ['web01'], ['web01', 'web03']]);
      expect(names.map((name) => collector.store.lastSeq(name))).toEqual([2, 1, 2]);
      expect(collector.sessions.counters.snapshotsStored).toBe(names.length + 2);
    });

    it('refuses nothing for a failure that does not come back: the turn stored again is acknowledged whole', async () => {
      const apply = collector.store.apply.bind(collector.store);
      let failed = false;
      vi.spyOn(collector.store, 'apply').mockImplementation((agentName, judged) => {
        if (agentName === 'kvm-02' && !failed) {
          failed = true;
          throw new Error('injected: database busy');
        }
        return apply(agentName, judged);
      });
      const commits = await inOneTurn(names.map((_, i) => snapshotOf(i, 2, ['web01', `app0${i}`])));
      expect(commits).toEqual([{ savepoints: false }, { savepoints: true }]);
      for (const peer of peers) expect(await peer.next('ack')).toEqual({ type: 'ack', seq: 2 });
      expect(names.map(guestsOf)).toEqual([
        ['app00', 'web01'],
        ['app01', 'web01'],
        ['app02', 'web01'],
      ]);
    });

    it('undoes a failed alerts write whole, though the alerts go on after it: the turn is stored again', async () => {
      // The second of kvm-02's new alerts fails; the alerts log it and go on, as they do with savepoints.
      collector.db.exec(`CREATE TEMP TRIGGER poison AFTER INSERT ON main.alerts WHEN NEW.guest_name = 'web02'
        BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`);
      const alerts = () =>
        collector.db.prepare("SELECT agent_name, guest_name FROM alerts WHERE state = 'firing' ORDER BY id").all();
      const before = alerts();
      const commits = await inOneTurn([
        snapshotOf(0, 2, ['web01']),
        snapshotOf(1, 2, ['web01', 'web02', 'web03'], false),
        snapshotOf(2, 2, ['web01', 'web03'], false),
      ]);
      expect(commits).toEqual([{ savepoints: false }, { savepoints: true }]);
      for (const peer of peers) expect(await peer.next('ack')).toEqual({ type: 'ack', seq: 2 });
      expect(names.map(guestsOf)).toEqual([['web01'], ['web01', 'web02', 'web03'], ['web01', 'web03']]);
      // kvm-02's alerts were one write: none of them is kept; kvm-03's are.
      expect(alerts()).toEqual([
        ...before,
        { agent_name: 'kvm-03', guest_name: 'web01' },
        { agent_name: 'kvm-03', guest_name: 'web03' },
      ]);
    });
  });

  it('stores a snapshot received in full even when its agent is gone before the ack', async () => {
    const peer = await connect();
    peer.send(hello);
    await peer.next('welcome');
    peer.send(inventory(1, ['web01']));
    await peer.next('ack');
    // Sent, then the connection cut at once: the close overtakes the frame in the ingest worker.
    peer.send(inventory(2, ['web01', 'web02']));
    peer.ws.terminate();
    const deadline = Date.now() + 5000;
    while (collector.store.lastSeq('kvm-01') !== 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(readReport(collector.db).guests.map((g) => g.name)).toEqual(['web01', 'web02']);
  });

  it.each([
    ['no token', null, 401],
    ['an unknown token', 'hvm_not-a-token', 401],
  ])('refuses an upgrade with %s before the socket opens', async (_label, bearer, status) => {
    await expect(connect(bearer)).rejects.toMatchObject({ status });
  });

  it('refuses a revoked token', async () => {
    collector.tokens.revoke('kvm-01');
    await expect(connect()).rejects.toMatchObject({ status: 401 });
  });

  it.each([
    ['malformed JSON', '{"type": "inventory", ', 'BAD_JSON'],
    ['an unknown frame type', { type: 'launch-missiles' }, 'UNKNOWN_FRAME'],
    ['a snapshot with a wrong type', { ...inventory(2, ['x']), guests: 'many' }, 'BAD_FRAME'],
    [
      'a guest with an unknown state',
      { ...inventory(2, []), guests: [{ uuid: 'u', name: 'n', state: 'exploded', os: { evidence: [] } }] },
      'BAD_FRAME',
    ],
  ])('rejects %s with a reason and keeps what is stored', async (_label, frame, code) => {
    const peer = await connect();
    peer.send(hello);
    await peer.next('welcome');
    peer.send(inventory(1, ['web01']));
    await peer.next('ack');
    const before = readReport(collector.db);
    peer.send(frame);
    const error = await peer.next('error');
    expect(error).toMatchObject({ type: 'error', code });
    expect((error as { message: string }).message.length).toBeGreaterThan(10);
    expect((await peer.closed).code).toBe(4400);
    expect(readReport(collector.db)).toEqual(before);
    expect(collector.sessions.counters.framesRejected).toBe(1);
  });

  it('closes a connection that sends a frame over 1 MiB without storing anything', async () => {
    const peer = await connect();
    peer.send(hello);
    await peer.next('welcome');
    const huge = inventory(1, ['web01']);
    huge.guests[0].name = 'x'.repeat(200);
    peer.send({ ...huge, padding: 'y'.repeat(1024 * 1024) });
    expect((await peer.closed).code).toBe(1009);
    expect(readReport(collector.db).guests).toEqual([]);
  });

  it('refuses a protocol version from the future', async () => {
    const peer = await connect();
    peer.send({ ...hello, protocol: 2 });
    expect(await peer.next('error')).toMatchObject({ code: 'PROTOCOL_VERSION' });
    expect((await peer.closed).code).toBe(4406);
  });

  it('refuses a snapshot before hello', async () => {
    const peer = await connect();
    peer.send(inventory(1, ['web01']));
    expect(await peer.next('error')).toMatchObject({ code: 'HELLO_EXPECTED' });
    expect(readReport(collector.db).guests).toEqual([]);
  });

  it('closes a connection that says nothing within the hello deadline', async () => {
    const peer = await connect();
    expect(await peer.next('error')).toMatchObject({ code: 'HELLO_TIMEOUT' });
    expect((await peer.closed).code).toBe(4408);
  });

  it('refuses a second agent presenting a token bound to another agent', async () => {
    const first = await connect();
    first.send(hello);
    await first.next('welcome');
    const intruder = await connect();
    intruder.send({ ...hello, agentId: 'agent-B' });
    expect(await intruder.next('error')).toMatchObject({ code: 'TOKEN_BOUND' });
    expect((await intruder.closed).code).toBe(4401);
    first.ws.close();
  });

  it('answers /healthz and serves the report as JSON and CSV', async () => {
    const health = await fetch(`${collector.url}/healthz`);
    expect(health.status).toBe(200);
    const peer = await connect();
    peer.send(hello);
    await peer.next('welcome');
    peer.send(inventory(1, ['web, "01"']));
    await peer.next('ack');
    const json = (await (await fetch(`${collector.url}/api/report`)).json()) as {
      hosts: unknown[];
      guests: { name: string }[];
    };
    expect(json.hosts).toHaveLength(1);
    expect(json.guests[0].name).toBe('web, "01"');
    const csv = await (await fetch(`${collector.url}/api/report?format=csv`)).text();
    expect(csv.split('\r\n')[1]).toContain('"web, ""01"""');
    peer.ws.close();
  });
});
