package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hilsearch/hilsearch/coordinator/internal/store"
)

// TestUnreachable: errors of a database that is away (refused, restarting,
// connection cut) are told apart from errors of the statement itself.
func TestUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Refused: nothing listens on a port just freed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, refused := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable", port))
	if refused == nil {
		t.Fatal("connected to a closed port")
	}
	// A statement error and a closed connection, from the real server.
	c, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		t.Skipf("PostgreSQL on 5432: %v", err)
	}
	_, syntax := c.Exec(ctx, "SELEC 1")
	_, missing := c.Exec(ctx, "SELECT * FROM no_such_table_here")
	c.Close(ctx)
	_, closed := c.Exec(ctx, "SELECT 1")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"connection closed", closed, true},
		{"server starting up (57P03)", &pgconn.PgError{Code: "57P03"}, true},
		{"crash shutdown (57P02)", fmt.Errorf("insert job: %w", &pgconn.PgError{Code: "57P02"}), true},
		{"connection failure (08006)", &pgconn.PgError{Code: "08006"}, true},
		{"connection cut mid-reply", fmt.Errorf("insert job: %w", io.ErrUnexpectedEOF), true},
		{"syntax error", syntax, false},
		{"undefined table", missing, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"not found", store.ErrNotFound, false},
		{"other", errors.New("spec invalid"), false},
		{"nil", nil, false},
	} {
		if tc.err == nil && tc.name != "nil" {
			t.Fatalf("%s: no error to classify", tc.name)
		}
		if got := store.Unreachable(tc.err); got != tc.want {
			t.Errorf("%s: Unreachable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
