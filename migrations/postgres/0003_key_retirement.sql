-- Key rotation: see migrations/sqlite/0003_key_retirement.sql.
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;
