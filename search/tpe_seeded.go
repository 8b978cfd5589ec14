package search

import (
	"cmp"
	"math"
	"slices"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"
)

// seededTPE is goptuna's TPE sampler made reproducible for a seed. With
// one EI candidate (the default, see TPEOptions.EICandidates) goptuna
// v0.9.0's TPE proposes a categorical parameter by one draw from l(x), the
// weighted counts of the choice among the γ(n) best observations plus a
// prior weight of 1 per choice, and it makes that draw from the
// process-wide math/rand source; its start-up trials come from
// RandomSampler, which does the same. seededTPE computes the same
// distribution from the same observations (goptuna's DefaultGamma and
// DefaultWeights, its ordering of complete and pruned trials) and draws
// from a stream keyed by the seed, the trial number and the parameter,
// so a seed reproduces a search. Other distributions, and more than one
// EI candidate, go to goptuna's sampler unchanged.
type seededTPE struct {
	inner   *tpe.Sampler
	random  *seededRandom
	seed    int64
	startup int
	ei      int
}

func newSeededTPE(seed int64, startup, ei int) *seededTPE {
	return &seededTPE{
		inner: tpe.NewSampler(
			tpe.SamplerOptionSeed(seed),
			tpe.SamplerOptionNumberOfStartupTrials(startup),
			tpe.SamplerOptionNumberOfEICandidates(ei)),
		random: newSeededRandom(seed), seed: seed, startup: startup, ei: ei,
	}
}

// Sample implements goptuna.Sampler.
func (s *seededTPE) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist interface{}) (float64, error) {
	d, ok := dist.(goptuna.CategoricalDistribution)
	if !ok || s.ei != 1 || len(d.Choices) <= 1 {
		return s.inner.Sample(study, trial, name, dist)
	}
	trials, err := study.GetTrials()
	if err != nil {
		return 0, err
	}
	sign := 1.0
	if study.Direction() == goptuna.StudyDirectionMaximize {
		sign = -1
	}
	type obs struct {
		value int
		score [2]float64
	}
	var pairs []obs
	for _, t := range trials {
		if t.State != goptuna.TrialStateComplete && t.State != goptuna.TrialStatePruned {
			continue
		}
		v, ok := t.InternalParams[name]
		if !ok {
			continue
		}
		var sc [2]float64
		switch {
		case t.State == goptuna.TrialStateComplete:
			sc = [2]float64{math.Inf(-1), sign * t.Value}
		case len(t.IntermediateValues) > 0:
			step := 0
			var iv float64
			for k, x := range t.IntermediateValues {
				if k > step {
					step, iv = k, x
				}
			}
			sc = [2]float64{float64(-step), sign * iv}
		default:
			sc = [2]float64{math.Inf(1), 0}
		}
		pairs = append(pairs, obs{int(v), sc})
	}
	if len(pairs) < s.startup {
		return s.random.Sample(study, trial, name, dist)
	}
	slices.SortStableFunc(pairs, func(a, b obs) int {
		if c := cmp.Compare(a.score[0], b.score[0]); c != 0 {
			return c
		}
		return cmp.Compare(a.score[1], b.score[1])
	})
	below := pairs[:tpe.DefaultGamma(len(pairs))]
	w := tpe.DefaultWeights(len(below))
	p := make([]float64, len(d.Choices))
	for i := range p {
		p[i] = 1 // the prior
	}
	for _, b := range below {
		// goptuna weights a count by DefaultWeights at the choice's index
		// (all ones for the at most 25 observations of l(x)).
		if b.value < len(w) {
			p[b.value] += w[b.value]
		} else {
			p[b.value]++
		}
	}
	var sum float64
	for _, x := range p {
		sum += x
	}
	u := trialRand(s.seed, trial.Number, "tpe:"+name).Float64() * sum
	for i, x := range p {
		if u < x {
			return float64(i), nil
		}
		u -= x
	}
	return float64(len(p) - 1), nil
}
