//go:build purego || !(amd64 || arm64)

package kernels

func expectedVariant() string { return "go" }
