// Package linfit fits linear models with non-negative coefficients by
// weighted least squares on top of gonum: Lawson and Hanson's active-set
// algorithm, whose inner unconstrained problems gonum's QR solves, with a
// small ridge on standardised columns for stability. It reports the
// coefficients' covariance (for prediction intervals) and leave-one-out
// residuals. It does no I/O.
package linfit

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// ErrNoData is returned for an empty or inconsistent problem.
var ErrNoData = errors.New("linfit: no usable rows")

// Options tunes Fit.
type Options struct {
	// Ridge is the penalty on the standardised coefficients, relative to
	// the number of rows. Defaults to 1e-10.
	Ridge float64
}

// Model is a fitted linear model y ≈ Σ Coef[j]·x[j] with Coef ≥ 0.
type Model struct {
	// Coef holds one non-negative coefficient per feature.
	Coef []float64 `json:"coef"`
	// Cov is the covariance of the coefficients in units of Sigma²,
	// row-major P×P (zero rows and columns for coefficients held at 0).
	Cov []float64 `json:"cov"`
	// Sigma is the residual standard deviation of the weighted rows.
	Sigma float64 `json:"sigma"`
	// N is the number of rows, Active the number of coefficients above 0.
	N      int `json:"n"`
	Active int `json:"active"`
}

// Fit solves min Σ w_i (y_i − x_i·c)² subject to c ≥ 0. X has one row per
// observation; w may be nil (all ones).
func Fit(X [][]float64, y, w []float64, opt Options) (*Model, []float64, error) {
	n := len(X)
	if n == 0 || len(y) != n || (w != nil && len(w) != n) {
		return nil, nil, ErrNoData
	}
	p := len(X[0])
	if opt.Ridge == 0 {
		opt.Ridge = 1e-10
	}
	// Weighted, standardised design A (n+p rows with the ridge) and b:
	// columns of the weighted design scaled to unit root mean square.
	sw := make([]float64, n)
	for i := 0; i < n; i++ {
		if len(X[i]) != p {
			return nil, nil, fmt.Errorf("linfit: row %d has %d features, want %d", i, len(X[i]), p)
		}
		sw[i] = 1
		if w != nil {
			if !(w[i] >= 0) || math.IsInf(w[i], 0) {
				return nil, nil, fmt.Errorf("linfit: weight %d is %g", i, w[i])
			}
			sw[i] = math.Sqrt(w[i])
		}
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return nil, nil, fmt.Errorf("linfit: target %d is %g", i, y[i])
		}
	}
	scale := make([]float64, p)
	for j := 0; j < p; j++ {
		var s float64
		for i := 0; i < n; i++ {
			v := X[i][j]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("linfit: row %d feature %d is %g", i, j, v)
			}
			s += sw[i] * sw[i] * v * v
		}
		scale[j] = math.Sqrt(s / float64(n))
		if scale[j] == 0 {
			scale[j] = 1
		}
	}
	A := mat.NewDense(n+p, p, nil)
	b := mat.NewVecDense(n+p, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			A.Set(i, j, sw[i]*X[i][j]/scale[j])
		}
		b.SetVec(i, sw[i]*y[i])
	}
	lam := math.Sqrt(opt.Ridge * float64(n))
	for j := 0; j < p; j++ {
		A.Set(n+j, j, lam)
	}
	z, err := nnls(A, b)
	if err != nil {
		return nil, nil, err
	}
	m := &Model{Coef: make([]float64, p), Cov: make([]float64, p*p), N: n}
	var active []int
	for j := range z {
		m.Coef[j] = z[j] / scale[j]
		if z[j] > 0 {
			active = append(active, j)
		}
	}
	m.Active = len(active)
	// Residuals of the data rows (weighted) and the covariance on the
	// active set: (A_Pᵀ A_P)⁻¹, unscaled back to the original units.
	res := make([]float64, n)
	var ssr float64
	for i := 0; i < n; i++ {
		var f float64
		for j := 0; j < p; j++ {
			f += A.At(i, j) * z[j]
		}
		res[i] = b.AtVec(i) - f
		ssr += res[i] * res[i]
	}
	loo := make([]float64, n)
	copy(loo, res)
	if len(active) > 0 {
		ap := mat.NewDense(n+p, len(active), nil)
		for k, j := range active {
			for i := 0; i < n+p; i++ {
				ap.Set(i, k, A.At(i, j))
			}
		}
		var ata mat.SymDense
		ata.SymOuterK(1, ap.T())
		var chol mat.Cholesky
		if ok := chol.Factorize(&ata); ok {
			var inv mat.SymDense
			if err := chol.InverseTo(&inv); err == nil {
				for a, ja := range active {
					for c, jc := range active {
						m.Cov[ja*p+jc] = inv.At(a, c) / (scale[ja] * scale[jc])
					}
				}
				// Leave-one-out residuals e_i / (1 − h_ii) on the active set.
				row := mat.NewVecDense(len(active), nil)
				var tmp mat.VecDense
				for i := 0; i < n; i++ {
					for k := range active {
						row.SetVec(k, ap.At(i, k))
					}
					tmp.MulVec(&inv, row)
					h := mat.Dot(row, &tmp)
					if h < 1-1e-9 {
						loo[i] = res[i] / (1 - h)
					}
				}
			}
		}
	}
	dof := n - len(active)
	if dof < 1 {
		dof = 1
	}
	m.Sigma = math.Sqrt(ssr / float64(dof))
	return m, loo, nil
}

// Predict returns x·Coef and its standard error from the coefficients'
// uncertainty alone, in the model's units (multiply by Sigma for the
// noise of a new observation: see Variance).
func (m *Model) Predict(x []float64) (mean, variance float64) {
	p := len(m.Coef)
	for j := 0; j < p && j < len(x); j++ {
		mean += m.Coef[j] * x[j]
	}
	for a := 0; a < p && a < len(x); a++ {
		if x[a] == 0 {
			continue
		}
		for c := 0; c < p && c < len(x); c++ {
			variance += x[a] * m.Cov[a*p+c] * x[c]
		}
	}
	return mean, variance * m.Sigma * m.Sigma
}

// nnls is Lawson and Hanson's active-set algorithm for min ‖Az − b‖ with
// z ≥ 0; the unconstrained sub-problems are solved by gonum.
func nnls(A *mat.Dense, b *mat.VecDense) ([]float64, error) {
	_, p := A.Dims()
	z := make([]float64, p)
	passive := make([]bool, p)
	grad := func() []float64 {
		var r, g mat.VecDense
		r.MulVec(A, mat.NewVecDense(p, z))
		r.SubVec(b, &r)
		g.MulVec(A.T(), &r)
		return g.RawVector().Data
	}
	const tol = 1e-10
	for iter := 0; iter < 30*p+30; iter++ {
		g := grad()
		t, best := -1, tol*normInf(g)+tol
		for j := 0; j < p; j++ {
			if !passive[j] && g[j] > best {
				t, best = j, g[j]
			}
		}
		if t < 0 {
			return z, nil
		}
		passive[t] = true
		for inner := 0; inner < 3*p+3; inner++ {
			s, err := solvePassive(A, b, passive)
			if err != nil {
				return nil, err
			}
			ok := true
			for j := 0; j < p; j++ {
				if passive[j] && s[j] <= 0 {
					ok = false
				}
			}
			if ok {
				copy(z, s)
				break
			}
			alpha := math.Inf(1)
			for j := 0; j < p; j++ {
				if passive[j] && s[j] <= 0 {
					if a := z[j] / (z[j] - s[j]); a < alpha {
						alpha = a
					}
				}
			}
			for j := 0; j < p; j++ {
				z[j] += alpha * (s[j] - z[j])
				if passive[j] && z[j] <= tol {
					passive[j], z[j] = false, 0
				}
			}
		}
	}
	return z, nil
}

// solvePassive solves the least-squares problem on the passive columns.
func solvePassive(A *mat.Dense, b *mat.VecDense, passive []bool) ([]float64, error) {
	r, p := A.Dims()
	var idx []int
	for j := 0; j < p; j++ {
		if passive[j] {
			idx = append(idx, j)
		}
	}
	out := make([]float64, p)
	if len(idx) == 0 {
		return out, nil
	}
	sub := mat.NewDense(r, len(idx), nil)
	for k, j := range idx {
		for i := 0; i < r; i++ {
			sub.Set(i, k, A.At(i, j))
		}
	}
	var qr mat.QR
	qr.Factorize(sub)
	var s mat.VecDense
	if err := qr.SolveVecTo(&s, false, b); err != nil {
		return nil, fmt.Errorf("linfit: %w", err)
	}
	for k, j := range idx {
		out[j] = s.AtVec(k)
	}
	return out, nil
}

func normInf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}
