-- Tenants (Casbin domains): one Warden for many organisations. Today's data moves into the
-- `default` tenant without changing what it means:
-- * rules become global (`*`): a rule names roles, and roles are held per tenant, so a global
--   rule grants in a tenant exactly what the role held there grants;
-- * role inheritance (`role:a -> role:b`) and the installation's `role:admin` become global;
--   every other membership (`user:alice -> role:editor`) holds in `default`, the only tenant
--   there was (warden_policy::rule::legacy_domain states the same rule);
-- * every account is a member of `default`; every document belongs to it.
-- SQLite cannot change a UNIQUE constraint, so the two policy tables are rebuilt with the
-- tenant in their keys (ids kept: audit rows and version snapshots name them).

CREATE TABLE tenants (
    name         TEXT    PRIMARY KEY,
    display_name TEXT    NOT NULL,
    disabled     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);
INSERT INTO tenants (name, display_name, disabled, created_at)
VALUES ('default', 'Default', 0, CAST(strftime('%s', 'now') AS INTEGER));

-- Which accounts belong to which tenant (a token may be issued only for one of these).
CREATE TABLE tenant_members (
    tenant     TEXT    NOT NULL REFERENCES tenants(name),
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, user_id)
);
INSERT INTO tenant_members (tenant, user_id, created_at)
SELECT 'default', id, created_at FROM users;

CREATE TABLE policy_rules_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    subject    TEXT    NOT NULL,
    object     TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    condition  TEXT    NOT NULL,
    effect     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    -- `*` (global) or a tenant name
    tenant     TEXT    NOT NULL DEFAULT '*',
    UNIQUE (tenant, subject, object, action, scope, condition, effect)
);
INSERT INTO policy_rules_new (id, subject, object, action, scope, condition, effect, created_at, tenant)
SELECT id, subject, object, action, scope, condition, effect, created_at, '*' FROM policy_rules;
DROP TABLE policy_rules;
ALTER TABLE policy_rules_new RENAME TO policy_rules;

CREATE TABLE role_assignments_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    member     TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    -- `*` (every tenant) or a tenant name
    domain     TEXT    NOT NULL DEFAULT '*',
    UNIQUE (member, role, domain)
);
INSERT INTO role_assignments_new (id, member, role, created_at, domain)
SELECT id, member, role, created_at,
       CASE WHEN member LIKE 'role:%' OR role = 'role:admin' THEN '*' ELSE 'default' END
FROM role_assignments;
DROP TABLE role_assignments;
ALTER TABLE role_assignments_new RENAME TO role_assignments;

ALTER TABLE documents ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';

-- The tenant an audit row (a policy version) touched, when it touched exactly one: a tenant
-- admin reads its tenant's audit and versions by it (`/v1/tenants/{tenant}/admin/audit`).
-- NULL for installation-wide changes and for changes spanning several tenants, which only an
-- installation admin sees. Rows written before tenants existed stay NULL.
ALTER TABLE audit_log ADD COLUMN tenant TEXT;
CREATE INDEX audit_log_tenant ON audit_log (tenant, id);
