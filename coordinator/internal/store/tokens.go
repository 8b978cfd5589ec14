package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Token secrets carry a prefix so they are recognisable in configuration
// and by secret scanners: "hil_" for API tokens, "hilenr_" for enrollment.
const (
	apiTokenPrefix    = "hil_"
	enrollTokenPrefix = "hilenr_"
)

// NewSecret returns a fresh random secret with the given prefix (160 bits).
func NewSecret(prefix string) string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// HashSecret is how every secret is stored: its SHA-256. The secrets are
// 160-bit random values, so a fast hash is enough.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// APIToken is a stored API token (never the secret).
type APIToken struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// CountAPITokens returns how many live API tokens exist.
func (s *Store) CountAPITokens(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL`).Scan(&n)
	return n, err
}

// CreateAPIToken mints a token named name and returns its secret, which is
// not stored and cannot be shown again.
func (s *Store) CreateAPIToken(ctx context.Context, name string) (APIToken, string, error) {
	secret := NewSecret(apiTokenPrefix)
	t, err := s.InsertAPIToken(ctx, name, secret)
	return t, secret, err
}

// InsertAPIToken stores the hash of a caller-chosen secret (HIL_ADMIN_TOKEN).
// Inserting a secret that is already stored returns the existing token.
func (s *Store) InsertAPIToken(ctx context.Context, name, secret string) (APIToken, error) {
	if len(secret) < 16 {
		return APIToken{}, errors.New("api token must be at least 16 characters")
	}
	var t APIToken
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (name, token_hash) VALUES ($1, $2)
		ON CONFLICT (token_hash) DO UPDATE SET revoked_at = NULL
		RETURNING id, name, role, created_at`, name, HashSecret(secret)).
		Scan(&t.ID, &t.Name, &t.Role, &t.CreatedAt)
	if err != nil {
		return t, fmt.Errorf("insert api token: %w", err)
	}
	return t, nil
}

// Authenticate returns the live API token whose secret is given.
func (s *Store) Authenticate(ctx context.Context, secret string) (APIToken, error) {
	var t APIToken
	err := s.pool.QueryRow(ctx, `
		UPDATE api_tokens SET last_used_at = now()
		WHERE token_hash = $1 AND revoked_at IS NULL
		RETURNING id, name, role, created_at, last_used_at`, HashSecret(secret)).
		Scan(&t.ID, &t.Name, &t.Role, &t.CreatedAt, &t.LastUsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// EnrollmentToken is a stored one-time enrollment token.
type EnrollmentToken struct {
	ID        int64     `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateEnrollmentToken mints a one-time token valid for ttl. createdBy is
// the API token that asked (0: the coordinator itself, in dev mode).
func (s *Store) CreateEnrollmentToken(ctx context.Context, createdBy int64, ttl time.Duration) (EnrollmentToken, string, error) {
	secret := NewSecret(enrollTokenPrefix)
	var t EnrollmentToken
	err := s.pool.QueryRow(ctx, `
		INSERT INTO enrollment_tokens (token_hash, created_by, expires_at)
		VALUES ($1, NULLIF($2, 0), now() + make_interval(secs => $3))
		RETURNING id, created_at, expires_at`, HashSecret(secret), createdBy, ttl.Seconds()).
		Scan(&t.ID, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return t, "", fmt.Errorf("insert enrollment token: %w", err)
	}
	return t, secret, nil
}
