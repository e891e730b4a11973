/**
 * An operator's local catalog file, as they would write it beside the shipped ones (`--catalog`):
 * the tests' and the benchmark's real catalog change. Beside the bench, which cannot reach test/helpers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Their own SVVP rows in the shipped file's shape (`shippedDir`: the shipped catalog's folder). */
export function localSvvpFile(shippedDir: string, rows: unknown[]): string {
  const shipped = JSON.parse(readFileSync(path.join(shippedDir, 'ms-svvp.json'), 'utf8'));
  return JSON.stringify({ ...shipped, rows });
}

/** Windows Server 2022 on ESXi `version`, a row the shipped catalog does not hold. */
export function esxiRow(version = '8.0') {
  return {
    hypervisor: { product: 'esxi', versions: [version] },
    guest: { distro: ['windows-server'], versions: ['2022'] },
    conditions: [],
    source: {
      title: 'Windows Server Catalog entry checked by the operator',
      url: 'https://www.windowsservercatalog.com/',
    },
    read: '2026-11-20',
  };
}
