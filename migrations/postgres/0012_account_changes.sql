-- A counter every committed change to what a who-can reads of accounts moves, by whichever
-- instance or connection made it (triggers, so raw SQL and `warden admin` count too): a new or
-- deleted account, a change of its name, attributes, scopes, disabled flag or kind, and a
-- tenant membership added or removed. Each instance keeps its tenants' enabled members in
-- memory (store directory.rs) tagged with the count it was read under, and reads the count
-- before every who-can: a directory read under another count is read again. A password,
-- token generation or session change moves nothing (who-can never reads them). The row is
-- updated inside the writer's transaction, so a reader never sees a count whose change it
-- cannot see yet (a sequence would be visible before the commit).
CREATE TABLE account_changes (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count BIGINT NOT NULL
);
INSERT INTO account_changes (id, count) VALUES (1, 0);
CREATE FUNCTION warden_count_account_change() RETURNS trigger AS $$
BEGIN
    UPDATE account_changes SET count = count + 1 WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_counted AFTER INSERT OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION warden_count_account_change();
CREATE TRIGGER users_counted_update
    AFTER UPDATE OF username_key, attributes, scopes, disabled, kind ON users
    FOR EACH STATEMENT EXECUTE FUNCTION warden_count_account_change();
CREATE TRIGGER tenant_members_counted AFTER INSERT OR UPDATE OR DELETE ON tenant_members
    FOR EACH STATEMENT EXECUTE FUNCTION warden_count_account_change();
