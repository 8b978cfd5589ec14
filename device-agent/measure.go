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
// next one. Only when run under an agent (HIL_AGENT_PARENT set). On Linux
// and Android the kernel's parent-death signal does this at once and on
// Windows the job object does (childproc_*.go); the poll is the fallback
// elsewhere and for the instant between fork and prctl.
func watchParent(ctx context.Context) {
	want, err := strconv.Atoi(os.Getenv(envAgentParent))
	if err != nil || want <= 1 {
		return
	}
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
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
	if job.Kind != "" && job.Kind != wire.JobKindMeasure && job.Kind != wire.JobKindProbe {
		return nil, workload.Workload{}, fmt.Errorf("kind %q: only %q and %q are supported", job.Kind, wire.JobKindMeasure, wire.JobKindProbe)
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
		KernelVariant: kernels.Variant(), Precision: w.Precision,
		Params: spec.Params().Total, StartedAt: time.Now().UTC(),
	}
	_ = disableTHP() // per-row peaks count what each row touches (thp_linux.go)
	cpu := fillEnvironment(ctx, m, env)
	choice, err := choosePlacement(cpu, w.Threads, "")
	if err != nil {
		return failed(job.ID, wire.FailInvalidSpec, "workload.threads: "+err.Error())
	}
	// Worker 0 is this goroutine: pin it, and each pool worker pins itself
	// (kernels.Options.WorkerStart) before the first item.
	pins := pin(choice)
	defer pins.Release()
	m.Threads, m.CPUs, m.Placement, m.Pinned = choice.Threads, choice.CPUs, pins.Describe(), pins.Pinned

	maxCtx := max(1, w.MaxContext())
	model, err := kernels.BuildWith(spec, w.Precision, maxCtx, choice.Threads, w.Seed,
		kernels.Options{KVF32: w.KVType == "f32", WorkerStart: pins.Start(choice.Threads)})
	if err != nil {
		return failed(job.ID, wire.FailInvalidSpec, fmt.Sprintf("spec cannot be built: %v", err))
	}
	defer model.Close()
	if err := pins.Wait(); err != nil {
		return failed(job.ID, wire.FailInternal, err.Error())
	}
	mem := model.Memory()
	m.Memory = wire.MemoryBreakdown{Weights: mem.Weights, KV: mem.KV, State: mem.State, Scratch: mem.Scratch, Total: mem.Total(), Context: maxCtx}

	b := &timing{
		model: model, tokens: promptTokens(spec.Vocab, maxCtx+1, w.Seed),
		ctl:   stats.Controller{MinReps: w.Repetitions, MaxReps: w.MaxRepetitions, MaxRelSpread: w.MaxRelSpread},
		guard: newGuard(ctx, env, choice.CPUs, w.Normalize().MaxRepetitions),
	}
	b.energy = newEnergyMeter(ctx, b.guard.s)
	b.model.ResetProfile()
	// The timed regions run with the collector off: the model allocated
	// everything at Build (and at each SetContext), so the heap does not
	// grow while timing.
	runtime.GC()
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	m.PeakRSSBytes = selfPeakRSS() // the build's peak
	m.PeakRSSPerContext = true
	for _, l := range w.PromptLengths {
		if err := ctx.Err(); err != nil {
			return failed(job.ID, wire.FailInternal, "interrupted: "+err.Error())
		}
		row, err := b.context(l + 1)
		if err != nil {
			return failed(job.ID, wire.FailInternal, fmt.Sprintf("prefill pp%d: %v", l, err))
		}
		pr, err := b.prefill(l, row)
		if err != nil {
			return failed(job.ID, wire.FailInternal, fmt.Sprintf("prefill pp%d: %v", l, err))
		}
		b.finishRow(&pr.Row, m)
		m.Prefill = append(m.Prefill, pr)
	}
	for _, d := range w.DecodeDepths {
		if err := ctx.Err(); err != nil {
			return failed(job.ID, wire.FailInternal, "interrupted: "+err.Error())
		}
		row, err := b.context(d + w.DecodeTokens)
		if err != nil {
			return failed(job.ID, wire.FailInternal, fmt.Sprintf("decode tg%d@d%d: %v", w.DecodeTokens, d, err))
		}
		dr, err := b.decode(d, w.DecodeTokens, row)
		if err != nil {
			return failed(job.ID, wire.FailInternal, fmt.Sprintf("decode tg%d@d%d: %v", w.DecodeTokens, d, err))
		}
		b.finishRow(&dr.Row, m)
		m.Decode = append(m.Decode, dr)
	}
	if w.SustainedSeconds > 0 && len(w.DecodeDepths) > 0 {
		if err := ctx.Err(); err != nil {
			return failed(job.ID, wire.FailInternal, "interrupted: "+err.Error())
		}
		d := w.DecodeDepths[0]
		if _, err := b.context(d + w.DecodeTokens); err != nil {
			return failed(job.ID, wire.FailInternal, fmt.Sprintf("sustained decode @d%d: %v", d, err))
		}
		sus, err := b.sustained(ctx, d, w.DecodeTokens, time.Duration(w.SustainedSeconds)*time.Second)
		if err != nil {
			return failed(job.ID, wire.FailInternal, fmt.Sprintf("sustained decode @d%d: %v", d, err))
		}
		m.Sustained = sus
		m.Throttled = m.Throttled || sus.Throttled
	}
	share, err := b.shares()
	if err != nil {
		return failed(job.ID, wire.FailInternal, fmt.Sprintf("profiled pass: %v", err))
	}
	m.BlockTimeShare = share
	m.ThermalAfter = thermalOf(hw.TakeSnapshot(ctx, env))
	m.PeakRSSBytes = max(m.PeakRSSBytes, selfPeakRSS())
	m.FinishedAt = time.Now().UTC()
	res.Measurement = m
	return res
}

// fillEnvironment records the device's CPU, power and governor, and the
// thermal snapshot before measuring.
func fillEnvironment(ctx context.Context, m *wire.Measurement, env hw.Env) (cpu hw.CPU) {
	if prof, err := hw.Collect(ctx, env); err == nil {
		cpu = prof.CPU
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
	return cpu
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
	guard  *guard
	// rePrefill makes decode rows prefill their depth before every
	// repetition instead of restoring a snapshot (the old method, kept to
	// check the new one against).
	rePrefill bool
	// peakReset is false once /proc/self/clear_refs could not be written.
	peakReset bool
	// energy measures each timed phase's energy.
	energy *energyMeter
	// power is the power state (powerState) last sampled; a row in whose
	// samples it changes (from the previous row's last, too) is marked.
	power string
}

// context sizes the model's caches for the next row's context, frees the
// previous row's caches and resets the peak RSS, so the row's peak is its
// own (Linux and Android). It returns the row with its analytic memory.
func (b *timing) context(n int) (wire.Row, error) {
	if err := b.model.SetContext(n); err != nil {
		return wire.Row{}, err
	}
	debug.FreeOSMemory() // return the previous row's caches to the OS
	b.peakReset = resetPeakRSS()
	mem := b.model.Memory()
	return wire.Row{Memory: &wire.MemoryBreakdown{Weights: mem.Weights, KV: mem.KV, State: mem.State, Scratch: mem.Scratch, Total: mem.Total(), Context: n}}, nil
}

// finishRow records the row's peak and adds its counts to the measurement.
func (b *timing) finishRow(r *wire.Row, m *wire.Measurement) {
	r.PeakRSSBytes = selfPeakRSS()
	m.PeakRSSBytes = max(m.PeakRSSBytes, r.PeakRSSBytes)
	m.PeakRSSPerContext = m.PeakRSSPerContext && b.peakReset
	m.Discarded += r.Discarded
	m.Throttled = m.Throttled || r.Throttled
	if r.PowerChanged {
		if m.Gates == nil {
			m.Gates = &wire.Gates{}
		}
		m.Gates.PowerChanged = true
	}
}

// repeat runs repetitions until the controller is satisfied. rep runs one
// and returns one value per controlled series and a keep function that
// records its other samples. A repetition the guard finds throttled is
// discarded and run again, at most guard.maxDiscard times per row; after
// that the row keeps what it gets and is marked throttled.
func (b *timing) repeat(row *wire.Row, nseries int, rep func() (vals []float64, keep func(), err error)) ([][]float64, error) {
	series := make([][]float64, nseries)
	for {
		before := b.guard.sample()
		vals, keep, err := rep()
		if err != nil {
			return nil, err
		}
		after := b.guard.sample()
		for _, s := range []hw.Sample{before, after} {
			p := powerState(s.Battery)
			if b.power == "" {
				b.power = p
			}
			row.PowerChanged = row.PowerChanged || p != b.power
			b.power = p
		}
		if v := b.guard.judge(before, after); v.Throttled {
			if len(row.ThrottleReasons) < 3 && len(v.Reasons) > 0 {
				row.ThrottleReasons = append(row.ThrottleReasons, v.Reasons[0])
			}
			if row.Discarded < b.guard.maxDiscard {
				row.Discarded++
				continue
			}
			row.Throttled = true
		}
		for i := range series {
			series[i] = append(series[i], vals[i])
		}
		if keep != nil {
			keep()
		}
		d, err := b.ctl.Decide(series...)
		if err != nil {
			return nil, err
		}
		if !d.Continue {
			return series, nil
		}
	}
}

// prefill measures pp<l> and TTFT: one untimed warm-up, then repetitions
// from an empty cache until the controller is satisfied; then one more,
// untimed, with the block profiler on.
func (b *timing) prefill(l int, row wire.Row) (wire.PrefillResult, error) {
	en := b.energy.row(l)
	run := func() (tps, ttftMS float64, err error) {
		b.model.Reset()
		en.begin()
		t0 := time.Now()
		if _, err := b.model.Prefill(b.tokens[:l]); err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		en.end()
		if _, err := b.model.Decode(b.tokens[l]); err != nil {
			return 0, 0, err
		}
		t2 := time.Now()
		return float64(l) / t1.Sub(t0).Seconds(), float64(t2.Sub(t0).Nanoseconds()) / 1e6, nil
	}
	if _, _, err := run(); err != nil { // warm-up
		return wire.PrefillResult{}, err
	}
	b.guard.reference()
	series, err := b.repeat(&row, 2, func() ([]float64, func(), error) {
		a, c, err := run()
		return []float64{a, c}, en.keep, err
	})
	if err != nil {
		return wire.PrefillResult{}, err
	}
	b.model.SetProfiler(true)
	b.model.Reset()
	_, err = b.model.Prefill(b.tokens[:l])
	b.model.SetProfiler(false)
	if err != nil {
		return wire.PrefillResult{}, err
	}
	row.Energy = en.result(len(series[0]))
	r := wire.PrefillResult{PromptLength: l, Repetitions: len(series[0]), Row: row}
	if r.TokensPerSec, err = statOf(series[0]); err != nil {
		return r, err
	}
	r.TTFTms, err = statOf(series[1])
	return r, err
}

// decode measures tg<n> at depth d: the context is filled with d tokens
// once, untimed, and its decode state kept (kernels.Snapshot); every
// repetition restores it and times n single-token decode steps one by one.
// After the timed repetitions, one more runs with the block profiler on.
func (b *timing) decode(d, n int, row wire.Row) (wire.DecodeResult, error) {
	lat := make([]float64, 0, n)
	fill := func() error {
		b.model.Reset()
		if d > 0 {
			if _, err := b.model.Prefill(b.tokens[:d]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := fill(); err != nil {
		return wire.DecodeResult{}, err
	}
	snap := b.model.Snapshot()
	start := func() error {
		if b.rePrefill {
			return fill()
		}
		return b.model.RestoreSnapshot(snap)
	}
	en := b.energy.row(n)
	run := func() (tps float64, steps []float64, err error) {
		if err := start(); err != nil {
			return 0, nil, err
		}
		steps = lat[:0]
		en.begin()
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
		en.end()
		return float64(n) / prev.Sub(t0).Seconds(), steps, nil
	}
	if _, _, err := run(); err != nil { // warm-up
		return wire.DecodeResult{}, err
	}
	b.guard.reference()
	var pooled []float64
	series, err := b.repeat(&row, 1, func() ([]float64, func(), error) {
		a, steps, err := run()
		return []float64{a}, func() { pooled = append(pooled, steps...); en.keep() }, err
	})
	if err != nil {
		return wire.DecodeResult{}, err
	}
	if err := start(); err != nil {
		return wire.DecodeResult{}, err
	}
	b.model.SetProfiler(true)
	for i := 0; i < n && err == nil; i++ {
		_, err = b.model.Decode(b.tokens[(d+i)%len(b.tokens)])
	}
	b.model.SetProfiler(false)
	if err != nil {
		return wire.DecodeResult{}, err
	}
	row.Energy = en.result(len(series[0]))
	r := wire.DecodeResult{Depth: d, Tokens: n, Repetitions: len(series[0]), Method: "snapshot", Row: row}
	if b.rePrefill {
		r.Method = "prefill"
	}
	if r.TokensPerSec, err = statOf(series[0]); err != nil {
		return r, err
	}
	r.MsPerToken, err = statOf(pooled)
	return r, err
}

// shares returns each block type's share of the forward time of the
// profiled passes (one untimed pass per row, apart from the timed
// repetitions, which the profiler would perturb). The embedding lookup
// counts as "other".
func (b *timing) shares() (map[string]float64, error) {
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
