-- Every committed change another instance must apply is announced on the channel
-- `warden_changes` (delivered at commit, in commit order, to every LISTENing instance), by
-- triggers so that no writer can forget it: the Warden server, `warden policy import`,
-- `warden admin reset-password` or an operator's SQL.
--   policy <version>   policy_state.version moved (rules, role assignments, account edits)
--   account <id>       a users row changed or went (disable, token generation, password, ...)
--   session <family>   a refresh-token family was revoked (logout, reuse detection)
CREATE FUNCTION warden_announce() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'policy_state' THEN
        PERFORM pg_notify('warden_changes', 'policy ' || NEW.version);
    ELSIF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('warden_changes', 'account ' || OLD.id);
    ELSE
        PERFORM pg_notify('warden_changes', 'session ' || NEW.family_id);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER policy_state_announce AFTER UPDATE ON policy_state
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version)
    EXECUTE FUNCTION warden_announce();
CREATE TRIGGER users_announce AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION warden_announce();
CREATE TRIGGER refresh_tokens_announce AFTER UPDATE OF revoked_at ON refresh_tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION warden_announce();
