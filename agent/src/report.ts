/**
 * One inventory for a person or a script: what a scan found, with the identification the collector
 * would make of it. `hvmap-agent scan` and the collector's agentless `hvmap scan --ssh` print it alike.
 */
import {
  type Guest,
  type GuestOsResult,
  type Hypervisor,
  type HypervisorIdentity,
  identifyGuestOs,
  identifyHypervisor,
} from '@hvmap/shared';
import type { InventoryBody } from './scan.js';

/** `scan` output: the inventory as it would be sent, plus what the collector would make of it. */
export interface IdentifiedInventory extends Omit<InventoryBody, 'hypervisor' | 'guests'> {
  hypervisor: Hypervisor & { identified: HypervisorIdentity | null };
  guests: (Guest & { identified: GuestOsResult })[];
}

/** Adds the identification the collector would make, for the operator at the host. */
export function identify(inventory: InventoryBody): IdentifiedInventory {
  return {
    ...inventory,
    hypervisor: { ...inventory.hypervisor, identified: identifyHypervisor(inventory.hypervisor) },
    guests: inventory.guests.map((g) => ({ ...g, identified: identifyGuestOs(g.os) })),
  };
}

/** The inventory for a person: host and hypervisor lines, a guest table, then any errors. */
export function formatTable(inventory: IdentifiedInventory): string {
  const { host, hypervisor: hv } = inventory;
  const hostOs = [host.os.distro, host.os.release].filter(Boolean).join(' ') || host.os.platform;
  const hvRaw = [hv.product, hv.version, hv.managementStack && `(${hv.managementStack})`].filter(Boolean).join(' ');
  const lines = [
    `host        ${host.hostname}  ${hostOs}  ${host.os.kernel ?? ''}`.trimEnd(),
    `hypervisor  ${hvRaw}  [driver ${hv.driver}]  => ${hv.identified ? `${hv.identified.name} (${hv.identified.id})` : 'not identified'}`,
  ];
  for (const run of inventory.drivers ?? []) {
    lines.push(`driver      ${run.driver}: ${run.ok ? 'ok' : 'FAILED'}, ${run.guests} guests in ${run.durationMs} ms`);
  }
  const rows = inventory.guests.map((g) => [g.name, g.state, guestOs(g.identified), g.uuid]);
  lines.push('', ...alignColumns([['GUEST', 'STATE', 'OS (identified)', 'UUID'], ...rows]));
  if (inventory.guests.length === 0) lines.push('(no guests)');
  if (inventory.errors.length > 0) {
    lines.push('', inventory.partial ? 'errors (the report is partial):' : 'errors:');
    for (const e of inventory.errors)
      lines.push(`  ${e.code} [${e.driver}${e.guest ? ` ${e.guest}` : ''}] ${e.message}`);
  }
  return `${lines.join('\n')}\n`;
}

function guestOs(result: GuestOsResult): string {
  if (!result.known) return `unknown: ${result.reason}`;
  const conflicts = result.conflicts.map((c) => `${c.source} says ${c.id}`).join(', ');
  return `${result.os.name} (${result.os.id}, from ${result.source})${conflicts ? `; ${conflicts}` : ''}`;
}

function alignColumns(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
}
