package coordinator

import (
	"context"
	"fmt"
	"net/url"

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

// redactURL drops the user information (a user and password, or a token)
// of a URL so it can be logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	return u.String()
}
