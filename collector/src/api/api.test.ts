import { request } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type FleetHost, inventory, ProtocolAgent, testFleet } from '../../../test/helpers/fleet.js';
import { BACKENDS, type Backend, databaseTargets } from '../../../test/helpers/store-backends.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { counted } from '../report/hygiene.js';
import type { AgentView, GuestDetail, GuestView, HostView, MatrixView, Page, SummaryView } from './queries.js';
import { formatView, viewFromDb } from './report-views.js';

/** What the collector's own evaluator says of each fleet guest: the expectations of these tests. */
interface Expected {
  host: string;
  hypervisor: string | null;
  name: string;
  uuid: string;
  os: string | null;
  status: string;
  eol: boolean;
}

let collector: RunningCollector;
let fleet: FleetHost[];
let expected: Expected[];
const agents: ProtocolAgent[] = [];

async function get(pathname: string, init: RequestInit = {}): Promise<Response> {
  return fetch(new URL(pathname, collector.url), { redirect: 'manual', ...init });
}

async function json<T>(pathname: string): Promise<T> {
  const res = await get(pathname);
  expect(res.status, `${pathname}: ${res.status}`).toBe(200);
  return (await res.json()) as T;
}

/** RFC 4180 reader for the tests: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

function records(text: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(text);
  return rows.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

const count = (pred: (e: Expected) => boolean) => expected.filter(pred).length;

const databases = databaseTargets();
let backend: Backend;

describe.each(BACKENDS)('the API on %s', (name) => {
  beforeAll(() => {
    backend = name;
  });

  beforeAll(async () => {
    collector = await startCollector({
      db: await databases.target(backend),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
    });
    fleet = testFleet();
    expected = fleet.flatMap((host) => {
      const judged = collector.evaluator.judgeInventory(inventory(host, 1));
      return judged.inventory.guests
        .map((guest) => ({ guest, ...judged.judge(guest) }))
        .map((e) => ({
          host: host.hostname,
          hypervisor: judged.hypervisor?.id ?? null,
          name: e.guest.name,
          uuid: e.guest.uuid,
          os: e.os?.id ?? null,
          status: e.status,
          eol: e.eolDate !== null,
        }));
    });
    // The fleet is chosen to hold every kind of verdict; a catalog change that loses one must be seen here.
    for (const status of ['certified', 'not-certified', 'unknown'])
      expect(
        count((e) => e.status === status),
        status,
      ).toBeGreaterThan(0);
    expect(count((e) => e.eol)).toBeGreaterThan(0);
    for (const host of fleet) {
      const agent = await ProtocolAgent.connect(collector.agentUrl, collector.tokens.create(host.agent).token, host);
      await agent.report();
      agents.push(agent);
    }
  });

  afterAll(async () => {
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await collector.close();
  });

  describe('GET /api/summary', () => {
    it('counts hosts, guests by status, end of life, agents and alerts', async () => {
      const s = await json<SummaryView & { catalogVersion: string }>('/api/summary');
      expect(s.hosts).toBe(3);
      expect(s.guests).toEqual({
        total: expected.length,
        certified: count((e) => e.status === 'certified'),
        notCertified: count((e) => e.status === 'not-certified'),
        unknown: count((e) => e.status === 'unknown'),
        eol: count((e) => e.eol),
      });
      expect(s.agents).toEqual({ active: 3, connected: 3, polled: 0, pollsFailing: 0 });
      expect(s.alerts.firing).toBeGreaterThan(0);
      expect(s.catalogVersion).toBe(collector.evaluator.catalogVersion);
    });
  });

  describe('GET /api/hosts', () => {
    it('lists hosts by hostname with their hypervisor, guest counts and connection', async () => {
      const page = await json<Page<HostView>>('/api/hosts');
      expect(page.items.map((h) => h.hostname)).toEqual(['hv-01.example', 'hv-02.example', 'kvm-01.example']);
      const kvm = page.items[2];
      expect(kvm).toMatchObject({
        agent: 'kvm-01',
        hypervisor: { id: 'kvm-rhel-9.2', name: 'KVM on RHEL 9.2', product: 'kvm', version: 'RHEL 9.2' },
        connected: true,
        partial: false,
        errors: 0,
      });
      expect(kvm.guests.total).toBe(count((e) => e.host === 'kvm-01.example'));
      expect(kvm.guests.unknown).toBe(count((e) => e.host === 'kvm-01.example' && e.status === 'unknown'));
    });

    it('pages with limit and offset', async () => {
      const first = await json<Page<HostView>>('/api/hosts?limit=2');
      expect(first).toMatchObject({ total: 3, limit: 2, offset: 0, nextOffset: 2 });
      const second = await json<Page<HostView>>('/api/hosts?limit=2&offset=2');
      expect(second.items.map((h) => h.hostname)).toEqual(['kvm-01.example']);
      expect(second.nextOffset).toBeNull();
    });

    it('filters by search text, hypervisor and guest status', async () => {
      const names = async (q: string) => (await json<Page<HostView>>(`/api/hosts?${q}`)).items.map((h) => h.hostname);
      expect(await names('q=kvm')).toEqual(['kvm-01.example']);
      expect(await names('hypervisor=hyper-v-2019')).toEqual(['hv-01.example']);
      const withNotCertified = [...new Set(expected.filter((e) => e.status === 'not-certified').map((e) => e.host))];
      expect(await names('status=not-certified')).toEqual(withNotCertified.sort());
    });

    it('shows one host with its facts, and answers 404 for an unknown one', async () => {
      const host = await json<HostView & { facts: { cpu: { brand: string } }; reported: { driver: string } }>(
        '/api/hosts/hv-02.example',
      );
      expect(host).toMatchObject({ hostname: 'hv-02.example', facts: { cpu: { brand: 'Test CPU' } } });
      expect(host.reported.driver).toBe('hyperv');
      const missing = await get('/api/hosts/nope.example');
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ error: 'HOST_NOT_FOUND' });
    });

    it('exports every host as CSV', async () => {
      const res = await get('/api/hosts?format=csv&limit=1');
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      const rows = records(await res.text());
      expect(rows.map((r) => r.hostname)).toEqual(['hv-01.example', 'hv-02.example', 'kvm-01.example']);
      expect(rows[2]).toMatchObject({ hypervisor_id: 'kvm-rhel-9.2', connected: 'yes' });
    });
  });

  describe('GET /api/guests', () => {
    const guests = async (q = '') => json<Page<GuestView>>(`/api/guests?limit=1000&${q}`);

    it('lists every present guest with its host, OS, status and end of life', async () => {
      const page = await guests();
      expect(page.total).toBe(expected.length);
      for (const e of expected) {
        const g = page.items.find((x) => x.uuid === e.uuid);
        expect(g, e.name).toMatchObject({ host: e.host, name: e.name, status: e.status, removedAt: null });
        expect(g?.os?.id ?? null).toBe(e.os);
        expect(g?.hypervisor.id).toBe(e.hypervisor);
        expect(g?.eol !== null).toBe(e.eol);
      }
      expect(page.items.find((g) => g.name === 'mystery')?.osUnknownReason).toBe('no_guest_agent');
    });

    it('pages through every guest exactly once', async () => {
      const seen: string[] = [];
      for (let offset: number | null = 0; offset !== null; ) {
        const page: Page<GuestView> = await json(`/api/guests?limit=3&offset=${offset}`);
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map((g) => g.uuid));
        offset = page.nextOffset;
      }
      expect(seen.sort()).toEqual(expected.map((e) => e.uuid).sort());
    });

    it.each([
      ['status=not-certified', (e: Expected) => e.status === 'not-certified'],
      ['status=certified', (e: Expected) => e.status === 'certified'],
      ['eol=true', (e: Expected) => e.eol],
      ['eol=false', (e: Expected) => !e.eol],
      ['host=hv-02.example', (e: Expected) => e.host === 'hv-02.example'],
      ['hypervisor=hyper-v-2019', (e: Expected) => e.hypervisor === 'hyper-v-2019'],
      ['os=rhel-8.6', (e: Expected) => e.os === 'rhel-8.6'],
      ['os=unidentified', (e: Expected) => e.os === null],
      ['os=rhel-8.6&status=not-certified', (e: Expected) => e.os === 'rhel-8.6' && e.status === 'not-certified'],
      ['q=Windows Server 2019', (e: Expected) => e.os === 'windows-server-2019'],
      ['q=DB01', (e: Expected) => e.name === 'db01'],
      ['q=50%', () => false],
    ])('filters by %s', async (query, pred) => {
      const page = await guests(query);
      expect(page.items.map((g) => g.uuid).sort()).toEqual(
        expected
          .filter(pred)
          .map((e) => e.uuid)
          .sort(),
      );
      expect(page.total).toBe(count(pred));
    });

    it("filters by a program's verdict", async () => {
      const all = await guests();
      const details = await Promise.all(
        all.items.map((g) => json<GuestDetail>(`/api/guests/${g.host}/${encodeURIComponent(g.key)}`)),
      );
      const verdictOf = (d: GuestDetail, program: string) => d.programs.find((p) => p.program === program)?.verdict;
      for (const [program, verdict] of [
        ['ms-hyperv-linux', 'excluded'],
        ['ms-hyperv-linux', 'covered'],
        ['ms-svvp', 'silent'],
      ]) {
        const page = await guests(`program=${program}&verdict=${verdict}`);
        const want = details.filter((d) => verdictOf(d, program) === verdict).map((d) => d.uuid);
        expect(page.items.map((g) => g.uuid).sort(), `${program} ${verdict}`).toEqual(want.sort());
      }
      const speaks = await guests('program=ms-hyperv-linux');
      expect(speaks.items.map((g) => g.uuid).sort()).toEqual(
        details
          .filter((d) => ['covered', 'excluded'].includes(verdictOf(d, 'ms-hyperv-linux') ?? ''))
          .map((d) => d.uuid)
          .sort(),
      );
    });

    it('sorts worst status first on request', async () => {
      const page = await guests('sort=status');
      const rank = { 'not-certified': 0, unknown: 1, certified: 2 } as Record<string, number>;
      const ranks = page.items.map((g) => rank[g.status]);
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['offset=-1', 'offset'],
      ['status=fine', 'status'],
      ['sort=random', 'sort'],
      ['verdict=maybe', 'verdict'],
      ['format=xml', 'format'],
    ])('answers 400 for %s, naming the parameter', async (query, name) => {
      const res = await get(`/api/guests?${query}`);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('BAD_REQUEST');
      expect(body.message).toContain(name);
    });

    it('exports CSV that quotes commas, quotes and line breaks', async () => {
      const res = await get('/api/guests?format=csv&host=hv-01.example');
      expect(res.headers.get('content-disposition')).toContain('hvmap-guests.csv');
      const text = await res.text();
      expect(text).toContain('"db ""primary"", east\nwing"');
      const rows = records(text);
      expect(rows.map((r) => r.name).sort()).toEqual(
        expected
          .filter((e) => e.host === 'hv-01.example')
          .map((e) => e.name)
          .sort(),
      );
      expect(rows.find((r) => r.name.startsWith('db "primary"'))).toMatchObject({
        name: 'db "primary", east\nwing',
        host: 'hv-01.example',
        os_id: 'rhel-8.6',
      });
    });

    it('shows a removed guest only when asked, with when it went', async () => {
      const host = fleet[2];
      const gone = host.guests.pop() as (typeof host.guests)[number];
      await agents[2].report();
      try {
        expect((await guests()).items.some((g) => g.uuid === gone.uuid)).toBe(false);
        const removed = await guests('removed=only');
        expect(removed.items.map((g) => g.uuid)).toEqual([gone.uuid]);
        expect(removed.items[0].removedAt).not.toBeNull();
        expect((await guests('removed=include')).total).toBe(expected.length);
      } finally {
        host.guests.push(gone);
        await agents[2].report();
      }
    });
  });

  describe('GET /api/guests/:hostname/:uuid', () => {
    it("gives one guest's full verdict: every program consulted with its source", async () => {
      const e = expected.find((x) => x.status === 'not-certified') as Expected;
      const d = await json<GuestDetail>(`/api/guests/${e.host}/${e.uuid}`);
      expect(d).toMatchObject({ name: e.name, host: e.host, status: 'not-certified', vcpus: 2 });
      const programs = collector.evaluator.catalogInForce.programs.filter((p) => p.kind === 'certification');
      expect(d.programs.map((p) => p.program).sort()).toEqual(programs.map((p) => p.program).sort());
      for (const p of d.programs) expect(p.source, p.program).toMatch(/\S/);
      expect(d.programs.some((p) => p.verdict === 'excluded')).toBe(true);
      expect(d.evidence).toEqual({ evidence: [{ source: 'libosinfo', text: expect.any(String) }] });
      expect(d.history[0]).toMatchObject({ kind: 'guest-added' });
    });

    it('says why an unknown or not-certified guest is so, in the verdict, the list and the CSV', async () => {
      for (const status of ['unknown', 'not-certified']) {
        const e = expected.find((x) => x.status === status) as Expected;
        const d = await json<GuestDetail>(`/api/guests/${e.host}/${e.uuid}`);
        expect(d.why.length, `${status}: ${JSON.stringify(d.why)}`).toBeGreaterThan(0);
        for (const w of d.why) expect(w).toMatch(/\S/);
        const listed = await json<Page<GuestView>>(`/api/guests?status=${status}&limit=1000`);
        expect(listed.items.find((g) => g.uuid === e.uuid)?.why).toEqual(d.why);
        const csv = records(await (await get(`/api/guests?status=${status}&format=csv`)).text());
        expect(csv.find((r) => r.uuid === e.uuid)?.why).toBe(d.why.join('; '));
      }
      const certified = expected.find((x) => x.status === 'certified') as Expected;
      expect((await json<GuestDetail>(`/api/guests/${certified.host}/${certified.uuid}`)).why).toEqual([]);
    });

    it('finds a guest by the key of a URL-encoded clone', async () => {
      const host = fleet[0];
      host.guests.push({ name: 'clone-a', uuid: 'cccccccc-0000-4000-8000-000000000001', os: host.guests[0].os });
      host.guests.push({ name: 'clone-b', uuid: 'cccccccc-0000-4000-8000-000000000001', os: host.guests[0].os });
      await agents[0].report();
      try {
        const clones = (await guests('q=clone-')).items;
        expect(clones.map((g) => g.key)).toEqual([
          'cccccccc-0000-4000-8000-000000000001/clone-a',
          'cccccccc-0000-4000-8000-000000000001/clone-b',
        ]);
        const b = await json<GuestDetail>(`/api/guests/kvm-01.example/${encodeURIComponent(clones[1].key)}`);
        expect(b.name).toBe('clone-b');
      } finally {
        host.guests.splice(-2);
        await agents[0].report();
      }
    });

    it('answers 404 for a guest not on that host', async () => {
      const res = await get(`/api/guests/hv-02.example/${expected[0].uuid}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: 'GUEST_NOT_FOUND' });
    });

    async function guests(q: string) {
      return json<Page<GuestView>>(`/api/guests?${q}`);
    }
  });

  describe('GET /api/matrix', () => {
    it('counts guests per hypervisor and OS, by status and end of life', async () => {
      const m = await json<MatrixView>('/api/matrix');
      expect(m.hypervisors.map((h) => h.id)).toEqual(['hyper-v-2012-r2', 'hyper-v-2019', 'kvm-rhel-9.2']);
      expect(m.hypervisors.find((h) => h.id === 'hyper-v-2019')).toMatchObject({
        product: 'hyper-v',
        version: '2019',
        hosts: 1,
      });
      const pairs = new Set(expected.map((e) => `${e.hypervisor}|${e.os}`));
      expect(m.cells).toHaveLength(pairs.size);
      for (const cell of m.cells) {
        const inCell = (e: Expected) => e.hypervisor === cell.hypervisor && e.os === cell.os;
        expect(cell, `${cell.hypervisor} × ${cell.os}`).toEqual({
          hypervisor: cell.hypervisor,
          os: cell.os,
          total: count(inCell),
          certified: count((e) => inCell(e) && e.status === 'certified'),
          notCertified: count((e) => inCell(e) && e.status === 'not-certified'),
          unknown: count((e) => inCell(e) && e.status === 'unknown'),
          eol: count((e) => inCell(e) && e.eol),
        });
      }
      expect(m.oses.find((o) => o.id === null)).toMatchObject({ name: 'Not identified', guests: 1 });
      expect(m.oses.find((o) => o.id === 'windows-server-2008-r2')).toMatchObject({
        name: 'Windows Server 2008 R2',
        family: 'windows',
        guests: 2,
      });
      expect(m.totals.total).toBe(expected.length);
    });

    it('exports one CSV row per cell', async () => {
      const rows = records(await (await get('/api/matrix?format=csv')).text());
      const m = await json<MatrixView>('/api/matrix');
      expect(rows).toHaveLength(m.cells.length);
      const row = rows.find((r) => r.hypervisor_id === 'kvm-rhel-9.2' && r.os_id === '') as Record<string, string>;
      expect(row).toMatchObject({ hypervisor: 'KVM on RHEL 9.2', os: 'Not identified', guests: '1', unknown: '1' });
    });
  });

  describe('GET /api/alerts', () => {
    it('lists alerts with a total, pages and filters them', async () => {
      const all = await json<Page<{ key: string; kind: string; state: string; host: string }>>('/api/alerts');
      expect(all.total).toBeGreaterThan(1);
      expect(all.items.every((a) => a.state === 'firing')).toBe(true);
      const eol = await json<Page<{ kind: string }>>('/api/alerts?kind=guest-eol');
      expect(eol.total).toBe(count((e) => e.eol));
      const first = await json<Page<{ key: string }>>('/api/alerts?limit=1');
      const second = await json<Page<{ key: string }>>('/api/alerts?limit=1&offset=1');
      expect(first).toMatchObject({ total: all.total, nextOffset: 1 });
      expect(second.items[0].key).not.toBe(first.items[0].key);
      expect((await get('/api/alerts?kind=guest-happy')).status).toBe(400);
    });

    it('exports alerts as CSV', async () => {
      const rows = records(await (await get('/api/alerts?format=csv&kind=guest-os-unknown')).text());
      expect(rows).toEqual([
        expect.objectContaining({ kind: 'guest-os-unknown', host: 'kvm-01.example', guest: 'mystery' }),
      ]);
    });
  });

  describe('GET /api/agents', () => {
    it('lists agents with their host, version, last contact and connection', async () => {
      collector.tokens.create('spare');
      const page = await json<Page<AgentView>>('/api/agents');
      expect(page.items.map((a) => a.name)).toEqual(['hv-01', 'hv-02', 'kvm-01', 'spare']);
      expect(page.items[0]).toMatchObject({
        host: 'hv-01.example',
        agentId: 'id-hv-01',
        version: '0.1.0',
        connected: true,
      });
      expect(page.items[0].lastContact).not.toBeNull();
      expect(page.items[3]).toMatchObject({ host: null, connected: false, lastContact: null });
      const csv = records(await (await get('/api/agents?format=csv')).text());
      expect(csv.map((r) => r.connected)).toEqual(['yes', 'yes', 'yes', 'no']);
    });
  });

  describe('GET /metrics', () => {
    it('exposes guests by status, hosts, agents, ingest counts and evaluation time in Prometheus text', async () => {
      const res = await get('/metrics');
      expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      const text = await res.text();
      const sample = (name: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name} `));
        return line ? Number(line.slice(name.length + 1)) : Number.NaN;
      };
      expect(sample('hvmap_guests{status="certified"}')).toBe(count((e) => e.status === 'certified'));
      expect(sample('hvmap_guests{status="not-certified"}')).toBe(count((e) => e.status === 'not-certified'));
      expect(sample('hvmap_guests_eol')).toBe(count((e) => e.eol));
      expect(sample('hvmap_hosts')).toBe(3);
      expect(sample('hvmap_agents_connected')).toBe(3);
      expect(sample('hvmap_ingest_snapshots_stored_total')).toBe(collector.sessions.counters.snapshotsStored);
      expect(sample('hvmap_ingest_frames_total{result="accepted"}')).toBe(collector.sessions.counters.framesAccepted);
      expect(sample('hvmap_ingest_frames_total{result="rejected"}')).toBe(0);
      expect(sample('hvmap_evaluation_duration_seconds_count')).toBe(collector.sessions.counters.snapshotsStored);
      expect(sample('hvmap_evaluation_duration_seconds_bucket{le="+Inf"}')).toBe(
        collector.sessions.counters.snapshotsStored,
      );
      expect(sample('hvmap_alert_deliveries_total{result="delivered"}')).toBe(0);
      expect(text).toContain(`hvmap_catalog_info{version="${collector.evaluator.catalogVersion}"} 1`);
      for (const name of text
        .split('\n')
        .filter((l) => l.startsWith('# TYPE'))
        .map((l) => l.split(' ')[2]))
        expect(text, name).toContain(`# HELP ${name} `);
    });
  });

  describe('the page and the live feed', () => {
    it('serves the page with a strict content security policy, and revalidates by ETag', async () => {
      const res = await get('/');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await res.text()).toContain('<script type="module" src="/app.js">');
      const js = await get('/app.js');
      expect(js.headers.get('content-type')).toContain('javascript');
      const again = await get('/app.js', { headers: { 'if-none-match': js.headers.get('etag') as string } });
      expect(again.status).toBe(304);
    });

    it('pushes one merged "changed" message per burst of snapshots, naming the hosts', async () => {
      const ws = new WebSocket(`${collector.url.replace('http', 'ws')}/live`);
      const messages: { type: string; hosts?: string[]; views?: string[] }[] = [];
      ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
      await new Promise((resolve) => ws.once('open', resolve));
      await expect.poll(() => messages[0]?.type).toBe('hello');
      // Changes of the tests before this one may still be waiting for their push (CI under load): it
      // goes first, and the pong behind it on the socket says the page has it.
      await expect.poll(() => collector.web.live.pending).toBe(false);
      await new Promise((resolve) => ws.once('pong', resolve).ping());
      messages.length = 0;
      // Three hosts change within one throttle window: pages hear of it once.
      for (const [i, host] of fleet.entries()) {
        host.guests[0].state = 'shutoff';
        await agents[i].report();
      }
      await expect.poll(() => messages.filter((m) => m.type === 'changed').length).toBeGreaterThan(0);
      const changed = messages.filter((m) => m.type === 'changed');
      expect(changed.length).toBeLessThanOrEqual(2);
      expect(changed.flatMap((m) => m.hosts).sort()).toEqual(['hv-01.example', 'hv-02.example', 'kvm-01.example']);
      expect(changed[0].views).toEqual(expect.arrayContaining(['matrix', 'guests', 'summary']));
      for (const [i, host] of fleet.entries()) {
        host.guests[0].state = 'running';
        await agents[i].report();
      }
      ws.close();
    });

    it('refuses a /live socket opened by a page of another origin', async () => {
      const ws = new WebSocket(`${collector.url.replace('http', 'ws')}/live`, { origin: 'https://evil.example' });
      const status = await new Promise<number>((resolve) =>
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
      );
      expect(status).toBe(403);
    });

    it('answers only to loopback names while open on loopback (no DNS rebinding)', async () => {
      // fetch may not set Host: a plain request sends what a browser would after the rebinding.
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          new URL('/api/summary', collector.url),
          { headers: { host: 'rebound.evil.example' } },
          (res) => {
            let text = '';
            res.on('data', (d) => {
              text += d;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(403);
      expect(JSON.parse(body)).toMatchObject({ error: 'HOST_NOT_ALLOWED' });
    });
  });

  describe('hvmap report --view', () => {
    it('prints each view from the database as a table, JSON and CSV', () => {
      const guests = viewFromDb(collector.db, 'guests', new URLSearchParams('status=not-certified'));
      const asJson = JSON.parse(formatView(guests, 'json')) as { items: GuestView[]; total: number };
      expect(asJson.total).toBe(count((e) => e.status === 'not-certified'));
      expect(formatView(guests, 'table')).toContain(counted(asJson.total, 'guest'));
      const matrix = viewFromDb(collector.db, 'matrix', new URLSearchParams());
      expect(records(formatView(matrix, 'csv')).length).toBe(
        new Set(expected.map((e) => `${e.hypervisor}|${e.os}`)).size,
      );
      const hosts = viewFromDb(collector.db, 'hosts', new URLSearchParams());
      expect(formatView(hosts, 'table')).toContain('kvm-01.example');
      expect(() => viewFromDb(collector.db, 'guests', new URLSearchParams('status=fine'))).toThrow(
        /status must be one of/,
      );
    });
  });
});
