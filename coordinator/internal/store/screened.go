package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// ScreenedRow is a screened-out candidate with its goptuna trial.
type ScreenedRow struct {
	SearchID   string
	StudyTrial int
	api.ScreenedCandidate
}

// InsertScreened stores screened-out candidates in one transaction.
func (s *Store) InsertScreened(ctx context.Context, rows []ScreenedRow) error {
	if len(rows) == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, r := range rows {
			if _, err := tx.Exec(ctx, `INSERT INTO screened (search_id, study_trial, round, arch, arch_hash, params, layers,
				predicted, predicted_std, violation, ehvi, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
				r.SearchID, r.StudyTrial, r.Round, r.Arch, r.ArchHash, r.Params, r.Layers, r.Predicted, r.PredictedStd,
				r.Violation, r.EHVI, r.Reason); err != nil {
				return fmt.Errorf("insert screened: %w", err)
			}
		}
		return nil
	})
}

// ListScreened returns a search's screened-out candidates by round.
func (s *Store) ListScreened(ctx context.Context, searchID string) ([]api.ScreenedCandidate, error) {
	rows, err := s.pool.Query(ctx, `SELECT round, arch, arch_hash, params, layers, predicted, predicted_std, violation, ehvi,
		reason, created_at FROM screened WHERE search_id = $1 ORDER BY round, study_trial`, searchID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.ScreenedCandidate, error) {
		var c api.ScreenedCandidate
		err := r.Scan(&c.Round, &c.Arch, &c.ArchHash, &c.Params, &c.Layers, &c.Predicted, &c.PredictedStd, &c.Violation,
			&c.EHVI, &c.Reason, &c.CreatedAt)
		return c, err
	})
}

// ProbeJobs counts a device's block-probe jobs of one workload hash, in
// any state (probes are queued once: a device that fails them is not
// asked again and again).
func (s *Store) ProbeJobs(ctx context.Context, deviceID, workloadHash string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE device_id = $1 AND workload_hash = $2 AND kind = 'probe'`, deviceID, workloadHash).Scan(&n)
	return n, err
}

// ScreeningSavings counts a search's screened-out candidates and
// estimates the device time that saved (api.ScreeningSavings): the mean
// device time of its complete trials' own measurements (re-measurements
// and measurements without start and finish times left out) times the
// screened count.
func (s *Store) ScreeningSavings(ctx context.Context, searchID string) (api.ScreeningSavings, error) {
	var v api.ScreeningSavings
	err := s.pool.QueryRow(ctx, `WITH per AS (
		SELECT tt.number, sum(extract(epoch FROM (m.metrics->>'finished_at')::timestamptz - (m.metrics->>'started_at')::timestamptz)) AS secs
		FROM trial_targets tt JOIN trials t USING (search_id, number)
		JOIN measurements m ON m.id = tt.measurement_id OR (tt.measurement_id IS NULL AND m.job_id = tt.job_id)
		WHERE tt.search_id = $1 AND t.state = 'complete' AND (m.metrics->>'started_at')::timestamptz > 'epoch'
		GROUP BY tt.number)
		SELECT (SELECT count(*) FROM screened WHERE search_id = $1), count(*), coalesce(avg(secs), 0) FROM per`, searchID).
		Scan(&v.Screened, &v.MeasuredTrials, &v.MeanTrialSeconds)
	v.SavedSeconds = float64(v.Screened) * v.MeanTrialSeconds
	return v, err
}
