-- Measurement jobs and the measurements agents report.

CREATE TABLE jobs (
    id            text        PRIMARY KEY,          -- also the JetStream Nats-Msg-Id
    device_id     text        NOT NULL REFERENCES devices (id),
    kind          text        NOT NULL DEFAULT 'measure',
    spec          jsonb       NOT NULL,
    spec_hash     text        NOT NULL,
    workload      jsonb       NOT NULL,
    workload_hash text        NOT NULL,
    state         text        NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    timeout_s     int         NOT NULL DEFAULT 0,   -- 0: the agent's default
    memory_limit  bigint      NOT NULL DEFAULT 0,   -- bytes; 0: the agent's default
    stream_seq    bigint,                           -- JOBS sequence, to map advisories
    attempts      int         NOT NULL DEFAULT 0,
    fail_kind     text,
    error         text,
    created_by    bigint      REFERENCES api_tokens (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX jobs_device_state ON jobs (device_id, state);
CREATE INDEX jobs_stream_seq ON jobs (stream_seq);

CREATE TABLE measurements (
    id             bigserial   PRIMARY KEY,
    job_id         text        NOT NULL UNIQUE REFERENCES jobs (id),  -- a replayed result adds nothing
    device_id      text        NOT NULL REFERENCES devices (id),
    spec_hash      text        NOT NULL,
    workload_hash  text        NOT NULL,
    agent_version  text        NOT NULL,
    kernel_variant text        NOT NULL,
    metrics        jsonb       NOT NULL,             -- the whole wire.Measurement
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- The measurement cache key (design §4).
CREATE INDEX measurements_key ON measurements (spec_hash, device_id, workload_hash, agent_version);

---- create above / drop below ----

DROP TABLE measurements;
DROP TABLE jobs;
