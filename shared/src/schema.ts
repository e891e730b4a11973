/**
 * The runtime schemas of protocol v1 (JSON Schema through TypeBox), compiled once: the collector
 * checks every agent frame here at the boundary and trusts the typed value inside.
 */
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import {
  type AgentFrame,
  GUEST_STATES,
  type Guest,
  OS_EVIDENCE_SOURCES,
  OS_UNKNOWN_REASONS,
  type ParseResult,
} from './protocol.js';

const Str = (max = 512) => Type.String({ maxLength: max });
const OptStr = (max = 512) => Type.Optional(Type.String({ maxLength: max }));
const Count = Type.Integer({ minimum: 0 });

export const OsEvidenceSchema = Type.Object({
  source: Type.Enum(OS_EVIDENCE_SOURCES),
  /** The evidence as text, e.g. a libosinfo id, a caption, a pretty name. */
  text: OptStr(1024),
  /** Structured fields as the source gave them (os-release keys, KVP items, xe os-version keys). */
  fields: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Str(1024))),
});

export const GuestSchema = Type.Object({
  uuid: Str(64),
  name: Str(256),
  state: Type.Enum(GUEST_STATES),
  vcpus: Type.Optional(Count),
  memoryBytes: Type.Optional(Count),
  arch: OptStr(64),
  firmware: OptStr(64),
  machine: OptStr(128),
  generation: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 })),
  os: Type.Object({
    evidence: Type.Array(OsEvidenceSchema, { maxItems: 16 }),
    /** Set when the driver could not read the guest OS from the guest itself. */
    reason: Type.Optional(Type.Enum(OS_UNKNOWN_REASONS)),
    reasonDetail: OptStr(1024),
  }),
});

export const HypervisorSchema = Type.Object({
  /** Driver that found it: libvirt, xen, xenserver, hyperv. */
  driver: Str(32),
  /** Product as the driver determined it: kvm, qemu, xen, xenserver, hyper-v, test, ... */
  product: Str(64),
  /** Version in the vendor's terms where the driver knows it (Hyper-V "2019"), else the raw version. */
  version: OptStr(128),
  build: OptStr(64),
  /** Management stack and its version, e.g. "libvirt 9.0.0". */
  managementStack: OptStr(256),
  /** The host OS as text (os-release PRETTY_NAME, Windows caption), the basis of "RHEL 9.2 KVM". */
  hostOs: OptStr(256),
  /** Structured host OS fields (os-release ID/VERSION_ID, Win32_OperatingSystem fields). */
  hostOsFields: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Str(1024))),
});

export const HostFactsSchema = Type.Object({
  hostname: Str(256),
  os: Type.Object({
    platform: Str(64),
    distro: OptStr(128),
    release: OptStr(128),
    kernel: OptStr(128),
    arch: OptStr(64),
  }),
  cpu: Type.Object({
    manufacturer: OptStr(128),
    brand: OptStr(256),
    cores: Type.Optional(Count),
    sockets: Type.Optional(Count),
  }),
  memoryBytes: Type.Optional(Count),
  systemUuid: OptStr(64),
  manufacturer: OptStr(128),
  model: OptStr(128),
  /** True when the host itself runs inside a VM (nested virtualization). */
  virtual: Type.Optional(Type.Boolean()),
});

export const ReportErrorSchema = Type.Object({
  driver: Str(32),
  /** Stable code, e.g. VIRSH_NOT_FOUND, COMMAND_TIMEOUT, DOMAIN_VANISHED. */
  code: Str(64),
  message: Str(2048),
  /** Guest the error is about, when it is about one. */
  guest: OptStr(256),
});

export const DriverRunSchema = Type.Object({
  driver: Str(32),
  ok: Type.Boolean(),
  durationMs: Type.Number({ minimum: 0 }),
  guests: Count,
});

const Seq = Type.Integer({ minimum: 0 });

export const HelloSchema = Type.Object({
  type: Type.Literal('hello'),
  protocol: Type.Integer(),
  agentId: Str(128),
  agentVersion: Str(64),
  hostname: Str(256),
});
export const InventorySchema = Type.Object({
  type: Type.Literal('inventory'),
  seq: Seq,
  collectedAt: Type.String({ maxLength: 40 }),
  host: HostFactsSchema,
  hypervisor: HypervisorSchema,
  guests: Type.Array(GuestSchema, { maxItems: 10000 }),
  errors: Type.Array(ReportErrorSchema, { maxItems: 1000 }),
  drivers: Type.Optional(Type.Array(DriverRunSchema, { maxItems: 16 })),
  /** True when a driver failed part-way and the guest list may be incomplete. */
  partial: Type.Boolean(),
});
export const HeartbeatSchema = Type.Object({ type: Type.Literal('heartbeat'), seq: Seq });
export const AgentFrameSchema = Type.Union([HelloSchema, InventorySchema, HeartbeatSchema]);

export const WelcomeSchema = Type.Object({
  type: Type.Literal('welcome'),
  protocol: Type.Integer(),
  interval: Type.Integer({ minimum: 1 }),
  /** Highest seq the collector has stored for this agent, so a restarted agent can continue. */
  lastSeq: Type.Optional(Seq),
});
export const AckSchema = Type.Object({ type: Type.Literal('ack'), seq: Seq });
export const RescanSchema = Type.Object({ type: Type.Literal('rescan') });
export const ErrorFrameSchema = Type.Object({ type: Type.Literal('error'), code: Str(64), message: Str(2048) });
export const CollectorFrameSchema = Type.Union([WelcomeSchema, AckSchema, RescanSchema, ErrorFrameSchema]);

const agentFrameValidator = Compile(AgentFrameSchema);
const inventoryEnvelopeValidator = Compile(
  Type.Object({ ...InventorySchema.properties, guests: Type.Array(Type.Unknown(), { maxItems: 10000 }) }),
);
const guestValidator = Compile(GuestSchema);
const frameValidators = {
  hello: Compile(HelloSchema),
  inventory: Compile(InventorySchema),
  heartbeat: Compile(HeartbeatSchema),
} as const;

/**
 * Whether a value is an inventory frame but for its guests, which need only be an array: with
 * `isGuest`, the check of a frame whose unchanged guests were left out (the collector's ingest worker).
 */
export const isInventoryEnvelope = (value: unknown): boolean => inventoryEnvelopeValidator.Check(value);
export const isGuest = (value: unknown): value is Guest => guestValidator.Check(value);

/**
 * Parses and validates one agent frame. Never throws: a bad frame yields a stable code and a
 * reason naming the first offending field.
 */
export function parseAgentFrame(text: string): ParseResult<AgentFrame> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'BAD_JSON', reason: `frame is not JSON: ${(err as Error).message}` };
  }
  if (agentFrameValidator.Check(value)) return { ok: true, frame: value };
  const type = (value as { type?: unknown } | null)?.type;
  // Own keys only: "constructor" or "toString" are in every object, and are no frame type.
  if (typeof type !== 'string' || !Object.hasOwn(frameValidators, type)) {
    return {
      ok: false,
      code: 'UNKNOWN_FRAME',
      reason: `unknown frame type ${JSON.stringify(type)}; expected hello, inventory or heartbeat`,
    };
  }
  const first = frameValidators[type as keyof typeof frameValidators].Errors(value)[0];
  const where = first ? `${first.instancePath || '/'}: ${first.message}` : 'does not match the schema';
  return { ok: false, code: 'BAD_FRAME', reason: `${type} frame invalid at ${where}` };
}
