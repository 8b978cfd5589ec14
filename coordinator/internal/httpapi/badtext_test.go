package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestNULAndOverflowAre400: what used to give HTTP 500 (PostgreSQL refusing
// a NUL character or invalid UTF-8 in text, or a number beyond its int)
// gets a 400 with a catalogue code naming the field, and changes nothing.
func TestNULAndOverflowAre400(t *testing.T) {
	c := testenv.Start(t, nil)
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "x86-test")
	dev := a.Resp.DeviceID
	testenv.Exec(t, c.DSN, `INSERT INTO searches (id, name, spec, study) VALUES ('s1', 'synthetic', '{}', 'study-s1')`)
	tok := c.EnrollmentToken(t)
	other := testenv.NewAgent(t)
	enroll := func(field, value string) string {
		b := map[string]any{"token": tok, "nkey": other.Pub, "class": "x86-test", "name": "n"}
		b[field] = json.RawMessage(value)
		data, _ := json.Marshal(b)
		return string(data)
	}
	snapshot := func() string {
		return testenv.QueryString(t, c.DSN, `SELECT concat_ws('|',
			(SELECT string_agg(id || name || array_to_string(tags, ','), ';' ORDER BY id) FROM devices),
			(SELECT count(*) FROM enrollment_tokens WHERE used_at IS NULL),
			(SELECT count(*) FROM jobs), (SELECT count(*) FROM searches), (SELECT count(*) FROM api_tokens))`)
	}
	before := snapshot()
	cases := []struct {
		method, path, body, code, field string
		status                          int
	}{
		// NUL and invalid UTF-8 in path and query parameters.
		{"GET", "/api/v1/devices/%00", "", "invalid_text", "path.id", 400},
		{"GET", "/api/v1/devices/a%00b", "", "invalid_text", "path.id", 400},
		{"GET", "/api/v1/devices/%ff", "", "invalid_text", "path.id", 400},
		{"PATCH", "/api/v1/devices/%00", `{"name":"x"}`, "invalid_text", "path.id", 400},
		{"DELETE", "/api/v1/devices/%00", "", "invalid_text", "path.id", 400},
		{"POST", "/api/v1/devices/%00/jobs", `{}`, "invalid_text", "path.id", 400},
		{"GET", "/api/v1/jobs/%00", "", "invalid_text", "path.id", 400},
		{"GET", "/api/v1/searches/%00", "", "invalid_text", "path.id", 400},
		{"POST", "/api/v1/searches/%00/pause", "", "invalid_text", "path.id", 400},
		{"GET", "/api/v1/searches/s1/trials/%00", "", "invalid_text", "path.number", 400},
		{"GET", "/api/v1/devices?class=%00", "", "invalid_text", "query.class", 400},
		{"GET", "/api/v1/devices?tag=x%00", "", "invalid_text", "query.tag", 400},
		{"GET", "/api/v1/searches/s1/trials?mixer=%C0", "", "invalid_text", "query.mixer", 400},
		// NUL in JSON bodies, wherever it is.
		{"PATCH", "/api/v1/devices/" + dev, `{"name":"lab\u0000pc"}`, "invalid_text", "name", 400},
		{"PATCH", "/api/v1/devices/" + dev, `{"tags":["ok","\u0000"]}`, "invalid_text", "tags[1]", 400},
		{"POST", "/api/v1/agents/enroll", enroll("name", `"a\u0000"`), "invalid_text", "name", 400},
		{"POST", "/api/v1/agents/enroll", enroll("profile", `{"hostname":"h\u0000"}`), "invalid_text", "profile.hostname", 400},
		{"POST", "/api/v1/agents/enroll", enroll("profile", `{"k\u0000":1}`), "invalid_text", `profile."k\x00"`, 400},
		{"POST", "/api/v1/agents/enroll", enroll("token", `"\u0000"`), "invalid_text", "token", 400},
		{"POST", "/api/v1/devices/" + dev + "/jobs", `{"preset":"lfm2-350m","workload":{"precision":"\u0000"}}`, "invalid_text", "workload.precision", 400},
		{"POST", "/api/v1/searches", `{"name":"\u0000"}`, "invalid_text", "name", 400},
		{"POST", "/api/v1/session", `{"token":"hil_\u0000"}`, "invalid_text", "token", 400},
		{"POST", "/api/v1/agents/enroll", "{\"token\":\"" + tok + "\",\"nkey\":\"" + other.Pub + "\",\"class\":\"x86-test\",\"profile\":{\"h\":\"\xff\"}}", "invalid_text", "", 400},
		// Numbers beyond what is stored.
		{"GET", "/api/v1/searches/s1/trials/2147483648", "", "invalid_path_parameter", "number", 400},
		{"GET", "/api/v1/searches/s1/trials/9223372036854775808", "", "invalid_path_parameter", "number", 400},
		{"GET", "/api/v1/searches/s1/trials/-1", "", "invalid_path_parameter", "number", 400},
		{"GET", "/api/v1/searches/s1/export?format=json&trial=2147483648", "", "invalid_query", "trial", 400},
		{"GET", "/api/v1/searches/s1/trials?offset=9223372036854775808", "", "invalid_query", "offset", 400},
		{"GET", "/api/v1/searches/s1/trials?limit=99999999999999999999", "", "invalid_query", "limit", 400},
		{"POST", "/api/v1/devices/" + dev + "/jobs", `{"preset":"lfm2-350m","timeout_seconds":2147483648}`, "validation_failed", "timeout_seconds", 422},
		{"POST", "/api/v1/devices/" + dev + "/jobs", `{"preset":"lfm2-350m","memory_limit_bytes":9223372036854775808}`, "invalid_json", "", 400},
		{"POST", "/api/v1/enrollment-tokens", `{"ttl_seconds":9223372036854775807}`, "validation_failed", "ttl_seconds", 422},
		{"POST", "/api/v1/tokens", `{"name":"x","scope":"admin","ttl_seconds":9223372036854775807}`, "validation_failed", "ttl_seconds", 422},
	}
	for _, tc := range cases {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		code, data := c.Do(t, tc.method, tc.path, body, c.Token)
		var e api.ErrorBody
		if err := json.Unmarshal(data, &e); err != nil || code != tc.status || e.Code != tc.code {
			t.Errorf("%s %s %.80s: %d %s, want %d %s", tc.method, tc.path, tc.body, code, data, tc.status, tc.code)
			continue
		}
		if tc.field != "" && !strings.Contains(string(data), `"field":`+mustQuote(tc.field)) {
			t.Errorf("%s %s %.80s: %s does not name field %s", tc.method, tc.path, tc.body, data, tc.field)
		}
	}
	// A large offset that fits is a valid (empty) page, not an error.
	if code, data := c.Do(t, "GET", "/api/v1/searches/s1/trials?offset=9223372036854775807", nil, c.Token); code != 200 {
		t.Errorf("offset 2^63-1: %d %s", code, data)
	}
	if after := snapshot(); after != before {
		t.Fatalf("refused requests changed state:\nbefore %s\nafter  %s", before, after)
	}
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
