import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Inventory } from '@hvmap/shared';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectPeer } from '../../test/helpers/agent-peer.js';
import { esxiRow, localSvvpFile } from '../../test/helpers/local-catalog.js';
import { BACKENDS, type Backend, databaseTargets } from '../../test/helpers/store-backends.js';
import { listAlerts } from './alerts/store.js';
import { type RunningCollector, startCollector } from './collector.js';
import { readReport } from './store/report.js';

let dir: string;
let localDir: string;
let dbTarget: string;
const databases = databaseTargets();
let backend: Backend;
let collector: RunningCollector;

describe.each(BACKENDS)('on %s', (name) => {
  beforeEach(() => {
    backend = name;
  });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-reload-'));
    localDir = path.join(dir, 'catalog.d');
    mkdirSync(localDir);
    dbTarget = await databases.target(backend);
    collector = await startCollector({
      db: dbTarget,
      listen: '127.0.0.1:0',
      localCatalogDir: localDir,
      logger: pino({ level: 'silent' }),
    });
    const { token } = collector.tokens.create('esx-01');
    const peer = await connectPeer(collector.agentUrl, token);
    peer.send({ type: 'hello', protocol: 1, agentId: 'a1', agentVersion: '0.1.0', hostname: 'esx-01' });
    await peer.next('welcome');
    const inventory: Inventory = {
      type: 'inventory',
      seq: 1,
      collectedAt: new Date().toISOString(),
      host: { hostname: 'esx-01', os: { platform: 'vmkernel' }, cpu: {} },
      hypervisor: { driver: 'libvirt', product: 'esxi', version: '8.0.2' },
      guests: [
        {
          uuid: 'u-1',
          name: 'fs01',
          state: 'running',
          os: { evidence: [{ source: 'libosinfo', text: 'http://microsoft.com/win/2k22' }] },
        },
      ],
      errors: [],
      partial: false,
    };
    peer.send(inventory);
    await peer.next('ack');
    peer.ws.close();
  });
  afterEach(async () => {
    await collector.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('catalog reload', () => {
    it('re-evaluates the fleet under the new catalog, stamps what changed and records the run', async () => {
      const before = readReport(collector.db).guests[0];
      expect(before.status).toBe('unknown');
      const oldVersion = collector.evaluator.catalogVersion;

      writeFileSync(path.join(localDir, 'svvp-local.json'), localSvvpFile([esxiRow]));
      const result = collector.reloadCatalog();
      expect(result).toMatchObject({ ok: true, changedGuests: 1 });
      const after = readReport(collector.db).guests[0];
      expect(after.status).toBe('certified');
      const stamp = collector.db.prepare('SELECT catalog_version FROM guests').get() as { catalog_version: string };
      expect(stamp.catalog_version).not.toBe(oldVersion);
      expect(stamp.catalog_version).toBe(collector.evaluator.catalogVersion);
      expect(collector.store.lastCatalogRun()).toBe(collector.evaluator.catalogVersion);
    });

    it('refuses a catalog with a bad row, naming file, row and reason, and keeps the running one', async () => {
      const version = collector.evaluator.catalogVersion;
      writeFileSync(path.join(localDir, 'svvp-local.json'), localSvvpFile([{ ...esxiRow, source: undefined }]));
      const result = collector.reloadCatalog();
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error).toMatch(/svvp-local\.json.*rows\[0\]/);
      expect(collector.evaluator.catalogVersion).toBe(version);
      expect(readReport(collector.db).guests[0].status).toBe('unknown');
    });

    it('judges the stored fleet again at start when the collector comes back with another catalog', async () => {
      await collector.close();
      writeFileSync(path.join(localDir, 'svvp-local.json'), localSvvpFile([esxiRow]));
      collector = await startCollector({
        db: dbTarget,
        listen: '127.0.0.1:0',
        localCatalogDir: localDir,
        logger: pino({ level: 'silent' }),
      });
      expect(readReport(collector.db).guests[0].status).toBe('certified');
      expect(collector.store.lastCatalogRun()).toBe(collector.evaluator.catalogVersion);
    });

    it('resolves the alerts a new catalog makes obsolete', async () => {
      // A guest-not-certified alert, then a local row that covers the pair.
      writeFileSync(path.join(localDir, 'svvp-local.json'), localSvvpFile([{ ...esxiRow, verdict: 'excluded' }]));
      expect(collector.reloadCatalog().ok).toBe(true);
      expect(listAlerts(collector.db, { state: 'firing', kind: 'guest-not-certified' })).toHaveLength(1);
      writeFileSync(path.join(localDir, 'svvp-local.json'), localSvvpFile([esxiRow]));
      expect(collector.reloadCatalog().ok).toBe(true);
      expect(listAlerts(collector.db, { state: 'resolved', kind: 'guest-not-certified' })).toHaveLength(1);
    });
  });
});
