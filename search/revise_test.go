package search

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/c-bata/goptuna"
)

// revisable is goptuna's InMemoryStorage with a Reviser: revisions are
// kept beside the trials and laid over them on every read the optimizers
// make (GetTrial, GetAllTrials). The PostgreSQL storage's ReviseTrial is
// tested in studystore.
type revisable struct {
	*goptuna.InMemoryStorage
	mu     sync.Mutex
	rev    map[int]revision
	writes int
}

type revision struct {
	value float64
	attrs map[string]string
}

func newRevisable() *revisable {
	return &revisable{InMemoryStorage: goptuna.NewInMemoryStorage(), rev: map[int]revision{}}
}

func (r *revisable) ReviseTrial(id int, value float64, attrs map[string]string) error {
	t, err := r.InMemoryStorage.GetTrial(id)
	if err != nil {
		return goptuna.ErrInvalidTrialID
	}
	if t.State != goptuna.TrialStateComplete {
		return goptuna.ErrTrialCannotBeUpdated
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	merged := maps.Clone(r.rev[id].attrs)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, attrs)
	r.rev[id] = revision{value, merged}
	r.writes++
	return nil
}

func (r *revisable) overlay(t goptuna.FrozenTrial) goptuna.FrozenTrial {
	r.mu.Lock()
	defer r.mu.Unlock()
	rv, ok := r.rev[t.ID]
	if !ok {
		return t
	}
	t.Value = rv.value
	t.SystemAttrs = maps.Clone(t.SystemAttrs)
	maps.Copy(t.SystemAttrs, rv.attrs)
	return t
}

func (r *revisable) GetTrial(id int) (goptuna.FrozenTrial, error) {
	t, err := r.InMemoryStorage.GetTrial(id)
	if err != nil {
		return t, err
	}
	return r.overlay(t), nil
}

func (r *revisable) GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error) {
	ts, err := r.InMemoryStorage.GetAllTrials(studyID)
	if err != nil {
		return nil, err
	}
	out := make([]goptuna.FrozenTrial, len(ts))
	for i, t := range ts {
		out[i] = r.overlay(t)
	}
	return out, nil
}

// extreme returns an outcome that dominates every result (better by the
// objectives' range in each), or, with worse, one that every result
// dominates and that violates the constraints more than any: off the
// front under constrained domination.
func extreme(s *Spec, res []Result, worse bool) Outcome {
	k := len(s.Objectives)
	lo, hi := make([]float64, k), make([]float64, k)
	maxViol := 0.0
	for i := range lo {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	for _, r := range res {
		for i, y := range s.Minimized(r.Outcome.Values) {
			lo[i], hi[i] = min(lo[i], y), max(hi[i], y)
		}
		maxViol = max(maxViol, r.Outcome.Violation)
	}
	out := Outcome{Values: make([]float64, k)}
	for i := range out.Values {
		y := lo[i] - (hi[i] - lo[i]) - 1
		if worse {
			y = hi[i] + (hi[i] - lo[i]) + 1
		}
		if s.Objectives[i].Direction == Maximize {
			y = -y
		}
		out.Values[i] = y
	}
	if worse {
		out.Violation = maxViol + 1
	}
	return out
}

// lastComplete returns the complete trial with the highest number.
func lastComplete(t *testing.T, o *Optimizer) goptuna.FrozenTrial {
	t.Helper()
	trials, err := o.Study().GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(trials) - 1; i >= 0; i-- {
		if trials[i].State == goptuna.TrialStateComplete {
			return trials[i]
		}
	}
	t.Fatal("no complete trial")
	return goptuna.FrozenTrial{}
}

// TestReviseEqualsTellingTheRevisedOutcome: an optimizer told a trial's
// first outcome and then revised to x proposes exactly what one told x in
// the first place proposes, and differs from one that kept the first
// outcome (so the outcome matters to the proposals tested).
func TestReviseEqualsTellingTheRevisedOutcome(t *testing.T) {
	const before, after = 20, 24 // NSGA-II: the revised trial enters the second population (32 complete)
	for _, algo := range []Algorithm{AlgoNSGA2, AlgoTPEParEGO} {
		t.Run(string(algo), func(t *testing.T) {
			s := testSpec(t, algo, 9)
			revised := newOpt(t, s, newRevisable())
			kept := newOpt(t, s, newRevisable())
			told := newOpt(t, s, newRevisable())
			run(t, revised, before, 1)
			run(t, kept, before, 1)
			run(t, told, before-1, 1)
			res, err := revised.Results()
			if err != nil {
				t.Fatal(err)
			}
			x := extreme(s, res, false)
			c, err := told.Ask(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := told.Tell(c.TrialID, x); err != nil {
				t.Fatal(err)
			}
			last := lastComplete(t, revised)
			if last.Number != c.Number {
				t.Fatalf("the runs diverged before the revision: trial %d vs %d", last.Number, c.Number)
			}
			if err := revised.Revise(last.ID, x); err != nil {
				t.Fatal(err)
			}
			gRevised, gKept, gTold := run(t, revised, after, 1), run(t, kept, after, 1), run(t, told, after, 1)
			if !slices.EqualFunc(gRevised, gTold, slices.Equal) {
				t.Fatal("after Revise the optimizer proposes other candidates than one told the revised outcome")
			}
			if slices.EqualFunc(gKept, gTold, slices.Equal) {
				t.Fatal("the revised outcome changed no proposal: the test shows nothing")
			}
			got, err := revised.Results()
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(got, func(r Result) bool { return r.Number == last.Number })
			if i < 0 || !slices.Equal(got[i].Outcome.Values, x.Values) || got[i].Outcome.Violation != x.Violation {
				t.Fatalf("Results after Revise: %+v, want %+v", got[i], x)
			}
		})
	}
}

// TestReviseReselectsNSGA2: a population member revised off the front
// leaves the population it was selected into, and every later one (so it
// is no parent any more), while the stored pools stay; revised back to its
// first outcome, the populations are those of a search never revised.
func TestReviseReselectsNSGA2(t *testing.T) {
	s := testSpec(t, AlgoNSGA2, 5)
	o := newOpt(t, s, newRevisable())
	twin := newOpt(t, s, newRevisable())
	run(t, o, 64, 1)
	run(t, twin, 64, 1)
	if _, err := o.Ask(context.Background()); err != nil { // forms the populations of the 64
		t.Fatal(err)
	}
	gens, err := loadGenerations(o.Study())
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) < 3 {
		t.Fatalf("%d populations after 64 trials", len(gens))
	}
	// A member of the last population that entered a selection of two
	// populations' worth of trials (not the first one's pool, which is
	// kept whole).
	last := gens[len(gens)-1].Members
	victim, from := -1, -1
	for k := 1; k < len(gens) && victim < 0; k++ {
		for _, num := range gens[k].Pool {
			if slices.Contains(last, num) {
				victim, from = num, k
				break
			}
		}
	}
	if victim < 0 {
		t.Fatal("no member of the last population came from a later pool")
	}
	trials, _ := o.Study().GetTrials()
	id := trials[victim].ID
	res, _ := o.Results()
	first := res[slices.IndexFunc(res, func(r Result) bool { return r.Number == victim })].Outcome
	if err := o.Revise(id, extreme(s, res, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Ask(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := loadGenerations(o.Study())
	if err != nil {
		t.Fatal(err)
	}
	for k, g := range after {
		if k < len(gens) && !slices.Equal(g.Pool, gens[k].Pool) {
			t.Fatalf("population %d: pool changed", k)
		}
		if k < from && !slices.Equal(g.Members, gens[k].Members) {
			t.Fatalf("population %d, selected before trial %d entered, changed", k, victim)
		}
		if k >= from && slices.Contains(g.Members, victim) {
			t.Fatalf("trial %d, revised off the front, is still in population %d", victim, k)
		}
		if len(g.Members) != s.NSGA2.Population {
			t.Fatalf("population %d has %d members", k, len(g.Members))
		}
	}

	// Revised back: the populations of the search that was never revised.
	if err := o.Revise(id, first); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Ask(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := twin.Ask(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := Populations(o.Study())
	want, _ := Populations(twin.Study())
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("revised back, populations %v; never revised %v", got, want)
	}
}

// TestReviseParEGOScores: the scores TPE reads while a candidate is
// sampled come from the revised outcome.
func TestReviseParEGOScores(t *testing.T) {
	s := testSpec(t, AlgoTPEParEGO, 3)
	st := newRevisable()
	o := newOpt(t, s, st)
	run(t, o, 16, 1)
	res, _ := o.Results()
	target := res[3]
	trials, _ := o.Study().GetTrials()
	id := trials[target.Number].ID
	score := func() (float64, map[int]float64) {
		t.Helper()
		nid, err := st.CreateNewTrial(o.study.ID)
		if err != nil {
			t.Fatal(err)
		}
		num, _ := st.GetTrialNumberFromID(nid)
		if err := o.view.prepare(o, nid, num); err != nil {
			t.Fatal(err)
		}
		defer o.view.release()
		snap, err := o.view.GetAllTrials(o.study.ID)
		if err != nil {
			t.Fatal(err)
		}
		nt, _ := st.GetTrial(nid)
		var w []float64
		if err := json.Unmarshal([]byte(nt.SystemAttrs[AttrWeights]), &w); err != nil {
			t.Fatal(err)
		}
		rs, _ := o.Results()
		for _, tr := range snap {
			if tr.Number == target.Number {
				return tr.Value, scalarise(s, rs, w, s.TPE.Rho)
			}
		}
		t.Fatal("trial missing from the view")
		return 0, nil
	}
	before, _ := score()
	x := extreme(s, res, false)
	if err := o.Revise(id, x); err != nil {
		t.Fatal(err)
	}
	got, want := score()
	if got != want[target.Number] {
		t.Fatalf("view scores the revised trial %g, scalarised revised outcome %g", got, want[target.Number])
	}
	if got == before {
		t.Fatalf("score unchanged by the revision (%g)", got)
	}
	if got != 0 {
		t.Fatalf("an outcome dominating every other scores %g, want 0", got)
	}
}

// TestReviseErrors: only a complete trial of the study is revised, with a
// valid outcome, through a storage that can; a revision to the outcome a
// trial holds writes nothing; the first outcome is kept.
func TestReviseErrors(t *testing.T) {
	s := testSpec(t, AlgoRandom, 1)
	st := newRevisable()
	o := newOpt(t, s, st)
	run(t, o, 2, 1)
	c, err := o.Ask(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := lastComplete(t, o)
	var first Outcome
	if err := json.Unmarshal([]byte(done.SystemAttrs[AttrValues]), &first.Values); err != nil {
		t.Fatal(err)
	}
	x := Outcome{Values: []float64{1e8, 3, 400}}
	y := Outcome{Values: []float64{2e8, 2, 300}, Violation: 0.5}
	for _, tc := range []struct {
		name string
		id   int
		out  Outcome
		want error
	}{
		{"running", c.TrialID, x, ErrNotComplete},
		{"unknown", c.TrialID + 1000, x, ErrNotComplete},
		{"short", done.ID, Outcome{Values: []float64{1}}, ErrBadOutcome},
		{"NaN", done.ID, Outcome{Values: []float64{1, math.NaN(), 3}}, ErrBadOutcome},
		{"negative violation", done.ID, Outcome{Values: x.Values, Violation: -1}, ErrBadOutcome},
	} {
		if err := o.Revise(tc.id, tc.out); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if st.writes != 0 {
		t.Fatalf("%d writes by refused revisions", st.writes)
	}
	if err := o.Fail(c.TrialID, "lost"); err != nil {
		t.Fatal(err)
	}
	if err := o.Revise(c.TrialID, x); !errors.Is(err, ErrNotComplete) {
		t.Errorf("failed trial: %v", err)
	}
	for _, out := range []Outcome{x, x, y} {
		if err := o.Revise(done.ID, out); err != nil {
			t.Fatal(err)
		}
	}
	if st.writes != 2 {
		t.Fatalf("%d writes for revisions to x, x again, y; want 2", st.writes)
	}
	tr, _ := st.GetTrial(done.ID)
	var kept Outcome
	if err := json.Unmarshal([]byte(tr.SystemAttrs[AttrFirstOutcome]), &kept); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kept.Values, first.Values) || kept.Violation != 0 {
		t.Fatalf("first outcome %+v, told %+v", kept, first)
	}
	if tr.Value != -y.Values[0] || tr.SystemAttrs[AttrViolation] != "0.5" { // params, maximised

		t.Fatalf("stored value %g, violation %q", tr.Value, tr.SystemAttrs[AttrViolation])
	}

	plain := newOpt(t, s, goptuna.NewInMemoryStorage())
	run(t, plain, 1, 1)
	if err := plain.Revise(lastComplete(t, plain).ID, x); !errors.Is(err, ErrNotRevisable) {
		t.Fatalf("in-memory storage: %v", err)
	}
}
