-- Key rotation: a retired key no longer signs and holds no private material; its public
-- key stays published (JWKS) until every token it signed has expired, then the row goes.
-- A key supplied from outside (--signing-key-file) is stored as its public half only.
ALTER TABLE signing_keys ADD COLUMN retired_at INTEGER;
