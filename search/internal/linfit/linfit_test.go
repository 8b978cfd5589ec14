package linfit

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFitRecoversNonNegativeCoefficients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	truth := []float64{3, 0, 0.5, 7, 0, 1e-3}
	var X [][]float64
	var y, w []float64
	for i := 0; i < 40; i++ {
		x := make([]float64, len(truth))
		var v float64
		for j := range x {
			x[j] = r.Float64() * math.Pow(10, float64(j%3)) // mixed scales
			v += truth[j] * x[j]
		}
		X, y, w = append(X, x), append(y, v), append(w, 1/(v*v))
	}
	m, loo, err := Fit(X, y, w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for j, c := range truth {
		if math.Abs(m.Coef[j]-c) > 1e-6*math.Max(1, c) {
			t.Errorf("coef %d = %g, want %g", j, m.Coef[j], c)
		}
	}
	for i, e := range loo {
		if math.Abs(e) > 1e-6 {
			t.Errorf("loo residual %d = %g on exact data", i, e)
		}
	}
}

func TestFitKeepsCoefficientsNonNegative(t *testing.T) {
	// y = 2·x0 − 1·x1: the best non-negative fit drops x1.
	r := rand.New(rand.NewPCG(3, 4))
	var X [][]float64
	var y []float64
	for i := 0; i < 30; i++ {
		a, b := r.Float64(), r.Float64()
		X, y = append(X, []float64{a, b}), append(y, 2*a-b)
	}
	m, _, err := Fit(X, y, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Coef[1] != 0 || !(m.Coef[0] > 0) {
		t.Errorf("coef = %v, want x1 at 0 and x0 positive", m.Coef)
	}
}

func TestFitRejectsBadInput(t *testing.T) {
	if _, _, err := Fit(nil, nil, nil, Options{}); err == nil {
		t.Error("empty input accepted")
	}
	if _, _, err := Fit([][]float64{{1}, {1, 2}}, []float64{1, 2}, nil, Options{}); err == nil {
		t.Error("ragged rows accepted")
	}
	if _, _, err := Fit([][]float64{{1}, {2}}, []float64{1, math.NaN()}, nil, Options{}); err == nil {
		t.Error("NaN target accepted")
	}
}

func TestPredictVarianceGrowsAwayFromData(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var X [][]float64
	var y []float64
	for i := 0; i < 50; i++ {
		a := 1 + r.Float64()
		X, y = append(X, []float64{1, a}), append(y, 2+3*a+0.01*r.NormFloat64())
	}
	m, _, err := Fit(X, y, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, vNear := m.Predict([]float64{1, 1.5})
	_, vFar := m.Predict([]float64{1, 20})
	if !(vFar > vNear && vNear > 0) {
		t.Errorf("variance near %g, far %g: want 0 < near < far", vNear, vFar)
	}
}
