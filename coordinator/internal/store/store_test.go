package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/migrations"
)

func tables(t *testing.T, dsn string) map[string]bool {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func TestMigrationsApplyToEmptySchemaAndAreIdempotent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn := testenv.Postgres(t)
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := tables(t, dsn); len(got) != 0 {
		t.Fatalf("schema not empty: %v", got)
	}
	files, err := migrate.FindMigrations(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	from, to, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if from != 0 || int(to) != len(files) {
		t.Fatalf("migrated %d -> %d, want 0 -> %d", from, to, len(files))
	}
	want := []string{"api_tokens", "enrollment_tokens", "devices", "heartbeats", "schema_version"}
	got := tables(t, dsn)
	for _, w := range want {
		if !got[w] {
			t.Errorf("table %s missing after migration (have %v)", w, got)
		}
	}
	from2, to2, err := s.Migrate(ctx)
	if err != nil || from2 != to || to2 != to {
		t.Fatalf("second migrate: %d -> %d, %v; want a no-op at %d", from2, to2, err, to)
	}
	if after := tables(t, dsn); len(after) != len(got) {
		t.Fatalf("second migrate changed tables: %v -> %v", got, after)
	}

	// Every migration also rolls back cleanly, and up again.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 0); err != nil {
		t.Fatalf("migrate down to 0: %v", err)
	}
	if left := tables(t, dsn); len(left) != 1 || !left["schema_version"] {
		t.Fatalf("tables left after rolling back: %v", left)
	}
	if err := m.Migrate(ctx); err != nil {
		t.Fatalf("migrate up again: %v", err)
	}
}

// migrated opens a store on a fresh test schema, migrated, closed when the
// test ends, and returns it with the schema's DSN.
func migrated(t testing.TB, ctx context.Context) (*store.Store, string) {
	t.Helper()
	dsn := testenv.Postgres(t)
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s, dsn
}

func TestHeartbeatOfUnknownDeviceIgnored(t *testing.T) {
	s, _ := migrated(t, context.Background())
	err := s.RecordHeartbeat(context.Background(), "dnope", store.Heartbeat{At: time.Now(), Status: "idle"})
	if err != store.ErrNotFound {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db": "postgres://u:xxxxx@h:5432/db",
		"postgres://u@h/db":             "postgres://u@h/db",
		"host=h user=u password=secret": "(connection string with a password)",
	} {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
