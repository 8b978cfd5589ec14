package kernels

import "testing"

// TestVariantSelection checks the inner-loop set chosen at start-up: "go"
// with -tags purego or without assembly for the architecture, otherwise
// the best set the CPU supports.
func TestVariantSelection(t *testing.T) {
	if got, want := Variant(), expectedVariant(); got != want {
		t.Fatalf("Variant() = %q, want %q", got, want)
	}
}
