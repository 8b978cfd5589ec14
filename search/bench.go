package search

import (
	"context"
	"fmt"
	"slices"

	"github.com/c-bata/goptuna"
	"github.com/hilsearch/hilsearch/search/pareto"
	"github.com/hilsearch/hilsearch/workload"
)

// BenchSpec is the search `hil search bench` runs: the lfm2-like space on
// two AnalyticStandIn targets ("phone", "laptop") with the LFM2 report's
// three kinds of objective — quality (parameters, maximised, as its
// stand-in), decode latency on the phone at depth 4096 and peak memory on
// the phone at a 4096-token context (both minimised) — with the given
// algorithm and seed. docs/search.md explains the choice.
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

// BenchConfig configures Bench.
type BenchConfig struct {
	// Algorithms to compare. Defaults to all.
	Algorithms []Algorithm
	// Seeds is the number of seeds per algorithm. Defaults to 10.
	Seeds int
	// Checkpoints are the evaluation counts reported. Defaults to
	// 25, 50, 100, 200.
	Checkpoints []int
	// ReferenceEvals is the size of the reference NSGA-II search.
	// Defaults to 20000.
	ReferenceEvals int
	// Progress, when set, is called after each run.
	Progress func(algo Algorithm, seed int)
}

// BenchResult is Bench's outcome.
type BenchResult struct {
	// Median maps algorithm and checkpoint to the median, over seeds, of the
	// hypervolume after that many evaluations divided by the reference
	// front's.
	Median map[Algorithm]map[int]float64
	// Runs holds every run's fractions: Runs[algo][seed][checkpoint index].
	Runs map[Algorithm][][]float64
	// Reference is the hypervolume reference point (minimisation form).
	Reference []float64
	// ReferenceFront is the size of the best known front.
	ReferenceFront int
	// Rejected counts the candidates rejected before evaluation, per
	// algorithm, summed over seeds.
	Rejected map[Algorithm]int
}

// Bench compares the optimizers on BenchSpec with the AnalyticStandIn
// evaluator (never a measurement). Each algorithm runs Seeds times for the
// largest checkpoint's number of evaluations; after each checkpoint the
// hypervolume of the evaluated points is divided by that of the best front
// known: the non-dominated union of a ReferenceEvals-evaluation NSGA-II
// search (population 100) and every benchmark run. The reference point is
// NadirReference(best front, 0.1).
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
	if cfg.ReferenceEvals == 0 {
		cfg.ReferenceEvals = 20000
	}
	last := slices.Max(cfg.Checkpoints)
	ev := DefaultStandIn()
	res := &BenchResult{Median: map[Algorithm]map[int]float64{}, Runs: map[Algorithm][][]float64{}, Rejected: map[Algorithm]int{}}
	// points[algo][seed] are the evaluated outcomes in evaluation order.
	points := map[Algorithm][][][]float64{}
	var all [][]float64
	for _, algo := range cfg.Algorithms {
		for seed := 1; seed <= cfg.Seeds; seed++ {
			s := BenchSpec(algo, int64(seed))
			o, err := NewOptimizer(s, goptuna.NewInMemoryStorage(), "bench")
			if err != nil {
				return nil, err
			}
			var pts [][]float64
			for len(pts) < last {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				c, err := o.Ask(ctx)
				if err != nil {
					return nil, fmt.Errorf("bench %s seed %d: %w", algo, seed, err)
				}
				res.Rejected[algo] += c.Rejected
				m, err := ev.Evaluate(s, &c.Arch)
				if err != nil {
					return nil, err
				}
				out, err := s.Outcome(c.Params, m)
				if err != nil {
					return nil, err
				}
				if err := o.Tell(c.TrialID, out); err != nil {
					return nil, err
				}
				pts = append(pts, s.Minimized(out.Values))
			}
			points[algo] = append(points[algo], pts)
			all = append(all, pts...)
			if cfg.Progress != nil {
				cfg.Progress(algo, seed)
			}
		}
	}
	refPts, err := referenceSearch(ctx, BenchSpec(AlgoNSGA2, 0), ev, cfg.ReferenceEvals)
	if err != nil {
		return nil, err
	}
	all = append(all, refPts...)
	var front [][]float64
	for _, i := range pareto.NonDominated(all) {
		front = append(front, all[i])
	}
	res.ReferenceFront = len(front)
	res.Reference = pareto.NadirReference(front, 0.1)
	best := pareto.Hypervolume(front, res.Reference)
	for _, algo := range cfg.Algorithms {
		res.Median[algo] = map[int]float64{}
		runs := make([][]float64, len(points[algo]))
		for si, pts := range points[algo] {
			runs[si] = make([]float64, len(cfg.Checkpoints))
			for ci, k := range cfg.Checkpoints {
				runs[si][ci] = pareto.Hypervolume(pts[:min(k, len(pts))], res.Reference) / best
			}
		}
		res.Runs[algo] = runs
		for ci, k := range cfg.Checkpoints {
			col := make([]float64, len(runs))
			for si := range runs {
				col[si] = runs[si][ci]
			}
			res.Median[algo][k] = median(col)
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

// referenceSearch runs a generational NSGA-II (population 100) for evals
// evaluations directly on the genome, without goptuna (its storage would
// make a 20 000-trial study quadratic), and returns the evaluated points in
// minimisation form.
func referenceSearch(ctx context.Context, s *Spec, ev *AnalyticStandIn, evals int) ([][]float64, error) {
	const popSize = 100
	genes := s.Space.Genes()
	admit := func(g Genome) bool {
		a, err := s.Space.Decode(g)
		if err != nil {
			return false
		}
		_, reason := s.Space.Admit(&a)
		return reason == ""
	}
	n := newNSGA2(s, genes, admit)
	seen := map[string]bool{}
	var pop []individual
	var pts [][]float64
	evaluate := func(number int, g Genome) (individual, error) {
		a, err := s.Space.Decode(g)
		if err != nil {
			return individual{}, err
		}
		m, err := ev.Evaluate(s, &a)
		if err != nil {
			return individual{}, err
		}
		out, err := s.Outcome(a.Params().Total, m)
		if err != nil {
			return individual{}, err
		}
		seen[a.Hash()] = true
		y := s.Minimized(out.Values)
		pts = append(pts, y)
		return individual{number: number, genome: g, objs: y, violation: out.Violation}, nil
	}
	number := 0
	for number < evals {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var children []individual
		for i := 0; i < popSize && number < evals; i++ {
			r := trialRand(s.Seed, number, "reference")
			var g Genome
			if len(pop) == 0 {
				g = n.randomGenome(r)
			} else {
				g = n.offspring(r, pop, seen)
			}
			if !admit(g) {
				number++
				continue
			}
			ind, err := evaluate(number, g)
			if err != nil {
				return nil, err
			}
			children = append(children, ind)
			number++
		}
		pop = selectBest(append(pop, children...), popSize)
	}
	return pts, nil
}
