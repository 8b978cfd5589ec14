package driver

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/search"
)

// remeasure runs the noise-aware front (#18): it ends the re-measurement
// rounds whose jobs have all ended, pooling a round that measured into
// its trial (poolRound), then, when dispatch is true and the spec's
// remeasure option allows, starts rounds for the complete trials whose
// front membership depends on noise (search.Spec.ChooseRemeasure), on the
// devices that measured them, within remeasure.max for the search and
// remeasure.max_per_trial per trial. It returns the rounds still running.
//
// A pooled round revises the trial's outcome in the optimizer too
// (search.Optimizer.Revise, in the transaction that marks the round
// pooled): the optimizer, the trial row, the front, the hypervolume and
// the API all hold the pooled values.
func (d *driver) remeasure(ctx context.Context, dispatch bool) (int, error) {
	all, err := d.st().Remeasurements(ctx, d.id, -1)
	if err != nil {
		return 0, err
	}
	type key struct{ number, round int }
	rounds := map[key][]store.Remeasurement{}
	var order []key
	for _, r := range all {
		k := key{r.Number, r.Round}
		if rounds[k] == nil {
			order = append(order, k)
		}
		rounds[k] = append(rounds[k], r)
	}
	running := map[int]bool{}
	for _, k := range order {
		rs := rounds[k]
		if rs[0].State != store.RemeasureRunning {
			continue
		}
		ended, failure := true, ""
		for _, r := range rs {
			switch {
			case r.Measurement != nil:
			case r.JobState == api.JobFailed || r.JobState == api.JobCancelled:
				failure = fmt.Sprintf("target %s on device %s: %s", r.Target, r.DeviceID, r.JobState)
				if r.JobError != nil {
					failure += ": " + *r.JobError
				}
			default:
				ended = false
			}
		}
		if !ended && failure == "" {
			running[k.number] = true
			continue
		}
		if err := d.poolRound(ctx, k.number, k.round, failure); err != nil {
			return 0, err
		}
	}
	o := d.spec.RemeasureOptions()
	if !dispatch || o.Off {
		return len(running), nil
	}
	o.Budget = o.Max - len(order)
	if o.Budget <= 0 {
		return len(running), nil
	}
	pts, err := d.st().CompletePoints(ctx, d.id)
	if err != nil {
		return 0, err
	}
	// Every stored spread carries the device's between-run noise as last
	// estimated (setNoise, finish and poolRound).
	res := make([]search.NoisyResult, len(pts))
	outs := make([]search.Outcome, len(pts))
	for i, p := range pts {
		outs[i] = search.Outcome{Values: p.Objectives, Violation: p.Violation}
		res[i] = search.NoisyResult{Result: search.Result{Number: p.Number, Outcome: outs[i]}, Std: p.Std, Remeasured: p.Rounds}
		if running[p.Number] {
			res[i].Remeasured = o.MaxPerTrial // not chosen again before its round ends
		}
	}
	// The bound is released as trials complete (all of it once the
	// budget's trials have), so an early front, which later trials
	// reshape, does not use it up.
	o.Budget = min(o.Budget, remeasureReleased(o.Max, len(pts), d.spec.Budget.MaxTrials)-len(order))
	chosen := d.spec.ChooseRemeasure(res, d.spec.ReferencePoint(outs), o)
	if len(chosen) == 0 {
		return len(running), nil
	}
	inflight, err := d.st().InFlight(ctx, d.id)
	if err != nil {
		return 0, err
	}
	limit := max(d.spec.Budget.MaxInFlightPerDevice, 1)
	rnd := map[int]int{}
	for _, p := range pts {
		rnd[p.Number] = p.Rounds
	}
	for _, n := range chosen {
		started, err := d.startRound(ctx, n, rnd[n]+1, inflight, limit)
		if err != nil {
			return 0, err
		}
		if started {
			running[n] = true
		}
	}
	return len(running), nil
}

// startRound dispatches re-measurement round `round` of complete trial
// number: one job per target, on the device that measured it. It starts
// nothing (false) while one of those devices has no free slot.
func (d *driver) startRound(ctx context.Context, number, round int, inflight map[string]int, limit int) (bool, error) {
	tts, err := d.st().TrialTargets(ctx, d.id, api.TrialComplete, number)
	if err != nil {
		return false, err
	}
	spec, err := d.trialSpec(ctx, number)
	if err != nil {
		return false, err
	}
	var reqs []jobs.Request
	for _, tt := range tts[number] {
		if inflight[tt.DeviceID] >= limit {
			return false, nil
		}
		reqs = append(reqs, jobs.Request{DeviceID: tt.DeviceID, Spec: spec, Workload: d.wl, Target: tt.Target})
	}
	if len(reqs) == 0 {
		return false, nil
	}
	_, err = d.m.d.Jobs.Remeasure(ctx, d.id, number, round, reqs)
	switch {
	case errors.Is(err, store.ErrRoundExists):
		return false, nil
	case errors.Is(err, jobs.ErrDeviceNotFound):
		d.log.Warn("trial not re-measured: its device is gone", "trial", number, "err", err)
		return false, nil
	case err != nil && !errors.Is(err, jobs.ErrNotPublished):
		return false, err
	}
	for _, r := range reqs {
		inflight[r.DeviceID]++
	}
	d.log.Info("trial re-measured: its front membership depends on noise", "trial", number, "round", round)
	return true, nil
}

// poolRound ends re-measurement round `round` of trial number: failed
// (failure set; nothing is pooled, the round still counts against the
// bounds), or pooled: per target, the trial's first measurement and those
// of its pooled rounds and of this one, in round order, are folded value
// by value with search.PoolRepeats, and the trial's objectives, their
// standard deviations and its violation are recomputed from the pooled
// values (evaluator scores as answered). The pooled outcome goes to the
// trial row and, through search.Optimizer.Revise, to the trial's goptuna
// trial, in the one transaction that marks the round pooled
// (store.PoolRemeasure): a round is pooled into both or into neither, and
// a coordinator that stops first finds the round still running and pools
// it again from the same measurements, so each round reaches the
// optimizer exactly once.
func (d *driver) poolRound(ctx context.Context, number, round int, failure string) error {
	if failure != "" {
		d.log.Warn("re-measurement failed", "trial", number, "round", round, "error", failure)
		return d.st().FailRemeasure(ctx, d.id, number, round)
	}
	tr, err := d.st().GetTrial(ctx, d.id, number)
	if err != nil {
		return err
	}
	all, err := d.st().Remeasurements(ctx, d.id, -1)
	if err != nil {
		return err
	}
	targets, err := d.st().TrialTargets(ctx, d.id, api.TrialComplete, -1)
	if err != nil {
		return err
	}
	noise, dof := d.excessNoise(all, targets, number, round)
	for target, r := range noise {
		for k, x := range r {
			d.log.Info("between-run noise", "target", target, "metric", k.Metric, "at", k.At, "relative_std", x, "dof", dof[target][k])
		}
	}
	// Each repeat's spread is widened by the between-run noise before
	// it is pooled.
	vals, sds := map[string]search.Values{}, map[string]search.Values{}
	fold := func(target string, v, sd search.Values) {
		sd = search.InflateStd(v, sd, noise[target])
		if vals[target] == nil {
			vals[target], sds[target] = v, sd
			return
		}
		for k, x := range v {
			if old, ok := vals[target][k]; ok {
				vals[target][k], sds[target][k] = search.PoolRepeats(old, sds[target][k], x, sd[k])
			}
		}
	}
	for _, tt := range tr.Targets {
		if tt.Measurement == nil {
			return fmt.Errorf("trial %d: target %s has no measurement to pool with", number, tt.Target)
		}
		v, sd := ValuesSpread(tt.Measurement, d.spec.Workload)
		fold(tt.Target, v, sd)
	}
	for _, r := range all {
		if r.Number == number && (r.State == store.RemeasurePooled || r.Round == round) && r.Measurement != nil {
			v, sd := ValuesSpread(r.Measurement, d.spec.Workload)
			fold(r.Target, v, sd)
		}
	}
	for _, e := range tr.Evaluations {
		if e.State == api.EvalAnswered {
			vals[e.Evaluator] = ScoreValues(e)
		}
	}
	out, err := d.spec.Outcome(tr.Params, vals)
	if err != nil {
		d.log.Warn("re-measurement not pooled", "trial", number, "round", round, "err", err)
		return d.st().FailRemeasure(ctx, d.id, number, round)
	}
	revise := func(studyTrial int) error {
		if err := d.opt.Revise(studyTrial, out); err != nil {
			return fmt.Errorf("trial %d: %w", number, err)
		}
		return nil
	}
	if err := d.st().PoolRemeasure(ctx, d.study, revise, d.id, number, round, out.Values, d.spec.ObjectiveStd(sds), out.Violation); err != nil {
		return err
	}
	d.log.Info("re-measurement pooled", "trial", number, "round", round, "objectives", out.Values)
	d.m.d.Events.Publish(api.TrialEvent{SearchID: d.id, Number: number, State: api.TrialComplete})
	// With this round pooled, noise is the search's estimate.
	return d.setNoise(ctx, noise, targets)
}

// refreshNoise estimates the search's between-run noise from its pooled
// rounds (excessNoise) when the driver starts, and stores it (setNoise).
// With no pooled round there is no estimate, and every stored spread is
// the within-run one already.
func (d *driver) refreshNoise(ctx context.Context) error {
	all, err := d.st().Remeasurements(ctx, d.id, -1)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(all, func(r store.Remeasurement) bool { return r.State == store.RemeasurePooled }) {
		return nil
	}
	targets, err := d.st().TrialTargets(ctx, d.id, api.TrialComplete, -1)
	if err != nil {
		return err
	}
	noise, _ := d.excessNoise(all, targets, -1, -1)
	return d.setNoise(ctx, noise, targets)
}

// setNoise makes noise the search's between-run noise (d.noise, which
// finish uses) and rewrites the stored spread of every complete trial not
// pooled (store.SetMeasuredStd): its measurements' within-run spread
// widened by noise, so the front's error bars and the re-measurement
// choice use it too. targets are the complete trials' targets
// (store.TrialTargets). It runs when the driver starts and after each
// pooled round, the only events that change the estimate.
func (d *driver) setNoise(ctx context.Context, noise map[string]search.Values, targets map[int][]api.TrialTarget) error {
	d.noise = noise
	if len(noise) == 0 {
		return nil
	}
	pts, err := d.st().CompletePoints(ctx, d.id)
	if err != nil {
		return err
	}
	std := map[int][]float64{}
	for _, p := range pts {
		if p.Remeasured > 0 {
			continue
		}
		spreads := map[string]search.Values{}
		for _, tt := range targets[p.Number] {
			if tt.Measurement != nil {
				_, spreads[tt.Target] = ValuesSpread(tt.Measurement, d.spec.Workload)
			}
		}
		sd := d.spec.InflateObjectiveStd(d.spec.ObjectiveStd(spreads), p.Objectives, noise)
		if !slices.Equal(sd, p.Std) {
			std[p.Number] = sd
		}
	}
	return d.st().SetMeasuredStd(ctx, d.id, std)
}

// remeasureReleased is the part of a search's re-measurement bound
// released after complete of its maxTrials trials completed: in
// proportion, rounded up.
func remeasureReleased(bound, complete, maxTrials int) int {
	if complete >= maxTrials || maxTrials <= 0 {
		return bound
	}
	return (bound*complete + maxTrials - 1) / maxTrials
}

// excessNoise estimates each target's between-run noise per metric
// (search.ExcessNoiseByKey) from this search's repeats: every trial with a
// pooled re-measurement round (or round `round` of trial `number`, being
// pooled) gives one group per target, its first measurement and those
// rounds' measurements. all is the search's re-measurement rows, targets
// the complete trials' targets (store.TrialTargets).
func (d *driver) excessNoise(all []store.Remeasurement, targets map[int][]api.TrialTarget, number, round int) (map[string]search.Values, map[string]map[search.MetricKey]int) {
	byTrial := map[int][]store.Remeasurement{}
	var numbers []int
	for _, r := range all {
		if r.Measurement == nil || !(r.State == store.RemeasurePooled || (r.Number == number && r.Round == round)) {
			continue
		}
		if byTrial[r.Number] == nil {
			numbers = append(numbers, r.Number)
		}
		byTrial[r.Number] = append(byTrial[r.Number], r)
	}
	groups := map[string][][]search.ValuesRepeat{}
	for _, n := range numbers { // ascending: all is ordered by number
		g := map[string][]search.ValuesRepeat{}
		for _, tt := range targets[n] {
			if tt.Measurement != nil {
				v, sd := ValuesSpread(tt.Measurement, d.spec.Workload)
				g[tt.Target] = append(g[tt.Target], search.ValuesRepeat{Values: v, Std: sd})
			}
		}
		for _, r := range byTrial[n] {
			if g[r.Target] == nil {
				continue // no first measurement to compare with
			}
			v, sd := ValuesSpread(r.Measurement, d.spec.Workload)
			g[r.Target] = append(g[r.Target], search.ValuesRepeat{Values: v, Std: sd})
		}
		for target, reps := range g {
			groups[target] = append(groups[target], reps)
		}
	}
	noise, dofs := map[string]search.Values{}, map[string]map[search.MetricKey]int{}
	for target, gs := range groups {
		r, dof := search.ExcessNoiseByKey(gs)
		if len(r) > 0 {
			noise[target], dofs[target] = r, dof
		}
	}
	return noise, dofs
}
