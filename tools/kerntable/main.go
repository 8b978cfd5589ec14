//go:build unix

// Command kerntable measures our kernels against llama.cpp for issue #12's
// acceptance: `device-agent bench` (our runtime) and llama-bench (on our
// GGUF export of the same spec and precision) run as pairs, one pair per
// row and round, the pair's order alternating between rounds and rows so
// neither runtime always runs first. Every run holds the shared benchmark
// lock /tmp/hil-bench.lock and records the 1-minute load average before and
// after. Results are appended to a JSON-lines file; a rerun skips the runs
// already there, so a campaign can be stopped and resumed, and -report
// prints the markdown tables from the file alone.
//
//	go build -o /tmp/da ./cmd/device-agent
//	go run ./tools/kerntable -agent /tmp/da -llama-bench /opt/llama/build/bin/llama-bench -out /tmp/kern.jsonl
//	go run ./tools/kerntable -out /tmp/kern.jsonl -report
//
// Tables: "depth" (lfm2-350m, lfm2-1.2b and every layout in -layouts at
// q4_0; pp512 and tg128 after 2,048 and 4,096 cached tokens) and "depth0"
// (lfm2-350m and lfm2-1.2b at q4_0, q8_0, f16 and f32; pp512 and tg128 from
// an empty cache). The GGUF exports are written once into -gguf-dir.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/tools/internal/quiet"
)

// Runtimes of a pair.
const (
	ours  = "native"
	llama = "llama.cpp"
)

// Line is one run (one runtime, one row, one round) in the output file.
type Line struct {
	Table       string    `json:"table"`
	Model       string    `json:"model"`
	Precision   string    `json:"precision"`
	Round       int       `json:"round"`
	Runtime     string    `json:"runtime"`
	First       bool      `json:"first"` // this run went first in its pair
	Commit      string    `json:"commit"`
	Started     time.Time `json:"started"`
	Load1Before float64   `json:"load1_before"`
	Load1After  float64   `json:"load1_after"`
	Threads     int       `json:"threads"`
	Reps        int       `json:"reps"`
	Tests       []Test    `json:"tests"`
}

// Test is one test of a run: mean ± stddev of its repetitions' t/s.
type Test struct {
	P       int       `json:"p"`
	N       int       `json:"n"`
	D       int       `json:"d"`
	AvgTs   float64   `json:"avg_ts"`
	Stddev  float64   `json:"stddev_ts"`
	Samples []float64 `json:"samples_ts"`
	Variant string    `json:"variant,omitempty"`
}

// row is one (table, model, precision) to measure with both runtimes.
type row struct {
	table, model, prec string
	arch               string // preset name or spec file
	depths             []int
}

type config struct {
	agent, llamaBench, out, ggufDir, layouts, commit string
	llamaCommit                                      string
	tables, models, precisions                       map[string]bool
	rounds, reps, threads, p, n                      int
	depths                                           []int
	maxLoad                                          float64
	loadWait, timeout                                time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.agent, "agent", "", "device-agent binary (ours; required unless -report)")
	flag.StringVar(&c.llamaBench, "llama-bench", "", "llama-bench binary (required unless -report)")
	flag.StringVar(&c.out, "out", "", "JSON-lines results file, appended to (required)")
	flag.StringVar(&c.ggufDir, "gguf-dir", filepath.Join(os.TempDir(), "kerntable-gguf"), "where the GGUF exports are written (once)")
	flag.StringVar(&c.layouts, "layouts", "kernels/testdata/layouts", "directory of layout spec files (*.json) for the depth table")
	flag.StringVar(&c.llamaCommit, "llama-commit", "", "llama.cpp commit to record when llama-bench reports none (a build outside git says \"unknown\")")
	flag.StringVar(&c.commit, "commit", "", "commit of our runtime, recorded with each run (default: git describe of the working directory)")
	tables := flag.String("tables", "depth,depth0", "tables to measure: depth, depth0")
	models := flag.String("models", "", "only these rows' models, comma-separated (lfm2-350m, lfm2-1.2b, layout names; \"layouts\" for every layout); default all")
	precs := flag.String("precisions", "q4_0,q8_0,f16,f32", "depth0 table: precisions")
	depths := flag.String("d", "2048,4096", "depth table: depths")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds: each runs every row's pair once")
	flag.IntVar(&c.reps, "r", 3, "repetitions per test in each run (both runtimes' -r)")
	flag.IntVar(&c.threads, "t", 2, "threads (both runtimes' -t)")
	flag.IntVar(&c.p, "p", 512, "prompt length (0: no pp test)")
	flag.IntVar(&c.n, "n", 128, "generation length (0: no tg test)")
	flag.Float64Var(&c.maxLoad, "max-load", 0.5, "a 1-minute load average below this counts as quiet")
	flag.DurationVar(&c.loadWait, "load-wait", 10*time.Second, "longest wait for the load to settle before a pair")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Minute, "longest run of one runtime on one row")
	report := flag.Bool("report", false, "print the tables of -out's results and do not measure")
	flag.Parse()
	if c.out == "" || (!*report && (c.agent == "" || c.llamaBench == "")) {
		flag.Usage()
		os.Exit(2)
	}
	c.tables, c.models, c.precisions = set(*tables), set(*models), set(*precs)
	for _, d := range strings.Split(*depths, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(d))
		if err != nil || v < 0 {
			fmt.Fprintf(os.Stderr, "kerntable: -d %q: want comma-separated depths\n", *depths)
			os.Exit(2)
		}
		c.depths = append(c.depths, v)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if !*report {
		err = measure(ctx, c)
	}
	if _, e := os.Stat(c.out); e == nil {
		if e := printReport(os.Stdout, c.out); e != nil {
			err = e
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kerntable:", err)
		os.Exit(1)
	}
}

func set(s string) map[string]bool {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	m := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		m[strings.TrimSpace(f)] = true
	}
	return m
}

// plan lists the rows of the chosen tables.
func plan(c config) ([]row, error) {
	var layouts []row
	files, err := filepath.Glob(filepath.Join(c.layouts, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		layouts = append(layouts, row{table: "depth", model: name, prec: "q4_0", arch: f, depths: c.depths})
	}
	want := func(r row) bool {
		if c.models == nil {
			return true
		}
		return c.models[r.model] || (c.models["layouts"] && r.arch != r.model)
	}
	var rows []row
	if c.tables["depth"] {
		if len(files) == 0 && (c.models == nil || c.models["layouts"]) {
			return nil, fmt.Errorf("no layouts in %s (run from the repository root or set -layouts)", c.layouts)
		}
		for _, m := range []string{"lfm2-350m", "lfm2-1.2b"} {
			rows = append(rows, row{table: "depth", model: m, prec: "q4_0", arch: m, depths: c.depths})
		}
		rows = append(rows, layouts...)
	}
	if c.tables["depth0"] {
		for _, m := range []string{"lfm2-350m", "lfm2-1.2b"} {
			for _, p := range []string{"q4_0", "q8_0", "f16", "f32"} {
				if c.precisions == nil || c.precisions[p] {
					rows = append(rows, row{table: "depth0", model: m, prec: p, arch: m, depths: []int{0}})
				}
			}
		}
	}
	var out []row
	for _, r := range rows {
		if want(r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no rows: check -tables and -models")
	}
	return out, nil
}

func key(table, model, prec, runtime string, round int) string {
	return fmt.Sprintf("%s|%s|%s|%s|%d", table, model, prec, runtime, round)
}

func measure(ctx context.Context, c config) error {
	rows, err := plan(c)
	if err != nil {
		return err
	}
	if c.commit == "" {
		if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
			c.commit = strings.TrimSpace(string(out))
		}
	}
	lines, err := readLines(c.out)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, l := range lines {
		done[key(l.Table, l.Model, l.Precision, l.Runtime, l.Round)] = true
	}
	if err := os.MkdirAll(c.ggufDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(c.out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	total := c.rounds * len(rows)
	var failed []string
	for round := 1; round <= c.rounds; round++ {
		for i, r := range rows {
			order := []string{ours, llama}
			if (round+i)%2 == 0 {
				order = []string{llama, ours}
			}
			quiet.WaitLoad(ctx, c.maxLoad, c.loadWait)
			for k, rt := range order {
				if done[key(r.table, r.model, r.prec, rt, round)] {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				l, err := runOne(ctx, c, r, rt)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					// Go on with the other runs; a rerun retries this one.
					e := fmt.Sprintf("round %d, %s %s %s: %v", round, r.model, r.prec, rt, err)
					fmt.Fprintln(os.Stderr, "kerntable:", e)
					failed = append(failed, e)
					continue
				}
				l.Round, l.First = round, k == 0
				raw, _ := json.Marshal(l)
				if _, err := f.Write(append(raw, '\n')); err != nil {
					return err
				}
				var ts []string
				for _, t := range l.Tests {
					ts = append(ts, fmt.Sprintf("%s %.1f", testName(t.P, t.N, t.D), t.AvgTs))
				}
				fmt.Fprintf(os.Stderr, "[%d/%d] round %d %s %s %s: %s (load %.2f→%.2f)\n", (round-1)*len(rows)+i+1, total, round,
					r.model, r.prec, rt, strings.Join(ts, ", "), l.Load1Before, l.Load1After)
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d runs failed (rerun to retry them):\n%s", len(failed), strings.Join(failed, "\n"))
	}
	return nil
}

// runOne runs one runtime on one row under the benchmark lock.
func runOne(ctx context.Context, c config, r row, rt string) (*Line, error) {
	l := &Line{Table: r.table, Model: r.model, Precision: r.prec, Runtime: rt, Threads: c.threads, Reps: c.reps}
	ds := make([]string, len(r.depths))
	for i, d := range r.depths {
		ds[i] = strconv.Itoa(d)
	}
	common := []string{"-p", strconv.Itoa(c.p), "-n", strconv.Itoa(c.n), "-d", strings.Join(ds, ","),
		"-t", strconv.Itoa(c.threads), "-r", strconv.Itoa(c.reps)}
	var cmd *exec.Cmd
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if rt == ours {
		l.Commit = c.commit
		cmd = exec.CommandContext(ctx, c.agent, append([]string{"bench", "--arch", r.arch, "-precision", r.prec, "-json"}, common...)...)
	} else {
		gguf, err := exportGGUF(c.ggufDir, r)
		if err != nil {
			return nil, err
		}
		cmd = exec.CommandContext(ctx, c.llamaBench, append([]string{"-m", gguf, "-o", "json", "--load-mode", "none"}, common...)...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var out []byte
	err := locked(func() error {
		l.Load1Before = quiet.Load1()
		l.Started = time.Now().UTC()
		var e error
		out, e = cmd.Output()
		l.Load1After = quiet.Load1()
		return e
	})
	if err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail)
	}
	// Both print a JSON array of tests with llama-bench's field names.
	var got []struct {
		NPrompt     int       `json:"n_prompt"`
		NGen        int       `json:"n_gen"`
		NDepth      int       `json:"n_depth"`
		AvgTs       float64   `json:"avg_ts"`
		StddevTs    float64   `json:"stddev_ts"`
		SamplesTs   []float64 `json:"samples_ts"`
		Variant     string    `json:"kernel_variant"`
		BuildCommit string    `json:"build_commit"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, fmt.Errorf("%s printed no JSON test list: %w", filepath.Base(cmd.Path), err)
	}
	for _, g := range got {
		if rt == llama {
			l.Commit = g.BuildCommit
			if (l.Commit == "" || l.Commit == "unknown") && c.llamaCommit != "" {
				l.Commit = c.llamaCommit
			}
		}
		l.Tests = append(l.Tests, Test{P: g.NPrompt, N: g.NGen, D: g.NDepth, AvgTs: g.AvgTs, Stddev: g.StddevTs, Samples: g.SamplesTs, Variant: g.Variant})
	}
	per := 0
	for _, v := range []int{c.p, c.n} {
		if v > 0 {
			per++
		}
	}
	if want := per * len(r.depths); len(l.Tests) != want {
		return nil, fmt.Errorf("%s printed %d tests, want %d", filepath.Base(cmd.Path), len(l.Tests), want)
	}
	return l, nil
}

// exportGGUF writes r's GGUF export once (seed 1, as the bench's default
// seed; llama-bench's speed does not depend on the values).
func exportGGUF(dir string, r row) (string, error) {
	path := filepath.Join(dir, r.model+"-"+r.prec+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	spec, err := loadSpec(r.arch)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".export-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := spec.WriteGGUF(w, arch.Precision(r.prec), 1); err != nil {
		tmp.Close()
		return "", fmt.Errorf("export %s %s: %w", r.model, r.prec, err)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

func loadSpec(name string) (*arch.Spec, error) {
	if s, err := arch.Preset(name); err == nil {
		return s, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return arch.ParseValid(data)
}

func readLines(path string) ([]Line, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lines []Line
	for i, raw := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var l Line
		if err := json.Unmarshal(raw, &l); err != nil {
			// A line cut short by a stopped run: skip it (the run is redone).
			fmt.Fprintf(os.Stderr, "kerntable: %s:%d: skipped: %v\n", path, i+1, err)
			continue
		}
		lines = append(lines, l)
	}
	return lines, nil
}

func testName(p, n, d int) string {
	s := fmt.Sprintf("tg%d", n)
	if p > 0 {
		s = fmt.Sprintf("pp%d", p)
	}
	if d > 0 {
		s += fmt.Sprintf(" @ d%d", d)
	}
	return s
}

// cell is one (row, test) of the report: both runtimes' per-round means
// and the rounds' paired ratios.
type cell struct {
	ours, llama map[int]float64 // round → mean t/s
	loads       []float64
}

// printReport writes the markdown tables of the results in path.
func printReport(w io.Writer, path string) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	if len(lines) == 0 {
		return fmt.Errorf("%s: no results", path)
	}
	type rowKey struct{ table, model, prec string }
	type tk struct{ p, n, d int }
	cells := map[rowKey]map[tk]*cell{}
	var rowOrder []rowKey
	testsOf := map[string][]tk{}
	llamaCommits, ourCommits, variants := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var loads []float64
	var first, last time.Time
	for _, l := range lines {
		rk := rowKey{l.Table, l.Model, l.Precision}
		if cells[rk] == nil {
			cells[rk] = map[tk]*cell{}
			rowOrder = append(rowOrder, rk)
		}
		if l.Runtime == llama {
			llamaCommits[l.Commit] = true
		} else {
			ourCommits[l.Commit] = true
		}
		loads = append(loads, l.Load1Before, l.Load1After)
		if first.IsZero() || l.Started.Before(first) {
			first = l.Started
		}
		if l.Started.After(last) {
			last = l.Started
		}
		for _, t := range l.Tests {
			k := tk{t.P, t.N, t.D}
			if !slices.Contains(testsOf[l.Table], k) {
				testsOf[l.Table] = append(testsOf[l.Table], k)
			}
			c := cells[rk][k]
			if c == nil {
				c = &cell{ours: map[int]float64{}, llama: map[int]float64{}}
				cells[rk][k] = c
			}
			if l.Runtime == llama {
				c.llama[l.Round] = t.AvgTs
			} else {
				c.ours[l.Round] = t.AvgTs
				if t.Variant != "" {
					variants[t.Variant] = true
				}
			}
			c.loads = append(c.loads, l.Load1Before, l.Load1After)
		}
	}
	lmed, lmin, lmax := medianMinMax(loads)
	fmt.Fprintf(w, "Measured %s to %s UTC with tools/kerntable; ours at %s (%s), llama.cpp %s.\n",
		first.Format("2006-01-02 15:04"), last.Format("15:04"), keys(ourCommits), keys(variants), keys(llamaCommits))
	fmt.Fprintf(w, "1-minute load average over the runs: median %.2f [%.2f–%.2f]. t/s: median [min–max] of the rounds' means; "+
		"ratio: ours/llama.cpp of the medians, [min–max] of the rounds' paired ratios.\n", lmed, lmin, lmax)
	for _, table := range []string{"depth", "depth0"} {
		tests := testsOf[table]
		if len(tests) == 0 {
			continue
		}
		sort.Slice(tests, func(i, j int) bool {
			if tests[i].d != tests[j].d {
				return tests[i].d < tests[j].d
			}
			return tests[i].p > tests[j].p
		})
		fmt.Fprintf(w, "\n### %s\n\n| model | precision | test | rounds | ours t/s | llama.cpp t/s | ratio | load |\n|---|---|---|---:|---:|---:|---:|---:|\n",
			map[string]string{"depth": "At depth", "depth0": "At depth 0"}[table])
		ratios := map[tk]map[string]float64{} // test → layout → ratio
		for _, rk := range rowOrder {
			if rk.table != table {
				continue
			}
			for _, t := range tests {
				c := cells[rk][t]
				if c == nil {
					continue
				}
				om, olo, ohi := medianMinMax(values(c.ours))
				lm, llo, lhi := medianMinMax(values(c.llama))
				var paired []float64
				for r, o := range c.ours {
					if v, ok := c.llama[r]; ok && v > 0 {
						paired = append(paired, o/v)
					}
				}
				ratio, plo, phi := math.NaN(), math.NaN(), math.NaN()
				if lm > 0 && len(c.ours) > 0 {
					ratio = om / lm
					_, plo, phi = medianMinMax(paired)
					if ratios[t] == nil {
						ratios[t] = map[string]float64{}
					}
					if !strings.HasPrefix(rk.model, "lfm2-") { // a layout, not a preset
						ratios[t][rk.model] = ratio
					}
				}
				cl, _, _ := medianMinMax(c.loads)
				fmt.Fprintf(w, "| %s | %s | %s | %d/%d | %s | %s | %s | %.2f |\n", rk.model, rk.prec, testName(t.p, t.n, t.d),
					len(c.ours), len(c.llama), tps(om, olo, ohi, len(c.ours)), tps(lm, llo, lhi, len(c.llama)), ratioCell(ratio, plo, phi), cl)
			}
		}
		if table != "depth" {
			continue
		}
		fmt.Fprintf(w, "\nAcross the layouts (ratio of each layout; spread = max and min relative to the median; acceptance: every ratio ≥ 1.0 and spread within ±10%%):\n\n"+
			"| test | layouts | min ratio | median | max ratio | spread | ≥ 1.0 | within ±10%% |\n|---|---:|---:|---:|---:|---:|---|---|\n")
		for _, t := range tests {
			v := values(ratios[t])
			if len(v) == 0 {
				continue
			}
			m, lo, hi := medianMinMax(v)
			up, down := hi/m-1, lo/m-1
			fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f | %+.0f%% / %+.0f%% | %s | %s |\n", testName(t.p, t.n, t.d), len(v), lo, m, hi,
				100*up, 100*down, yes(lo >= 1), yes(up <= 0.10 && down >= -0.10))
		}
	}
	return nil
}

func tps(m, lo, hi float64, n int) string {
	switch {
	case n == 0:
		return "–"
	case n == 1:
		return fmt.Sprintf("%.1f", m)
	}
	return fmt.Sprintf("%.1f [%.1f–%.1f]", m, lo, hi)
}

func ratioCell(r, lo, hi float64) string {
	if math.IsNaN(r) {
		return "–"
	}
	if math.IsNaN(lo) || lo == hi {
		return fmt.Sprintf("**%.2f**", r)
	}
	return fmt.Sprintf("**%.2f** [%.2f–%.2f]", r, lo, hi)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func keys(m map[string]bool) string {
	var k []string
	for s := range m {
		if s == "" {
			s = "unknown"
		}
		k = append(k, s)
	}
	sort.Strings(k)
	if len(k) == 0 {
		return "unknown"
	}
	return strings.Join(k, ", ")
}

func values[K comparable](m map[K]float64) []float64 {
	v := make([]float64, 0, len(m))
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

func medianMinMax(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// locked runs f holding the shared benchmark lock (flock(2) on the file
// flock(1) uses).
func locked(f func() error) error {
	fd, err := os.OpenFile("/tmp/hil-bench.lock", os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	defer fd.Close()
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(fd.Fd()), syscall.LOCK_UN)
	return f()
}
