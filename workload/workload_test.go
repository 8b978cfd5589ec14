package workload

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// TestHashIsStable pins the hash of two workloads: it keys every cached
// measurement, so a change to the type or to Normalize that changes it
// would silently orphan the measurements already stored. (The values were
// computed by the wire.Workload this type replaced.)
func TestHashIsStable(t *testing.T) {
	for want, w := range map[string]Workload{
		"f5ad8b4893f8cc2e80c7fdaea059d9c6": {Precision: "q4_0", Threads: 2, PromptLengths: []int{32}, DecodeDepths: []int{0}, DecodeTokens: 4, Repetitions: 3, MaxRepetitions: 6},
		"596b9e3f2fd7d0ac3228bd177247bff3": {Precision: "f32", Threads: 1, PromptLengths: []int{16, 8, 16}, DecodeDepths: []int{0}, DecodeTokens: 4},
	} {
		if got := w.Hash(); got != want {
			t.Errorf("%+v: hash %s, want %s", w, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	w := Workload{Precision: "f32", Threads: 1, PromptLengths: []int{16, 8, 16}, DecodeDepths: []int{4, 0}}
	n := w.Normalize()
	if n.KVType != DefaultKVType || n.Repetitions != DefaultRepetitions || n.MaxRepetitions != 3*DefaultRepetitions || n.MaxRelSpread != DefaultMaxRelSpread {
		t.Errorf("defaults: %+v", n)
	}
	if len(n.PromptLengths) != 2 || n.PromptLengths[0] != 8 || n.DecodeDepths[0] != 0 {
		t.Errorf("lengths not sorted and de-duplicated: %+v", n)
	}
	if w.PromptLengths[0] != 16 {
		t.Error("Normalize changed its receiver's slices")
	}
	if (Workload{Repetitions: 7}).Normalize().MaxRepetitions != 21 {
		t.Error("MaxRepetitions default does not follow Repetitions")
	}
	if w.Hash() != n.Hash() {
		t.Error("a workload and its normal form hash differently")
	}
}

// TestRuntimeKeysTheHash: naming the default runtime changes nothing (the
// hashes stored before the field existed stay valid), and llama.cpp is
// another cache key.
func TestRuntimeKeysTheHash(t *testing.T) {
	w := Workload{Precision: "q4_0", Threads: 2, PromptLengths: []int{32}, DecodeDepths: []int{0}, DecodeTokens: 4, Repetitions: 3, MaxRepetitions: 6}
	native, llama := w, w
	native.Runtime, llama.Runtime = RuntimeNative, RuntimeLlamaCpp
	if native.Hash() != w.Hash() || native.Hash() != "f5ad8b4893f8cc2e80c7fdaea059d9c6" {
		t.Errorf("runtime native: hash %s, want the unnamed one %s", native.Hash(), w.Hash())
	}
	if llama.Hash() == w.Hash() {
		t.Error("a llama.cpp workload hashes like the native one")
	}
	if w.RuntimeName() != RuntimeNative || native.Normalize().Runtime != "" || llama.Normalize().RuntimeName() != RuntimeLlamaCpp {
		t.Errorf("runtime names: %q %q %q", w.RuntimeName(), native.Normalize().Runtime, llama.Normalize().RuntimeName())
	}
}

func TestCheckNamesTheField(t *testing.T) {
	ok := Workload{Precision: "q8_0", Threads: 2, PromptLengths: []int{16}, DecodeDepths: []int{0, 8}, DecodeTokens: 8}
	spec := &arch.Spec{MaxContext: 64}
	cases := map[string]struct {
		mut  func(w *Workload)
		want string
	}{
		"precision":        {func(w *Workload) { w.Precision = "q3_k" }, `precision: unknown precision "q3_k" (known: f32, f16, q8_0, q4_0)`},
		"kv type":          {func(w *Workload) { w.KVType = "q4" }, `kv_type: must be f16 or f32`},
		"negative threads": {func(w *Workload) { w.Threads = -2 }, `threads: must be "auto" or at least 1, got -2`},
		"no precision":     {func(w *Workload) { w.Precision = "" }, `precision: missing (f32, f16, q8_0 or q4_0)`},
		"too many threads": {func(w *Workload) { w.Threads = 1000 }, `threads: must be at most 256`},
		"nothing":          {func(w *Workload) { w.PromptLengths, w.DecodeDepths = nil, nil }, `prompt_lengths: give prompt lengths and/or decode depths`},
		"too many lengths": {func(w *Workload) { w.PromptLengths = []int{1, 2, 3, 4, 5, 6, 7, 8, 9} }, `prompt_lengths: at most 8 values`},
		"zero length":      {func(w *Workload) { w.PromptLengths = []int{0} }, `prompt_lengths[0]: must be at least 1, got 0`},
		"duplicate depth":  {func(w *Workload) { w.DecodeDepths = []int{8, 8} }, `decode_depths[1]: duplicate value 8`},
		"negative depth":   {func(w *Workload) { w.DecodeDepths = []int{-1} }, `decode_depths[0]: must be at least 0, got -1`},
		"no decode tokens": {func(w *Workload) { w.DecodeTokens = 0 }, `decode_tokens: must be between 1 and 4096 when decode depths are given`},
		"repetitions":      {func(w *Workload) { w.Repetitions = -1 }, `repetitions: must be between 1 and 100`},
		"max repetitions":  {func(w *Workload) { w.Repetitions, w.MaxRepetitions = 5, 3 }, `max_repetitions: must be between repetitions and 100`},
		"rel spread":       {func(w *Workload) { w.MaxRelSpread = 2 }, `max_rel_spread: must be between 0 and 1`},
		"runtime":          {func(w *Workload) { w.Runtime = "onnx" }, `runtime: unknown runtime "onnx" (known: native, llama.cpp)`},
		"sustained range":  {func(w *Workload) { w.SustainedSeconds = 1201 }, `sustained_seconds: must be between 0 and 1200, got 1201`},
		"sustained depth":  {func(w *Workload) { w.SustainedSeconds, w.DecodeDepths = 60, nil }, `sustained_seconds: needs a decode depth`},
		"sustained llama":  {func(w *Workload) { w.SustainedSeconds, w.Runtime = 60, RuntimeLlamaCpp }, `sustained_seconds: only the native runtime`},
		"beyond context":   {func(w *Workload) { w.PromptLengths = []int{64} }, `prompt_lengths: the workload reaches context 65, beyond the spec's max_context 64`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := ok
			w.PromptLengths, w.DecodeDepths = append([]int{}, ok.PromptLengths...), append([]int{}, ok.DecodeDepths...)
			tc.mut(&w)
			var got []string
			w.Check(spec, func(f, m string) { got = append(got, f+": "+m) })
			if len(got) == 0 || !strings.HasPrefix(got[0], tc.want) {
				t.Fatalf("Check = %q, want one starting %q", got, tc.want)
			}
			if err := w.Validate(spec); err == nil || !strings.Contains(err.Error(), "workload."+tc.want) {
				t.Fatalf("Validate = %v, want it to name workload.%s", err, tc.want)
			}
		})
	}
	if err := ok.Validate(spec); err != nil {
		t.Fatalf("valid workload: %v", err)
	}
	if err := (Workload{Precision: "f32", Threads: 1, PromptLengths: []int{4096}}).Validate(nil); err != nil {
		t.Fatalf("without a spec, the context is not checked: %v", err)
	}
}

func TestThreadsJSON(t *testing.T) {
	for in, want := range map[string]Threads{`"auto"`: ThreadsAuto, `4`: 4, `1`: 1} {
		var w Workload
		if err := json.Unmarshal([]byte(`{"threads":`+in+`}`), &w); err != nil || w.Threads != want {
			t.Errorf("%s: %v %v, want %v", in, w.Threads, err, want)
		}
		out, _ := json.Marshal(w.Threads)
		if string(out) != in {
			t.Errorf("%v marshals as %s, want %s", want, out, in)
		}
	}
	var w Workload
	if err := json.Unmarshal([]byte(`{}`), &w); err != nil || w.Threads != ThreadsAuto {
		t.Errorf("no threads: %v %v, want auto", w.Threads, err)
	}
	for _, in := range []string{`"four"`, `2.5`, `true`, `[1]`} {
		err := json.Unmarshal([]byte(`{"threads":`+in+`}`), &w)
		var typ *json.UnmarshalTypeError
		if !errors.As(err, &typ) || typ.Field != "threads" {
			t.Errorf("%s: error %v, want a type error naming the field", in, err)
		}
	}
	for in, ok := range map[string]bool{"auto": true, "3": true, "0": false, "-1": false, "x": false, "257": false} {
		if _, err := ParseThreads(in); (err == nil) != ok {
			t.Errorf("ParseThreads(%q): %v", in, err)
		}
	}
	var bad []string
	Workload{Precision: "q4_0", Threads: -1, PromptLengths: []int{8}}.Check(nil, func(f, m string) { bad = append(bad, f+": "+m) })
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "threads: ") {
		t.Errorf("threads -1: %v", bad)
	}
	bad = nil
	Workload{Precision: "q4_0", PromptLengths: []int{8}}.Check(nil, func(f, m string) { bad = append(bad, f+": "+m) })
	if len(bad) != 0 {
		t.Errorf("threads auto: %v", bad)
	}
}
