package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
	"github.com/hilsearch/hilsearch/device-agent/internal/stats"
	"github.com/hilsearch/hilsearch/kernels"
	"github.com/hilsearch/hilsearch/workload"
)

// maxJobBytes bounds the job a measuring child reads from stdin.
const maxJobBytes = 16 << 20

// runMeasure implements `device-agent measure`, the child process the
// agent runs for each job: it reads one wire.Job from stdin and writes one
// wire.Result to stdout. A failure to measure is a failed result, not an
// error exit; the exit status is non-zero only when no result could be
// written.
func runMeasure(ctx context.Context, args []string, st IO) error {
	fl := flag.NewFlagSet("measure", flag.ContinueOnError)
	fl.SetOutput(st.Stderr)
	fl.Usage = func() {
		fmt.Fprintln(st.Stderr, "usage: device-agent measure < job.json > result.json\n\n"+
			"Measures one job (a wire.Job on stdin) with the timing protocol and prints one result.\n"+
			"The agent runs this as a child process; it is also useful by hand.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	watchParent(ctx)
	data, err := io.ReadAll(io.LimitReader(st.Stdin, maxJobBytes+1))
	if err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	var res wire.Result
	var job wire.Job
	switch {
	case len(data) > maxJobBytes:
		res = failed("", wire.FailInvalidSpec, fmt.Sprintf("job: larger than %d bytes", maxJobBytes))
	default:
		if err := json.Unmarshal(data, &job); err != nil {
			res = failed("", wire.FailInvalidSpec, "job: "+err.Error())
		} else {
			res = measureJob(ctx, &job, liveEnv())
		}
	}
	out, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = st.Stdout.Write(append(out, '\n'))
	return err
}

// watchParent ends the child when the agent that started it dies (for
// example kill -9), so an orphaned measurement never competes with the
// next one. Only when run under an agent (HIL_AGENT_PARENT set).
func watchParent(ctx context.Context) {
	want, err := strconv.Atoi(os.Getenv(envAgentParent))
	if err != nil || want <= 1 {
		return
	}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != want {
					os.Exit(3)
				}
			}
		}
	}()
}

// envAgentParent carries the agent's pid to its measuring child.
const envAgentParent = "HIL_AGENT_PARENT"

func failed(jobID, kind, msg string) wire.Result {
	return wire.Result{JobID: jobID, Status: wire.ResultFailed, FailKind: kind, Error: msg}
}

// checkJob parses and validates a job's spec and workload (the one
// workload validator, workload.Check); the error names the field. The
// workload is returned normalised (defaults filled in).
func checkJob(job *wire.Job) (*arch.Spec, workload.Workload, error) {
	if job.ID == "" {
		return nil, workload.Workload{}, errors.New("id: missing")
	}
	if job.Kind != "" && job.Kind != wire.JobKindMeasure {
		return nil, workload.Workload{}, fmt.Errorf("kind %q: only %q is supported", job.Kind, wire.JobKindMeasure)
	}
	if len(job.Spec) == 0 {
		return nil, workload.Workload{}, errors.New("spec: missing")
	}
	spec, err := arch.Parse(job.Spec)
	if err != nil {
		return nil, workload.Workload{}, fmt.Errorf("spec: %w", err)
	}
	if err := spec.Validate(); err != nil {
		return nil, workload.Workload{}, fmt.Errorf("spec: %w", err)
	}
	if err := job.Workload.Validate(spec); err != nil {
		return nil, job.Workload, err
	}
	return spec, job.Workload.Normalize(), nil
}

// measureJob runs the timing protocol (design §4) for one job. Everything
// that goes wrong becomes a failed result with a reason.
func measureJob(ctx context.Context, job *wire.Job, env hw.Env) (res wire.Result) {
	res = wire.Result{JobID: job.ID, Status: wire.ResultOK}
	defer func() {
		if p := recover(); p != nil {
			res = failed(job.ID, wire.FailInternal, fmt.Sprintf("panic while measuring: %v", p))
		}
	}()
	spec, w, err := checkJob(job)
	if err != nil {
		return failed(job.ID, wire.FailInvalidSpec, err.Error())
	}
	if w.RuntimeName() == workload.RuntimeLlamaCpp {
		return measureLlama(ctx, job.ID, spec, w, os.Getenv(envLlamaBench), childLlamaLimits(), env)
	}
	m := &wire.Measurement{
		SpecHash: spec.Hash(), WorkloadHash: w.Hash(), AgentVersion: Version,
		KernelVariant: kernels.Variant(), Threads: w.Threads, Precision: w.Precision,
		Params: spec.Params().Total, StartedAt: time.Now().UTC(),
	}
	fillEnvironment(ctx, m, env)

	maxCtx := max(1, w.MaxContext())
	model, err := kernels.BuildWith(spec, w.Precision, maxCtx, w.Threads, w.Seed, kernels.Options{KVF32: w.KVType == "f32"})
	if err != nil {
		return failed(job.ID, wire.FailInvalidSpec, fmt.Sprintf("spec cannot be built: %v", err))
	}
	defer model.Close()
	mem := model.Memory()
	m.Memory = wire.MemoryBreakdown{Weights: mem.Weights, KV: mem.KV, State: mem.State, Scratch: mem.Scratch, Total: mem.Total(), Context: maxCtx}

	b := &timing{
		model: model, tokens: promptTokens(spec.Vocab, maxCtx+1, w.Seed),
		ctl: stats.Controller{MinReps: w.Repetitions, MaxReps: w.MaxRepetitions, MaxRelSpread: w.MaxRelSpread},
	}
	// The timed regions run with the collector off: the model allocated
	// everything at Build, so the heap does not grow while timing.
	runtime.GC()
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	for _, l := range w.PromptLengths {
		if err := ctx.Err(); err != nil {
			return failed(job.ID, wire.FailInternal, "interrupted: "+err.Error())
		}
		pr, err := b.prefill(l)
		if err != nil {
			return failed(job.ID, wire.FailInternal, fmt.Sprintf("prefill pp%d: %v", l, err))
		}
		m.Prefill = append(m.Prefill, pr)
		runtime.GC()
	}
	for _, d := range w.DecodeDepths {
		if err := ctx.Err(); err != nil {
			return failed(job.ID, wire.FailInternal, "interrupted: "+err.Error())
		}
		dr, err := b.decode(d, w.DecodeTokens)
		if err != nil {
			return failed(job.ID, wire.FailInternal, fmt.Sprintf("decode tg%d@d%d: %v", w.DecodeTokens, d, err))
		}
		m.Decode = append(m.Decode, dr)
		runtime.GC()
	}
	share, err := b.profile(w)
	if err != nil {
		return failed(job.ID, wire.FailInternal, fmt.Sprintf("profiled pass: %v", err))
	}
	m.BlockTimeShare = share
	m.ThermalAfter = thermalOf(hw.TakeSnapshot(ctx, env))
	m.PeakRSSBytes = selfPeakRSS()
	m.FinishedAt = time.Now().UTC()
	res.Measurement = m
	return res
}

// fillEnvironment records the device's CPU, power and governor, and the
// thermal snapshot before measuring.
func fillEnvironment(ctx context.Context, m *wire.Measurement, env hw.Env) {
	if prof, err := hw.Collect(ctx, env); err == nil {
		m.CPUModel = prof.CPU.Model
		m.Power = prof.Power.State
		for _, c := range prof.CPU.Clusters {
			if c.Governor != "" {
				m.Governor = c.Governor
				break
			}
		}
	}
	m.ThermalBefore = thermalOf(hw.TakeSnapshot(ctx, env))
}

// promptTokens returns n deterministic token IDs below vocab for seed.
func promptTokens(vocab, n int, seed uint64) []int32 {
	g := rand.New(rand.NewPCG(seed, 0x68696c736561726b))
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(g.IntN(vocab))
	}
	return out
}

// thermalOf converts a hardware snapshot to the wire form.
func thermalOf(s hw.Snapshot) wire.Thermal {
	t := wire.Thermal{At: s.At}
	if len(s.Thermal) > 0 {
		t.TempsC = make(map[string]float64, len(s.Thermal))
		for _, x := range s.Thermal {
			t.TempsC[x.Name] = x.TempC
		}
	}
	n := 0
	for _, f := range s.Freqs {
		n = max(n, f.CPU+1)
	}
	if n > 0 {
		t.FreqMHz = make([]float64, n)
		for _, f := range s.Freqs {
			t.FreqMHz[f.CPU] = float64(f.CurKHz) / 1000
		}
	}
	return t
}

// timing runs the protocol on one built model. Its methods must not run concurrently.
type timing struct {
	model  *kernels.Model
	tokens []int32
	ctl    stats.Controller
}

// prefill measures pp<l> and TTFT: one untimed warm-up, then repetitions
// from an empty cache until the controller is satisfied.
func (b *timing) prefill(l int) (wire.PrefillResult, error) {
	run := func() (tps, ttftMS float64, err error) {
		b.model.Reset()
		t0 := time.Now()
		if _, err := b.model.Prefill(b.tokens[:l]); err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		if _, err := b.model.Decode(b.tokens[l]); err != nil {
			return 0, 0, err
		}
		t2 := time.Now()
		return float64(l) / t1.Sub(t0).Seconds(), float64(t2.Sub(t0).Nanoseconds()) / 1e6, nil
	}
	if _, _, err := run(); err != nil { // warm-up
		return wire.PrefillResult{}, err
	}
	var tps, ttft []float64
	for {
		a, c, err := run()
		if err != nil {
			return wire.PrefillResult{}, err
		}
		tps, ttft = append(tps, a), append(ttft, c)
		d, err := b.ctl.Decide(tps, ttft)
		if err != nil {
			return wire.PrefillResult{}, err
		}
		if !d.Continue {
			break
		}
	}
	r := wire.PrefillResult{PromptLength: l, Repetitions: len(tps)}
	var err error
	if r.TokensPerSec, err = statOf(tps); err != nil {
		return r, err
	}
	r.TTFTms, err = statOf(ttft)
	return r, err
}

// decode measures tg<n> at depth d: the context is filled with d tokens
// untimed, then n single-token decode steps are timed one by one.
func (b *timing) decode(d, n int) (wire.DecodeResult, error) {
	lat := make([]float64, 0, n)
	run := func() (tps float64, steps []float64, err error) {
		b.model.Reset()
		if d > 0 {
			if _, err := b.model.Prefill(b.tokens[:d]); err != nil {
				return 0, nil, err
			}
		}
		steps = lat[:0]
		t0 := time.Now()
		prev := t0
		for i := 0; i < n; i++ {
			if _, err := b.model.Decode(b.tokens[(d+i)%len(b.tokens)]); err != nil {
				return 0, nil, err
			}
			now := time.Now()
			steps = append(steps, float64(now.Sub(prev).Nanoseconds())/1e6)
			prev = now
		}
		return float64(n) / prev.Sub(t0).Seconds(), steps, nil
	}
	if _, _, err := run(); err != nil { // warm-up
		return wire.DecodeResult{}, err
	}
	var tps, pooled []float64
	for {
		a, steps, err := run()
		if err != nil {
			return wire.DecodeResult{}, err
		}
		tps = append(tps, a)
		pooled = append(pooled, steps...)
		dec, err := b.ctl.Decide(tps)
		if err != nil {
			return wire.DecodeResult{}, err
		}
		if !dec.Continue {
			break
		}
	}
	r := wire.DecodeResult{Depth: d, Tokens: n, Repetitions: len(tps)}
	var err error
	if r.TokensPerSec, err = statOf(tps); err != nil {
		return r, err
	}
	r.MsPerToken, err = statOf(pooled)
	return r, err
}

// profile runs one pass of each phase with the block profiler on (apart
// from the timed repetitions, which it would perturb) and returns each
// block type's share of the forward time. The embedding lookup counts as
// "other".
func (b *timing) profile(w workload.Workload) (map[string]float64, error) {
	b.model.SetProfiler(true)
	b.model.ResetProfile()
	defer b.model.SetProfiler(false)
	for _, l := range w.PromptLengths {
		b.model.Reset()
		if _, err := b.model.Prefill(b.tokens[:l]); err != nil {
			return nil, err
		}
	}
	for _, d := range w.DecodeDepths {
		b.model.Reset()
		if d > 0 {
			if _, err := b.model.Prefill(b.tokens[:d]); err != nil {
				return nil, err
			}
		}
		for i := 0; i < w.DecodeTokens; i++ {
			if _, err := b.model.Decode(b.tokens[(d+i)%len(b.tokens)]); err != nil {
				return nil, err
			}
		}
	}
	prof := b.model.Profile()
	var total time.Duration
	for _, v := range prof {
		total += v
	}
	if total <= 0 {
		return nil, errors.New("the kernels profiler recorded no time")
	}
	share := make(map[string]float64, len(prof))
	keys := make([]string, 0, len(prof))
	for k := range prof {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		switch k {
		case "conv", "gqa", "swa", "linear_attn", "ssm", "ffn", "head":
		default:
			name = "other"
		}
		share[name] += float64(prof[k]) / float64(total)
	}
	return share, nil
}

// statOf summarises samples in the wire form, keeping the raw samples.
func statOf(samples []float64) (wire.Stat, error) {
	s, err := stats.Summarize(samples)
	if err != nil {
		return wire.Stat{}, err
	}
	return wire.Stat{
		Median: s.Median, Mean: s.Mean, Stddev: s.Stddev, Min: s.Min, Max: s.Max,
		P50: s.P50, P95: s.P95, RelSpread: s.RelMedianErr,
		Samples: append([]float64(nil), samples...),
	}, nil
}

// selfPeakRSS is this process's peak resident set in bytes: VmHWM from
// /proc/self/status where it exists, else getrusage (rss_*.go).
func selfPeakRSS() int64 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		if v, ok := statusKB(string(data), "VmHWM:"); ok {
			return v
		}
	}
	return rusageSelfMaxRSS()
}

// statusKB reads a "Key:   123 kB" line of /proc/<pid>/status, in bytes.
func statusKB(status, key string) (int64, bool) {
	for _, line := range strings.Split(status, "\n") {
		if !strings.HasPrefix(line, key) {
			continue
		}
		f := strings.Fields(line[len(key):])
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return v * 1024, true
	}
	return 0, false
}
