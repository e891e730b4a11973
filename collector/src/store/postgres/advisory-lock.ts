import type { Db } from '../db.js';

/**
 * Whether this collector holds a PostgreSQL session advisory lock, taking it when free: the work it
 * guards (the alerts' periodic checks) runs on one collector of those sharing the database. The lock
 * lives as long as the connection: a collector that dies frees it, and another takes it at its next try.
 */
export function advisoryLock(db: Db, key: number): () => boolean {
  // Held already (a second pg_try_advisory_lock would stack another hold on the same session)?
  const take = db.prepare(
    `SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                               AND classid = 0 AND objid = ?::bigint::oid)
            THEN true ELSE pg_try_advisory_lock(?::bigint) END AS held`,
  );
  return () => (take.get(key, key) as { held: number }).held === 1;
}
