import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Inventory } from '@hvmap/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { SPOOL_FILE, Spool } from './spool.js';

function inventory(seq: number, guestName = 'web1'): Inventory {
  return {
    type: 'inventory',
    seq,
    collectedAt: '2024-05-01T10:00:00.000Z',
    host: { hostname: 'kvm1', os: { platform: 'linux' }, cpu: {} },
    hypervisor: { driver: 'libvirt', product: 'kvm' },
    guests: [{ uuid: 'u1', name: guestName, state: 'running', os: { evidence: [] } }],
    errors: [],
    partial: false,
  };
}

function memoryLog() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('Spool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hvmap-spool-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts at seq 0 with nothing pending in an empty state dir', async () => {
    const spool = new Spool(dir, memoryLog().logger);
    expect(await spool.load()).toEqual({ seq: 0, pending: null });
  });

  it('gives a saved snapshot and its seq back to the next process', async () => {
    const spool = new Spool(dir, memoryLog().logger);
    await spool.load();
    await spool.save(inventory(7));
    expect(await new Spool(dir, memoryLog().logger).load()).toEqual({ seq: 7, pending: inventory(7) });
  });

  it('keeps only the newest snapshot: a save replaces the unacknowledged one', async () => {
    const spool = new Spool(dir, memoryLog().logger);
    await spool.load();
    void spool.save(inventory(1));
    await spool.save(inventory(2, 'web2'));
    expect(await new Spool(dir, memoryLog().logger).load()).toEqual({ seq: 2, pending: inventory(2, 'web2') });
  });

  it('drops the snapshot once acknowledged and keeps the seq counter', async () => {
    const spool = new Spool(dir, memoryLog().logger);
    await spool.load();
    await spool.save(inventory(3));
    await spool.clear(3);
    expect(await new Spool(dir, memoryLog().logger).load()).toEqual({ seq: 3, pending: null });
  });

  it('keeps a newer snapshot when an older seq is acknowledged', async () => {
    const spool = new Spool(dir, memoryLog().logger);
    await spool.load();
    await spool.save(inventory(5));
    await spool.clear(4);
    expect((await new Spool(dir, memoryLog().logger).load()).pending?.seq).toBe(5);
  });

  it('writes through a temporary file and leaves none behind', async () => {
    const spool = new Spool(dir, memoryLog().logger);
    await spool.load();
    await spool.save(inventory(1));
    expect(await readdir(dir)).toEqual([SPOOL_FILE]);
    expect(JSON.parse(await readFile(path.join(dir, SPOOL_FILE), 'utf8'))).toMatchObject({ version: 1, seq: 1 });
  });

  it.each([
    ['a torn write', '{"version":1,"seq":3,"pend'],
    ['an unknown version', '{"version":9,"seq":3,"pending":null}'],
    ['a snapshot the collector would refuse', JSON.stringify({ version: 1, seq: 1, pending: { type: 'inventory' } })],
  ])('moves a spool file holding %s aside with a warning and starts empty', async (_what, text) => {
    await writeFile(path.join(dir, SPOOL_FILE), text);
    const { logger, lines } = memoryLog();
    expect(await new Spool(dir, logger).load()).toEqual({ seq: 0, pending: null });
    const files = await readdir(dir);
    expect(files).not.toContain(SPOOL_FILE);
    const aside = files.find((f) => f.startsWith(`${SPOOL_FILE}.corrupt-`));
    expect(aside).toBeDefined();
    expect(await readFile(path.join(dir, aside as string), 'utf8')).toBe(text);
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringContaining('corrupt') }));
  });
});
