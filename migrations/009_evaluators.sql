-- Evaluators: workers outside the coordinator that score candidates
-- (#19, docs/evaluators.md). One row per registered evaluator; a webhook
-- evaluator has a URL and an HMAC secret (kept in plain text: the
-- coordinator needs it to sign; prev_secret stays valid until
-- prev_until after a rotation). A NATS evaluator has workers, each an
-- NKey identity with a user JWT limited to its own subjects.

CREATE TABLE evaluators (
    name         text        PRIMARY KEY,
    transport    text        NOT NULL CHECK (transport IN ('webhook', 'nats')),
    registration jsonb       NOT NULL,
    version      text        NOT NULL,
    url          text,
    secret       text,
    prev_secret  text,
    prev_until   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE evaluator_workers (
    id         text        PRIMARY KEY,
    evaluator  text        NOT NULL REFERENCES evaluators (name),
    nkey       text        NOT NULL UNIQUE,
    name       text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- One evaluation job per (search, trial, evaluator); its state machine
-- (queued -> dispatched -> answered | failed | cancelled) is owned by the
-- coordinator's evaluation manager (internal/evals).
CREATE TABLE evaluation_jobs (
    id            text        PRIMARY KEY,
    search_id     text        NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
    trial         integer     NOT NULL,
    evaluator     text        NOT NULL REFERENCES evaluators (name),
    state         text        NOT NULL CHECK (state IN ('queued', 'dispatched', 'answered', 'failed', 'cancelled')),
    attempt       integer     NOT NULL DEFAULT 0,
    arch_hash     text        NOT NULL,
    settings_hash text        NOT NULL,
    job           jsonb       NOT NULL,
    timeout_s     integer     NOT NULL,
    deadline      timestamptz,
    next_try_at   timestamptz,
    scores        jsonb,
    answer        jsonb,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (search_id, trial, evaluator)
);
CREATE INDEX evaluation_jobs_open ON evaluation_jobs (state) WHERE state IN ('queued', 'dispatched');

-- The cache: one ok answer per (arch hash, evaluator, settings hash,
-- evaluator version).
CREATE TABLE evaluations (
    arch_hash     text        NOT NULL,
    evaluator     text        NOT NULL,
    settings_hash text        NOT NULL,
    version       text        NOT NULL,
    scores        jsonb       NOT NULL,
    answer        jsonb       NOT NULL,
    job_id        text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (arch_hash, evaluator, settings_hash, version)
);

-- Webhook delivery IDs seen within the replay window (pruned after it).
CREATE TABLE webhook_deliveries (
    delivery_id text        PRIMARY KEY,
    seen_at     timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE webhook_deliveries;
DROP TABLE evaluations;
DROP TABLE evaluation_jobs;
DROP TABLE evaluator_workers;
DROP TABLE evaluators;
