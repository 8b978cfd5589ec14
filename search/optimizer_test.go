package search

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/c-bata/goptuna"
)

// benchSpec is the spec the optimizer tests and the benchmark share: the
// lfm2-like space, two stand-in targets, three objectives.
func testSpec(t testing.TB, algo Algorithm, seed int64) *Spec {
	t.Helper()
	s := BenchSpec(algo, seed)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// run drives n measured trials, asking `batch` candidates before telling
// their outcomes (as a driver with several trials in flight does). It
// returns the genomes in ask order.
func run(t testing.TB, o *Optimizer, n, batch int) []Genome {
	t.Helper()
	ev := DefaultStandIn()
	var out []Genome
	for len(out) < n {
		var cands []Candidate
		for i := 0; i < batch && len(out)+len(cands) < n; i++ {
			c, err := o.Ask(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			cands = append(cands, c)
		}
		for _, c := range cands {
			m, err := ev.Evaluate(o.Spec(), &c.Arch)
			if err != nil {
				t.Fatal(err)
			}
			res, err := o.Spec().Outcome(c.Params, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Tell(c.TrialID, res); err != nil {
				t.Fatal(err)
			}
			out = append(out, c.Genome)
		}
	}
	return out
}

func newOpt(t testing.TB, s *Spec, st goptuna.Storage) *Optimizer {
	t.Helper()
	o, err := NewOptimizer(s, st, "study")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestOptimizersOnHybridZoo runs every optimizer over the preset with
// every mixer kind, so each kind is decoded, admitted and evaluated.
func TestOptimizersOnHybridZoo(t *testing.T) {
	for _, algo := range Algorithms {
		s := testSpec(t, algo, 2)
		s.Space = mustPreset(t, PresetHybridZoo)
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		o := newOpt(t, s, goptuna.NewInMemoryStorage())
		kinds := map[string]bool{}
		for _, g := range run(t, o, 24, 2) {
			a, _ := s.Space.Decode(g)
			for _, l := range a.Layers {
				kinds[string(l.Mixer)] = true
			}
		}
		if len(kinds) != 5 {
			t.Errorf("%s: mixers seen %v, want all 5", algo, kinds)
		}
	}
}

func TestOptimizersProduceAdmissibleCandidates(t *testing.T) {
	for _, algo := range Algorithms {
		t.Run(string(algo), func(t *testing.T) {
			s := testSpec(t, algo, 1)
			o := newOpt(t, s, goptuna.NewInMemoryStorage())
			genomes := run(t, o, 40, 3)
			for _, g := range genomes {
				a, err := s.Space.Decode(g)
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Validate(); err != nil {
					t.Fatal(err)
				}
				if p, reason := s.Space.Admit(&a); reason != "" {
					t.Fatalf("inadmissible candidate handed out: %s (%d params)", reason, p)
				}
			}
			res, err := o.Results()
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 40 {
				t.Fatalf("%d results, want 40", len(res))
			}
			rej, err := o.Rejections()
			if err != nil {
				t.Fatal(err)
			}
			trials, _ := o.Study().GetTrials()
			total := 0
			for _, n := range rej {
				total += n
			}
			if total+40 != len(trials) {
				t.Fatalf("rejections %v + 40 measured != %d trials", rej, len(trials))
			}
			if algo == AlgoRandom && rej[RejectParamBudget] == 0 {
				t.Errorf("random search over lfm2-like rejected nothing for the budget; the test space is meant to exercise rejection")
			}
			for _, tr := range trials {
				if tr.State == goptuna.TrialStatePruned && tr.SystemAttrs[AttrRejected] == "" {
					t.Fatalf("pruned trial %d without a reason", tr.Number)
				}
			}
		})
	}
}

func TestNSGA2Reproducible(t *testing.T) {
	testReproducible(t, AlgoNSGA2)
}

// TestTPEParEGOReproducible: the seeded TPE makes TPE-ParEGO a function
// of its seed (past its random start-up trials too).
func TestTPEParEGOReproducible(t *testing.T) {
	testReproducible(t, AlgoTPEParEGO)
}

func testReproducible(t *testing.T, algo Algorithm) {
	a := run(t, newOpt(t, testSpec(t, algo, 42), goptuna.NewInMemoryStorage()), 60, 4)
	b := run(t, newOpt(t, testSpec(t, algo, 42), goptuna.NewInMemoryStorage()), 60, 4)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatal("same seed, different candidates")
	}
	c := run(t, newOpt(t, testSpec(t, algo, 43), goptuna.NewInMemoryStorage()), 60, 4)
	if slices.EqualFunc(a, c, slices.Equal) {
		t.Fatal("different seeds, same candidates")
	}
}

// TestNSGA2Restart stops an optimizer mid-search and continues with a new
// one over the same storage: the candidates and populations must be those
// of an uninterrupted run.
func TestNSGA2Restart(t *testing.T) {
	s := testSpec(t, AlgoNSGA2, 7)
	whole := newOpt(t, s, goptuna.NewInMemoryStorage())
	want := run(t, whole, 64, 2)
	wantPops, err := Populations(whole.Study())
	if err != nil {
		t.Fatal(err)
	}
	if len(wantPops) < 2 {
		t.Fatalf("only %d populations formed in 64 trials", len(wantPops))
	}

	st := goptuna.NewInMemoryStorage()
	first := newOpt(t, s, st)
	got := run(t, first, 30, 2)
	second := newOpt(t, s, st) // the "restarted coordinator"
	got = append(got, run(t, second, 34, 2)...)
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatal("restarted search diverged from the uninterrupted one")
	}
	gotPops, err := Populations(second.Study())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(gotPops, wantPops, slices.Equal) {
		t.Fatalf("populations differ:\n%v\n%v", gotPops, wantPops)
	}
	for _, p := range gotPops {
		if len(p) != s.NSGA2.Population {
			t.Fatalf("population of %d, want %d", len(p), s.NSGA2.Population)
		}
	}
}

func TestRandomAndSobolRestart(t *testing.T) {
	for _, algo := range []Algorithm{AlgoRandom, AlgoSobol} {
		s := testSpec(t, algo, 3)
		want := run(t, newOpt(t, s, goptuna.NewInMemoryStorage()), 20, 1)
		st := goptuna.NewInMemoryStorage()
		got := run(t, newOpt(t, s, st), 8, 1)
		got = append(got, run(t, newOpt(t, s, st), 12, 1)...)
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: restarted search diverged", algo)
		}
	}
}

func TestNSGA2PopulationIsBestOfPool(t *testing.T) {
	s := testSpec(t, AlgoNSGA2, 5)
	o := newOpt(t, s, goptuna.NewInMemoryStorage())
	run(t, o, 48, 1)
	pops, err := Populations(o.Study())
	if err != nil {
		t.Fatal(err)
	}
	res, _ := o.Results()
	byNum := map[int]Result{}
	for _, r := range res {
		byNum[r.Number] = r
	}
	// No member of the first population may be constrained-dominated by a
	// trial of its pool that was left out... unless the population is full
	// of non-dominated members. Check the weaker, exact property: every
	// left-out trial has a rank no better than the worst member's.
	gens, _ := loadGenerations(o.Study())
	pool := append([]int{}, gens[0].Pool...)
	var inds []individual
	for _, n := range pool {
		r := byNum[n]
		inds = append(inds, individual{number: n, objs: s.Minimized(r.Outcome.Values), violation: r.Outcome.Violation})
	}
	rank, _ := rankCrowding(inds)
	worstIn := 0
	for i, ind := range inds {
		if slices.Contains(pops[0], ind.number) {
			worstIn = max(worstIn, rank[i])
		}
	}
	for i, ind := range inds {
		if !slices.Contains(pops[0], ind.number) && rank[i] < worstIn {
			t.Fatalf("trial %d of rank %d left out while rank %d was kept", ind.number, rank[i], worstIn)
		}
	}
}

func TestTellErrors(t *testing.T) {
	s := testSpec(t, AlgoRandom, 1)
	o := newOpt(t, s, goptuna.NewInMemoryStorage())
	c, err := o.Ask(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Tell(c.TrialID, Outcome{Values: []float64{1}}); !errors.Is(err, ErrBadOutcome) {
		t.Errorf("short values: %v", err)
	}
	if err := o.Tell(c.TrialID, Outcome{Values: []float64{1, math.NaN(), 3}}); !errors.Is(err, ErrBadOutcome) {
		t.Errorf("NaN value: %v", err)
	}
	if err := o.Tell(c.TrialID+1000, Outcome{Values: []float64{1, 2, 3}}); !errors.Is(err, ErrUnknownTrial) {
		t.Errorf("unknown trial: %v", err)
	}
	if err := o.Fail(c.TrialID, "agent crashed"); err != nil {
		t.Fatal(err)
	}
	if err := o.Tell(c.TrialID, Outcome{Values: []float64{1, 2, 3}}); !errors.Is(err, ErrUnknownTrial) {
		t.Errorf("tell after fail: %v", err)
	}
	tr, _ := o.storage.GetTrial(c.TrialID)
	if tr.State != goptuna.TrialStateFail || tr.SystemAttrs[AttrFailed] != "agent crashed" {
		t.Errorf("failed trial: %v %v", tr.State, tr.SystemAttrs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := o.Ask(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ask with cancelled context: %v", err)
	}
}

func TestNewOptimizerDefaultsAndValidates(t *testing.T) {
	s := testSpec(t, AlgoNSGA2, 1)
	s.NSGA2 = nil // a spec built in Go without ApplyDefaults
	o, err := NewOptimizer(s, goptuna.NewInMemoryStorage(), "study")
	if err != nil {
		t.Fatal(err)
	}
	if s.NSGA2 == nil || s.NSGA2.Population != DefaultPopulation {
		t.Fatalf("defaults not applied: %+v", s.NSGA2)
	}
	if _, err := o.Ask(context.Background()); err != nil {
		t.Fatal(err)
	}
	bad := testSpec(t, AlgoRandom, 1)
	bad.Objectives[1].Metric = "foo@phone"
	if _, err := NewOptimizer(bad, goptuna.NewInMemoryStorage(), "study"); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("invalid spec: %v", err)
	}
}

func TestAskExhausted(t *testing.T) {
	s := testSpec(t, AlgoRandom, 1)
	// A budget inside the space's extremes that no candidate meets: exactly
	// LFM2-350M plus one parameter.
	s.Space.Params = Int64Range{Min: 354_483_969, Max: 354_483_969}
	o := newOpt(t, s, goptuna.NewInMemoryStorage())
	o.MaxAttempts = 20
	if _, err := o.Ask(context.Background()); !errors.Is(err, ErrSpaceExhausted) {
		t.Fatalf("err = %v", err)
	}
	rej, _ := o.Rejections()
	if rej[RejectParamBudget]+rej[RejectAttentionLayers] != 20 {
		t.Fatalf("rejections %v, want 20", rej)
	}
}

func TestScalarise(t *testing.T) {
	s := &Spec{Objectives: []Objective{{Metric: "params", Direction: Maximize}, {Metric: "decode_ms_p50@x", Direction: Minimize}}}
	res := []Result{
		{Number: 0, Outcome: Outcome{Values: []float64{100, 10}}},
		{Number: 1, Outcome: Outcome{Values: []float64{300, 30}}},
		{Number: 2, Outcome: Outcome{Values: []float64{200, 15}}},
		{Number: 3, Outcome: Outcome{Values: []float64{300, 5}, Violation: 0.5}},
	}
	got := scalarise(s, res, []float64{0.25, 0.75}, 0.1)
	// Minimised: (-100,10) (-300,30) (-200,15); normalised over feasible:
	// (1,0) (0,1) (0.5,0.25).
	want := map[int]float64{
		0: max(0.25*1, 0) + 0.1*(0.25),
		1: max(0, 0.75*1) + 0.1*(0.75),
		2: max(0.25*0.5, 0.75*0.25) + 0.1*(0.125+0.1875),
		3: 2 + 0.1 + 0.5,
	}
	for k, w := range want {
		if math.Abs(got[k]-w) > 1e-12 {
			t.Errorf("trial %d: %g, want %g", k, got[k], w)
		}
	}
}

func TestOutcomeAndReference(t *testing.T) {
	s := testSpec(t, AlgoRandom, 1)
	ev := DefaultStandIn()
	g := make(Genome, len(s.Space.Genes()))
	a, _ := s.Space.Decode(g)
	m, err := ev.Evaluate(s, &a)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Outcome(a.Params().Total, m)
	if err != nil {
		t.Fatal(err)
	}
	if out.Values[0] != float64(a.Params().Total) || out.Values[1] <= 0 || out.Values[2] <= 0 {
		t.Fatalf("outcome %+v", out)
	}
	delete(m["phone"], MetricKey{MetricDecodeP50, 4096})
	if _, err := s.Outcome(1, m); !errors.Is(err, ErrBadOutcome) {
		t.Fatalf("missing metric: %v", err)
	}
	// A bound on the same metric in the worse direction is the reference.
	mx := 25.0
	s.Constraints = append(s.Constraints, Constraint{Metric: "decode_ms_p50@phone", At: 4096, Max: &mx})
	ref := s.ReferencePoint([]Outcome{{Values: []float64{3e8, 10, 2000}}, {Values: []float64{3.5e8, 12, 1500}}})
	if ref[1] != 25 {
		t.Errorf("reference from constraint: %v", ref)
	}
	// Params maximised: nadir -3e8, range 5e7, margin 0.1.
	if math.Abs(ref[0]-(-3e8+5e6)) > 1e-3 {
		t.Errorf("reference from nadir: %v", ref)
	}
	if got := s.ReferencePoint(nil); got != nil {
		t.Errorf("reference without observations for unbounded objectives: %v", got)
	}
}
