import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './db.js';

/** Tokens are stored as SHA-256: they are 32 random bytes, so a slow hash adds nothing. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface TokenInfo {
  name: string;
  createdAt: string;
  revokedAt: string | null;
  agentId: string | null;
  lastHelloAt: string | null;
}

export class TokenError extends Error {
  constructor(
    readonly code: 'TOKEN_NAME_TAKEN' | 'TOKEN_NOT_FOUND' | 'TOKEN_NAME_INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Per-agent tokens: created once (the plaintext is shown only then), listed, revoked. */
export class TokenStore {
  constructor(private readonly db: Db) {}

  create(name: string): { name: string; token: string } {
    if (!NAME_PATTERN.test(name)) {
      throw new TokenError('TOKEN_NAME_INVALID', `token name "${name}" must be 1-128 of A-Z a-z 0-9 . _ -`);
    }
    const existing = this.db.prepare('SELECT revoked_at, kind FROM agents WHERE name = ?').get(name) as
      | { revoked_at: string | null; kind: string }
      | undefined;
    if (existing && !existing.revoked_at) {
      throw new TokenError(
        'TOKEN_NAME_TAKEN',
        existing.kind === 'ssh'
          ? `"${name}" is a host the collector polls over SSH (serve --poll); give the agent another name`
          : `an active token named "${name}" exists; revoke it first`,
      );
    }
    const token = `hvm_${randomBytes(32).toString('base64url')}`;
    const now = new Date().toISOString();
    // A revoked name may be re-issued: the host keeps its history, the new token binds afresh.
    this.db
      .prepare(
        `INSERT INTO agents (name, token_hash, created_at) VALUES (?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at,
           revoked_at = NULL, agent_id = NULL, kind = 'agent', poll_error = NULL`,
      )
      .run(name, hashToken(token), now);
    return { name, token };
  }

  list(): TokenInfo[] {
    return (
      this.db
        .prepare(
          "SELECT name, created_at, revoked_at, agent_id, last_hello_at FROM agents WHERE kind = 'agent' ORDER BY name",
        )
        .all() as {
        name: string;
        created_at: string;
        revoked_at: string | null;
        agent_id: string | null;
        last_hello_at: string | null;
      }[]
    ).map((r) => ({
      name: r.name,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
      agentId: r.agent_id,
      lastHelloAt: r.last_hello_at,
    }));
  }

  revoke(name: string): void {
    const res = this.db
      .prepare("UPDATE agents SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL AND kind = 'agent'")
      .run(new Date().toISOString(), name);
    if (res.changes === 0) throw new TokenError('TOKEN_NOT_FOUND', `no active token named "${name}"`);
  }

  /** The agent name a presented token belongs to, or null when unknown or revoked. */
  authenticate(token: string): string | null {
    const row = this.db
      .prepare('SELECT name FROM agents WHERE token_hash = ? AND revoked_at IS NULL')
      .get(hashToken(token)) as { name: string } | undefined;
    return row?.name ?? null;
  }

  /** Names of the revoked agent tokens (a revoke by another process on this database included). */
  revokedNames(): string[] {
    return (this.db.prepare('SELECT name FROM agents WHERE revoked_at IS NOT NULL').all() as { name: string }[]).map(
      (r) => r.name,
    );
  }

  /**
   * Makes `names` the hosts polled over SSH: new ones are added (kind `ssh`), those no longer listed
   * are retired as a revoked token is (their host stays on the map with what it last reported).
   * Returns the names refused because an agent's token holds them.
   */
  setPolledHosts(names: readonly string[]): string[] {
    const now = new Date().toISOString();
    const refused: string[] = [];
    this.db.transaction(() => {
      const rows = this.db.prepare('SELECT name, kind, revoked_at FROM agents').all() as {
        name: string;
        kind: string;
        revoked_at: string | null;
      }[];
      const byName = new Map(rows.map((r) => [r.name, r]));
      const listed = new Set(names);
      for (const name of names) {
        const row = byName.get(name);
        if (row && row.kind === 'agent' && !row.revoked_at) {
          refused.push(name);
          continue;
        }
        this.db
          .prepare(
            `INSERT INTO agents (name, token_hash, created_at, kind) VALUES (?, ?, ?, 'ssh')
             ON CONFLICT(name) DO UPDATE SET token_hash = excluded.token_hash, kind = 'ssh', revoked_at = NULL,
               agent_id = NULL`,
          )
          .run(name, `polled:${name}`, now);
      }
      for (const row of rows)
        if (row.kind === 'ssh' && !row.revoked_at && !listed.has(row.name))
          this.db.prepare('UPDATE agents SET revoked_at = ?, connected_at = NULL WHERE name = ?').run(now, row.name);
    })();
    return refused;
  }

  /** Whether the collector holds this agent's connection now (as it records it in the database). */
  isConnected(name: string): boolean {
    const row = this.db.prepare('SELECT connected_at FROM agents WHERE name = ?').get(name) as
      | { connected_at: string | null }
      | undefined;
    return Boolean(row?.connected_at);
  }
}
