package arch

import (
	"math"
	"slices"
	"testing"
)

// TestFillRow checks determinism, independence of rows, seeds and names,
// and the documented distributions (mean and standard deviation over a
// large row, within 5 standard errors).
func TestFillRow(t *testing.T) {
	n := 1 << 16
	row := func(name string, shape []int, seed uint64, r int) []float32 {
		v := make([]float32, n)
		FillRow(Tensor{Name: name, Shape: shape, Matrix: len(shape) == 2}, seed, r, v)
		return v
	}
	mat := []int{4, n}
	a := row("blk.0.attn_q.weight", mat, 1, 2)
	if !slices.Equal(a, row("blk.0.attn_q.weight", mat, 1, 2)) {
		t.Fatal("FillRow is not deterministic")
	}
	for name, b := range map[string][]float32{
		"other row":  row("blk.0.attn_q.weight", mat, 1, 3),
		"other seed": row("blk.0.attn_q.weight", mat, 2, 2),
		"other name": row("blk.0.attn_k.weight", mat, 1, 2),
	} {
		if slices.Equal(a, b) {
			t.Errorf("%s gives the same values", name)
		}
	}
	stats := func(v []float32) (mean, std, lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, x := range v {
			mean += float64(x)
			lo, hi = min(lo, float64(x)), max(hi, float64(x))
		}
		mean /= float64(len(v))
		for _, x := range v {
			std += (float64(x) - mean) * (float64(x) - mean)
		}
		return mean, math.Sqrt(std / float64(len(v))), lo, hi
	}
	for _, c := range []struct {
		name         string
		shape        []int
		mean, std    float64
		minLo, maxHi float64
	}{
		{"blk.0.attn_q.weight", mat, 0, 1 / math.Sqrt(float64(n)), -math.Sqrt(3.0 / float64(n)), math.Sqrt(3.0 / float64(n))},
		{"token_embd.weight", []int{2, n}, 0, 1, -math.Sqrt(3), math.Sqrt(3)},
		{"blk.0.attn_norm.weight", []int{n}, 1, 0.1 / math.Sqrt(3), 0.9, 1.1},
		{"blk.0.ssm_d", []int{n}, 1, 0.5 / math.Sqrt(3), 0.5, 1.5},
		{"blk.0.ssm_conv1d.bias", []int{n}, 0, 0.1 / math.Sqrt(3), -0.1, 0.1},
	} {
		m, s, lo, hi := stats(row(c.name, c.shape, 9, 0))
		se := c.std / math.Sqrt(float64(n))
		if math.Abs(m-c.mean) > 5*se || math.Abs(s-c.std) > 0.02*c.std || lo < c.minLo-1e-6 || hi > c.maxHi+1e-6 {
			t.Errorf("%s: mean %.5f std %.5f range [%.4f, %.4f]; want %.5f, %.5f within [%.4f, %.4f]",
				c.name, m, s, lo, hi, c.mean, c.std, c.minLo, c.maxHi)
		}
	}
	// A_log gives A = -exp(A_log) in [-16, -1); dt_bias gives dt in [0.01, 0.1).
	for _, x := range row("blk.0.ssm_a", []int{n}, 9, 0) {
		if A := -math.Exp(float64(x)); A < -16.0001 || A > -0.9999 {
			t.Fatalf("A = %v out of [-16, -1)", A)
		}
	}
	for _, x := range row("blk.0.ssm_dt.bias", []int{n}, 9, 0) {
		if dt := math.Log1p(math.Exp(float64(x))); dt < 0.00999 || dt > 0.10001 {
			t.Fatalf("dt = %v out of [0.01, 0.1)", dt)
		}
	}
}
