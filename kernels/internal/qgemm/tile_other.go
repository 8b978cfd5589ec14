//go:build !amd64 || purego

package qgemm

// Available reports whether a SIMD micro-kernel runs on this CPU: none
// outside amd64 (or with -tags purego) yet.
func Available() bool { return false }

var tileQ8, tileQ4 = tileQ8Go, tileQ4Go
