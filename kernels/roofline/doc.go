// Package roofline measures the two ceilings a CPU inference run is judged
// against: the read bandwidth of main memory (Bandwidth) and the peak
// fused multiply-add throughput (FMAPeak), both with a chosen number of
// threads. It does no I/O; the caller allocates the buffer and prints.
//
// The inner loops are Go assembly chosen once at start-up from
// golang.org/x/sys/cpu: AVX-512 or AVX2/FMA on amd64, NEON on arm64, and a
// pure-Go loop elsewhere or with the purego build tag. Variant names the
// choice. Each assembly loop has a pure-Go reference with the same
// signature, and the tests compare them.
package roofline
