package driver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
	"github.com/hilsearch/hilsearch/workload"
)

// Values maps a measurement to the metric values objectives and
// constraints refer to, without those the measurement's runtime lacks
// (wire.Measurement.Absent). peak_rss_mb at a prompt length or decode
// depth is that row's own peak when the agent measured peaks per context
// (Measurement.PeakRSSPerContext); otherwise, and for contexts without a
// row of their own, the job's peak, whose largest context is the
// workload's largest. Energy per token (mJ) is a row's median where the
// agent measured it; a row whose energy is unavailable has no energy
// value (EnergyMissing says why).
func Values(m *wire.Measurement, w workload.Workload) search.Values {
	v, _ := ValuesSpread(m, w)
	return v
}

// ValuesSpread is Values with each value's spread: one standard deviation
// of the value, its row's relative spread of the median (wire.Stat.RelSpread,
// what the agent's repetition controller bounds) times the value. A decode
// p95 takes its row's spread; peak RSS has none (0).
func ValuesSpread(m *wire.Measurement, w workload.Workload) (search.Values, search.Values) {
	v, sd := search.Values{}, search.Values{}
	add := func(metric search.Metric, at int, x, rel float64) {
		k := search.MetricKey{Metric: metric, At: at}
		v[k], sd[k] = x, rel*x
	}
	for _, p := range m.Prefill {
		add(search.MetricPrefillTPS, p.PromptLength, p.TokensPerSec.Median, p.TokensPerSec.RelSpread)
		add(search.MetricTTFT, p.PromptLength, p.TTFTms.Median, p.TTFTms.RelSpread)
		if e := p.Energy; e != nil && e.MJPerToken != nil {
			add(search.MetricPrefillEnergy, p.PromptLength, e.MJPerToken.Median, e.MJPerToken.RelSpread)
		}
	}
	for _, d := range m.Decode {
		add(search.MetricDecodeP50, d.Depth, d.MsPerToken.P50, d.MsPerToken.RelSpread)
		if !m.Lacks(string(search.MetricDecodeP95)) {
			add(search.MetricDecodeP95, d.Depth, d.MsPerToken.P95, d.MsPerToken.RelSpread)
		}
		if e := d.Energy; e != nil && e.MJPerToken != nil {
			add(search.MetricDecodeEnergy, d.Depth, e.MJPerToken.Median, e.MJPerToken.RelSpread)
		}
	}
	rss := float64(m.PeakRSSBytes) / (1 << 20)
	for _, c := range append(slices.Clone(w.PromptLengths), w.DecodeDepths...) {
		add(search.MetricPeakRSS, c, rss, 0)
	}
	if m.PeakRSSPerContext {
		for _, p := range m.Prefill {
			if p.PeakRSSBytes > 0 {
				add(search.MetricPeakRSS, p.PromptLength, float64(p.PeakRSSBytes)/(1<<20), 0)
			}
		}
		for _, d := range m.Decode {
			if d.PeakRSSBytes > 0 {
				add(search.MetricPeakRSS, d.Depth, float64(d.PeakRSSBytes)/(1<<20), 0)
			}
		}
	}
	return v, sd
}

// EnergyMissing says why m gives no energy value for an energy metric
// that spec's objectives or constraints refer to on target: the row's "unavailable" reason, or
// that the row carries no energy figure at all (an agent older than
// energy measurement, or a runtime that gives none). It is "" when every
// referenced energy value is there.
func EnergyMissing(m *wire.Measurement, spec *search.Spec, target string) string {
	for r := range spec.MetricRefs {
		if r.Target != target || !r.Metric.Energy() {
			continue
		}
		mt, at := r.Metric, r.At
		var e *wire.Energy
		found := false
		if mt == search.MetricPrefillEnergy {
			for _, p := range m.Prefill {
				if p.PromptLength == at {
					e, found = p.Energy, true
				}
			}
		} else {
			for _, d := range m.Decode {
				if d.Depth == at {
					e, found = d.Energy, true
				}
			}
		}
		switch {
		case !found:
			continue // Outcome reports the missing row
		case e == nil:
			return fmt.Sprintf("%s at %d: the measurement has no energy figure (agent %s, runtime %s)", mt, at, m.AgentVersion, cmp.Or(m.Runtime, "native"))
		case e.MJPerToken == nil:
			return fmt.Sprintf("%s at %d: energy unavailable on this device: %s", mt, at, cmp.Or(e.Unavailable, "no reason given"))
		}
	}
	return ""
}

// ScoreValues are an answered evaluation's scores as the values of the
// pseudo-target named after its evaluator ("<score>@<evaluator>" reads
// them at At 0).
func ScoreValues(e api.Evaluation) search.Values {
	v := search.Values{}
	for k, x := range e.Scores {
		v[search.MetricKey{Metric: search.Metric(k)}] = x
	}
	return v
}

// Results turns a search's stored complete trials into results for
// search's fronts and hypervolume, in the same order: result i is pts[i].
// Only the outcome is set. search.Result.Number is the goptuna trial
// number, which counts rejected candidates too; the coordinator's trial
// number is pts[i].Number.
func Results(pts []store.TrialPoint) []search.Result {
	res := make([]search.Result, len(pts))
	for i, p := range pts {
		res[i] = search.Result{Outcome: search.Outcome{Values: p.Objectives, Violation: p.Violation}}
	}
	return res
}

// pickDevice chooses, among the live devices matching target that offer
// the workload's runtime, an online one below the limit of this search's
// jobs in flight, counting the jobs the trial being assigned has already
// taken on it, and prefers the one with the fewest (so a trial whose
// targets match the same devices spreads over them). When every such
// device is full only because of this trial's own jobs, it waits for a
// busy device that this trial has not taken yet (it frees up soon); only
// when there is none (one device serves several targets) does it place a
// second job of the trial on a device that has room by in-flight count
// alone.
func (d *driver) pickDevice(ctx context.Context, t search.Target, inflight, taken map[string]int, limit int) (string, error) {
	devs, err := d.st().MatchDevices(ctx, t.Devices, t.Class, t.Tags)
	if err != nil {
		return "", err
	}
	best, bestLoad := "", 0
	shared, sharedLoad := "", 0
	otherBusy := false
	for _, dev := range devs {
		if dev.Status == api.DeviceOffline || !slices.Contains(wire.ProfileRuntimes(dev.Profile), d.wl.RuntimeName()) {
			continue
		}
		n := inflight[dev.ID] + taken[dev.ID]
		switch {
		case n < limit:
			if best == "" || n < bestLoad {
				best, bestLoad = dev.ID, n
			}
		case inflight[dev.ID] < limit:
			if shared == "" || n < sharedLoad {
				shared, sharedLoad = dev.ID, n
			}
		case taken[dev.ID] == 0:
			otherBusy = true
		}
	}
	if best == "" && !otherBusy {
		best = shared
	}
	return best, nil
}

// dispatch starts trials while the budget allows and every target has a
// device with room.
func (d *driver) dispatch(ctx context.Context, total, measured int) error {
	inflight, err := d.st().InFlight(ctx, d.id)
	if err != nil {
		return err
	}
	limit := max(d.spec.Budget.MaxInFlightPerDevice, 1)
	for total < d.spec.Budget.MaxTrials {
		assign := map[string]string{}
		taken := map[string]int{}
		for _, t := range d.spec.Targets {
			dev, err := d.pickDevice(ctx, t, inflight, taken, limit)
			if err != nil {
				return err
			}
			if dev == "" {
				return nil // wait for a device (the API shows waiting_for)
			}
			assign[t.Name] = dev
			taken[dev]++
		}
		cand, pred, err := d.propose(ctx, total, measured, assign)
		if errors.Is(err, search.ErrSpaceExhausted) {
			state := api.SearchFinished
			if total == 0 {
				state = api.SearchFailed
			}
			return d.st().SetSearchState(ctx, d.id, []api.SearchState{api.SearchRunning}, state, "no admissible candidate left in the space")
		}
		if err != nil {
			return err
		}
		if rej, err := d.opt.Rejections(); err == nil {
			n := 0
			for _, c := range rej {
				n += c
			}
			_ = d.st().SetRejected(ctx, d.id, n)
		}
		if err := d.startTrial(ctx, total, cand, pred, assign, inflight); err != nil {
			return err
		}
		total++
	}
	return nil
}

func (d *driver) startTrial(ctx context.Context, number int, cand search.Candidate, pred *prediction, assign map[string]string, inflight map[string]int) error {
	specJSON, err := cand.Arch.JSON()
	if err != nil {
		return err
	}
	hash := cand.Arch.Hash()
	trial := store.TrialRow{StudyTrial: cand.TrialID, Trial: api.Trial{SearchID: d.id, Number: number, Arch: specJSON, ArchHash: hash,
		Params: cand.Params, Layers: mixers(&cand.Arch)}}
	if pred != nil {
		trial.Predicted, trial.PredictedStd = pred.mean, pred.std
	}
	var reqs []jobs.Request
	for _, t := range d.spec.Targets {
		dev := assign[t.Name]
		tt := api.TrialTarget{Target: t.Name, DeviceID: dev}
		mid, hit, err := d.st().CachedMeasurement(ctx, hash, dev, d.wl.Hash())
		if err != nil {
			return err
		}
		if hit {
			tt.MeasurementID = &mid
		} else {
			reqs = append(reqs, jobs.Request{DeviceID: dev, Spec: &cand.Arch, Workload: d.wl, Target: t.Name, Class: d.sharedClass(t)})
			inflight[dev]++
		}
		trial.Targets = append(trial.Targets, tt)
	}
	// The trial and its jobs are stored together; a job whose publish
	// fails is published again by the jobs manager's loop.
	if _, err := d.m.d.Jobs.Create(ctx, reqs, &trial); err != nil && !errors.Is(err, jobs.ErrNotPublished) {
		return err
	}
	if err := d.ensureEvaluations(ctx, number, &cand.Arch); err != nil {
		return err
	}
	d.log.Info("trial started", "trial", number, "params", cand.Params, "jobs", len(reqs), "cached", len(trial.Targets)-len(reqs))
	d.m.d.Events.Publish(api.TrialEvent{SearchID: d.id, Number: number, State: api.TrialRunning})
	return nil
}

// ensureEvaluations has the evaluation manager create the trial's
// evaluation jobs (idempotent).
func (d *driver) ensureEvaluations(ctx context.Context, number int, a *arch.Spec) error {
	if len(d.spec.EvaluatorNames()) == 0 {
		return nil
	}
	if d.m.d.Evals == nil {
		return errors.New("the search names evaluator scores but this coordinator runs no evaluation manager")
	}
	return d.m.d.Evals.Ensure(ctx, d.id, d.spec, number, a)
}

// sharedClass is the class whose shared subject t's jobs are published on,
// or "" to pin them to the device chosen: a target chosen by class alone
// goes to the class, unless another target of the search names the same
// class (then the driver spreads the trial's jobs over distinct devices
// itself, which a shared subject would not).
func (d *driver) sharedClass(t search.Target) string {
	if t.Class == "" || len(t.Devices) > 0 || len(t.Tags) > 0 {
		return ""
	}
	for _, o := range d.spec.Targets {
		if o.Name != t.Name && o.Class == t.Class {
			return ""
		}
	}
	return t.Class
}

// redispatchLost gives every running trial's target whose job failed with
// device_lost a new job on another online matching device. It returns the
// lost targets still waiting (by trial number and target name): no such
// device is free now, but one exists. A target with no other live matching
// device at all, or left when the wall-time budget ran out, is not in the
// map: collect then fails its trial with the device_lost error.
func (d *driver) redispatchLost(ctx context.Context, outOfTime bool) (map[int]map[string]bool, error) {
	lost, err := d.st().LostTargets(ctx, d.id)
	if err != nil || len(lost) == 0 || outOfTime {
		return nil, err
	}
	inflight, err := d.st().InFlight(ctx, d.id)
	if err != nil {
		return nil, err
	}
	limit := max(d.spec.Budget.MaxInFlightPerDevice, 1)
	trials, err := d.st().TrialTargets(ctx, d.id, api.TrialRunning, -1)
	if err != nil {
		return nil, err
	}
	waiting := map[int]map[string]bool{}
	for _, l := range lost {
		var t search.Target
		for _, st := range d.spec.Targets {
			if st.Name == l.Target {
				t = st
			}
		}
		if t.Name == "" {
			continue
		}
		// Devices this trial's other targets use are taken, so the
		// replacement spreads like a first dispatch.
		taken := map[string]int{l.DeviceID: limit}
		for _, tt := range trials[l.Number] {
			if tt.Target != l.Target {
				taken[tt.DeviceID]++
			}
		}
		dev, err := d.pickDevice(ctx, t, inflight, taken, limit)
		if err != nil {
			return nil, err
		}
		if dev == "" || dev == l.DeviceID {
			devs, err := d.st().MatchDevices(ctx, t.Devices, t.Class, t.Tags)
			if err != nil {
				return nil, err
			}
			other := false
			for _, m := range devs {
				other = other || (m.ID != l.DeviceID && slices.Contains(wire.ProfileRuntimes(m.Profile), d.wl.RuntimeName()))
			}
			if other {
				if waiting[l.Number] == nil {
					waiting[l.Number] = map[string]bool{}
				}
				waiting[l.Number][l.Target] = true
			}
			continue
		}
		spec, err := d.trialSpec(ctx, l.Number)
		if err != nil {
			return nil, err
		}
		_, err = d.m.d.Jobs.Redispatch(ctx, d.id, l.Number, l.JobID,
			jobs.Request{DeviceID: dev, Spec: spec, Workload: d.wl, Target: l.Target, Class: d.sharedClass(t)})
		switch {
		case errors.Is(err, store.ErrAlreadyReplaced):
			continue
		case err != nil && !errors.Is(err, jobs.ErrNotPublished):
			return nil, err
		}
		inflight[dev]++
		d.log.Info("trial target re-dispatched after its device was lost", "trial", l.Number, "target", l.Target, "lost", l.DeviceID, "device", dev)
		d.m.d.Events.Publish(api.TrialEvent{SearchID: d.id, Number: l.Number, State: api.TrialRunning})
		if waiting[l.Number] == nil {
			waiting[l.Number] = map[string]bool{}
		}
		waiting[l.Number][l.Target] = true // the new job is read next round
	}
	return waiting, nil
}

// trialSpec is the architecture of one of the search's trials.
func (d *driver) trialSpec(ctx context.Context, number int) (*arch.Spec, error) {
	tr, err := d.st().GetTrial(ctx, d.id, number)
	if err != nil {
		return nil, err
	}
	spec, err := arch.Parse(tr.Arch)
	if err != nil {
		return nil, fmt.Errorf("trial %d: stored arch: %w", number, err)
	}
	return spec, nil
}

// collect finishes running trials whose targets all reported, and
// re-dispatches targets whose device was lost.
func (d *driver) collect(ctx context.Context, outOfTime bool) error {
	running, err := d.st().RunningTrials(ctx, d.id)
	if err != nil {
		return err
	}
	if len(running) == 0 {
		return nil
	}
	waiting, err := d.redispatchLost(ctx, outOfTime)
	if err != nil {
		return err
	}
	targets, err := d.st().TrialTargets(ctx, d.id, api.TrialRunning, -1)
	if err != nil {
		return err
	}
	evals, err := d.st().TrialEvaluations(ctx, d.id, -1)
	if err != nil {
		return err
	}
	for _, t := range running {
		measured, spreads := map[string]search.Values{}, map[string]search.Values{}
		var failure string
		pending := false
		if n := len(d.spec.EvaluatorNames()); len(evals[t.Number]) < n {
			// A coordinator that stopped between storing the trial and its
			// evaluation jobs: create the missing ones now.
			a, err := arch.Parse(t.Arch)
			if err != nil {
				return fmt.Errorf("trial %d: stored arch: %w", t.Number, err)
			}
			if err := d.ensureEvaluations(ctx, t.Number, a); err != nil {
				return err
			}
			pending = true
		}
		for _, e := range evals[t.Number] {
			switch e.State {
			case api.EvalAnswered:
				measured[e.Evaluator] = ScoreValues(e)
			case api.EvalFailed, api.EvalCancelled:
				failure = fmt.Sprintf("evaluator %s: %s", e.Evaluator, e.State)
				if e.Error != nil {
					failure = *e.Error
				}
			default:
				pending = true
			}
		}
		for _, tt := range targets[t.Number] {
			switch {
			case tt.Measurement != nil:
				measured[tt.Target], spreads[tt.Target] = ValuesSpread(tt.Measurement, d.spec.Workload)
				if why := EnergyMissing(tt.Measurement, d.spec, tt.Target); why != "" {
					failure = fmt.Sprintf("target %s on device %s: %s", tt.Target, tt.DeviceID, why)
				}
			case waiting[t.Number][tt.Target]:
				pending = true
			case tt.JobState == api.JobFailed || tt.JobState == api.JobCancelled:
				reason := string(tt.JobState)
				if tt.JobError != nil {
					reason = *tt.JobError
				}
				failure = fmt.Sprintf("target %s on device %s: %s", tt.Target, tt.DeviceID, reason)
			default:
				pending = true
			}
		}
		switch {
		case failure != "":
			if err := d.finish(ctx, t, nil, nil, failure); err != nil {
				return err
			}
			if d.m.d.Evals != nil {
				if err := d.m.d.Evals.CancelForTrial(ctx, d.id, t.Number, failure); err != nil {
					return err
				}
			}
		case !pending:
			out, err := d.spec.Outcome(t.Params, measured)
			if err != nil {
				err = d.finish(ctx, t, nil, nil, err.Error())
			} else {
				err = d.finish(ctx, t, &out, d.spec.InflateObjectiveStd(d.spec.ObjectiveStd(spreads), out.Values, d.noise), "")
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// finish ends a trial: the optimizer's record (Tell or Fail) and the trial
// row (with std, the objectives' standard deviations) are written in one
// transaction. A trial the optimizer already knows
// as finished (written before these writes were one transaction, by a
// coordinator that died in between) is only stored.
func (d *driver) finish(ctx context.Context, t store.TrialRow, out *search.Outcome, std []float64, failure string) error {
	tell := func() error {
		var err error
		if out != nil {
			err = d.opt.Tell(t.StudyTrial, *out)
		} else {
			err = d.opt.Fail(t.StudyTrial, failure)
		}
		if err != nil && !errors.Is(err, search.ErrUnknownTrial) {
			return fmt.Errorf("trial %d: %w", t.Number, err)
		}
		return nil
	}
	state := api.TrialComplete
	var err error
	if out != nil {
		err = d.st().FinishTrial(ctx, d.study, tell, d.id, t.Number, out.Values, std, out.Violation, "")
	} else {
		state = api.TrialFailed
		err = d.st().FinishTrial(ctx, d.study, tell, d.id, t.Number, nil, nil, 0, failure)
	}
	if err != nil {
		return err
	}
	d.log.Info("trial finished", "trial", t.Number, "state", state, "error", failure)
	d.m.d.Events.Publish(api.TrialEvent{SearchID: d.id, Number: t.Number, State: state})
	return nil
}

// cancelOutstanding withdraws the search's unfinished jobs and fails its
// running trials.
func (d *driver) cancelOutstanding(ctx context.Context) error {
	if err := d.m.d.Jobs.CancelForSearch(ctx, d.id); err != nil {
		return err
	}
	if d.m.d.Evals != nil {
		if err := d.m.d.Evals.CancelForSearch(ctx, d.id); err != nil {
			return err
		}
	}
	running, err := d.st().RunningTrials(ctx, d.id)
	if err != nil {
		return err
	}
	for _, t := range running {
		if err := d.finish(ctx, t, nil, nil, "search cancelled"); err != nil {
			return err
		}
	}
	d.m.d.Events.Publish(api.SearchEvent{ID: d.id, State: api.SearchCancelled})
	return nil
}
