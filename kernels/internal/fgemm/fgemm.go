package fgemm

import (
	"unsafe"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

const (
	// lanes is the number of tokens in one packed group (two ymm of f32).
	lanes = 16
	// tileRows is the number of weight rows of one micro-kernel tile; a
	// tile covers one token group.
	tileRows = 6
	// tileAcc is the number of floats of a tile's accumulators.
	tileAcc = tileRows * lanes
)

// PackedLen returns the number of floats Pack writes for n rows of c
// floats: n rounded up to a multiple of 16, times c.
func PackedLen(n, c int) int {
	return (n + lanes - 1) / lanes * lanes * c
}

// Pack transposes n rows of c floats x[t*c+k] into groups of 16 tokens,
//
//	xp[(t/16)*16*c + k*16 + t%16] = x[t*c+k]
//
// and zeroes the lanes of the last group past n. len(xp) must be at least
// PackedLen(n, c) and len(x) at least n*c.
func Pack(xp, x []float32, n, c int) {
	if n < 0 || c < 0 {
		panic("fgemm: negative size")
	}
	xp = xp[:PackedLen(n, c)]
	x = x[:n*c]
	for g := 0; g*lanes < n; g++ {
		blk := xp[g*lanes*c : (g+1)*lanes*c]
		for j := 0; j < lanes; j++ {
			t := g*lanes + j
			if t >= n {
				for k := 0; k < c; k++ {
					blk[k*lanes+j] = 0
				}
				continue
			}
			row := x[t*c : (t+1)*c]
			for k, v := range row {
				blk[k*lanes+j] = v
			}
		}
	}
}

// MulRows computes, for rows r in [r0, r1) and tokens t < n,
//
//	dst[t*ldd + r] = Σ_k w[r*c+k]·x[t*c+k]
//
// as one sequential binary32 FMA chain over ascending k (see the package
// documentation), where x is given packed by Pack in xp. It writes nothing
// else in dst. It panics, before writing, if a slice is too short.
//
// On a CPU without the kernel (Available() == false) it runs the pure-Go
// reference, which returns the same bits but is slow.
func MulRows(dst []float32, ldd int, w []float32, c, r0, r1 int, xp []float32, n int) {
	if !checkArgs(dst, ldd, len(w), c, r0, r1, xp, n) {
		return
	}
	if !Available() {
		mulRowsGo(dst, ldd, w, c, r0, r1, xp, n)
		return
	}
	mulRowsTiled(dst, ldd, w, c, r0, r1, xp, n, true)
}

// F16Scratch returns the number of floats of scratch that MulRowsF16 needs
// for rows of up to c weights: one panel of rows converted to f32 (see
// panelRows; at most about panelBytes, at least the two tiles of rows of
// the AVX-512 kernels).
func F16Scratch(c int) int { return max(2*tileRows*c, min(maxPanelRows*c, panelBytes/4)) }

// MulRowsF16 is MulRows with half-precision weights (IEEE 754 binary16 bits,
// row-major): each tile of rows is converted exactly to f32 in scratch
// (len(scratch) ≥ F16Scratch(c)) and then multiplied as MulRows does, so
// the result equals MulRows on the converted weights bit for bit.
func MulRowsF16(dst []float32, ldd int, w []uint16, c, r0, r1 int, xp []float32, n int, scratch []float32) {
	if !checkArgs(dst, ldd, len(w), c, r0, r1, xp, n) {
		return
	}
	scratch = scratch[:F16Scratch(c)]
	if !Available() {
		mulRowsF16Go(dst, ldd, w, c, r0, r1, xp, n, scratch)
		return
	}
	mulRowsF16Tiled(dst, ldd, w, c, r0, r1, xp, n, scratch, true, f16Row)
}

// checkArgs panics if an argument is out of range for the slices and
// reports whether there is any output to compute.
func checkArgs(dst []float32, ldd, lenW, c, r0, r1 int, xp []float32, n int) bool {
	if c < 0 || n < 0 || r0 < 0 || r1 < r0 || ldd < 0 {
		panic("fgemm: bad shape")
	}
	if n == 0 || r0 == r1 {
		return false
	}
	if lenW < r1*c {
		panic("fgemm: weights shorter than r1*c")
	}
	if len(xp) < PackedLen(n, c) {
		panic("fgemm: packed activations shorter than PackedLen(n, c)")
	}
	_ = dst[(n-1)*ldd+r1-1] // the largest index written; all others are smaller
	return true
}

// kernelFunc continues one tile's chains over c more k: for i < 6, j < 16,
//
//	s := acc[i*16+j]
//	for k := 0; k < c; k++ { s = asm.FMA32(rows[i][k], xp[k*16+j], s) }
//	acc[i*16+j] = s
//
// Calling it on consecutive k-blocks with the same acc gives bit for bit
// the one-call result. The assembly version does no bounds checks: every
// rows[i] must hold c floats and xp 16·c floats.
type kernelFunc func(rows *[tileRows]*float32, xp *float32, c int, acc *[tileAcc]float32)

// The reference and the build's kernel have kernelFunc's signature.
var _, _ kernelFunc = kernelGo, kern6x16

// kBlock is the k-block length: one token group's block of packed
// activations (64·kBlock bytes) stays in L1 while the row tiles of a panel
// pass over it.
const kBlock = 256

// maxPanelRows caps the rows of a panel (and so its accumulator buffer).
const maxPanelRows = 96

// panelBytes is the size of the row panel of weights that mulRowsTiled
// keeps in L2 while every token group passes over it (half of Zen 4's
// reported 512 KiB, leaving room for the 16·c floats of one token group).
const panelBytes = 256 << 10

// panelRows returns the rows of a weight panel of c floats per row: a
// multiple of the tile pair's 12 rows when the AVX-512 kernels run (wide),
// else of tileRows; at least one such unit, at most maxPanelRows.
func panelRows(c int, wide bool) int {
	unit := tileRows
	if wide {
		unit = 2 * tileRows
	}
	return min(maxPanelRows, max(1, panelBytes/(4*c)/unit)*unit)
}

// mulRowsTiled is MulRows over the SIMD kernels (simd) or kernelGo, for
// checked arguments. Loop order: row panels (panelRows rows, in L2), token
// groups (two at a time with AVX-512, so each weight read feeds 32
// tokens), k-blocks (the groups' kBlock·16 packed floats stay in L1), row
// tiles of the panel. The accumulators of the panel's tiles live in acc
// between k-blocks, so each output is still one ascending FMA chain.
func mulRowsTiled(dst []float32, ldd int, w []float32, c, r0, r1 int, xp []float32, n int, simd bool) {
	if c == 0 {
		storeZero(dst, ldd, r0, r1, n)
		return
	}
	var rows [tileRows]*float32
	var acc [2][maxPanelRows / tileRows][tileAcc]float32
	groups := (n + lanes - 1) / lanes
	gstride := lanes * c
	wide := simd && use512
	pr := panelRows(c, wide)
	for p0 := r0; p0 < r1; p0 += pr {
		p1 := min(p0+pr, r1)
		tiles := (p1 - p0 + tileRows - 1) / tileRows
		for g := 0; g < groups; {
			// ng groups (1 or 2) share this pass over the panel.
			ng := 1
			if wide && g+1 < groups {
				ng = 2
			}
			for h := 0; h < ng; h++ {
				clear(acc[h][:tiles])
			}
			x0 := xp[g*gstride : (g+1)*gstride]
			x1 := x0
			if ng == 2 {
				x1 = xp[(g+1)*gstride : (g+2)*gstride]
			}
			for k0 := 0; k0 < c; k0 += kBlock {
				kc := min(kBlock, c-k0)
				for ti := 0; ti < tiles; ti++ {
					r := p0 + ti*tileRows
					if wide && p1-r >= 2*tileRows {
						// Two full tiles of consecutive rows in one call;
						// their accumulators are adjacent in acc[h].
						a0 := (*[2 * tileAcc]float32)(unsafe.Pointer(&acc[0][ti]))
						if ng == 2 {
							kern12x32(&w[r*c+k0], c, &x0[k0*lanes], &x1[k0*lanes], kc, a0, (*[2 * tileAcc]float32)(unsafe.Pointer(&acc[1][ti])))
						} else {
							kern12x16(&w[r*c+k0], c, &x0[k0*lanes], kc, a0)
						}
						ti++
						continue
					}
					m := min(tileRows, p1-r)
					for i := range rows {
						// A short last tile repeats its last row: the
						// copies are computed and dropped.
						rows[i] = &w[(r+min(i, m-1))*c+k0]
					}
					runKernel(simd, &rows, &x0[k0*lanes], kc, &acc[0][ti])
					if ng == 2 {
						runKernel(simd, &rows, &x1[k0*lanes], kc, &acc[1][ti])
					}
				}
			}
			for h := 0; h < ng; h++ {
				for ti := 0; ti < tiles; ti++ {
					r := p0 + ti*tileRows
					storeTile(dst, ldd, r, min(tileRows, p1-r), g+h, n, &acc[h][ti])
				}
			}
			g += ng
		}
	}
}

// storeTile writes the m rows × (up to) 16 tokens of group g from acc.
func storeTile(dst []float32, ldd, r, m, g, n int, acc *[tileAcc]float32) {
	t0 := g * lanes
	nt := min(lanes, n-t0)
	if m == tileRows {
		// A full tile: six stores per token with one bounds check.
		for j := 0; j < nt; j++ {
			o := (t0+j)*ldd + r
			out := dst[o : o+tileRows : o+tileRows]
			out[0] = acc[j]
			out[1] = acc[lanes+j]
			out[2] = acc[2*lanes+j]
			out[3] = acc[3*lanes+j]
			out[4] = acc[4*lanes+j]
			out[5] = acc[5*lanes+j]
		}
		return
	}
	for j := 0; j < nt; j++ {
		out := dst[(t0+j)*ldd+r : (t0+j)*ldd+r+m]
		for i := range out {
			out[i] = acc[i*lanes+j]
		}
	}
}

// mulRowsF16Tiled is MulRowsF16 over the kernels chosen by simd (see
// mulRowsTiled) and the row converter cvt: each panel of rows is converted
// to f32 in scratch and multiplied by mulRowsTiled (so AVX-512 runs its
// two-tile kernel here too). Each output is still one ascending FMA chain
// over the converted row, as in mulRowsF16Go.
func mulRowsF16Tiled(dst []float32, ldd int, w []uint16, c, r0, r1 int, xp []float32, n int, scratch []float32, simd bool, cvt func(dst []float32, src []uint16)) {
	if c == 0 {
		storeZero(dst, ldd, r0, r1, n)
		return
	}
	pr := panelRows(c, simd && use512)
	for p0 := r0; p0 < r1; p0 += pr {
		p1 := min(p0+pr, r1)
		for r := p0; r < p1; r++ {
			cvt(scratch[(r-p0)*c:(r-p0+1)*c], w[r*c:(r+1)*c])
		}
		// Row p0 of w is row 0 of the panel: shift dst by p0.
		mulRowsTiled(dst[p0:], ldd, scratch[:(p1-p0)*c], c, 0, p1-p0, xp, n, simd)
	}
}

func storeZero(dst []float32, ldd, r0, r1, n int) {
	for t := 0; t < n; t++ {
		clear(dst[t*ldd+r0 : t*ldd+r1])
	}
}

// mulRowsGo is the reference for MulRows, element by element.
func mulRowsGo(dst []float32, ldd int, w []float32, c, r0, r1 int, xp []float32, n int) {
	for t := 0; t < n; t++ {
		xt := xp[t/lanes*lanes*c+t%lanes:]
		for r := r0; r < r1; r++ {
			wr := w[r*c : (r+1)*c]
			s := float32(0)
			for k, v := range wr {
				s = asm.FMA32(v, xt[k*lanes], s)
			}
			dst[t*ldd+r] = s
		}
	}
}

// mulRowsF16Go is the reference for MulRowsF16: rows converted one at a
// time into scratch, then mulRowsGo.
func mulRowsF16Go(dst []float32, ldd int, w []uint16, c, r0, r1 int, xp []float32, n int, scratch []float32) {
	row := scratch[:c]
	for r := r0; r < r1; r++ {
		asm.F16ToF32Row(row, w[r*c:(r+1)*c])
		// Row r of a one-row matrix is row 0 of row: shift dst by r.
		mulRowsGo(dst[r:], ldd, row, c, 0, 1, xp, n)
	}
}

// kernelGo is the pure-Go kernelFunc (the reference loop of kernelFunc).
func kernelGo(rows *[tileRows]*float32, xp *float32, c int, acc *[tileAcc]float32) {
	x := unsafe.Slice(xp, lanes*c)
	for i, p := range rows {
		wr := unsafe.Slice(p, c)
		for j := 0; j < lanes; j++ {
			s := acc[i*lanes+j]
			for k, v := range wr {
				s = asm.FMA32(v, x[k*lanes+j], s)
			}
			acc[i*lanes+j] = s
		}
	}
}

// runKernel calls the SIMD kernel or the reference directly (not through a
// function value), so that the tile arguments stay on the caller's stack.
func runKernel(simd bool, rows *[tileRows]*float32, xp *float32, c int, acc *[tileAcc]float32) {
	if simd {
		kern6x16(rows, xp, c, acc)
		return
	}
	kernelGo(rows, xp, c, acc)
}
