package search

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/c-bata/goptuna"
)

// AttrFirstOutcome holds the outcome Tell recorded (JSON Outcome) of a
// trial whose outcome Revise replaced; it is written by the first
// revision and kept by later ones.
const AttrFirstOutcome = "hil:first_outcome"

// Reviser is the storage side of Revise: a goptuna.Storage that can
// rewrite the outcome of a complete trial. goptuna's setters refuse every
// write to a finished trial, and keep doing so (they guard a trial's end
// against racing writers); this is the one deliberate exception, for a
// measurement repeated after its trial completed. The coordinator's
// PostgreSQL storage (studystore) implements it.
type Reviser interface {
	// ReviseTrial sets a complete trial's value and adds or replaces the
	// given system attributes (the others are kept), all or nothing. A
	// trial that is not complete gives goptuna.ErrTrialCannotBeUpdated,
	// an unknown one goptuna.ErrInvalidTrialID; neither changes anything.
	ReviseTrial(trialID int, value float64, systemAttrs map[string]string) error
}

// Revise replaces the outcome of a complete trial with a better estimate
// of it: the noise-aware front pools a re-measured trial's repeated
// measurements into one outcome (Spec.ChooseRemeasure, PoolRepeats), and
// every later proposal must learn from that, not from the first
// measurement. The trial keeps its number, genome and state; its stored
// outcome (AttrValues, AttrViolation, goptuna's value) becomes out, in one
// write of the storage's Reviser, and the outcome Tell recorded is kept in
// AttrFirstOutcome.
//
// The optimizers read outcomes only from the storage, for every
// candidate (no outcome is cached in memory: Optimizer.hashes and
// nsga2.keys hold architecture hashes, which a revision does not change),
// so the next Ask sees the revision: TPE-ParEGO scalarises the revised
// values, and NSGA-II ranks them and re-forms its stored populations from
// the first one whose pool holds a revised trial (see nsga2.reselect).
// Random and Sobol search do not learn from outcomes.
//
// Revise is idempotent: revising a trial to the outcome it holds writes
// nothing. A trial that is not a complete, told trial of this study gives
// ErrNotComplete; a storage without Reviser gives ErrNotRevisable.
func (o *Optimizer) Revise(trialID int, out Outcome) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.checkOutcome(out); err != nil {
		return fmt.Errorf("revise trial %d: %w", trialID, err)
	}
	rv, ok := o.storage.(Reviser)
	if !ok {
		return fmt.Errorf("revise trial %d: %T: %w", trialID, o.storage, ErrNotRevisable)
	}
	t, err := o.storage.GetTrial(trialID)
	if err != nil {
		return fmt.Errorf("revise trial %d: %w: %w", trialID, ErrNotComplete, err)
	}
	sid, err := o.storage.GetStudyIDFromTrialID(trialID)
	if err != nil {
		return fmt.Errorf("revise trial %d: %w: %w", trialID, ErrNotComplete, err)
	}
	first, told := t.SystemAttrs[AttrValues]
	if sid != o.study.ID || t.State != goptuna.TrialStateComplete || !told {
		return fmt.Errorf("revise trial %d (state %s): %w", trialID, t.State, ErrNotComplete)
	}
	value, attrs, err := o.outcomeRecord(out)
	if err != nil {
		return fmt.Errorf("revise trial %d: %w", trialID, err)
	}
	if t.Value == value && first == attrs[AttrValues] && t.SystemAttrs[AttrViolation] == attrs[AttrViolation] {
		return nil // already revised to out (or told it)
	}
	if _, ok := t.SystemAttrs[AttrFirstOutcome]; !ok {
		var told Outcome
		if err := json.Unmarshal([]byte(first), &told.Values); err != nil {
			return fmt.Errorf("revise trial %d: %s: %w", trialID, AttrValues, err)
		}
		if v, ok := t.SystemAttrs[AttrViolation]; ok {
			if told.Violation, err = strconv.ParseFloat(v, 64); err != nil {
				return fmt.Errorf("revise trial %d: %s: %w", trialID, AttrViolation, err)
			}
		}
		raw, err := json.Marshal(told)
		if err != nil {
			return fmt.Errorf("revise trial %d: %w", trialID, err)
		}
		attrs[AttrFirstOutcome] = string(raw)
	}
	if err := rv.ReviseTrial(trialID, value, attrs); err != nil {
		return fmt.Errorf("revise trial %d: %w", trialID, err)
	}
	return nil
}
