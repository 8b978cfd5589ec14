package search

import (
	"fmt"
	"math"
	"slices"

	"github.com/hilsearch/hilsearch/search/pareto"
)

// Screening defaults.
const (
	// DefaultScreenWarmup is the number of measured trials before
	// screening starts.
	DefaultScreenWarmup = 20
	// DefaultScreenBatch is the number of candidates proposed per device
	// slot while screening.
	DefaultScreenBatch = 24
	// DefaultScreenSamples is the Monte Carlo sample count of the
	// expected hypervolume improvement.
	DefaultScreenSamples = 32
	// MaxScreenBatch and MaxScreenSamples bound the options.
	MaxScreenBatch   = 1000
	MaxScreenSamples = 4096
)

// ScreeningOptions tunes predictor screening of a search. Screening is on
// by default: after WarmupTrials measured trials, the optimizer proposes
// Batch candidates per free device slot, the target devices' predictors
// score them, and only the best by expected hypervolume improvement are
// measured; the others are recorded as screened with their predicted
// values and are never proposed again.
type ScreeningOptions struct {
	// Off turns screening off: every proposed candidate is measured.
	Off bool `json:"off,omitempty"`
	// WarmupTrials is the number of measured trials before screening
	// starts. Defaults to DefaultScreenWarmup.
	WarmupTrials int `json:"warmup_trials,omitempty"`
	// Batch is the number of candidates proposed per device slot.
	// Defaults to DefaultScreenBatch.
	Batch int `json:"batch,omitempty"`
	// Samples is the Monte Carlo sample count of the expected
	// hypervolume improvement. Defaults to DefaultScreenSamples.
	Samples int `json:"samples,omitempty"`
}

// withDefaults returns o with zero fields set to their defaults (nil
// means the defaults).
func (o *ScreeningOptions) withDefaults() ScreeningOptions {
	var out ScreeningOptions
	if o != nil {
		out = *o
	}
	if out.WarmupTrials == 0 {
		out.WarmupTrials = DefaultScreenWarmup
	}
	if out.Batch == 0 {
		out.Batch = DefaultScreenBatch
	}
	if out.Samples == 0 {
		out.Samples = DefaultScreenSamples
	}
	return out
}

// ScreeningOptions returns the search's screening options with defaults.
func (s *Spec) ScreeningOptions() ScreeningOptions { return s.Screening.withDefaults() }

// ScreeningActive reports whether a search that has measured `measured`
// trials screens its next candidates. A search with evaluator scores
// ("<score>@<evaluator>") does not screen: the device predictors cannot
// predict a score.
func (s *Spec) ScreeningActive(measured int) bool {
	if len(s.ScoreRefs()) > 0 {
		return false
	}
	o := s.ScreeningOptions()
	return !o.Off && measured >= o.WarmupTrials
}

// ScreenCandidate is one proposed candidate with its predictions.
type ScreenCandidate struct {
	// Params is its exact parameter count.
	Params int64
	// Predicted holds the prediction of each target's device.
	Predicted map[string]Prediction
	// Seen marks a candidate whose layer-order class (ClassKey) was
	// already measured in the search: it differs from a measured network
	// only in the order of its layers, which no cost depends on, so it is
	// measured only when no unseen candidate is left.
	Seen bool
}

// ScreenDecision is the outcome of Spec.Screen.
type ScreenDecision struct {
	// Measure lists the candidates to send to devices, best first.
	Measure []int
	// Screened lists the others, in candidate order.
	Screened []int
	// EHVI is each candidate's expected hypervolume improvement times its
	// probability of feasibility (at the time it was ranked).
	EHVI []float64
	// Predicted is each candidate's predicted outcome (means).
	Predicted []Outcome
	// Std is each candidate's predicted objective standard deviations
	// (natural units).
	Std [][]float64
}

// predictedObjectives returns a candidate's predicted objective means and
// standard deviations (natural units) and its probability of meeting
// every constraint (independent Gaussian errors).
func (s *Spec) predictedObjectives(c ScreenCandidate) (Outcome, []float64, float64, error) {
	meas := make(map[string]Values, len(c.Predicted))
	for t, p := range c.Predicted {
		meas[t] = p.Values()
	}
	out, err := s.Outcome(c.Params, meas)
	if err != nil {
		return Outcome{}, nil, 0, err
	}
	std := make([]float64, len(s.Objectives))
	for i, o := range s.Objectives {
		std[i] = predictedStd(o.Metric, o.At, c.Predicted)
	}
	pf := 1.0
	for _, k := range s.Constraints {
		v, err := metricValue(k.Metric, k.At, c.Params, meas)
		if err != nil {
			return Outcome{}, nil, 0, err
		}
		sd := predictedStd(k.Metric, k.At, c.Predicted)
		if k.Max != nil {
			pf *= normCDFStd(*k.Max-v, sd)
		}
		if k.Min != nil {
			pf *= normCDFStd(v-*k.Min, sd)
		}
	}
	return out, std, pf, nil
}

func predictedStd(ref string, at int, pred map[string]Prediction) float64 {
	m, target := splitMetric(ref)
	if m == MetricParams {
		return 0
	}
	return pred[target][MetricKey{Metric: m, At: at}].Std
}

// normCDFStd is P(X ≤ x) for X ~ N(0, sd²) (a step for sd = 0).
func normCDFStd(x, sd float64) float64 {
	if sd <= 0 {
		if x >= 0 {
			return 1
		}
		return 0
	}
	return 0.5 * math.Erfc(-x/(sd*math.Sqrt2))
}

// Screen decides which of the proposed candidates to measure: up to slots
// of them, by expected hypervolume improvement (EHVI) over the feasible
// front of the measured results, times the probability of meeting the
// constraints. EHVI is estimated by Monte Carlo with `samples` normal
// draws per objective shared by all candidates (common random numbers,
// from a stream of seed), in minimisation form with the reference point
// ReferencePoint(results ∪ predicted means). Slots are filled greedily:
// after each pick its predicted mean joins the front (the "kriging
// believer" rule), so a batch does not pile onto one spot. Candidates
// marked Seen score 0. When no candidate is expected to improve the front
// (all zero), the unseen candidates closest to it (additive ε-indicator of
// the mean, objectives scaled by their range) are taken instead.
func (s *Spec) Screen(results []Result, cands []ScreenCandidate, slots, samples int, seed int64) (ScreenDecision, error) {
	n := len(cands)
	dec := ScreenDecision{EHVI: make([]float64, n), Predicted: make([]Outcome, n), Std: make([][]float64, n)}
	if slots <= 0 || n == 0 {
		for i := range cands {
			dec.Screened = append(dec.Screened, i)
		}
		return dec, nil
	}
	if samples <= 0 {
		samples = DefaultScreenSamples
	}
	m := len(s.Objectives)
	mean := make([][]float64, n) // minimisation form
	pf := make([]float64, n)
	for i, c := range cands {
		out, std, p, err := s.predictedObjectives(c)
		if err != nil {
			return ScreenDecision{}, fmt.Errorf("screen candidate %d: %w", i, err)
		}
		dec.Predicted[i], dec.Std[i], pf[i] = out, std, p
		mean[i] = s.Minimized(out.Values)
	}
	var front [][]float64
	var observed []Outcome
	for _, r := range results {
		observed = append(observed, r.Outcome)
		if r.Outcome.Feasible() {
			front = append(front, s.Minimized(r.Outcome.Values))
		}
	}
	ref := s.ReferencePoint(append(observed, dec.Predicted...))
	if ref == nil {
		return ScreenDecision{}, fmt.Errorf("screen: no reference point")
	}
	front = nonDominated(front)
	// Common random numbers.
	r := trialRand(seed, len(results), "screen")
	z := make([][]float64, samples)
	for k := range z {
		z[k] = make([]float64, m)
		for j := range z[k] {
			z[k][j] = r.NormFloat64()
		}
	}
	ehvi := func(i int) float64 {
		if pf[i] == 0 {
			return 0
		}
		mu, sd := mean[i], dec.Std[i]
		opt := make([]float64, m)
		for j := range opt {
			opt[j] = mu[j] - 3*sd[j]
		}
		if hvi(front, opt, ref) == 0 {
			return 0
		}
		y := make([]float64, m)
		var sum float64
		for _, zk := range z {
			for j := range y {
				y[j] = mu[j] + sd[j]*zk[j]
			}
			sum += hvi(front, y, ref)
		}
		return pf[i] * sum / float64(samples)
	}
	live := make([]bool, n)
	for i := range live {
		live[i] = true
		if !cands[i].Seen {
			dec.EHVI[i] = ehvi(i)
		}
	}
	score := slices.Clone(dec.EHVI)
	for len(dec.Measure) < min(slots, n) {
		best := -1
		for i := range cands {
			if live[i] && score[i] > 0 && (best < 0 || score[i] > score[best]) {
				best = i
			}
		}
		if best < 0 {
			best = closest(front, mean, live, pf, cands)
		}
		live[best] = false
		dec.Measure = append(dec.Measure, best)
		if dec.Predicted[best].Feasible() {
			front = nonDominated(append(front, mean[best]))
		}
		for i := range cands {
			if live[i] && score[i] > 0 {
				score[i] = ehvi(i)
			}
		}
	}
	for i := range cands {
		if live[i] {
			dec.Screened = append(dec.Screened, i)
		}
	}
	return dec, nil
}

// hvi is the hypervolume y adds to front (both in minimisation form)
// within ref: the volume of the box [y, ref] minus the part of it the
// front already dominates.
func hvi(front [][]float64, y, ref []float64) float64 {
	box := 1.0
	for j := range y {
		if !(y[j] < ref[j]) {
			return 0
		}
		box *= ref[j] - y[j]
	}
	clipped := make([][]float64, 0, len(front))
	for _, f := range front {
		c := make([]float64, len(f))
		in := true
		for j := range f {
			c[j] = max(f[j], y[j])
			if !(c[j] < ref[j]) {
				in = false
			}
		}
		if in {
			clipped = append(clipped, c)
		}
	}
	if len(clipped) == 0 {
		return box
	}
	return max(0, box-pareto.Hypervolume(clipped, ref))
}

func nonDominated(pts [][]float64) [][]float64 {
	var out [][]float64
	for _, i := range pareto.NonDominated(pts) {
		out = append(out, pts[i])
	}
	return out
}

// closest returns the live candidate whose mean is nearest to dominating
// the front (smallest additive ε-indicator, objectives scaled by the
// spread of the front and the means), preferring unseen classes, then
// likely-feasible candidates.
func closest(front, mean [][]float64, live []bool, pf []float64, cands []ScreenCandidate) int {
	m := len(mean[0])
	lo, hi := make([]float64, m), make([]float64, m)
	for j := range lo {
		lo[j], hi[j] = math.Inf(1), math.Inf(-1)
	}
	for _, set := range [][][]float64{front, mean} {
		for _, p := range set {
			for j := range p {
				lo[j], hi[j] = min(lo[j], p[j]), max(hi[j], p[j])
			}
		}
	}
	eps := func(y []float64) float64 {
		if len(front) == 0 {
			return 0
		}
		best := math.Inf(1)
		for _, f := range front {
			worst := math.Inf(-1)
			for j := range y {
				r := hi[j] - lo[j]
				if r <= 0 {
					r = 1
				}
				worst = max(worst, (y[j]-f[j])/r)
			}
			best = min(best, worst)
		}
		return best
	}
	best, bestKey := -1, [3]float64{}
	for i := range mean {
		if !live[i] {
			continue
		}
		seen := 0.0
		if cands[i].Seen {
			seen = 1
		}
		key := [3]float64{seen, -pf[i], eps(mean[i])}
		if best < 0 || slices.Compare(key[:], bestKey[:]) < 0 {
			best, bestKey = i, key
		}
	}
	return best
}

// PredictorCovers reports whether p models every metric of target that the
// objectives and constraints refer to (so Screen can score candidates on
// it); the error names the first missing one.
func (s *Spec) PredictorCovers(target string, p *Predictor) error {
	for r := range s.MetricRefs {
		if r.Metric == MetricParams || r.Target != target {
			continue
		}
		if p == nil || p.Models[MetricKey{Metric: r.Metric, At: r.At}] == nil {
			return fmt.Errorf("%s at %d: %w", r.Ref, r.At, ErrNoModel)
		}
	}
	return nil
}
