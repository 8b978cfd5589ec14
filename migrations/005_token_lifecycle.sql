-- API token lifecycle (issue #16): scopes, expiry, and server-side
-- dashboard sessions.
--
-- api_tokens.role becomes scope: admin (everything), read-only (GET only),
-- enroll-only (create enrollment tokens, read devices). expires_at NULL
-- means the token does not expire. last_used_at is now written at most
-- once a minute per token.
--
-- A dashboard session is a random ID in an HttpOnly cookie; only its
-- SHA-256 is stored. A session ends at expires_at, when it is signed out
-- (its row is deleted), or when its token is revoked or expires.

ALTER TABLE api_tokens RENAME COLUMN role TO scope;
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scope_check
    CHECK (scope IN ('admin', 'read-only', 'enroll-only'));
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
ALTER TABLE api_tokens ADD COLUMN created_by bigint REFERENCES api_tokens (id);

CREATE TABLE sessions (
    id_hash    bytea       PRIMARY KEY,                 -- sha256 of the cookie's session ID
    token_id   bigint      NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_token ON sessions (token_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

---- create above / drop below ----

DROP TABLE sessions;
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scope_check;
-- The old schema has no narrower scope and no expiry: tokens that had
-- either are revoked rather than widened to a permanent admin token.
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
    WHERE scope <> 'admin' OR expires_at IS NOT NULL;
UPDATE api_tokens SET scope = 'admin';
ALTER TABLE api_tokens DROP COLUMN created_by;
ALTER TABLE api_tokens DROP COLUMN expires_at;
ALTER TABLE api_tokens RENAME COLUMN scope TO role;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('admin'));
