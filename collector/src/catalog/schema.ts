/**
 * The catalog file format: one JSON file per program under `collector/catalog/` (see README.md).
 * Headers and rows are checked separately so a bad row is reported with its index.
 */
import { type Static, Type } from 'typebox';

const Text = (max = 1000) => Type.String({ minLength: 1, maxLength: max });
const Slug = Type.String({ pattern: '^[a-z0-9][a-z0-9.-]*$', maxLength: 64 });
const IsoDate = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' });
const Family = Type.Union([Type.Literal('windows'), Type.Literal('linux'), Type.Literal('bsd')]);

/**
 * Version list: exact items ("2019", "9" — also matches 9.x, "RHEL" — any RHEL version), closed ranges
 * ("7.0-7.2"), open ranges ("2019+") and ranges open within a series ("8.1-8.6+": 8.1 and every later 8.x).
 */
const VersionSpec = Type.Array(Text(60), { minItems: 1, maxItems: 64 });

/** Where a fact was read. At least one of url, repo + path, or title (checked by the loader). */
export const SourceSchema = Type.Object(
  {
    title: Type.Optional(Text(400)),
    url: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 1000 })),
    repo: Type.Optional(Type.String({ pattern: '^[\\w.-]+/[\\w.-]+$', maxLength: 200 })),
    path: Type.Optional(Text(500)),
    commit: Type.Optional(Type.String({ pattern: '^[0-9a-f]{7,40}$' })),
    /** The date the source revision carries (a page's ms.date), not when it was read. */
    revised: Type.Optional(IsoDate),
    trust: Type.Optional(Type.Union([Type.Literal('high'), Type.Literal('medium'), Type.Literal('low')])),
    note: Type.Optional(Text()),
  },
  { additionalProperties: false },
);
export type Source = Static<typeof SourceSchema>;

const hostMatchProps = {
  /** hyper-v, kvm, xen, xenserver, esxi, ahv, ... as in HypervisorIdentity.product. */
  product: Slug,
  /** Omitted: every version. */
  versions: Type.Optional(VersionSpec),
};
export const HostMatchSchema = Type.Object(hostMatchProps, { additionalProperties: false });
export type HostMatch = Static<typeof HostMatchSchema>;

const guestMatchProps = {
  family: Type.Optional(Family),
  /** os-release IDs, or windows-server / windows, as in GuestOsIdentity.distro. */
  distro: Type.Optional(Type.Array(Slug, { minItems: 1, maxItems: 32 })),
  versions: Type.Optional(VersionSpec),
};

/**
 * A hypervisor a program speaks of; `vendor` names whose product it is (SVVP partners). `unlisted`
 * says what a missing row means for it: `excluded` (default: the list is whole for this host) or
 * `unknown` (the catalog lacks this host's rows, e.g. a partner's products behind a vendor portal).
 */
export const HostScopeSchema = Type.Object(
  {
    ...hostMatchProps,
    vendor: Type.Optional(Text(100)),
    unlisted: Type.Optional(Type.Union([Type.Literal('excluded'), Type.Literal('unknown')])),
    note: Type.Optional(Text()),
  },
  { additionalProperties: false },
);
export type HostScope = Static<typeof HostScopeSchema>;

/** One vendor list (a page, with every revision of it that was read), named by the rows that come from it. */
export const ListSchema = Type.Object(
  { id: Slug, title: Text(300), note: Type.Optional(Text()) },
  { additionalProperties: false },
);
export type VendorList = Static<typeof ListSchema>;

/** Guests a program speaks of, optionally only on some hosts (else on the program's `hosts`). */
export const GuestScopeSchema = Type.Object(
  {
    ...guestMatchProps,
    hosts: Type.Optional(Type.Array(HostMatchSchema, { minItems: 1 })),
    note: Type.Optional(Text()),
  },
  { additionalProperties: false },
);
export type GuestScope = Static<typeof GuestScopeSchema>;

/**
 * The guest side of a row. `arch`, `generation` and `minBuild` are requirements: a guest known not to
 * meet one is not covered by the row; a guest for which the fact is unknown is covered on that condition.
 */
export const GuestRowMatchSchema = Type.Object(
  {
    ...guestMatchProps,
    arch: Type.Optional(
      Type.Array(Type.Union([Type.Literal('x86_64'), Type.Literal('i686'), Type.Literal('aarch64')]), { minItems: 1 }),
    ),
    generation: Type.Optional(Type.Array(Type.Union([Type.Literal(1), Type.Literal(2)]), { minItems: 1 })),
    minBuild: Type.Optional(
      Type.Object({ build: Type.String({ pattern: '^\\d+$' }), label: Text(100) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type GuestRowMatch = Static<typeof GuestRowMatchSchema>;

const provenance = {
  source: SourceSchema,
  /** The date the fact was read from its source. */
  read: IsoDate,
  /** Set when the row is a reading of its source rather than its words: says why. */
  inferred: Type.Optional(Text()),
  note: Type.Optional(Text()),
};

/** One support statement: this guest on this hypervisor is covered (default) or excluded. */
export const CertificationRowSchema = Type.Object(
  {
    hypervisor: HostMatchSchema,
    guest: GuestRowMatchSchema,
    verdict: Type.Optional(Type.Union([Type.Literal('covered'), Type.Literal('excluded')])),
    conditions: Type.Array(Text(), { maxItems: 16 }),
    /**
     * The vendor's list (one page, all its revisions) the row comes from, as declared in the header's
     * `lists`. Rows of one list decide together what the list leaves out (see README, "How a program judges").
     */
    list: Type.Optional(Slug),
    ...provenance,
  },
  { additionalProperties: false },
);
export type CertificationRow = Static<typeof CertificationRowSchema>;

/** End of support of one OS version. `end` is what the eol flag uses; `extended` is paid or separate support after it. */
export const LifecycleRowSchema = Type.Object(
  {
    os: Type.Object(
      {
        distro: Type.Array(Slug, { minItems: 1, maxItems: 8 }),
        versions: VersionSpec,
        /** Windows feature releases share a version ("10"): the build tells them apart. */
        builds: Type.Optional(Type.Array(Type.String({ pattern: '^\\d+$' }), { minItems: 1 })),
        /** Matched as substrings of the guest's edition ("LTSC" in "Enterprise LTSC"); the row needs a known edition. */
        editions: Type.Optional(Type.Array(Text(60), { minItems: 1 })),
      },
      { additionalProperties: false },
    ),
    name: Text(200),
    end: IsoDate,
    endKind: Text(100),
    mainstreamEnd: Type.Optional(IsoDate),
    extended: Type.Optional(Type.Object({ date: IsoDate, kind: Text(100) }, { additionalProperties: false })),
    ...provenance,
  },
  { additionalProperties: false },
);
export type LifecycleRow = Static<typeof LifecycleRowSchema>;

const headerProps = {
  program: Slug,
  title: Text(200),
  vendor: Text(300),
  /** Where the program's own (live) list is: what to check when the catalog is silent or partial. */
  source: SourceSchema,
  coverage: Type.Union([Type.Literal('complete'), Type.Literal('partial')]),
  /** What the catalog's copy of the program lacks. */
  coverageNote: Text(2000),
  /** Checked row by row by the loader, so that a bad row is reported with its index. */
  rows: Type.Array(Type.Unknown(), { maxItems: 10_000 }),
  /**
   * A local file names a shipped program to add rows to it; one that starts a program of its own says
   * so, so that a misspelt name is refused instead of becoming a program nobody meant.
   */
  newProgram: Type.Optional(Type.Literal(true)),
};

export const CertificationHeaderSchema = Type.Object(
  {
    ...headerProps,
    kind: Type.Literal('certification'),
    /** Where the scope itself comes from, when that differs from `source` (the SVVP partner list). */
    scopeSource: Type.Optional(SourceSchema),
    hosts: Type.Array(HostScopeSchema),
    guests: Type.Array(GuestScopeSchema),
    /** The vendor's lists the rows name in `list`: a page and all of its revisions read. */
    lists: Type.Optional(Type.Array(ListSchema, { maxItems: 100 })),
    /**
     * Hypervisors not in `hosts` (but for the products in `except`) exclude the program's guests:
     * SVVP validates only partners' products, so Windows Server elsewhere is outside it.
     */
    otherHosts: Type.Optional(
      Type.Object(
        { verdict: Type.Literal('excluded'), except: Type.Array(Slug), note: Text(2000) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CertificationHeader = Static<typeof CertificationHeaderSchema>;

export const LifecycleHeaderSchema = Type.Object(
  { ...headerProps, kind: Type.Literal('lifecycle'), eolRule: Text(2000) },
  { additionalProperties: false },
);
export type LifecycleHeader = Static<typeof LifecycleHeaderSchema>;

/** The first check of any file: which kind it is, so the right header schema applies. */
export const KindSchema = Type.Object({ kind: Type.Union([Type.Literal('certification'), Type.Literal('lifecycle')]) });
