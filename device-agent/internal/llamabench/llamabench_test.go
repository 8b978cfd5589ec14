package llamabench

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/workload"
)

func TestRunsMapTheWorkload(t *testing.T) {
	w := workload.Workload{Precision: "q4_0", KVType: "f32", Threads: 3, PromptLengths: []int{512, 64}, DecodeDepths: []int{0, 2048},
		DecodeTokens: 128, Repetitions: 4, Runtime: workload.RuntimeLlamaCpp}.Normalize()
	runs := Runs("/s/m.gguf", w)
	common := "-m /s/m.gguf -t 3 -r 4 -ctk f32 -ctv f32 -ngl 0 --load-mode none -o json"
	want := []Run{
		{What: "prefill", Args: strings.Fields(common + " -p 64,512 -n 0 -d 0 -pg 64,1 -pg 512,1")},
		{What: "decode", Args: strings.Fields(common + " -p 0 -n 128 -d 0,2048")},
	}
	if len(runs) != len(want) {
		t.Fatalf("runs %q", runs)
	}
	for i := range want {
		if runs[i].What != want[i].What || !slices.Equal(runs[i].Args, want[i].Args) {
			t.Errorf("run %d: %s %q, want %s %q", i, runs[i].What, runs[i].Args, want[i].What, want[i].Args)
		}
	}
	w.DecodeDepths = nil
	if r := Runs("m", w); len(r) != 1 || r[0].What != "prefill" {
		t.Errorf("prompt lengths only: %q", r)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"not json":   {`[{ nope`, "llama-bench JSON: invalid character"},
		"empty":      {`[]`, "no test in the output"},
		"no test":    {`[{"n_prompt":0,"n_gen":0,"samples_ns":[1]}]`, "test 0: n_prompt 0, n_gen 0, n_depth 0 is no test"},
		"no samples": {`[{"n_prompt":8,"n_gen":0}]`, "test 0 (pp8): no samples_ns"},
		"bad sample": {`[{"n_prompt":0,"n_gen":4,"n_depth":16,"samples_ns":[5,0]}]`, "test 0 (tg4 @ d16): sample of 0 ns"},
	} {
		if _, err := Parse([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
}

// TestParseRecorded reads JSON that the real llama-bench printed (see
// testdata/README.md for the build and the command).
func TestParseRecorded(t *testing.T) {
	data, err := os.ReadFile("testdata/llama-bench-d775b89.json")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ p, n, d int }{{16, 0, 0}, {16, 1, 0}, {0, 4, 0}, {0, 4, 32}}
	for _, x := range want {
		r, ok := Find(rows, x.p, x.n, x.d)
		if !ok {
			t.Errorf("no test p%d n%d d%d in %d rows", x.p, x.n, x.d, len(rows))
			continue
		}
		if len(r.SamplesNs) != 3 || len(r.SamplesTs) != 3 || r.AvgTs <= 0 || r.NThreads != 2 || r.LoadMode != "none" || r.Backends == "" || r.ModelSize <= 0 || r.ModelNParams <= 0 {
			t.Errorf("%s: %+v", r.Test(), r)
		}
		// t/s per repetition is llama-bench's (n_prompt+n_gen)·1e9/ns.
		for i, ns := range r.SamplesNs {
			if got := float64(x.p+x.n) * 1e9 / float64(ns); got/r.SamplesTs[i] < 0.999 || got/r.SamplesTs[i] > 1.001 {
				t.Errorf("%s: sample %d: %d ns gives %v t/s, llama-bench says %v", r.Test(), i, ns, got, r.SamplesTs[i])
			}
		}
	}
}
