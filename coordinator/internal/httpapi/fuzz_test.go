package httpapi_test

// Fuzz tests for every request decoder: each JSON body the API accepts
// (enrollment, sign-in, enrollment tokens, device patches, jobs, search
// specs, API tokens) and the path and query parameters. They run the real
// handlers against a real coordinator (PostgreSQL, embedded NATS), so what
// PostgreSQL refuses is found too, and assert that no input gives a 5xx
// other than 503 (a panic in a handler is answered 500 by the recovery
// middleware, so it fails too) and that every error is a catalogue error.
//
// Without -fuzz they run their seeds as ordinary tests. To fuzz one:
//
//	go test -run '^$' -fuzz '^FuzzEnroll$' -fuzztime 20s ./coordinator/internal/httpapi/

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/httpapi"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// fuzzEnv is one coordinator per fuzzing process, with an enrolled device
// and a synthetic search to aim requests at.
type fuzzEnv struct {
	c     *testenv.Coordinator
	h     http.Handler
	dev   string
	codes map[string]bool
	mu    sync.Mutex // serialises requests that consume shared state
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	c := testenv.Start(f, nil)
	a := testenv.NewAgent(f)
	a.Enroll(f, c, "x86-test")
	testenv.Exec(f, c.DSN, `INSERT INTO searches (id, name, spec, study) VALUES ('s1', 'synthetic', '{}', 'study-s1')`)
	e := &fuzzEnv{c: c, h: c.App.HTTP.Handler(), dev: a.Resp.DeviceID, codes: map[string]bool{}}
	for _, ce := range httpapi.Catalogue {
		e.codes[ce.Code] = true
	}
	return e
}

// expand replaces the placeholders of a fuzzed body: @DEV@ (the enrolled
// device), @ADMIN@ (the admin token), @TOKEN@ (a fresh enrollment token),
// @NKEY@ (a fresh NKey), so that fuzzed requests get past authentication
// and reach the database.
func (e *fuzzEnv) expand(t *testing.T, body []byte) []byte {
	body = bytes.ReplaceAll(body, []byte("@DEV@"), []byte(e.dev))
	body = bytes.ReplaceAll(body, []byte("@ADMIN@"), []byte(e.c.Token))
	if bytes.Contains(body, []byte("@TOKEN@")) {
		code, data := e.do(t, "POST", "/api/v1/enrollment-tokens", nil)
		var tok api.EnrollmentToken
		if err := json.Unmarshal(data, &tok); code != http.StatusCreated || err != nil {
			t.Fatalf("enrollment token: %d %s", code, data)
		}
		body = bytes.ReplaceAll(body, []byte("@TOKEN@"), []byte(tok.Token))
	}
	if bytes.Contains(body, []byte("@NKEY@")) {
		body = bytes.ReplaceAll(body, []byte("@NKEY@"), []byte(testenv.NewAgent(t).Pub))
	}
	return body
}

// do serves one request in-process with the admin token and checks the
// answer: no 5xx but 503, and every error a catalogue error.
func (e *fuzzEnv) do(t *testing.T, method, target string, body []byte) (int, []byte) {
	t.Helper()
	var r *http.Request
	var err error
	if body != nil {
		r, err = http.NewRequest(method, "http://coordinator"+target, bytes.NewReader(body))
	} else {
		// A server request always has a body; without one it is empty.
		r, err = http.NewRequest(method, "http://coordinator"+target, http.NoBody)
	}
	if err != nil {
		return 0, nil // not a request a client can send
	}
	r.RemoteAddr = "127.0.0.1:1"
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+e.c.Token)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	code, data := w.Code, w.Body.Bytes()
	if code >= 500 && code != http.StatusServiceUnavailable {
		t.Fatalf("%s %s %q: %d %s", method, target, body, code, data)
	}
	if code >= 400 {
		var eb api.ErrorBody
		if err := json.Unmarshal(data, &eb); err != nil || !e.codes[eb.Code] || eb.Message == "" {
			t.Fatalf("%s %s %q: %d with a body that is not a catalogue error: %s", method, target, body, code, data)
		}
	}
	return code, data
}

// seeds adds bodies to the corpus: valid ones and the kinds that used to
// give 500 (NUL characters, invalid UTF-8, numbers beyond PostgreSQL's).
func seeds(f *testing.F, bodies ...string) {
	for _, b := range bodies {
		f.Add([]byte(b))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte("{\"name\":\"\xff\xfe\"}"))
	f.Add([]byte(`{"name":"\u0000"}`))
}

func FuzzEnroll(f *testing.F) {
	e := newFuzzEnv(f)
	seeds(f,
		`{"token":"@TOKEN@","nkey":"@NKEY@","class":"x86-test","name":"n1","tags":["lab"],"profile":{"hostname":"h","cpu":{"model":"m","logical_cores":8}}}`,
		`{"token":"@TOKEN@","nkey":"@NKEY@","class":"x86-test","profile":{"hostname":"h\u0000"}}`,
		`{"token":"@TOKEN@","nkey":"@NKEY@","class":"x86-test","name":"a\u0000b"}`,
		`{"token":"@TOKEN@","nkey":"@NKEY@","class":"x86-test","profile":{"n":1e400}}`,
		`{"token":"@TOKEN@","nkey":"@NKEY@","class":"x86-test","profile":{"n":123456789012345678901234567890}}`,
		`{"token":"@TOKEN@","nkey":"@NKEY@","class":"x86-test","tags":["a","a"]}`,
		`{"token":"@TOKEN@","nkey":"@NKEY@","class":"X"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.mu.Lock()
		defer e.mu.Unlock()
		code, data := e.do(t, "POST", "/api/v1/agents/enroll", e.expand(t, body))
		if code == http.StatusCreated {
			// Revoke it again, so fuzzing does not pile up NATS consumers.
			var r struct {
				DeviceID string `json:"device_id"`
			}
			if err := json.Unmarshal(data, &r); err != nil || r.DeviceID == "" {
				t.Fatalf("enrolled: %s", data)
			}
			e.do(t, "DELETE", "/api/v1/devices/"+r.DeviceID, nil)
		}
	})
}

func FuzzSignIn(f *testing.F) {
	e := newFuzzEnv(f)
	seeds(f, `{"token":"@ADMIN@"}`, `{"token":"hil_unknown_unknown_unknown"}`, `{"token":""}`, `{"token":"@ADMIN@\u0000"}`, `{"token":5}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.do(t, "POST", "/api/v1/session", e.expand(t, body))
	})
}

func FuzzEnrollmentTokenRequest(f *testing.F) {
	e := newFuzzEnv(f)
	seeds(f, `{"ttl_seconds":3600}`, `{"ttl_seconds":59}`, `{"ttl_seconds":9223372036854775807}`, `{"ttl_seconds":-9223372036854775808}`, `{"ttl_seconds":1e30}`, `{"ttl_seconds":null}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.do(t, "POST", "/api/v1/enrollment-tokens", body)
	})
}

func FuzzDevicePatch(f *testing.F) {
	e := newFuzzEnv(f)
	seeds(f, `{"name":"pixel 8"}`, `{"tags":["phone","sd8g3"]}`, `{"name":"x\u0000"}`, `{"tags":["\u0000"]}`, `{"name":" lead"}`, `{"name":"`+strings.Repeat("é", 101)+`"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.do(t, "PATCH", "/api/v1/devices/"+e.dev, body)
	})
}

func FuzzJobRequest(f *testing.F) {
	e := newFuzzEnv(f)
	seeds(f,
		`{"preset":"lfm2-350m","workload":{"precision":"q8_0","threads":1,"prompt_lengths":[16],"decode_depths":[0],"decode_tokens":8}}`,
		`{"preset":"lfm2-350m","timeout_seconds":2147483648}`,
		`{"preset":"lfm2-350m","memory_limit_bytes":9223372036854775807}`,
		`{"preset":"lfm2-350m","workload":{"threads":2147483648}}`,
		`{"preset":"lfm2-350m","workload":{"prompt_lengths":[9223372036854775807]}}`,
		`{"spec":{"vocab":256,"hidden":64,"layers":[{"mixer":{"type":"conv","kernel":3},"ffn":128}]},"workload":{"threads":1}}`,
		`{"spec":{"vocab":1e400}}`,
		`{"preset":"\u0000"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.do(t, "POST", "/api/v1/devices/"+e.dev+"/jobs", body)
	})
}

// searchSeed is a valid search spec for the enrolled device.
const searchSeed = `{"name":"fuzz","space":{"preset":"lfm2-like","hidden":[64],"vocab":256,"layers":{"min":2,"max":3},"params":{"min":1,"max":100000000}},
"workload":{"precision":"q8_0","threads":1,"prompt_lengths":[16],"decode_depths":[0],"decode_tokens":8},
"targets":[{"name":"here","devices":["@DEV@"]}],"objectives":[{"metric":"decode_ms_p50@here"},{"metric":"params","direction":"maximize"}],
"budget":{"max_trials":2},"algorithm":"random","seed":7}`

func FuzzSearchSpec(f *testing.F) {
	e := newFuzzEnv(f)
	seeds(f, searchSeed,
		strings.Replace(searchSeed, `"name":"fuzz"`, `"name":"f\u0000"`, 1),
		strings.Replace(searchSeed, `"max_trials":2`, `"max_trials":9223372036854775807`, 1),
		strings.Replace(searchSeed, `"max_trials":2`, `"max_trials":2147483648`, 1),
		strings.Replace(searchSeed, `"seed":7`, `"seed":18446744073709551615`, 1),
		strings.Replace(searchSeed, `"hidden":[64]`, `"hidden":[2147483648]`, 1),
		strings.Replace(searchSeed, `"@DEV@"`, `"d\u0000"`, 1),
		strings.Replace(searchSeed, `"class"`, `"cl\u0000ss"`, 1),
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		body = e.expand(t, body)
		e.do(t, "POST", "/api/v1/searches/validate", body)
		code, data := e.do(t, "POST", "/api/v1/searches", body)
		if code == http.StatusCreated {
			// Stop it at once: fuzzing checks the decoder, not the driver.
			var se api.Search
			if err := json.Unmarshal(data, &se); err != nil {
				t.Fatal(err)
			}
			e.do(t, "POST", "/api/v1/searches/"+se.ID+"/cancel", nil)
		}
	})
}

func FuzzTokenRequest(f *testing.F) {
	e := newFuzzEnv(f)
	seeds(f, `{"name":"ci","scope":"read-only"}`, `{"name":"ci","scope":"enroll-only","ttl_seconds":0}`, `{"name":"ci","scope":"admin","ttl_seconds":315360000}`,
		`{"name":"ci","scope":"admin","ttl_seconds":315360001}`, `{"name":"c\u0000i","scope":"admin"}`, `{"name":"ci","scope":"adm\u0000in"}`, `{"name":"ci","scope":"root"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.do(t, "POST", "/api/v1/tokens", body)
	})
}

// FuzzParams fuzzes path and query parameters of the read routes (and a
// state change of the synthetic search).
func FuzzParams(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range []struct {
		route uint8
		v, q  string
	}{
		{0, "d0000", ""}, {0, "\x00", ""}, {0, "\xff", ""}, {1, "job-1", ""}, {2, "s1", ""}, {3, "0", ""},
		{3, "2147483648", ""}, {3, "-1", ""}, {3, "99999999999999999999", ""}, {4, "", "state=complete&limit=5&offset=9223372036854775807"},
		{4, "", "offset=9223372036854775808"}, {4, "", "sort=-objective:99999999999999999999"}, {4, "", "mixer=%00"}, {5, "", "format=json&trial=2147483648"},
		{5, "", "format=gguf&trial=0&precision=%ff"}, {6, "", "class=x86-test&tag=lab&include_revoked=true"}, {6, "", "class=%00"}, {7, "s1", ""},
	} {
		f.Add(s.route, s.v, s.q)
	}
	routes := []func(v, q string) (string, string){
		func(v, q string) (string, string) { return "GET", "/api/v1/devices/" + v },
		func(v, q string) (string, string) { return "GET", "/api/v1/jobs/" + v },
		func(v, q string) (string, string) { return "GET", "/api/v1/searches/" + v },
		func(v, q string) (string, string) { return "GET", "/api/v1/searches/s1/trials/" + v },
		func(v, q string) (string, string) { return "GET", "/api/v1/searches/s1/trials?" + q },
		func(v, q string) (string, string) { return "GET", "/api/v1/searches/s1/export?" + q },
		func(v, q string) (string, string) { return "GET", "/api/v1/devices?" + q },
		func(v, q string) (string, string) { return "POST", "/api/v1/searches/" + v + "/pause" },
	}
	f.Fuzz(func(t *testing.T, route uint8, v, q string) {
		method, target := routes[int(route)%len(routes)](escapePath(v), q)
		e.do(t, method, target, nil)
	})
}

// escapePath percent-encodes every byte that is not unreserved, so any
// string becomes one path segment.
func escapePath(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
