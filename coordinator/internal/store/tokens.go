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

	"github.com/hilsearch/hilsearch/coordinator/api"
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

// LastUsedInterval is how stale a token's last_used_at may get: it is
// written at most once per interval per token (one conditional UPDATE in
// the authenticating query), not on every request.
const LastUsedInterval = time.Minute

// tokenCols selects an api_tokens row (alias t) as an api.Token, with its
// derived state.
const tokenCols = `t.id, t.name, t.scope,
	CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
	     WHEN t.expires_at IS NOT NULL AND t.expires_at <= now() THEN 'expired'
	     ELSE 'active' END,
	t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.created_by`

// liveToken is the condition a token must meet to authenticate anything.
const liveToken = `t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())`

func tokenDest(t *api.Token) []any {
	return []any{&t.ID, &t.Name, &t.Scope, &t.State, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt, &t.CreatedBy}
}

// CountAPITokens returns how many live (neither revoked nor expired) API
// tokens exist.
func (s *Store) CountAPITokens(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens t WHERE `+liveToken).Scan(&n)
	return n, err
}

// NewToken describes a token to mint.
type NewToken struct {
	Name  string
	Scope api.Scope
	// TTL is the token's life; 0 means it does not expire.
	TTL time.Duration
	// CreatedBy is the token that asked; 0 for the coordinator itself.
	CreatedBy int64
}

// CreateAPIToken mints a token and returns its secret, which is not stored
// and cannot be shown again.
func (s *Store) CreateAPIToken(ctx context.Context, nt NewToken) (api.Token, string, error) {
	if !nt.Scope.Valid() {
		return api.Token{}, "", fmt.Errorf("create api token: unknown scope %q", nt.Scope)
	}
	if nt.TTL < 0 {
		return api.Token{}, "", errors.New("create api token: negative lifetime")
	}
	secret := NewSecret(apiTokenPrefix)
	var t api.Token
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens AS t (name, scope, token_hash, expires_at, created_by)
		VALUES ($1, $2, $3, CASE WHEN $4::float8 > 0 THEN now() + make_interval(secs => $4) END, NULLIF($5, 0))
		RETURNING `+tokenCols, nt.Name, nt.Scope, HashSecret(secret), nt.TTL.Seconds(), nt.CreatedBy).
		Scan(tokenDest(&t)...)
	if err != nil {
		return t, "", fmt.Errorf("insert api token: %w", err)
	}
	return t, secret, nil
}

// InsertAPIToken stores the hash of a caller-chosen secret (HIL_ADMIN_TOKEN)
// as an admin token that does not expire. Inserting a secret that is
// already stored returns the existing token unchanged: a revoked
// HIL_ADMIN_TOKEN stays revoked (its State says so).
func (s *Store) InsertAPIToken(ctx context.Context, name, secret string) (api.Token, error) {
	if len(secret) < 16 {
		return api.Token{}, errors.New("api token must be at least 16 characters")
	}
	var t api.Token
	err := s.pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO api_tokens (name, token_hash) VALUES ($1, $2)
			ON CONFLICT (token_hash) DO NOTHING
			RETURNING id)
		SELECT `+tokenCols+` FROM api_tokens t WHERE t.token_hash = $2
		UNION ALL
		SELECT `+tokenCols+` FROM api_tokens t JOIN ins ON ins.id = t.id`, name, HashSecret(secret)).
		Scan(tokenDest(&t)...)
	if errors.Is(err, pgx.ErrNoRows) {
		// The CTE's insert is invisible to the same statement's first
		// SELECT and the second one sees it only by id: one of them
		// returns the row. No row means a concurrent insert raced us.
		err = s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens t WHERE t.token_hash = $1`, HashSecret(secret)).
			Scan(tokenDest(&t)...)
	}
	if err != nil {
		return t, fmt.Errorf("insert api token: %w", err)
	}
	return t, nil
}

// touchLastUsed is a data-modifying CTE that stamps the token of CTE "a"
// (one column id, one column last_used_at) as used, unless it was stamped
// less than LastUsedInterval ago.
const touchLastUsed = `touch AS (
	UPDATE api_tokens u SET last_used_at = now()
	FROM a WHERE u.id = a.id
	  AND (u.last_used_at IS NULL OR u.last_used_at <= now() - interval '1 minute'))` // = LastUsedInterval

// Authenticate returns the live API token whose secret is given, or
// ErrNotFound. It writes last_used_at at most once a minute per token.
func (s *Store) Authenticate(ctx context.Context, secret string) (api.Token, error) {
	var t api.Token
	err := s.pool.QueryRow(ctx, `
		WITH a AS (SELECT `+tokenCols+` FROM api_tokens t WHERE t.token_hash = $1 AND `+liveToken+`),
		`+touchLastUsed+`
		SELECT * FROM a`, HashSecret(secret)).
		Scan(tokenDest(&t)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// ListAPITokens returns every token, newest first.
func (s *Store) ListAPITokens(ctx context.Context) ([]api.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM api_tokens t ORDER BY t.id DESC`)
	if err != nil {
		return nil, err
	}
	out := []api.Token{}
	for rows.Next() {
		var t api.Token
		if err := rows.Scan(tokenDest(&t)...); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAPIToken revokes token id and ends its dashboard sessions. Revoking
// a revoked token changes nothing and returns it; an unknown id gives
// ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64) (api.Token, error) {
	var t api.Token
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, now()) WHERE t.id = $1
			RETURNING `+tokenCols, id).Scan(tokenDest(&t)...)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE token_id = $1`, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("revoke api token %d: %w", id, err)
	}
	return t, nil
}

// Session is a dashboard session: its token and when it ends.
type Session struct {
	Token     api.Token
	ExpiresAt time.Time
}

// sessionPrefix marks dashboard session IDs.
const sessionPrefix = "hils_"

// CreateSession opens a dashboard session for the live token tokenID,
// ending after ttl or when the token expires, whichever is first. It
// returns the session ID for the cookie; only its hash is stored.
func (s *Store) CreateSession(ctx context.Context, tokenID int64, ttl time.Duration) (string, Session, error) {
	id := NewSecret(sessionPrefix)
	var ses Session
	err := s.pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO sessions (id_hash, token_id, expires_at)
			SELECT $1, t.id, least(now() + make_interval(secs => $3), t.expires_at)
			FROM api_tokens t WHERE t.id = $2 AND `+liveToken+`
			RETURNING token_id, expires_at)
		SELECT `+tokenCols+`, ins.expires_at FROM api_tokens t JOIN ins ON ins.token_id = t.id`,
		HashSecret(id), tokenID, ttl.Seconds()).
		Scan(append(tokenDest(&ses.Token), &ses.ExpiresAt)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ses, ErrNotFound
	}
	if err != nil {
		return "", ses, fmt.Errorf("create session: %w", err)
	}
	return id, ses, nil
}

// SessionByID returns the live session with this ID and its live token,
// or ErrNotFound (unknown, signed out, expired, or its token revoked or
// expired). Like Authenticate, it writes the token's last_used_at at most
// once a minute.
func (s *Store) SessionByID(ctx context.Context, id string) (Session, error) {
	var ses Session
	err := s.pool.QueryRow(ctx, `
		WITH a AS (
			SELECT `+tokenCols+`, s.expires_at AS session_expires
			FROM sessions s JOIN api_tokens t ON t.id = s.token_id
			WHERE s.id_hash = $1 AND s.expires_at > now() AND `+liveToken+`),
		`+touchLastUsed+`
		SELECT * FROM a`, HashSecret(id)).
		Scan(append(tokenDest(&ses.Token), &ses.ExpiresAt)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ses, ErrNotFound
	}
	return ses, err
}

// DeleteSession ends the session with this ID (sign-out). An unknown ID is
// not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, HashSecret(id))
	return err
}

// PruneSessions deletes sessions that can no longer authenticate: expired
// ones and those of revoked or expired tokens.
func (s *Store) PruneSessions(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM sessions s USING api_tokens t
		WHERE t.id = s.token_id
		  AND (s.expires_at <= now() OR NOT (`+liveToken+`))`)
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return tag.RowsAffected(), nil
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
