package coordinator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestNoSecretInLogs runs a coordinator with debug logging through the
// life of every secret it handles (the admin token, a database password,
// API tokens, enrollment tokens, dashboard session IDs and CSRF tokens)
// and checks that none of them appears in its log.
func TestNoSecretInLogs(t *testing.T) {
	dsn := testenv.Postgres(t)
	// The test server trusts local connections, so a password in the URL
	// is accepted and ignored: it is there to be kept out of the log.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const dbPassword = "db-pass-e4c91f07"
	u.User = url.UserPassword(u.User.Username(), dbPassword)
	cfg := coordinator.Default()
	cfg.DatabaseURL = u.String()
	cfg.Listen, cfg.NATSListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.AdminToken = testenv.AdminToken
	cfg.LogLevel = "debug"
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	app, err := coordinator.Start(ctx, cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Shutdown(context.Background()) }()
	c := &testenv.Coordinator{App: app, URL: "http://" + app.Addr(), DSN: dsn, Token: testenv.AdminToken}
	secrets := []string{dbPassword, testenv.AdminToken}

	// An API token, used as bearer and for a dashboard session.
	code, data := c.Do(t, "POST", "/api/v1/tokens", `{"name":"ci","scope":"admin"}`, c.Token)
	var tok api.TokenCreated
	if err := json.Unmarshal(data, &tok); code != 201 || err != nil {
		t.Fatalf("create token: %d %s", code, data)
	}
	secrets = append(secrets, tok.Secret)
	req, _ := http.NewRequest("POST", c.URL+"/api/v1/session", strings.NewReader(`{"token":"`+tok.Secret+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign in: %v %v", err, resp)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		secrets = append(secrets, ck.Value)
		req, _ := http.NewRequest("GET", c.URL+"/api/v1/devices", nil)
		req.AddCookie(ck)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
		}
	}
	// A failed sign-in and a bad bearer token.
	c.Do(t, "GET", "/api/v1/devices", nil, "hil_wrong_secret_5d1e0c")
	secrets = append(secrets, "hil_wrong_secret_5d1e0c")
	// Enrollment: the one-time token, used once and replayed.
	a := testenv.NewAgent(t)
	enr := c.EnrollmentToken(t)
	secrets = append(secrets, enr)
	body := map[string]any{"token": enr, "nkey": a.Pub, "class": "x86-test", "name": "n"}
	if code, data := c.Do(t, "POST", "/api/v1/agents/enroll", body, ""); code != 201 {
		t.Fatalf("enroll: %d %s", code, data)
	}
	c.Do(t, "POST", "/api/v1/agents/enroll", body, "")
	// Revocation.
	c.Do(t, "DELETE", "/api/v1/tokens/"+jsonInt(tok.Token.ID), nil, c.Token)
	c.Do(t, "GET", "/api/v1/devices", nil, tok.Secret)

	text := logs.String()
	if !strings.Contains(text, "api token created") || !strings.Contains(text, "device enrolled") {
		t.Fatalf("the log lacks the expected events; is the logger wired?\n%s", text)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("the log contains the secret %q", s)
		}
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
