-- Core tables: API tokens, enrollment tokens, devices and their heartbeats.
-- Migrations never name a schema: the search_path decides (tests use one
-- schema per test).

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role         text        NOT NULL DEFAULT 'admin' CHECK (role IN ('admin')),
    token_hash   bytea       NOT NULL UNIQUE,           -- sha256 of the secret
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE devices (
    id          text        PRIMARY KEY,               -- also the NATS subject token
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    tags        text[]      NOT NULL DEFAULT '{}',
    class       text        NOT NULL,
    profile     jsonb       NOT NULL DEFAULT '{}',
    nkey        text        NOT NULL,                  -- the agent's public NKey (U...)
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz,
    last_status text,                                  -- idle | busy, from heartbeats
    last_temp_c double precision,
    revoked_at  timestamptz
);
-- One live device per key; a revoked key may not come back either.
CREATE UNIQUE INDEX devices_nkey ON devices (nkey);
CREATE INDEX devices_class ON devices (class) WHERE revoked_at IS NULL;

CREATE TABLE enrollment_tokens (
    id          bigserial   PRIMARY KEY,
    token_hash  bytea       NOT NULL UNIQUE,           -- sha256 of the secret
    created_by  bigint      REFERENCES api_tokens (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    device_id   text        REFERENCES devices (id),
    CHECK ((used_at IS NULL) = (device_id IS NULL))
);

CREATE TABLE heartbeats (
    device_id  text        NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    status     text        NOT NULL,
    temp_c     double precision,
    payload    jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (device_id, at)
);

---- create above / drop below ----

DROP TABLE heartbeats;
DROP TABLE enrollment_tokens;
DROP TABLE devices;
DROP TABLE api_tokens;
