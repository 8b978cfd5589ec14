package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

// MeasuredRow is one stored measurement with the job that asked for it:
// what a predictor is fitted from.
type MeasuredRow struct {
	Spec        json.RawMessage
	Workload    workload.Workload
	Measurement wire.Measurement
	// Kind is the job's kind (wire.JobKindProbe for a block probe).
	Kind string
}

// PredictorRow is a stored fitted predictor (its JSON body).
type PredictorRow struct {
	DeviceID     string
	Runtime      string
	WorkloadHash string
	Measurements int
	Body         json.RawMessage
	FittedAt     time.Time
}

// MeasurementsFor returns every measurement of a device under one runtime
// and workload hash, oldest first, with its job's spec and workload.
func (s *Store) MeasurementsFor(ctx context.Context, deviceID, runtime, workloadHash string) ([]MeasuredRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT j.spec, j.workload, m.metrics, j.kind FROM measurements m JOIN jobs j ON j.id = m.job_id
		WHERE m.device_id = $1 AND m.runtime = $2 AND m.workload_hash = $3 ORDER BY m.id`, deviceID, runtime, workloadHash)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MeasuredRow, error) {
		var m MeasuredRow
		err := r.Scan(&m.Spec, &m.Workload, &m.Measurement, &m.Kind)
		return m, err
	})
}

// SavePredictor stores (or replaces) the predictor of a device, runtime
// and workload hash.
func (s *Store) SavePredictor(ctx context.Context, p PredictorRow) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO predictors (device_id, runtime, workload_hash, measurements, body)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (device_id, runtime, workload_hash) DO UPDATE
		SET measurements = excluded.measurements, body = excluded.body, fitted_at = now()`,
		p.DeviceID, p.Runtime, p.WorkloadHash, p.Measurements, p.Body)
	return err
}

// Predictors returns a device's stored predictors, newest fit first.
func (s *Store) Predictors(ctx context.Context, deviceID string) ([]PredictorRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT device_id, runtime, workload_hash, measurements, body, fitted_at
		FROM predictors WHERE device_id = $1 ORDER BY fitted_at DESC, runtime, workload_hash`, deviceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PredictorRow, error) {
		var p PredictorRow
		err := r.Scan(&p.DeviceID, &p.Runtime, &p.WorkloadHash, &p.Measurements, &p.Body, &p.FittedAt)
		return p, err
	})
}

// Predictor returns one stored predictor, or ErrNotFound.
func (s *Store) Predictor(ctx context.Context, deviceID, runtime, workloadHash string) (PredictorRow, error) {
	var p PredictorRow
	err := s.pool.QueryRow(ctx, `SELECT device_id, runtime, workload_hash, measurements, body, fitted_at
		FROM predictors WHERE device_id = $1 AND runtime = $2 AND workload_hash = $3`, deviceID, runtime, workloadHash).
		Scan(&p.DeviceID, &p.Runtime, &p.WorkloadHash, &p.Measurements, &p.Body, &p.FittedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	return p, err
}
