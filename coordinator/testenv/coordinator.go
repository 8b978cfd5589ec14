package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hilsearch/hilsearch/coordinator"
)

// AdminToken is the admin API token of coordinators started by Start.
const AdminToken = "hil_test_admin_token_0123456789"

// Coordinator is a running coordinator for a test.
type Coordinator struct {
	App   *coordinator.App
	URL   string // http://127.0.0.1:port
	DSN   string
	Token string
	// DataDir is the coordinator's data directory (NATS authority, store).
	DataDir string

	nc *nats.Conn // Conn, opened on first use
	js jetstream.JetStream
}

// Start runs a whole coordinator on a fresh schema, with an embedded NATS
// on a random port, and stops it when the test ends. mutate may adjust the
// configuration first.
func Start(t testing.TB, mutate func(*coordinator.Config)) *Coordinator {
	t.Helper()
	dsn := Postgres(t)
	cfg := coordinator.Default()
	cfg.DatabaseURL = dsn
	cfg.Listen = "127.0.0.1:0"
	cfg.NATSListen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AdminToken = AdminToken
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	app, err := coordinator.Start(ctx, cfg, Logger(t), io.Discard)
	if err != nil {
		t.Fatalf("start coordinator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = app.Shutdown(ctx)
	})
	return &Coordinator{App: app, URL: "http://" + app.Addr(), DSN: dsn, Token: AdminToken, DataDir: cfg.DataDir}
}

// Do sends a request with the admin token (unless token is "") and returns
// the status and body. body may be nil, []byte, string or a value to encode.
func (c *Coordinator) Do(t testing.TB, method, path string, body any, token string) (int, []byte) {
	t.Helper()
	code, _, data := c.DoHeader(t, method, path, body, token, nil)
	return code, data
}

// DoHeader is Do with extra request headers, and it returns the response's
// headers too.
func (c *Coordinator) DoHeader(t testing.TB, method, path string, body any, token string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// Conn is a NATS connection with the coordinator's full rights, for tests
// that publish or inspect streams directly. It is opened on first use and
// closed when the test that opened it ends.
func (c *Coordinator) Conn(t testing.TB) *nats.Conn {
	t.Helper()
	nc, _ := c.natsConn(t)
	return nc
}

// JetStream is JetStream over Conn.
func (c *Coordinator) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, js := c.natsConn(t)
	return js
}

var natsMu sync.Mutex

func (c *Coordinator) natsConn(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	natsMu.Lock()
	defer natsMu.Unlock()
	if c.nc == nil {
		nc, err := c.App.Bus.Connect(nats.Name("test"))
		if err != nil {
			t.Fatalf("connect to NATS: %v", err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		c.nc, c.js = nc, js
	}
	return c.nc, c.js
}
