package httpapi

import (
	"math"
	"testing"
)

func TestSpearman(t *testing.T) {
	for name, tc := range map[string]struct {
		a, b []float64
		want float64 // NaN: nil
	}{
		"same order":     {[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		"reversed":       {[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		"monotone, skew": {[]float64{1, 5, 100, 1000}, []float64{2, 3, 4, 5}, 1},
		// ranks a: 1 2 3 4 5, b: 2 1 4 3 5 → 1 - 6·4/(5·24) = 0.8
		"two swaps": {[]float64{1, 2, 3, 4, 5}, []float64{2, 1, 4, 3, 5}, 0.8},
		// ties: b ranks 1.5 1.5 3 4 → Pearson of (1,2,3,4) and (1.5,1.5,3,4)
		"tie":       {[]float64{1, 2, 3, 4}, []float64{7, 7, 8, 9}, 0.9486832980505138},
		"too few":   {[]float64{1, 2}, []float64{1, 2}, math.NaN()},
		"no spread": {[]float64{1, 2, 3}, []float64{5, 5, 5}, math.NaN()},
	} {
		got := Spearman(tc.a, tc.b)
		switch {
		case math.IsNaN(tc.want) && got != nil:
			t.Errorf("%s: %v, want nil", name, *got)
		case !math.IsNaN(tc.want) && (got == nil || math.Abs(*got-tc.want) > 1e-12):
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
