package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// NewFidelityID returns a fresh cross-check ID ("f" and 16 hex digits).
func NewFidelityID() string { return "f" + NewDeviceID()[1:] }

// CreateFidelity stores a cross-check (its jobs already exist) and fills
// in its creation time.
func (s *Store) CreateFidelity(ctx context.Context, f *api.FidelityCheck, createdBy int64) error {
	err := s.pool.QueryRow(ctx, `INSERT INTO fidelity_checks (id, device_id, workload, entries, created_by)
		VALUES ($1, $2, $3, $4, NULLIF($5, 0)) RETURNING created_at`, f.ID, f.DeviceID, f.Workload, f.Entries, createdBy).Scan(&f.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert fidelity check: %w", err)
	}
	return nil
}

// GetFidelity returns a stored cross-check and the jobs it names, by ID
// (with their measurements).
func (s *Store) GetFidelity(ctx context.Context, id string) (api.FidelityCheck, map[string]api.Job, error) {
	var f api.FidelityCheck
	err := s.pool.QueryRow(ctx, `SELECT id, device_id, workload, entries, created_at FROM fidelity_checks WHERE id = $1`, id).
		Scan(&f.ID, &f.DeviceID, &f.Workload, &f.Entries, &f.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, nil, ErrNotFound
	}
	if err != nil {
		return f, nil, err
	}
	var ids []string
	for _, e := range f.Entries {
		for _, j := range e.Jobs {
			ids = append(ids, j)
		}
	}
	jobs, err := s.queryJobs(ctx, `j.id = ANY($1)`, ids)
	if err != nil {
		return f, nil, err
	}
	byID := make(map[string]api.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	return f, byID, nil
}
