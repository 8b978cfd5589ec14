package coordinator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// unauthenticated are the only /api/v1 routes without a bearer token:
// enrollment (the one-time token authenticates it), dashboard sign-in (the
// API token is in the body) and sign-out (it only clears the caller's own
// cookie).
var unauthenticated = map[string]bool{
	"POST /api/v1/agents/enroll": true,
	"POST /api/v1/session":       true,
	"DELETE /api/v1/session":     true,
}

func TestAuthRequired(t *testing.T) {
	c := testenv.Start(t, nil)
	for _, r := range c.App.HTTP.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || unauthenticated[r.Method+" "+r.Path] {
			continue
		}
		path := strings.ReplaceAll(r.Path, ":id", "d0000000000000000")
		for _, tok := range []string{"", "hil_wrong_token_000000000000"} {
			code, body := c.Do(t, r.Method, path, nil, tok)
			if code != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthorized"`) {
				t.Errorf("%s %s with token %q: %d %s, want 401 unauthorized", r.Method, path, tok, code, body)
			}
		}
	}
	if code, _ := c.Do(t, "GET", "/api/v1/devices", nil, c.Token); code != 200 {
		t.Fatalf("admin token refused: %d", code)
	}
}

// TestBadInputChangesNothing: malformed JSON, unknown fields, wrong types
// and oversized bodies get a 4xx with a catalogue code and leave the
// database as it was.
func TestBadInputChangesNothing(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	tok := enrollmentToken(t, c)
	snapshot := func() string {
		_, body := c.Do(t, "GET", "/api/v1/devices?include_revoked=true", nil, c.Token)
		n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM enrollment_tokens WHERE used_at IS NULL`)
		return string(body) + "|" + string(rune('0'+n))
	}
	huge := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
	other := newAgent(t)
	valid := enrollBody(other, tok, "x86-test-8g")
	withUnknown, _ := json.Marshal(map[string]any{"token": tok, "nkey": other.Pub, "class": "x86-test-8g", "admin": true})
	cases := []struct {
		name, method, path, body, token, code string
		status                                int
	}{
		{"enroll malformed", "POST", "/api/v1/agents/enroll", `{"token":`, "", "invalid_json", 400},
		{"enroll unknown field", "POST", "/api/v1/agents/enroll", string(withUnknown), "", "unknown_field", 400},
		{"enroll trailing data", "POST", "/api/v1/agents/enroll", mustJSON(valid) + `{}`, "", "invalid_json", 400},
		{"enroll wrong type", "POST", "/api/v1/agents/enroll", `{"token":5}`, "", "invalid_json", 400},
		{"enroll bad nkey", "POST", "/api/v1/agents/enroll", `{"token":"` + tok + `","nkey":"SUAxxx","class":"x"}`, "", "validation_failed", 422},
		{"enroll bad class", "POST", "/api/v1/agents/enroll", `{"token":"` + tok + `","nkey":"` + other.Pub + `","class":"Bad Class!"}`, "", "validation_failed", 422},
		{"enroll huge", "POST", "/api/v1/agents/enroll", huge, "", "body_too_large", 413},
		{"patch malformed", "PATCH", "/api/v1/devices/" + a.Resp.DeviceID, `{"name":`, c.Token, "invalid_json", 400},
		{"patch unknown field", "PATCH", "/api/v1/devices/" + a.Resp.DeviceID, `{"name":"n","class":"x"}`, c.Token, "unknown_field", 400},
		{"patch huge", "PATCH", "/api/v1/devices/" + a.Resp.DeviceID, huge, c.Token, "body_too_large", 413},
		{"patch bad tag", "PATCH", "/api/v1/devices/" + a.Resp.DeviceID, `{"tags":["Not OK"]}`, c.Token, "validation_failed", 422},
		{"patch empty name", "PATCH", "/api/v1/devices/" + a.Resp.DeviceID, `{"name":""}`, c.Token, "validation_failed", 422},
		{"patch nothing", "PATCH", "/api/v1/devices/" + a.Resp.DeviceID, `{}`, c.Token, "validation_failed", 422},
		{"token unknown field", "POST", "/api/v1/enrollment-tokens", `{"ttl":5}`, c.Token, "unknown_field", 400},
		{"token bad ttl", "POST", "/api/v1/enrollment-tokens", `{"ttl_seconds":5}`, c.Token, "validation_failed", 422},
		{"list bad query", "GET", "/api/v1/devices?include_revoked=maybe", "", c.Token, "invalid_query", 400},
		{"unknown route", "GET", "/api/v1/nope", "", c.Token, "route_not_found", 404},
		{"wrong method", "PUT", "/api/v1/devices", "", c.Token, "method_not_allowed", 405},
	}
	before := snapshot()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			code, resp := c.Do(t, tc.method, tc.path, body, tc.token)
			var e api.ErrorBody
			if err := json.Unmarshal(resp, &e); err != nil {
				t.Fatalf("%d, body is not an error object: %.200s", code, resp)
			}
			if code != tc.status || e.Code != tc.code || e.Message == "" {
				t.Fatalf("got %d %q (%s), want %d %q", code, e.Code, e.Message, tc.status, tc.code)
			}
		})
	}
	if after := snapshot(); after != before {
		t.Fatalf("bad requests changed state:\nbefore %s\nafter  %s", before, after)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDevicePatchAndFilters(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	code, body := c.Do(t, "PATCH", "/api/v1/devices/"+a.Resp.DeviceID, `{"name":"pixel 8","tags":["phone","sd8g3"]}`, c.Token)
	if code != 200 || !strings.Contains(string(body), `"name":"pixel 8"`) || !strings.Contains(string(body), `"tags":["phone","sd8g3"]`) {
		t.Fatalf("patch: %d %s", code, body)
	}
	for q, want := range map[string]bool{"tag=phone": true, "tag=laptop": false, "class=x86-test-8g": true, "class=other": false} {
		_, body := c.Do(t, "GET", "/api/v1/devices?"+q, nil, c.Token)
		if got := strings.Contains(string(body), a.Resp.DeviceID); got != want {
			t.Errorf("filter %s: listed=%v want %v", q, got, want)
		}
	}
	if code, _ := c.Do(t, "GET", "/api/v1/devices/nope", nil, c.Token); code != 404 {
		t.Fatalf("unknown device: %d", code)
	}
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	c := testenv.Start(t, nil)
	code, body := c.Do(t, "GET", "/api/v1/openapi.json", nil, c.Token)
	if code != 200 {
		t.Fatalf("openapi: %d", code)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("parse OpenAPI: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document invalid: %v", err)
	}
	param := regexp.MustCompile(`:([a-zA-Z_]+)`)
	routes := map[string]bool{}
	for _, r := range c.App.HTTP.Routes() {
		routes[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routes[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("routes not in OpenAPI: %v; OpenAPI paths with no route: %v", missing, extra)
	}
}

func TestOpsEndpoints(t *testing.T) {
	c := testenv.Start(t, nil)
	if code, body := c.Do(t, "GET", "/healthz", nil, ""); code != 200 {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, body := c.Do(t, "GET", "/readyz", nil, ""); code != 200 || !strings.Contains(string(body), `"postgres":"ok"`) || !strings.Contains(string(body), `"nats":"ok"`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	c.Do(t, "GET", "/api/v1/devices", nil, c.Token)
	code, body := c.Do(t, "GET", "/metrics", nil, "")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`hil_http_requests_total{code="200",method="GET",route="/api/v1/devices"} 1`,
		"hil_devices_online 0",
		"hil_jetstream_pending_jobs 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
