package asm

import "math"

// Attention tile loops: the three steps of attention over a tile of keys
// for R query rows at once (all query heads of one KV head, and for
// prompts several tokens): scores, the online softmax update, and the
// softmax-weighted value sum. They are the pure-Go references; the SIMD
// versions (attntile_<arch>.*) give the same bits.
//
// Key layout. Keys are stored transposed in blocks of 16 (KeyBlock)
// positions: element d of key j of a tile is kt[(j/16)·blk + d·16 + j%16],
// so one block of a head is hd rows of 16 lanes and the scores of 16 keys
// are one multiply-add per dimension. Values are plain rows (element i of
// value j is v[j·ldV + i]). The caches in package kernels use this layout
// for f16 (uint16) and f32 storage.
//
// Rounding. Every score is one fused multiply-add chain over the
// dimensions in order starting from +0; every output of the value sum is
// the old value times its row's correction (rounded), then one fused
// multiply-add chain over the keys in order. A SIMD version keeps each
// chain in one lane, so the order does not depend on the vector width.
// The row sum of the softmax is defined over 16 lanes (see AttnSoftmax).

// KeyBlock is the number of key positions per transposed block.
const KeyBlock = 16

// AttnScoresF16 computes the scores of R query rows against nb whole
// blocks of 16 keys:
//
//	for r < R, j < 16·nb:
//		a := float32(0)
//		for d < hd: a = FMA32(q[r·hd+d], k(j, d), a)
//		s[r·ldS+j] = a
//
// with k(j, d) = f16(kt[(j/16)·blk + d·16 + j%16]). q holds the rows back
// to back (already scaled); blk ≥ 16·hd is the distance between blocks.
func AttnScoresF16(s []float32, ldS int, q []float32, R, hd int, kt []uint16, nb, blk int) {
	t := F16Table
	for r := 0; r < R; r++ {
		qr := q[r*hd : (r+1)*hd]
		for b := 0; b < nb; b++ {
			kb := kt[b*blk : b*blk+16*hd]
			sr := s[r*ldS+16*b : r*ldS+16*b+16]
			for l := range sr {
				var a float32
				for d, x := range qr {
					a = FMA32(x, t[kb[d*16+l]], a)
				}
				sr[l] = a
			}
		}
	}
}

// AttnScoresF32 is AttnScoresF16 for f32 keys: k(j, d) =
// kt[(j/16)·blk + d·16 + j%16].
func AttnScoresF32(s []float32, ldS int, q []float32, R, hd int, kt []float32, nb, blk int) {
	for r := 0; r < R; r++ {
		qr := q[r*hd : (r+1)*hd]
		for b := 0; b < nb; b++ {
			kb := kt[b*blk : b*blk+16*hd]
			sr := s[r*ldS+16*b : r*ldS+16*b+16]
			for l := range sr {
				var a float32
				for d, x := range qr {
					a = FMA32(x, kb[d*16+l], a)
				}
				sr[l] = a
			}
		}
	}
}

// AttnSoftmax is the online softmax step over a tile of T scores for each
// of R rows (row r at s[r·ldS:], T a multiple of 16); an entry equal to
// −Inf is masked. Per row, with mt = max(m[r], max_j s_j):
//
//	if mt == −Inf (every entry masked, nothing seen yet): s_j = 0, c[r] = 1
//	otherwise:
//		c[r] = Exp(m[r] − mt)          (1 when the maximum did not grow)
//		s_j  = 0 if masked, else Exp(s_j − mt)
//		l[r] = float32(l[r]·c[r]) + Σ_j s_j,   m[r] = mt
//
// where Σ_j is summed in 16 lanes: lane k adds s_j for j ≡ k (mod 16) in
// increasing j starting from +0, then lanes k and k+8, k+4, k+2, k+1 are
// added pairwise (lane k += lane k+w for k < w, w = 8, 4, 2, 1). c is the
// factor AttnAccum applies to the row's running value sum.
func AttnSoftmax(s []float32, ldS, R, T int, m, l, c []float32) {
	ninf := float32(math.Inf(-1))
	for r := 0; r < R; r++ {
		row := s[r*ldS : r*ldS+T]
		mt := m[r]
		for _, x := range row {
			mt = max(mt, x)
		}
		if mt == ninf {
			clear(row)
			c[r] = 1
			continue
		}
		c[r] = Exp(m[r] - mt)
		var lane [16]float32
		for j, x := range row {
			p := float32(0)
			if x != ninf {
				p = Exp(x - mt)
			}
			row[j] = p
			lane[j%16] += p
		}
		for w := 8; w >= 1; w /= 2 {
			for k := 0; k < w; k++ {
				lane[k] += lane[k+w]
			}
		}
		l[r] = float32(l[r]*c[r]) + lane[0]
		m[r] = mt
	}
}

// AttnAccumF16 adds the softmax-weighted sum of T value rows to R running
// sums acc (row r at acc[r·hd:], hd floats), after scaling them by c:
//
//	for r < R, i < hd:
//		a := float32(acc[r·hd+i] · c[r])
//		for j < T: a = FMA32(p[r·ldP+j], f16(v[j·ldV+i]), a)
//		acc[r·hd+i] = a
func AttnAccumF16(acc []float32, R, hd int, c, p []float32, ldP int, v []uint16, T, ldV int) {
	t := F16Table
	for r := 0; r < R; r++ {
		ar := acc[r*hd : (r+1)*hd]
		pr := p[r*ldP : r*ldP+T]
		for i := range ar {
			a := ar[i] * c[r]
			for j, w := range pr {
				a = FMA32(w, t[v[j*ldV+i]], a)
			}
			ar[i] = a
		}
	}
}

// AttnAccumF32 is AttnAccumF16 for f32 values.
func AttnAccumF32(acc []float32, R, hd int, c, p []float32, ldP int, v []float32, T, ldV int) {
	for r := 0; r < R; r++ {
		ar := acc[r*hd : (r+1)*hd]
		pr := p[r*ldP : r*ldP+T]
		for i := range ar {
			a := ar[i] * c[r]
			for j, w := range pr {
				a = FMA32(w, v[j*ldV+i], a)
			}
			ar[i] = a
		}
	}
}
