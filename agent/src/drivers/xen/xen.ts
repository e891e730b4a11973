/**
 * The xen driver: a Xen dom0 managed with xl (libxl) or, on old hosts such as RHEL 5, xm (xend),
 * through the injected Runner. Commands and privileges: README.md beside this file.
 */
import type { Guest, GuestState, Hypervisor, OsEvidence, OsUnknownReason, ReportError } from '@hvmap/shared';
import { DEFAULT_COMMAND_TIMEOUT_MS, type Runner, type RunResult } from '../../runner.js';
import { type Driver, DriverError, type GuestScan } from '../driver.js';
import { readHostOs } from '../host-os.js';
import { deniedPermission, stderrText, succeeded } from '../run-result.js';
import {
  type ListLongFormat,
  NIL_UUID,
  parseListLong,
  parseXenInfo,
  parseXenList,
  parseXenstoreLs,
  type XenDomain,
  type XenDomainType,
  type XenInfo,
  type XenListRow,
  type XenstoreDomain,
  xenState,
} from './parse.js';

/** How the xen driver runs its commands. */
export interface XenOptions {
  /** Timeout of one xl, xm or xenstore-ls invocation. */
  commandTimeoutMs?: number;
}

const DRIVER = 'xen';
type Toolstack = 'xl' | 'xm';

/** Xen major versions whose toolstack output this driver was written against (xm 3.x, xl 4.x). */
const KNOWN_XEN_MAJORS = [3, 4];

/** libvirt's machine names for the three Xen guest types, so both drivers describe a guest alike. */
const MACHINE: Record<XenDomainType, string> = { pv: 'xenpv', hvm: 'xenfv', pvh: 'xenpvh' };

/** Which toolstack answers on this host, with its `info` when it gave one. */
interface ToolstackAnswer {
  tool: Toolstack;
  info?: XenInfo;
  /** Why `info` failed, thrown by hypervisor(); guests() still tries the lists. */
  failure?: DriverError;
}

/** A domain with everything the lists said of it, before it becomes a Guest. */
interface Described {
  domain: XenDomain;
  /** State letters from the table when the long listing (JSON) has none. */
  flags?: string;
}

/** What xenstore said, or why it could not be asked. */
type XenstoreAnswer =
  | { kind: 'ok'; domains: Map<number, XenstoreDomain> }
  | { kind: 'failed'; reason: OsUnknownReason; detail: string };

function isDom0(d: XenDomain): boolean {
  return d.domid === 0 || d.name === 'Domain-0' || d.uuid === NIL_UUID;
}

function rowToDomain(row: XenListRow): XenDomain {
  const domain: XenDomain = { name: row.name, vcpus: row.vcpus, memoryBytes: row.memoryMiB * 1024 * 1024 };
  if (row.domid !== undefined) domain.domid = row.domid;
  if (row.uuid !== undefined) domain.uuid = row.uuid;
  return domain;
}

/** The xenstore `data/os_*` keys guest tools wrote, as evidence; none when they wrote none. */
function xenstoreEvidence(data: Record<string, string>): OsEvidence | undefined {
  const fields = Object.fromEntries(Object.entries(data).filter(([k, v]) => k.startsWith('os_') && v !== ''));
  if (Object.keys(fields).length === 0) return undefined;
  return { source: 'xenstore', text: fields.os_name, fields };
}

function toGuest({ domain, flags }: Described, xenstore: XenstoreAnswer): Guest {
  const state: GuestState = xenState(flags ?? domain.flags, domain.domid !== undefined);
  const store = xenstore.kind === 'ok' && domain.domid !== undefined ? xenstore.domains.get(domain.domid) : undefined;
  const evidence: OsEvidence[] = [];
  const fromStore = store && xenstoreEvidence(store.data);
  if (fromStore) evidence.push(fromStore);
  let reason: OsUnknownReason | undefined;
  let reasonDetail: string | undefined;
  if (!fromStore && (state === 'shutoff' || state === 'crashed' || state === 'stopping')) {
    reason = 'vm_off';
    reasonDetail = `domain is ${state}; guest tools write data/os_* into xenstore only while it runs`;
  } else if (!fromStore && xenstore.kind === 'failed') {
    reason = xenstore.reason;
    reasonDetail = xenstore.detail;
  } else if (!fromStore) {
    reason = 'no_guest_agent';
    reasonDetail =
      'no data/os_* keys in xenstore: install the guest tools that write them (xe-guest-utilities, XenServer VM Tools)';
  }
  evidence.push({ source: 'name-hint', text: domain.name });
  return {
    uuid: domain.uuid ?? store?.uuid ?? '',
    name: domain.name,
    state,
    vcpus: domain.vcpus,
    memoryBytes: domain.memoryBytes,
    firmware: domain.firmware,
    machine: domain.type && MACHINE[domain.type],
    os: { evidence, reason, reasonDetail },
  };
}

/** A Driver for a Xen dom0 through xl, or xm where xl is absent or refuses to run beside xend. */
export function xenDriver(options: XenOptions = {}): Driver {
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const exec = (run: Runner, program: string, args: string[]) => run.run(program, args, { timeoutMs });

  const failure = (result: RunResult, command: string): DriverError => {
    if (result.error === 'ENOENT') {
      return new DriverError(
        'XEN_TOOLS_NOT_FOUND',
        'neither xl nor xm was found: the xen driver runs in dom0 with the Xen tools installed (xen-utils on Debian and Ubuntu, xen on RHEL 5 and CentOS)',
      );
    }
    if (result.error === 'TIMEOUT') {
      return new DriverError(
        'COMMAND_TIMEOUT',
        `${command} gave no answer within ${timeoutMs} ms: is xenstored (or xend) responding?`,
      );
    }
    if (deniedPermission(result)) {
      return new DriverError(
        'PERMISSION_DENIED',
        `${command} was refused (${stderrText(result)}): the Xen tools need root in dom0 (they open /dev/xen/privcmd and xenstore); run the agent as root`,
      );
    }
    return new DriverError('XEN_TOOLS_FAILED', `${command} failed: ${stderrText(result)}`);
  };

  /**
   * xl if it answers `xl info`; else xm (RHEL 5 has only xm, and xl of Xen 4.1 to 4.4 refuses to run
   * while xend does). When neither answers, the one that is installed, so that its own error is reported.
   */
  const toolstack = async (run: Runner): Promise<ToolstackAnswer> => {
    const xl = await exec(run, 'xl', ['info']);
    if (succeeded(xl)) return { tool: 'xl', info: parseXenInfo(xl.stdout) };
    const xm = await exec(run, 'xm', ['info']);
    if (succeeded(xm)) return { tool: 'xm', info: parseXenInfo(xm.stdout) };
    if (xl.error === 'ENOENT' && xm.error !== 'ENOENT') return { tool: 'xm', failure: failure(xm, 'xm info') };
    return { tool: 'xl', failure: failure(xl, 'xl info') };
  };

  const readXenstore = async (run: Runner): Promise<XenstoreAnswer> => {
    // -f prints whole paths and never truncates values (without it, values are cut to 80 columns).
    const result = await exec(run, 'xenstore-ls', ['-f', '/local/domain']);
    if (succeeded(result)) return { kind: 'ok', domains: parseXenstoreLs(result.stdout) };
    if (result.error === 'ENOENT')
      return { kind: 'failed', reason: 'not_supported', detail: 'xenstore-ls was not found' };
    if (result.error === 'TIMEOUT') {
      return { kind: 'failed', reason: 'timeout', detail: `xenstore-ls gave no answer within ${timeoutMs} ms` };
    }
    const reason = deniedPermission(result) ? 'permission_denied' : 'error';
    return { kind: 'failed', reason, detail: `xenstore-ls -f /local/domain: ${stderrText(result)}` };
  };

  /**
   * Every domain but dom0, from `list -l` (UUID, type, vCPUs, maximum memory) and, where that is
   * JSON without states or could not be read, the table (`xl list -v`, `xm list`). A domain of the
   * JSON that the table, listed after it, no longer has went away in between. Domains only the
   * table lists carry what it says (current memory, no type); their UUID comes from `-v` or xenstore.
   */
  const describeAll = async (run: Runner, tool: Toolstack, errors: ReportError[]): Promise<Described[]> => {
    const long = await exec(run, tool, ['list', '-l']);
    let format: ListLongFormat | undefined;
    let domains: XenDomain[] | undefined;
    if (succeeded(long)) {
      try {
        ({ format, domains } = parseListLong(long.stdout));
      } catch (err) {
        errors.push({
          driver: DRIVER,
          code: 'XEN_OUTPUT_UNREADABLE',
          message: `${tool} list -l: ${(err as Error).message}`,
        });
      }
    } else if (long.error === 'ENOENT' || long.error === 'TIMEOUT' || deniedPermission(long)) {
      throw failure(long, `${tool} list -l`);
    } else {
      errors.push({ driver: DRIVER, code: 'XEN_LIST_FAILED', message: `${tool} list -l failed: ${stderrText(long)}` });
    }
    if (format === 'sxp' && domains) return domains.filter((d) => !isDom0(d)).map((domain) => ({ domain }));

    const tableArgs = tool === 'xl' ? ['list', '-v'] : ['list'];
    const command = `${tool} ${tableArgs.join(' ')}`;
    const table = await exec(run, tool, tableArgs);
    let rows: XenListRow[] | undefined;
    if (succeeded(table)) {
      try {
        rows = parseXenList(table.stdout);
      } catch (err) {
        errors.push({
          driver: DRIVER,
          code: 'XEN_OUTPUT_UNREADABLE',
          message: `${command}: ${(err as Error).message}`,
        });
      }
    } else if (!domains) {
      throw failure(table, command);
    } else {
      errors.push({
        driver: DRIVER,
        code: 'XEN_LIST_FAILED',
        message: `${command} failed, states unknown: ${stderrText(table)}`,
      });
    }
    if (!domains) {
      if (!rows) throw new DriverError('XEN_OUTPUT_UNREADABLE', `neither ${tool} list -l nor ${command} could be read`);
      return rows.map((row) => ({ domain: rowToDomain(row), flags: row.flags })).filter((d) => !isDom0(d.domain));
    }
    const byDomid = new Map((rows ?? []).filter((r) => r.domid !== undefined).map((r) => [r.domid, r]));
    const described: Described[] = [];
    for (const domain of domains.filter((d) => !isDom0(d))) {
      const row = domain.domid !== undefined ? byDomid.get(domain.domid) : undefined;
      if (rows && !row) {
        errors.push({
          driver: DRIVER,
          code: 'DOMAIN_VANISHED',
          guest: domain.uuid ?? domain.name,
          message: `domain ${domain.name} (id ${domain.domid}) went away between ${tool} list -l and ${command}`,
        });
        continue;
      }
      described.push({ domain, flags: row?.flags });
    }
    // The table also holds domains libxl keeps no configuration for (created by another toolstack,
    // such as xapi on XCP-ng) and domains started after `list -l`: reported as the table has them.
    const inJson = new Set(domains.map((d) => d.domid));
    for (const row of rows ?? []) {
      const domain = rowToDomain(row);
      if (!inJson.has(row.domid) && !isDom0(domain)) described.push({ domain, flags: row.flags });
    }
    return described;
  };

  return {
    name: DRIVER,

    async detect(run) {
      // Xen creates this file in every domain; only dom0's holds control_d.
      return (await run.readFile('/proc/xen/capabilities'))?.includes('control_d') ?? false;
    },

    async hypervisor(run): Promise<Hypervisor> {
      const { tool, info, failure: infoFailure } = await toolstack(run);
      if (!info) throw infoFailure;
      return {
        driver: DRIVER,
        product: 'xen',
        version: info.version,
        managementStack: tool === 'xl' ? 'xl (libxl)' : 'xm (xend)',
        ...(await readHostOs(run)),
      };
    },

    async guests(run): Promise<GuestScan> {
      const errors: ReportError[] = [];
      const { tool, info } = await toolstack(run);
      if (info?.major !== undefined && !KNOWN_XEN_MAJORS.includes(info.major)) {
        errors.push({
          driver: DRIVER,
          code: 'FORMAT_VERSION_UNKNOWN',
          message: `Xen ${info.version} is newer than the Xen 3 and 4 this driver knows; its ${tool} output was read as Xen 4's (JSON or SXP, by its shape). Check the guests and report the version`,
        });
      }
      const described = await describeAll(run, tool, errors);
      const xenstore = await readXenstore(run);
      return { guests: described.map((d) => toGuest(d, xenstore)), errors };
    },
  };
}
