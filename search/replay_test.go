package search

import (
	"context"
	"slices"
	"testing"
)

// A replay answers a candidate with its layer-order class's row, whatever
// the order of its layers, and refuses networks it has no row for.
func TestReplayStandInLooksUpClasses(t *testing.T) {
	sp := mustPreset(t, PresetLFM2Tiny)
	cs, err := sp.Classes()
	if err != nil {
		t.Fatal(err)
	}
	tb := &ReplayTable{Workload: ReplayWorkload()}
	for i, c := range cs[:20] {
		tb.Rows = append(tb.Rows, ReplayRow{Set: "replay", Key: c.Key, Spec: c.Canonical,
			Values: Values{{MetricDecodeP50, 512}: float64(i + 1)}}) // test fixture, not a measurement
	}
	r := NewReplayStandIn(tb)
	s := ReplayBenchSpec(AlgoRandom, 0)
	for i, c := range cs[:20] {
		a := c.Canonical
		a.Layers = slices.Clone(a.Layers)
		slices.Reverse(a.Layers)
		m, err := r.Evaluate(s, &a)
		if err != nil {
			t.Fatal(err)
		}
		if got := m["dev"][MetricKey{MetricDecodeP50, 512}]; got != float64(i+1) {
			t.Errorf("class %s: got %g, want %d", c.Key, got, i+1)
		}
	}
	if _, err := r.Evaluate(s, &cs[20].Canonical); err == nil {
		t.Error("a class without a row was answered")
	}
}

func TestEmbeddedReplayTable(t *testing.T) {
	names := ReplayTables()
	if len(names) == 0 {
		t.Fatal("no replay table embedded")
	}
	for _, n := range names {
		tb, err := LoadReplayTable(n)
		if err != nil {
			t.Fatal(err)
		}
		if tb.Machine == "" || tb.Date == "" || tb.Commit == "" || tb.Runtime == "" {
			t.Errorf("%s: machine %q, date %q, commit %q, runtime %q: a table must say where, when and with what", n, tb.Machine, tb.Date, tb.Commit, tb.Runtime)
		}
		// Every class of its space is measured, so the exact front exists.
		sp := mustPreset(t, tb.Space)
		cs, err := sp.Classes()
		if err != nil {
			t.Fatal(err)
		}
		r := NewReplayStandIn(tb)
		s := ReplayBenchSpec(AlgoRandom, 0)
		for _, c := range cs {
			if _, err := r.Evaluate(s, &c.Canonical); err != nil {
				t.Errorf("%s: %v", n, err)
			}
		}
		hz := mustPreset(t, PresetHybridTiny)
		if got, want := len(tb.Observations(false, "probe")), len(hz.Probes()); got != want {
			t.Errorf("%s: %d probe rows, want hybrid-tiny's %d probes", n, got, want)
		}
	}
	if _, err := LoadReplayTable("nope.json"); err == nil {
		t.Error("a missing table loaded")
	}
}

// TestBenchReplayPath runs Bench's replay path on a table made by the
// analytic stand-in (a test fixture: the embedded tables are measured).
func TestBenchReplayPath(t *testing.T) {
	s := ReplayBenchSpec(AlgoRandom, 0)
	cs, err := s.Space.Classes()
	if err != nil {
		t.Fatal(err)
	}
	ev := &AnalyticStandIn{Devices: map[string]StandInDevice{"dev": {GFLOPS: 100, GBps: 30, OverheadMs: 0.2, BaseRSSMB: 10}}}
	tb := &ReplayTable{Machine: "fixture", Date: "-", Commit: "-", Runtime: "analytic", Space: PresetLFM2Tiny, Workload: s.Workload}
	add := func(set, key string, a *ReplayRow) {
		m, err := ev.Evaluate(s, &a.Spec)
		if err != nil {
			t.Fatal(err)
		}
		a.Set, a.Key, a.Values = set, key, m["dev"]
		tb.Rows = append(tb.Rows, *a)
	}
	for _, c := range cs {
		add("replay", c.Key, &ReplayRow{Spec: c.Canonical})
	}
	hz := mustPreset(t, PresetHybridTiny)
	for _, p := range hz.Probes() {
		add("probe", p.Name, &ReplayRow{Spec: p.Spec(2048)})
	}
	res, err := Bench(context.Background(), BenchConfig{
		Algorithms: []Algorithm{AlgoNSGA2, AlgoTPEParEGO}, Seeds: 2, Checkpoints: []int{10, 40},
		StandIn: StandInReplay, Table: tb, Screen: ScreeningOptions{WarmupTrials: 10, Batch: 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Classes != len(cs) || res.ExactFront == 0 || res.Probes == 0 {
		t.Errorf("classes %d (want %d), exact front %d, probes %d", res.Classes, len(cs), res.ExactFront, res.Probes)
	}
	for _, run := range []string{"nsga2", "nsga2+screened", "tpe-parego", "tpe-parego+screened"} {
		m, ok := res.Median[run]
		if !ok || !(m[10] > 0 && m[10] <= m[40] && m[40] <= 1+1e-9) {
			t.Errorf("%s: %v", run, m)
		}
	}
	if res.Screened["nsga2+screened"] == 0 || res.Screened["nsga2"] != 0 {
		t.Errorf("screened counts %v", res.Screened)
	}
}
