//go:build !(amd64 || arm64) || purego

package fgemm

import (
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
