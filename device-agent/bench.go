package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
	"github.com/hilsearch/hilsearch/device-agent/internal/llamabench"
	"github.com/hilsearch/hilsearch/device-agent/internal/placement"
	"github.com/hilsearch/hilsearch/kernels"
	"github.com/hilsearch/hilsearch/kernels/roofline"
	"github.com/hilsearch/hilsearch/workload"
)

// benchConfig is the parsed command line of `device-agent bench`.
type benchConfig struct {
	Archs      []string
	Precisions []arch.Precision
	Rounds     int
	Roofline   bool
	// RooflineMiB overrides the bandwidth buffer size (0: 8× the
	// last-level cache, at least 512 MiB).
	RooflineMiB int
	Prompts     []int
	Gens        []int
	Depths      []int
	// Threads is "auto" (one worker per prime or performance core) or a
	// count that fills the fastest cores first; Mask is llama-bench's -C
	// (empty: none). See choosePlacement.
	Threads workload.Threads
	Mask    string
	// RePrefill fills the depth before every repetition instead of
	// restoring a snapshot of it (--depth-method prefill).
	RePrefill bool
	Reps      int
	JSON      bool
	Seed      uint64
	KVF32     bool
	Profile   bool
	// Runtimes are the runtimes each (arch, precision) row runs on, in
	// order (workload.Runtimes names); LlamaBench is the llama-bench of the
	// llama.cpp runtime.
	Runtimes   []string
	LlamaBench string
}

// benchResult is one test's line, with llama-bench's JSON field names
// plus our extras (runtime, precision, kernel_variant, peak_rss_bytes).
type benchResult struct {
	// Runtime is native (our kernels) or llama.cpp (llama-bench on the
	// GGUF export; KernelVariant is then "llama.cpp" and the build is in
	// LlamaBuild).
	Runtime       string    `json:"runtime"`
	LlamaBuild    string    `json:"llama_build,omitempty"`
	ModelType     string    `json:"model_type"`
	ModelSize     int64     `json:"model_size"`
	ModelNParams  int64     `json:"model_n_params"`
	NThreads      int       `json:"n_threads"`
	NPrompt       int       `json:"n_prompt"`
	NGen          int       `json:"n_gen"`
	NDepth        int       `json:"n_depth"`
	TypeK         string    `json:"type_k"`
	TypeV         string    `json:"type_v"`
	CPUInfo       string    `json:"cpu_info"`
	TestTime      string    `json:"test_time"`
	AvgNs         int64     `json:"avg_ns"`
	StddevNs      int64     `json:"stddev_ns"`
	AvgTs         float64   `json:"avg_ts"`
	StddevTs      float64   `json:"stddev_ts"`
	SamplesNs     []int64   `json:"samples_ns"`
	SamplesTs     []float64 `json:"samples_ts"`
	Precision     string    `json:"precision"`
	KernelVariant string    `json:"kernel_variant"`
	PeakRSSBytes  int64     `json:"peak_rss_bytes"`
	// PeakRSSPerTest says PeakRSSBytes is this test's own peak (caches
	// sized for its context, the peak reset before it: Linux/Android);
	// else it is the process's peak up to the test.
	PeakRSSPerTest bool `json:"peak_rss_per_test"`
	// AnalyticBytes is arch's memory estimate at the test's context
	// (weights, KV cache, recurrent state, scratch).
	AnalyticBytes int64 `json:"analytic_bytes"`
	// CPUMask is llama-bench's cpu_mask: the workers' CPUs as a hex
	// mask; CPUs lists them in the order workers take them; Pinned says
	// whether each worker was pinned to its CPU; Placement names the
	// rule.
	CPUMask   string `json:"cpu_mask"`
	CPUs      []int  `json:"cpus,omitempty"`
	Pinned    bool   `json:"pinned"`
	Placement string `json:"placement"`
	// DepthMethod is how a test at depth reached it: "snapshot" (filled
	// once, restored before each repetition) or "prefill".
	DepthMethod string `json:"depth_method,omitempty"`
	// ProfileNs is the time per block type of one extra, untimed
	// repetition (only with --profile; in round 1).
	ProfileNs map[string]int64 `json:"profile_ns,omitempty"`

	// With --rounds N the test ran once per round, interleaved with the
	// other rows; the fields above pool the samples of every round.
	// MedianTs, MinTs and MaxTs are the median, minimum and maximum over
	// the rounds of each round's mean t/s (with one round all three are
	// AvgTs).
	MedianTs float64      `json:"median_ts"`
	MinTs    float64      `json:"min_ts"`
	MaxTs    float64      `json:"max_ts"`
	Rounds   []benchRound `json:"rounds"`

	// With --roofline (see benchMachine and docs/benchmarks.md): tg tests
	// get the bytes read per generated token, MedianTs times that, and its
	// fraction of the measured read bandwidth; pp tests the FLOPs per
	// prompt token, MedianTs times that, and its fraction of the measured
	// FMA peak.
	DecodeBytesPerToken  float64       `json:"decode_bytes_per_token,omitempty"`
	DecodeBytesPerSec    float64       `json:"decode_bytes_per_s,omitempty"`
	DecodeBWFraction     float64       `json:"decode_bw_fraction,omitempty"`
	PrefillFLOPsPerToken float64       `json:"prefill_flops_per_token,omitempty"`
	PrefillFLOPsPerSec   float64       `json:"prefill_flops_per_s,omitempty"`
	PrefillFMAFraction   float64       `json:"prefill_fma_fraction,omitempty"`
	Machine              *benchMachine `json:"machine,omitempty"`
}

// benchRound is one round of one test: its repetitions' statistics.
type benchRound struct {
	Round int `json:"round"`
	// Seq is the position of this measurement in the run's order, from 0
	// (round-major, then row, then test).
	Seq          int       `json:"seq"`
	AvgNs        int64     `json:"avg_ns"`
	StddevNs     int64     `json:"stddev_ns"`
	AvgTs        float64   `json:"avg_ts"`
	StddevTs     float64   `json:"stddev_ts"`
	SamplesNs    []int64   `json:"samples_ns"`
	SamplesTs    []float64 `json:"samples_ts"`
	PeakRSSBytes int64     `json:"peak_rss_bytes"`
}

// intList is a flag of comma-separated non-negative integers.
type intList struct {
	v   *[]int
	set bool
}

func (l *intList) String() string {
	if l.v == nil {
		return ""
	}
	s := make([]string, len(*l.v))
	for i, x := range *l.v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(s string) error {
	if !l.set {
		*l.v = nil
		l.set = true
	}
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || x < 0 {
			return fmt.Errorf("%q is not a non-negative integer", f)
		}
		*l.v = append(*l.v, x)
	}
	return nil
}

func parseBenchArgs(args []string, stderr io.Writer) (benchConfig, error) {
	c := benchConfig{Prompts: []int{512}, Gens: []int{128}, Depths: []int{0}, Reps: 5, Threads: workload.ThreadsAuto}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: device-agent bench --arch <preset|spec.json>[,...] [flags]\n\n"+
			"Times prompt processing (pp) and generation (tg) the way llama-bench does:\n"+
			"one untimed warm-up, then -r repetitions from an empty cache (at -d D from\n"+
			"the D-token prefix, prefilled once per row and round, untimed, and restored\n"+
			"before each run, as llama-bench reuses its depth state); mean ± sample\n"+
			"stddev of per-repetition tokens/s. With --rounds N every (arch, precision)\n"+
			"row runs once per round, rows interleaved, and t/s is the median of the\n"+
			"round means. Presets: %s.\n\n", strings.Join(arch.PresetNames(), ", "))
		fs.PrintDefaults()
	}
	var archs, precs []string
	fs.Func("arch", "preset names or paths of JSON architecture specs, comma-separated (required)", func(v string) error {
		return appendList(&archs, v)
	})
	fs.Func("precision", "weight precisions, comma-separated: f32, f16, q8_0, q4_0 (default q4_0)", func(v string) error {
		return appendList(&precs, v)
	})
	fs.IntVar(&c.Rounds, "rounds", 1, "rounds: each runs every (arch, precision) row's tests in order, so rows interleave; t/s is the median of the rounds' means")
	fs.BoolVar(&c.Roofline, "roofline", false, "also measure memory read bandwidth and FMA peak in every round and report each row's fraction of them")
	fs.IntVar(&c.RooflineMiB, "roofline-buffer", 0, "bandwidth buffer in MiB (0: 8x the last-level cache, at least 512)")
	fs.Var(&intList{v: &c.Prompts}, "p", "prompt lengths, comma-separated (0 = no pp test)")
	fs.Var(&intList{v: &c.Gens}, "n", "generation lengths, comma-separated (0 = no tg test)")
	fs.Var(&intList{v: &c.Depths}, "d", "context depths filled (untimed) before each test, comma-separated")
	fs.Func("t", `worker threads: "auto" (one per prime or performance core, the default) or a count (the fastest cores first)`, func(v string) error {
		n, err := workload.ParseThreads(v)
		c.Threads = n
		return err
	})
	fs.StringVar(&c.Mask, "C", "", "CPU mask in hex as llama-bench's -C (0xf0 = CPUs 4-7): the workers run on these CPUs; with -t N, N workers share them")
	depthMethod := "snapshot"
	fs.StringVar(&depthMethod, "depth-method", depthMethod, "how tests at depth -d reach it: snapshot (fill once, restore before each repetition) or prefill (fill before each repetition)")
	fs.IntVar(&c.Reps, "r", c.Reps, "timed repetitions per test")
	fs.BoolVar(&c.JSON, "json", false, "print a JSON array instead of a table")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the random weights and tokens")
	fs.BoolVar(&c.Profile, "profile", false, "after each test, run one more repetition with per-block-type timing and report it")
	kv := "f16"
	fs.StringVar(&kv, "kv", kv, "KV cache type: f16 or f32")
	var runtimes []string
	fs.Func("runtime", "runtimes, comma-separated: native (our kernels), llama.cpp (llama-bench on the GGUF export); rows of several runtimes interleave (default native)", func(v string) error {
		return appendList(&runtimes, v)
	})
	fs.StringVar(&c.LlamaBench, "llama-bench", "", "llama-bench executable for --runtime llama.cpp. Defaults to $"+envLlamaBench+", then llama-bench on PATH")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, errUsage
		}
		return c, errUsage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(precs) == 0 {
		precs = []string{string(arch.Q4_0)}
	}
	for _, p := range precs {
		if !arch.Precision(p).Valid() {
			return c, fmt.Errorf("--precision %q is not one of f32, f16, q8_0, q4_0", p)
		}
		c.Precisions = append(c.Precisions, arch.Precision(p))
	}
	c.Archs = archs
	switch {
	case len(c.Archs) == 0:
		return c, errors.New("--arch is required (a preset name or a spec.json path)")
	case c.Rounds < 1:
		return c, fmt.Errorf("--rounds %d: need at least 1 round", c.Rounds)
	case c.RooflineMiB < 0:
		return c, fmt.Errorf("--roofline-buffer %d: must not be negative", c.RooflineMiB)
	case depthMethod != "snapshot" && depthMethod != "prefill":
		return c, fmt.Errorf("--depth-method %q is not snapshot or prefill", depthMethod)
	case c.Reps < 1:
		return c, fmt.Errorf("-r %d: need at least 1 repetition", c.Reps)
	case kv != "f16" && kv != "f32":
		return c, fmt.Errorf("--kv %q is not f16 or f32", kv)
	}
	c.KVF32 = kv == "f32"
	if len(runtimes) == 0 {
		runtimes = []string{workload.RuntimeNative}
	}
	for _, r := range runtimes {
		if !slices.Contains(workload.Runtimes, r) {
			return c, fmt.Errorf("--runtime %q is not one of %s", r, strings.Join(workload.Runtimes, ", "))
		}
		if !slices.Contains(c.Runtimes, r) {
			c.Runtimes = append(c.Runtimes, r)
		}
	}
	if slices.Contains(c.Runtimes, workload.RuntimeLlamaCpp) {
		p, err := llamaBenchPath(c.LlamaBench)
		if err != nil {
			return c, fmt.Errorf("--llama-bench: %w", err)
		}
		if p == "" {
			return c, errors.New("--runtime llama.cpp: no llama-bench (give --llama-bench or set " + envLlamaBench + ")")
		}
		c.LlamaBench = p
	}
	c.RePrefill = depthMethod == "prefill"
	if c.Mask != "" {
		if _, err := placement.ParseMask(c.Mask); err != nil {
			return c, fmt.Errorf("-C: %w", err)
		}
	}
	if len(c.Depths) == 0 {
		c.Depths = []int{0}
	}
	return c, nil
}

// appendList appends the comma-separated, non-empty items of v to *l.
func appendList(l *[]string, v string) error {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return fmt.Errorf("empty item in %q", v)
		}
		*l = append(*l, f)
	}
	return nil
}

// loadSpec resolves --arch: a preset name, else a JSON spec file.
func loadSpec(name string) (*arch.Spec, error) {
	if s, err := arch.Preset(name); err == nil {
		return s, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("--arch %q is neither a preset (%s) nor a readable spec file: %w", name, strings.Join(arch.PresetNames(), ", "), err)
	}
	s, err := arch.ParseValid(data)
	if err != nil {
		return nil, fmt.Errorf("--arch %s: %w", name, err)
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(name[strings.LastIndexAny(name, `/\`)+1:], ".json")
	}
	return s, nil
}

type benchTest struct{ p, n, d int }

// benchRow is one (arch, precision) pair of a bench run, with one result
// per test.
type benchRow struct {
	spec    *arch.Spec
	name    string
	prec    arch.Precision
	runtime string
	// gguf is the llama.cpp row's GGUF export, written once.
	gguf    string
	model   *kernels.Model // kept between rounds when memory allows
	weights int64
	results []benchResult
}

// fmaPassDur and the pass counts bound one round's roofline measurement
// (about 0.2 s of FMA and 6 buffer reads).
const (
	fmaPassDur      = 30 * time.Millisecond
	rooflinePasses  = 5
	keepMemFraction = 2 // keep models when they need at most 1/keepMemFraction of MemAvailable
)

func runBench(ctx context.Context, args []string, st IO) error {
	c, err := parseBenchArgs(args, st.Stderr)
	if err != nil {
		return err
	}
	prof, err := hw.Collect(ctx, liveEnv())
	if err != nil {
		return err
	}
	choice, err := choosePlacement(prof.CPU, c.Threads, c.Mask)
	if err != nil {
		return err
	}
	pins := pin(choice)
	defer pins.Release()
	threads := choice.Threads
	// The llama.cpp rows get the same CPUs: -t and -C (--cpu-strict 1).
	c.Threads, c.Mask = workload.Threads(threads), ""
	if len(choice.CPUs) > 0 {
		c.Mask = placement.Mask(choice.CPUs)
	}
	pinned := "pinned"
	if !pins.Pinned {
		pinned = "not pinned: " + pins.Note
	}
	fmt.Fprintf(st.Stderr, "bench: %d threads, cpus %s (%s), %s\n", threads, choice.List(), pins.Describe(), pinned)
	var tests []benchTest
	maxCtx, maxPrompt := 1, 0
	for _, d := range c.Depths {
		for _, p := range c.Prompts {
			if p > 0 {
				tests = append(tests, benchTest{p: p, d: d})
				maxCtx = max(maxCtx, d+p)
				maxPrompt = max(maxPrompt, p)
			}
		}
		for _, n := range c.Gens {
			if n > 0 {
				tests = append(tests, benchTest{n: n, d: d})
				maxCtx = max(maxCtx, d+n)
			}
		}
	}
	if len(tests) == 0 {
		return errors.New("nothing to run: every -p and -n is 0")
	}
	prefixDepths := 0
	for i, d := range c.Depths {
		if d > 0 && !slices.Contains(c.Depths[:i], d) {
			prefixDepths++
		}
	}
	var rows []*benchRow
	var need int64
	for _, a := range c.Archs {
		spec, err := loadSpec(a)
		if err != nil {
			return err
		}
		name := spec.Name
		if name == "" {
			name = "spec"
		}
		for _, p := range c.Precisions {
			for _, rt := range c.Runtimes {
				if rt == workload.RuntimeLlamaCpp {
					if err := arch.Exportable(spec, arch.FormatGGUF); err != nil {
						return fmt.Errorf("--arch %s on llama.cpp: %w", name, err)
					}
				}
				rows = append(rows, &benchRow{spec: spec, name: name, prec: p, runtime: rt, results: make([]benchResult, len(tests))})
			}
			est := spec.MemoryEstimate(p, maxCtx, c.KVF32, maxPrompt)
			need += est.Total + int64(prefixDepths)*(est.KV+est.State) // + the depth prefixes' copies
		}
	}
	var buf []uint64
	var machine *benchMachine
	if c.Roofline {
		size := bandwidthBufferBytes()
		if c.RooflineMiB > 0 {
			size = int64(c.RooflineMiB) << 20
		}
		buf = make([]uint64, size/8)
		for i := range buf { // map every page before timing
			buf[i] = uint64(i)
		}
		machine = &benchMachine{BandwidthBufferBytes: 8 * int64(len(buf)), BandwidthPasses: rooflinePasses,
			FMAPasses: rooflinePasses, FMAPassNs: fmaPassDur.Nanoseconds(), Threads: threads, Variant: roofline.Variant()}
		need += machine.BandwidthBufferBytes
	}
	// With several rounds, models built once and kept save a build per row
	// and round (lfm2-1.2b takes ~15 s to build here); keep them only when
	// they all fit in a fraction of the available memory.
	keep := false
	if c.Rounds > 1 {
		avail := memAvailableBytes()
		keep = avail > 0 && need <= avail/keepMemFraction
		fmt.Fprintf(st.Stderr, "bench: %d rows x %d rounds; models need ~%.2f GiB, MemAvailable %.2f GiB: %s\n",
			len(rows), c.Rounds, float64(need)/(1<<30), float64(avail)/(1<<30),
			map[bool]string{true: "built once and kept", false: "rebuilt for every row of every round"}[keep])
	}
	defer func() {
		for _, r := range rows {
			if r.model != nil {
				r.model.Close()
			}
			if r.gguf != "" {
				os.RemoveAll(filepath.Dir(r.gguf))
			}
		}
	}()
	kvType := "f16"
	if c.KVF32 {
		kvType = "f32"
	}
	seq := 0
	for round := 1; round <= c.Rounds; round++ {
		if machine != nil {
			bw, err := roofline.Bandwidth(buf, threads, rooflinePasses)
			if err != nil {
				return err
			}
			fma, err := roofline.FMAPeak(threads, rooflinePasses, fmaPassDur)
			if err != nil {
				return err
			}
			machine.BandwidthRounds = append(machine.BandwidthRounds, bw.BytesPerSec)
			machine.FMARounds = append(machine.FMARounds, fma.FLOPsPerSec)
			if c.Rounds > 1 || !c.JSON {
				fmt.Fprintf(st.Stderr, "bench: round %d: read bandwidth %.2f GB/s, FMA peak %.1f GFLOP/s (%s, %d threads)\n",
					round, bw.BytesPerSec/1e9, fma.FLOPsPerSec/1e9, bw.Variant, threads)
			}
		}
		for _, row := range rows {
			if row.runtime == workload.RuntimeLlamaCpp {
				if err := benchLlamaRound(ctx, c, row, tests, round, &seq, kvType); err != nil {
					return err
				}
				continue
			}
			m := row.model
			if m == nil {
				if m, err = kernels.BuildWith(row.spec, row.prec, maxCtx, threads, c.Seed, kernels.Options{KVF32: c.KVF32, WorkerStart: pins.Start(threads)}); err != nil {
					return err
				}
				if err := pins.Wait(); err != nil {
					m.Close()
					return err
				}
				row.weights = m.Memory().Weights
				if keep {
					row.model = m
				}
			}
			tokens := benchTokens(row.spec.Vocab, maxCtx, c.Seed)
			for i, t := range tests {
				// The test's own context: caches sized for it, the previous
				// test's freed, the peak reset (Linux/Android), so each
				// test's peak RSS is its own.
				if err := m.SetContext(max(1, t.d+t.p+t.n)); err != nil {
					return err
				}
				debug.FreeOSMemory()
				perTest := resetPeakRSS()
				samples, err := timeBenchTest(ctx, m, tokens, t, c.Reps, c.RePrefill)
				if err != nil {
					return err
				}
				r := &row.results[i]
				if round == 1 {
					*r = benchResult{
						Runtime: workload.RuntimeNative, ModelType: row.name + " " + string(row.prec), ModelSize: row.weights,
						ModelNParams: row.spec.Params().Total, NThreads: threads, NPrompt: t.p, NGen: t.n, NDepth: t.d,
						TypeK: kvType, TypeV: kvType, CPUInfo: cpuModelName(), TestTime: time.Now().UTC().Format(time.RFC3339),
						Precision: string(row.prec), KernelVariant: kernels.Variant(),
						PeakRSSPerTest: perTest, AnalyticBytes: row.spec.MemoryEstimate(row.prec, max(1, t.d+t.p+t.n), c.KVF32, t.p).Total,
						CPUMask: placement.Mask(choice.CPUs), CPUs: choice.CPUs, Pinned: pins.Pinned, Placement: pins.Describe(),
					}
					if t.d > 0 {
						r.DepthMethod = map[bool]string{false: "snapshot", true: "prefill"}[c.RePrefill]
					}
					if c.Profile {
						if r.ProfileNs, err = profileBenchTest(ctx, m, tokens, t); err != nil {
							return err
						}
					}
				}
				rr := benchRound{Round: round, Seq: seq, PeakRSSBytes: selfPeakRSS()}
				r.PeakRSSPerTest = r.PeakRSSPerTest && perTest
				fillRoundStats(&rr, samples, t.p+t.n)
				r.Rounds = append(r.Rounds, rr)
				seq++
			}
			if !keep {
				m.Close()
				debug.FreeOSMemory() // before the next row's build
			}
		}
	}
	var results []benchResult
	if machine != nil {
		machine.BandwidthBytesPerSec, _, _ = medianMinMax(machine.BandwidthRounds)
		machine.FMAFLOPsPerSec, _, _ = medianMinMax(machine.FMARounds)
	}
	for _, row := range rows {
		for i, t := range tests {
			r := &row.results[i]
			finishResult(r, t.p+t.n)
			if machine != nil {
				r.Machine = machine
				if t.n > 0 {
					r.DecodeBytesPerToken = tgBytesPerToken(row.spec, row.prec, c.KVF32, t.d, t.n)
					r.DecodeBytesPerSec = r.MedianTs * r.DecodeBytesPerToken
					r.DecodeBWFraction = r.DecodeBytesPerSec / machine.BandwidthBytesPerSec
				} else {
					r.PrefillFLOPsPerToken = float64(ppFLOPs(row.spec, t.d, t.p)) / float64(t.p)
					r.PrefillFLOPsPerSec = r.MedianTs * r.PrefillFLOPsPerToken
					r.PrefillFMAFraction = r.PrefillFLOPsPerSec / machine.FMAFLOPsPerSec
				}
			}
			results = append(results, *r)
		}
	}
	if c.JSON {
		enc := json.NewEncoder(st.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return printBenchTable(st, results, c.Rounds, machine)
}

// benchLlamaRound runs one round of a llama.cpp row: llama-bench on the
// row's GGUF (written on the first round) with the bench's lists, whose
// product is the bench's tests (pp at each -p and tg at each -n, at each
// depth).
func benchLlamaRound(ctx context.Context, c benchConfig, row *benchRow, tests []benchTest, round int, seq *int, kvType string) error {
	if row.gguf == "" {
		dir, err := os.MkdirTemp("", "hil-bench-llama-")
		if err != nil {
			return err
		}
		if row.gguf, err = writeGGUF(dir, row.spec, row.prec, c.Seed); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("%s: write GGUF: %w", row.name, err)
		}
	}
	var ps, ns []int
	for _, t := range tests {
		if t.p > 0 && !slices.Contains(ps, t.p) {
			ps = append(ps, t.p)
		}
		if t.n > 0 && !slices.Contains(ns, t.n) {
			ns = append(ns, t.n)
		}
	}
	join := func(v []int) string {
		if len(v) == 0 {
			return "0"
		}
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, ",")
	}
	args := []string{"-m", row.gguf, "-p", join(ps), "-n", join(ns), "-d", join(c.Depths), "-t", strconv.Itoa(int(c.Threads)), "-r", strconv.Itoa(c.Reps),
		"-ctk", kvType, "-ctv", kvType, "-ngl", "0", "--load-mode", "none", "-o", "json"}
	if c.Mask != "" {
		args = append(args, "-C", c.Mask, "--cpu-strict", "1")
	}
	out, peak, fail := runLlamaBench(ctx, c.LlamaBench, args, childLimits{})
	if fail != nil {
		return fmt.Errorf("%s %s on llama.cpp: %s", row.name, row.prec, fail.Error)
	}
	got, err := llamabench.Parse(out)
	if err != nil {
		return fmt.Errorf("%s %s on llama.cpp: %w", row.name, row.prec, err)
	}
	for i, t := range tests {
		lr, ok := llamabench.Find(got, t.p, t.n, t.d)
		if !ok {
			return fmt.Errorf("%s %s on llama.cpp: llama-bench printed no test p%d n%d d%d", row.name, row.prec, t.p, t.n, t.d)
		}
		r := &row.results[i]
		if round == 1 {
			*r = benchResult{Runtime: workload.RuntimeLlamaCpp, LlamaBuild: fmt.Sprintf("llama.cpp %s (%s)", lr.BuildCommit, lr.Backends),
				ModelType: row.name + " " + string(row.prec), ModelSize: lr.ModelSize, ModelNParams: lr.ModelNParams,
				NThreads: lr.NThreads, NPrompt: t.p, NGen: t.n, NDepth: t.d, TypeK: lr.TypeK, TypeV: lr.TypeV, CPUInfo: lr.CPUInfo,
				TestTime: time.Now().UTC().Format(time.RFC3339), Precision: string(row.prec), KernelVariant: "llama.cpp"}
		}
		rr := benchRound{Round: round, Seq: *seq, PeakRSSBytes: peak}
		fillRoundStats(&rr, lr.SamplesNs, t.p+t.n)
		r.Rounds = append(r.Rounds, rr)
		*seq++
	}
	return nil
}

// printBenchTable writes the llama-bench-style table, then the machine's
// measured roofline, and the --profile lines to stderr.
func printBenchTable(st IO, results []benchResult, rounds int, machine *benchMachine) error {
	tw := tabwriter.NewWriter(st.Stdout, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
	ts := "t/s"
	if rounds > 1 {
		ts = fmt.Sprintf("t/s (median [min-max] of %d rounds)", rounds)
	}
	head, line := "model\t size\t params\t runtime\t backend\t threads\t cpus\t test\t "+ts+"\t peak RSS\t estimate\t", "-----\t ----\t ------\t -------\t -------\t -------\t ----\t ----\t ---\t --------\t --------\t"
	if machine != nil {
		head += " roofline\t"
		line += " --------\t"
	}
	fmt.Fprintln(tw, head)
	fmt.Fprintln(tw, line)
	for _, r := range results {
		test := fmt.Sprintf("pp%d", r.NPrompt)
		if r.NGen > 0 {
			test = fmt.Sprintf("tg%d", r.NGen)
		}
		if r.NDepth > 0 {
			test += fmt.Sprintf(" @ d%d", r.NDepth)
		}
		cell := fmt.Sprintf("%.2f ± %.2f", r.AvgTs, r.StddevTs)
		if rounds > 1 {
			cell = fmt.Sprintf("%.2f [%.2f-%.2f]", r.MedianTs, r.MinTs, r.MaxTs)
		}
		backend := "CPU (" + r.KernelVariant + ")"
		if r.Runtime == workload.RuntimeLlamaCpp {
			backend = r.LlamaBuild
		}
		cpus := hw.FormatCPUList(slices.Sorted(slices.Values(r.CPUs)))
		if cpus == "" {
			cpus = "-"
		} else if !r.Pinned {
			cpus += " (unpinned)"
		}
		peak := fmt.Sprintf("%.1f MiB", float64(r.PeakRSSBytes)/(1<<20))
		if !r.PeakRSSPerTest {
			peak += " (process)"
		}
		fmt.Fprintf(tw, "%s\t %.2f MiB\t %.2f M\t %s\t %s\t %d\t %s\t %s\t %s\t %s\t %.1f MiB\t", r.ModelType,
			float64(r.ModelSize)/(1<<20), float64(r.ModelNParams)/1e6, r.Runtime, backend, r.NThreads, cpus, test, cell,
			peak, float64(r.AnalyticBytes)/(1<<20))
		if machine != nil {
			if r.NGen > 0 {
				fmt.Fprintf(tw, " %.2f GB/s = %.1f%% of BW\t", r.DecodeBytesPerSec/1e9, 100*r.DecodeBWFraction)
			} else {
				fmt.Fprintf(tw, " %.1f GFLOP/s = %.1f%% of FMA\t", r.PrefillFLOPsPerSec/1e9, 100*r.PrefillFMAFraction)
			}
		}
		fmt.Fprintln(tw)
		if r.ProfileNs != nil {
			fmt.Fprintf(st.Stderr, "%s %s: %s\n", r.ModelType, test, formatProfile(r.ProfileNs))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if machine != nil {
		_, bwLo, bwHi := medianMinMax(machine.BandwidthRounds)
		_, fLo, fHi := medianMinMax(machine.FMARounds)
		fmt.Fprintf(st.Stdout, "\nroofline (%s, %d threads, median of %d rounds, each the best of %d passes):\n"+
			"  read bandwidth %.2f GB/s [%.2f-%.2f] over a %.0f MiB buffer\n"+
			"  FMA peak       %.1f GFLOP/s [%.1f-%.1f]\n",
			machine.Variant, machine.Threads, len(machine.BandwidthRounds), machine.BandwidthPasses,
			machine.BandwidthBytesPerSec/1e9, bwLo/1e9, bwHi/1e9, float64(machine.BandwidthBufferBytes)/(1<<20),
			machine.FMAFLOPsPerSec/1e9, fLo/1e9, fHi/1e9)
	}
	return nil
}

// fillRoundStats sets rr's statistics from per-repetition times of a test
// of tokens tokens (the definitions of fillStats).
func fillRoundStats(rr *benchRound, samples []int64, tokens int) {
	var r benchResult
	fillStats(&r, samples, tokens)
	rr.AvgNs, rr.StddevNs, rr.AvgTs, rr.StddevTs, rr.SamplesNs, rr.SamplesTs = r.AvgNs, r.StddevNs, r.AvgTs, r.StddevTs, r.SamplesNs, r.SamplesTs
}

// finishResult pools the rounds of r: the llama-bench fields over every
// sample of every round, the median/min/max of the round means, and the
// largest peak RSS.
func finishResult(r *benchResult, tokens int) {
	var samples []int64
	means := make([]float64, len(r.Rounds))
	for i, rr := range r.Rounds {
		samples = append(samples, rr.SamplesNs...)
		means[i] = rr.AvgTs
		r.PeakRSSBytes = max(r.PeakRSSBytes, rr.PeakRSSBytes)
	}
	fillStats(r, samples, tokens)
	r.MedianTs, r.MinTs, r.MaxTs = medianMinMax(means)
}

// timeBenchTest runs one untimed warm-up and reps timed repetitions of t.
// The depth is filled once, untimed, and its decode state restored before
// each repetition (kernels.Snapshot), or, with rePrefill, filled again
// before each. The
// garbage collector is off inside the timed region (the model allocated
// everything at build time).
func timeBenchTest(ctx context.Context, m *kernels.Model, tokens []int32, t benchTest, reps int, rePrefill bool) ([]int64, error) {
	fill := func() error {
		m.Reset()
		if t.d > 0 {
			if _, err := m.Prefill(tokens[:t.d]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := fill(); err != nil {
		return nil, err
	}
	snap := m.Snapshot()
	run := func(gen int) (int64, error) {
		var err error
		if rePrefill {
			err = fill()
		} else {
			err = m.RestoreSnapshot(snap)
		}
		if err != nil {
			return 0, err
		}
		runtime.GC()
		old := debug.SetGCPercent(-1)
		defer debug.SetGCPercent(old)
		start := time.Now()
		if t.p > 0 {
			if _, err := m.Prefill(tokens[t.d : t.d+t.p]); err != nil {
				return 0, err
			}
		}
		for i := 0; i < gen; i++ {
			if _, err := m.Decode(tokens[t.d+i]); err != nil {
				return 0, err
			}
		}
		return time.Since(start).Nanoseconds(), nil
	}
	// warm-up as llama-bench: the whole prompt, or one generated token
	if _, err := run(min(t.n, 1)); err != nil {
		return nil, err
	}
	samples := make([]int64, 0, reps)
	for i := 0; i < reps; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ns, err := run(t.n)
		if err != nil {
			return nil, err
		}
		samples = append(samples, ns)
	}
	return samples, nil
}

// profileBenchTest runs one untimed repetition of t with the model's
// per-block-type profiler on.
func profileBenchTest(ctx context.Context, m *kernels.Model, tokens []int32, t benchTest) (map[string]int64, error) {
	m.Reset()
	if t.d > 0 {
		if _, err := m.Prefill(tokens[:t.d]); err != nil {
			return nil, err
		}
	}
	m.ResetProfile()
	m.SetProfiler(true)
	defer m.SetProfiler(false)
	if t.p > 0 {
		if _, err := m.Prefill(tokens[t.d : t.d+t.p]); err != nil {
			return nil, err
		}
	}
	for i := 0; i < t.n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := m.Decode(tokens[t.d+i]); err != nil {
			return nil, err
		}
	}
	out := map[string]int64{}
	for k, v := range m.Profile() {
		out[k] = v.Nanoseconds()
	}
	return out, nil
}

// formatProfile renders a profile as "kind share%" pairs, largest first.
func formatProfile(p map[string]int64) string {
	var total int64
	keys := make([]string, 0, len(p))
	for k, v := range p {
		total += v
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return p[keys[i]] > p[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.1f%%", k, 100*float64(p[k])/float64(max(total, 1)))
	}
	return strings.Join(parts, ", ")
}

// fillStats sets the averages of r from per-repetition times of a test of
// tokens tokens: mean and sample standard deviation of the times and of the
// per-repetition tokens/s (llama-bench's definition).
func fillStats(r *benchResult, samples []int64, tokens int) {
	r.SamplesNs = samples
	r.SamplesTs = make([]float64, len(samples))
	ns := make([]float64, len(samples))
	for i, s := range samples {
		ns[i] = float64(s)
		r.SamplesTs[i] = float64(tokens) * 1e9 / float64(s)
	}
	mn, sd := meanStddev(ns)
	r.AvgNs, r.StddevNs = int64(math.Round(mn)), int64(math.Round(sd))
	r.AvgTs, r.StddevTs = meanStddev(r.SamplesTs)
}

// meanStddev returns the mean and the sample standard deviation (0 for
// fewer than two values).
func meanStddev(x []float64) (mean, sd float64) {
	if len(x) == 0 {
		return 0, 0
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(sd / float64(len(x)-1))
}

// benchTokens returns n pseudo-random token ids below vocab (synthetic
// input, as llama-bench uses).
func benchTokens(vocab, n int, seed uint64) []int32 {
	out := make([]int32, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out[i] = int32(x % uint64(vocab))
	}
	return out
}

// cpuModelName is the first "model name" of /proc/cpuinfo, else GOARCH.
func cpuModelName() string {
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
