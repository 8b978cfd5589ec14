package devpg

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestPrivateCluster creates a cluster with the machine's initdb/pg_ctl,
// connects, stops it, starts it again on the same data (reuse) and stops.
func TestPrivateCluster(t *testing.T) {
	if _, err := findBin(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI has PostgreSQL's binaries: %v", err)
		}
		t.Skip(err)
	}
	base, err := os.MkdirTemp("/tmp", "devpg-test-") // reachable by the postgres user when running as root
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	dir := filepath.Join(base, "postgres")
	port := freePort(t)
	ctx := context.Background()
	logf := func(f string, a ...any) { t.Logf(f, a...) }
	for round := range 2 {
		c, err := Start(ctx, dir, port, logf)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		conn, err := pgx.Connect(ctx, strings.Replace(c.URL(), "/hilsearch?", "/postgres?", 1))
		if err != nil {
			_ = c.Stop()
			t.Fatalf("round %d: connect: %v", round, err)
		}
		var v string
		err = conn.QueryRow(ctx, `SELECT current_setting('port')`).Scan(&v)
		conn.Close(ctx)
		if err != nil || v != fmt.Sprint(port) {
			_ = c.Stop()
			t.Fatalf("round %d: port %q %v", round, v, err)
		}
		if err := c.Stop(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if Answers(fmt.Sprintf("127.0.0.1:%d", port)) {
			t.Fatalf("round %d: still answering after Stop", round)
		}
	}
}

// TestRestartImmediate restarts a running cluster in immediate mode: a
// row committed before the restart is there after it, on the same port,
// and the connection open across the restart is gone.
func TestRestartImmediate(t *testing.T) {
	if _, err := findBin(); err != nil {
		t.Skip(err)
	}
	base, err := os.MkdirTemp("/tmp", "devpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	_ = os.Chmod(base, 0o755)
	ctx := context.Background()
	c, err := Start(ctx, filepath.Join(base, "postgres"), freePort(t), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop() }()
	url := strings.Replace(c.URL(), "/hilsearch?", "/postgres?", 1)
	before, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close(ctx)
	if _, err := before.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := before.Exec(ctx, `SELECT 1`); err == nil {
		t.Fatal("a connection opened before the restart still works: the server was not restarted")
	}
	after, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer after.Close(ctx)
	var v int
	if err := after.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("committed row after an immediate restart: %d %v", v, err)
	}
}

func TestUnreachableDataDirAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster to the postgres user")
	}
	if _, err := findBin(); err != nil {
		t.Skip(err)
	}
	private := t.TempDir() // mode 0700, owned by root
	_ = os.Chmod(private, 0o700)
	_, err := Start(context.Background(), filepath.Join(private, "pg"), freePort(t), t.Logf)
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("want a clear error about the unreachable directory, got %v", err)
	}
}
