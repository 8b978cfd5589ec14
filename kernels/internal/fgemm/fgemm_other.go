//go:build !amd64 || purego

package fgemm

// Available reports whether MulRows and MulRowsF16 run the SIMD kernel; in
// this build (not amd64, or -tags purego) they never do and fall back to the
// slow pure-Go reference.
func Available() bool { return false }

// kernel and f16Row are never called when Available is false.
var (
	kernel = kernelGo
	f16Row = f16RowGo
)
