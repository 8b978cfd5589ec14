package search

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/workload"
)

// validJSON is a complete spec over the lfm2-like preset.
const validJSON = `{
  "name": "phone latency vs size",
  "space": {"preset": "lfm2-like"},
  "workload": {"precision": "q4_0", "threads": 4, "prompt_lengths": [512, 1024], "decode_depths": [0, 1024], "decode_length": 64},
  "targets": [{"name": "pixel", "devices": ["dev-1"]}, {"name": "ryzen", "class": "ryzen-hx370"}],
  "objectives": [
    {"metric": "decode_ms_p50@pixel", "at": 1024},
    {"metric": "prefill_tps@ryzen"},
    {"metric": "params", "direction": "maximize"}
  ],
  "constraints": [{"metric": "peak_rss_mb@pixel", "max": 800}, {"metric": "ttft_ms@ryzen", "at": 512, "max": 400}],
  "budget": {"max_trials": 200, "max_wall_time": "6h", "max_in_flight_per_device": 2},
  "algorithm": "nsga2",
  "seed": 7
}`

func TestParseValid(t *testing.T) {
	s, err := Parse([]byte(validJSON))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s.Space.Layers != (IntRange{16, 16}) || s.Space.Mixers.Conv == nil || s.Space.Mixers.SSM != nil {
		t.Errorf("preset not applied: %+v", s.Space)
	}
	if s.Space.Preset != "" {
		t.Errorf("preset name kept after applying: %q", s.Space.Preset)
	}
	if got := s.Objectives[1]; got.Direction != Maximize || got.At != 512 {
		t.Errorf("objective defaults: %+v, want maximize at 512", got)
	}
	if got := s.Objectives[0].Direction; got != Minimize {
		t.Errorf("decode direction %q", got)
	}
	if got := s.Constraints[0].At; got != 1024 {
		t.Errorf("peak_rss default at = %d, want the largest context 1024", got)
	}
	if s.NSGA2 == nil || s.NSGA2.Population != 16 || s.NSGA2.Mutation != 0.1 {
		t.Errorf("nsga2 defaults: %+v", s.NSGA2)
	}
}

func TestParsePresetOverride(t *testing.T) {
	doc := strings.Replace(validJSON, `{"preset": "lfm2-like"}`, `{"preset": "lfm2-like", "hidden": [1024, 1280]}`, 1)
	s, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Space.Hidden) != 2 || s.Space.Hidden[1] != 1280 {
		t.Errorf("override lost: %v", s.Space.Hidden)
	}
	// The preset itself is untouched.
	p, _ := SpacePreset(PresetLFM2Like)
	if len(p.Hidden) != 1 || p.Hidden[0] != 1024 {
		t.Errorf("preset mutated: %v", p.Hidden)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, from, to string
		want           string // one of the field errors, exactly
	}{
		{"unknown metric", `"prefill_tps@ryzen"`, `"foo@ryzen"`, `objectives[1].metric: unknown metric "foo"`},
		{"target not in targets", `"decode_ms_p50@pixel"`, `"decode_ms_p50@galaxy"`, `objectives[0].metric: target "galaxy" is not in targets`},
		{"params with target", `"metric": "params"`, `"metric": "params@pixel"`, `objectives[2].metric: params takes no target`},
		{"metric without target", `"prefill_tps@ryzen"`, `"prefill_tps"`, `objectives[1].metric: metric "prefill_tps" needs a target: "prefill_tps@<target>"`},
		{"at not in workload", `"at": 1024},`, `"at": 333},`, `objectives[0].at: 333 is not one of workload.decode_depths [0 1024]`},
		{"empty space", `{"preset": "lfm2-like"}`, `{"vocab": 65536, "layers": {"min": 4, "max": 8}, "hidden": [512], "mixers": {}, "ffn": {"widths": [1024]}, "params": {"max": 100000000}}`, `space.mixers: empty space: no mixer is allowed`},
		{"budget out of reach", `{"preset": "lfm2-like"}`, `{"preset": "lfm2-like", "params": {"min": 1, "max": 1000}}`, ``},
		{"unknown preset", `"lfm2-like"`, `"lfm9"`, `space.preset: unknown preset "lfm9" (known: lfm2-like, hybrid-zoo, lfm2-tiny, hybrid-tiny)`},
		{"unknown field", `"max_trials": 200`, `"max_trial": 200`, `budget: unknown field "max_trial"`},
		{"unknown nested field", `{"name": "ryzen", "class"`, `{"name": "ryzen", "klass"`, `targets[1]: unknown field "klass"`},
		{"wrong type", `"threads": 4`, `"threads": "four"`, `workload.threads: expected workload.Threads, got JSON string "four"`},
		{"unknown algorithm", `"nsga2"`, `"cmaes"`, `algorithm: unknown algorithm "cmaes" (known: random, sobol, nsga2, tpe-parego)`},
		{"bad duration", `"6h"`, `"six hours"`, `budget.max_wall_time: not a duration: "six hours"`},
		{"bad precision", `"q4_0"`, `"q3_k"`, `workload.precision: unknown precision "q3_k" (known: f32, f16, q8_0, q4_0)`},
		{"constraint without bounds", `"max": 800}`, `"at": 1024}`, `constraints[0]: give min, max or both`},
		{"duplicate target", `{"name": "ryzen"`, `{"name": "pixel"`, `targets[1].name: duplicate target "pixel"`},
		{"target selects nothing", `"class": "ryzen-hx370"`, `"class": ""`, `targets[1]: select devices, a class or tags`},
		{"trailing data", `"seed": 7
}`, `"seed": 7
} {}`, `trailing data after the JSON document`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(validJSON, c.from, c.to, 1)
			if doc == validJSON {
				t.Fatalf("test bug: %q not found", c.from)
			}
			_, err := Parse([]byte(doc))
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("err = %v, want ErrInvalidSpec", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("not a *ValidationError: %T", err)
			}
			if c.want == "" {
				if ve.Fields[0].Field != "space.params" || !strings.HasPrefix(ve.Fields[0].Message, "no candidate can meet the budget") {
					t.Fatalf("got %v", err)
				}
				return
			}
			for _, f := range ve.Fields {
				if f.Error() == c.want {
					return
				}
			}
			t.Fatalf("got %v\nwant a field error %q", err, c.want)
		})
	}
}

func TestPresetsValid(t *testing.T) {
	for _, name := range PresetNames() {
		sp, err := SpacePreset(name)
		if err != nil {
			t.Fatal(err)
		}
		s := Spec{
			Space:      sp,
			Workload:   workload.Workload{Precision: "q4_0", Threads: 1, PromptLengths: []int{128}, DecodeDepths: []int{0}, DecodeTokens: 16},
			Objectives: []Objective{{Metric: "params"}},
			Budget:     Budget{MaxTrials: 10},
			Algorithm:  AlgoRandom,
		}
		s.ApplyDefaults()
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := SpacePreset("nope"); !errors.Is(err, ErrUnknownPreset) {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestScreeningOptionsValidated(t *testing.T) {
	for _, bad := range []ScreeningOptions{{WarmupTrials: -1}, {Batch: -2}, {Batch: MaxScreenBatch + 1}, {Samples: -1}} {
		s := BenchSpec(AlgoNSGA2, 1)
		s.Screening = &bad
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "screening.") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	s := BenchSpec(AlgoNSGA2, 1)
	s.Screening = &ScreeningOptions{Off: true, Batch: 40}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestRemeasureOptionsValidated(t *testing.T) {
	for _, bad := range []RemeasureOptions{{Max: -1}, {MaxPerTrial: -1}, {MaxPerTrial: MaxRemeasurePerTrial + 1}, {Z: -1}, {Z: math.NaN()}, {Z: MaxNoiseZ + 1}} {
		s := BenchSpec(AlgoNSGA2, 1)
		s.Remeasure = &bad
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "remeasure.") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	s := BenchSpec(AlgoNSGA2, 1)
	s.Budget.MaxTrials = 45
	if o := s.RemeasureOptions(); o.Off || o.Max != 4 || o.MaxPerTrial != DefaultMaxRemeasure || o.Z != DefaultNoiseZ {
		t.Errorf("defaults: %+v", o)
	}
	s.Remeasure = &RemeasureOptions{Off: true, Max: 7, MaxPerTrial: 1, Z: 1.5}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
	if o := s.RemeasureOptions(); !o.Off || o.Max != 7 || o.MaxPerTrial != 1 || o.Z != 1.5 {
		t.Errorf("set: %+v", o)
	}
}
