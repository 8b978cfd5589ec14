-- Devices that come and go (#16 item 5).
-- class: a job published on the shared subject of a device class
-- (jobs.class.<class>.<kind>), which any agent of that class may take;
-- device_id is then the device the driver expected, until an agent of the
-- class claims it by its heartbeat or result. NULL: pinned to device_id.
-- replaces: the job whose device was lost and which this job re-dispatches;
-- UNIQUE, so a lost job is re-dispatched at most once whatever races.

ALTER TABLE jobs ADD COLUMN class text;
ALTER TABLE jobs ADD COLUMN replaces text UNIQUE REFERENCES jobs (id);
CREATE INDEX jobs_unfinished ON jobs (device_id) WHERE state IN ('queued', 'running');

---- create above / drop below ----

DROP INDEX jobs_unfinished;
ALTER TABLE jobs DROP COLUMN replaces;
ALTER TABLE jobs DROP COLUMN class;
