-- Federated identities linked to local accounts (`provision: link` in --oidc-config): the
-- first token of an issuer's subject creates a local account and this row; later tokens find
-- the account here, by the exact (issuer, subject) pair, never by the account's name.
-- Deleting the account deletes the link (and its name stays taken, so it is never re-linked).
CREATE TABLE federated_identities (
    issuer     TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
