/**
 * hvmap protocol v1: the frames agents and the collector exchange over WebSocket at `/agent`.
 * The runtime schemas live in `schema.ts` (`@hvmap/shared/schema`): the collector checks every frame
 * there, while the agent, which only reads the collector's few small frames, does without TypeBox
 * (its compiler alone is ~24 MiB of an agent's memory: test/bench).
 */
import type { Static } from 'typebox';
import type * as S from './schema.js';

export const PROTOCOL_VERSION = 1;
/** Largest frame either side accepts (bytes). */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** One state vocabulary for every driver; each driver maps its own codes onto it once. */
export const GUEST_STATES = [
  'running',
  'paused',
  'shutoff',
  'suspended',
  'crashed',
  'starting',
  'stopping',
  'saved',
  'unknown',
] as const;
export type GuestState = (typeof GUEST_STATES)[number];

/** Where a piece of guest OS evidence came from, best first. */
export const OS_EVIDENCE_SOURCES = [
  'guest-agent', // QEMU guest agent guest-get-osinfo (virsh guestinfo --os)
  'kvp', // Hyper-V KVP exchange GuestIntrinsicExchangeItems
  'xe-os-version', // XenServer guest metrics os-version
  'xenstore', // xenstore data/os_* keys
  'libosinfo', // <libosinfo:os id="..."/> in the libvirt domain XML
  'config', // an OS named in the hypervisor's own configuration (e.g. Hyper-V notes, xl config)
  'name-hint', // the guest's name: weak, used only when nothing else is known
] as const;
export type OsEvidenceSource = (typeof OS_EVIDENCE_SOURCES)[number];

/** Why a driver could not see the guest OS. */
export const OS_UNKNOWN_REASONS = [
  'vm_off',
  'no_guest_agent',
  'not_supported',
  'kvp_empty',
  'not_in_database',
  'permission_denied',
  'timeout',
  'no_evidence',
  'error',
] as const;
export type OsUnknownReason = (typeof OS_UNKNOWN_REASONS)[number];

export type OsEvidence = Static<typeof S.OsEvidenceSchema>;
export type Guest = Static<typeof S.GuestSchema>;
export type Hypervisor = Static<typeof S.HypervisorSchema>;
export type HostFacts = Static<typeof S.HostFactsSchema>;
export type ReportError = Static<typeof S.ReportErrorSchema>;
export type DriverRun = Static<typeof S.DriverRunSchema>;
export type Hello = Static<typeof S.HelloSchema>;
export type Inventory = Static<typeof S.InventorySchema>;
export type Heartbeat = Static<typeof S.HeartbeatSchema>;
export type AgentFrame = Static<typeof S.AgentFrameSchema>;
export type Welcome = Static<typeof S.WelcomeSchema>;
export type Ack = Static<typeof S.AckSchema>;
export type Rescan = Static<typeof S.RescanSchema>;
export type ErrorFrame = Static<typeof S.ErrorFrameSchema>;
export type CollectorFrame = Static<typeof S.CollectorFrameSchema>;

/** Close codes the collector uses after an `error` frame (4xxx: application range). */
export const CLOSE_CODES = {
  badFrame: 4400,
  unauthorized: 4401,
  protocolVersion: 4406,
  helloTimeout: 4408,
  replaced: 4409,
  tooLarge: 4413,
  rateLimited: 4429,
  /** The collector could not store a snapshot: reconnect (with backoff) and resend it. */
  storeFailed: 4503,
} as const;

export type ParseResult<T> = { ok: true; frame: T } | { ok: false; code: string; reason: string };

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;

/** Whether a parsed value is one of the collector's frames (welcome, ack, rescan, error). */
function isCollectorFrame(v: Record<string, unknown>): boolean {
  switch (v.type) {
    case 'welcome':
      return (
        Number.isInteger(v.protocol) &&
        Number.isInteger(v.interval) &&
        (v.interval as number) >= 1 &&
        (v.lastSeq === undefined || isCount(v.lastSeq))
      );
    case 'ack':
      return isCount(v.seq);
    case 'rescan':
      return true;
    case 'error':
      return isText(v.code, 64) && isText(v.message, 2048);
    default:
      return false;
  }
}

/** Parses and validates one collector frame (the agent's side of the boundary). */
export function parseCollectorFrame(text: string): ParseResult<CollectorFrame> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'BAD_JSON', reason: `frame is not JSON: ${(err as Error).message}` };
  }
  if (typeof value === 'object' && value !== null && isCollectorFrame(value as Record<string, unknown>)) {
    return { ok: true, frame: value as CollectorFrame };
  }
  return { ok: false, code: 'BAD_FRAME', reason: 'collector frame does not match protocol v1' };
}
