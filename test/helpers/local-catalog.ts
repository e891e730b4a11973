/** An operator's local catalog file over the shipped catalog of these sources (test/bench/src/local-catalog.ts). */
import { SHIPPED_CATALOG_DIR } from '../../collector/src/collector.js';
import { esxiRow as esxiRowFor, localSvvpFile as svvpFileOver } from '../bench/src/local-catalog.js';

export const localSvvpFile = (rows: unknown[]): string => svvpFileOver(SHIPPED_CATALOG_DIR, rows);

/** Windows Server 2022 on ESXi 8.0, a row the shipped catalog does not hold. */
export const esxiRow = esxiRowFor();
