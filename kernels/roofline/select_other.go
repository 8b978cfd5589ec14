//go:build purego || !(amd64 || arm64)

package roofline

// available returns only the pure-Go loops (purego build or an
// architecture without assembly).
func available() []kernel { return []kernel{goKernel} }
