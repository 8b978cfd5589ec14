-- One fitted search.Predictor per (device, runtime, workload hash) (#18).
-- The coordinator refits it from the device's measurements after each
-- stored measurement (off the result path); body is the predictor's JSON
-- (version, workload, models with residuals, observations), so a restart
-- restores it exactly. measurements counts the rows it was fitted from.

CREATE TABLE predictors (
    device_id     text        NOT NULL REFERENCES devices (id),
    runtime       text        NOT NULL,
    workload_hash text        NOT NULL,
    measurements  integer     NOT NULL,
    body          jsonb       NOT NULL,
    fitted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, runtime, workload_hash)
);

---- create above / drop below ----

DROP TABLE predictors;
