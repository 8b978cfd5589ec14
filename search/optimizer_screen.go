package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/c-bata/goptuna"
)

// AskBatch asks for n candidates at once (n running trials, distinct
// architectures): the batch predictor screening scores. Each is then
// either measured (Tell or Fail) or screened out (Screen).
func (o *Optimizer) AskBatch(ctx context.Context, n int) ([]Candidate, error) {
	out := make([]Candidate, 0, n)
	for len(out) < n {
		c, err := o.Ask(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Screen finishes a running trial that predictor screening did not send
// to a device: it is stored as pruned with its predicted outcome in
// AttrScreened, and counts as proposed, so no later Ask returns its
// architecture again. Optimizers learn only from measured trials.
func (o *Optimizer) Screen(trialID int, predicted Outcome) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, v := range predicted.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("screen trial %d: %w: predicted value %d is %g", trialID, ErrBadOutcome, i, v)
		}
	}
	if err := o.running(trialID); err != nil {
		return fmt.Errorf("screen: %w", err)
	}
	raw, err := json.Marshal(predicted)
	if err != nil {
		return fmt.Errorf("screen trial %d: %w", trialID, err)
	}
	if err := o.storage.SetTrialSystemAttr(trialID, AttrScreened, string(raw)); err != nil {
		return fmt.Errorf("screen trial %d: %w", trialID, err)
	}
	if err := o.storage.SetTrialState(trialID, goptuna.TrialStatePruned); err != nil {
		return fmt.Errorf("screen trial %d: %w", trialID, err)
	}
	return nil
}

// ScreenedCount returns the number of screened-out candidates of the study.
func (o *Optimizer) ScreenedCount() (int, error) {
	trials, err := o.storage.GetAllTrials(o.study.ID)
	if err != nil {
		return 0, fmt.Errorf("screened: %w", err)
	}
	n := 0
	for _, t := range trials {
		if _, ok := t.SystemAttrs[AttrScreened]; ok {
			n++
		}
	}
	return n, nil
}
