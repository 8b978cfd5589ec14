package stats

import (
	"slices"
	"strings"
	"testing"
)

func TestControllerDecide(t *testing.T) {
	tight := []float64{100, 101, 99, 100, 100}           // MAD 0 → converged
	noisy := []float64{100, 110, 90, 105, 95}            // RelMedianErr 0.0415 at n=5
	noisy20 := slices.Concat(noisy, noisy, noisy, noisy) // 0.0208 at n=20
	tests := []struct {
		name   string
		c      Controller
		series [][]float64
		want   Decision
	}{
		{"below min reps", Controller{}, [][]float64{tight[:4]},
			Decision{Continue: true, Reason: ReasonMinReps, Reps: 4}},
		{"tight at min reps", Controller{}, [][]float64{tight},
			Decision{Reason: ReasonConverged, Reps: 5}},
		{"noisy at min reps", Controller{}, [][]float64{noisy},
			Decision{Continue: true, Reason: ReasonSpread, Reps: 5, WorstRelSpread: 0.0415497986500765}},
		{"noisy converges with more reps", Controller{MaxReps: 30}, [][]float64{noisy20},
			Decision{Reason: ReasonConverged, Reps: 20, WorstRelSpread: 0.0207748993250382}},
		{"noisy at cap", Controller{MaxReps: 5}, [][]float64{noisy},
			Decision{Reason: ReasonCap, Reps: 5, WorstRelSpread: 0.0415497986500765}},
		{"looser threshold", Controller{MaxRelSpread: 0.05}, [][]float64{noisy},
			Decision{Reason: ReasonConverged, Reps: 5, WorstRelSpread: 0.0415497986500765}},
		{"one noisy metric keeps going", Controller{}, [][]float64{tight, noisy},
			Decision{Continue: true, Reason: ReasonSpread, Reps: 5, WorstRelSpread: 0.0415497986500765}},
		{"shortest series counts", Controller{}, [][]float64{tight, tight[:3]},
			Decision{Continue: true, Reason: ReasonMinReps, Reps: 3}},
		{"zero median never converges", Controller{}, [][]float64{{0, 0, 0, 0, 0}},
			Decision{Continue: true, Reason: ReasonSpread, Reps: 5}},
		{"max below min is raised to min", Controller{MinReps: 3, MaxReps: 2}, [][]float64{noisy[:3]},
			Decision{Reason: ReasonCap, Reps: 3, WorstRelSpread: 0.1072811}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Decide(tt.series...)
			if err != nil {
				t.Fatal(err)
			}
			if got.Continue != tt.want.Continue || got.Reason != tt.want.Reason || got.Reps != tt.want.Reps ||
				!nearTol(got.WorstRelSpread, tt.want.WorstRelSpread, 1e-6) {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func nearTol(a, b, tol float64) bool { return a-b <= tol && b-a <= tol }

func TestControllerErrors(t *testing.T) {
	for _, tt := range []struct {
		c     Controller
		field string
	}{
		{Controller{MinReps: -1}, "min_reps"},
		{Controller{MaxReps: -1}, "max_reps"},
		{Controller{MaxRelSpread: -0.1}, "max_rel_spread"},
	} {
		err := tt.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tt.c, err, tt.field)
		}
		if _, err := tt.c.Decide([]float64{1}); err == nil {
			t.Errorf("Decide with %+v: no error", tt.c)
		}
	}
	if _, err := (Controller{}).Decide(); err == nil {
		t.Error("Decide with no series: no error")
	}
	_, err := (Controller{MinReps: 1}).Decide([]float64{1}, []float64{0, 1})
	if err != nil {
		t.Errorf("valid series: %v", err)
	}
}
