-- Foundation schema: accounts, refresh tokens, signing keys, the policy (rules, role
-- assignments, version) and the demo documents. Kept portable: INTEGER/TEXT columns,
-- times as Unix seconds, booleans as 0/1, JSON as TEXT, so the Postgres migration is a
-- transliteration of this file.

-- Accounts. `username_key` is the lower-cased name: it enforces case-insensitive
-- uniqueness and is the name the policy sees (`user:<username_key>`).
CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    username         TEXT    NOT NULL,
    username_key     TEXT    NOT NULL UNIQUE,
    email            TEXT,
    display_name     TEXT,
    password_hash    TEXT    NOT NULL,
    disabled         INTEGER NOT NULL DEFAULT 0,
    -- bumped by logout-all: tokens carrying an older `gen` are rejected
    token_generation INTEGER NOT NULL DEFAULT 0,
    -- JSON object of attributes the policy may read (department, clearance, ...)
    attributes       TEXT    NOT NULL DEFAULT '{}',
    -- space-separated scopes this user may request in a token
    scopes           TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- Refresh tokens: only a SHA-256 of the token is stored. All tokens descending from one
-- login share a family; reuse of a used token revokes the family.
CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id   TEXT    NOT NULL,
    generation  INTEGER NOT NULL,
    scope       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Token signing keys (Ed25519 seeds, base64). The newest signs; all verify.
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Casbin `p` rules with stable ids.
CREATE TABLE policy_rules (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    subject    TEXT    NOT NULL,
    object     TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    condition  TEXT    NOT NULL,
    effect     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (subject, object, action, scope, condition, effect)
);

-- Casbin `g` rules: `user:<name> -> role:<r>` and `role:<a> -> role:<b>` (inheritance).
CREATE TABLE role_assignments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    member     TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (member, role)
);

-- One row: the monotonically increasing policy version, and whether the seed policy was
-- ever loaded (so a later start never re-seeds, even if an admin emptied the rules).
CREATE TABLE policy_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    seeded  INTEGER NOT NULL
);
INSERT INTO policy_state (id, version, seeded) VALUES (1, 0, 0);

-- The demo protected resource.
CREATE TABLE documents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    title          TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    department     TEXT    NOT NULL,
    owner          TEXT    NOT NULL,
    classification INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
