//go:build !(amd64 || arm64) || purego

package fgemm

import (
	"unsafe"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// Available reports whether MulRows and MulRowsF16 run the SIMD kernel;
// in this build (neither amd64 nor arm64, or -tags purego) they never do
// and fall back to the slow pure-Go reference.
func Available() bool { return false }

// f16Row is never called when Available is false.
var f16Row = asm.F16ToF32Row

// kern6x16 stands in for the amd64 kernel; it is never called when
// Available is false.
func kern6x16(rows *[tileRows]*float32, xp *float32, c int, acc *[tileAcc]float32) {
	kernelGo(rows, xp, c, acc)
}

// has512 and use512 are false: there is no AVX-512 kernel in this build.
var has512, use512 = false, false

// kern12x16 stands in for the amd64 AVX-512 kernel; it is never called
// when use512 is false.
func kern12x16(w *float32, stride int, xp *float32, c int, acc *[2 * tileAcc]float32) {
	for h := 0; h < 2; h++ {
		var rows [tileRows]*float32
		for i := range rows {
			rows[i] = (*float32)(unsafe.Add(unsafe.Pointer(w), 4*((h*tileRows+i)*stride)))
		}
		kernelGo(&rows, xp, c, (*[tileAcc]float32)(acc[h*tileAcc:]))
	}
}

// kern12x32 stands in for the amd64 AVX-512 kernel; it is never called
// when use512 is false.
func kern12x32(w *float32, stride int, xp0, xp1 *float32, c int, acc0, acc1 *[2 * tileAcc]float32) {
	kern12x16(w, stride, xp0, c, acc0)
	kern12x16(w, stride, xp1, c, acc1)
}
