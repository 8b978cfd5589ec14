package coordinator

import (
	"context"
	"fmt"

	"github.com/hilsearch/hilsearch/coordinator/internal/store"
)

func openStore(ctx context.Context, cfg Config) (*store.Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL unreachable; set DATABASE_URL (now %s): %w", store.Redact(cfg.DatabaseURL), err)
	}
	return st, nil
}
