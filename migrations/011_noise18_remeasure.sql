-- Noise-aware re-measurement (#18 item 3). A complete trial keeps one
-- standard deviation per objective (objectives_std, from its
-- measurements' spreads) and the number of re-measurements pooled into
-- its objectives (remeasured). A re-measurement round of a trial is one
-- job per target, a row of remeasures each; state 'running' until all of
-- the round's jobs ended, then 'pooled' (folded into the trial's values)
-- or 'failed' (a job failed: it counts against the bound, nothing is
-- pooled). The (search_id, number, round, target) key makes a round's
-- dispatch happen once whatever coordinator restarts.

ALTER TABLE trials ADD COLUMN objectives_std double precision[];
ALTER TABLE trials ADD COLUMN remeasured int NOT NULL DEFAULT 0;

CREATE TABLE remeasures (
    search_id  text        NOT NULL,
    number     int         NOT NULL,
    round      int         NOT NULL,       -- 1 for a trial's first re-measurement
    target     text        NOT NULL,
    device_id  text        NOT NULL REFERENCES devices (id),
    job_id     text        NOT NULL UNIQUE REFERENCES jobs (id),
    state      text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'pooled', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (search_id, number, round, target),
    FOREIGN KEY (search_id, number) REFERENCES trials (search_id, number) ON DELETE CASCADE
);
CREATE INDEX remeasures_running ON remeasures (search_id) WHERE state = 'running';

---- create above / drop below ----

DROP TABLE remeasures;
ALTER TABLE trials DROP COLUMN remeasured;
ALTER TABLE trials DROP COLUMN objectives_std;
