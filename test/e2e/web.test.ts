/**
 * The live page in a real browser (Debian's Chromium driven by playwright-core) against a real
 * collector fed by agents speaking the protocol over /agent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { CHROMIUM_LAUNCH_MS, launchChromium } from '../helpers/chromium.js';
import { type FleetHost, inventory, OS, ProtocolAgent, testFleet } from '../helpers/fleet.js';

interface Expected {
  hypervisor: string;
  os: string;
  status: string;
  eol: boolean;
}

let dir: string;
let dbFile: string;
let collector: RunningCollector;
let fleet: FleetHost[];
let agents: ProtocolAgent[] = [];
let browser: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

const UNIDENTIFIED = 'unidentified';

/** Each fleet guest as the collector's own evaluator sees it (the page must show the same). */
function expectations(c: RunningCollector): Expected[] {
  return fleet.flatMap((host) => {
    const judged = c.evaluator.judgeInventory(inventory(host, 1));
    return judged.inventory.guests.map(judged.judge).map((g) => ({
      hypervisor: judged.hypervisor?.id ?? UNIDENTIFIED,
      os: g.os?.id ?? UNIDENTIFIED,
      status: g.status,
      eol: g.eolDate !== null,
    }));
  });
}

/** Agent tokens by agent name: created on the first start, kept in the database across a restart. */
const tokens = new Map<string, string>();

/** A host the collector polls over SSH and cannot reach; its error carries markup, which must stay text. */
const POLL_ERROR = 'connection refused at far.example:22 <img src=x onerror="window.pwned=1">';
/** The polled host's first poll waits for the test, so the page is open before it fails. */
let releasePoll: () => void = () => {};
const pollReleased = new Promise<void>((resolve) => {
  releasePoll = resolve;
});

async function startWithFleet(listen: string): Promise<void> {
  const pollFile = path.join(dir, 'poll.txt');
  writeFileSync(pollFile, 'hvmap@far.example name=far-host\n');
  collector = await startCollector({
    db: dbFile,
    listen,
    logger: pino({ level: 'silent' }),
    poll: {
      file: pollFile,
      defaultUser: 'root',
      scan: async () => {
        await pollReleased;
        throw Object.assign(new Error(POLL_ERROR), { code: 'SSH_UNREACHABLE' });
      },
    },
  });
  agents = [];
  for (const host of fleet) {
    if (!tokens.has(host.agent)) tokens.set(host.agent, collector.tokens.create(host.agent).token);
    const agent = await ProtocolAgent.connect(collector.agentUrl, tokens.get(host.agent) as string, host);
    await agent.report();
    agents.push(agent);
  }
}

/** Rows of the guest table as the page shows them. */
function guestRows() {
  return page.locator('table.guests tbody tr[data-key]');
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-web-'));
  dbFile = path.join(dir, 'hvmap.db');
  fleet = testFleet();
  await startWithFleet('127.0.0.1:0');
  browser = await launchChromium(path.join(dir, 'chromium-profile'));
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (err) => pageErrors.push(err.message));
}, CHROMIUM_LAUNCH_MS + 30_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(agents.map((a) => a.close()));
  await collector?.close();
  // A Chromium that never finished starting may still be writing its profile.
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe('the live page in Chromium', () => {
  it('loads the fleet: summary, hosts and live status', async () => {
    const expected = expectations(collector);
    await page.goto(`${collector.url}/`);
    await expect
      .poll(() => page.locator('.card[data-key="guests"]').getAttribute('data-value'))
      .toBe(String(expected.length));
    const card = (key: string) => page.locator(`.card[data-key="${key}"]`).getAttribute('data-value');
    expect(await card('certified')).toBe(String(expected.filter((e) => e.status === 'certified').length));
    expect(await card('not-certified')).toBe(String(expected.filter((e) => e.status === 'not-certified').length));
    expect(await card('eol')).toBe(String(expected.filter((e) => e.eol).length));
    await page.locator('#live-state[data-state="live"]').waitFor();
    await page.click('.tabs a[data-tab="hosts"]');
    await expect
      .poll(() =>
        page.locator('table.hosts tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.host)),
      )
      .toEqual(['hv-01.example', 'hv-02.example', 'kvm-01.example']);
    // Drill-down: a host's page lists its guests.
    await page.click('tr[data-host="hv-02.example"]');
    await page.locator('#host').waitFor();
    await expect.poll(() => guestRows().count()).toBe(fleet[2].guests.length);
  });

  it('shows the right counts in every cell of the compatibility grid', async () => {
    const expected = expectations(collector);
    await page.goto(`${collector.url}/#/`);
    const pairs = new Map<string, Expected[]>();
    for (const e of expected)
      pairs.set(`${e.hypervisor}|${e.os}`, [...(pairs.get(`${e.hypervisor}|${e.os}`) ?? []), e]);
    await expect.poll(() => page.locator('button.cell').count()).toBe(pairs.size);
    for (const [pair, guests] of pairs) {
      const [hypervisor, os] = pair.split('|');
      const cell = page.locator(`button.cell[data-hypervisor="${hypervisor}"][data-os="${os}"]`);
      const data = await cell.evaluate((el) => ({
        ...(el as HTMLElement).dataset,
        text: el.querySelector('.n')?.textContent,
        cls: el.className,
      }));
      expect(data, pair).toMatchObject({
        total: String(guests.length),
        certified: String(guests.filter((g) => g.status === 'certified').length),
        notCertified: String(guests.filter((g) => g.status === 'not-certified').length),
        unknown: String(guests.filter((g) => g.status === 'unknown').length),
        eol: String(guests.filter((g) => g.eol).length),
        text: String(guests.length),
      });
      // The colour follows the worst news: not certified, then end of life, then unknown.
      const colour = guests.some((g) => g.status === 'not-certified')
        ? 'bad'
        : guests.some((g) => g.eol)
          ? 'eol'
          : guests.some((g) => g.status === 'unknown')
            ? 'unk'
            : 'ok';
      expect(data.cls, pair).toBe(`cell ${colour}`);
    }
  });

  it('narrows the guest table with its filters and search, and a cell click filters it too', async () => {
    const expected = expectations(collector);
    await page.goto(`${collector.url}/#/guests`);
    await expect.poll(() => guestRows().count()).toBe(expected.length);
    await page.selectOption('select[name="status"]', 'not-certified');
    const notCertified = expected.filter((e) => e.status === 'not-certified').length;
    await expect.poll(() => guestRows().count()).toBe(notCertified);
    expect(await guestRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.status))).toEqual(
      Array(notCertified).fill('not-certified'),
    );
    await page.selectOption('select[name="status"]', '');
    await page.fill('input[name="q"]', 'Windows Server 2019');
    const win2019 = expected.filter((e) => e.os === 'windows-server-2019').length;
    await expect.poll(() => guestRows().count()).toBe(win2019);
    // The filter lives in the address: a reload shows the same table.
    await page.reload();
    await expect.poll(() => guestRows().count()).toBe(win2019);
    expect(await page.inputValue('input[name="q"]')).toBe('Windows Server 2019');

    await page.goto(`${collector.url}/#/`);
    const cell = page.locator('button.cell[data-hypervisor="kvm-rhel-9.2"][data-os="unidentified"]');
    await cell.click();
    await expect
      .poll(() => guestRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name)))
      .toEqual(['mystery']);
  });

  it("shows a guest's verdict with every program and its source one click away", async () => {
    await page.goto(`${collector.url}/#/guests?host=hv-02.example`);
    await page.click('tr[data-name="rh01"]');
    const programs = page.locator('#drawer .programs li');
    await expect
      .poll(() => programs.count())
      .toBe(collector.evaluator.catalogInForce.programs.filter((p) => p.kind === 'certification').length);
    const sources = await page
      .locator('#drawer .programs .src a')
      .evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).href));
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) expect(s).toMatch(/^https:\/\//);
    const rh01Guest = inventory(fleet[2], 1).guests.find((g) => g.name === 'rh01');
    const rh01 = rh01Guest && collector.evaluator.judgeInventory(inventory(fleet[2], 1)).judge(rh01Guest);
    expect(await page.locator('#drawer [data-status]').getAttribute('data-status')).toBe(rh01?.status);
    await page.keyboard.press('Escape');
    await page.locator('#drawer').waitFor({ state: 'hidden' });
  });

  it("plans the host on another hypervisor from the host's view, without reloading", async () => {
    await page.goto(`${collector.url}/#/hosts/hv-01.example`);
    await page.locator('#whatif-to').waitFor();
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const to = 'Hyper-V on Windows Server 2012 R2';
    await page.fill('#whatif-to', to);
    await page.click('#whatif button[type="submit"]');
    await page.locator('#whatif-summary').waitFor();
    // The page shows the API's plan: its summary and each guest whose verdict would change, in its order.
    const plan = (await (await fetch(`${collector.url}/api/plan?host=hv-01&to=${encodeURIComponent(to)}`)).json()) as {
      summary: string;
      guests: { name: string; change: string }[];
    };
    const changed = plan.guests.filter((g) => g.change !== 'unchanged');
    expect(changed.length).toBeGreaterThan(0);
    expect(await page.locator('#whatif-summary').textContent()).toBe(plan.summary);
    const rows = page.locator('#whatif-result tbody tr');
    expect(
      await rows.evaluateAll((trs) =>
        trs.map((tr) => [(tr as HTMLElement).dataset.name, (tr as HTMLElement).dataset.change]),
      ),
    ).toEqual(changed.map((g) => [g.name, g.change]));
    // A hypervisor the collector cannot identify is answered with what it takes.
    await page.fill('#whatif-to', 'my box');
    await page.click('#whatif button[type="submit"]');
    await expect
      .poll(() => page.locator('#whatif-error').textContent())
      .toMatch(/cannot identify the hypervisor "my box"/);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it('follows a guest changed by an agent within two seconds, without reloading', async () => {
    await page.goto(`${collector.url}/#/`);
    await page.locator('button.cell').first().waitFor();
    await page.locator('#live-state[data-state="live"]').waitFor();
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    // rh01 on the Hyper-V 2012 R2 host is upgraded in place to Windows Server 2019.
    const host = fleet[2];
    const rh01 = host.guests.find((g) => g.name === 'rh01') as FleetHost['guests'][number];
    rh01.os = OS.win2019;
    const started = Date.now();
    await agents[2].report();
    await page.waitForFunction(
      () =>
        !document.querySelector('button.cell[data-hypervisor="hyper-v-2012-r2"][data-os="rhel-8.6"]') &&
        document.querySelector('button.cell[data-hypervisor="hyper-v-2012-r2"][data-os="windows-server-2019"]'),
      undefined,
      { timeout: Math.max(1, 2000 - (Date.now() - started)) },
    );
    expect(Date.now() - started).toBeLessThan(2000);
    // The same document: a reload would have dropped the mark.
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

    // A new guest appears in an open guest table, also live.
    await page.goto(`${collector.url}/#/guests?host=kvm-01.example`);
    await expect.poll(() => guestRows().count()).toBe(fleet[0].guests.length);
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    fleet[0].guests.push({ name: 'new-arrival', uuid: 'dddddddd-0000-4000-8000-000000000001', os: OS.rhel86 });
    const again = Date.now();
    await agents[0].report();
    await page.locator('tr[data-name="new-arrival"]').waitFor({ timeout: Math.max(1, 2000 - (Date.now() - again)) });
    expect(Date.now() - again).toBeLessThan(2000);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it("lists agents and polled hosts, following a poll that fails, with the host's error as text", async () => {
    await page.goto(`${collector.url}/#/agents`);
    const row = page.locator('table.agents tr[data-agent="far-host"]');
    await expect.poll(() => row.textContent()).toContain('not read yet');
    // The poll fails while the page is open: the page follows without a reload.
    releasePoll();
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain(`SSH_UNREACHABLE: ${POLL_ERROR}`);
    expect(await row.textContent()).toContain('polled over SSH');
    expect(await row.textContent()).toContain('poll failing');
    expect(await row.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    const agentRow = page.locator(`table.agents tr[data-agent="${fleet[0].agent}"]`);
    expect(await agentRow.textContent()).toContain('connected');
    await page.goto(`${collector.url}/#/`);
    await expect
      .poll(() => page.locator('.card[data-key="agents"]').textContent())
      .toContain('+ 1 polled over SSH, 1 failing');
    expect(pageErrors).toEqual([]);
  });

  it('shows the unreachable banner when the collector stops, and recovers when it is back', async () => {
    await page.goto(`${collector.url}/#/`);
    await page.locator('#live-state[data-state="live"]').waitFor();
    expect(await page.locator('#banner').isHidden()).toBe(true);
    const port = new URL(collector.url).port;
    await Promise.all(agents.map((a) => a.close()));
    await collector.close();
    await page.locator('#banner').waitFor({ state: 'visible', timeout: 5000 });
    expect(await page.locator('#live-state').getAttribute('data-state')).toBe('down');
    // The last map received stays on screen while the banner shows.
    expect(await page.locator('button.cell').count()).toBeGreaterThan(0);

    await startWithFleet(`127.0.0.1:${port}`);
    await page.locator('#banner').waitFor({ state: 'hidden', timeout: 15_000 });
    await page.locator('#live-state[data-state="live"]').waitFor();
    expect(pageErrors).toEqual([]);
  });
});
