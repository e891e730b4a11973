import { type Guest, OS_EVIDENCE_SOURCES, type OsEvidence, type OsEvidenceSource } from '../protocol.js';
import { type OsCandidate, toIdentity } from './distros.js';
import { nameHintCandidate } from './name-hint.js';
import { fieldsCandidate, textCandidate } from './read-evidence.js';
import type { GuestOsIdentity, GuestOsResult } from './types.js';

/**
 * Identifies a guest OS from text as a person or a tool writes it: a release file line ("Red Hat
 * Enterprise Linux Server release 7.9 (Maipo)"), a PRETTY_NAME ("Ubuntu 22.04.3 LTS"), a Windows
 * caption, localized or not ("Microsoft Windows Server 2008 R2 Entreprise"), or a libosinfo id
 * ("http://redhat.com/rhel/8.6"). A distribution named without a release gives version "".
 * Returns null when no distribution is named, which includes generic libosinfo ids
 * ("http://libosinfo.org/linux/2020"): "some Linux" cannot be checked against any support list.
 */
export function identifyGuestOsText(text: string): GuestOsIdentity | null {
  const c = textCandidate(text);
  return c ? toIdentity(c) : null;
}

function fromEvidence(e: OsEvidence): OsCandidate | null {
  if (e.source === 'name-hint') return nameHintCandidate(e.text ?? '');
  return (e.fields ? fieldsCandidate(e.fields) : null) ?? (e.text ? textCandidate(e.text) : null);
}

const rank = (s: OsEvidenceSource) => OS_EVIDENCE_SOURCES.indexOf(s);

/** "9" and "9.2" agree (one is less precise); "9.0" and "9.2", or "2008" and "2008 R2", do not. */
function agrees(a: OsCandidate, b: OsCandidate): boolean {
  if (a.distro !== b.distro) return false;
  if (!a.version || !b.version || a.version === b.version) return true;
  return a.version.startsWith(`${b.version}.`) || b.version.startsWith(`${a.version}.`);
}

/**
 * Identifies a guest's OS from all its evidence, best source first (guest-agent, kvp, xe-os-version,
 * xenstore, libosinfo, config, name-hint). The best source that names an OS decides; if it gives no
 * version, a lower source naming the same distribution lends its version. Lower sources naming
 * something else are listed as conflicts (an in-place upgrade leaves libosinfo behind). The name
 * hint is used only when nothing else names an OS, and never reported as a conflict.
 */
export function identifyGuestOs(os: Guest['os']): GuestOsResult {
  const found: { source: OsEvidenceSource; os: OsCandidate }[] = [];
  for (const e of [...os.evidence].sort((a, b) => rank(a.source) - rank(b.source))) {
    const c = fromEvidence(e);
    if (c) found.push({ source: e.source, os: c });
  }
  const strong = found.filter((f) => f.source !== 'name-hint');
  const [decider, ...others] = strong.length > 0 ? strong : found;
  if (!decider) return unknown(os);
  let chosen = decider.os;
  if (!chosen.version) {
    const lender = others.find((o) => o.os.distro === chosen.distro && o.os.version);
    if (lender) chosen = { ...chosen, version: lender.os.version, release: lender.os.release };
  }
  const conflicts = others
    .filter((o) => !agrees(chosen, o.os))
    .map((o) => ({ source: o.source, id: toIdentity(o.os).id }));
  return { known: true, os: toIdentity(chosen), source: decider.source, conflicts };
}

function describe(e: OsEvidence): string {
  const fields = Object.entries(e.fields ?? {}).map(([k, v]) => `${k}=${v}`);
  const what = [e.text, ...fields].filter(Boolean).join(', ');
  return `${e.source}: ${what || '(empty)'}`;
}

function unknown(os: Guest['os']): GuestOsResult {
  const seen = os.evidence.map(describe);
  const detail = [os.reasonDetail, ...seen].filter(Boolean).join('; ') || undefined;
  const texts = os.evidence.flatMap((e) => [e.text ?? '', ...Object.values(e.fields ?? {})]);
  const meaningful = texts.filter((t) => t.trim() && !/<not in database>/i.test(t));
  let reason: string = os.reason ?? 'unrecognised';
  if (!os.reason && meaningful.length === 0) {
    reason = texts.some((t) => /<not in database>/i.test(t)) ? 'not_in_database' : 'no_evidence';
  }
  return detail ? { known: false, reason, detail } : { known: false, reason };
}
