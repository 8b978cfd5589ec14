package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// createToken creates an API token with the admin token and returns it.
func createToken(t *testing.T, c *testenv.Coordinator, body string) api.TokenCreated {
	t.Helper()
	code, data := c.Do(t, "POST", "/api/v1/tokens", body, c.Token)
	if code != http.StatusCreated {
		t.Fatalf("create token %s: %d %s", body, code, data)
	}
	var tc api.TokenCreated
	if err := json.Unmarshal(data, &tc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tc.Secret, "hil_") || tc.Token.State != api.TokenActive {
		t.Fatalf("created token %s", data)
	}
	return tc
}

func TestTokenLifecycle(t *testing.T) {
	c := testenv.Start(t, nil)
	// Default expiry: HIL_TOKEN_TTL (90 days); 0: none; explicit seconds.
	def := createToken(t, c, `{"name":"ci","scope":"read-only"}`)
	if def.Token.ExpiresAt == nil || d(time.Until(*def.Token.ExpiresAt)-90*24*time.Hour) > time.Minute {
		t.Fatalf("default expiry %v, want in 90 days", def.Token.ExpiresAt)
	}
	never := createToken(t, c, `{"name":"forever","scope":"enroll-only","ttl_seconds":0}`)
	if never.Token.ExpiresAt != nil {
		t.Fatalf("ttl_seconds 0 gave expiry %v", never.Token.ExpiresAt)
	}
	hour := createToken(t, c, `{"name":"an hour","scope":"admin","ttl_seconds":3600}`)
	if hour.Token.ExpiresAt == nil || d(time.Until(*hour.Token.ExpiresAt)-time.Hour) > time.Minute {
		t.Fatalf("ttl 3600 gave expiry %v", hour.Token.ExpiresAt)
	}
	if *hour.Token.CreatedBy == 0 || hour.Token.Scope != api.ScopeAdmin {
		t.Fatalf("created token %+v", hour.Token)
	}
	// The secret is stored only as its hash.
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM api_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, hour.Secret); n != 1 {
		t.Fatalf("token hash rows: %d", n)
	}

	// The list shows every token, never a secret.
	code, data := c.Do(t, "GET", "/api/v1/tokens", nil, c.Token)
	var list api.TokenList
	if err := json.Unmarshal(data, &list); code != 200 || err != nil || len(list.Tokens) != 4 {
		t.Fatalf("list: %d %s", code, data)
	}
	for _, secret := range []string{def.Secret, never.Secret, hour.Secret, c.Token} {
		if strings.Contains(string(data), secret) {
			t.Fatal("the token list contains a secret")
		}
	}

	// Revocation works at once, is idempotent, and an unknown ID is a 404.
	if code, _ := c.Do(t, "GET", "/api/v1/searches", nil, hour.Secret); code != 200 {
		t.Fatalf("new token refused: %d", code)
	}
	path := fmt.Sprintf("/api/v1/tokens/%d", hour.Token.ID)
	for i := 0; i < 2; i++ {
		code, data := c.Do(t, "DELETE", path, nil, c.Token)
		var tok api.Token
		if err := json.Unmarshal(data, &tok); code != 200 || err != nil || tok.State != api.TokenRevoked || tok.RevokedAt == nil {
			t.Fatalf("revoke #%d: %d %s", i+1, code, data)
		}
	}
	if code, body := c.Do(t, "GET", "/api/v1/searches", nil, hour.Secret); code != 401 {
		t.Fatalf("revoked token: %d %s", code, body)
	}
	if code, body := c.Do(t, "DELETE", "/api/v1/tokens/999999", nil, c.Token); code != 404 || !strings.Contains(string(body), "token_not_found") {
		t.Fatalf("revoke unknown: %d %s", code, body)
	}
	// Expiry is enforced by the database clock.
	testenv.Exec(t, c.DSN, `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, def.Token.ID)
	if code, body := c.Do(t, "GET", "/api/v1/searches", nil, def.Secret); code != 401 {
		t.Fatalf("expired token: %d %s", code, body)
	}
	_, data = c.Do(t, "GET", "/api/v1/tokens", nil, c.Token)
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	states := map[int64]api.TokenState{}
	for _, tok := range list.Tokens {
		states[tok.ID] = tok.State
	}
	if states[def.Token.ID] != api.TokenExpired || states[hour.Token.ID] != api.TokenRevoked || states[never.Token.ID] != api.TokenActive {
		t.Fatalf("states %v", states)
	}
}

func d(x time.Duration) time.Duration {
	if x < 0 {
		return -x
	}
	return x
}

// TestTokenRequestsRefused: bad token requests get a 4xx with a catalogue
// code and create nothing.
func TestTokenRequestsRefused(t *testing.T) {
	c := testenv.Start(t, nil)
	before := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM api_tokens`)
	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{`{"name":"x","scope":"root"}`, "validation_failed", 422},
		{`{"name":"","scope":"admin"}`, "validation_failed", 422},
		{`{"name":"x","scope":"admin","ttl_seconds":5}`, "validation_failed", 422},
		{`{"name":"x","scope":"admin","ttl_seconds":-1}`, "validation_failed", 422},
		{`{"name":"x","scope":"admin","ttl_seconds":315360001}`, "validation_failed", 422},
		{`{"name":"x","scope":"admin","ttl_seconds":9223372036854775807}`, "validation_failed", 422},
		{`{"name":"x","scope":"admin","ttl_seconds":9223372036854775808}`, "invalid_json", 400},
		{`{"name":"x","scope":"admin","ttl_seconds":1e400}`, "invalid_json", 400},
		{`{"name":"a\u0000b","scope":"admin"}`, "invalid_text", 400},
		{`{"name":"x","scope":"admin","role":"admin"}`, "unknown_field", 400},
		{"{\"name\":\"\xff\",\"scope\":\"admin\"}", "invalid_text", 400},
	} {
		code, data := c.Do(t, "POST", "/api/v1/tokens", tc.body, c.Token)
		var e api.ErrorBody
		if err := json.Unmarshal(data, &e); err != nil || code != tc.status || e.Code != tc.code {
			t.Errorf("%q: %d %s, want %d %s", tc.body, code, data, tc.status, tc.code)
		}
	}
	for _, p := range []string{"/api/v1/tokens/0", "/api/v1/tokens/x", "/api/v1/tokens/99999999999999999999", "/api/v1/tokens/%00"} {
		if code, data := c.Do(t, "DELETE", p, nil, c.Token); code != 400 {
			t.Errorf("DELETE %s: %d %s, want 400", p, code, data)
		}
	}
	if after := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM api_tokens`); after != before {
		t.Fatalf("refused requests created %d tokens", after-before)
	}
}

// TestScopes: every authenticated route answers 403 forbidden to a token
// whose scope it does not list, and lets the scopes it lists through.
func TestScopes(t *testing.T) {
	c := testenv.Start(t, nil)
	secrets := map[api.Scope]string{api.ScopeAdmin: c.Token}
	for _, sc := range []api.Scope{api.ScopeReadOnly, api.ScopeEnrollOnly} {
		secrets[sc] = createToken(t, c, `{"name":"`+string(sc)+`","scope":"`+string(sc)+`"}`).Secret
	}
	routes := c.App.HTTP.RouteScopes()
	for _, r := range c.App.HTTP.Routes() {
		key := r.Method + " " + r.Path
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Path == "/api/v1/agents/enroll" || r.Path == "/api/v1/evaluations/:id/answer" || (r.Path == "/api/v1/session" && r.Method != "GET") {
			continue
		}
		allowed, ok := routes[key]
		if !ok {
			t.Errorf("%s has no declared scopes", key)
			continue
		}
		if r.Path == "/api/v1/events" {
			continue // a stream: checked below
		}
		// ID 999999 names nothing: DELETE /tokens/:id must not revoke a token in use.
		path := strings.NewReplacer(":id", "999999", ":number", "0").Replace(r.Path)
		for _, sc := range api.Scopes {
			want := false
			for _, a := range allowed {
				want = want || a == sc
			}
			// A body that fails validation: allowed requests are refused
			// later (400/404/422), never with 401 or 403.
			var body any
			if r.Method != "GET" && r.Method != "DELETE" {
				body = `{"name":""}`
			}
			code, data := c.Do(t, r.Method, path, body, secrets[sc])
			switch {
			case want && (code == 401 || code == 403):
				t.Errorf("%s with a %s token: %d %s, want it let through", key, sc, code, data)
			case !want && (code != 403 || !strings.Contains(string(data), `"code":"forbidden"`)):
				t.Errorf("%s with a %s token: %d %s, want 403 forbidden", key, sc, code, data)
			}
		}
	}
	if code, _ := c.Do(t, "GET", "/api/v1/events", nil, secrets[api.ScopeEnrollOnly]); code != 403 {
		t.Errorf("events with an enroll-only token: %d", code)
	}
	// Token management is admin-only; read-only tokens read everything else.
	for _, sc := range []api.Scope{api.ScopeReadOnly, api.ScopeEnrollOnly} {
		if code, _ := c.Do(t, "GET", "/api/v1/tokens", nil, secrets[sc]); code != 403 {
			t.Errorf("token list with a %s token: %d", sc, code)
		}
	}
}

// TestLastUsedWrittenOncePerMinute: authenticating does not write the
// token row on every request, only when last_used_at is a minute old.
func TestLastUsedWrittenOncePerMinute(t *testing.T) {
	c := testenv.Start(t, nil)
	tok := createToken(t, c, `{"name":"poller","scope":"read-only"}`)
	rowVersion := func() string {
		return testenv.QueryString(t, c.DSN, `SELECT xmin::text || '/' || coalesce(last_used_at::text, '') FROM api_tokens WHERE id = $1`, tok.Token.ID)
	}
	c.Do(t, "GET", "/api/v1/devices", nil, tok.Secret)
	first := rowVersion()
	if strings.HasSuffix(first, "/") {
		t.Fatal("last_used_at not written on first use")
	}
	for i := 0; i < 20; i++ {
		if code, _ := c.Do(t, "GET", "/api/v1/devices", nil, tok.Secret); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	s, _ := signIn(t, c, tok.Secret)
	for i := 0; i < 5; i++ {
		s.do("GET", "/api/v1/devices", "", nil)
	}
	if now := rowVersion(); now != first {
		t.Fatalf("the token row changed within a minute (%s -> %s): a write per request", first, now)
	}
	testenv.Exec(t, c.DSN, `UPDATE api_tokens SET last_used_at = now() - interval '61 seconds' WHERE id = $1`, tok.Token.ID)
	aged := rowVersion()
	s.do("GET", "/api/v1/devices", "", nil)
	if now := rowVersion(); now == aged {
		t.Fatal("last_used_at not written after a minute (session request)")
	}
}
