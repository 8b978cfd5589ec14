// Package qgemm is the prefill matrix product for q8_0 and q4_0 weights:
// C[t][r] = Σ_c W[r][c]·X[t][c] for many tokens at once, register-blocked
// so that it is bound by the integer dot-product units rather than by
// reductions or memory.
//
// Layout ("lanes are tokens"). Activations are quantised per 32-block as
// for the dot products (int8 values, one float32 scale per block) and
// packed in groups of 8 tokens: for each group and block, 256 bytes hold
// eight 32-byte chunks, chunk k carrying bytes 4k..4k+3 of the block for
// each of the 8 tokens (an 8×8 transpose of 32-bit words), followed by the
// 8 tokens' scales (float32) and 8 block-sum corrections (int32). A weight
// word (4 weights) is broadcast to all lanes, so one VPMADDUBSW+VPMADDWD
// pair adds 4 products to each token's block sum; the sums land one per
// lane, ready for the per-token scale, with no horizontal reduction.
// (The arm64 SDOT tiles read the same layout, picking each weight word by
// SDOT's element index; the SMMLA tiles read an 8-byte interleave of the
// same bytes, see neon.go.)
//
// VPMADDUBSW multiplies unsigned by signed bytes into saturating int16
// pairs. q4_0 nibbles n ∈ [0, 15] are used as they are (w = n − 8): pairs
// stay below 2·15·127, so the 8 chunks of a block add up in int16 without
// saturating (< 2^15), and the block's int32 sum starts at the packed
// correction −8·Σx. q8_0 uses the sign trick (|w| times x·sign(w), pairs
// below 2·128·127) and widens every chunk; its correction is 0. Integer
// block sums are exact.
//
// Per element (token t, row r) the float result is the sequence, over
// blocks b in order, acc = fma(float32(isum_b)·xs[t][b], d[r][b], acc)
// starting from 0 — the same operations whichever rows share a call, how a
// thread pool splits the rows, how many tokens there are or in which lane
// the token sits. Results are therefore deterministic and independent of
// the thread count; they differ from the dot-product loops (which scale and
// add each block in a different order) by float32 rounding only.
package qgemm

import (
	"encoding/binary"
	"math"
)

// Sizes of the layout.
const (
	QK          = 32  // weights per block
	Q8Bytes     = 34  // q8_0 block: f16 scale + 32 int8
	Q4Bytes     = 18  // q4_0 block: f16 scale + 16 bytes of nibbles
	GroupTokens = 8   // tokens per packed group (one ymm of int32 lanes)
	blockBytes  = 320 // packed bytes per group and block: 256 + 32 + 32
	tileRows    = 4   // weight rows per micro-kernel call
	tileGroups  = 2   // token groups per micro-kernel call
)

// Groups returns the number of 16-token groups that hold n tokens.
func Groups(n int) int { return (n + GroupTokens - 1) / GroupTokens }

// PackedBytes returns the size of the packed activations of n tokens of
// c values (c a multiple of 32).
func PackedBytes(n, c int) int { return Groups(n) * (c / QK) * blockBytes }

// Block-sum corrections per weight format: the packed int32 is −off·Σx.
// OffsetQ4 = 8: q4_0 weights are nibbles n with w = n − 8. OffsetQ8 is 0
// when the q8_0 tile multiplies signed weights directly (AVX2, reference)
// and 128 when it multiplies w + 128 as unsigned bytes (AVX-512 VNNI); it
// is fixed at start-up.
const OffsetQ4 = 8

var OffsetQ8 int32

// PackGroup packs group g (tokens 8g..8g+7, those ≥ n as zeros) of the n
// activation rows xq (n×c int8, values in [-127, 127]) with their block
// scales xs (n×c/32) into dst, which holds PackedBytes(n, c) bytes; off is
// the weight format's offset (OffsetQ8 or OffsetQ4).
func PackGroup(dst []byte, xq []int8, xs []float32, n, c, g int, off int32) {
	nb := c / QK
	out := dst[g*nb*blockBytes : (g+1)*nb*blockBytes]
	xq = xq[:n*c]
	xs = xs[:n*nb]
	for j := 0; j < GroupTokens; j++ {
		t := g*GroupTokens + j
		if t >= n {
			for b := 0; b < nb; b++ {
				o := out[b*blockBytes : (b+1)*blockBytes : (b+1)*blockBytes]
				for k := 0; k < 8; k++ {
					binary.LittleEndian.PutUint32(o[xWordOff(k, j):], 0)
				}
				binary.LittleEndian.PutUint32(o[256+4*j:], 0)
				binary.LittleEndian.PutUint32(o[288+4*j:], 0)
			}
			continue
		}
		row := xq[t*c : (t+1)*c : (t+1)*c]
		for b := 0; b < nb; b++ {
			o := out[b*blockBytes : (b+1)*blockBytes : (b+1)*blockBytes]
			blk := row[b*QK : b*QK+QK : b*QK+QK]
			var sum int32
			for k := 0; k < 8; k++ {
				q := blk[4*k : 4*k+4 : 4*k+4]
				sum += int32(q[0]) + int32(q[1]) + int32(q[2]) + int32(q[3])
				binary.LittleEndian.PutUint32(o[xWordOff(k, j):], uint32(uint8(q[0]))|uint32(uint8(q[1]))<<8|uint32(uint8(q[2]))<<16|uint32(uint8(q[3]))<<24)
			}
			binary.LittleEndian.PutUint32(o[256+4*j:], math.Float32bits(xs[t*nb+b]))
			binary.LittleEndian.PutUint32(o[288+4*j:], uint32(-off*sum))
		}
	}
}

// Pack packs every group of the n activation rows (see PackGroup).
func Pack(dst []byte, xq []int8, xs []float32, n, c int, off int32) {
	for g := 0; g < Groups(n); g++ {
		PackGroup(dst, xq, xs, n, c, g, off)
	}
}

// tileArgs is what one micro-kernel call reads: four weight rows (a row
// may repeat; its duplicate results are dropped), two token groups (the
// second may repeat the first) and the block count. out receives
// [row][group][lane] float32.
type tileArgs struct {
	rows   [tileRows]*byte
	xa, xb *byte
	nb     int
}

// MulRowsQ8 computes dst[t·ldd + r] = Σ_k w[r][k]·x[t][k] for rows r in
// [r0, r1) of the q8_0 matrix w (rows of c/32 blocks) and every token
// t < n, with x packed by Pack(…, OffsetQ8) in xp.
func MulRowsQ8(dst []float32, ldd int, w []byte, c, r0, r1 int, xp []byte, n int) {
	mulRows(dst, ldd, w, Q8Bytes, c, r0, r1, xp, n, simd)
}

// MulRowsQ4 is MulRowsQ8 for q4_0 weights (x packed with OffsetQ4).
func MulRowsQ4(dst []float32, ldd int, w []byte, c, r0, r1 int, xp []byte, n int) {
	mulRows(dst, ldd, w, Q4Bytes, c, r0, r1, xp, n, simd)
}

// panelBytes bounds the packed activations one pass over a row tile
// reads, so that they stay in the core's L2 while the row tiles stream.
const panelBytes = 384 << 10

func mulRows(dst []float32, ldd int, w []byte, bs, c, r0, r1 int, xp []byte, n int, useSIMD bool) {
	if r0 >= r1 || n <= 0 {
		return
	}
	nb := c / QK
	rb := nb * bs
	ng := Groups(n)
	gb := nb * blockBytes
	_ = w[r1*rb-1]
	_ = xp[ng*gb-1]
	_ = dst[(n-1)*ldd+r1-1]
	panel := max(tileGroups, (panelBytes/gb)&^(tileGroups-1))
	var a tileArgs
	var out [tileRows * tileGroups * GroupTokens]float32
	a.nb = nb
	for p0 := 0; p0 < ng; p0 += panel {
		p1 := min(ng, p0+panel)
		for r := r0; r < r1; r += tileRows {
			nr := min(tileRows, r1-r)
			for i := range a.rows {
				a.rows[i] = &w[(r+min(i, nr-1))*rb]
			}
			for g := p0; g < p1; g += tileGroups {
				a.xa = &xp[g*gb]
				a.xb = a.xa
				if g+1 < p1 {
					a.xb = &xp[(g+1)*gb]
				}
				runTile(useSIMD, bs, &a, &out)
				if t0 := g * GroupTokens; nr == tileRows && t0+tileGroups*GroupTokens <= n && g+1 < p1 {
					// A full tile: each token's four rows are adjacent in dst.
					for j := 0; j < tileGroups*GroupTokens; j++ {
						d := dst[(t0+j)*ldd+r : (t0+j)*ldd+r+4 : (t0+j)*ldd+r+4]
						d[0], d[1], d[2], d[3] = out[j], out[16+j], out[32+j], out[48+j]
					}
					continue
				}
				for i := 0; i < nr; i++ {
					for h := 0; h < min(tileGroups, p1-g); h++ {
						t0 := (g + h) * GroupTokens
						o := out[(i*tileGroups+h)*GroupTokens : (i*tileGroups+h+1)*GroupTokens]
						for j := 0; j < min(GroupTokens, n-t0); j++ {
							dst[(t0+j)*ldd+r+i] = o[j]
						}
					}
				}
			}
		}
	}
}

// runTile calls the SIMD tile or the reference directly (not through a
// function value), so that the tile arguments stay on the caller's stack.
func runTile(useSIMD bool, bs int, a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) {
	switch {
	case useSIMD && bs == Q8Bytes:
		tileQ8SIMD(a, out)
	case useSIMD:
		tileQ4SIMD(a, out)
	default:
		tileGo(a, out, bs)
	}
}
