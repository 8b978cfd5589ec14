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
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/kernels"
)

// benchConfig is the parsed command line of `device-agent bench`.
type benchConfig struct {
	Arch      string
	Precision arch.Precision
	Prompts   []int
	Gens      []int
	Depths    []int
	Threads   int
	Reps      int
	JSON      bool
	Seed      uint64
	KVF32     bool
	Profile   bool
}

// benchResult is one test's line, with llama-bench's JSON field names
// plus our extras (precision, kernel_variant, peak_rss_bytes).
type benchResult struct {
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
	// ProfileNs is the time per block type of one extra, untimed
	// repetition (only with --profile).
	ProfileNs map[string]int64 `json:"profile_ns,omitempty"`
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
	c := benchConfig{Prompts: []int{512}, Gens: []int{128}, Depths: []int{0}, Reps: 5, Threads: runtime.NumCPU()}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: device-agent bench --arch <preset|spec.json> [flags]\n\n"+
			"Times prompt processing (pp) and generation (tg) the way llama-bench does:\n"+
			"one untimed warm-up, then -r repetitions from an empty cache; mean ± sample\n"+
			"stddev of per-repetition tokens/s. Presets: %s.\n\n", strings.Join(arch.PresetNames(), ", "))
		fs.PrintDefaults()
	}
	prec := string(arch.Q4_0)
	fs.StringVar(&c.Arch, "arch", "", "preset name or path of a JSON architecture spec (required)")
	fs.StringVar(&prec, "precision", prec, "weight precision: f32, f16, q8_0 or q4_0")
	fs.Var(&intList{v: &c.Prompts}, "p", "prompt lengths, comma-separated (0 = no pp test)")
	fs.Var(&intList{v: &c.Gens}, "n", "generation lengths, comma-separated (0 = no tg test)")
	fs.Var(&intList{v: &c.Depths}, "d", "context depths filled (untimed) before each test, comma-separated")
	fs.IntVar(&c.Threads, "t", c.Threads, "worker threads")
	fs.IntVar(&c.Reps, "r", c.Reps, "timed repetitions per test")
	fs.BoolVar(&c.JSON, "json", false, "print a JSON array instead of a table")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the random weights and tokens")
	fs.BoolVar(&c.Profile, "profile", false, "after each test, run one more repetition with per-block-type timing and report it")
	kv := "f16"
	fs.StringVar(&kv, "kv", kv, "KV cache type: f16 or f32")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, errUsage
		}
		return c, errUsage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.Precision = arch.Precision(prec)
	switch {
	case c.Arch == "":
		return c, errors.New("--arch is required (a preset name or a spec.json path)")
	case !c.Precision.Valid():
		return c, fmt.Errorf("--precision %q is not one of f32, f16, q8_0, q4_0", prec)
	case c.Threads < 1:
		return c, fmt.Errorf("-t %d: need at least 1 thread", c.Threads)
	case c.Reps < 1:
		return c, fmt.Errorf("-r %d: need at least 1 repetition", c.Reps)
	case kv != "f16" && kv != "f32":
		return c, fmt.Errorf("--kv %q is not f16 or f32", kv)
	}
	c.KVF32 = kv == "f32"
	if len(c.Depths) == 0 {
		c.Depths = []int{0}
	}
	return c, nil
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

func runBench(ctx context.Context, args []string, st IO) error {
	c, err := parseBenchArgs(args, st.Stderr)
	if err != nil {
		return err
	}
	spec, err := loadSpec(c.Arch)
	if err != nil {
		return err
	}
	var tests []benchTest
	maxCtx := 1
	for _, d := range c.Depths {
		for _, p := range c.Prompts {
			if p > 0 {
				tests = append(tests, benchTest{p: p, d: d})
				maxCtx = max(maxCtx, d+p)
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
	model, err := kernels.BuildWith(spec, c.Precision, maxCtx, c.Threads, c.Seed, kernels.Options{KVF32: c.KVF32})
	if err != nil {
		return err
	}
	defer model.Close()
	tokens := benchTokens(spec.Vocab, maxCtx, c.Seed)
	name := spec.Name
	if name == "" {
		name = "spec"
	}
	kvType := "f16"
	if c.KVF32 {
		kvType = "f32"
	}
	var results []benchResult
	var tw *tabwriter.Writer
	if !c.JSON {
		tw = tabwriter.NewWriter(st.Stdout, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
		fmt.Fprintln(tw, "model\t size\t params\t backend\t threads\t test\t t/s\t")
		fmt.Fprintln(tw, "-----\t ----\t ------\t -------\t -------\t ----\t ---\t")
	}
	for _, t := range tests {
		samples, err := timeBenchTest(ctx, model, tokens, t, c.Reps)
		if err != nil {
			return err
		}
		r := benchResult{
			ModelType: name + " " + string(c.Precision), ModelSize: model.Memory().Weights,
			ModelNParams: spec.Params().Total, NThreads: c.Threads, NPrompt: t.p, NGen: t.n, NDepth: t.d,
			TypeK: kvType, TypeV: kvType, CPUInfo: cpuModelName(), TestTime: time.Now().UTC().Format(time.RFC3339),
			Precision: string(c.Precision), KernelVariant: kernels.Variant(), PeakRSSBytes: selfPeakRSS(),
		}
		fillStats(&r, samples, t.p+t.n)
		if c.Profile {
			if r.ProfileNs, err = profileBenchTest(ctx, model, tokens, t); err != nil {
				return err
			}
		}
		results = append(results, r)
		if tw != nil {
			test := fmt.Sprintf("pp%d", t.p)
			if t.n > 0 {
				test = fmt.Sprintf("tg%d", t.n)
			}
			if t.d > 0 {
				test += fmt.Sprintf(" @ d%d", t.d)
			}
			fmt.Fprintf(tw, "%s\t %.2f MiB\t %.2f M\t CPU (%s)\t %d\t %s\t %.2f ± %.2f\t\n", r.ModelType,
				float64(r.ModelSize)/(1<<20), float64(r.ModelNParams)/1e6, r.KernelVariant, r.NThreads, test, r.AvgTs, r.StddevTs)
			if r.ProfileNs != nil {
				fmt.Fprintf(st.Stderr, "%s %s: %s\n", r.ModelType, test, formatProfile(r.ProfileNs))
			}
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	if c.JSON {
		enc := json.NewEncoder(st.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return nil
}

// timeBenchTest runs one untimed warm-up and reps timed repetitions of t,
// clearing the model's cache before each; the depth prefill is untimed. The
// garbage collector is off inside the timed region (the model allocated
// everything at build time).
func timeBenchTest(ctx context.Context, m *kernels.Model, tokens []int32, t benchTest, reps int) ([]int64, error) {
	run := func(gen int) (int64, error) {
		m.Reset()
		if t.d > 0 {
			if _, err := m.Prefill(tokens[:t.d]); err != nil {
				return 0, err
			}
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
