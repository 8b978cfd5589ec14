package searchcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchJSON(t *testing.T) {
	var out, errb bytes.Buffer
	// Screening starts after 20 measured trials, so 22 covers both phases.
	code := Main(context.Background(), []string{"bench", "--json", "-q", "-seeds", "1", "-evals", "5,22"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got map[string]map[string]float64
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(got) != 8 {
		t.Errorf("%d runs, want 4 algorithms with and without screening: %v", len(got), got)
	}
	for _, a := range []string{"random", "sobol", "nsga2", "tpe-parego"} {
		for _, run := range []string{a, a + "+screened"} {
			m, ok := got[run]
			if !ok || len(m) != 2 {
				t.Fatalf("%s: %v", run, got)
			}
			if !(m["5"] >= 0 && m["5"] <= m["22"] && m["22"] <= 1) {
				t.Errorf("%s: fractions %v not in [0, 1] and non-decreasing", run, m)
			}
		}
		// Before screening starts a screened run is the plain run.
		if got[a]["5"] != got[a+"+screened"]["5"] && a != "tpe-parego" {
			t.Errorf("%s: after 5 trials %g unscreened, %g screened", a, got[a]["5"], got[a+"+screened"]["5"])
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-algorithms", "cmaes"},
		{"bench", "-evals", "ten"},
		{"bench", "-seeds", "0"},
		{"bench", "-standin", "phone"},
		{"bench", "-screening", "sometimes"},
		{"frobnicate"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if !strings.Contains(errb.String(), "hil search") {
			t.Errorf("%v: stderr %q does not name the command", args, errb.String())
		}
	}
}
