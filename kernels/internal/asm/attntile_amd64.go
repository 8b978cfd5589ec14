//go:build amd64 && !purego

package asm

//go:generate go run attntile_gen.go

// The assembly loops of attntile_amd64.s (generated). Each is the
// reference of attntile.go with byte strides; the exported wrappers below
// check the slice bounds the reference would touch and take the reference
// for shapes the loops do not handle (a head width that is not a multiple
// of the vector width in AttnAccum, a tile that is empty or not a multiple
// of 16 in AttnSoftmax), so results are always bit-identical to the reference.

//go:noescape
func attnScoresF16AVX512(s *float32, ldS int, q *float32, R int, hd int, kt *uint16, nb int, blk int)

//go:noescape
func attnScoresF32AVX512(s *float32, ldS int, q *float32, R int, hd int, kt *float32, nb int, blk int)

//go:noescape
func attnAccumF16AVX512(acc *float32, R int, hd int, c *float32, p *float32, ldP int, v *uint16, T int, ldV int)

//go:noescape
func attnAccumF32AVX512(acc *float32, R int, hd int, c *float32, p *float32, ldP int, v *float32, T int, ldV int)

//go:noescape
func attnSoftmaxAVX512(s *float32, ldS int, R int, T int, m *float32, l *float32, c *float32)

//go:noescape
func attnScoresF16AVX2(s *float32, ldS int, q *float32, R int, hd int, kt *uint16, nb int, blk int)

//go:noescape
func attnScoresF32AVX2(s *float32, ldS int, q *float32, R int, hd int, kt *float32, nb int, blk int)

//go:noescape
func attnAccumF16AVX2(acc *float32, R int, hd int, c *float32, p *float32, ldP int, v *uint16, T int, ldV int)

//go:noescape
func attnAccumF32AVX2(acc *float32, R int, hd int, c *float32, p *float32, ldP int, v *float32, T int, ldV int)

//go:noescape
func attnSoftmaxAVX2(s *float32, ldS int, R int, T int, m *float32, l *float32, c *float32)

// AttnScoresF16AVX512 is AttnScoresF16 with AVX-512: four key blocks
// (zmm) by up to six query rows per pass.
func AttnScoresF16AVX512(s []float32, ldS int, q []float32, R, hd int, kt []uint16, nb, blk int) {
	if scoresOK(len(s), ldS, len(q), R, hd, len(kt), nb, blk, s) {
		attnScoresF16AVX512(&s[0], ldS, &q[0], R, hd, &kt[0], nb, blk)
	}
}

// AttnScoresF32AVX512 is AttnScoresF32 with AVX-512.
func AttnScoresF32AVX512(s []float32, ldS int, q []float32, R, hd int, kt []float32, nb, blk int) {
	if scoresOK(len(s), ldS, len(q), R, hd, len(kt), nb, blk, s) {
		attnScoresF32AVX512(&s[0], ldS, &q[0], R, hd, &kt[0], nb, blk)
	}
}

// AttnScoresF16AVX2 is AttnScoresF16 with AVX2: one key block (two ymm)
// by up to six query rows per pass.
func AttnScoresF16AVX2(s []float32, ldS int, q []float32, R, hd int, kt []uint16, nb, blk int) {
	if scoresOK(len(s), ldS, len(q), R, hd, len(kt), nb, blk, s) {
		attnScoresF16AVX2(&s[0], ldS, &q[0], R, hd, &kt[0], nb, blk)
	}
}

// AttnScoresF32AVX2 is AttnScoresF32 with AVX2.
func AttnScoresF32AVX2(s []float32, ldS int, q []float32, R, hd int, kt []float32, nb, blk int) {
	if scoresOK(len(s), ldS, len(q), R, hd, len(kt), nb, blk, s) {
		attnScoresF32AVX2(&s[0], ldS, &q[0], R, hd, &kt[0], nb, blk)
	}
}

// AttnAccumF16AVX512 is AttnAccumF16 with AVX-512: 64 (then 16) floats of
// up to six rows' sums in registers while the values pass; head widths
// that are not a multiple of 16 use the reference.
func AttnAccumF16AVX512(acc []float32, R, hd int, c, p []float32, ldP int, v []uint16, T, ldV int) {
	if !accumOK(len(acc), R, hd, len(c), len(p), ldP, len(v), T, ldV) {
		return
	}
	if hd%16 != 0 || T == 0 {
		AttnAccumF16(acc, R, hd, c, p, ldP, v, T, ldV)
		return
	}
	attnAccumF16AVX512(&acc[0], R, hd, &c[0], &p[0], ldP, &v[0], T, ldV)
}

// AttnAccumF32AVX512 is AttnAccumF32 with AVX-512.
func AttnAccumF32AVX512(acc []float32, R, hd int, c, p []float32, ldP int, v []float32, T, ldV int) {
	if !accumOK(len(acc), R, hd, len(c), len(p), ldP, len(v), T, ldV) {
		return
	}
	if hd%16 != 0 || T == 0 {
		AttnAccumF32(acc, R, hd, c, p, ldP, v, T, ldV)
		return
	}
	attnAccumF32AVX512(&acc[0], R, hd, &c[0], &p[0], ldP, &v[0], T, ldV)
}

// AttnAccumF16AVX2 is AttnAccumF16 with AVX2 (16, then 8 floats per row
// and pass; head widths not a multiple of 8 use the reference).
func AttnAccumF16AVX2(acc []float32, R, hd int, c, p []float32, ldP int, v []uint16, T, ldV int) {
	if !accumOK(len(acc), R, hd, len(c), len(p), ldP, len(v), T, ldV) {
		return
	}
	if hd%8 != 0 || T == 0 {
		AttnAccumF16(acc, R, hd, c, p, ldP, v, T, ldV)
		return
	}
	attnAccumF16AVX2(&acc[0], R, hd, &c[0], &p[0], ldP, &v[0], T, ldV)
}

// AttnAccumF32AVX2 is AttnAccumF32 with AVX2.
func AttnAccumF32AVX2(acc []float32, R, hd int, c, p []float32, ldP int, v []float32, T, ldV int) {
	if !accumOK(len(acc), R, hd, len(c), len(p), ldP, len(v), T, ldV) {
		return
	}
	if hd%8 != 0 || T == 0 {
		AttnAccumF32(acc, R, hd, c, p, ldP, v, T, ldV)
		return
	}
	attnAccumF32AVX2(&acc[0], R, hd, &c[0], &p[0], ldP, &v[0], T, ldV)
}

// AttnSoftmaxAVX512 is AttnSoftmax with AVX-512 (Exp as ExpShiftAVX2
// computes it, 16 lanes at a time).
func AttnSoftmaxAVX512(s []float32, ldS, R, T int, m, l, c []float32) {
	if !softmaxOK(len(s), ldS, R, T, len(m), len(l), len(c)) {
		return
	}
	if T%16 != 0 || T == 0 {
		AttnSoftmax(s, ldS, R, T, m, l, c)
		return
	}
	attnSoftmaxAVX512(&s[0], ldS, R, T, &m[0], &l[0], &c[0])
}

// AttnSoftmaxAVX2 is AttnSoftmax with AVX2.
func AttnSoftmaxAVX2(s []float32, ldS, R, T int, m, l, c []float32) {
	if !softmaxOK(len(s), ldS, R, T, len(m), len(l), len(c)) {
		return
	}
	if T%16 != 0 || T == 0 {
		AttnSoftmax(s, ldS, R, T, m, l, c)
		return
	}
	attnSoftmaxAVX2(&s[0], ldS, R, T, &m[0], &l[0], &c[0])
}
