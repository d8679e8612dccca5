-- Matrices live with the policy: see migrations/sqlite/0006_matrices.sql. A matrix edit moves
-- policy_state.version, so the trigger of 0004 announces it to every instance.
CREATE TABLE policy_matrices (
    name       TEXT    PRIMARY KEY,
    body       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);

ALTER TABLE policy_state ADD COLUMN matrices_seeded BIGINT NOT NULL DEFAULT 0;
