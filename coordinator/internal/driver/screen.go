package driver

import (
	"context"
	"errors"
	"fmt"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
)

// prediction is what screening predicted of the candidate it sends to the
// devices: objective means and standard deviations, spec order.
type prediction struct {
	mean, std []float64
}

// propose returns the next candidate to measure as trial number. While the
// search screens (search.Spec.ScreeningActive after `measured` measured
// trials) and the predictor of every assigned device models what the
// objectives and constraints need, it asks the optimizer for a batch, has
// the predictors score it (search.Spec.Screen), stores the others as
// screened (the optimizer records them as pruned, so none is proposed
// again) and returns the best with its prediction. Otherwise it asks for
// one candidate, measured unscreened; a device whose predictor has no
// block probe yet gets the space's probes once (requestProbes).
func (d *driver) propose(ctx context.Context, number, measured int, assign map[string]string) (search.Candidate, *prediction, error) {
	if !d.spec.ScreeningActive(measured) || d.m.d.Predictor == nil {
		c, err := d.opt.Ask(ctx)
		return c, nil, err
	}
	preds := map[string]*search.Predictor{}
	ready := true
	for _, t := range d.spec.Targets {
		dev := assign[t.Name]
		p, err := d.m.d.Predictor(ctx, dev, d.wl.RuntimeName(), d.wl.Hash())
		if err != nil {
			return search.Candidate{}, nil, fmt.Errorf("predictor of device %s: %w", dev, err)
		}
		if err := d.requestProbes(ctx, dev, p); err != nil {
			return search.Candidate{}, nil, err
		}
		if err := d.spec.PredictorCovers(t.Name, p); err != nil {
			if ready {
				d.log.Info("not screening: a device's predictor is not ready", "device", dev, "target", t.Name, "why", err)
			}
			ready = false
		}
		preds[t.Name] = p
	}
	if !ready {
		c, err := d.opt.Ask(ctx)
		return c, nil, err
	}
	o := d.spec.ScreeningOptions()
	batch, err := d.opt.AskBatch(ctx, o.Batch)
	if err != nil && !errors.Is(err, search.ErrSpaceExhausted) {
		d.failAll(batch, "screening: "+err.Error())
		return search.Candidate{}, nil, err
	}
	if len(batch) == 0 {
		return search.Candidate{}, nil, search.ErrSpaceExhausted
	}
	classes, err := d.measuredClasses(ctx)
	if err != nil {
		d.failAll(batch, "screening: "+err.Error())
		return search.Candidate{}, nil, err
	}
	var kept []search.Candidate
	var cands []search.ScreenCandidate
	for _, c := range batch {
		sc := search.ScreenCandidate{Params: c.Params, Predicted: map[string]search.Prediction{}, Seen: classes[search.ClassKey(&c.Arch)]}
		var perr error
		for t, p := range preds {
			if sc.Predicted[t], perr = p.Predict(&c.Arch); perr != nil {
				break
			}
		}
		if perr != nil {
			// Not measured and not screened: the optimizer records it
			// as failed, so it is not proposed again.
			d.log.Warn("candidate not predictable; dropped", "err", perr)
			if err := d.opt.Fail(c.TrialID, "predictor: "+perr.Error()); err != nil {
				return search.Candidate{}, nil, err
			}
			continue
		}
		kept, cands = append(kept, c), append(cands, sc)
	}
	if len(kept) == 0 {
		c, err := d.opt.Ask(ctx)
		return c, nil, err
	}
	pts, err := d.st().CompletePoints(ctx, d.id)
	if err != nil {
		d.failAll(kept, "screening: "+err.Error())
		return search.Candidate{}, nil, err
	}
	dec, err := d.spec.Screen(Results(pts), cands, 1, o.Samples, d.spec.Seed)
	if err != nil || len(dec.Measure) != 1 {
		d.failAll(kept, fmt.Sprintf("screening: %v", err))
		return search.Candidate{}, nil, fmt.Errorf("screen: %v (%d chosen)", err, len(dec.Measure))
	}
	best := dec.Measure[0]
	rows := make([]store.ScreenedRow, 0, len(dec.Screened))
	for _, i := range dec.Screened {
		c := kept[i]
		js, err := c.Arch.JSON()
		if err != nil {
			return search.Candidate{}, nil, err
		}
		reason := fmt.Sprintf("expected hypervolume improvement %.3g, below the measured candidate's %.3g", dec.EHVI[i], dec.EHVI[best])
		if cands[i].Seen {
			reason = "same layers as a measured trial in another order (no cost depends on the order)"
		} else if dec.EHVI[i] == 0 {
			reason = "no expected hypervolume improvement over the measured front (or predicted infeasible)"
		}
		rows = append(rows, store.ScreenedRow{SearchID: d.id, StudyTrial: c.TrialID, ScreenedCandidate: api.ScreenedCandidate{
			Round: number, Arch: js, ArchHash: c.Arch.Hash(), Params: c.Params, Layers: mixers(&c.Arch),
			Predicted: dec.Predicted[i].Values, PredictedStd: dec.Std[i], Violation: dec.Predicted[i].Violation,
			EHVI: dec.EHVI[i], Reason: reason}})
	}
	// Stored first: a coordinator that dies before the optimizer's record
	// leaves running optimizer trials without a trial row, which the next
	// driver fails (reconcile); either way none is proposed again.
	if err := d.st().InsertScreened(ctx, rows); err != nil {
		return search.Candidate{}, nil, err
	}
	for _, i := range dec.Screened {
		if err := d.opt.Screen(kept[i].TrialID, dec.Predicted[i]); err != nil {
			return search.Candidate{}, nil, err
		}
	}
	d.log.Info("screened", "trial", number, "proposed", len(kept), "screened", len(rows), "ehvi", dec.EHVI[best])
	return kept[best], &prediction{mean: dec.Predicted[best].Values, std: dec.Std[best]}, nil
}

// failAll fails optimizer trials asked for but neither measured nor
// screened (the round could not finish).
func (d *driver) failAll(cs []search.Candidate, why string) {
	for _, c := range cs {
		if err := d.opt.Fail(c.TrialID, why); err != nil {
			d.log.Warn("fail optimizer trial", "err", err)
		}
	}
}

// measuredClasses returns the layer-order classes (search.ClassKey) of
// the search's trials.
func (d *driver) measuredClasses(ctx context.Context) (map[string]bool, error) {
	ts, _, err := d.st().ListTrials(ctx, d.id, api.TrialQuery{Limit: 1 << 30})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ts))
	for _, t := range ts {
		a, err := arch.Parse(t.Arch)
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", t.Number, err)
		}
		out[search.ClassKey(a)] = true
	}
	return out, nil
}

// requestProbes queues the space's block probes (search.Space.Probes) on a
// device once per workload, when its predictor has none: they pin each
// block's cost, which the search's own candidates (whose blocks always
// come mixed) cannot separate. The probes' measurements reach the
// predictor through the refit after every measurement; nothing waits for
// them.
func (d *driver) requestProbes(ctx context.Context, dev string, p *search.Predictor) error {
	if p != nil {
		for _, o := range p.Observations {
			if o.Probe != "" {
				return nil
			}
		}
	}
	n, err := d.st().ProbeJobs(ctx, dev, d.wl.Hash())
	if err != nil || n > 0 {
		return err
	}
	probes := d.spec.Space.Probes()
	reqs := make([]jobs.Request, 0, len(probes))
	specs := make([]arch.Spec, len(probes))
	for i, pr := range probes {
		specs[i] = pr.Spec(d.spec.Space.MaxContext)
		if err := specs[i].Validate(); err != nil {
			return fmt.Errorf("probe %s: %w", pr.Name, err)
		}
		reqs = append(reqs, jobs.Request{DeviceID: dev, Spec: &specs[i], Workload: d.wl, Kind: wire.JobKindProbe})
	}
	if len(reqs) == 0 {
		return nil
	}
	if _, err := d.m.d.Jobs.Create(ctx, reqs, nil); err != nil && !errors.Is(err, jobs.ErrNotPublished) {
		return fmt.Errorf("probes on device %s: %w", dev, err)
	}
	d.log.Info("block probes queued", "device", dev, "probes", len(reqs))
	return nil
}

func mixers(a *arch.Spec) []string {
	out := make([]string, len(a.Layers))
	for i, l := range a.Layers {
		out[i] = string(l.Mixer)
	}
	return out
}
