package httpapi

import (
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

const tinySearch = `{"space":{"preset":"lfm2-like"},
 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[32],"decode_depths":[0],"decode_tokens":4},
 "targets":[{"name":"phone","devices":["d1"]}],
 "objectives":[{"metric":"decode_ms_p50@phone"},{"metric":"params","direction":"maximize"}],
 "budget":{"max_trials":4},"algorithm":"random","seed":1}`

// TestSpecCacheParsesOnce: a search's stored spec is parsed once; later
// requests get the same parsed spec without parsing (a stored spec never
// changes, so a changed body under the same ID is not even read).
func TestSpecCacheParsesOnce(t *testing.T) {
	var sc specCache
	se := api.Search{ID: "s1", Spec: []byte(tinySearch)}
	a, err := sc.get(se)
	if err != nil {
		t.Fatal(err)
	}
	se.Spec = []byte(`not json`)
	b, err := sc.get(se)
	if err != nil || b != a {
		t.Fatalf("second get: %p %v, want the cached %p", b, err, a)
	}
	if _, err := sc.get(api.Search{ID: "s2", Spec: []byte(`{}`)}); err == nil {
		t.Fatal("an invalid stored spec parsed")
	}
}
