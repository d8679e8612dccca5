-- Matrices live with the policy: stored beside the rules, written only in a policy
-- version's transaction (versioned, audited, rolled back and announced like a rule edit).
-- `body` is the matrix file's text (the format of policies/matrices/*.yaml).
CREATE TABLE policy_matrices (
    name       TEXT    PRIMARY KEY,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Whether the shipped matrices were ever loaded: on a new database with the seed policy, on
-- a database that predates this table at its first start with it; never again after that
-- (an admin's deletions stay deleted).
ALTER TABLE policy_state ADD COLUMN matrices_seeded INTEGER NOT NULL DEFAULT 0;
