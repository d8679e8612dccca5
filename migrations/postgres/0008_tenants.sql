-- Tenants (Casbin domains): one Warden for many organisations. Today's data moves into the
-- `default` tenant without changing what it means:
-- * rules become global (`*`): a rule names roles, and roles are held per tenant, so a global
--   rule grants in a tenant exactly what the role held there grants;
-- * role inheritance (`role:a -> role:b`) and the installation's `role:admin` become global;
--   every other membership (`user:alice -> role:editor`) holds in `default`, the only tenant
--   there was (warden_policy::rule::legacy_domain states the same rule);
-- * every account is a member of `default`; every document belongs to it.
-- The tenant joins the two policy tables' unique keys (the same rule may exist in two tenants).

CREATE TABLE tenants (
    name         TEXT    PRIMARY KEY,
    display_name TEXT    NOT NULL,
    disabled     BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL
);
INSERT INTO tenants (name, display_name, disabled, created_at)
VALUES ('default', 'Default', 0, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT));

-- Which accounts belong to which tenant (a token may be issued only for one of these).
CREATE TABLE tenant_members (
    tenant     TEXT    NOT NULL REFERENCES tenants(name),
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (tenant, user_id)
);
INSERT INTO tenant_members (tenant, user_id, created_at)
SELECT 'default', id, created_at FROM users;

ALTER TABLE policy_rules ADD COLUMN tenant TEXT NOT NULL DEFAULT '*';
-- The old unique keys were named by Postgres; find them rather than guess the truncation.
DO $$
DECLARE c text;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid IN ('policy_rules'::regclass, 'role_assignments'::regclass)
               AND contype = 'u'
    LOOP
        IF c LIKE 'policy_rules%' THEN
            EXECUTE format('ALTER TABLE policy_rules DROP CONSTRAINT %I', c);
        ELSE
            EXECUTE format('ALTER TABLE role_assignments DROP CONSTRAINT %I', c);
        END IF;
    END LOOP;
END
$$;
ALTER TABLE policy_rules ADD CONSTRAINT policy_rules_unique_per_tenant
    UNIQUE (tenant, subject, object, action, scope, condition, effect);

ALTER TABLE role_assignments ADD COLUMN domain TEXT NOT NULL DEFAULT '*';
UPDATE role_assignments SET domain = 'default'
WHERE member NOT LIKE 'role:%' AND role <> 'role:admin';
ALTER TABLE role_assignments ADD CONSTRAINT role_assignments_unique_per_domain
    UNIQUE (member, role, domain);

ALTER TABLE documents ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';

-- The tenant an audit row (a policy version) touched, when it touched exactly one: a tenant
-- admin reads its tenant's audit and versions by it (`/v1/tenants/{tenant}/admin/audit`).
-- NULL for installation-wide changes and for changes spanning several tenants, which only an
-- installation admin sees. Rows written before tenants existed stay NULL.
ALTER TABLE audit_log ADD COLUMN tenant TEXT;
CREATE INDEX audit_log_tenant ON audit_log (tenant, id);
