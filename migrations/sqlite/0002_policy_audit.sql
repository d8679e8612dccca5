-- Audit and history for runtime policy administration.

-- One row per policy version (every committed policy change) and per audited account
-- change (version NULL): who, when, what, and the rows before and after, as JSON.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    version    INTEGER UNIQUE,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    summary    TEXT    NOT NULL,
    before     TEXT    NOT NULL,
    after      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- The rules and role inheritance (role -> role rows) as of each version, as JSON, so a
-- rollback restores them exactly. User -> role rows are account data and are not rolled back.
CREATE TABLE policy_snapshots (
    version INTEGER PRIMARY KEY,
    rules   TEXT    NOT NULL
);
