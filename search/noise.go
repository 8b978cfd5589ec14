package search

import (
	"cmp"
	"math"
	"slices"

	"github.com/hilsearch/hilsearch/search/pareto"
)

// Noise-aware front defaults.
const (
	// DefaultNoiseZ is the half-width of a value's interval in standard
	// deviations (about 95% for a normal error).
	DefaultNoiseZ = 2
	// DefaultMaxRemeasure is the number of times one trial may be
	// re-measured.
	DefaultMaxRemeasure = 2
)

// NoisyResult is a measured trial with the spread of each objective.
type NoisyResult struct {
	Result
	// Std holds each objective's standard deviation (natural units; 0 for
	// exact objectives such as params).
	Std []float64
	// Remeasured counts the re-measurements already folded into Outcome.
	Remeasured int
}

// NoiseVerdict says how a trial's front membership depends on noise.
type NoiseVerdict struct {
	// Number is the trial number.
	Number int
	// OnFront reports membership of the nominal (noise-free) feasible front.
	OnFront bool
	// Ambiguous reports that noise within the intervals could change the
	// membership: a front member that a neighbour could dominate, or a
	// dominated trial that no neighbour certainly dominates.
	Ambiguous bool
	// Neighbour is the trial whose interval overlaps (-1 if none).
	Neighbour int
}

// NoisyFront classifies every feasible result. Each objective value y
// carries the interval [y − z·σ, y + z·σ] (minimisation form). A front
// member is ambiguous when some other result's optimistic corner
// dominates its pessimistic corner; a dominated result is ambiguous when
// none of its dominators' pessimistic corners dominates its optimistic
// corner (so it could be on the front). Infeasible results are not
// classified (the constraint margin is a separate question). z ≤ 0 means
// DefaultNoiseZ.
func (s *Spec) NoisyFront(results []NoisyResult, z float64) []NoiseVerdict {
	if z <= 0 {
		z = DefaultNoiseZ
	}
	var idx []int
	for i, r := range results {
		if r.Outcome.Feasible() {
			idx = append(idx, i)
		}
	}
	m := len(s.Objectives)
	y := make([][]float64, len(idx))
	lo := make([][]float64, len(idx))
	hi := make([][]float64, len(idx))
	for a, i := range idx {
		y[a] = s.Minimized(results[i].Outcome.Values)
		lo[a], hi[a] = make([]float64, m), make([]float64, m)
		for j := 0; j < m; j++ {
			sd := 0.0
			if j < len(results[i].Std) {
				sd = math.Abs(results[i].Std[j])
			}
			lo[a][j], hi[a][j] = y[a][j]-z*sd, y[a][j]+z*sd
		}
	}
	front := map[int]bool{}
	for _, a := range pareto.NonDominated(y) {
		front[a] = true
	}
	weakly := func(p, q []float64) bool { // p weakly dominates q, strictly somewhere
		return pareto.Dominates(p, q)
	}
	out := make([]NoiseVerdict, 0, len(idx))
	for a, i := range idx {
		v := NoiseVerdict{Number: results[i].Number, OnFront: front[a], Neighbour: -1}
		if front[a] {
			for b := range idx {
				if b != a && weakly(lo[b], hi[a]) {
					v.Ambiguous, v.Neighbour = true, results[idx[b]].Number
					break
				}
			}
		} else {
			v.Ambiguous = true
			for b := range idx {
				if b == a || !pareto.Dominates(y[b], y[a]) {
					continue
				}
				if weakly(hi[b], lo[a]) {
					v.Ambiguous = false
					break
				}
				if v.Neighbour < 0 {
					v.Neighbour = results[idx[b]].Number
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// MaxRemeasurePerTrial and MaxNoiseZ bound the re-measurement options.
const (
	MaxRemeasurePerTrial = 10
	MaxNoiseZ            = 10
)

// RemeasureOptions bounds re-measurement; it is also the search spec's
// "remeasure" option. Re-measurement is on by default: after trials
// complete, the driver measures again the trials whose front membership
// depends on noise (Spec.Remeasure) and pools the repeats (PoolRepeats).
type RemeasureOptions struct {
	// Off turns re-measurement off.
	Off bool `json:"off,omitempty"`
	// Max is the most re-measurements of the whole search. Defaults to a
	// tenth of the budget's max_trials, at least 1 (DefaultRemeasureMax).
	Max int `json:"max,omitempty"`
	// Z is the interval half-width in standard deviations
	// (DefaultNoiseZ when 0).
	Z float64 `json:"z,omitempty"`
	// MaxPerTrial is the most re-measurements of one trial
	// (DefaultMaxRemeasure when 0).
	MaxPerTrial int `json:"max_per_trial,omitempty"`
	// Budget is the number of re-measurements still allowed for the
	// search (Max minus those dispatched); set by the driver, not by the
	// spec.
	Budget int `json:"-"`
}

// DefaultRemeasureMax is the default RemeasureOptions.Max of a search
// of maxTrials trials: a tenth of them, at least one.
func DefaultRemeasureMax(maxTrials int) int { return max(1, maxTrials/10) }

// RemeasureOptions returns the search's re-measurement options with their
// defaults (Budget is left 0).
func (s *Spec) RemeasureOptions() RemeasureOptions {
	var o RemeasureOptions
	if s.Remeasure != nil {
		o = *s.Remeasure
	}
	if o.Max == 0 {
		o.Max = DefaultRemeasureMax(s.Budget.MaxTrials)
	}
	if o.Z == 0 {
		o.Z = DefaultNoiseZ
	}
	if o.MaxPerTrial == 0 {
		o.MaxPerTrial = DefaultMaxRemeasure
	}
	o.Budget = 0
	return o
}

// ObjectiveStd returns each objective's standard deviation from the
// spreads of a candidate's measurements per target (one standard
// deviation per metric, as Values holds values): 0 for params and for a
// metric whose spread is unknown.
func (s *Spec) ObjectiveStd(spreads map[string]Values) []float64 {
	out := make([]float64, len(s.Objectives))
	for i, o := range s.Objectives {
		if m, _ := splitMetric(o.Metric); m == MetricParams {
			continue
		}
		if v, err := metricValue(o.Metric, o.At, 0, spreads); err == nil {
			out[i] = math.Abs(v)
		}
	}
	return out
}

// ChooseRemeasure returns the trial numbers to measure again, most useful
// first, at most Budget of them: ambiguous front members (largest
// hypervolume contribution first), then ambiguous dominated trials
// (nearest to the front first), skipping trials re-measured MaxPerTrial
// times already. ref is the hypervolume reference point (minimisation).
func (s *Spec) ChooseRemeasure(results []NoisyResult, ref []float64, opt RemeasureOptions) []int {
	if opt.MaxPerTrial <= 0 {
		opt.MaxPerTrial = DefaultMaxRemeasure
	}
	if opt.Budget <= 0 {
		return nil
	}
	byNumber := map[int]*NoisyResult{}
	for i := range results {
		byNumber[results[i].Number] = &results[i]
	}
	verdicts := s.NoisyFront(results, opt.Z)
	var frontPts [][]float64
	var frontNum []int
	for _, v := range verdicts {
		if v.OnFront {
			frontPts = append(frontPts, s.Minimized(byNumber[v.Number].Outcome.Values))
			frontNum = append(frontNum, v.Number)
		}
	}
	contrib := map[int]float64{}
	if ref != nil {
		for k, c := range pareto.Contributions(frontPts, ref) {
			contrib[frontNum[k]] = c
		}
	}
	type cand struct {
		number  int
		onFront bool
		key     float64
	}
	var cs []cand
	for _, v := range verdicts {
		r := byNumber[v.Number]
		if !v.Ambiguous || r.Remeasured >= opt.MaxPerTrial {
			continue
		}
		c := cand{number: v.Number, onFront: v.OnFront}
		if v.OnFront {
			c.key = -contrib[v.Number]
		} else {
			c.key = epsToFront(frontPts, s.Minimized(r.Outcome.Values))
		}
		cs = append(cs, c)
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		if a.onFront != b.onFront {
			if a.onFront {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.number, b.number)
	})
	var out []int
	for _, c := range cs[:min(len(cs), opt.Budget)] {
		out = append(out, c.number)
	}
	return out
}

// epsToFront is the smallest relative amount by which y must improve in
// every objective to be non-dominated by front (0 when it already is).
func epsToFront(front [][]float64, y []float64) float64 {
	best := 0.0
	for _, f := range front {
		if !pareto.Dominates(f, y) {
			continue
		}
		need := math.Inf(1)
		for j := range y {
			d := (y[j] - f[j]) / max(math.Abs(f[j]), 1e-12)
			need = min(need, d) // improving one objective past f escapes
		}
		best = max(best, need)
	}
	return best
}

// PoolRepeats combines two measurements of one value (each with its
// standard deviation) into their inverse-variance weighted mean and its
// standard deviation; with a zero or unknown spread the plain mean is
// used.
func PoolRepeats(v1, sd1, v2, sd2 float64) (float64, float64) {
	if sd1 > 0 && sd2 > 0 {
		w1, w2 := 1/(sd1*sd1), 1/(sd2*sd2)
		return (w1*v1 + w2*v2) / (w1 + w2), math.Sqrt(1 / (w1 + w2))
	}
	return (v1 + v2) / 2, max(sd1, sd2) / math.Sqrt2
}

// Repeat is one measurement of a value, with its within-measurement
// standard deviation (the spread of its repetitions; 0 when unknown).
type Repeat struct {
	Value float64
	Std   float64
}

// ExcessNoise estimates how much independent measurements of the same
// network on one device scatter beyond their own spread: the relative
// standard deviation r such that a measurement's total standard
// deviation is sqrt(Std² + (r·Value)²) (a device whose speed drifts
// between runs, which the spread of one run's repetitions cannot show).
// groups holds the repeated measurements of each network (groups of
// fewer than two are ignored). r solves the method-of-moments equation
// Σ_g Σ_i (y_i − ȳ_g)² / (Std_i² + r²·ȳ_g²) = Σ_g (n_g − 1), with ȳ_g the
// plain mean of group g; it is 0 when the repeats agree within their own
// spread. dof is Σ_g (n_g − 1), the number of independent differences the
// estimate rests on (0: no estimate).
func ExcessNoise(groups [][]Repeat) (r float64, dof int) {
	type grp struct {
		mean float64
		ys   []Repeat
	}
	var gs []grp
	for _, g := range groups {
		var ys []Repeat
		for _, x := range g {
			if x.Value > 0 && !math.IsInf(x.Value, 0) {
				ys = append(ys, Repeat{x.Value, math.Abs(x.Std)})
			}
		}
		if len(ys) < 2 {
			continue
		}
		m := 0.0
		for _, x := range ys {
			m += x.Value
		}
		gs = append(gs, grp{m / float64(len(ys)), ys})
		dof += len(ys) - 1
	}
	if dof == 0 {
		return 0, 0
	}
	chi2 := func(r float64) float64 {
		s := 0.0
		for _, g := range gs {
			for _, x := range g.ys {
				d := x.Value - g.mean
				v := x.Std*x.Std + r*r*g.mean*g.mean
				if v == 0 {
					if d != 0 {
						return math.Inf(1)
					}
					continue
				}
				s += d * d / v
			}
		}
		return s
	}
	target := float64(dof)
	if chi2(0) <= target {
		return 0, dof
	}
	// chi2 decreases in r; bracket the root, then bisect.
	hi := 1.0
	for chi2(hi) > target && hi < 1e6 {
		hi *= 2
	}
	lo := 0.0
	for range 100 {
		mid := (lo + hi) / 2
		if chi2(mid) > target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, dof
}

// WithExcessNoise returns a value's standard deviation with the device's
// relative excess noise r (ExcessNoise) added: sqrt(sd² + (r·v)²).
func WithExcessNoise(v, sd, r float64) float64 {
	return math.Hypot(sd, r*v)
}

// MinExcessNoiseDOF is the fewest independent repeat differences (ExcessNoise's
// dof) an estimate of a metric's between-run noise must rest on before it
// is used; below it the noise is taken as 0, the within-run spread alone.
// Three differences give a rough estimate (its relative error is about
// 1/√(2·dof), 40% at three), which is still far closer than 0 on devices
// whose runs disagree several times beyond their repetitions' spread.
const MinExcessNoiseDOF = 3

// ValuesRepeat is one measurement of a network on one target: its values
// and their within-run standard deviations.
type ValuesRepeat struct {
	Values, Std Values
}

// ExcessNoiseByKey estimates each metric's relative between-run noise on
// one target (ExcessNoise) from networks measured more than once:
// groups[i] holds network i's measurements. Metrics whose estimate rests
// on fewer than MinExcessNoiseDOF differences are left out (0).
func ExcessNoiseByKey(groups [][]ValuesRepeat) (r Values, dof map[MetricKey]int) {
	byKey := map[MetricKey][][]Repeat{}
	for _, g := range groups {
		perKey := map[MetricKey][]Repeat{}
		for _, m := range g {
			for k, v := range m.Values {
				perKey[k] = append(perKey[k], Repeat{Value: v, Std: m.Std[k]})
			}
		}
		for k, reps := range perKey {
			byKey[k] = append(byKey[k], reps)
		}
	}
	r, dof = Values{}, map[MetricKey]int{}
	for k, gs := range byKey {
		x, n := ExcessNoise(gs)
		if n < MinExcessNoiseDOF {
			continue
		}
		r[k], dof[k] = x, n
	}
	return r, dof
}

// InflateStd adds the between-run noise to a measurement's standard
// deviations on one target: each value's spread sd becomes
// WithExcessNoise(v, sd, r) with r the metric's relative noise on that
// target (ExcessNoiseByKey; absent metrics keep sd). The result is a new
// map.
func InflateStd(vals, sds, r Values) Values {
	out := make(Values, len(sds))
	for k, s := range sds {
		out[k] = WithExcessNoise(vals[k], s, r[k])
	}
	return out
}

// InflateObjectiveStd adds the between-run noise to the objective standard
// deviations std of objective values obj (ObjectiveStd's, for a trial
// measured once): objective i's relative noise is that of the metric it
// reads (ObjectiveStd of r), so std[i] becomes √(std[i]² + (rᵢ·obj[i])²).
func (s *Spec) InflateObjectiveStd(std, obj []float64, r map[string]Values) []float64 {
	rObj := s.ObjectiveStd(r)
	out := make([]float64, len(std))
	for i := range std {
		out[i] = std[i]
		if i < len(rObj) && i < len(obj) {
			out[i] = WithExcessNoise(obj[i], std[i], rObj[i])
		}
	}
	return out
}
