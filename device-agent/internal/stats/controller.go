package stats

import (
	"fmt"

	"github.com/hilsearch/hilsearch/workload"
)

// Controller decides whether a measurement needs another repetition: it runs
// at least MinReps repetitions, then continues while the relative spread of
// the median (Summary.RelMedianErr) of any watched metric exceeds
// MaxRelSpread, and stops at MaxReps whatever the spread. A zero field takes
// the workload's default (workload.Workload.Normalize, the one place the
// defaults live), so the zero Controller is the design's protocol.
type Controller struct {
	// MinReps is the minimum number of repetitions. Defaults to
	// workload.DefaultRepetitions (5).
	MinReps int
	// MaxReps is the cap on repetitions. Defaults to
	// workload.DefaultMaxRepetitions(MinReps); raised to MinReps when
	// smaller.
	MaxReps int
	// MaxRelSpread is the threshold on Summary.RelMedianErr. Defaults to
	// workload.DefaultMaxRelSpread (0.03).
	MaxRelSpread float64
}

// Reasons a Decision gives.
const (
	// ReasonMinReps: fewer than MinReps repetitions have run.
	ReasonMinReps = "min_reps"
	// ReasonSpread: some metric's relative spread of the median is still
	// above the threshold (or its median is not positive).
	ReasonSpread = "spread"
	// ReasonConverged: every metric's spread is within the threshold.
	ReasonConverged = "converged"
	// ReasonCap: MaxReps repetitions have run.
	ReasonCap = "cap"
)

// Decision is the controller's answer after some repetitions.
type Decision struct {
	// Continue is true when another repetition should run.
	Continue bool `json:"continue"`
	// Reason is one of the Reason* constants.
	Reason string `json:"reason"`
	// Reps is the number of repetitions seen (the shortest series).
	Reps int `json:"reps"`
	// WorstRelSpread is the largest RelMedianErr among the series (0 before
	// MinReps repetitions).
	WorstRelSpread float64 `json:"worst_rel_spread"`
}

// normalized returns c with defaults applied, or an error naming a bad field.
func (c Controller) normalized() (Controller, error) {
	if c.MinReps < 0 {
		return c, fmt.Errorf("min_reps %d: must not be negative", c.MinReps)
	}
	if c.MaxReps < 0 {
		return c, fmt.Errorf("max_reps %d: must not be negative", c.MaxReps)
	}
	if c.MaxRelSpread < 0 {
		return c, fmt.Errorf("max_rel_spread %v: must not be negative", c.MaxRelSpread)
	}
	w := workload.Workload{Repetitions: c.MinReps, MaxRepetitions: c.MaxReps, MaxRelSpread: c.MaxRelSpread}.Normalize()
	c.MinReps, c.MaxReps, c.MaxRelSpread = w.Repetitions, max(w.MaxRepetitions, w.Repetitions), w.MaxRelSpread
	return c, nil
}

// Validate reports a bad configuration, naming the field.
func (c Controller) Validate() error {
	_, err := c.normalized()
	return err
}

// Decide looks at the samples gathered so far, one series per watched metric
// (for example prefill and decode times of each repetition), and says whether
// to run another repetition. The repetition count is the length of the
// shortest series. A series with invalid samples is an error.
func (c Controller) Decide(series ...[]float64) (Decision, error) {
	c, err := c.normalized()
	if err != nil {
		return Decision{}, err
	}
	if len(series) == 0 {
		return Decision{}, fmt.Errorf("series: at least one metric is needed")
	}
	reps := len(series[0])
	for _, s := range series[1:] {
		reps = min(reps, len(s))
	}
	d := Decision{Reps: reps}
	if reps < c.MinReps {
		d.Continue, d.Reason = true, ReasonMinReps
		return d, nil
	}
	converged := true
	for i, s := range series {
		sum, err := Summarize(s)
		if err != nil {
			return Decision{}, fmt.Errorf("series %d: %w", i, err)
		}
		d.WorstRelSpread = max(d.WorstRelSpread, sum.RelMedianErr)
		if sum.Median <= 0 || sum.RelMedianErr > c.MaxRelSpread {
			converged = false
		}
	}
	switch {
	case converged:
		d.Reason = ReasonConverged
	case reps >= c.MaxReps:
		d.Reason = ReasonCap
	default:
		d.Continue, d.Reason = true, ReasonSpread
	}
	return d, nil
}
