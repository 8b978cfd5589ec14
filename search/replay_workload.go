package search

import (
	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/workload"
)

// ReplayWorkload is the workload of the replay table and of the
// predictor's accuracy check on this repository's development machine:
// q4_0 weights, 2 threads, a 256-token prefill, decoding 32 tokens at
// depths 0 and 512, 5 to 10 timed repetitions per phase.
func ReplayWorkload() workload.Workload {
	return workload.Workload{
		Precision: arch.Q4_0, Threads: 2,
		PromptLengths: []int{256}, DecodeDepths: []int{0, 512}, DecodeTokens: 32,
		Repetitions: 5, MaxRepetitions: 10,
	}
}
