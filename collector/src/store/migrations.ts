/**
 * Numbered schema migrations, applied in order inside one transaction each. Never edit a released
 * migration: add the next number. Plain SQL kept portable enough for PostgreSQL later (DESIGN.md).
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'agents, hosts, guests, changes',
    sql: `
      CREATE TABLE agents (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        agent_id TEXT,
        agent_version TEXT,
        last_hello_at TEXT,
        last_seq INTEGER
      );
      CREATE TABLE hosts (
        id INTEGER PRIMARY KEY,
        agent_name TEXT NOT NULL UNIQUE REFERENCES agents(name),
        hostname TEXT NOT NULL,
        facts_json TEXT NOT NULL,
        hypervisor_json TEXT NOT NULL,
        hypervisor_id TEXT,
        hypervisor_name TEXT,
        partial INTEGER NOT NULL DEFAULT 0,
        errors_json TEXT NOT NULL DEFAULT '[]',
        first_seen TEXT NOT NULL,
        last_report_at TEXT NOT NULL,
        last_contact_at TEXT NOT NULL
      );
      CREATE TABLE guests (
        id INTEGER PRIMARY KEY,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        guest_key TEXT NOT NULL,
        uuid TEXT NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        vcpus INTEGER,
        memory_bytes INTEGER,
        details_json TEXT NOT NULL,
        os_evidence_json TEXT NOT NULL,
        os_id TEXT,
        os_json TEXT,
        status TEXT NOT NULL,
        eol_date TEXT,
        verdict_json TEXT NOT NULL,
        catalog_version TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        removed_at TEXT,
        UNIQUE (host_id, guest_key)
      );
      CREATE INDEX guests_status ON guests(status) WHERE removed_at IS NULL;
      CREATE TABLE changes (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        guest_key TEXT,
        guest_name TEXT,
        kind TEXT NOT NULL,
        old_value TEXT,
        new_value TEXT
      );
      CREATE INDEX changes_host ON changes(host_id, id);
    `,
  },
];
