-- Service accounts: non-human principals that authenticate with a client id and secret
-- (OAuth2 client_credentials). They are rows of `users` (kind 'service'), so roles,
-- attributes, scopes, the disabled flag, the token generation, the account cache and its
-- cross-instance announcements apply to them unchanged, and a name is unique across users
-- and services. Numbered 0005: 0004 is reserved for account lifecycle.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';

-- The public half of a service account's credentials.
CREATE TABLE service_accounts (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Its secrets, argon2id-hashed. The current one has no expiry; a rotation gives the one it
-- replaces an expiry (the overlap) and deletes any older one. A secret's id is the `sid` of
-- the access tokens it obtained, so they die with it.
CREATE TABLE service_secrets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
);
CREATE INDEX service_secrets_user ON service_secrets (user_id);
