import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Guest, Inventory } from '@hvmap/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SHIPPED_CATALOG_DIR } from '../collector.js';
import { Evaluator } from '../map/evaluator.js';
import { type Db, openDatabase } from '../store/db.js';
import { InventoryStore } from '../store/inventory.js';
import { TokenStore } from '../store/tokens.js';
import { findGaps, writeGapTemplates } from './gaps.js';
import { FILL_IN, loadCatalog } from './load.js';

let dir: string;
let db: Db;
const evaluator = new Evaluator(loadCatalog({ shipped: SHIPPED_CATALOG_DIR }));

const libosinfo = (name: string, id: string, state: Guest['state'] = 'running'): Guest => ({
  uuid: `u-${name}`,
  name,
  state,
  os: { evidence: [{ source: 'libosinfo', text: id }] },
});

/** Stores one host's snapshot through the evaluation and the store the collector uses. */
function report(agent: string, hostOs: string, guests: Guest[], product = 'kvm'): void {
  if (!new TokenStore(db).list().some((t) => t.name === agent)) new TokenStore(db).create(agent);
  const inventory: Inventory = {
    type: 'inventory',
    seq: Date.now() + Math.random(),
    collectedAt: new Date().toISOString(),
    host: { hostname: agent, os: { platform: 'linux' }, cpu: {} },
    hypervisor: { driver: 'libvirt', product, version: '9.0.0', hostOs },
    guests,
    errors: [],
    partial: false,
  };
  new InventoryStore(db).apply(agent, evaluator.judgeInventory(inventory));
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-gaps-'));
  db = openDatabase(path.join(dir, 'hvmap.db'), { create: true });
  report('kvm-a', 'Red Hat Enterprise Linux 9.4 (Plow)', [
    libosinfo('dc01', 'http://microsoft.com/win/2k22'),
    libosinfo('app01', 'http://redhat.com/rhel/9.4'),
    { uuid: 'u-off', name: 'off01', state: 'shutoff', os: { evidence: [], reason: 'vm_off' } },
  ]);
  report('kvm-b', 'Red Hat Enterprise Linux 9.4 (Plow)', [
    libosinfo('dc02', 'http://microsoft.com/win/2k22'),
    libosinfo('dc03', 'http://microsoft.com/win/2k22'),
  ]);
  // A host whose agent could not name its hypervisor: its guests cannot be gaps of any pair.
  report('mystery', 'Plan 9', [libosinfo('x', 'http://redhat.com/rhel/9.4')], '');
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('findGaps', () => {
  it('counts each undecided pair once, with its guests and hosts, most guests first', () => {
    const gaps = findGaps(db);
    expect(gaps.pairs.map((p) => [p.hypervisor.id, p.guest.id, p.guests, p.hosts])).toEqual([
      ['kvm-rhel-9.4', 'windows-server-2022', 3, ['kvm-a', 'kvm-b']],
      ['kvm-rhel-9.4', 'rhel-9.4', 1, ['kvm-a']],
    ]);
    expect(gaps.pairs[0].hypervisor).toEqual({
      id: 'kvm-rhel-9.4',
      name: 'KVM on RHEL 9.4',
      product: 'kvm',
      version: 'RHEL 9.4',
    });
    expect(gaps.pairs[0].guest).toMatchObject({ id: 'windows-server-2022', distro: 'windows-server', version: '2022' });
    // The off guest (no OS seen) and the guest of the unidentified hypervisor.
    expect(gaps.unidentified).toBe(2);
  });

  it('names the programs that speak of the pair and say what they lack, and why it is undecided', () => {
    const [windows, rhel] = findGaps(db).pairs;
    expect(windows.programs).toEqual(['ms-svvp', 'rh-kvm-guests']);
    expect(rhel.programs).toEqual(['rh-kvm-guests']);
    expect(rhel.why).toContainEqual(expect.stringMatching(/^rh-kvm-guests: .*KB 973163/));
  });

  it('leaves out guests no longer unknown or gone from their host', () => {
    report('kvm-b', 'Red Hat Enterprise Linux 9.4 (Plow)', []);
    // One guest each now: the guest OS id breaks the tie.
    expect(findGaps(db).pairs.map((p) => [p.guest.id, p.guests, p.hosts])).toEqual([
      ['rhel-9.4', 1, ['kvm-a']],
      ['windows-server-2022', 1, ['kvm-a']],
    ]);
  });
});

describe('writeGapTemplates', () => {
  it('writes one file per program, a row per pair waiting for its verdict, source and reading date', () => {
    const out = path.join(dir, 'templates');
    const files = writeGapTemplates(out, findGaps(db).pairs, '2026-12-03');
    expect(files.map((f) => path.basename(f)).sort()).toEqual(['ms-svvp.gaps.json', 'rh-kvm-guests.gaps.json']);
    expect(readdirSync(out).sort()).toEqual(['ms-svvp.gaps.json', 'rh-kvm-guests.gaps.json']);
    const kvm = JSON.parse(readFileSync(path.join(out, 'rh-kvm-guests.gaps.json'), 'utf8'));
    expect(kvm).toMatchObject({
      program: 'rh-kvm-guests',
      kind: 'certification',
      coverage: 'partial',
      source: { title: "rows checked by this site's operators on 2026-12-03" },
    });
    expect(kvm.rows).toEqual([
      {
        hypervisor: { product: 'kvm', versions: ['RHEL 9.4'] },
        guest: { distro: ['windows-server'], versions: ['2022'] },
        verdict: `${FILL_IN}: covered or excluded`,
        conditions: [],
        note: '3 guests of Windows Server 2022 on KVM on RHEL 9.4',
        source: { url: `${FILL_IN}: the address (or title) of the vendor page that decides this pair` },
        read: `${FILL_IN}: YYYY-MM-DD, the day you read it`,
      },
      expect.objectContaining({
        guest: { distro: ['rhel'], versions: ['9.4'] },
        note: '1 guest of Red Hat Enterprise Linux 9.4 on KVM on RHEL 9.4',
      }),
    ]);
    const svvp = JSON.parse(readFileSync(path.join(out, 'ms-svvp.gaps.json'), 'utf8'));
    expect(svvp.rows).toHaveLength(1);
  });
});
