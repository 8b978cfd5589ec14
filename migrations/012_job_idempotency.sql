-- Job creation is idempotent per API token and Idempotency-Key (#16): a
-- client that got no answer (the coordinator killed after the commit) asks
-- again with the same key and gets the job already stored, not a second one.
-- created_by is NULL for the coordinator's own jobs, which carry no key.

ALTER TABLE jobs ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX jobs_idempotency ON jobs (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;

---- create above / drop below ----

DROP INDEX jobs_idempotency;
ALTER TABLE jobs DROP COLUMN idempotency_key;
