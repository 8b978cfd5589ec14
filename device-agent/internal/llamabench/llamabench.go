// Package llamabench maps a measurement workload to llama.cpp's
// llama-bench command line and reads the JSON it prints (-o json). It does
// no I/O: the agent writes the GGUF, runs the executable under its
// supervisor and hands the output here.
//
// The JSON fields read (Row) are those of llama-bench's test::get_fields
// at llama.cpp d775b8967a46d8beb110d444aa3b8938179e0dd8
// (tools/llama-bench/llama-bench.cpp, json_printer); testdata holds JSON
// printed by that build. Throughput is llama-bench's: a repetition's t/s
// is (n_prompt+n_gen)·1e9/ns, and the n_depth tokens filled before a test
// are not timed.
package llamabench

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hilsearch/hilsearch/workload"
)

// Row is one test of `llama-bench -o json`: the fields the agent relies
// on (the rest are ignored).
type Row struct {
	BuildCommit  string `json:"build_commit"`
	BuildNumber  int    `json:"build_number"`
	CPUInfo      string `json:"cpu_info"`
	Backends     string `json:"backends"`
	ModelType    string `json:"model_type"`
	ModelSize    int64  `json:"model_size"` // bytes of weights
	ModelNParams int64  `json:"model_n_params"`
	NThreads     int    `json:"n_threads"`
	TypeK        string `json:"type_k"`
	TypeV        string `json:"type_v"`
	LoadMode     string `json:"load_mode"`
	NPrompt      int    `json:"n_prompt"`
	NGen         int    `json:"n_gen"`
	NDepth       int    `json:"n_depth"`
	// SamplesNs are the repetitions' times; AvgTs and StddevTs their
	// throughput's mean and sample standard deviation.
	SamplesNs []int64   `json:"samples_ns"`
	SamplesTs []float64 `json:"samples_ts"`
	AvgNs     int64     `json:"avg_ns"`
	AvgTs     float64   `json:"avg_ts"`
	StddevTs  float64   `json:"stddev_ts"`
}

// Test names the test of a row: pp<P>, tg<N> or pp<P>+tg<N>, with
// " @ d<D>" when the depth is not 0.
func (r Row) Test() string {
	var s string
	switch {
	case r.NGen == 0:
		s = fmt.Sprintf("pp%d", r.NPrompt)
	case r.NPrompt == 0:
		s = fmt.Sprintf("tg%d", r.NGen)
	default:
		s = fmt.Sprintf("pp%d+tg%d", r.NPrompt, r.NGen)
	}
	if r.NDepth > 0 {
		s += fmt.Sprintf(" @ d%d", r.NDepth)
	}
	return s
}

// Parse reads the JSON array llama-bench -o json prints and checks every
// row has the samples and test shape the agent uses; the error says what
// is missing.
func Parse(data []byte) ([]Row, error) {
	var rows []Row
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("llama-bench JSON: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("llama-bench JSON: no test in the output")
	}
	for i, r := range rows {
		switch {
		case r.NPrompt < 0 || r.NGen < 0 || r.NDepth < 0 || r.NPrompt+r.NGen == 0:
			return nil, fmt.Errorf("llama-bench JSON: test %d: n_prompt %d, n_gen %d, n_depth %d is no test", i, r.NPrompt, r.NGen, r.NDepth)
		case len(r.SamplesNs) == 0:
			return nil, fmt.Errorf("llama-bench JSON: test %d (%s): no samples_ns", i, r.Test())
		}
		for _, ns := range r.SamplesNs {
			if ns <= 0 {
				return nil, fmt.Errorf("llama-bench JSON: test %d (%s): sample of %d ns", i, r.Test(), ns)
			}
		}
	}
	return rows, nil
}

// Find returns the row of the test (p, n, d), if any.
func Find(rows []Row, p, n, d int) (Row, bool) {
	for _, r := range rows {
		if r.NPrompt == p && r.NGen == n && r.NDepth == d {
			return r, true
		}
	}
	return Row{}, false
}

// Run is one llama-bench invocation of a workload.
type Run struct {
	// What names the run for errors: "prefill" or "decode".
	What string
	Args []string
}

// Runs maps a normalised workload to llama-bench invocations on the GGUF
// at model, one to one:
//
//   - prefill: pp<L> at each prompt length from an empty cache (-p L -n 0
//     -d 0) and, for TTFT, the prefill of L plus one generated token timed
//     together (-pg L,1);
//   - decode: tg<N> at each depth D (-p 0 -n N -d D).
//
// Both use the workload's threads (-t; the caller resolves "auto" to a
// count first, see the agent's placement), repetitions (-r) and KV cache type
// (-ctk/-ctv), read the weights into memory (--load-mode none, so the
// process's peak RSS holds them as the native runtime's does), run on the
// CPU (-ngl 0) and print JSON. llama-bench runs the product of its lists,
// so the two phases are two invocations (pp at a depth is not part of the
// workload). A phase the workload does not measure has no run.
func Runs(model string, w workload.Workload) []Run {
	common := []string{"-m", model, "-t", strconv.Itoa(max(int(w.Threads), 1)), "-r", strconv.Itoa(max(w.Repetitions, 1)),
		"-ctk", kvType(w), "-ctv", kvType(w), "-ngl", "0", "--load-mode", "none", "-o", "json"}
	var runs []Run
	if len(w.PromptLengths) > 0 {
		args := append([]string{}, common...)
		args = append(args, "-p", joinInts(w.PromptLengths), "-n", "0", "-d", "0")
		for _, l := range w.PromptLengths {
			args = append(args, "-pg", fmt.Sprintf("%d,1", l))
		}
		runs = append(runs, Run{What: "prefill", Args: args})
	}
	if len(w.DecodeDepths) > 0 {
		args := append([]string{}, common...)
		args = append(args, "-p", "0", "-n", strconv.Itoa(w.DecodeTokens), "-d", joinInts(w.DecodeDepths))
		runs = append(runs, Run{What: "decode", Args: args})
	}
	return runs
}

func kvType(w workload.Workload) string {
	if w.KVType == "" {
		return workload.DefaultKVType
	}
	return w.KVType
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
