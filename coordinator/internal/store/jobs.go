package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// NewJobID returns a fresh job ID ("j" and 16 hex digits).
func NewJobID() string { return "j" + NewDeviceID()[1:] }

const jobCols = `j.id, j.device_id, coalesce(j.class, ''), j.replaces, coalesce(j.idempotency_key, ''), j.kind, j.spec, j.spec_hash, j.workload, j.workload_hash, j.state, j.timeout_s, j.memory_limit,
	j.attempts, j.fail_kind, j.error, j.created_at, j.updated_at, j.finished_at, m.metrics`

func scanJob(row pgx.Row) (api.Job, error) {
	var j api.Job
	var metrics []byte
	err := row.Scan(&j.ID, &j.DeviceID, &j.Class, &j.Replaces, &j.IdempotencyKey, &j.Kind, &j.Spec, &j.SpecHash, &j.Workload, &j.WorkloadHash, &j.State, &j.TimeoutS, &j.MemoryLimit,
		&j.Attempts, &j.FailKind, &j.Error, &j.CreatedAt, &j.UpdatedAt, &j.FinishedAt, &metrics)
	if err != nil {
		return j, err
	}
	if metrics != nil {
		j.Measurement = new(wire.Measurement)
		if err := json.Unmarshal(metrics, j.Measurement); err != nil {
			return j, fmt.Errorf("decode measurement of job %s: %w", j.ID, err)
		}
	}
	return j, nil
}

// CreateJobs stores queued jobs in one transaction, each for a live
// device, and fills in their creation times; ErrNotFound (nothing stored)
// when a device is unknown or revoked.
func (s *Store) CreateJobs(ctx context.Context, jobs []api.Job, createdBy int64) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i := range jobs {
			if err := insertJob(ctx, tx, &jobs[i], createdBy, true); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertJob inserts one queued job (only for a live device, with live) and
// sets its creation times.
func insertJob(ctx context.Context, tx pgx.Tx, j *api.Job, createdBy int64, live bool) error {
	err := tx.QueryRow(ctx, `INSERT INTO jobs (id, device_id, kind, spec, spec_hash, workload, workload_hash, timeout_s, memory_limit, created_by, class, replaces, idempotency_key)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, 0), NULLIF($12, ''), $13, NULLIF($14, '')
		WHERE NOT $11 OR EXISTS (SELECT 1 FROM devices WHERE id = $2 AND revoked_at IS NULL)
		RETURNING created_at, updated_at`,
		j.ID, j.DeviceID, j.Kind, j.Spec, j.SpecHash, j.Workload, j.WorkloadHash, j.TimeoutS, j.MemoryLimit, createdBy, live, j.Class, j.Replaces, j.IdempotencyKey).
		Scan(&j.CreatedAt, &j.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("device %s: %w", j.DeviceID, ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "jobs_idempotency" {
		return ErrIdempotencyKeyUsed
	}
	if err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	return nil
}

// SetJobSeq records the JOBS stream sequence a job was published at.
func (s *Store) SetJobSeq(ctx context.Context, id string, seq uint64) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET stream_seq = $2 WHERE id = $1`, id, int64(seq))
	return err
}

// GetJob returns a job with its measurement, if any.
func (s *Store) GetJob(ctx context.Context, id string) (api.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs j LEFT JOIN measurements m ON m.job_id = j.id WHERE j.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return j, ErrNotFound
	}
	return j, err
}

// ErrIdempotencyKeyUsed: the token that creates a job already created one
// with its idempotency key; nothing was stored (JobByIdempotencyKey finds
// that job).
var ErrIdempotencyKeyUsed = errors.New("a job with this idempotency key exists")

// JobByIdempotencyKey returns the job the API token createdBy created with
// an idempotency key, or ErrNotFound.
func (s *Store) JobByIdempotencyKey(ctx context.Context, createdBy int64, key string) (api.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs j LEFT JOIN measurements m ON m.job_id = j.id
		WHERE j.created_by IS NOT DISTINCT FROM NULLIF($1, 0) AND j.idempotency_key = $2`, createdBy, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return j, ErrNotFound
	}
	return j, err
}

// ErrResultMismatch: a result names a job of another device.
var ErrResultMismatch = errors.New("result does not belong to the publishing device")

// ResultIn is one result of a StoreResults batch.
type ResultIn struct {
	DeviceID string
	Result   wire.Result
}

// ResultOut is what became of one result of a StoreResults batch: the job's
// new state (done or failed) when the result decided it, "" when it changed
// nothing (a replay, a second result, or the job was cancelled or failed
// before: its device lost), or Err (ErrNotFound, ErrResultMismatch: the
// result can never be stored).
type ResultOut struct {
	State api.JobState
	Err   error
}

// StoreResults stores a batch of results in one transaction with a fixed
// number of statements whatever the batch's size: the batch's jobs are
// locked in one query (in ID order, so two coordinators storing
// overlapping batches cannot deadlock), their measurements inserted in one
// statement and their state changed in one UPDATE per outcome. Only a
// result from a device other than its job's (a class job being claimed)
// costs statements of its own. The first result of a job decides it. It
// returns one outcome per result, in order; an error means none was stored.
func (s *Store) StoreResults(ctx context.Context, batch []ResultIn) ([]ResultOut, error) {
	out := make([]ResultOut, len(batch))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		clear(out)
		ids := make([]string, 0, len(batch))
		for _, in := range batch {
			ids = append(ids, in.Result.JobID)
		}
		type job struct {
			owner, runtime string
			state          api.JobState
		}
		jobs := make(map[string]*job, len(ids))
		rows, err := tx.Query(ctx, `SELECT id, device_id, state, coalesce(nullif(workload->>'runtime', ''), 'native')
			FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return fmt.Errorf("lock jobs: %w", err)
		}
		for rows.Next() {
			var id string
			j := new(job)
			if err := rows.Scan(&id, &j.owner, &j.state, &j.runtime); err != nil {
				rows.Close()
				return err
			}
			jobs[id] = j
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock jobs: %w", err)
		}
		var (
			mJob, mDev, mSpec, mWork, mAgent, mVariant, mMetrics, mRuntime []string
			dID                                                            []string
			dAttempt                                                       []int32
			fID, fKind, fMsg                                               []string
			fAttempt                                                       []int32
		)
		for i, in := range batch {
			r := in.Result
			j := jobs[r.JobID]
			switch {
			case j == nil:
				out[i].Err = ErrNotFound
				continue
			case j.state.Final():
				// Decided by an earlier result (of this batch or
				// before), or cancelled or failed (its device lost): a
				// late or replayed result changes nothing, whoever
				// sends it.
				continue
			}
			if j.owner != in.DeviceID {
				ok, err := claimClassJob(ctx, tx, r.JobID, in.DeviceID)
				if err != nil {
					return err
				}
				if !ok {
					out[i].Err = ErrResultMismatch
					continue
				}
				j.owner = in.DeviceID
			}
			if r.Status == wire.ResultOK && r.Measurement != nil && r.Measurement.RuntimeName() != j.runtime {
				r = wire.Result{JobID: r.JobID, Status: wire.ResultFailed, FailKind: wire.FailInternal, Attempt: r.Attempt,
					Error: fmt.Sprintf("the agent measured with runtime %s, the job asked for %s", r.Measurement.RuntimeName(), j.runtime)}
			}
			if r.Status == wire.ResultOK && r.Measurement != nil {
				m := r.Measurement
				b, err := json.Marshal(m)
				if err != nil {
					return fmt.Errorf("measurement of job %s: %w", r.JobID, err)
				}
				mJob, mDev, mSpec, mWork = append(mJob, r.JobID), append(mDev, in.DeviceID), append(mSpec, m.SpecHash), append(mWork, m.WorkloadHash)
				mAgent, mVariant, mMetrics, mRuntime = append(mAgent, m.AgentVersion), append(mVariant, m.KernelVariant), append(mMetrics, string(b)), append(mRuntime, j.runtime)
				dID, dAttempt = append(dID, r.JobID), append(dAttempt, int32(r.Attempt))
				j.state = api.JobDone
			} else {
				kind, msg := r.FailKind, r.Error
				if kind == "" {
					kind = wire.FailInternal
				}
				if r.Status == wire.ResultOK {
					msg = "result has status ok but no measurement"
				}
				fID, fKind, fMsg, fAttempt = append(fID, r.JobID), append(fKind, kind), append(fMsg, msg), append(fAttempt, int32(r.Attempt))
				j.state = api.JobFailed
			}
			out[i].State = j.state
		}
		if len(mJob) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO measurements (job_id, device_id, spec_hash, workload_hash, agent_version, kernel_variant, metrics, runtime)
				SELECT job_id, device_id, spec_hash, workload_hash, agent_version, kernel_variant, metrics::jsonb, runtime
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
				  AS m(job_id, device_id, spec_hash, workload_hash, agent_version, kernel_variant, metrics, runtime)
				ON CONFLICT (job_id) DO NOTHING`,
				mJob, mDev, mSpec, mWork, mAgent, mVariant, mMetrics, mRuntime); err != nil {
				return fmt.Errorf("insert measurements: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE jobs j SET state = 'done', attempts = greatest(j.attempts, d.attempt), updated_at = now(), finished_at = now()
				FROM unnest($1::text[], $2::int[]) AS d(id, attempt) WHERE j.id = d.id`, dID, dAttempt); err != nil {
				return fmt.Errorf("jobs done: %w", err)
			}
		}
		if len(fID) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE jobs j SET state = 'failed', fail_kind = f.kind, error = f.msg, attempts = greatest(j.attempts, f.attempt),
				updated_at = now(), finished_at = now()
				FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS f(id, kind, msg, attempt) WHERE j.id = f.id`,
				fID, fKind, fMsg, fAttempt); err != nil {
				return fmt.Errorf("jobs failed: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FailJobBySeq ends the job published at a JOBS sequence as failed, unless
// it already ended (used for terminated and max-delivery advisories). It
// returns the job and its device, or "" when no job changed.
func (s *Store) FailJobBySeq(ctx context.Context, seq uint64, kind, msg string) (id, deviceID string, err error) {
	err = s.pool.QueryRow(ctx, `UPDATE jobs SET state = 'failed', fail_kind = $2, error = $3, updated_at = now(), finished_at = now()
		WHERE stream_seq = $1 AND state IN ('queued', 'running') RETURNING id, device_id`, int64(seq), kind, msg).Scan(&id, &deviceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil
	}
	return id, deviceID, err
}

// MarkJobRunning records that an agent started (another attempt of) a job.
// A class job is claimed by the agent of its class that names it.
func (s *Store) MarkJobRunning(ctx context.Context, id, deviceID string, attempt int) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := claimClassJob(ctx, tx, id, deviceID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET state = 'running', attempts = greatest(attempts, $3), updated_at = now()
			WHERE id = $1 AND device_id = $2 AND state IN ('queued', 'running')`, id, deviceID, attempt)
		return err
	})
}

// claimClassJob makes deviceID the device of an unfinished class job when
// it is a live device of the job's class (the agent took the job from its
// class's shared consumer), and points the trial target measuring the job
// at it. It reports whether deviceID is now the job's device.
func claimClassJob(ctx context.Context, tx pgx.Tx, jobID, deviceID string) (bool, error) {
	tag, err := tx.Exec(ctx, `UPDATE jobs j SET device_id = $2, updated_at = now()
		FROM devices d
		WHERE j.id = $1 AND j.class IS NOT NULL AND j.state IN ('queued', 'running')
		  AND d.id = $2 AND d.class = j.class AND d.revoked_at IS NULL`, jobID, deviceID)
	if err != nil {
		return false, fmt.Errorf("claim class job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var owner string
		err := tx.QueryRow(ctx, `SELECT device_id FROM jobs WHERE id = $1`, jobID).Scan(&owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return owner == deviceID, err
	}
	_, err = tx.Exec(ctx, `UPDATE trial_targets SET device_id = $2 WHERE job_id = $1`, jobID, deviceID)
	return true, err
}

// LostJob is an unfinished job whose device went silent.
type LostJob struct {
	ID, DeviceID string
	// Seq is its JOBS stream sequence (0: never published).
	Seq uint64
}

// FailLostJobs ends as failed (fail_kind device_lost) every unfinished job
// whose device has sent no heartbeat for longer than after: pinned jobs,
// and class jobs its agent had claimed and started. A queued class job
// stays: another agent of the class may still take it. Each job is
// returned once, to the one caller whose UPDATE changed it.
func (s *Store) FailLostJobs(ctx context.Context, after time.Duration) ([]LostJob, error) {
	rows, err := s.pool.Query(ctx, `UPDATE jobs j SET state = 'failed', fail_kind = $2,
			error = $3, updated_at = now(), finished_at = now()
		FROM devices d
		WHERE d.id = j.device_id AND j.state IN ('queued', 'running')
		  AND NOT (j.class IS NOT NULL AND j.state = 'queued')
		  AND coalesce(d.last_seen, d.created_at) < now() - make_interval(secs => $1)
		  AND j.updated_at < now() - make_interval(secs => $1)
		RETURNING j.id, j.device_id, coalesce(j.stream_seq, 0)`, after.Seconds(), wire.FailDeviceLost,
		fmt.Sprintf("device lost: no heartbeat for more than %v", after))
	if err != nil {
		return nil, fmt.Errorf("fail lost jobs: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LostJob, error) {
		var l LostJob
		var seq int64
		err := r.Scan(&l.ID, &l.DeviceID, &seq)
		l.Seq = uint64(seq)
		return l, err
	})
}

// CancelDeviceJobs cancels every unfinished job of a device.
func (s *Store) CancelDeviceJobs(ctx context.Context, deviceID string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET state = 'cancelled', updated_at = now(), finished_at = now()
		WHERE device_id = $1 AND state IN ('queued', 'running')`, deviceID)
	return tag.RowsAffected(), err
}

// UnpublishedJobs lists queued jobs that never reached JetStream.
func (s *Store) UnpublishedJobs(ctx context.Context) ([]api.Job, error) {
	return s.queryJobs(ctx, `j.state = 'queued' AND j.stream_seq IS NULL ORDER BY j.created_at`)
}

// queryJobs returns the jobs (with measurements) matching where.
func (s *Store) queryJobs(ctx context.Context, where string, args ...any) ([]api.Job, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+jobCols+` FROM jobs j LEFT JOIN measurements m ON m.job_id = j.id WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []api.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// LatestMeasurement returns the newest measurement of (spec, device,
// workload), or nil.
func (s *Store) LatestMeasurement(ctx context.Context, specHash, deviceID, workloadHash string) (*wire.Measurement, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT metrics FROM measurements WHERE spec_hash = $1 AND device_id = $2 AND workload_hash = $3
		ORDER BY created_at DESC LIMIT 1`, specHash, deviceID, workloadHash).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m := new(wire.Measurement)
	return m, json.Unmarshal(raw, m)
}

// LastEnergy returns the energy of the first decode row of device's
// newest measurement that carries one (nil: none does yet), which says
// whether the device has an energy source and, if not, why.
func (s *Store) LastEnergy(ctx context.Context, deviceID string) (*wire.Energy, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT metrics->'decode'->0->'energy' FROM measurements
		WHERE device_id = $1 AND metrics->'decode'->0 ? 'energy' ORDER BY created_at DESC LIMIT 1`, deviceID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e := new(wire.Energy)
	return e, json.Unmarshal(raw, e)
}
