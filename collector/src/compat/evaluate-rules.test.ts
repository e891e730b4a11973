/**
 * The evaluation's rules one at a time, each on a small catalog written here: requirements and the
 * facts that meet them, the choice among covering rows, a program's scope and its lists, and the
 * lifecycle row. The shipped catalog's own pairs are the golden cases of evaluate.test.ts.
 */
import type { GuestOsIdentity, HypervisorIdentity } from '@hvmap/shared';
import { describe, expect, it } from 'vitest';
import type { Catalog, CatalogProgram, CertificationProgram, LifecycleProgram } from '../catalog/load.js';
import { evaluate } from './evaluate.js';

type Row = CertificationProgram['rows'][number];

const DATE = '2026-12-03';
const KVM: HypervisorIdentity = { id: 'kvm-rhel-9.4', product: 'kvm', version: 'RHEL 9.4', name: 'KVM on RHEL 9.4' };
const RHEL: GuestOsIdentity = {
  id: 'rhel-9.4',
  family: 'linux',
  distro: 'rhel',
  version: '9.4',
  name: 'Red Hat Enterprise Linux 9.4',
};
const WS2019: GuestOsIdentity = {
  id: 'windows-server-2019',
  family: 'windows',
  distro: 'windows-server',
  version: '2019',
  name: 'Windows Server 2019',
  build: '10.0.17763',
};

function row(over: Partial<Row> = {}): Row {
  return {
    hypervisor: { product: 'kvm', versions: ['RHEL 9.4'] },
    guest: { distro: ['rhel'], versions: ['9.4'] },
    conditions: [],
    source: { title: 'row source' },
    read: '2026-11-01',
    origin: 'shipped',
    ...over,
  } as Row;
}

function program(rows: Row[], over: Partial<CertificationProgram> = {}): CertificationProgram {
  return {
    program: 'p',
    title: 'Program P',
    kind: 'certification',
    vendor: 'V',
    source: { title: 'program source' },
    coverage: 'complete',
    coverageNote: 'what it covers',
    hosts: [],
    guests: [],
    rows,
    files: [],
    ...over,
  } as CertificationProgram;
}

const catalog = (...programs: CatalogProgram[]): Catalog => ({ version: 'test', programs });
const judged = (c: Catalog, hv = KVM, guest = RHEL, extras = {}) => {
  const v = evaluate(hv, guest, c, DATE, extras);
  return { ...v, p: v.programs[0] };
};

describe('evaluate: what cannot be judged', () => {
  it('refuses a date that is not exactly YYYY-MM-DD', () => {
    for (const date of ['2026-12-03T00:00', 'x2026-12-03', '2026-12-3']) {
      expect(() => evaluate(KVM, RHEL, catalog(), date)).toThrow(`evaluate: date must be YYYY-MM-DD, got "${date}"`);
    }
  });

  it('says which side is not identified, judging no program', () => {
    const c = catalog(program([row()]));
    expect(evaluate(null, null, c, DATE)).toMatchObject({
      status: 'unknown',
      programs: [],
      reason: 'guest OS and hypervisor not identified',
    });
    expect(evaluate(KVM, null, c, DATE)).toMatchObject({ programs: [], reason: 'guest OS not identified' });
    expect(evaluate(null, RHEL, c, DATE)).toMatchObject({ programs: [], reason: 'hypervisor not identified' });
  });

  it('names the programs whose notes say what they lack', () => {
    const unlisted = (name: string) =>
      program([], {
        program: name,
        hosts: [{ product: 'kvm', unlisted: 'unknown', note: `${name} rows are elsewhere` }],
        guests: [{ distro: ['rhel'] }],
      });
    expect(judged(catalog(program([row({ hypervisor: { product: 'esxi' } })]))).reason).toBe(
      'no program of the catalog speaks of Red Hat Enterprise Linux 9.4 on KVM on RHEL 9.4',
    );
    expect(judged(catalog(unlisted('a'))).reason).toBe(
      'no program decides Red Hat Enterprise Linux 9.4 on KVM on RHEL 9.4: see what a lacks',
    );
    expect(judged(catalog(unlisted('a'), unlisted('b'))).reason).toBe(
      'no program decides Red Hat Enterprise Linux 9.4 on KVM on RHEL 9.4: see what a, b lack',
    );
  });
});

describe('evaluate: requirements', () => {
  const archRow = (arch: string[]) =>
    catalog(program([row({ guest: { distro: ['rhel'], versions: ['9.4'], arch } as Row['guest'] })]));

  it('reads the arch names drivers report as the catalog names them', () => {
    for (const [reported, required] of [
      ['x86_64', 'x86_64'],
      ['AMD64', 'x86_64'],
      ['x64', 'x86_64'],
      ['x86-64', 'x86_64'],
      ['64-bit', 'x86_64'],
      ['i386', 'i686'],
      ['i686', 'i686'],
      ['x86', 'i686'],
      ['32-bit', 'i686'],
      ['arm64', 'aarch64'],
      ['AArch64', 'aarch64'],
      ['ppc64le', 'ppc64le'],
    ]) {
      expect(judged(archRow([required]), KVM, RHEL, { arch: reported }).p, reported).toMatchObject({
        verdict: 'covered',
        conditions: [],
      });
    }
    for (const [reported, required] of [
      ['x86_64', 'i686'],
      ['i686', 'x86_64'],
      ['arm64', 'x86_64'],
      ['amd64x', 'x86_64'],
      ['xi686', 'i686'],
      ['arm64e', 'aarch64'],
    ]) {
      expect(judged(archRow([required]), KVM, RHEL, { arch: reported }).p.verdict, reported).toBe('silent');
    }
    expect(judged(archRow(['x86_64', 'aarch64'])).p.conditions).toEqual(['x86_64 or aarch64 guests only']);
  });

  it('asks for the generation and the build where they are not known, and refuses a known miss', () => {
    const gen = catalog(program([row({ guest: { distro: ['rhel'], generation: [2] } as Row['guest'] })]));
    expect(judged(gen).p.conditions).toEqual(['generation 2 VM only']);
    expect(judged(gen, KVM, RHEL, { generation: 2 }).p.conditions).toEqual([]);
    expect(judged(gen, KVM, RHEL, { generation: 1 }).p.verdict).toBe('silent');

    const hv: HypervisorIdentity = {
      id: 'hyper-v-2019',
      product: 'hyper-v',
      version: '2019',
      name: 'Hyper-V on Windows Server 2019',
    };
    const build = (minBuild: string) =>
      catalog(
        program([
          row({
            hypervisor: { product: 'hyper-v' },
            guest: {
              distro: ['windows-server'],
              minBuild: { label: 'the May update', build: minBuild },
            } as Row['guest'],
          }),
        ]),
      );
    expect(judged(build('17763'), hv, WS2019).p).toMatchObject({ verdict: 'covered', conditions: [] });
    expect(judged(build('17764'), hv, WS2019).p.verdict).toBe('silent');
    expect(judged(build('17763'), hv, { ...WS2019, build: '17763.5458' }).p.verdict).toBe('covered');
    expect(judged(build('17763'), hv, { ...WS2019, build: undefined }).p.conditions).toEqual([
      'needs the May update (build 17763 or later)',
    ]);
  });

  it('applies an exclusion only to guests known to meet its requirements', () => {
    const exclusion = row({
      verdict: 'excluded',
      guest: { distro: ['rhel'], arch: ['i686'] } as Row['guest'],
      note: 'no 32-bit',
    });
    const c = catalog(program([exclusion, row()]));
    expect(judged(c).p).toMatchObject({ verdict: 'covered' });
    expect(judged(c, KVM, RHEL, { arch: 'i686' }).p).toMatchObject({
      verdict: 'excluded',
      conditions: [],
      note: 'no 32-bit',
    });
  });
});

describe('evaluate: the covering row', () => {
  it('takes the row that asks least, a stated one before an inferred one', () => {
    const asks = row({ conditions: ['install LIS 4.3'], source: { title: 'asks' } });
    const inferred = row({ inferred: 'from the 9.2 row', source: { title: 'inferred' } });
    const stated = row({ source: { title: 'stated' } });
    expect(judged(catalog(program([asks, inferred, stated]))).p).toMatchObject({
      conditions: [],
      source: 'stated',
      note: undefined,
    });
    expect(judged(catalog(program([asks, inferred]))).p).toMatchObject({
      source: 'inferred',
      note: 'inferred: from the 9.2 row',
    });
  });

  it('offers equally good rows asking different things as alternatives after what they share', () => {
    const a = row({ conditions: ['kernel 5.14', 'LIS A'] });
    const b = row({ conditions: ['kernel 5.14', 'LIS B'] });
    expect(judged(catalog(program([a, b]))).p.conditions).toEqual(['kernel 5.14', 'one of: LIS A | LIS B']);
    expect(judged(catalog(program([a, { ...a }]))).p.conditions).toEqual(['kernel 5.14', 'LIS A']);
  });

  it("notes the row's own note, what it was inferred from and a source trusted less than high", () => {
    const noted = row({ note: 'Note 7', inferred: 'from 9.2', source: { title: 's', trust: 'medium' } });
    expect(judged(catalog(program([noted]))).p.note).toBe('Note 7; inferred: from 9.2; source trust: medium');
    expect(judged(catalog(program([row({ source: { title: 's', trust: 'high' } })]))).p.note).toBeUndefined();
  });
});

describe("evaluate: a program's scope", () => {
  const windowsOnKvm = (over: Partial<CertificationProgram>) =>
    judged(catalog(program([row()], { guests: [{ distro: ['windows-server'] }], ...over })), KVM, WS2019).p;

  it('excludes a pair it speaks of without a row, naming the vendor whose products are in scope', () => {
    expect(windowsOnKvm({ hosts: [{ product: 'kvm', vendor: 'Red Hat' }] })).toEqual({
      program: 'p',
      coverage: 'complete',
      verdict: 'excluded',
      conditions: [],
      source: 'program source',
      note: "not listed: Windows Server 2019 on KVM on RHEL 9.4 (Red Hat products are in this program's scope)",
    });
    expect(windowsOnKvm({ hosts: [{ product: 'kvm' }], coverage: 'partial' }).note).toBe(
      'not listed: Windows Server 2019 on KVM on RHEL 9.4; program coverage is partial: what it covers',
    );
  });

  it('speaks of other hosts only where it says so, and not of those it names as exceptions', () => {
    const otherHosts = { note: 'any validated host', except: ['esxi'] };
    expect(windowsOnKvm({ otherHosts }).note).toBe(
      'not listed: Windows Server 2019 on KVM on RHEL 9.4 (any validated host)',
    );
    expect(windowsOnKvm({ otherHosts: { ...otherHosts, except: ['kvm'] } }).verdict).toBe('silent');
    expect(windowsOnKvm({}).verdict).toBe('silent');
  });

  it('is silent, saying why, where its rows for a host are not in the catalog', () => {
    expect(windowsOnKvm({ hosts: [{ product: 'kvm', vendor: 'Red Hat', unlisted: 'unknown' }] })).toMatchObject({
      verdict: 'silent',
      note: "Red Hat products are in this program's scope, but their rows are not in the catalog; program coverage is partial: what it covers",
    });
    expect(windowsOnKvm({ hosts: [{ product: 'kvm', unlisted: 'unknown' }] }).note).toMatch(
      /^KVM on RHEL 9\.4 products are in/,
    );
  });

  it("passes on a guest entry's note for a distro it speaks of, on a host it names", () => {
    const entry = { distro: ['windows-server'], versions: ['2016'], note: 'the page predates 2019' };
    expect(windowsOnKvm({ hosts: [{ product: 'esxi' }], guests: [entry] })).toMatchObject({
      verdict: 'silent',
      note: undefined,
    });
    expect(windowsOnKvm({ hosts: [{ product: 'kvm' }], guests: [entry] })).toMatchObject({
      verdict: 'silent',
      note: 'the page predates 2019',
    });
    expect(windowsOnKvm({ guests: [{ ...entry, hosts: [{ product: 'kvm' }] }] }).note).toBe('the page predates 2019');
  });
});

describe("evaluate: a vendor's lists", () => {
  const listed = (versions: string[], revised: string, over: Partial<Row> = {}) =>
    row({
      list: 'page',
      guest: { distro: ['rhel'], versions },
      source: { title: 'the page', revised },
      ...over,
    });
  const withLists = (rows: Row[], over: Partial<CertificationProgram> = {}) =>
    catalog(
      program(rows, { lists: [{ id: 'page', title: 'The RHEL page' }], ...over } as Partial<CertificationProgram>),
    );
  const guest = (version: string): GuestOsIdentity => ({
    ...RHEL,
    id: `rhel-${version}`,
    version,
    name: `Red Hat Enterprise Linux ${version}`,
  });

  it('is silent on a version newer than every revision lists, naming the newest of its series', () => {
    const c = withLists([listed(['8.6-8.10'], '2025-06-19'), listed(['9.0-9.2'], '2024-01-01')]);
    expect(judged(c, KVM, guest('9.6')).p).toMatchObject({
      verdict: 'silent',
      note: 'newer than the list: The RHEL page lists Red Hat Enterprise Linux up to 9.2; none of its revisions lists 9.6 (revisions 2025-06-19, 2024-01-01)',
    });
    expect(judged(c, KVM, guest('10.0')).p.note).toMatch(/lists Red Hat Enterprise Linux up to 9\.2;/);
  });

  it('excludes a version older than, or between, those listed', () => {
    const c = withLists([listed(['8.6', '8.8'], '2025-06-19'), listed(['9.2'], '2025-06-19')], { coverage: 'partial' });
    expect(judged(c, KVM, guest('8.7')).p).toMatchObject({
      verdict: 'excluded',
      source: 'program source',
      note: 'not listed: The RHEL page lists Red Hat Enterprise Linux versions from 8.6 to 9.2, and 8.7 is not among them (revision 2025-06-19); program coverage is partial: what it covers',
    });
  });

  it('excludes a version it lists only on other hosts, naming them', () => {
    const c = withLists([
      listed(['9.0'], '2025-06-19'),
      listed(['9.4'], '2025-06-19', { hypervisor: { product: 'kvm', versions: ['RHEL 9.6', 'RHEL 10.0'] } }),
      listed(['9.4'], '2025-06-19', { hypervisor: { product: 'kvm', versions: ['RHEL 9.6'] } }),
    ]);
    expect(judged(c).p.note).toBe(
      'The RHEL page lists Red Hat Enterprise Linux 9.4 only on hosts RHEL 9.6, RHEL 10.0, not on KVM on RHEL 9.4 (revision 2025-06-19)',
    );
  });

  it('names the requirements a listed guest does not meet here, and the list by its id where it has no title', () => {
    const c = catalog(
      program([
        listed(['9.4'], '2025-06-19', {
          guest: { distro: ['rhel'], versions: ['9.4'], arch: ['x86_64'], generation: [2] } as Row['guest'],
          list: 'untitled',
        }),
      ]),
    );
    expect(judged(c, KVM, RHEL, { arch: 'aarch64', generation: 2 }).p.note).toBe(
      'untitled lists Red Hat Enterprise Linux 9.4 on KVM on RHEL 9.4 only for guests that meet its requirements: x86_64 only, generation 2 VM (revision 2025-06-19)',
    );
  });

  it('gives the revision as a commit where the source was not dated, and lets an excluding row decide alone', () => {
    const c = withLists([
      listed(['9.0'], '', { source: { title: 'the page', commit: '0123456789abcdef' } }),
      listed(['9.4'], '', { source: { title: 'x' }, verdict: 'excluded' }),
    ]);
    expect(judged(c, KVM, guest('9.2')).p.note).toMatch(/\(revision 01234567\)$/);
  });
});

describe('evaluate: the lifecycle row', () => {
  const lifecycle = (rows: LifecycleProgram['rows']): LifecycleProgram =>
    ({
      program: 'lifecycle',
      title: 'L',
      kind: 'lifecycle',
      vendor: 'V',
      source: { title: 'l' },
      coverage: 'complete',
      coverageNote: '',
      rows,
      files: [],
    }) as unknown as LifecycleProgram;
  const lrow = (over: Partial<LifecycleProgram['rows'][number]>) =>
    ({
      os: { distro: ['windows-server'], versions: ['2019'] },
      name: 'Windows Server 2019',
      end: '2029-01-09',
      endKind: 'extended support',
      source: { title: 'shipped' },
      read: '2026-11-01',
      origin: 'shipped',
      ...over,
    }) as LifecycleProgram['rows'][number];

  it("takes the operator's local row before the shipped one, with its extended support", () => {
    const c = catalog(
      lifecycle([
        lrow({}),
        lrow({ origin: 'local', source: { title: 'local' }, extended: { date: '2032-01-09', kind: 'ESU' } }),
      ]),
    );
    expect(evaluate(KVM, WS2019, c, DATE).lifecycle).toEqual({
      name: 'Windows Server 2019',
      end: '2029-01-09',
      endKind: 'extended support',
      source: 'local',
      extended: { date: '2032-01-09', kind: 'ESU' },
    });
    expect(evaluate(KVM, WS2019, catalog(lifecycle([lrow({})])), DATE).lifecycle).not.toHaveProperty('extended');
  });

  it('matches a row that names builds by the build the guest reports, in any of its forms', () => {
    const c = catalog(lifecycle([lrow({ os: { distro: ['windows-server'], versions: ['2019'], builds: ['17763'] } })]));
    for (const build of ['17763', '10.0.17763', '10.0.17763.5458']) {
      expect(evaluate(KVM, { ...WS2019, build }, c, DATE).lifecycle?.name, build).toBe('Windows Server 2019');
    }
    expect(evaluate(KVM, { ...WS2019, build: '10.0.17764' }, c, DATE).lifecycle).toBeNull();
    expect(evaluate(KVM, { ...WS2019, build: undefined }, c, DATE).lifecycle).toBeNull();
  });

  it('marks the guest past its end of support after the end date only', () => {
    const c = catalog(lifecycle([lrow({})]));
    expect(evaluate(KVM, WS2019, c, '2029-01-09').eol).toBeNull();
    expect(evaluate(KVM, WS2019, c, '2029-01-10').eol).toEqual({ date: '2029-01-09' });
  });
});

describe('evaluate: Azure Local hosts', () => {
  const azure = (name: string): HypervisorIdentity => ({
    id: 'hyper-v-2022',
    product: 'hyper-v',
    version: '2022',
    name,
  });
  const c = catalog(
    program([
      row({ hypervisor: { product: 'hyper-v', versions: ['Azure Stack HCI 23H2'] }, guest: { distro: ['rhel'] } }),
    ]),
  );

  it('matches rows that name Azure Stack HCI or Azure Local by their release, whatever its case', () => {
    expect(judged(c, azure('Hyper-V on Azure Local 23h2')).p.verdict).toBe('covered');
    expect(judged(c, azure('Hyper-V on Azure Stack HCI 23H2')).p.verdict).toBe('covered');
    expect(judged(c, azure('Hyper-V on Azure Stack HCI 22H2')).p.verdict).toBe('silent');
    // A Windows Server row does not speak of Azure Local, though the build is the same.
    const ws = catalog(
      program([row({ hypervisor: { product: 'hyper-v', versions: ['2022'] }, guest: { distro: ['rhel'] } })]),
    );
    expect(judged(ws, azure('Hyper-V on Azure Local 23H2')).p.verdict).toBe('silent');
    expect(judged(ws, azure('Hyper-V on Windows Server 2022')).p.verdict).toBe('covered');
  });
});
