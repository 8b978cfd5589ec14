-- Predictor-screened search (#18). A measured trial keeps the prediction
-- it was chosen on (objective order, natural units, with one standard
-- deviation each), shown beside the measured values; a candidate the
-- predictor screened out is a row of screened, with its prediction and
-- why, and is never a trial (it took no device time). Block probes are
-- jobs of kind 'probe' (jobs.kind, no schema change); the spec's name
-- names the probe.

ALTER TABLE trials ADD COLUMN predicted double precision[];
ALTER TABLE trials ADD COLUMN predicted_std double precision[];

CREATE TABLE screened (
    search_id     text             NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
    study_trial   int              NOT NULL,       -- goptuna trial ID (pruned)
    round         int              NOT NULL,       -- the trial number the round dispatched
    arch          jsonb            NOT NULL,
    arch_hash     text             NOT NULL,
    params        bigint           NOT NULL,
    layers        text[]           NOT NULL,
    predicted     double precision[] NOT NULL,     -- objective order, natural units
    predicted_std double precision[] NOT NULL,
    violation     double precision NOT NULL,       -- predicted
    ehvi          double precision NOT NULL,
    reason        text             NOT NULL,
    created_at    timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (search_id, study_trial)
);
CREATE INDEX screened_round ON screened (search_id, round);

---- create above / drop below ----

DROP TABLE screened;
ALTER TABLE trials DROP COLUMN predicted_std;
ALTER TABLE trials DROP COLUMN predicted;
