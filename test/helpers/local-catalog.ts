/** An operator's local catalog file, as they would write it beside the shipped one (`--catalog-dir`). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SHIPPED_CATALOG_DIR } from '../../collector/src/collector.js';

/** An operator's own SVVP rows in the shipped file's shape, as they would add them after checking the Windows Server Catalog. */
export function localSvvpFile(rows: unknown[]): string {
  const shipped = JSON.parse(readFileSync(path.join(SHIPPED_CATALOG_DIR, 'ms-svvp.json'), 'utf8'));
  return JSON.stringify({ ...shipped, rows });
}

/** Windows Server 2022 on ESXi 8.0, a row the shipped catalog does not hold. */
export const esxiRow = {
  hypervisor: { product: 'esxi', versions: ['8.0'] },
  guest: { distro: ['windows-server'], versions: ['2022'] },
  conditions: [],
  source: {
    title: 'Windows Server Catalog entry checked by the operator',
    url: 'https://www.windowsservercatalog.com/',
  },
  read: '2026-11-20',
};
