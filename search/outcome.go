package search

import (
	"fmt"
	"math"

	"github.com/hilsearch/hilsearch/search/pareto"
)

// Outcome is what a finished trial reports to the optimizer.
type Outcome struct {
	// Values holds one value per objective, in the spec's order and natural
	// units (tokens/s, ms, MiB, parameters).
	Values []float64 `json:"values"`
	// Violation is 0 for a feasible candidate, otherwise the sum over
	// violated constraints of the relative exceedance |v-bound|/|bound|
	// (absolute when the bound is 0).
	Violation float64 `json:"violation"`
}

// Feasible reports whether no constraint is violated.
func (o Outcome) Feasible() bool { return o.Violation == 0 }

// metricValue looks a metric reference up in the measurements.
func metricValue(ref string, at int, params int64, measured map[string]Values) (float64, error) {
	m, target := splitMetric(ref)
	if m == MetricParams {
		return float64(params), nil
	}
	vals, ok := measured[target]
	if !ok {
		return 0, fmt.Errorf("%w: no measurement for target %q", ErrBadOutcome, target)
	}
	v, ok := vals[MetricKey{Metric: m, At: at}]
	if !ok {
		return 0, fmt.Errorf("%w: target %q did not report %s at %d", ErrBadOutcome, target, m, at)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: target %q reported %s at %d = %g", ErrBadOutcome, target, m, at, v)
	}
	return v, nil
}

// Outcome computes the objective values and the constraint violation of a
// candidate from its parameter count and its measurements per target name.
func (s *Spec) Outcome(params int64, measured map[string]Values) (Outcome, error) {
	out := Outcome{Values: make([]float64, len(s.Objectives))}
	for i, o := range s.Objectives {
		v, err := metricValue(o.Metric, o.At, params, measured)
		if err != nil {
			return Outcome{}, fmt.Errorf("objectives[%d]: %w", i, err)
		}
		out.Values[i] = v
	}
	for i, c := range s.Constraints {
		v, err := metricValue(c.Metric, c.At, params, measured)
		if err != nil {
			return Outcome{}, fmt.Errorf("constraints[%d]: %w", i, err)
		}
		if c.Max != nil && v > *c.Max {
			out.Violation += exceed(v, *c.Max)
		}
		if c.Min != nil && v < *c.Min {
			out.Violation += exceed(v, *c.Min)
		}
	}
	return out, nil
}

func exceed(v, bound float64) float64 {
	d := math.Abs(v - bound)
	if bound != 0 {
		d /= math.Abs(bound)
	}
	return d
}

// Minimized returns values in minimisation form: maximised objectives are
// negated.
func (s *Spec) Minimized(values []float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		if i < len(s.Objectives) && s.Objectives[i].Direction == Maximize {
			v = -v
		}
		out[i] = v
	}
	return out
}

// ReferencePoint returns the hypervolume reference point in minimisation
// form. For an objective bounded by a constraint on the same metric, target
// and At in its worse direction (a max for a minimised objective, a min for
// a maximised one), the bound is used; otherwise the objective's coordinate
// of pareto.NadirReference (margin 0.1) over the feasible observed outcomes
// (all outcomes when none is feasible). It returns nil when a coordinate
// has neither a bound nor an observation.
func (s *Spec) ReferencePoint(observed []Outcome) []float64 {
	var pts [][]float64
	for _, o := range observed {
		if o.Feasible() {
			pts = append(pts, s.Minimized(o.Values))
		}
	}
	if len(pts) == 0 {
		for _, o := range observed {
			pts = append(pts, s.Minimized(o.Values))
		}
	}
	nadir := pareto.NadirReference(pts, 0.1)
	ref := make([]float64, len(s.Objectives))
	for i, o := range s.Objectives {
		bound, ok := s.boundFor(o)
		switch {
		case ok:
			ref[i] = bound
		case nadir != nil:
			ref[i] = nadir[i]
		default:
			return nil
		}
	}
	return ref
}

// boundFor finds a constraint bounding objective o in its worse direction,
// in minimisation form.
func (s *Spec) boundFor(o Objective) (float64, bool) {
	for _, c := range s.Constraints {
		if c.Metric != o.Metric || c.At != o.At {
			continue
		}
		if o.Direction == Minimize && c.Max != nil {
			return *c.Max, true
		}
		if o.Direction == Maximize && c.Min != nil {
			return -*c.Min, true
		}
	}
	return 0, false
}

// ConstraintValues returns the value of each constraint's metric, in the
// spec's constraint order, from a candidate's parameter count and its
// measurements per target name (as Outcome reads them).
func (s *Spec) ConstraintValues(params int64, measured map[string]Values) ([]float64, error) {
	out := make([]float64, len(s.Constraints))
	for i, c := range s.Constraints {
		v, err := metricValue(c.Metric, c.At, params, measured)
		if err != nil {
			return nil, fmt.Errorf("constraints[%d]: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}
