-- goptuna's study and trial state, kept in PostgreSQL by our
-- implementation of goptuna.Storage (coordinator/internal/studystore), so a
-- restarted coordinator resumes every search's optimizer where it stopped.

CREATE TABLE studies (
    id          serial      PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    direction   text        NOT NULL DEFAULT 'minimize' CHECK (direction IN ('minimize', 'maximize')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE study_attrs (
    study_id int  NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    kind     text NOT NULL CHECK (kind IN ('user', 'system')),
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (study_id, kind, key)
);

CREATE TABLE study_trials (
    id           serial           PRIMARY KEY,
    study_id     int              NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    number       int              NOT NULL,
    state        text             NOT NULL CHECK (state IN ('running', 'complete', 'pruned', 'fail', 'waiting')),
    value        double precision NOT NULL DEFAULT 0,
    started_at   timestamptz      NOT NULL DEFAULT now(),
    completed_at timestamptz,
    UNIQUE (study_id, number)
);

CREATE TABLE study_trial_params (
    trial_id       int              NOT NULL REFERENCES study_trials (id) ON DELETE CASCADE,
    name           text             NOT NULL,
    value_internal double precision NOT NULL,
    distribution   jsonb            NOT NULL,   -- goptuna.DistributionToJSON
    PRIMARY KEY (trial_id, name)
);

CREATE TABLE study_trial_attrs (
    trial_id int  NOT NULL REFERENCES study_trials (id) ON DELETE CASCADE,
    kind     text NOT NULL CHECK (kind IN ('user', 'system')),
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (trial_id, kind, key)
);

CREATE TABLE study_trial_intermediate (
    trial_id int              NOT NULL REFERENCES study_trials (id) ON DELETE CASCADE,
    step     int              NOT NULL,
    value    double precision NOT NULL,
    PRIMARY KEY (trial_id, step)
);

---- create above / drop below ----

DROP TABLE study_trial_intermediate;
DROP TABLE study_trial_attrs;
DROP TABLE study_trial_params;
DROP TABLE study_trials;
DROP TABLE study_attrs;
DROP TABLE studies;
