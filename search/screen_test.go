package search

import (
	"context"
	"testing"

	"github.com/c-bata/goptuna"
)

// TestScreenedSearchNeverDispatchesADuplicate runs screened searches on
// the analytic stand-in and checks that no architecture is measured
// twice, screened twice, or both measured and screened.
func TestScreenedSearchNeverDispatchesADuplicate(t *testing.T) {
	for _, algo := range []Algorithm{AlgoRandom, AlgoNSGA2} {
		s := BenchSpec(algo, 3)
		s.Screening = &ScreeningOptions{WarmupTrials: 10, Batch: 12}
		o, err := NewOptimizer(s, goptuna.NewInMemoryStorage(), "dup")
		if err != nil {
			t.Fatal(err)
		}
		ev := DefaultStandIn()
		seen := map[string]string{}
		var results []Result
		var obs []Observation
		var pred *Predictor
		ctx := context.Background()
		record := func(c Candidate, how string) {
			h := c.Arch.Hash()
			if prev, ok := seen[h]; ok {
				t.Fatalf("%s: trial %d %s an architecture already %s", algo, c.Number, how, prev)
			}
			seen[h] = how
		}
		measure := func(c Candidate) {
			record(c, "measured")
			m, err := ev.Evaluate(s, &c.Arch)
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Outcome(c.Params, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Tell(c.TrialID, out); err != nil {
				t.Fatal(err)
			}
			results = append(results, Result{Number: c.Number, Outcome: out})
			ob := Observation{Spec: c.Arch, Values: m["phone"]}
			if pred != nil {
				if err := pred.Add(ob); err != nil {
					t.Fatal(err)
				}
			} else {
				obs = append(obs, ob)
			}
		}
		screened := 0
		for len(results) < 40 {
			if !s.ScreeningActive(len(results)) {
				c, err := o.Ask(ctx)
				if err != nil {
					t.Fatal(err)
				}
				measure(c)
				continue
			}
			if pred == nil {
				if pred, err = FitPredictor(s.Workload, obs); err != nil {
					t.Fatal(err)
				}
			}
			batch, err := o.AskBatch(ctx, s.ScreeningOptions().Batch)
			if err != nil {
				t.Fatal(err)
			}
			cands := make([]ScreenCandidate, len(batch))
			for i, c := range batch {
				pr, err := pred.Predict(&c.Arch)
				if err != nil {
					t.Fatal(err)
				}
				cands[i] = ScreenCandidate{Params: c.Params, Predicted: map[string]Prediction{"phone": pr, "laptop": pr}}
			}
			dec, err := s.Screen(results, cands, 1, 16, s.Seed)
			if err != nil {
				t.Fatal(err)
			}
			if len(dec.Measure) != 1 || len(dec.Measure)+len(dec.Screened) != len(batch) {
				t.Fatalf("decision measures %d and screens %d of %d", len(dec.Measure), len(dec.Screened), len(batch))
			}
			measure(batch[dec.Measure[0]])
			for _, i := range dec.Screened {
				record(batch[i], "screened")
				if err := o.Screen(batch[i].TrialID, dec.Predicted[i]); err != nil {
					t.Fatal(err)
				}
				screened++
			}
		}
		n, err := o.ScreenedCount()
		if err != nil || n != screened || screened == 0 {
			t.Errorf("%s: ScreenedCount = %d, %v; screened %d", algo, n, err, screened)
		}
		// A screened trial cannot be told or screened again.
		if err := o.Screen(-1, Outcome{}); err == nil {
			t.Errorf("%s: screening an unknown trial succeeded", algo)
		}
	}
}

func TestScreenPicksLargestImprovementGreedily(t *testing.T) {
	s := &Spec{
		Targets:    []Target{{Name: "dev", Class: "x"}},
		Objectives: []Objective{{Metric: "decode_ms_p50@dev", At: 0, Direction: Minimize}, {Metric: "peak_rss_mb@dev", At: 0, Direction: Minimize}},
	}
	res := []Result{
		{Number: 0, Outcome: Outcome{Values: []float64{10, 1}}},
		{Number: 1, Outcome: Outcome{Values: []float64{1, 10}}},
	}
	cand := func(a, b float64) ScreenCandidate {
		return ScreenCandidate{Predicted: map[string]Prediction{"dev": {
			{MetricDecodeP50, 0}: {Mean: a}, {MetricPeakRSS, 0}: {Mean: b},
		}}}
	}
	cs := []ScreenCandidate{
		cand(9, 9),   // dominated-ish corner: small gain
		cand(4, 4),   // the largest gain
		cand(4.2, 4), // almost the same point: little gain once (4,4) is in
		cand(2, 7),   // a different region
		cand(20, 20), // dominated by the front
	}
	d, err := s.Screen(res, cs, 2, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Measure) != 2 || d.Measure[0] != 1 || d.Measure[1] != 3 {
		t.Errorf("measure %v (EHVI %v), want [1 3]", d.Measure, d.EHVI)
	}
	if d.EHVI[4] != 0 {
		t.Errorf("a dominated point has EHVI %g", d.EHVI[4])
	}
}

func TestScreeningActive(t *testing.T) {
	s := BenchSpec(AlgoNSGA2, 1)
	if s.ScreeningActive(DefaultScreenWarmup-1) || !s.ScreeningActive(DefaultScreenWarmup) {
		t.Error("default warm-up not respected")
	}
	s.Screening = &ScreeningOptions{Off: true}
	if s.ScreeningActive(1000) {
		t.Error("screening on although switched off")
	}
}
