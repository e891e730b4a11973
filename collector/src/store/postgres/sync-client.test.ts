/**
 * The synchronous client against a real PostgreSQL server: each statement gets its own reply, however
 * the wait for it is woken.
 */
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseTargets } from '../../../../test/helpers/store-backends.js';
import { SyncPostgresClient } from './sync-client.js';

const databases = databaseTargets();
const clients: SyncPostgresClient[] = [];
afterAll(() => {
  for (const c of clients) c.close();
});

describe('SyncPostgresClient', () => {
  it('gives each statement its own rows while its wait is woken by notifications that are not its answer', async () => {
    const client = new SyncPostgresClient(await databases.target('postgres'));
    clients.push(client);
    // The worker sets the flag, then notifies: one descheduled between the two wakes the next
    // statement's wait before its answer exists. Here a thread notifies without end.
    const flag = (client as unknown as { flag: Int32Array }).flag;
    const waker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const flag = new Int32Array(workerData);
       for (;;) Atomics.notify(flag, 0);`,
      { eval: true, workerData: flag.buffer },
    );
    try {
      const answers: unknown[] = [];
      for (let i = 0; i < 300; i++) {
        answers.push(client.query({ name: 'echo', sql: 'SELECT $1::int AS n', params: [i] }).rows[0]?.n);
      }
      expect(answers).toEqual(Array.from({ length: 300 }, (_, i) => i));
    } finally {
      await waker.terminate();
    }
  });

  it('gives up on a statement after its timeout, and the next statement gets its own answer', async () => {
    const client = new SyncPostgresClient(await databases.target('postgres'), { timeoutMs: 500 });
    clients.push(client);
    const started = performance.now();
    expect(() => client.query({ sql: 'SELECT pg_sleep(5)' })).toThrow(
      expect.objectContaining({ code: 'TIMEOUT', message: 'PostgreSQL did not answer within 0.5 s' }),
    );
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(499);
    expect(waited).toBeLessThan(4_000);
    expect(client.query({ sql: 'SELECT 7 AS n' }).rows).toEqual([{ n: 7 }]);
  });
});
