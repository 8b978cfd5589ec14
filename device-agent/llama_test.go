package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

var standin struct {
	once sync.Once
	path string
	err  error
}

// llamaStandIn builds the llama-bench stand-in (internal/llamastandin) once
// per test binary and returns its path.
func llamaStandIn(t *testing.T) string {
	t.Helper()
	standin.once.Do(func() {
		dir, err := os.MkdirTemp("", "hil-llama-standin-")
		if err != nil {
			standin.err = err
			return
		}
		standin.path = filepath.Join(dir, "llama-bench-standin")
		out, err := exec.Command("go", "build", "-o", standin.path, "./internal/llamastandin").CombinedOutput()
		if err != nil {
			standin.err = err
			t.Logf("%s", out)
		}
	})
	if standin.err != nil {
		t.Fatalf("build the llama-bench stand-in: %v", standin.err)
	}
	return standin.path
}

// probeSpec is the smallest spec the GGUF export writes (vocab ≥ 259).
func probeSpec(t *testing.T) *arch.Spec {
	t.Helper()
	s, err := arch.ParseValid([]byte(probeSpecJSON))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func llamaWorkload() workload.Workload {
	return workload.Workload{Precision: "q8_0", Threads: 1, PromptLengths: []int{16, 8}, DecodeDepths: []int{0, 8}, DecodeTokens: 4,
		Repetitions: 2, Seed: 1, Runtime: workload.RuntimeLlamaCpp}.Normalize()
}

// scratch points the scratch directory (os.TempDir) at a fresh directory
// and returns it, so a test can check the GGUF was deleted.
func scratch(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

func checkScratchEmpty(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "*", "*.gguf"))
	if len(left) > 0 {
		t.Errorf("GGUF left behind: %v", left)
	}
}

func TestMeasureLlamaStandIn(t *testing.T) {
	bin := llamaStandIn(t)
	dir := scratch(t)
	t.Setenv("LLAMA_STANDIN_MODE", "ok")
	w := llamaWorkload()
	res := measureLlama(context.Background(), "j1", probeSpec(t), w, bin, childLimits{Timeout: time.Minute}, liveEnv())
	if res.Status != wire.ResultOK {
		t.Fatalf("result %+v", res)
	}
	checkScratchEmpty(t, dir)
	m := res.Measurement
	if m.Runtime != workload.RuntimeLlamaCpp || m.WorkloadHash != w.Hash() || !m.Lacks("decode_ms_p95") || m.LlamaBench == nil || m.LlamaBench.BuildCommit != "stand-in" {
		t.Errorf("measurement header: runtime %q, hash %s (want %s), absent %v, llama %+v", m.Runtime, m.WorkloadHash, w.Hash(), m.Absent, m.LlamaBench)
	}
	if len(m.Prefill) != 2 || len(m.Decode) != 2 {
		t.Fatalf("%d prefill and %d decode results, want 2 and 2", len(m.Prefill), len(m.Decode))
	}
	// The stand-in "takes" 1 ms per token: pp<L> is 1000 t/s, TTFT is
	// L+1 ms, decode is 1 ms per token.
	for _, p := range m.Prefill {
		if p.Repetitions != 2 || p.TokensPerSec.Median != 1000 || p.TTFTms.Median != float64(p.PromptLength+1) {
			t.Errorf("pp%d: %d reps, %v t/s, TTFT %v ms", p.PromptLength, p.Repetitions, p.TokensPerSec.Median, p.TTFTms.Median)
		}
	}
	for _, d := range m.Decode {
		if d.Tokens != 4 || d.TokensPerSec.Median != 1000 || d.MsPerToken.P50 != 1 || d.MsPerToken.P95 != 0 {
			t.Errorf("tg%d@d%d: %v t/s, %v ms/token p50, p95 %v (want absent, 0)", d.Tokens, d.Depth, d.TokensPerSec.Median, d.MsPerToken.P50, d.MsPerToken.P95)
		}
	}
	if m.PeakRSSBytes <= 0 {
		t.Errorf("peak RSS %d: the supervisor read none", m.PeakRSSBytes)
	}
}

// TestMeasureLlamaFailures: a hanging, crashing, lying or growing
// llama-bench gives a failed result that says why, and no measurement.
func TestMeasureLlamaFailures(t *testing.T) {
	bin := llamaStandIn(t)
	cases := []struct {
		mode string
		lim  childLimits
		kind string
		want string
	}{
		{"sleep", childLimits{Timeout: 500 * time.Millisecond}, wire.FailTimeout, "prefill: llama-bench exceeded the time limit of 500ms"},
		{"crash", childLimits{Timeout: time.Minute}, wire.FailCrash, "simulated crash"},
		{"badjson", childLimits{Timeout: time.Minute}, wire.FailCrash, "prefill: llama-bench JSON:"},
		{"memory", childLimits{Timeout: time.Minute, MemoryCap: 128 << 20}, wire.FailOOM, "above its cap of 128.0 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			dir := scratch(t)
			t.Setenv("LLAMA_STANDIN_MODE", tc.mode)
			res := measureLlama(context.Background(), "j1", probeSpec(t), llamaWorkload(), bin, tc.lim, liveEnv())
			if res.Status != wire.ResultFailed || res.FailKind != tc.kind || res.Measurement != nil || res.JobID != "j1" || !strings.Contains(res.Error, tc.want) {
				t.Fatalf("result %+v, want %s failure containing %q", res, tc.kind, tc.want)
			}
			checkScratchEmpty(t, dir)
		})
	}
}

func TestMeasureLlamaRefuses(t *testing.T) {
	w := llamaWorkload()
	res := measureLlama(context.Background(), "j1", probeSpec(t), w, "", childLimits{}, liveEnv())
	if res.FailKind != wire.FailInvalidSpec || !strings.Contains(res.Error, "no llama-bench") {
		t.Errorf("without llama-bench: %+v", res)
	}
	la := probeSpec(t)
	la.Layers[1].Mixer = arch.MixerLinearAttn
	la.Layers[1].LinearAttn = &arch.LinearAttn{Heads: 4, HeadDim: 16}
	la.Layers[1].GQA = nil
	if err := la.Validate(); err != nil {
		t.Fatal(err)
	}
	res = measureLlama(context.Background(), "j1", la, w, llamaStandIn(t), childLimits{}, liveEnv())
	if res.FailKind != wire.FailInvalidSpec || !strings.Contains(res.Error, "layers[1]") {
		t.Errorf("linear_attn: %+v", res)
	}
}

// TestMeasureJobLlamaRuntime: the measuring child dispatches a llama.cpp
// job to the llama-bench named by its environment.
func TestMeasureJobLlamaRuntime(t *testing.T) {
	t.Setenv(envLlamaBench, llamaStandIn(t))
	t.Setenv("LLAMA_STANDIN_MODE", "ok")
	scratch(t)
	job := &wire.Job{ID: "j2", Kind: wire.JobKindMeasure, Spec: json.RawMessage(probeSpecJSON), Workload: llamaWorkload()}
	res := measureJob(context.Background(), job, liveEnv())
	if res.Status != wire.ResultOK || res.Measurement.Runtime != workload.RuntimeLlamaCpp {
		t.Fatalf("result %+v", res)
	}
}

// TestMeasureLlamaReal runs the real llama-bench that HIL_LLAMA_BENCH
// names on the probe network.
func TestMeasureLlamaReal(t *testing.T) {
	bin := os.Getenv(envLlamaBench)
	if bin == "" {
		t.Skip("set " + envLlamaBench + " to a llama-bench executable to run this test")
	}
	dir := scratch(t)
	w := llamaWorkload()
	res := measureLlama(context.Background(), "j1", probeSpec(t), w, bin, childLimits{Timeout: 5 * time.Minute}, liveEnv())
	if res.Status != wire.ResultOK {
		t.Fatalf("result %+v", res)
	}
	checkScratchEmpty(t, dir)
	m := res.Measurement
	for _, p := range m.Prefill {
		if !(p.TokensPerSec.Median > 0 && p.TTFTms.Median > 0) || p.Repetitions != w.Repetitions {
			t.Errorf("pp%d: %+v", p.PromptLength, p)
		}
	}
	for _, d := range m.Decode {
		if !(d.TokensPerSec.Median > 0 && d.MsPerToken.P50 > 0) {
			t.Errorf("tg%d@d%d: %+v", d.Tokens, d.Depth, d)
		}
	}
	if m.PeakRSSBytes <= m.Memory.Weights || m.LlamaBench == nil || m.LlamaBench.Backends == "" {
		t.Errorf("peak RSS %d, weights %d, build %+v", m.PeakRSSBytes, m.Memory.Weights, m.LlamaBench)
	}
	info, err := probeLlamaBench(context.Background(), bin)
	if err != nil || info.Name != workload.RuntimeLlamaCpp || info.Path == "" {
		t.Errorf("probe: %+v, %v", info, err)
	}
}

// TestBenchRuntimes: `bench --runtime native,llama.cpp` gives every test
// on both runtimes, rows interleaved within a round, each naming its
// runtime (llama.cpp through the stand-in here).
func TestBenchRuntimes(t *testing.T) {
	t.Setenv("LLAMA_STANDIN_MODE", "ok")
	scratch(t)
	spec := writeTinySpec(t)
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--arch", spec, "--precision", "q8_0", "-p", "8", "-n", "4", "-d", "0,5", "-t", "1", "-r", "2",
		"--rounds", "2", "--runtime", "native,llama.cpp", "--llama-bench", llamaStandIn(t), "--json"}, IO{Stdout: &out, Stderr: &errb})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rows []benchResult
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 { // (pp8, tg4) × 2 depths × 2 runtimes
		t.Fatalf("%d rows, want 8", len(rows))
	}
	for i, r := range rows {
		want := workload.RuntimeNative
		if i >= 4 {
			want = workload.RuntimeLlamaCpp
		}
		if r.Runtime != want || len(r.Rounds) != 2 || len(r.SamplesNs) != 4 {
			t.Errorf("row %d: runtime %q (want %q), %d rounds, %d samples", i, r.Runtime, want, len(r.Rounds), len(r.SamplesNs))
		}
		// Round 1 runs the native row's 4 tests, then the llama.cpp row's.
		if wantSeq := (i/4)*4 + i%4; r.Rounds[0].Seq != wantSeq || r.Rounds[1].Seq != wantSeq+8 {
			t.Errorf("row %d: seqs %d, %d", i, r.Rounds[0].Seq, r.Rounds[1].Seq)
		}
		if want == workload.RuntimeLlamaCpp && (r.KernelVariant != "llama.cpp" || r.AvgTs != 1000 || r.PeakRSSBytes <= 0) {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	for _, bad := range [][]string{{"--runtime", "onnx"}, {"--runtime", "llama.cpp", "--llama-bench", "/nonexistent/llama-bench"}} {
		errb.Reset()
		if code := Main(context.Background(), append([]string{"bench", "--arch", spec}, bad...), IO{Stdout: io.Discard, Stderr: &errb}); code == 0 {
			t.Errorf("%q: exit 0", bad)
		}
	}
}
