import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import { hashToken, TokenError } from '../store/tokens.js';

/** An operator token as `hvmap tokens list` shows it (never its value). */
export interface OperatorInfo {
  name: string;
  createdAt: string;
  revokedAt: string | null;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/**
 * Tokens for people (the web page, the API, /metrics) when the collector is not bound to loopback.
 * A table of their own, apart from agent tokens: an agent's token never opens the page, and an
 * operator's never feeds the map. Stored as SHA-256 like agent tokens (32 random bytes each).
 */
export class OperatorTokens {
  constructor(private readonly db: Db) {}

  create(name: string): { name: string; token: string } {
    if (!NAME_PATTERN.test(name)) {
      throw new TokenError('TOKEN_NAME_INVALID', `operator name "${name}" must be 1-128 of A-Z a-z 0-9 . _ @ -`);
    }
    const existing = this.db.prepare('SELECT revoked_at FROM operators WHERE name = ?').get(name) as
      | { revoked_at: string | null }
      | undefined;
    if (existing && !existing.revoked_at) {
      throw new TokenError('TOKEN_NAME_TAKEN', `an active operator token named "${name}" exists; revoke it first`);
    }
    // A distinct prefix tells an operator token from an agent token (hvm_) at a glance.
    const token = `hvo_${randomBytes(32).toString('base64url')}`;
    this.db
      .prepare(
        `INSERT INTO operators (name, token_hash, created_at) VALUES (?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at, revoked_at = NULL`,
      )
      .run(name, hashToken(token), new Date().toISOString());
    return { name, token };
  }

  list(): OperatorInfo[] {
    const rows = this.db.prepare('SELECT name, created_at, revoked_at FROM operators ORDER BY name').all() as {
      name: string;
      created_at: string;
      revoked_at: string | null;
    }[];
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  revoke(name: string): void {
    const res = this.db
      .prepare('UPDATE operators SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL')
      .run(new Date().toISOString(), name);
    if (res.changes === 0) throw new TokenError('TOKEN_NOT_FOUND', `no active operator token named "${name}"`);
  }

  /** The operator a presented token belongs to, or null when unknown or revoked. */
  authenticate(token: string): string | null {
    const row = this.db
      .prepare('SELECT name FROM operators WHERE token_hash = ? AND revoked_at IS NULL')
      .get(hashToken(token)) as { name: string } | undefined;
    return row?.name ?? null;
  }
}
