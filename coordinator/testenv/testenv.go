// Package testenv starts the real services tests need: a fresh PostgreSQL
// schema on the test server and a whole coordinator (embedded NATS on a
// random port). It is imported only by tests.
//
// PostgreSQL comes from TEST_DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432/test. When it does not answer, tests
// fail under CI (CI=true) and are skipped elsewhere, saying why.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultDatabaseURL is used when TEST_DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL is the test database server URL.
func BaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// Postgres creates an empty schema for this test and returns a URL whose
// search_path selects it. The schema is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := BaseURL()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s is required under CI: %v", base, err)
		}
		t.Skipf("PostgreSQL at %s not reachable (%v); set TEST_DATABASE_URL or start it", base, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// withConn runs fn on a fresh connection to dsn (10 s deadline).
func withConn(t testing.TB, dsn string, fn func(ctx context.Context, c *pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := fn(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// Exec runs SQL against the test's schema (for set-up that has no API,
// such as ageing a token).
func Exec(t testing.TB, dsn, sql string, args ...any) (tag pgconn.CommandTag) {
	t.Helper()
	withConn(t, dsn, func(ctx context.Context, c *pgx.Conn) (err error) {
		if tag, err = c.Exec(ctx, sql, args...); err != nil {
			err = fmt.Errorf("exec %q: %w", sql, err)
		}
		return err
	})
	return tag
}

// Query runs a query returning one value of type T.
func Query[T any](t testing.TB, dsn, sql string, args ...any) (v T) {
	t.Helper()
	withConn(t, dsn, func(ctx context.Context, c *pgx.Conn) error {
		if err := c.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
			return fmt.Errorf("query %q: %w", sql, err)
		}
		return nil
	})
	return v
}

// QueryInt runs a query returning one integer.
func QueryInt(t testing.TB, dsn, sql string, args ...any) int64 {
	return Query[int64](t, dsn, sql, args...)
}

// QueryString runs a query returning one text value.
func QueryString(t testing.TB, dsn, sql string, args ...any) string {
	return Query[string](t, dsn, sql, args...)
}

// Logger returns a logger that writes to the test log when -v is given.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Eventually polls cond every 20 ms until it returns nil or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
