-- Account lifecycle: accounts created and deleted by admins.
--
-- Every name ever given to an account, kept after the account is deleted (retired_at set):
-- a deleted account's name is never given to a new one, so nobody inherits what rules
-- (`user:<name>`), documents (`owner`) or the audit still say about the old account. The
-- primary key makes the check race-free: registration inserts here first.
CREATE TABLE account_names (
    username_key TEXT    PRIMARY KEY,
    retired_at   INTEGER
);
INSERT INTO account_names (username_key) SELECT username_key FROM users;

-- One-time set-password tokens an admin hands over (account created without a password, or
-- reset): only a SHA-256 of the token is stored. Redeeming one sets `used_at`.
CREATE TABLE set_password_tokens (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX set_password_tokens_user ON set_password_tokens (user_id);
