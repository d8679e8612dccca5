-- A counter every committed change to what a who-can reads of accounts moves, by whichever
-- process or connection made it (triggers, so raw SQL and `warden admin` count too): a new or
-- deleted account, a change of its name, attributes, scopes, disabled flag or kind, and a
-- tenant membership added or removed. Each instance keeps its tenants' enabled members in
-- memory (store directory.rs) tagged with the count it was read under, and reads the count
-- before every who-can: a directory read under another count is read again. A password,
-- token generation or session change moves nothing (who-can never reads them).
CREATE TABLE account_changes (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL
);
INSERT INTO account_changes (id, count) VALUES (1, 0);
CREATE TRIGGER users_changed_insert AFTER INSERT ON users
BEGIN UPDATE account_changes SET count = count + 1 WHERE id = 1; END;
CREATE TRIGGER users_changed_update
AFTER UPDATE OF username_key, attributes, scopes, disabled, kind ON users
BEGIN UPDATE account_changes SET count = count + 1 WHERE id = 1; END;
CREATE TRIGGER users_changed_delete AFTER DELETE ON users
BEGIN UPDATE account_changes SET count = count + 1 WHERE id = 1; END;
CREATE TRIGGER tenant_members_changed_insert AFTER INSERT ON tenant_members
BEGIN UPDATE account_changes SET count = count + 1 WHERE id = 1; END;
CREATE TRIGGER tenant_members_changed_update AFTER UPDATE ON tenant_members
BEGIN UPDATE account_changes SET count = count + 1 WHERE id = 1; END;
CREATE TRIGGER tenant_members_changed_delete AFTER DELETE ON tenant_members
BEGIN UPDATE account_changes SET count = count + 1 WHERE id = 1; END;
