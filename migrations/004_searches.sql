-- Searches, their trials, and which job or cached measurement answered
-- each trial on each target.

CREATE TABLE searches (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    spec        jsonb       NOT NULL,           -- search.Spec after defaults
    study       text        NOT NULL UNIQUE,    -- goptuna study name
    state       text        NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'paused', 'cancelled', 'finished', 'failed')),
    error       text,
    rejected    int         NOT NULL DEFAULT 0, -- candidates rejected before device time
    created_by  bigint      REFERENCES api_tokens (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE TABLE trials (
    search_id    text             NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
    number       int              NOT NULL,       -- 0-based among measured trials
    study_trial  int              NOT NULL,       -- goptuna trial ID
    arch         jsonb            NOT NULL,
    arch_hash    text             NOT NULL,
    params       bigint           NOT NULL,
    layers       text[]           NOT NULL,       -- mixer per layer, for the layer strip
    state        text             NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'complete', 'failed')),
    objectives   double precision[],              -- natural units, spec order
    violation    double precision,
    error        text,
    created_at   timestamptz      NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (search_id, number),
    UNIQUE (search_id, study_trial)
);
CREATE INDEX trials_state ON trials (search_id, state);

CREATE TABLE trial_targets (
    search_id      text   NOT NULL,
    number         int    NOT NULL,
    target         text   NOT NULL,
    device_id      text   NOT NULL REFERENCES devices (id),
    job_id         text   REFERENCES jobs (id),
    measurement_id bigint REFERENCES measurements (id),   -- set at once on a cache hit
    PRIMARY KEY (search_id, number, target),
    FOREIGN KEY (search_id, number) REFERENCES trials (search_id, number) ON DELETE CASCADE
);
CREATE INDEX trial_targets_job ON trial_targets (job_id);

---- create above / drop below ----

DROP TABLE trial_targets;
DROP TABLE trials;
DROP TABLE searches;
