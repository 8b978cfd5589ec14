package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

func TestErrorDecoding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"field list", 400, `{"code":"search_invalid","message":"the search spec is invalid","details":[{"field":"objectives[0].metric","message":"unknown metric \"x\""},{"field":"budget","message":"unknown field \"max_trial\""}]}`,
			"the search spec is invalid (search_invalid)\n  objectives[0].metric: unknown metric \"x\"\n  budget: unknown field \"max_trial\""},
		{"one field", 400, `{"code":"invalid_query","message":"a query parameter has an invalid value","details":{"field":"sort","message":"bad"}}`,
			"a query parameter has an invalid value (invalid_query)\n  sort: bad"},
		{"string details", 422, `{"code":"not_exportable","message":"cannot export","details":"hf config: gqa head_dim"}`,
			"cannot export (not_exportable): hf config: gqa head_dim"},
		{"state conflict", 409, `{"code":"search_state_conflict","message":"state","details":{"state":"finished","allowed_from":["running","paused"]}}`,
			`the search is finished; this is possible only while it is running or paused (search_state_conflict)`},
		{"object details", 409, `{"code":"other_conflict","message":"state","details":{"state":"finished"}}`,
			`state (other_conflict): {"state":"finished"}`},
		{"no details", 404, `{"code":"search_not_found","message":"no search has this ID"}`,
			"no search has this ID (search_not_found)"},
		{"not JSON", 502, "bad gateway\n", "bad gateway (502)"},
		{"empty", 503, "", "Service Unavailable (503)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := New(srv.URL, "tok")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetSearch(context.Background(), "s1")
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status {
				t.Fatalf("error %v (%T)", err, err)
			}
			if err.Error() != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", err, tc.want)
			}
			if errors.Is(err, ErrNotFound) != (tc.status == 404) {
				t.Fatalf("errors.Is(ErrNotFound) wrong for %d", tc.status)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, fmt.Sprintf("%s %s %s %q %s", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body))
		w.Header().Set("Content-Disposition", `attachment; filename="../../etc/x-trial-3.json"`)
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/prefix/", "tok")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = c.CreateSearch(ctx, []byte(`{"a":1}`))
	_, _ = c.ListTrials(ctx, "s 1", api.TrialQuery{State: "complete", Sort: "-objective:0", Limit: 5, Offset: 10})
	_, _ = c.CancelSearch(ctx, "s1")
	_, _ = c.GetSearch(ctx, "../devices")
	var sb strings.Builder
	name, err := c.Export(ctx, "s1", api.ExportQuery{Format: "gguf", Trial: 3, Precision: "q4_0"}, &sb)
	if err != nil || name != "x-trial-3.json" || sb.String() != "{}" {
		t.Fatalf("export: %q %q %v", name, sb.String(), err)
	}
	want := []string{
		`POST /prefix/api/v1/searches Bearer tok "application/json" {"a":1}`,
		`GET /prefix/api/v1/searches/s%201/trials?limit=5&offset=10&sort=-objective%3A0&state=complete Bearer tok "" `,
		`POST /prefix/api/v1/searches/s1/cancel Bearer tok "" `,
		`GET /prefix/api/v1/searches/..%2Fdevices Bearer tok "" `,
		`GET /prefix/api/v1/searches/s1/export?format=gguf&precision=q4_0&trial=3 Bearer tok "" `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []string{"ftp://x", "http://", "::"} { // "127.0.0.1:8080" means http://127.0.0.1:8080 (TestURLWithoutScheme)
		if _, err := New(bad, ""); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestEvents(t *testing.T) {
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": connected\n\n"+
			"id: 7\nevent: trial\ndata: {\"search_id\":\"s1\",\"number\":3,\"state\":\"complete\"}\n\n"+
			": keepalive\r\n\r\n"+
			"id: 8\r\nevent: search\r\ndata: {\"id\":\"s1\",\r\ndata: \"state\":\"finished\"}\r\n\r\n"+
			"data: {}\n\n"+
			"id: 9\nevent: tri")
	}))
	defer srv.Close()
	c, _ := New(srv.URL, "")
	st, err := c.Events(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []string
	for {
		e, err := st.Next()
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("a stream cut mid-event: %v, want ErrUnexpectedEOF", err)
			}
			break
		}
		got = append(got, e.ID+"|"+e.Type+"|"+string(e.Data))
	}
	want := []string{
		`7|trial|{"search_id":"s1","number":3,"state":"complete"}`,
		"8|search|{\"id\":\"s1\",\n\"state\":\"finished\"}",
		`|message|{}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	st2, err := c.Events(context.Background(), "8")
	if err != nil {
		t.Fatal(err)
	}
	st2.Close()
	if len(lastIDs) != 2 || lastIDs[0] != "" || lastIDs[1] != "8" {
		t.Fatalf("Last-Event-ID headers %q", lastIDs)
	}
}

// TestNoTokenHint: a 401 to a request sent without a token says how to
// give one; with a token the answer is left as it is.
func TestNoTokenHint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, `{"code":"unauthorized","message":"missing or invalid token"}`)
	}))
	defer srv.Close()
	for _, tok := range []string{"", "hil_wrong"} {
		c, err := New(srv.URL, tok)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetSearch(context.Background(), "s1")
		hinted := err != nil && strings.Contains(err.Error(), "HIL_TOKEN") && strings.Contains(err.Error(), "--token")
		if hinted != (tok == "") {
			t.Errorf("token %q: %v", tok, err)
		}
	}
}

// TestURLWithoutScheme: host:port means http://host:port; other bad URLs
// are clear errors.
func TestURLWithoutScheme(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080":         "http://127.0.0.1:8080",
		"localhost:8080":         "http://localhost:8080",
		"coordinator.lan":        "http://coordinator.lan",
		"https://hil.example/x/": "https://hil.example/x",
	} {
		c, err := New(in, "")
		if err != nil || c.base.String() != want {
			t.Errorf("New(%q) = %v, %v; want %s", in, c, err, want)
		}
	}
	for _, in := range []string{"ftp://host", "http://", "http://a b"} {
		if _, err := New(in, ""); err == nil || !strings.Contains(err.Error(), "coordinator URL") {
			t.Errorf("New(%q): %v", in, err)
		}
	}
}
