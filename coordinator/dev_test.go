package coordinator_test

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestSecondDevStart: a second `serve --dev` on the same ports says a
// coordinator already runs there, at once, instead of failing on NATS.
func TestSecondDevStart(t *testing.T) {
	c := testenv.Start(t, nil)
	cfg := coordinator.Default()
	cfg.Listen = strings.TrimPrefix(c.URL, "http://")
	err := coordinator.AlreadyRunning(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "a hilsearch coordinator is already running at "+c.URL+"/") {
		t.Fatalf("second start: %v", err)
	}
	// Another program on the port is named as such.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	cfg.Listen = l.Addr().String()
	if err := coordinator.AlreadyRunning(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "taken by another program") {
		t.Fatalf("port taken by another program: %v", err)
	}
	// Free ports: nothing to say.
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg.Listen = free.Addr().String()
	free.Close()
	natsFree, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg.NATSListen = natsFree.Addr().String()
	natsFree.Close()
	if err := coordinator.AlreadyRunning(context.Background(), cfg); err != nil {
		t.Fatalf("free ports: %v", err)
	}
}

// TestDevPostgresFallback: a server that answers but refuses the URL makes
// dev mode say why and use its private cluster; one that accepts is used.
func TestDevPostgresFallback(t *testing.T) {
	c := testenv.Start(t, nil)
	u, err := url.Parse(c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if !coordinator.PostgresUsable(context.Background(), u.Host, c.DSN, &out) || !strings.Contains(out.String(), "using PostgreSQL on "+u.Host) {
		t.Fatalf("accepting server not used: %s", out.String())
	}
	// The same server refuses a role it does not know, as Debian's
	// refuses the password-less default URL.
	bad := *u
	bad.User = url.User("hil_no_such_role")
	out.Reset()
	if coordinator.PostgresUsable(context.Background(), u.Host, bad.String(), &out) {
		t.Fatal("refusing server used")
	}
	if !strings.Contains(out.String(), "PostgreSQL on "+u.Host+" refuses the default URL") || !strings.Contains(out.String(), "using a private cluster instead") ||
		!strings.Contains(out.String(), "hil_no_such_role") {
		t.Fatalf("no reason given: %s", out.String())
	}
	// Nothing on the port: no message, the private cluster is used.
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := free.Addr().String()
	free.Close()
	out.Reset()
	if coordinator.PostgresUsable(context.Background(), addr, c.DSN, &out) || out.Len() != 0 {
		t.Fatalf("free port: %q", out.String())
	}
}
