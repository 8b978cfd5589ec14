//go:build unix

// Command measuretable measures the replay table and the predictor's
// check sets on this machine with the real runtime: every job runs as a
// `device-agent measure` child (the agent's own timing protocol, one
// process per candidate so peak RSS is the candidate's), one at a time
// under the shared benchmark lock /tmp/hil-bench.lock, after waiting
// (bounded) for the machine's load to settle. Results are appended to a
// JSON-lines file; a rerun skips what is already there, so the campaign
// can be stopped and resumed.
//
//	go build -o /tmp/device-agent ./cmd/device-agent
//	go run ./tools/measuretable -agent /tmp/device-agent -out results.jsonl -commit $(git rev-parse --short HEAD)
//
// Sets: "probe" (the block probes of hybrid-tiny, a superset of
// lfm2-tiny's), "replay" (the canonical member of every layer-order class
// of lfm2-tiny) and "holdout" (random hybrid-tiny candidates, the held-out
// layouts of the predictor check). The workload is search.ReplayWorkload.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
	"github.com/hilsearch/hilsearch/tools/internal/quiet"
)

// Line is one measured job in the output file.
type Line struct {
	Set         string          `json:"set"`
	Name        string          `json:"name"`
	Round       int             `json:"round"`
	Commit      string          `json:"commit"`
	Machine     string          `json:"machine"`
	Started     time.Time       `json:"started"`
	Nice        int             `json:"nice"`
	Load1Before float64         `json:"load1_before"`
	Load1After  float64         `json:"load1_after"`
	Spec        json.RawMessage `json:"spec"`
	Result      wire.Result     `json:"result"`
}

type job struct {
	set, name string
	spec      arch.Spec
}

func main() {
	agent := flag.String("agent", "", "device-agent binary (required)")
	out := flag.String("out", "", "JSON-lines output, appended to (required)")
	commit := flag.String("commit", "", "commit of the measured runtime (required)")
	sets := flag.String("sets", "probe,replay,holdout", "sets to measure")
	round := flag.Int("round", 1, "round number (a job is measured once per round; -table uses this round's results)")
	nice := flag.Int("nice", -10, "run the measuring child at this niceness (the agent's run --nice; negative needs root)")
	holdout := flag.Int("holdout", 30, "random hybrid-tiny candidates in the holdout set")
	limit := flag.Int("limit", 0, "measure at most this many jobs now (0: all)")
	maxLoad := flag.Float64("max-load", 0.5, "a 1-minute load average below this counts as quiet")
	loadWait := flag.Duration("load-wait", 15*time.Second, "longest wait for the load to settle")
	only := flag.String("only", "", "comma-separated job names to measure (default: all of the sets)")
	hold := flag.Duration("hold", 0, "keep the benchmark lock across consecutive jobs for up to this long (0: one job per hold)")
	table := flag.String("table", "", "instead of measuring, write the replay table of -out's results to this file")
	tableRounds := flag.String("table-rounds", "", "with -table: comma-separated rounds whose results are pooled, each metric the median over them and its spread widened by the rounds' disagreement (search.ExcessNoiseByKey) then divided by √rounds (default: -round)")
	date := flag.String("date", "", "with -table: the measurement dates to record (default: the first and last result's)")
	note := flag.String("note", "", "with -table: a note for readers")
	flag.Parse()
	if *table != "" && *out != "" {
		rounds, err := parseRounds(*tableRounds, *round)
		if err != nil {
			fmt.Fprintln(os.Stderr, "measuretable:", err)
			os.Exit(2)
		}
		if err := writeTable(*out, *table, *date, *note, rounds); err != nil {
			fmt.Fprintln(os.Stderr, "measuretable:", err)
			os.Exit(1)
		}
		return
	}
	if *agent == "" || *out == "" || *commit == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	benchLock.hold = *hold
	if err := run(ctx, *agent, *out, *commit, *sets, *round, *holdout, *limit, *maxLoad, *loadWait, *only, *nice); err != nil {
		fmt.Fprintln(os.Stderr, "measuretable:", err)
		os.Exit(1)
	}
}

func plan(sets string, holdout int) ([]job, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(sets, ",") {
		want[strings.TrimSpace(s)] = true
	}
	w := search.ReplayWorkload()
	maxCtx := 2048
	var probes, rest []job
	if want["probe"] {
		sp, err := search.SpacePreset(search.PresetHybridTiny)
		if err != nil {
			return nil, err
		}
		for _, p := range sp.Probes() {
			probes = append(probes, job{"probe", p.Name, p.Spec(maxCtx)})
		}
	}
	if want["replay"] {
		sp, err := search.SpacePreset(search.PresetLFM2Tiny)
		if err != nil {
			return nil, err
		}
		cs, err := sp.Classes()
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			rest = append(rest, job{"replay", c.Key, c.Canonical})
		}
	}
	if want["holdout"] {
		s := &search.Spec{Workload: w, Objectives: []search.Objective{{Metric: "params"}}, Budget: search.Budget{MaxTrials: 1}, Algorithm: search.AlgoRandom}
		sp, err := search.SpacePreset(search.PresetHybridTiny)
		if err != nil {
			return nil, err
		}
		s.Space = sp
		s.ApplyDefaults()
		genes := s.Space.Genes()
		r := rand.New(rand.NewPCG(18, 2026))
		seen := map[string]bool{}
		for len(seen) < holdout {
			g := make(search.Genome, len(genes))
			for i, gene := range genes {
				g[i] = r.IntN(len(gene.Choices))
			}
			a, err := s.Space.Decode(g)
			if err != nil {
				return nil, err
			}
			if _, reason := s.Space.Admit(&a); reason != "" || seen[a.Hash()] {
				continue
			}
			seen[a.Hash()] = true
			rest = append(rest, job{"holdout", search.ClassKey(&a), a})
		}
	}
	r := rand.New(rand.NewPCG(7, 18))
	r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return append(probes, rest...), nil
}

func run(ctx context.Context, agent, out, commit, sets string, round, holdout, limit int, maxLoad float64, loadWait time.Duration, only string, nice int) error {
	jobs, err := plan(sets, holdout)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	if data, err := os.ReadFile(out); err == nil {
		for _, l := range bytes.Split(data, []byte("\n")) {
			var x Line
			if len(l) == 0 || json.Unmarshal(l, &x) != nil {
				continue
			}
			if x.Round == round && x.Result.Status == wire.ResultOK {
				done[x.Set+"|"+x.Name] = true
			}
		}
	}
	var pick map[string]bool
	if only != "" {
		pick = map[string]bool{}
		for _, n := range strings.Split(only, ",") {
			pick[n] = true
		}
	}
	f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	host, _ := os.Hostname()
	machine := host + " " + cpuModel()
	ww := search.ReplayWorkload()
	defer unlock()
	n := 0
	for i, j := range jobs {
		if done[j.set+"|"+j.name] || (pick != nil && !pick[j.name]) {
			continue
		}
		if limit > 0 && n >= limit {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := json.Marshal(j.spec)
		if err != nil {
			return err
		}
		jb := wire.Job{ID: fmt.Sprintf("mt-%d-%d", round, i), Kind: wire.JobKindMeasure, Spec: raw, SpecHash: j.spec.Hash(), Workload: ww, CreatedAt: time.Now().UTC()}
		in, _ := json.Marshal(jb)
		quiet.WaitLoad(ctx, maxLoad, loadWait)
		l := Line{Set: j.set, Name: j.name, Round: round, Commit: commit, Machine: machine, Spec: raw, Nice: nice}
		var res []byte
		err = locked(func() error {
			l.Load1Before = quiet.Load1()
			l.Started = time.Now().UTC()
			cmd := exec.CommandContext(ctx, "nice", "-n", strconv.Itoa(nice), agent, "measure")
			cmd.Stdin = bytes.NewReader(in)
			cmd.Stderr = os.Stderr
			var e error
			res, e = cmd.Output()
			l.Load1After = quiet.Load1()
			return e
		})
		if err != nil {
			return fmt.Errorf("%s %s: %w", j.set, j.name, err)
		}
		if err := json.Unmarshal(res, &l.Result); err != nil {
			return fmt.Errorf("%s %s: result: %w", j.set, j.name, err)
		}
		line, _ := json.Marshal(l)
		if _, err := f.Write(append(line, '\n')); err != nil {
			return err
		}
		n++
		st := l.Result.Status
		if l.Result.Measurement != nil && len(l.Result.Measurement.Decode) > 0 {
			st += fmt.Sprintf(" tg%.0f", l.Result.Measurement.Decode[len(l.Result.Measurement.Decode)-1].TokensPerSec.Median)
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] %s %s load %.2f→%.2f %s\n", i+1, len(jobs), j.set, j.name, l.Load1Before, l.Load1After, st)
	}
	return nil
}

// benchLock is the shared benchmark lock (flock(2) on the file the
// flock(1) command uses). With hold > 0 it is kept across consecutive
// jobs for up to hold, then released so that others waiting get a turn.
var benchLock struct {
	fd    *os.File
	since time.Time
	hold  time.Duration
}

// locked runs f holding the benchmark lock.
func locked(f func() error) error {
	l := &benchLock
	if l.fd != nil && time.Since(l.since) > l.hold {
		unlock()
	}
	if l.fd == nil {
		fd, err := os.OpenFile("/tmp/hil-bench.lock", os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return err
		}
		if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX); err != nil {
			fd.Close()
			return err
		}
		l.fd, l.since = fd, time.Now()
	}
	err := f()
	if l.hold <= 0 {
		unlock()
	}
	return err
}

func unlock() {
	l := &benchLock
	if l.fd != nil {
		syscall.Flock(int(l.fd.Fd()), syscall.LOCK_UN)
		l.fd.Close()
		l.fd = nil
	}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// parseRounds returns the rounds of -table-rounds, or def alone.
func parseRounds(list string, def int) (map[int]bool, error) {
	out := map[int]bool{}
	if list == "" {
		out[def] = true
		return out, nil
	}
	for _, f := range strings.Split(list, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r < 1 {
			return nil, fmt.Errorf("-table-rounds: %q is not a round number", f)
		}
		out[r] = true
	}
	return out, nil
}

// writeTable turns the given rounds of the results file into a
// search.ReplayTable: one row per (set, name), metrics as the coordinator
// derives them from a measurement (driver.Values).
func writeTable(results, path, date, note string, rounds map[int]bool) error {
	data, err := os.ReadFile(results)
	if err != nil {
		return err
	}
	w := search.ReplayWorkload()
	type acc struct {
		row    search.ReplayRow
		vals   map[search.MetricKey][]float64
		spread map[search.MetricKey][]float64
		best   map[search.MetricKey][]float64
		loads  []float64
	}
	byKey := map[string]*acc{}
	var order []string
	var first, last time.Time
	t := &search.ReplayTable{Runtime: "native", Space: search.PresetLFM2Tiny, Workload: w, Note: note}
	for _, raw := range bytes.Split(data, []byte("\n")) {
		if len(raw) == 0 {
			continue
		}
		var l Line
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		m := l.Result.Measurement
		if l.Result.Status != wire.ResultOK || m == nil || !rounds[l.Round] {
			continue
		}
		if t.Commit != "" && t.Commit != l.Commit {
			return fmt.Errorf("results of two commits (%s, %s): measure one commit per table", t.Commit, l.Commit)
		}
		t.Commit, t.Machine = l.Commit, l.Machine+", "+m.KernelVariant
		if first.IsZero() || l.Started.Before(first) {
			first = l.Started
		}
		if l.Started.After(last) {
			last = l.Started
		}
		k := l.Set + "|" + l.Name
		a, ok := byKey[k]
		if !ok {
			var spec arch.Spec
			if err := json.Unmarshal(l.Spec, &spec); err != nil {
				return err
			}
			a = &acc{row: search.ReplayRow{Set: l.Set, Key: l.Name, Spec: spec}, vals: map[search.MetricKey][]float64{}, spread: map[search.MetricKey][]float64{}, best: map[search.MetricKey][]float64{}}
			byKey[k] = a
			order = append(order, k)
		}
		a.loads = append(a.loads, l.Load1Before)
		add := func(metric search.Metric, at int, v, rel float64) {
			key := search.MetricKey{Metric: metric, At: at}
			a.vals[key] = append(a.vals[key], v)
			a.spread[key] = append(a.spread[key], rel*v)
		}
		best := func(metric search.Metric, at int, v float64) {
			key := search.MetricKey{Metric: metric, At: at}
			a.best[key] = append(a.best[key], v)
		}
		for _, p := range m.Prefill {
			add(search.MetricPrefillTPS, p.PromptLength, p.TokensPerSec.Median, p.TokensPerSec.RelSpread)
			add(search.MetricTTFT, p.PromptLength, p.TTFTms.Median, p.TTFTms.RelSpread)
			best(search.MetricPrefillTPS, p.PromptLength, p.TokensPerSec.Max)
			best(search.MetricTTFT, p.PromptLength, p.TTFTms.Min)
		}
		for _, d := range m.Decode {
			add(search.MetricDecodeP50, d.Depth, d.MsPerToken.P50, d.MsPerToken.RelSpread)
			add(search.MetricDecodeP95, d.Depth, d.MsPerToken.P95, d.MsPerToken.RelSpread)
			best(search.MetricDecodeP50, d.Depth, 1000/d.TokensPerSec.Max)
		}
		for _, c := range append(append([]int(nil), w.PromptLengths...), w.DecodeDepths...) {
			add(search.MetricPeakRSS, c, float64(m.PeakRSSBytes)/(1<<20), 0)
			best(search.MetricPeakRSS, c, float64(m.PeakRSSBytes)/(1<<20))
		}
	}
	// Rounds of one network disagree beyond one run's spread (the device
	// drifts between runs): each metric's relative between-run noise,
	// estimated over every row's rounds (search.ExcessNoiseByKey), widens
	// each round's spread before the pooled spread divides it by √rounds.
	var groups [][]search.ValuesRepeat
	for _, k := range order {
		a := byKey[k]
		var g []search.ValuesRepeat
		for key, v := range a.vals {
			for i := range v {
				g = append(g, search.ValuesRepeat{Values: search.Values{key: v[i]}, Std: search.Values{key: a.spread[key][i]}})
			}
		}
		groups = append(groups, g)
	}
	noise, _ := search.ExcessNoiseByKey(groups)
	for _, k := range order {
		a := byKey[k]
		a.row.Values, a.row.Spread, a.row.Best = search.Values{}, search.Values{}, search.Values{}
		for key, v := range a.vals {
			a.row.Values[key] = medianOf(v)
			sd := make([]float64, len(v))
			for i := range v {
				sd[i] = search.WithExcessNoise(v[i], a.spread[key][i], noise[key])
			}
			a.row.Spread[key] = medianOf(sd) / math.Sqrt(float64(len(v)))
		}
		for key, v := range a.best {
			a.row.Best[key] = medianOf(v)
		}
		a.row.Load1 = medianOf(a.loads)
		t.Rows = append(t.Rows, a.row)
	}
	if date == "" {
		date = first.Format("2006-01-02 15:04") + " to " + last.Format("2006-01-02 15:04") + " UTC"
	}
	t.Date = date
	// One row per line: compact, and diffs show which rows changed.
	rows := t.Rows
	t.Rows = nil
	head, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	// Without the closing "\n}" and the empty rows field (null, as Rows
	// was cleared), which the rows below replace.
	b.Write(bytes.TrimSuffix(head, []byte(",\n \"rows\": null\n}")))
	b.WriteString(",\n \"rows\": [\n")
	for i, r := range rows {
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		b.WriteString("  ")
		b.Write(raw)
		if i < len(rows)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(" ]\n}\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
