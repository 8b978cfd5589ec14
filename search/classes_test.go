package search

import (
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/hilsearch/hilsearch/search/pareto"
)

var (
	updateExact = flag.Bool("update-exact", false, "rewrite testdata/exact_front_lfm2-like.json from the enumeration")
	exhaustive  = flag.Bool("exhaustive", false, "check the exact front against every genome of lfm2-like (slow: 2.6M decodes)")
)

func TestClassesCountAndCanonicalMembers(t *testing.T) {
	for preset, want := range map[string]int{PresetLFM2Tiny: 162, PresetLFM2Like: 248} {
		s := BenchSpec(AlgoRandom, 0)
		s.Space = mustPreset(t, preset)
		s.ApplyDefaults()
		cs, err := s.Space.Classes()
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != want {
			t.Errorf("%s: %d classes, want %d", preset, len(cs), want)
		}
		keys := map[string]bool{}
		for _, c := range cs {
			if keys[c.Key] {
				t.Errorf("%s: duplicate class %s", preset, c.Key)
			}
			keys[c.Key] = true
			a, err := s.Space.Decode(c.Genome)
			if err != nil || a.Hash() != c.Canonical.Hash() || ClassKey(&a) != c.Key {
				t.Errorf("%s: class %s: genome does not decode to its canonical member", preset, c.Key)
			}
		}
	}
	hz := mustPreset(t, PresetHybridZoo)
	if _, err := hz.Classes(); err == nil {
		t.Error("per-layer FFN space enumerated")
	}
}

// TestAnalyticStandInIsOrderInvariant checks the premise of the exact
// front: permuting a network's layers changes none of its stand-in values.
func TestAnalyticStandInIsOrderInvariant(t *testing.T) {
	s := BenchSpec(AlgoRandom, 0)
	s.Space = mustPreset(t, PresetHybridTiny)
	s.Targets = []Target{{Name: "phone", Class: "x"}}
	s.Objectives = []Objective{{Metric: "params"}}
	s.Workload = ReplayWorkload()
	s.ApplyDefaults()
	ev := DefaultStandIn()
	r := rand.New(rand.NewPCG(5, 5))
	for _, a := range randomSpecs(t, PresetHybridTiny, 30, 11) {
		want, err := ev.Evaluate(s, &a)
		if err != nil {
			t.Fatal(err)
		}
		b := a
		b.Layers = slices.Clone(a.Layers)
		r.Shuffle(len(b.Layers), func(i, j int) { b.Layers[i], b.Layers[j] = b.Layers[j], b.Layers[i] })
		if ClassKey(&a) != ClassKey(&b) {
			t.Fatalf("class key depends on order")
		}
		got, _ := ev.Evaluate(s, &b)
		for k, v := range want["phone"] {
			if g := got["phone"][k]; math.Abs(g/v-1) > 1e-12 {
				t.Errorf("%s: %g after shuffling, %g before", k, g, v)
			}
		}
	}
}

type exactFrontFile struct {
	Space       string      `json:"space"`
	Classes     int         `json:"classes"`
	Front       [][]float64 `json:"front"`
	Reference   []float64   `json:"reference"`
	Hypervolume float64     `json:"hypervolume"`
}

// TestExactFrontGolden compares the exact front of the analytic benchmark
// with the cached one (go test ./search -run ExactFront -update-exact
// rewrites it; -exhaustive also checks it against every genome).
func TestExactFrontGolden(t *testing.T) {
	s := BenchSpec(AlgoRandom, 0)
	front, n, err := ExactFront(s, DefaultStandIn())
	if err != nil {
		t.Fatal(err)
	}
	ref := pareto.NadirReference(front, 0.1)
	got := exactFrontFile{Space: PresetLFM2Like, Classes: n, Front: front, Reference: ref, Hypervolume: pareto.Hypervolume(front, ref)}
	const path = "testdata/exact_front_lfm2-like.json"
	if *updateExact {
		raw, _ := json.MarshalIndent(got, "", " ")
		if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./search -run ExactFront -update-exact writes it)", err)
	}
	var want exactFrontFile
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if want.Classes != got.Classes || len(want.Front) != len(got.Front) || math.Abs(want.Hypervolume/got.Hypervolume-1) > 1e-12 {
		t.Errorf("exact front changed: %d classes, %d points, HV %g; cached %d, %d, %g (rerun with -update-exact if intended)",
			got.Classes, len(got.Front), got.Hypervolume, want.Classes, len(want.Front), want.Hypervolume)
	}
	if *exhaustive {
		checkExhaustive(t, s, front)
	}
}

// checkExhaustive evaluates every genome of the space (layer slots and
// globals) and checks that their front is the class enumeration's.
func checkExhaustive(t *testing.T, s *Spec, want [][]float64) {
	genes := s.Space.Genes()
	ev := DefaultStandIn()
	g := make(Genome, len(genes))
	var pts [][]float64
	var rec func(i int)
	rec = func(i int) {
		if i == len(genes) {
			a, err := s.Space.Decode(g)
			if err != nil {
				t.Fatal(err)
			}
			params, reason := s.Space.Admit(&a)
			if reason != "" {
				return
			}
			m, _ := ev.Evaluate(s, &a)
			out, _ := s.Outcome(params, m)
			pts = append(pts, s.Minimized(out.Values))
			if len(pts) > 4096 {
				pts = nonDominated(pts)
			}
			return
		}
		for c := range genes[i].Choices {
			g[i] = c
			rec(i + 1)
		}
	}
	rec(0)
	got := nonDominated(pts)
	slices.SortFunc(got, slices.Compare)
	got = slices.CompactFunc(got, slices.Equal)
	if len(got) != len(want) {
		t.Fatalf("exhaustive front has %d points, the class enumeration %d", len(got), len(want))
	}
	for i := range got {
		for j := range got[i] {
			if math.Abs(got[i][j]-want[i][j]) > 1e-9*math.Max(1, math.Abs(want[i][j])) {
				t.Fatalf("exhaustive front point %d = %v, enumeration %v", i, got[i], want[i])
			}
		}
	}
}
