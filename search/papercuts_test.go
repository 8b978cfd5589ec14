package search

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// fieldMessages returns Parse's field errors as "field: message" lines.
func fieldMessages(t *testing.T, doc string) []string {
	t.Helper()
	_, err := Parse([]byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse(%s): %v, want a *ValidationError", doc, err)
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field+": "+f.Message)
	}
	return out
}

func TestTruncatedJSONHasLineAndColumn(t *testing.T) {
	doc := validJSON[:strings.Index(validJSON, `"budget"`)+10]
	msgs := fieldMessages(t, doc)
	lines := strings.Count(doc, "\n") + 1
	want := "malformed JSON at line " + strconv.Itoa(lines) + ", column "
	if len(msgs) != 1 || !strings.Contains(msgs[0], want) || !strings.Contains(msgs[0], "unexpected end") {
		t.Fatalf("truncated JSON: %q, want one error with %q", msgs, want)
	}
	// A syntax error in the middle names its line too.
	bad := strings.Replace(validJSON, `"threads": 4,`, `"threads": 4,,`, 1)
	msgs = fieldMessages(t, bad)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "line 4, column ") {
		t.Fatalf("syntax error: %q, want line 4", msgs)
	}
}

// TestMinimalSpec: an empty or almost empty spec gets defaults where there
// are sensible ones and one "missing" line per missing part, never
// `unknown … ""` or a cascade of per-field errors.
func TestMinimalSpec(t *testing.T) {
	msgs := fieldMessages(t, `{}`)
	want := []string{"space: missing", "workload: missing", "objectives: missing", "budget.max_trials: missing"}
	if len(msgs) != len(want) {
		t.Fatalf("{}: %d errors, want %d: %q", len(msgs), len(want), msgs)
	}
	for i, w := range want {
		if !strings.HasPrefix(msgs[i], w) {
			t.Errorf("{} error %d: %q, want %q…", i, msgs[i], w)
		}
	}
	for _, m := range msgs {
		if strings.Contains(m, `""`) {
			t.Errorf("error quotes an empty value: %q", m)
		}
	}
	// With those given, the rest defaults: the algorithm is nsga2.
	s, err := Parse([]byte(`{"space":{"preset":"lfm2-tiny"},
		"workload":{"precision":"f32","threads":1,"prompt_lengths":[16],"decode_depths":[0],"decode_tokens":4},
		"objectives":[{"metric":"params"}],"budget":{"max_trials":3}}`))
	if err != nil {
		t.Fatalf("minimal complete spec: %v", err)
	}
	if s.Algorithm != DefaultAlgorithm || s.NSGA2 == nil || s.NSGA2.Population != DefaultPopulation {
		t.Fatalf("algorithm defaults: %q %+v", s.Algorithm, s.NSGA2)
	}
	// A workload missing its lists says so once per list.
	msgs = fieldMessages(t, `{"space":{"preset":"lfm2-tiny"},"workload":{"precision":"f32","threads":1},
		"objectives":[{"metric":"params"}],"budget":{"max_trials":3}}`)
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0], "workload.prompt_lengths: missing") || !strings.HasPrefix(msgs[1], "workload.decode_depths: missing") {
		t.Fatalf("workload without lists: %q", msgs)
	}
	msgs = fieldMessages(t, `{"space":{"preset":"lfm2-tiny"},"workload":{"prompt_lengths":[16],"decode_depths":[0],"decode_tokens":4},
		"objectives":[{"metric":"params"}],"budget":{"max_trials":3}}`)
	// Threads default to "auto" (issue 15): only the precision is missing.
	if len(msgs) != 1 || msgs[0] != "workload.precision: missing (f32, f16, q8_0 or q4_0)" {
		t.Fatalf("workload without precision and threads: %q", msgs)
	}
}

// TestUnknownMetricOneError: an unknown metric is one error, without a
// second one about the direction it could not default.
func TestUnknownMetricOneError(t *testing.T) {
	doc := strings.Replace(validJSON, `"decode_ms_p50@pixel"`, `"latency@pixel"`, 1)
	msgs := fieldMessages(t, doc)
	if len(msgs) != 1 || msgs[0] != `objectives[0].metric: unknown metric "latency"` {
		t.Fatalf("unknown metric: %q", msgs)
	}
	// A bad direction on a known metric is still reported.
	doc = strings.Replace(validJSON, `"direction": "maximize"`, `"direction": "up"`, 1)
	if msgs := fieldMessages(t, doc); len(msgs) != 1 || !strings.HasPrefix(msgs[0], "objectives[2].direction:") {
		t.Fatalf("bad direction: %q", msgs)
	}
}
