-- Measurements name the runtime that took them (workload.runtime: native,
-- the agent's own kernels, or llama.cpp, the device's llama-bench), and
-- cross-checks of the two runtimes on one device (hil fidelity) are kept.
-- The workload hash already differs between runtimes, so the cache key
-- (measurements_key) is unchanged; the column serves listings and filters.

ALTER TABLE measurements ADD COLUMN runtime text NOT NULL DEFAULT 'native';
UPDATE measurements SET runtime = metrics->>'runtime' WHERE coalesce(metrics->>'runtime', '') <> '';

CREATE TABLE fidelity_checks (
    id          text        PRIMARY KEY,
    device_id   text        NOT NULL REFERENCES devices (id),
    workload    jsonb       NOT NULL,   -- the common workload, runtime unset
    entries     jsonb       NOT NULL,   -- [{name, spec_hash, params, jobs: {runtime: job id}}]
    created_by  bigint      REFERENCES api_tokens (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fidelity_checks_device ON fidelity_checks (device_id, created_at);

---- create above / drop below ----

DROP TABLE fidelity_checks;
ALTER TABLE measurements DROP COLUMN runtime;
