package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/studystore"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// Re-measurement round states (remeasures.state).
const (
	RemeasureRunning = "running"
	RemeasurePooled  = "pooled"
	RemeasureFailed  = "failed"
)

// ErrRoundExists: the re-measurement round was dispatched before (by this
// or another coordinator); nothing was stored.
var ErrRoundExists = errors.New("the re-measurement round was already dispatched")

// Remeasurement is one target of one re-measurement round of a trial,
// with its job's state and its measurement once there.
type Remeasurement struct {
	Number   int
	Round    int
	Target   string
	DeviceID string
	JobID    string
	// State is the round's state (Remeasure*).
	State       string
	JobState    api.JobState
	JobError    *string
	Measurement *wire.Measurement
}

// InsertRemeasure stores the jobs of re-measurement round `round` of a
// complete trial (one per target; jobs[i] measures targets[i]) and the
// round's rows in one transaction. A round stored before gives
// ErrRoundExists; ErrNotFound: a job's device is unknown or revoked.
func (s *Store) InsertRemeasure(ctx context.Context, searchID string, number, round int, targets []string, jobs []api.Job) error {
	if len(targets) != len(jobs) {
		return fmt.Errorf("insert re-measurement: %d targets for %d jobs", len(targets), len(jobs))
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i := range jobs {
			if err := insertJob(ctx, tx, &jobs[i], 0, true); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO remeasures (search_id, number, round, target, device_id, job_id)
				VALUES ($1, $2, $3, $4, $5, $6)`, searchID, number, round, targets[i], jobs[i].DeviceID, jobs[i].ID); err != nil {
				return err
			}
		}
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrRoundExists
	}
	return err
}

// Remeasurements lists a search's re-measurements (of trial number, or of
// every trial when number is negative), by trial, round and target.
func (s *Store) Remeasurements(ctx context.Context, searchID string, number int) ([]Remeasurement, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.number, r.round, r.target, r.device_id, r.job_id, r.state, j.state, j.error, m.metrics
		FROM remeasures r JOIN jobs j ON j.id = r.job_id LEFT JOIN measurements m ON m.job_id = r.job_id
		WHERE r.search_id = $1 AND ($2 < 0 OR r.number = $2) ORDER BY r.number, r.round, r.target`, searchID, number)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Remeasurement, error) {
		var r Remeasurement
		var metrics []byte
		if err := row.Scan(&r.Number, &r.Round, &r.Target, &r.DeviceID, &r.JobID, &r.State, &r.JobState, &r.JobError, &metrics); err != nil {
			return r, err
		}
		if metrics != nil {
			r.Measurement = new(wire.Measurement)
			if err := json.Unmarshal(metrics, r.Measurement); err != nil {
				return r, fmt.Errorf("re-measurement job %s: %w", r.JobID, err)
			}
		}
		return r, nil
	})
}

// FailRemeasure ends a running re-measurement round as failed: nothing
// is pooled, and the round still counts against the bounds. A round no
// longer running is left alone.
func (s *Store) FailRemeasure(ctx context.Context, searchID string, number, round int) error {
	_, err := s.pool.Exec(ctx, `UPDATE remeasures SET state = 'failed' WHERE search_id = $1 AND number = $2 AND round = $3 AND state = 'running'`,
		searchID, number, round)
	return err
}

// PoolRemeasure ends a running re-measurement round as pooled: the
// trial's row takes its new (pooled) objectives, their standard
// deviations and violation, and counts one more re-measurement, and
// revise(studyTrial) records the same outcome in the search's goptuna
// study through study (the optimizer's Revise of the trial's goptuna
// trial). All of it is one transaction, and happens only once: a round no
// longer running is left alone (revise is not called). So the optimizer
// and the trials row change together or not at all, and a coordinator
// that stops before the commit finds the round still running and pools it
// again.
func (s *Store) PoolRemeasure(ctx context.Context, study *studystore.Storage, revise func(studyTrial int) error, searchID string, number, round int, objectives, std []float64, violation float64) error {
	return study.Atomically(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE remeasures SET state = 'pooled' WHERE search_id = $1 AND number = $2 AND round = $3 AND state = 'running'`,
			searchID, number, round)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		var studyTrial int
		err = tx.QueryRow(ctx, `UPDATE trials SET objectives = $3, objectives_std = $4, violation = $5, remeasured = remeasured + 1
			WHERE search_id = $1 AND number = $2 AND state = 'complete' RETURNING study_trial`, searchID, number, objectives, std, violation).Scan(&studyTrial)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the trial is not complete: nothing to pool into
		}
		if err != nil {
			return err
		}
		return revise(studyTrial)
	})
}
