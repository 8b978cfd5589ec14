//go:build (amd64 || arm64) && !purego

package asm

// Bounds checks shared by the amd64 and arm64 wrappers of the attention
// tile loops and the recurrent state step: they panic on short slices and
// report whether the assembly has anything to do.

// scoresOK checks the bounds AttnScores reads and writes and reports
// whether there is anything for the assembly to do; hd = 0 gives zero
// scores here.
func scoresOK(ls int, ldS int, lq, R, hd, lk, nb, blk int, s []float32) bool {
	if R <= 0 || nb <= 0 {
		return false
	}
	if ldS < 16*nb || blk < 16*hd || lq < R*hd || ls < (R-1)*ldS+16*nb || lk < (nb-1)*blk+16*hd {
		panic("asm: AttnScores: slice too short or strides overlap")
	}
	if hd == 0 {
		for r := 0; r < R; r++ {
			clear(s[r*ldS : r*ldS+16*nb])
		}
		return false
	}
	return true
}

func accumOK(la, R, hd, lc, lp, ldP, lv, T, ldV int) bool {
	if R <= 0 || hd <= 0 {
		return false
	}
	if la < R*hd || lc < R || lp < (R-1)*ldP+T || ldP < T || (T > 0 && (ldV < hd || lv < (T-1)*ldV+hd)) {
		panic("asm: AttnAccum: slice too short or strides overlap")
	}
	return true
}

func softmaxOK(ls, ldS, R, T, lm, ll, lc int) bool {
	if R <= 0 {
		return false
	}
	if ldS < T || ls < (R-1)*ldS+T || lm < R || ll < R || lc < R {
		panic("asm: AttnSoftmax: slice too short or strides overlap")
	}
	return true
}

// stateStepOK checks the bounds StateStep reads and writes.
func stateStepOK(ls, w int, la, lb, lc, lx, ly int) bool {
	if la == 0 || w <= 0 {
		return false
	}
	if ls < la*w || lb < la || lc < la || lx < w || ly < w {
		panic("asm: StateStep: slice too short")
	}
	return true
}
