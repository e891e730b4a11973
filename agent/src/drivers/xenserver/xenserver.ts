/**
 * The xenserver driver: XenServer, Citrix Hypervisor and XCP-ng, through the xe CLI in dom0 run by
 * the injected Runner. Commands and privileges: README.md beside this file.
 */
import { type Guest, type OsEvidence, type OsUnknownReason, parseOsRelease, type ReportError } from '@hvmap/shared';
import { DEFAULT_COMMAND_TIMEOUT_MS, type Runner, type RunResult } from '../../runner.js';
import { type Driver, DriverError, type GuestScan } from '../driver.js';
import { deniedPermission, stderrText, succeeded } from '../run-result.js';
import {
  isPoolMaster,
  NOT_IN_DATABASE,
  parseXeMap,
  parseXeRecords,
  pvDriversVersion,
  type XeRecord,
  xeState,
} from './parse.js';

/** How the xenserver driver runs xe. */
export interface XenServerOptions {
  /** Timeout of one xe invocation. */
  commandTimeoutMs?: number;
}

const DRIVER = 'xenserver';
const INVENTORY = '/etc/xensource-inventory';
const POOL_CONF = '/etc/xensource/pool.conf';
/** Newest product major whose xe output this driver was written against (XenServer 8, XCP-ng 8). */
const NEWEST_KNOWN_MAJOR = 8;
/** The filters keep templates (a hundred on every host), snapshots and dom0 out of the output. */
const VM_LIST_ARGS = ['vm-list', 'params=all', 'is-control-domain=false', 'is-a-template=false', 'is-a-snapshot=false'];
const REQUIRED = ['uuid', 'name-label', 'power-state'];

/** This dom0's identity from /etc/xensource-inventory (KEY='value' lines), when the file is there. */
interface Inventory {
  hostUuid?: string;
  brand?: string;
  version?: string;
}

async function readInventory(run: Runner): Promise<Inventory> {
  const text = await run.readFile(INVENTORY);
  if (text === null) return {};
  const fields = parseOsRelease(text);
  return { hostUuid: fields.INSTALLATION_UUID, brand: fields.PRODUCT_BRAND, version: fields.PRODUCT_VERSION };
}

const isUuid = (value: string | undefined) => /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(value ?? '');

/**
 * Whether a VM of the pool belongs in this host's report. xe answers for the whole pool, so each
 * host reports the VMs resident on it; a VM that runs nowhere goes with its affinity host, or with
 * the pool master when it has none. Without the host's UUID every VM is reported.
 */
function onThisHost(vm: XeRecord, hostUuid: string | undefined, master: boolean): boolean {
  if (!hostUuid) return true;
  const resident = vm['resident-on'];
  if (isUuid(resident)) return resident === hostUuid;
  const affinity = vm.affinity;
  return isUuid(affinity) ? affinity === hostUuid : master;
}

/** libvirt's machine names for the guest types, so that both drivers describe a guest alike. */
function machine(vm: XeRecord): string {
  const type = vm['domain-type'];
  if (type === 'hvm') return 'xenfv';
  if (type === 'pvh') return 'xenpvh';
  if (type === 'pv' || type === 'pv_in_pvh') return 'xenpv';
  // Before domain-type (XenServer 7.5), a VM booted by HVM-boot-policy is HVM, otherwise PV.
  return vm['HVM-boot-policy'] ? 'xenfv' : 'xenpv';
}

const count = (value: string | undefined) => (/^\d+$/.test(value ?? '') ? Number(value) : undefined);

function toGuest(vm: XeRecord): Guest {
  const state = xeState(vm['power-state']);
  const osVersion = parseXeMap(vm['os-version']);
  const evidence: OsEvidence[] = [];
  let reason: OsUnknownReason | undefined;
  let reasonDetail: string | undefined;
  if (vm['os-version'] === undefined) {
    reason = 'error';
    reasonDetail = 'xe printed no os-version for this VM';
  } else if (osVersion && Object.keys(osVersion).length > 0) {
    // The tools version says which guest agent wrote os-version (Windows major/minor are unreliable before 7.x).
    const tools = pvDriversVersion(vm['PV-drivers-version']);
    const fields = tools ? { ...osVersion, 'PV-drivers-version': tools } : osVersion;
    evidence.push({ source: 'xe-os-version', text: osVersion.name, fields });
  } else if (state !== 'running' && state !== 'paused') {
    reason = 'vm_off';
    reasonDetail = `VM is ${vm['power-state']} and XenServer kept no guest metrics from an earlier run`;
  } else if (osVersion === null) {
    evidence.push({ source: 'xe-os-version', text: NOT_IN_DATABASE });
    reason = 'not_in_database';
    reasonDetail =
      'XenServer holds no guest metrics for this VM: install and start its guest tools (XenServer VM Tools, xe-guest-utilities)';
  } else {
    reason = 'no_guest_agent';
    reasonDetail = 'the guest tools report no os-version';
  }
  evidence.push({ source: 'name-hint', text: vm['name-label'] });
  const hvm = machine(vm) === 'xenfv';
  const live = state === 'running' || state === 'paused' ? count(vm['VCPUs-number']) : undefined;
  return {
    uuid: vm.uuid.toLowerCase(),
    name: vm['name-label'],
    state,
    vcpus: live || count(vm['VCPUs-at-startup']) || count(vm['VCPUs-max']),
    memoryBytes: count(vm['memory-static-max']),
    firmware: hvm ? (parseXeMap(vm['HVM-boot-params'])?.firmware === 'uefi' ? 'efi' : 'bios') : undefined,
    machine: machine(vm),
    os: { evidence, reason, reasonDetail },
  };
}

/** A Driver for XenServer / XCP-ng through xe, in the host's dom0. */
export function xenServerDriver(options: XenServerOptions = {}): Driver {
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;

  const failure = (result: RunResult, command: string): DriverError => {
    if (result.error === 'ENOENT') {
      return new DriverError(
        'XE_NOT_FOUND',
        'xe was not found: the xenserver driver runs in the control domain (dom0) of a XenServer or XCP-ng host',
      );
    }
    if (result.error === 'TIMEOUT') {
      return new DriverError(
        'COMMAND_TIMEOUT',
        `xe ${command} gave no answer within ${timeoutMs} ms: is xapi running?`,
      );
    }
    if (deniedPermission(result)) {
      return new DriverError(
        'PERMISSION_DENIED',
        `xe ${command} was refused (${stderrText(result)}): xe talks to xapi over a socket only root may open; run the agent as root in dom0`,
      );
    }
    return new DriverError('XE_FAILED', `xe ${command} failed: ${stderrText(result)}. Is xapi running (xe host-list)?`);
  };

  const xe = async (run: Runner, args: string[]): Promise<XeRecord[]> => {
    const result = await run.run('xe', args, { timeoutMs });
    if (!succeeded(result)) throw failure(result, args[0]);
    return parseXeRecords(result.stdout);
  };

  return {
    name: DRIVER,

    async detect(run) {
      // Written by the installer of every XenServer, Citrix Hypervisor and XCP-ng dom0.
      return (await run.readFile(INVENTORY)) !== null;
    },

    async hypervisor(run) {
      const inventory = await readInventory(run);
      const hosts = await xe(run, ['host-list', 'params=all']);
      const host = hosts.find((h) => h.uuid === inventory.hostUuid) ?? (hosts.length === 1 ? hosts[0] : undefined);
      if (!host) {
        throw new DriverError(
          'XE_HOST_UNKNOWN',
          `xe host-list lists ${hosts.length} hosts and ${INVENTORY} names none of them (INSTALLATION_UUID ${inventory.hostUuid ?? 'missing'})`,
        );
      }
      const software = parseXeMap(host['software-version']) ?? {};
      const brand = software.product_brand ?? inventory.brand ?? 'XenServer';
      const version = software.product_version ?? inventory.version;
      const stack = [software.xapi && `xapi ${software.xapi}`, software.xen && `Xen ${software.xen}`].filter(Boolean);
      return {
        driver: DRIVER,
        // XCP-ng is a product of its own for support lists; Citrix Hypervisor is XenServer renamed.
        product: /xcp-?ng/i.test(brand) ? 'xcp-ng' : 'xenserver',
        version,
        build: software.build_number,
        managementStack: stack.length > 0 ? stack.join(', ') : undefined,
        // dom0 is the product itself: its os-release names the product, as this does.
        hostOs: version ? `${brand} ${version}` : brand,
      };
    },

    async guests(run): Promise<GuestScan> {
      const errors: ReportError[] = [];
      const inventory = await readInventory(run);
      const major = Number.parseInt(inventory.version ?? '', 10);
      if (major > NEWEST_KNOWN_MAJOR) {
        errors.push({
          driver: DRIVER,
          code: 'FORMAT_VERSION_UNKNOWN',
          message: `${inventory.brand ?? 'XenServer'} ${inventory.version} is newer than the versions this driver knows (up to ${NEWEST_KNOWN_MAJOR}.x); its xe output was read as ${NEWEST_KNOWN_MAJOR}.x's. Check the guests and report the version`,
        });
      }
      const master = isPoolMaster(await run.readFile(POOL_CONF));
      const guests: Guest[] = [];
      for (const vm of await xe(run, VM_LIST_ARGS)) {
        if (vm['is-control-domain'] === 'true' || vm['is-a-template'] === 'true' || vm['is-a-snapshot'] === 'true') {
          continue;
        }
        const missing = REQUIRED.filter((k) => !vm[k]);
        if (missing.length > 0 || vm['os-version'] === undefined) {
          errors.push({
            driver: DRIVER,
            code: 'XE_RECORD_INCOMPLETE',
            guest: vm.uuid || vm['name-label'],
            message:
              missing.length > 0
                ? `a VM record of xe vm-list lacks ${missing.join(', ')} (output cut short?); the VM is left out`
                : 'the VM record of xe vm-list ends before os-version (output cut short?); its OS is unknown',
          });
        }
        if (missing.length === 0 && onThisHost(vm, inventory.hostUuid, master)) guests.push(toGuest(vm));
      }
      return { guests, errors };
    },
  };
}
