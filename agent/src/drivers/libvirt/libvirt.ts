/**
 * The libvirt driver: KVM/QEMU, Xen (libxl) and any other libvirt connection, through `virsh` run by
 * the injected Runner. Commands and privileges: README.md beside this file.
 */
import type { Guest, GuestState, Hypervisor, OsEvidence, OsUnknownReason, ReportError } from '@hvmap/shared';
import { parseOsRelease } from '@hvmap/shared';
import { DEFAULT_COMMAND_TIMEOUT_MS, type Runner, type RunResult } from '../../runner.js';
import { type Driver, DriverError, type GuestScan, type Watch } from '../driver.js';
import {
  type DomainInfo,
  parseCapabilities,
  parseDomainXml,
  parseGuestInfoOs,
  parseQemuAgentOsinfo,
  parseUuidList,
  parseVirshEvent,
  parseVirshState,
  parseVirshVersion,
  splitDomainXml,
} from './parse.js';

/** How to reach libvirt. */
export interface LibvirtOptions {
  /** libvirt connection URI (`qemu:///system`, `xen:///system`, `test:///path/node.xml`); libvirt's default when absent. */
  uri?: string;
  /** Timeout of one virsh invocation. */
  commandTimeoutMs?: number;
}

const DRIVER = 'libvirt';
/** Domains described by one virsh (dumpxml and domstate of each): one connection instead of fifty. */
const DESCRIBE_BATCH = 50;
/** The line `echo` prints before each domain's output in a batch, followed by the domain's UUID. */
const MARK = 'hvmap-domain:';
/** virsh processes running at once, for dumpxml batches and for guest agent questions. */
const CONCURRENCY = 4;
const HOST_OS_FIELDS = ['ID', 'VERSION_ID', 'NAME', 'PRETTY_NAME'];
/**
 * Events that change what a scan reports: a guest started, stopped, defined or undefined
 * (lifecycle), its guest agent connected or went away (agent-lifecycle: the OS answer), its
 * libosinfo id edited (metadata-change).
 */
const WATCHED_EVENTS = new Set(['lifecycle', 'agent-lifecycle', 'metadata-change']);
const VIRSH_NOT_FOUND_MESSAGE =
  'virsh was not found: install the libvirt client tools (libvirt-clients on Debian and Ubuntu, libvirt-client on RHEL, Fedora and SUSE)';

/** A domain as its XML and `virsh domstate` describe it. */
interface Described {
  domain: DomainInfo;
  state: GuestState;
}

/** The result of asking one guest's agent for its OS. */
type AgentAnswer =
  | { kind: 'os'; fields: Record<string, string> }
  | { kind: 'unknown'; reason: OsUnknownReason; detail: string; connectionWide: boolean }
  | { kind: 'vanished'; detail: string }
  | { kind: 'unknown-command' };

type AgentCommand = 'guestinfo' | 'qemu-agent-command';

/**
 * The product libvirt runs. Domain types decide when they agree on kvm or xen, because libvirt's test
 * driver (the demo, the tests) simulates hosts whose domains say what they are; otherwise the
 * connection decides: QEMU is kvm when the host offers KVM guests and qemu (TCG) when it does not.
 */
export function hypervisorProduct(
  running: string | undefined,
  offeredDomainTypes: readonly string[],
  domainTypes: readonly string[],
): string {
  const types = new Set(domainTypes);
  const [only] = types;
  if (types.size === 1 && (only === 'kvm' || only === 'xen')) return only;
  const type = running?.toLowerCase();
  // A QEMU host whose running guests are all type 'qemu' runs them under TCG, whatever it offers.
  if (type === 'qemu' && types.size === 1 && only === 'qemu') return 'qemu';
  if (type === 'qemu') return offeredDomainTypes.includes('kvm') ? 'kvm' : 'qemu';
  // libvirt's ESX driver speaks to ESXi and vCenter alike; DESIGN.md calls the product esxi.
  if (type === 'esx') return 'esxi';
  return type ?? 'unknown';
}

/** The first lines of virsh's stderr without their "error: " prefixes, for messages and reason details. */
function errorText(result: RunResult): string {
  const lines = result.stderr
    .split('\n')
    .map((line) => line.replace(/^error:\s*/, '').trim())
    .filter(Boolean);
  const text = lines.join('; ') || `exit code ${result.code}`;
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

function ok(result: RunResult): boolean {
  return result.code === 0 && !result.error;
}

function isRemote(uri: string | undefined): boolean {
  if (!uri) return false;
  try {
    return new URL(uri).hostname !== '';
  } catch {
    return false;
  }
}

/** Runs fn over items with at most `limit` calls pending, results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Why the guest agent could not answer, from virsh's error text. */
function agentFailure(result: RunResult, timeoutMs: number): AgentAnswer {
  if (result.error === 'TIMEOUT') {
    return { kind: 'unknown', reason: 'timeout', detail: `no answer within ${timeoutMs} ms`, connectionWide: false };
  }
  const detail = errorText(result);
  const unknown = (reason: OsUnknownReason, connectionWide = false): AgentAnswer => ({
    kind: 'unknown',
    reason,
    detail,
    connectionWide,
  });
  if (/unknown command/i.test(detail)) return { kind: 'unknown-command' };
  if (/failed to get domain|domain not found/i.test(detail)) return { kind: 'vanished', detail };
  // The connection driver (libvirt's test driver, LXC, ...) cannot ask any guest: no use asking the others.
  if (/not supported by the connection driver/i.test(detail)) return unknown('not_supported', true);
  // Guest agent commands need a read-write connection; refused once, refused for every domain.
  if (
    /read only access prevents|permission denied|access denied|authentication (unavailable|failed)|not authorized/i.test(
      detail,
    )
  ) {
    return unknown('permission_denied', true);
  }
  if (/guest agent is not (responding|connected|configured|available)/i.test(detail)) return unknown('no_guest_agent');
  // qemu-ga without guest-get-osinfo (before QEMU 2.10) or with it disabled by its allow/deny list.
  if (/guest-get-osinfo.*(has not been found|has been disabled)/i.test(detail)) return unknown('not_supported');
  if (/domain is not running/i.test(detail)) return unknown('vm_off');
  return unknown('error');
}

function toGuest({ domain, state }: Described, answer: AgentAnswer | undefined): Guest {
  const evidence: OsEvidence[] = [];
  let reason: OsUnknownReason | undefined;
  let reasonDetail: string | undefined;
  if (answer?.kind === 'os' && Object.keys(answer.fields).length > 0) {
    evidence.push({ source: 'guest-agent', text: answer.fields['pretty-name'], fields: answer.fields });
  } else if (answer?.kind === 'os') {
    reason = 'not_supported';
    reasonDetail = 'the guest agent answered without OS fields';
  } else if (answer?.kind === 'unknown') {
    reason = answer.reason;
    reasonDetail = answer.detail;
  } else if (state !== 'running') {
    reason = 'vm_off';
    reasonDetail = `domain is ${state}; only a running guest's agent can answer`;
  }
  if (domain.libosinfoId) evidence.push({ source: 'libosinfo', text: domain.libosinfoId });
  evidence.push({ source: 'name-hint', text: domain.name });
  return {
    uuid: domain.uuid,
    name: domain.name,
    state,
    vcpus: domain.vcpus,
    memoryBytes: domain.memoryBytes,
    arch: domain.arch,
    firmware: domain.firmware,
    machine: domain.machine,
    os: { evidence, reason, reasonDetail },
  };
}

/** A Driver for libvirt through `virsh`. */
export function libvirtDriver(options: LibvirtOptions = {}): Driver {
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const connection = options.uri ? ['-c', options.uri] : [];
  // Inventory needs only a read-only connection (any local user may open one); asking a guest agent
  // needs a read-write one, so only those commands go without -r.
  const readOnly = (run: Runner, args: string[]) => run.run('virsh', ['-r', ...connection, ...args], { timeoutMs });
  const readWrite = (run: Runner, args: string[]) => run.run('virsh', [...connection, ...args], { timeoutMs });

  const failure = (result: RunResult, command: string): DriverError => {
    if (result.error === 'ENOENT') return new DriverError('VIRSH_NOT_FOUND', VIRSH_NOT_FOUND_MESSAGE);
    if (result.error === 'TIMEOUT') {
      return new DriverError(
        'COMMAND_TIMEOUT',
        `virsh ${command} gave no answer within ${timeoutMs} ms: is libvirtd (or virtqemud) responding?`,
      );
    }
    return new DriverError(
      'VIRSH_FAILED',
      `virsh ${command} failed: ${errorText(result)}. Check that the libvirt daemon runs and that the connection URI (${options.uri ?? 'libvirt default'}) is right`,
    );
  };

  const required = async (run: Runner, args: string[]): Promise<string> => {
    const result = await readOnly(run, args);
    if (!ok(result)) throw failure(result, args.join(' '));
    return result.stdout;
  };

  const domainError = (code: string, guest: string, message: string): ReportError => ({
    driver: DRIVER,
    code,
    guest,
    message,
  });

  /**
   * Describes domains by UUID, fifty to a virsh: `echo MARK+UUID ; dumpxml ; domstate` each, so every
   * domain's output is found by its mark. A domain missing from a batch's output is asked again alone,
   * so its own error says whether it vanished or failed; a batch that timed out is not retried, since a
   * hung libvirt would hang every retry too.
   */
  const describe = async (run: Runner, uuids: string[]): Promise<Map<string, Described | ReportError>> => {
    const script = uuids.map((u) => `echo ${MARK}${u} ; dumpxml --domain ${u} ; domstate --domain ${u}`).join(' ; ');
    const result = await readOnly(run, [script]);
    const sections = new Map<string, string>();
    for (const part of result.stdout.split(new RegExp(`^${MARK}`, 'm')).slice(1)) {
      const eol = part.indexOf('\n');
      sections.set(part.slice(0, eol).trim(), part.slice(eol + 1));
    }
    const described = new Map<string, Described | ReportError>();
    let parseError: string | undefined;
    for (const uuid of uuids) {
      const section = sections.get(uuid) ?? '';
      const [xml] = splitDomainXml(section);
      const stateText = xml ? section.slice(section.indexOf(xml) + xml.length) : '';
      if (!stateText.trim()) continue;
      try {
        described.set(uuid, { domain: parseDomainXml(xml), state: parseVirshState(stateText) });
      } catch (err) {
        parseError = (err as Error).message;
      }
    }
    const missing = uuids.filter((uuid) => !described.has(uuid));
    if (missing.length === 0) return described;
    if (result.error === 'TIMEOUT') {
      for (const uuid of missing) {
        described.set(
          uuid,
          domainError('COMMAND_TIMEOUT', uuid, `virsh dumpxml gave no answer within ${timeoutMs} ms`),
        );
      }
    } else if (uuids.length > 1) {
      for (const uuid of missing) for (const [key, value] of await describe(run, [uuid])) described.set(key, value);
    } else {
      const detail = parseError ?? errorText(result);
      const vanished = /failed to get domain|domain not found/i.test(detail);
      described.set(
        uuids[0],
        vanished
          ? domainError('DOMAIN_VANISHED', uuids[0], `domain went away during the scan: ${detail}`)
          : domainError('DUMPXML_FAILED', uuids[0], `virsh dumpxml failed: ${detail}`),
      );
    }
    return described;
  };

  /**
   * Every domain, in `virsh list` order. Domains are listed by UUID: the agent runs virsh with LC_ALL=C,
   * where the `list` table prints a name's non-ASCII characters as escapes; the XML has them intact.
   */
  const describeAll = async (run: Runner) => {
    const uuids = parseUuidList(await required(run, ['list', '--all', '--uuid']));
    const batches = await mapLimit(chunks(uuids, DESCRIBE_BATCH), CONCURRENCY, (batch) => describe(run, batch));
    const described = new Map(batches.flatMap((batch) => [...batch]));
    const domains: Described[] = [];
    const errors: ReportError[] = [];
    for (const uuid of uuids) {
      const result = described.get(uuid);
      if (result && 'domain' in result) domains.push(result);
      else if (result) errors.push(result);
    }
    return { domains, errors };
  };

  /**
   * The domains hypervisor() read for their types, kept for the guests() that follows it in the same
   * scan (scanOnce asks them in that order, on one runner): one read of every domain per scan, not two.
   */
  const readForTypes = new WeakMap<Runner, ReturnType<typeof describeAll>>();

  const askAgent = async (run: Runner, uuid: string, via: AgentCommand): Promise<AgentAnswer> => {
    const args =
      via === 'guestinfo'
        ? ['guestinfo', '--os', '--domain', uuid]
        : ['qemu-agent-command', uuid, '{"execute":"guest-get-osinfo"}'];
    const result = await readWrite(run, args);
    if (!ok(result)) return agentFailure(result, timeoutMs);
    if (via === 'guestinfo') return { kind: 'os', fields: parseGuestInfoOs(result.stdout) };
    const fields = parseQemuAgentOsinfo(result.stdout);
    return fields
      ? { kind: 'os', fields }
      : { kind: 'unknown', reason: 'error', detail: 'the guest agent reply is not JSON', connectionWide: false };
  };

  /**
   * Asks each running domain's guest agent for its OS. The first answer tells whether this virsh knows
   * `guestinfo` (libvirt 5.7+; older ones fall back to the raw agent command) and whether the
   * connection can ask at all, in which case the others are not asked.
   */
  const askAgents = async (run: Runner, uuids: string[]): Promise<Map<string, AgentAnswer>> => {
    if (uuids.length === 0) return new Map();
    let via: AgentCommand = 'guestinfo';
    let first = await askAgent(run, uuids[0], via);
    if (first.kind === 'unknown-command') {
      via = 'qemu-agent-command';
      first = await askAgent(run, uuids[0], via);
    }
    if (first.kind === 'unknown-command') {
      const detail = 'this virsh knows neither guestinfo nor qemu-agent-command';
      first = { kind: 'unknown', reason: 'not_supported', detail, connectionWide: true };
    }
    const rest = uuids.slice(1);
    const others =
      first.kind === 'unknown' && first.connectionWide
        ? rest.map(() => first)
        : await mapLimit(rest, CONCURRENCY, (uuid) => askAgent(run, uuid, via));
    return new Map([[uuids[0], first], ...rest.map((uuid, i): [string, AgentAnswer] => [uuid, others[i]])]);
  };

  return {
    name: DRIVER,

    async detect(run) {
      return ok(await readOnly(run, ['uri']));
    },

    async hypervisor(run) {
      const [versionText, capabilitiesText] = await Promise.all([
        required(run, ['version']),
        required(run, ['capabilities']),
      ]);
      const version = parseVirshVersion(versionText);
      const running = version.hypervisor?.type ?? version.api?.type;
      // Xen connections say what they run; QEMU ones run KVM or TCG guests, which their running
      // domains' types tell; other drivers (the test driver) say it only through their domains.
      let domainTypes: string[] = [];
      if (!/^xen$/i.test(running ?? '')) {
        const read = describeAll(run);
        readForTypes.set(run, read);
        domainTypes = (await read).domains
          .filter((d) => !/^qemu$/i.test(running ?? '') || d.state === 'running')
          .map((d) => d.domain.domainType);
      }
      const hypervisor: Hypervisor = {
        driver: DRIVER,
        product: hypervisorProduct(running, parseCapabilities(capabilitiesText).domainTypes, domainTypes),
        version: version.hypervisor?.version,
        managementStack: version.library
          ? `libvirt ${version.library}${running === 'TEST' ? ' (test driver)' : ''}`
          : undefined,
      };
      // A remote URI's host is not the one whose files the runner reads.
      if (!isRemote(options.uri)) {
        const osRelease = (await run.readFile('/etc/os-release')) ?? (await run.readFile('/usr/lib/os-release'));
        if (osRelease !== null) {
          const fields = parseOsRelease(osRelease);
          hypervisor.hostOs = fields.PRETTY_NAME ?? fields.NAME;
          hypervisor.hostOsFields = Object.fromEntries(
            HOST_OS_FIELDS.filter((k) => k in fields).map((k) => [k, fields[k]]),
          );
        }
      }
      return hypervisor;
    },

    async guests(run): Promise<GuestScan> {
      const read = readForTypes.get(run);
      readForTypes.delete(run);
      const { domains, errors } = await (read ?? describeAll(run));
      const running = domains.filter((d) => d.state === 'running').map((d) => d.domain.uuid);
      const answers = await askAgents(run, running);
      const guests: Guest[] = [];
      for (const described of domains) {
        const { name, uuid } = described.domain;
        const answer = answers.get(uuid);
        if (answer?.kind === 'vanished') {
          errors.push(domainError('DOMAIN_VANISHED', name, `domain went away during the scan: ${answer.detail}`));
        } else {
          guests.push(toGuest(described, answer));
        }
      }
      return { guests, errors };
    },

    watch(run, onChange): Watch | undefined {
      if (!run.stream) return undefined;
      const stream = run.stream('virsh', ['-r', ...connection, 'event', '--all', '--loop'], (line) => {
        const event = parseVirshEvent(line);
        if (event && WATCHED_EVENTS.has(event.event)) onChange(`${event.event} ${event.domain}: ${event.detail}`);
      });
      const ended = stream.ended.then((result) => {
        if (result.error === 'ENOENT') return VIRSH_NOT_FOUND_MESSAGE;
        return `virsh event ended: ${errorText(result)}`;
      });
      return { ended, stop: stream.stop };
    },
  };
}
