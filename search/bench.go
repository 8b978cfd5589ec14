package search

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/c-bata/goptuna"
	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/search/pareto"
	"github.com/hilsearch/hilsearch/workload"
)

// BenchSpec is the search `hil search bench` runs on the analytic
// stand-in: the lfm2-like space on two AnalyticStandIn targets ("phone",
// "laptop") with the LFM2 report's three kinds of objective — quality
// (parameters, maximised, as its stand-in), decode latency on the phone at
// depth 4096 and peak memory on the phone at a 4096-token context (both
// minimised) — with the given algorithm and seed. docs/search.md explains
// the choice.
func BenchSpec(algo Algorithm, seed int64) *Spec {
	sp, _ := SpacePreset(PresetLFM2Like)
	s := &Spec{
		Name:     "optimizer benchmark (analytic stand-in)",
		Space:    sp,
		Workload: workload.Workload{Precision: "q4_0", Threads: 4, PromptLengths: []int{1024}, DecodeDepths: []int{4096}, DecodeTokens: 64},
		Targets:  []Target{{Name: "phone", Class: "stand-in"}, {Name: "laptop", Class: "stand-in"}},
		Objectives: []Objective{
			{Metric: "params", Direction: Maximize},
			{Metric: "decode_ms_p50@phone", At: 4096},
			{Metric: "peak_rss_mb@phone", At: 4096},
		},
		Budget:    Budget{MaxTrials: 200},
		Algorithm: algo,
		Seed:      seed,
	}
	s.ApplyDefaults()
	return s
}

// ReplayBenchSpec is the search `hil search bench -standin replay` runs:
// the lfm2-tiny space measured on this repository's development machine
// (ReplayStandIn, target "dev"), maximising parameters and prefill
// tokens/s at 256 tokens and minimising decode latency at depth 512.
func ReplayBenchSpec(algo Algorithm, seed int64) *Spec {
	sp, _ := SpacePreset(PresetLFM2Tiny)
	s := &Spec{
		Name:     "optimizer benchmark (replay stand-in)",
		Space:    sp,
		Workload: ReplayWorkload(),
		Targets:  []Target{{Name: "dev", Class: "stand-in"}},
		Objectives: []Objective{
			{Metric: "params", Direction: Maximize},
			{Metric: "decode_ms_p50@dev", At: 512},
			{Metric: "prefill_tps@dev", At: 256},
		},
		Budget:    Budget{MaxTrials: 200},
		Algorithm: algo,
		Seed:      seed,
	}
	s.ApplyDefaults()
	return s
}

// Evaluator gives a stand-in's metrics of an architecture per target
// name (AnalyticStandIn, ReplayStandIn).
type Evaluator interface {
	Evaluate(spec *Spec, s *arch.Spec) (map[string]Values, error)
}

// Bench stand-ins.
const (
	StandInAnalytic = "analytic"
	StandInReplay   = "replay"
)

// Screening modes of Bench.
const (
	BenchScreenOff  = "off"
	BenchScreenOn   = "on"
	BenchScreenBoth = "both"
)

// ReplayScreenBatch is the screening batch of the replay benchmark:
// lfm2-tiny has only 1,008 distinct architectures, which the default
// batch (24 per measured trial) would use up by the 45th measured trial.
const ReplayScreenBatch = 8

// ScreenedSuffix marks the screened runs' keys in BenchResult
// ("nsga2+screened").
const ScreenedSuffix = "+screened"

// BenchConfig configures Bench.
type BenchConfig struct {
	// Algorithms to compare. Defaults to all.
	Algorithms []Algorithm
	// Seeds is the number of seeds per algorithm. Defaults to 10.
	Seeds int
	// Checkpoints are the measured-trial counts reported. Defaults to
	// 25, 50, 100, 200.
	Checkpoints []int
	// StandIn is StandInAnalytic (default) or StandInReplay.
	StandIn string
	// ReplayTable names the embedded table of the replay stand-in.
	// Defaults to the first of ReplayTables.
	ReplayTable string
	// Table, when set, is replayed instead of an embedded table.
	Table *ReplayTable
	// Screening is BenchScreenOff, BenchScreenOn or BenchScreenBoth
	// (default).
	Screening string
	// Screen tunes the screened runs (zero fields: defaults).
	Screen ScreeningOptions
	// Progress, when set, is called after each run.
	Progress func(run string, seed int)
}

// BenchResult is Bench's outcome.
type BenchResult struct {
	// StandIn is the stand-in benchmarked; Table describes the replay
	// table (machine, date, commit; rows omitted).
	StandIn string
	Table   *ReplayTable
	// Median maps run ("nsga2", "nsga2+screened") and checkpoint to the
	// median, over seeds, of the hypervolume of the measured trials'
	// outcomes after that many measured trials divided by the exact
	// front's.
	Median map[string]map[int]float64
	// Runs holds every run's fractions: Runs[run][seed][checkpoint index].
	Runs map[string][][]float64
	// Reference is the hypervolume reference point (minimisation form):
	// NadirReference(exact front, 0.1).
	Reference []float64
	// Classes is the number of layer-order classes enumerated; ExactFront
	// the size of their Pareto front.
	Classes    int
	ExactFront int
	// Rejected counts candidates rejected before evaluation, Screened
	// those screened out by the predictor, per run, summed over seeds.
	Rejected map[string]int
	Screened map[string]int
	// Probes is the number of block probes each screened run measured
	// (once, when screening starts), per target.
	Probes int
}

// Bench compares the optimizers on a stand-in (never a measurement):
// each algorithm runs Seeds times up to the largest checkpoint's number of
// measured trials, without and/or with predictor screening. The reference
// is the exact Pareto front of the whole space: every layer-order class
// (Space.Classes) evaluated by the stand-in, which is exact because both
// stand-ins are invariant to the order of layers. Screened-out
// candidates are not measured trials and do not count; the probes a
// screened run measures are reported in Probes.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchResult, error) {
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = Algorithms
	}
	if cfg.Seeds == 0 {
		cfg.Seeds = 10
	}
	if len(cfg.Checkpoints) == 0 {
		cfg.Checkpoints = []int{25, 50, 100, 200}
	}
	if cfg.StandIn == "" {
		cfg.StandIn = StandInAnalytic
	}
	if cfg.Screening == "" {
		cfg.Screening = BenchScreenBoth
	}
	var modes []bool
	switch cfg.Screening {
	case BenchScreenOff:
		modes = []bool{false}
	case BenchScreenOn:
		modes = []bool{true}
	case BenchScreenBoth:
		modes = []bool{false, true}
	default:
		return nil, fmt.Errorf("bench: screening %q: want off, on or both", cfg.Screening)
	}
	res := &BenchResult{StandIn: cfg.StandIn, Median: map[string]map[int]float64{}, Runs: map[string][][]float64{},
		Rejected: map[string]int{}, Screened: map[string]int{}}
	var ev Evaluator
	var mkSpec func(Algorithm, int64) *Spec
	switch cfg.StandIn {
	case StandInAnalytic:
		ev, mkSpec = DefaultStandIn(), BenchSpec
	case StandInReplay:
		t := cfg.Table
		if t == nil {
			name := cfg.ReplayTable
			if name == "" {
				tables := ReplayTables()
				if len(tables) == 0 {
					return nil, fmt.Errorf("bench: no replay table is embedded")
				}
				name = tables[0]
			}
			var err error
			if t, err = LoadReplayTable(name); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
		}
		meta := *t
		meta.Rows = nil
		res.Table = &meta
		ev, mkSpec = NewReplayStandIn(t), ReplayBenchSpec
	default:
		return nil, fmt.Errorf("bench: stand-in %q: want analytic or replay", cfg.StandIn)
	}
	exact, n, err := ExactFront(mkSpec(AlgoRandom, 0), ev)
	if err != nil {
		return nil, err
	}
	res.Classes, res.ExactFront = n, len(exact)
	res.Reference = pareto.NadirReference(exact, 0.1)
	best := pareto.Hypervolume(exact, res.Reference)
	last := slices.Max(cfg.Checkpoints)
	for _, screened := range modes {
		for _, algo := range cfg.Algorithms {
			key := string(algo)
			if screened {
				key += ScreenedSuffix
			}
			var runs [][]float64
			for seed := 1; seed <= cfg.Seeds; seed++ {
				s := mkSpec(algo, int64(seed))
				if screened {
					o := cfg.Screen
					if cfg.StandIn == StandInReplay && o.Batch == 0 {
						o.Batch = ReplayScreenBatch
					}
					s.Screening = &o
				} else {
					s.Screening = &ScreeningOptions{Off: true}
				}
				r, err := benchRun(ctx, s, ev, last)
				if err != nil {
					return nil, fmt.Errorf("bench %s seed %d: %w", key, seed, err)
				}
				res.Rejected[key] += r.rejected
				res.Screened[key] += r.screened
				if screened {
					res.Probes = r.probes
				}
				fr := make([]float64, len(cfg.Checkpoints))
				for ci, k := range cfg.Checkpoints {
					fr[ci] = pareto.Hypervolume(r.points[:min(k, len(r.points))], res.Reference) / best
				}
				runs = append(runs, fr)
				if cfg.Progress != nil {
					cfg.Progress(key, seed)
				}
			}
			res.Runs[key] = runs
			res.Median[key] = map[int]float64{}
			for ci, k := range cfg.Checkpoints {
				col := make([]float64, len(runs))
				for si := range runs {
					col[si] = runs[si][ci]
				}
				res.Median[key][k] = median(col)
			}
		}
	}
	return res, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ExactFront evaluates every layer-order class of s's space with ev and
// returns the feasible Pareto front (minimisation form) and the number of
// classes. It is exact for evaluators invariant to the order of layers.
func ExactFront(s *Spec, ev Evaluator) ([][]float64, int, error) {
	classes, err := s.Space.Classes()
	if err != nil {
		return nil, 0, err
	}
	var pts [][]float64
	for _, c := range classes {
		m, err := ev.Evaluate(s, &c.Canonical)
		if err != nil {
			return nil, 0, fmt.Errorf("exact front: %w", err)
		}
		out, err := s.Outcome(c.Params, m)
		if err != nil {
			return nil, 0, fmt.Errorf("exact front: class %s: %w", c.Key, err)
		}
		if out.Feasible() {
			pts = append(pts, s.Minimized(out.Values))
		}
	}
	front := nonDominated(pts)
	slices.SortFunc(front, slices.Compare)
	front = slices.CompactFunc(front, slices.Equal)
	return front, len(classes), nil
}

// benchRunResult is one benchmark run.
type benchRunResult struct {
	points             [][]float64 // measured, feasible outcomes (minimised) in order
	rejected, screened int
	probes             int
}

// benchRun runs one search of s on ev for `last` measured trials, with
// screening as s.Screening says. A search that has proposed every
// architecture of its space (ErrSpaceExhausted) stops early: its later
// checkpoints keep its final hypervolume.
func benchRun(ctx context.Context, s *Spec, ev Evaluator, last int) (benchRunResult, error) {
	var r benchRunResult
	o, err := NewOptimizer(s, goptuna.NewInMemoryStorage(), "bench")
	if err != nil {
		return r, err
	}
	opts := s.ScreeningOptions()
	var results []Result
	classes := map[string]bool{}     // layer-order classes measured
	var obs map[string][]Observation // per target, until the predictors exist
	var preds map[string]*Predictor
	observe := func(a *arch.Spec, m map[string]Values, probe string) error {
		for t, v := range m {
			o := Observation{Spec: *a, Values: v, Probe: probe}
			if preds != nil {
				if err := preds[t].Add(o); err != nil {
					return err
				}
				continue
			}
			if obs == nil {
				obs = map[string][]Observation{}
			}
			obs[t] = append(obs[t], o)
		}
		return nil
	}
	measure := func(c Candidate) error {
		m, err := ev.Evaluate(s, &c.Arch)
		if err != nil {
			return err
		}
		out, err := s.Outcome(c.Params, m)
		if err != nil {
			return err
		}
		if err := o.Tell(c.TrialID, out); err != nil {
			return err
		}
		results = append(results, Result{Number: c.Number, Genome: c.Genome, Outcome: out})
		classes[ClassKey(&c.Arch)] = true
		if out.Feasible() {
			r.points = append(r.points, s.Minimized(out.Values))
		}
		return observe(&c.Arch, m, "")
	}
	for len(results) < last {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		if !s.ScreeningActive(len(results)) {
			c, err := o.Ask(ctx)
			if errors.Is(err, ErrSpaceExhausted) {
				return r, nil // every architecture was proposed
			}
			if err != nil {
				return r, err
			}
			r.rejected += c.Rejected
			if err := measure(c); err != nil {
				return r, err
			}
			continue
		}
		if preds == nil {
			for _, p := range s.Space.Probes() {
				a := p.Spec(s.Space.MaxContext)
				m, err := ev.Evaluate(s, &a)
				if err != nil {
					return r, fmt.Errorf("probe %s: %w", p.Name, err)
				}
				if err := observe(&a, m, p.Name); err != nil {
					return r, err
				}
				r.probes++
			}
			preds = map[string]*Predictor{}
			for t, ob := range obs {
				p, err := FitPredictor(s.Workload, ob)
				if err != nil {
					return r, err
				}
				preds[t] = p
			}
		}
		batch, err := o.AskBatch(ctx, opts.Batch)
		if err != nil && !errors.Is(err, ErrSpaceExhausted) {
			return r, err
		}
		if len(batch) == 0 {
			return r, nil // every architecture was measured or screened
		}
		cands := make([]ScreenCandidate, len(batch))
		for i, c := range batch {
			r.rejected += c.Rejected
			cands[i] = ScreenCandidate{Params: c.Params, Predicted: map[string]Prediction{}, Seen: classes[ClassKey(&c.Arch)]}
			for t, p := range preds {
				pr, err := p.Predict(&c.Arch)
				if err != nil {
					return r, err
				}
				cands[i].Predicted[t] = pr
			}
		}
		dec, err := s.Screen(results, cands, 1, opts.Samples, s.Seed)
		if err != nil {
			return r, err
		}
		for _, i := range dec.Measure {
			if err := measure(batch[i]); err != nil {
				return r, err
			}
		}
		for _, i := range dec.Screened {
			if err := o.Screen(batch[i].TrialID, dec.Predicted[i]); err != nil {
				return r, err
			}
			r.screened++
		}
	}
	return r, nil
}
