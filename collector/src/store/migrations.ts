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
  {
    version: 2,
    name: 'alerts and their deliveries',
    sql: `
      CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        alert_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        agent_name TEXT NOT NULL,
        hostname TEXT,
        guest_key TEXT,
        guest_name TEXT,
        severity TEXT NOT NULL,
        state TEXT NOT NULL,
        message TEXT NOT NULL,
        fired_at TEXT NOT NULL,
        resolved_at TEXT,
        updated_at TEXT NOT NULL,
        silenced_until TEXT
      );
      CREATE INDEX alerts_state ON alerts(state, agent_name);
      CREATE TABLE alert_deliveries (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id),
        event TEXT NOT NULL,
        channel TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        delivered_at TEXT
      );
      CREATE INDEX alert_deliveries_pending ON alert_deliveries(status, next_attempt_at);
    `,
  },
  {
    version: 3,
    name: 'operator tokens; indexes for the API views',
    sql: `
      CREATE TABLE operators (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      );
      CREATE INDEX hosts_hostname ON hosts(hostname);
      CREATE INDEX hosts_hypervisor ON hosts(hypervisor_id);
      -- Per-host status counts and the matrix read only this index (no table rows).
      CREATE INDEX guests_present_host ON guests(host_id, os_id, status, eol_date) WHERE removed_at IS NULL;
      CREATE INDEX guests_present_os ON guests(os_id, status) WHERE removed_at IS NULL;
      -- The guest table's default order (host, then name) without a sort.
      CREATE INDEX guests_host_name ON guests(host_id, name);
      -- The live page's poll for alert changes reads MAX(updated_at); the summary counts firing by severity.
      CREATE INDEX alerts_updated ON alerts(updated_at);
      CREATE INDEX alerts_state_severity ON alerts(state, severity);
    `,
  },
  {
    version: 4,
    name: 'catalog runs: which catalog evaluated the fleet, and when',
    sql: `
      -- A guest row's catalog_version is the catalog that wrote its verdict; a run says that every
      -- present guest was evaluated again under a catalog (unchanged verdicts are not rewritten).
      CREATE TABLE catalog_runs (
        id INTEGER PRIMARY KEY,
        version TEXT NOT NULL,
        evaluated_at TEXT NOT NULL,
        guests INTEGER NOT NULL,
        changes INTEGER NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'which agents hold a connection now',
    sql: `
      -- Set while the collector holds the agent's connection, so that another process on this database
      -- (hvmap tokens revoke, hvmap report --db) can tell; cleared when it closes and at start.
      ALTER TABLE agents ADD COLUMN connected_at TEXT;
    `,
  },
  {
    version: 6,
    name: 'which token the installer gave each host',
    sql: `
      -- hvmap install records the token it gave a host (by HOST:PORT); upgrade and uninstall read it
      -- here, never from the host's own install.json, which whoever holds root there can rewrite.
      CREATE TABLE installs (
        address TEXT PRIMARY KEY,
        token_name TEXT NOT NULL,
        installed_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 7,
    name: 'hosts polled over SSH',
    sql: `
      -- 'agent': a token an hvmap-agent presents; 'ssh': a host the collector polls (serve --poll),
      -- which has no token (its token_hash is 'polled:NAME', never a SHA-256 in hex, so no token
      -- matches it). poll_error: why the last poll failed (NULL after a good one), host-silent's reason.
      ALTER TABLE agents ADD COLUMN kind TEXT NOT NULL DEFAULT 'agent';
      ALTER TABLE agents ADD COLUMN poll_error TEXT;
    `,
  },
];
