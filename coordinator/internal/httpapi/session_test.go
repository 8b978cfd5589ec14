package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/httpapi"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

type sessionClient struct {
	t       *testing.T
	base    string
	cookies []*http.Cookie
}

func (s *sessionClient) do(method, path, body string, header map[string]string) (*http.Response, string) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, ck := range s.cookies {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func cookieNamed(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestCookieSession(t *testing.T) {
	c := testenv.Start(t, nil)
	s := &sessionClient{t: t, base: c.URL}
	jsonCT := map[string]string{"Content-Type": "application/json"}

	// Sign-in needs a declared JSON body (a cross-site form cannot send one).
	if resp, body := s.do("POST", "/api/v1/session", `{"token":"`+c.Token+`"}`, nil); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("sign-in without Content-Type: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do("POST", "/api/v1/session", `{"token":"hil_wrong_wrong_wrong_wrong"}`, jsonCT); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"field":"token"`) {
		t.Fatalf("sign-in with a wrong token: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do("POST", "/api/v1/session", `{"token":""}`, jsonCT); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"token"`) {
		t.Fatalf("sign-in with no token: %d %s", resp.StatusCode, body)
	}
	resp, body := s.do("POST", "/api/v1/session", `{"token":"`+c.Token+`"}`, jsonCT)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	var info api.SessionInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.CSRFToken == "" || info.Name == "" {
		t.Fatalf("sign-in body %s: %v", body, err)
	}
	sess, csrf := cookieNamed(resp.Cookies(), httpapi.SessionCookie), cookieNamed(resp.Cookies(), httpapi.CSRFCookie)
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure || sess.Path != "/" || sess.MaxAge != 0 {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/, a browser-session cookie, not Secure over plain HTTP", sess)
	}
	if csrf == nil || csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode || csrf.Value != info.CSRFToken {
		t.Fatalf("csrf cookie = %+v, want readable, SameSite=Strict, = %s", csrf, info.CSRFToken)
	}
	if strings.Contains(csrf.Value, c.Token) || strings.Contains(sess.Value, c.Token) || sess.Value == c.Token {
		t.Fatal("a cookie contains the API token")
	}
	if !strings.HasPrefix(sess.Value, "hils_") || csrf.Value != httpapi.CSRFToken(sess.Value) {
		t.Fatalf("session cookie %q is not a session ID with CSRF token %q", sess.Value, csrf.Value)
	}
	if info.Scope != api.ScopeAdmin || info.ExpiresAt == nil || time.Until(*info.ExpiresAt) > 12*time.Hour || time.Until(*info.ExpiresAt) < 11*time.Hour {
		t.Fatalf("sign-in info %+v, want an admin session ending in 12 h", info)
	}
	// Only the session ID's hash is stored.
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM sessions WHERE id_hash = sha256(convert_to($1, 'UTF8'))`, sess.Value); n != 1 {
		t.Fatalf("%d sessions stored under the hash of the cookie's ID", n)
	}
	s.cookies = []*http.Cookie{sess, csrf}

	// Reads work with the cookie alone.
	if resp, body := s.do("GET", "/api/v1/devices", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET devices with the session: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do("GET", "/api/v1/session", "", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, info.CSRFToken) {
		t.Fatalf("GET session: %d %s", resp.StatusCode, body)
	}
	// Writes need the CSRF header, and the right one.
	for _, h := range []map[string]string{nil, {httpapi.CSRFHeader: "0000"}, {httpapi.CSRFHeader: httpapi.CSRFToken("hil_other_token_abcdefgh")}} {
		if resp, body := s.do("POST", "/api/v1/enrollment-tokens", "", h); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"code":"csrf_failed"`) {
			t.Fatalf("POST with the session and CSRF header %v: %d %s", h, resp.StatusCode, body)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM enrollment_tokens`); n != 0 {
		t.Fatalf("%d enrollment tokens created by refused requests", n)
	}
	if resp, body := s.do("POST", "/api/v1/enrollment-tokens", "", map[string]string{httpapi.CSRFHeader: info.CSRFToken}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST with the session and CSRF header: %d %s", resp.StatusCode, body)
	}

	// Bearer clients are unchanged: no CSRF header needed, cookies ignored.
	bearer := &sessionClient{t: t, base: c.URL, cookies: []*http.Cookie{{Name: httpapi.SessionCookie, Value: "garbage"}}}
	if resp, body := bearer.do("POST", "/api/v1/enrollment-tokens", "", map[string]string{"Authorization": "Bearer " + c.Token}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("bearer POST: %d %s", resp.StatusCode, body)
	}
	if resp, body := bearer.do("GET", "/api/v1/devices", "", map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong bearer token with a cookie: %d %s", resp.StatusCode, body)
	}
	// A cookie with an unknown token is refused.
	if resp, body := bearer.do("GET", "/api/v1/devices", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown session token: %d %s", resp.StatusCode, body)
	}

	// Sign-out ends the session on the server and clears both cookies: the
	// old cookie, replayed, is refused.
	old := s.cookies
	resp, body = s.do("DELETE", "/api/v1/session", "", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign-out: %d %s", resp.StatusCode, body)
	}
	for _, name := range []string{httpapi.SessionCookie, httpapi.CSRFCookie} {
		if ck := cookieNamed(resp.Cookies(), name); ck == nil || ck.MaxAge >= 0 || ck.Value != "" {
			t.Fatalf("sign-out cookie %s = %+v, want deleted", name, ck)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM sessions`); n != 0 {
		t.Fatalf("%d sessions left after sign-out", n)
	}
	replay := &sessionClient{t: t, base: c.URL, cookies: old}
	if resp, body := replay.do("GET", "/api/v1/devices", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the signed-out session's cookie: %d %s", resp.StatusCode, body)
	}
}

// signIn opens a session with secret and returns its client.
func signIn(t *testing.T, c *testenv.Coordinator, secret string) (*sessionClient, api.SessionInfo) {
	t.Helper()
	s := &sessionClient{t: t, base: c.URL}
	resp, body := s.do("POST", "/api/v1/session", `{"token":"`+secret+`"}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	var info api.SessionInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	s.cookies = resp.Cookies()
	return s, info
}

// TestSessionEndsWithItsToken: revoking a token ends its sessions at once;
// a session never outlives its token's expiry, and an expired session or
// token is refused.
func TestSessionEndsWithItsToken(t *testing.T) {
	c := testenv.Start(t, nil)
	created := createToken(t, c, `{"name":"browser","scope":"read-only","ttl_seconds":3600}`)
	s, info := signIn(t, c, created.Secret)
	if info.Scope != api.ScopeReadOnly || info.ExpiresAt == nil || !info.ExpiresAt.Equal(*created.Token.ExpiresAt) {
		t.Fatalf("session %+v, want read-only ending with its token at %v", info, created.Token.ExpiresAt)
	}
	if resp, body := s.do("GET", "/api/v1/devices", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("session request: %d %s", resp.StatusCode, body)
	}
	// A read-only session cannot write, CSRF header or not.
	if resp, body := s.do("POST", "/api/v1/enrollment-tokens", "", map[string]string{httpapi.CSRFHeader: info.CSRFToken}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"code":"forbidden"`) {
		t.Fatalf("read-only session POST: %d %s", resp.StatusCode, body)
	}
	if code, body := c.Do(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.Token.ID), nil, c.Token); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if resp, body := s.do("GET", "/api/v1/devices", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session of a revoked token: %d %s", resp.StatusCode, body)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM sessions WHERE token_id = $1`, created.Token.ID); n != 0 {
		t.Fatalf("%d sessions of the revoked token remain", n)
	}

	// An expired session is refused; so is a session whose token expired.
	s2, _ := signIn(t, c, c.Token)
	testenv.Exec(t, c.DSN, `UPDATE sessions SET expires_at = now() - interval '1 second'`)
	if resp, body := s2.do("GET", "/api/v1/devices", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired session: %d %s", resp.StatusCode, body)
	}
	other := createToken(t, c, `{"name":"short","scope":"admin","ttl_seconds":60}`)
	s3, _ := signIn(t, c, other.Secret)
	testenv.Exec(t, c.DSN, `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, other.Token.ID)
	if resp, body := s3.do("GET", "/api/v1/devices", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session of an expired token: %d %s", resp.StatusCode, body)
	}
	if resp, body := (&sessionClient{t: t, base: c.URL}).do("POST", "/api/v1/session", `{"token":"`+other.Secret+`"}`, map[string]string{"Content-Type": "application/json"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in with an expired token: %d %s", resp.StatusCode, body)
	}
}
