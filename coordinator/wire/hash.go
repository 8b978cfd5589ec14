package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Normalize fills the defaults of a workload so equal workloads compare
// (and hash) equal.
func (w Workload) Normalize() Workload {
	if w.KVType == "" {
		w.KVType = "f16"
	}
	if w.Repetitions == 0 {
		w.Repetitions = 5
	}
	if w.MaxRepetitions == 0 {
		w.MaxRepetitions = 3 * w.Repetitions
	}
	if w.MaxRelSpread == 0 {
		w.MaxRelSpread = 0.03
	}
	w.PromptLengths = slices.Clone(w.PromptLengths)
	slices.Sort(w.PromptLengths)
	w.PromptLengths = slices.Compact(w.PromptLengths)
	w.DecodeDepths = slices.Clone(w.DecodeDepths)
	slices.Sort(w.DecodeDepths)
	w.DecodeDepths = slices.Compact(w.DecodeDepths)
	return w
}

// Hash is the workload's part of a measurement's cache key.
func (w Workload) Hash() string {
	b, _ := json.Marshal(w.Normalize())
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// MaxContext is the largest context the workload reaches.
func (w Workload) MaxContext() int {
	n := 0
	for _, l := range w.PromptLengths {
		n = max(n, l+1)
	}
	for _, d := range w.DecodeDepths {
		n = max(n, d+w.DecodeTokens)
	}
	return n
}
