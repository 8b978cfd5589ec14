//go:build arm64 && !purego

package fgemm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestKernelSelection: the NEON kernel runs on every arm64 CPU with ASIMD.
func TestKernelSelection(t *testing.T) {
	if Available() != cpu.ARM64.HasASIMD || use512 {
		t.Fatalf("Available %v, use512 %v; HasASIMD %v", Available(), use512, cpu.ARM64.HasASIMD)
	}
}

// TestKernelContinuesChains calls kern6x16 directly from non-zero
// accumulators (as between k-blocks) over c = 0..40 and larger, with rows
// repeated or not, and compares with kernelGo bit for bit; nothing outside
// acc is written and the inputs stay unchanged.
func TestKernelContinuesChains(t *testing.T) {
	if !Available() {
		t.Skip("no ASIMD")
	}
	rng := rand.New(rand.NewPCG(41, 42))
	for _, c := range append(seq(0, 40), 63, 255, 256, 257, 1025) {
		w, x := randF32(rng, tileRows*max(c, 1)), randF32(rng, lanes*max(c, 1))
		w0, x0 := slices.Clone(w), slices.Clone(x)
		var rows [tileRows]*float32
		nr := 1 + rng.IntN(tileRows)
		for i := range rows {
			rows[i] = &w[min(i, nr-1)*max(c, 1)]
		}
		var want [tileAcc]float32
		copy(want[:], randF32(rng, tileAcc))
		buf := make([]float32, tileAcc+2*guard)
		for i := range buf {
			buf[i] = math.Float32frombits(sentinel)
		}
		acc := (*[tileAcc]float32)(buf[guard : guard+tileAcc])
		*acc = want
		kernelGo(&rows, &x[0], c, &want)
		kern6x16(&rows, &x[0], c, acc)
		for i, v := range buf {
			if (i < guard || i >= guard+tileAcc) && math.Float32bits(v) != sentinel {
				t.Fatalf("c=%d: wrote guard element %d", c, i)
			}
		}
		if i := firstDiff(acc[:], want[:]); i >= 0 {
			t.Fatalf("c=%d rows=%d: acc[%d] = %v, reference %v", c, nr, i, acc[i], want[i])
		}
		if !slices.Equal(w, w0) || !slices.Equal(x, x0) {
			t.Fatalf("c=%d: inputs modified", c)
		}
	}
}
