//go:build !amd64 || purego

package fgemm

// has512 and use512 are false: the AVX-512 kernels exist only in the
// amd64 build. Their pure-Go references stand in for them (never called
// when use512 is false).
var (
	has512, use512       = false, false
	kern12x16, kern12x32 = kern12x16Go, kern12x32Go
)
