/**
 * Why a verdict is what it is, in words an operator can act on: for an unknown guest, why its OS was
 * not identified (with the driver's reason code) or what each program that could decide the pair
 * lacks; for a not-certified one, what excludes it. One list of sentences for every screen (the API,
 * the page's guest drawer, `hvmap check`, the `why` column of `hvmap report`).
 */
import type { ProgramVerdict } from './evaluate.js';

/** What `explain` reads: a stored or fresh verdict, with the identification's reason when the OS is unknown. */
export interface ExplainInput {
  status: string;
  reason?: string | null;
  programs?: Pick<ProgramVerdict, 'program' | 'verdict' | 'note'>[];
  osUnknownReason?: string | null;
  osUnknownDetail?: string | null;
}

/** What each reason code of the protocol (OS_UNKNOWN_REASONS, plus the identification's own) means, and what to do. */
const OS_UNKNOWN_HINTS: Record<string, string> = {
  vm_off: 'the VM is off, and its hypervisor reports the guest OS only while it runs',
  no_guest_agent:
    'no guest agent answered: install and start qemu-guest-agent, or set a libosinfo id in the domain XML',
  not_supported: 'this hypervisor or its version cannot report the guest OS',
  kvp_empty:
    'the guest sends no Hyper-V KVP data: install or start the integration services (hv_kvp_daemon on Linux guests)',
  not_in_database: "the hypervisor's database has no OS record for this VM (XenServer guest tools not installed?)",
  permission_denied: 'the agent may not read the guest OS: give it read access to the hypervisor',
  timeout: 'the hypervisor did not answer in time',
  no_evidence: 'the driver found no evidence of the guest OS',
  error: 'reading the guest OS failed',
  unrecognised: 'the evidence names no OS hvmap knows',
};

/** The sentences that explain an unknown or not-certified verdict; empty for a certified one. */
export function explain(v: ExplainInput): string[] {
  if (v.status === 'unknown' && v.osUnknownReason) {
    const hint = OS_UNKNOWN_HINTS[v.osUnknownReason] ?? 'the guest OS could not be identified';
    return [
      `guest OS not identified (${v.osUnknownReason}): ${hint}${v.osUnknownDetail ? ` (${v.osUnknownDetail})` : ''}`,
    ];
  }
  const programs = v.programs ?? [];
  if (v.status === 'not-certified') {
    return programs.filter((p) => p.verdict === 'excluded').map((p) => `${p.program}: ${p.note ?? 'excluded'}`);
  }
  if (v.status !== 'unknown') return [];
  const notes = programs.filter((p) => p.verdict === 'silent' && p.note).map((p) => `${p.program}: ${p.note}`);
  const reason = v.reason ?? 'no program of the catalog decides this pair';
  return notes.length ? notes : [reason];
}
