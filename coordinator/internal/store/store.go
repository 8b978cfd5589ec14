// Package store is the coordinator's PostgreSQL layer: connection pool,
// migrations, and the queries for tokens, enrollment and devices.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/hilsearch/hilsearch/coordinator/internal/studystore"
	"github.com/hilsearch/hilsearch/migrations"
)

// Store wraps a pgx pool, which stays inside: callers use the methods.
// All methods are safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to dsn, creating the database first when it does not exist
// and the server lets us, and checks the connection. It does not migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = pool.Ping(pctx)
	if err != nil && isMissingDatabase(err) {
		pool.Close()
		if cerr := createDatabase(ctx, cfg.ConnConfig); cerr != nil {
			return nil, fmt.Errorf("database %q does not exist and could not be created (%v): %w", cfg.ConnConfig.Database, cerr, err)
		}
		if pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return nil, fmt.Errorf("connect to DATABASE_URL: %w", err)
		}
		err = pool.Ping(pctx)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to DATABASE_URL (%s): %w", Redact(dsn), err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

func isMissingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}

func createDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	admin := cc.Copy()
	name := admin.Database
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile
		return nil
	}
	return err
}

// Redact hides the password of a PostgreSQL URL so it can be logged.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "password=") {
			return "(connection string with a password)"
		}
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Migrate applies every embedded migration that is not applied yet. It is
// idempotent and safe to run from several processes at once (tern holds an
// advisory lock).
func (s *Store) Migrate(ctx context.Context) (from, to int32, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return 0, 0, fmt.Errorf("migrate: load: %w", err)
	}
	if from, err = m.GetCurrentVersion(ctx); err != nil {
		return 0, 0, fmt.Errorf("migrate: current version: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return from, 0, fmt.Errorf("migrate: %w", err)
	}
	to, err = m.GetCurrentVersion(ctx)
	return from, to, err
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// StudyStorage returns a goptuna storage (one optimizer's study state) on
// this store's database. Each search driver takes its own.
func (s *Store) StudyStorage() *studystore.Storage { return studystore.New(s.pool) }

// Lock is a session-level PostgreSQL advisory lock, held on a connection of
// its own for as long as the holder runs. Release frees it; so does the
// end of that connection (a coordinator that dies loses its locks).
type Lock struct {
	conn *pgx.Conn
}

// TryLock takes the advisory lock named key if no session holds it. It
// returns a nil Lock and no error when another session does, so that of
// several coordinators on one database exactly one holds a given key.
func (s *Store) TryLock(ctx context.Context, key string) (*Lock, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	// The connection leaves the pool: it holds the lock until Release.
	conn := pc.Hijack()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&got); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if !got {
		_ = conn.Close(context.Background())
		return nil, nil
	}
	return &Lock{conn: conn}, nil
}

// Release frees the lock by closing its connection.
func (l *Lock) Release() { _ = l.conn.Close(context.Background()) }
