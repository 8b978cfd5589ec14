package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
	"github.com/hilsearch/hilsearch/device-agent/internal/llamabench"
	"github.com/hilsearch/hilsearch/device-agent/internal/placement"
	"github.com/hilsearch/hilsearch/workload"
)

// The llama.cpp runtime: the agent finds a llama-bench executable, reports
// it in its profile, and its measuring child runs it on the candidate's
// GGUF export (docs/agent.md, "Runtimes").

// envLlamaBench names the llama-bench executable (when neither --llama-bench
// nor the identity file's llama_bench does); the agent also passes the one
// it found to its measuring children through it.
const envLlamaBench = "HIL_LLAMA_BENCH"

// envChildTimeout and envChildMemoryCap carry a job's limits to the
// measuring child, which applies them to the llama-bench it runs (the
// agent's supervisor only sees the child itself).
const (
	envChildTimeout   = "HIL_CHILD_TIMEOUT"
	envChildMemoryCap = "HIL_CHILD_MEMORY_CAP"
)

// probeTimeout bounds the discovery run of llama-bench.
const probeTimeout = time.Minute

// llamaBenchPath resolves the llama-bench to use: explicit (a flag or the
// identity file), else $HIL_LLAMA_BENCH, else llama-bench on PATH; "" when
// there is none. An explicit path that is not executable is an error.
func llamaBenchPath(explicit string) (string, error) {
	for _, p := range []string{explicit, os.Getenv(envLlamaBench)} {
		if p == "" {
			continue
		}
		abs, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("llama-bench %s: %w", p, err)
		}
		return filepath.Abs(abs)
	}
	if p, err := exec.LookPath("llama-bench"); err == nil {
		return filepath.Abs(p)
	}
	return "", nil
}

// probeSpecJSON is the network discovery runs: the smallest lfm2 the GGUF
// export writes.
const probeSpecJSON = `{"name":"probe","vocab":512,"hidden":64,"tied_embeddings":true,"norm_eps":1e-5,"max_context":64,
 "layers":[{"mixer":"conv","conv":{"kernel":3},"ffn":128},
           {"mixer":"gqa","gqa":{"heads":4,"kv_heads":2,"head_dim":16,"qk_norm":true,"rope_theta":10000},"ffn":128}]}`

// probeLlamaBench runs path on a tiny GGUF (one pp8 repetition) and
// returns what it says of its build. llama-bench has no --version flag;
// its JSON carries build_commit, build_number and backends.
func probeLlamaBench(ctx context.Context, path string) (*wire.RuntimeInfo, error) {
	spec, err := arch.ParseValid([]byte(probeSpecJSON))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hil-llama-probe-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	model, err := writeGGUF(dir, spec, arch.F16, 1)
	if err != nil {
		return nil, err
	}
	out, _, fail := runLlamaBench(ctx, path, []string{"-m", model, "-p", "8", "-n", "0", "-r", "1", "-t", "1", "-ngl", "0",
		"--load-mode", "none", "-o", "json"}, childLimits{Timeout: probeTimeout})
	if fail != nil {
		return nil, errors.New(fail.Error)
	}
	rows, err := llamabench.Parse(out)
	if err != nil {
		return nil, err
	}
	return runtimeInfo(path, rows[0]), nil
}

// runtimeInfo describes the llama-bench at path from a row it printed.
func runtimeInfo(path string, r llamabench.Row) *wire.RuntimeInfo {
	return &wire.RuntimeInfo{Name: workload.RuntimeLlamaCpp, Path: path,
		Version:     fmt.Sprintf("llama.cpp build %d (%s)", r.BuildNumber, r.BuildCommit),
		BuildCommit: r.BuildCommit, BuildNumber: r.BuildNumber, Backends: r.Backends}
}

// discoverRuntimes returns the runtimes besides native that this device
// offers, and notes for people about those it could not use.
func discoverRuntimes(ctx context.Context, llamaBench string) ([]wire.RuntimeInfo, []string) {
	path, err := llamaBenchPath(llamaBench)
	if err != nil {
		return nil, []string{"llama.cpp runtime unavailable: " + err.Error()}
	}
	if path == "" {
		return nil, nil
	}
	info, err := probeLlamaBench(ctx, path)
	if err != nil {
		return nil, []string{fmt.Sprintf("llama.cpp runtime unavailable: %s did not run a test model: %v", path, err)}
	}
	return []wire.RuntimeInfo{*info}, nil
}

// writeGGUF writes spec's GGUF export at p with seeded weights into dir and
// returns its path.
func writeGGUF(dir string, spec *arch.Spec, p arch.Precision, seed uint64) (string, error) {
	path := filepath.Join(dir, "model-"+string(p)+".gguf")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := spec.WriteGGUF(w, p, seed); err != nil {
		f.Close()
		return "", err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// runLlamaBench runs llama-bench with args under lim and returns its
// stdout and peak RSS, or a failed result (without job ID) saying why:
// timeout, memory cap, a start failure or a non-zero exit (crash, with the
// end of its stderr).
func runLlamaBench(ctx context.Context, path string, args []string, lim childLimits) ([]byte, int64, *wire.Result) {
	cmd := exec.Command(path, args...)
	var stdout bytes.Buffer
	var stderr stderrTail
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		r := failed("", wire.FailCrash, fmt.Sprintf("start llama-bench: %v", err))
		return nil, 0, &r
	}
	o := superviseProcess(ctx, cmd, lim)
	var r wire.Result
	switch {
	case o.interrupted:
		r = failed("", wire.FailInternal, "interrupted: "+ctx.Err().Error())
	case o.killedFor == wire.FailTimeout:
		r = failed("", wire.FailTimeout, fmt.Sprintf("llama-bench exceeded the time limit of %v and was killed", lim.Timeout))
	case o.killedFor == wire.FailOOM:
		r = failed("", wire.FailOOM, fmt.Sprintf("llama-bench reached %s resident memory, above its cap of %s, and was killed",
			fmtBytes(o.rssAtKill), fmtBytes(lim.MemoryCap)))
	case lim.MemoryCap > 0 && o.peak > lim.MemoryCap:
		r = failed("", wire.FailOOM, fmt.Sprintf("llama-bench peaked at %s resident memory, above its cap of %s",
			fmtBytes(o.peak), fmtBytes(lim.MemoryCap)))
	case o.waitErr != nil:
		r = failed("", wire.FailCrash, fmt.Sprintf("llama-bench failed (%v)%s", o.waitErr, stderrSuffix(stderr.b)))
	default:
		return stdout.Bytes(), o.peak, nil
	}
	return nil, o.peak, &r
}

// childLlamaLimits reads the limits the agent passed to its child
// (envChildTimeout, envChildMemoryCap); zero when unset.
func childLlamaLimits() childLimits {
	var lim childLimits
	if d, err := time.ParseDuration(os.Getenv(envChildTimeout)); err == nil && d > 0 {
		lim.Timeout = d
	}
	if n, err := strconv.ParseInt(os.Getenv(envChildMemoryCap), 10, 64); err == nil && n > 0 {
		lim.MemoryCap = n
	}
	return lim
}

// absentLlama are the metrics llama-bench cannot give: it reports one time
// per repetition, not per token, and no block profile.
var absentLlama = []string{"decode_ms_p95", "block_time_share"}

// measureLlama measures a checked job with llama-bench at path: it writes
// the candidate's GGUF at the job's precision (seeded weights) into a
// scratch directory, runs the workload's invocations (llamabench.Runs),
// fills the measurement from their JSON and deletes the GGUF. TTFT is the
// pp<L>+tg1 test (the prefill of L and one decode step, timed together);
// decode ms/token is each repetition's mean time per token, so its P50 is
// the median over repetitions and P95 is absent (listed in Absent, left 0).
// The peak RSS is llama-bench's, the larger of its invocations.
func measureLlama(ctx context.Context, jobID string, spec *arch.Spec, w workload.Workload, path string, lim childLimits, env hw.Env) wire.Result {
	if path == "" {
		return failed(jobID, wire.FailInvalidSpec, "runtime llama.cpp: this device has no llama-bench (give the agent --llama-bench or set "+envLlamaBench+")")
	}
	if err := arch.Exportable(spec, arch.FormatGGUF); err != nil {
		return failed(jobID, wire.FailInvalidSpec, "runtime llama.cpp: "+err.Error())
	}
	m := &wire.Measurement{
		SpecHash: spec.Hash(), WorkloadHash: w.Hash(), AgentVersion: Version, KernelVariant: "llama.cpp",
		Precision: w.Precision, Params: spec.Params().Total, StartedAt: time.Now().UTC(),
		Runtime: workload.RuntimeLlamaCpp, Absent: absentLlama,
	}
	cpu := fillEnvironment(ctx, m, env)
	// The same placement rule as the native runtime: llama-bench gets the
	// count (-t) and the CPUs as its own mask (-C, --cpu-strict 1 pins one
	// thread per CPU), so the agent pins nothing itself.
	choice, err := choosePlacement(cpu, w.Threads, "")
	if err != nil {
		return failed(jobID, wire.FailInvalidSpec, "workload.threads: "+err.Error())
	}
	w.Threads = workload.Threads(choice.Threads)
	m.Threads, m.CPUs, m.Placement = choice.Threads, choice.CPUs, choice.Rule+" cpus "+choice.List()+" (llama-bench -C, --cpu-strict 1)"
	m.Pinned = len(choice.CPUs) > 0 && placement.Supported
	dir, err := os.MkdirTemp("", "hil-llama-")
	if err != nil {
		return failed(jobID, wire.FailInternal, "scratch directory: "+err.Error())
	}
	defer os.RemoveAll(dir)
	model, err := writeGGUF(dir, spec, w.Precision, w.Seed)
	if err != nil {
		return failed(jobID, wire.FailInternal, "write GGUF: "+err.Error())
	}
	var rows []llamabench.Row
	deadline := time.Now().Add(lim.Timeout)
	for _, run := range llamabench.Runs(model, w) {
		l := lim
		if lim.Timeout > 0 {
			if l.Timeout = time.Until(deadline); l.Timeout <= 0 {
				return failed(jobID, wire.FailTimeout, fmt.Sprintf("llama-bench exceeded the time limit of %v", lim.Timeout))
			}
		}
		args := run.Args
		if len(choice.CPUs) > 0 {
			args = append(slices.Clone(args), "-C", placement.Mask(choice.CPUs), "--cpu-strict", "1")
		}
		out, peak, fail := runLlamaBench(ctx, path, args, l)
		if fail != nil {
			if fail.FailKind == wire.FailTimeout { // the job's limit, not what was left of it
				fail.Error = fmt.Sprintf("llama-bench exceeded the time limit of %v and was killed", lim.Timeout)
			}
			fail.JobID, fail.Error = jobID, run.What+": "+fail.Error
			return *fail
		}
		m.PeakRSSBytes = max(m.PeakRSSBytes, peak)
		got, err := llamabench.Parse(out)
		if err != nil {
			return failed(jobID, wire.FailCrash, run.What+": "+err.Error())
		}
		rows = append(rows, got...)
	}
	if err := fillFromLlama(m, rows, w, path); err != nil {
		return failed(jobID, wire.FailCrash, err.Error())
	}
	m.ThermalAfter = thermalOf(hw.TakeSnapshot(ctx, env))
	m.FinishedAt = time.Now().UTC()
	if err := os.Remove(model); err != nil {
		return failed(jobID, wire.FailInternal, "delete GGUF: "+err.Error())
	}
	return wire.Result{JobID: jobID, Status: wire.ResultOK, Measurement: m}
}

// fillFromLlama fills m's prefill, decode and build fields from the rows
// of the workload's llama-bench runs; a test the workload needs and the
// rows lack is an error.
func fillFromLlama(m *wire.Measurement, rows []llamabench.Row, w workload.Workload, path string) error {
	for _, l := range w.PromptLengths {
		pp, ok := llamabench.Find(rows, l, 0, 0)
		if !ok {
			return fmt.Errorf("llama-bench JSON: no pp%d test", l)
		}
		pg, ok := llamabench.Find(rows, l, 1, 0)
		if !ok {
			return fmt.Errorf("llama-bench JSON: no pp%d+tg1 test", l)
		}
		r := wire.PrefillResult{PromptLength: l, Repetitions: len(pp.SamplesNs)}
		var err error
		if r.TokensPerSec, err = statOf(perSecond(pp.SamplesNs, l)); err != nil {
			return fmt.Errorf("pp%d: %w", l, err)
		}
		if r.TTFTms, err = statOf(scaled(pg.SamplesNs, 1e-6)); err != nil {
			return fmt.Errorf("pp%d+tg1: %w", l, err)
		}
		m.Prefill = append(m.Prefill, r)
	}
	for _, d := range w.DecodeDepths {
		tg, ok := llamabench.Find(rows, 0, w.DecodeTokens, d)
		if !ok {
			return fmt.Errorf("llama-bench JSON: no tg%d @ d%d test", w.DecodeTokens, d)
		}
		r := wire.DecodeResult{Depth: d, Tokens: w.DecodeTokens, Repetitions: len(tg.SamplesNs)}
		var err error
		if r.TokensPerSec, err = statOf(perSecond(tg.SamplesNs, w.DecodeTokens)); err != nil {
			return fmt.Errorf("tg%d @ d%d: %w", w.DecodeTokens, d, err)
		}
		if r.MsPerToken, err = statOf(scaled(tg.SamplesNs, 1e-6/float64(w.DecodeTokens))); err != nil {
			return fmt.Errorf("tg%d @ d%d: %w", w.DecodeTokens, d, err)
		}
		r.MsPerToken.P95 = 0 // absent: no per-token times
		m.Decode = append(m.Decode, r)
	}
	r := rows[0]
	m.LlamaBench = runtimeInfo(path, r)
	m.CPUModel = r.CPUInfo
	m.Memory = wire.MemoryBreakdown{Weights: r.ModelSize, Context: w.MaxContext()}
	return nil
}

// perSecond converts repetition times of a test of tokens tokens to
// tokens/s, llama-bench's per-repetition throughput.
func perSecond(ns []int64, tokens int) []float64 {
	out := make([]float64, len(ns))
	for i, v := range ns {
		out[i] = float64(tokens) * 1e9 / float64(v)
	}
	return out
}

// scaled converts nanosecond samples with factor f.
func scaled(ns []int64, f float64) []float64 {
	out := make([]float64, len(ns))
	for i, v := range ns {
		out[i] = float64(v) * f
	}
	return out
}
