/**
 * The Hyper-V driver: Windows Server 2008 to 2025 and client Hyper-V, through Windows PowerShell run by
 * the injected Runner. Commands, privileges and how to capture a case: README.md beside this file.
 */
import {
  type Guest,
  type Hypervisor,
  identifyHypervisor,
  type OsEvidence,
  type OsUnknownReason,
  type ReportError,
} from '@hvmap/shared';
import { DEFAULT_COMMAND_TIMEOUT_MS, type Runner } from '../../runner.js';
import { type Driver, DriverError, type GuestScan } from '../driver.js';
import { succeeded } from '../run-result.js';
import {
  guestUuid,
  isPermissionDenied,
  legacyKvp,
  legacyVms,
  type PowerShellError,
  parseHostInfo,
  parseKvpDetail,
  parseKvpItems,
  parsePowerShellErrors,
  parseVmList,
  parseWmiList,
  type VmRecord,
} from './parse.js';
import { DETECT_SCRIPT, HOST_SCRIPT, KVP_SCRIPT, LEGACY_SCRIPTS, LIST_SCRIPT, NO_GET_VM_EXIT_CODE } from './scripts.js';

/** How to run PowerShell. */
export interface HyperVOptions {
  /** Timeout of one powershell.exe invocation. */
  commandTimeoutMs?: number;
}

const DRIVER = 'hyperv';
const POWERSHELL = 'powershell.exe';
const PRIVILEGE_HINT = 'run the agent as an administrator or as a member of the Hyper-V Administrators group';

/** What a script printed, and the errors PowerShell wrote beside it. */
interface ScriptRun {
  stdout: string;
  code: number | null;
  errors: PowerShellError[];
}

/** A script run whose failure does not end the scan: what it printed, or why it printed nothing useful. */
interface Attempt {
  stdout: string;
  errors: ReportError[];
}

/** The KVP step: every VM's intrinsic items and what the step could tell about the VMs. */
interface KvpStep {
  items: Map<string, string[]>;
  /** The VMs that existed when the step ran; null when it could not tell (it failed, or the path cannot). */
  present: Set<string> | null;
  /** Why a running VM may have no items besides a silent guest: the step failed. */
  failure?: { reason: OsUnknownReason; detail: string };
  errors: ReportError[];
}

function reportError(code: string, message: string, guest?: string): ReportError {
  return guest === undefined ? { driver: DRIVER, code, message } : { driver: DRIVER, code, message, guest };
}

/** The report entries for what a script wrote to stderr, or for its exit code when it wrote nothing. */
function reportErrors(what: string, run: ScriptRun): ReportError[] {
  const errors = run.errors.length > 0 || run.code === 0 ? run.errors : [{ message: `exit code ${run.code}` }];
  return errors.map((e) =>
    isPermissionDenied(e)
      ? reportError('PERMISSION_DENIED', `${what}: ${e.message} (${PRIVILEGE_HINT})`)
      : reportError('POWERSHELL_ERROR', `${what}: ${e.message}${e.errorId ? ` [${e.errorId}]` : ''}`),
  );
}

/** A step that produced nothing usable, as one error: its refusal, its PowerShell errors, or its silence. */
function stepFailure(what: string, errors: readonly ReportError[]): DriverError {
  if (errors.length === 0) return new DriverError('BAD_OUTPUT', `the ${what} script printed nothing`);
  const code = errors.some((e) => e.code === 'PERMISSION_DENIED') ? 'PERMISSION_DENIED' : errors[0].code;
  return new DriverError(code, errors.map((e) => e.message).join('; '));
}

/** Why a running guest's OS is unknown after a step that reported these errors. */
function unknownFrom(errors: readonly ReportError[]): KvpStep['failure'] {
  if (errors.length === 0) return undefined;
  const codes = new Set(errors.map((e) => e.code));
  let reason: OsUnknownReason = 'error';
  if (codes.has('PERMISSION_DENIED')) reason = 'permission_denied';
  else if (codes.has('COMMAND_TIMEOUT')) reason = 'timeout';
  return { reason, detail: errors[0].message };
}

/** Parses a step's output; an empty or unreadable output becomes a BAD_OUTPUT entry among its errors. */
function read<T>(what: string, attempt: Attempt, parse: (text: string) => T): T | undefined {
  if (!attempt.stdout.trim()) {
    if (attempt.errors.length === 0)
      attempt.errors.push(reportError('BAD_OUTPUT', `the ${what} script printed nothing`));
    return undefined;
  }
  try {
    return parse(attempt.stdout);
  } catch (err) {
    const code = err instanceof DriverError ? err.code : 'BAD_OUTPUT';
    attempt.errors.push(reportError(code, (err as Error).message));
    return undefined;
  }
}

/** The UUID the guest sees (parse.ts guestUuid), or the VM id when its BIOSGUID could not be read. */
function uuidOf(vm: VmRecord): string {
  return (vm.biosGuid ? guestUuid(vm.biosGuid, vm.generation) : null) ?? vm.id;
}

function kvpEmptyDetail(vm: VmRecord): string {
  const services = [vm.integrationServicesVersion, vm.integrationServicesState].filter(Boolean).join(', ');
  return (
    'the VM runs but its guest sent no KVP items: no Hyper-V Data Exchange Service (hv_kvp_daemon on Linux) ' +
    `runs in it${services ? ` (integration services: ${services})` : ''}`
  );
}

function toGuest(vm: VmRecord, kvp: KvpStep): Guest {
  const fields = parseKvpItems(kvp.items.get(vm.id) ?? []);
  const evidence: OsEvidence[] = [];
  let reason: OsUnknownReason | undefined;
  let reasonDetail: string | undefined;
  if (Object.keys(fields).length > 0) {
    evidence.push({ source: 'kvp', text: fields.OSName, fields });
  } else if (vm.state !== 'running') {
    reason = 'vm_off';
    reasonDetail = `the VM is ${vm.state === 'shutoff' ? 'off' : vm.state}; only a running guest fills the KVP exchange`;
  } else if (kvp.failure) {
    ({ reason, detail: reasonDetail } = kvp.failure);
  } else {
    reason = 'kvp_empty';
    reasonDetail = kvpEmptyDetail(vm);
  }
  evidence.push({ source: 'name-hint', text: vm.name });
  return {
    uuid: uuidOf(vm),
    name: vm.name,
    state: vm.state,
    vcpus: vm.processorCount,
    memoryBytes: vm.memoryBytes,
    firmware: vm.generation === 2 ? 'efi' : 'bios',
    // Hyper-V's counterpart of a machine type: the configuration version of the VM's virtual hardware.
    machine: vm.configurationVersion,
    generation: vm.generation === 2 ? 2 : 1,
    os: { evidence, reason, reasonDetail },
  };
}

/** The guests of the listed VMs; a VM the KVP step no longer found is reported as gone, not as a guest. */
function assemble(vms: readonly VmRecord[], kvp: KvpStep, errors: ReportError[]): GuestScan {
  const guests: Guest[] = [];
  for (const vm of vms) {
    if (kvp.present && !kvp.present.has(vm.id)) {
      errors.push(
        reportError('VM_VANISHED', `VM '${vm.name}' (${vm.id}) went away between Get-VM and the KVP query`, uuidOf(vm)),
      );
    } else {
      guests.push(toGuest(vm, kvp));
    }
  }
  return { guests, errors: [...errors, ...kvp.errors] };
}

/** A Driver for Hyper-V through Windows PowerShell. */
export function hypervDriver(options: HyperVOptions = {}): Driver {
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const powershell = (run: Runner, script: string) =>
    run.run(POWERSHELL, ['-NoProfile', '-NonInteractive', '-Command', script], { timeoutMs });

  /** Runs a script; a failure to run it at all (not installed, no answer) is thrown as a DriverError. */
  const runScript = async (run: Runner, what: string, script: string): Promise<ScriptRun> => {
    const result = await powershell(run, script);
    if (result.error === 'ENOENT') {
      throw new DriverError(
        'POWERSHELL_NOT_FOUND',
        'powershell.exe was not found: the hyperv driver runs on the Hyper-V host, with Windows PowerShell 2.0 or later',
      );
    }
    if (result.error === 'TIMEOUT') {
      throw new DriverError(
        'COMMAND_TIMEOUT',
        `the ${what} script gave no answer within ${timeoutMs} ms: is the Hyper-V Virtual Machine Management service (vmms) responding?`,
      );
    }
    if (result.error)
      throw new DriverError('POWERSHELL_ERROR', `powershell.exe could not run the ${what} script (${result.error})`);
    return { stdout: result.stdout, code: result.code, errors: parsePowerShellErrors(result.stderr) };
  };

  /** Runs a script the scan can do without: a failure to run it becomes its one error entry. */
  const attempt = async (run: Runner, what: string, script: string): Promise<Attempt> => {
    try {
      const result = await runScript(run, what, script);
      return { stdout: result.stdout, errors: reportErrors(what, result) };
    } catch (err) {
      const e = err as DriverError;
      return { stdout: '', errors: [reportError(e.code, e.message)] };
    }
  };

  const kvpStep = async (run: Runner): Promise<KvpStep> => {
    const step = await attempt(run, 'KVP', KVP_SCRIPT);
    const detail = read('KVP', step, parseKvpDetail);
    return {
      items: detail?.items ?? new Map(),
      // A query that reported errors may have left out VMs that exist: only a clean answer says one is gone.
      present: step.errors.length === 0 && detail ? detail.systems : null,
      failure: unknownFrom(step.errors),
      errors: step.errors,
    };
  };

  /** 2008 and 2008 R2 (and 2012 without the Hyper-V module): the root\virtualization classes, one script each. */
  const legacyGuests = async (run: Runner): Promise<GuestScan> => {
    const systems = await runScript(run, 'Msvm_ComputerSystem', LEGACY_SCRIPTS.systems);
    const errors = reportErrors('Msvm_ComputerSystem', systems);
    if (!systems.stdout.trim()) {
      const failure = stepFailure('Msvm_ComputerSystem', errors);
      throw new DriverError(
        failure.code,
        `${failure.message}. Get-VM is not available either: on Windows Server 2012 and later, install the Hyper-V module for Windows PowerShell (Install-WindowsFeature Hyper-V-PowerShell)`,
      );
    }
    const [memory, processors, settings, kvp] = await Promise.all([
      attempt(run, 'Msvm_MemorySettingData', LEGACY_SCRIPTS.memory),
      attempt(run, 'Msvm_ProcessorSettingData', LEGACY_SCRIPTS.processors),
      attempt(run, 'Msvm_VirtualSystemSettingData', LEGACY_SCRIPTS.settings),
      attempt(run, 'Msvm_KvpExchangeComponent', LEGACY_SCRIPTS.kvp),
    ]);
    const vms = legacyVms(
      parseWmiList(systems.stdout),
      parseWmiList(memory.stdout),
      parseWmiList(processors.stdout),
      parseWmiList(settings.stdout),
    );
    const kvpItems = legacyKvp(parseWmiList(kvp.stdout));
    const step: KvpStep = { items: kvpItems, present: null, failure: unknownFrom(kvp.errors), errors: kvp.errors };
    return assemble(vms, step, [...errors, ...memory.errors, ...processors.errors, ...settings.errors]);
  };

  return {
    name: DRIVER,

    async detect(run) {
      const result = await powershell(run, DETECT_SCRIPT);
      return succeeded(result) && /\bvmms\b/.test(result.stdout);
    },

    async hypervisor(run) {
      const result = await runScript(run, 'host', HOST_SCRIPT);
      const host = parseHostInfo(result.stdout);
      if (!host.Caption && !host.BuildNumber) throw stepFailure('host', reportErrors('host', result));
      const hostOsFields: Record<string, string> = {};
      for (const name of ['Caption', 'Version', 'BuildNumber', 'ProductType', 'OSLanguage'] as const) {
        if (host[name]) hostOsFields[name] = host[name];
      }
      const facts: Hypervisor = {
        driver: DRIVER,
        product: 'hyper-v',
        build: host.BuildNumber,
        managementStack: host.VmmsVersion ? `vmms ${host.VmmsVersion}` : undefined,
        hostOs: host.Caption,
        hostOsFields,
      };
      // The release in Microsoft's terms ("2019", "2012 R2"), read from the caption and build as the collector would.
      const version = identifyHypervisor(facts)?.version || undefined;
      const { driver, product, ...rest } = facts;
      return { driver, product, version, ...rest };
    },

    async guests(run) {
      const list = await runScript(run, 'Get-VM', LIST_SCRIPT);
      if (list.code === NO_GET_VM_EXIT_CODE && !list.stdout.trim()) return legacyGuests(run);
      const errors = reportErrors('Get-VM', list);
      if (!list.stdout.trim()) throw stepFailure('Get-VM', errors);
      const vms = parseVmList(list.stdout);
      const kvp = vms.length > 0 ? await kvpStep(run) : { items: new Map(), present: null, errors: [] };
      return assemble(vms, kvp, errors);
    },
  };
}
