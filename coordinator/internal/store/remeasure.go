package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hilsearch/hilsearch/coordinator/api"
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

// EndRemeasure ends a running re-measurement round: failed, or pooled
// with the trial's new (pooled) objectives, their standard deviations and
// violation, which count one more re-measurement; one transaction, and
// only once (a round no longer running is left alone).
func (s *Store) EndRemeasure(ctx context.Context, searchID string, number, round int, failed bool, objectives, std []float64, violation float64) error {
	state := RemeasurePooled
	if failed {
		state = RemeasureFailed
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE remeasures SET state = $4 WHERE search_id = $1 AND number = $2 AND round = $3 AND state = 'running'`,
			searchID, number, round, state)
		if err != nil || tag.RowsAffected() == 0 || failed {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE trials SET objectives = $3, objectives_std = $4, violation = $5, remeasured = remeasured + 1
			WHERE search_id = $1 AND number = $2 AND state = 'complete'`, searchID, number, objectives, std, violation)
		return err
	})
}
