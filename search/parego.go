package search

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/c-bata/goptuna"
)

// scalarView is the storage TPE-ParEGO's study reads through. ParEGO
// (Knowles 2006) turns the multi-objective problem into a different
// single-objective one for every new candidate: it draws a weight vector λ
// uniformly from the simplex, normalises each objective to [0, 1] over the
// completed trials, and scores every completed trial by the augmented
// Chebyshev function
//
//	f_λ(y) = max_i λ_i·ŷ_i + ρ·Σ_i λ_i·ŷ_i
//
// TPE then proposes the candidate from those scores. goptuna's TPE reads a
// trial's score from FrozenTrial.Value, so while one candidate is sampled
// this view returns the trials with Value replaced by f_λ. Infeasible
// trials score 2+ρ+violation, above every feasible one (constrained
// domination); rejected candidates are pruned trials, which TPE already
// ranks last. Screened-out candidates (AttrScreened) are left out: TPE
// learns from measured trials only. The trial list is read once per candidate. λ comes from a
// stream keyed by the seed and the trial number and is stored in the
// trial's AttrWeights, so it survives restarts.
type scalarView struct {
	goptuna.Storage
	mu       sync.Mutex
	active   bool
	snapshot []goptuna.FrozenTrial
}

// prepare computes the scores for trial number `number` and activates the
// view.
func (v *scalarView) prepare(o *Optimizer, id, number int) error {
	k := len(o.spec.Objectives)
	r := trialRand(o.spec.Seed, number, "parego")
	w := make([]float64, k)
	var sum float64
	for i := range w {
		w[i] = -math.Log(1 - r.Float64()) // exponential draws, normalised: uniform on the simplex
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	raw, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("parego: %w", err)
	}
	if err := v.Storage.SetTrialSystemAttr(id, AttrWeights, string(raw)); err != nil {
		return fmt.Errorf("parego: trial %d: %w", number, err)
	}
	trials, err := v.Storage.GetAllTrials(o.study.ID)
	if err != nil {
		return fmt.Errorf("parego: trials: %w", err)
	}
	results, err := completedResults(trials, o.genes)
	if err != nil {
		return fmt.Errorf("parego: %w", err)
	}
	scores := scalarise(o.spec, results, w, o.spec.TPE.Rho)
	kept := trials[:0]
	for i := range trials {
		if _, screened := trials[i].SystemAttrs[AttrScreened]; screened {
			continue // TPE learns from measured trials only
		}
		if s, ok := scores[trials[i].Number]; ok {
			trials[i].Value = s
		}
		kept = append(kept, trials[i])
	}
	trials = kept
	v.mu.Lock()
	v.active, v.snapshot = true, trials
	v.mu.Unlock()
	return nil
}

func (v *scalarView) release() {
	v.mu.Lock()
	v.active, v.snapshot = false, nil
	v.mu.Unlock()
}

// GetAllTrials returns the scored snapshot while a candidate is sampled.
func (v *scalarView) GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.active {
		return v.snapshot, nil
	}
	return v.Storage.GetAllTrials(studyID)
}

// scalarise scores results by trial number with the augmented Chebyshev
// function under weights w, objectives normalised over the feasible
// results; infeasible results score by violation, above every feasible one.
func scalarise(s *Spec, results []Result, w []float64, rho float64) map[int]float64 {
	k := len(w)
	lo, hi := make([]float64, k), make([]float64, k)
	for i := range lo {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	for _, r := range results {
		if !r.Outcome.Feasible() {
			continue
		}
		y := s.Minimized(r.Outcome.Values)
		for i := range y {
			lo[i], hi[i] = min(lo[i], y[i]), max(hi[i], y[i])
		}
	}
	out := make(map[int]float64, len(results))
	for _, r := range results {
		if !r.Outcome.Feasible() {
			out[r.Number] = 2 + rho + r.Outcome.Violation
			continue
		}
		y := s.Minimized(r.Outcome.Values)
		var mx, sum float64
		for i := range y {
			yn := 0.0
			if hi[i] > lo[i] {
				yn = (y[i] - lo[i]) / (hi[i] - lo[i])
			}
			mx = max(mx, w[i]*yn)
			sum += w[i] * yn
		}
		out[r.Number] = mx + rho*sum
	}
	return out
}
