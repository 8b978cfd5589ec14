// Package fidelitycmd implements "hil fidelity": it cross-checks the
// native runtime against llama.cpp on one device. Every spec is queued on
// both runtimes (POST /api/v1/devices/{id}/fidelity); the command waits for
// the report (GET /api/v1/fidelity/{id}) and prints, per spec, each
// runtime's tokens/s and their ratio, and per metric the Spearman rank
// correlation over the specs.
package fidelitycmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/cmd/hil/internal/client"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/workload"
)

// Main runs "hil fidelity" and returns the exit code: 0 on success, 1 when
// the operation failed, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hil fidelity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	coord := fs.String("coordinator", "", "coordinator `URL` (env HIL_COORDINATOR; default "+client.DefaultURL+")")
	var token string
	fs.Func("token", "API `token` (env HIL_TOKEN)", func(v string) error { token = v; return nil })
	device := fs.String("device", "", "device `ID` to cross-check on (required unless --id)")
	specs := fs.String("specs", "", "comma-separated presets, spec JSON files and directories of spec JSON files (required unless --id)")
	id := fs.String("id", "", "show (and wait for) existing cross-checks instead of creating one: ID[,ID…] of one device and workload, reported together")
	prec := fs.String("precision", "q4_0", "weight precision: f32, f16, q8_0, q4_0")
	threads := fs.Int("threads", 2, "threads of both runtimes")
	var prompts, depths []int
	fs.Func("p", "prompt lengths, comma-separated (default 512)", intList(&prompts))
	fs.Func("d", "decode depths, comma-separated (default 0,2048)", intList(&depths))
	gen := fs.Int("n", 128, "tokens generated per decode repetition")
	reps := fs.Int("r", 3, "repetitions (llama.cpp runs exactly this many; native at least this many)")
	timeout := fs.Int("timeout", 0, "time limit of each job in seconds (0: the agent's default)")
	poll := fs.Duration("poll", 5*time.Second, "how often to ask for the report")
	noWait := fs.Bool("no-wait", false, "print the cross-check's ID and return without waiting")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hil fidelity --device ID --specs DIR|preset|file.json,... [flags]\n       hil fidelity --id ID [flags]\n\n"+
			"Times every spec on both runtimes of one device (native kernels and llama.cpp's llama-bench)\n"+
			"and prints per spec the tokens/s of each and their ratio (native / llama.cpp), and per\n"+
			"metric the Spearman rank correlation over the specs.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hil fidelity: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *id == "" && (*device == "" || *specs == "") {
		fmt.Fprintln(stderr, "hil fidelity: --device and --specs are required (or --id)")
		return 2
	}
	if *coord == "" {
		*coord = os.Getenv("HIL_COORDINATOR")
	}
	if *coord == "" {
		*coord = client.DefaultURL
	}
	if token == "" {
		token = os.Getenv("HIL_TOKEN")
	}
	cl, err := client.New(*coord, token)
	if err != nil {
		fmt.Fprintf(stderr, "hil fidelity: %v\n", err)
		return 2
	}
	ids := strings.Split(*id, ",")
	checkID := ids[0]
	if checkID == "" {
		list, err := loadSpecs(*specs)
		if err != nil {
			fmt.Fprintf(stderr, "hil fidelity: --specs: %v\n", err)
			return 2
		}
		if len(prompts) == 0 {
			prompts = []int{512}
		}
		if len(depths) == 0 {
			depths = []int{0, 2048}
		}
		w := workload.Workload{Precision: arch.Precision(*prec), Threads: workload.Threads(*threads), PromptLengths: prompts, DecodeDepths: depths,
			DecodeTokens: *gen, Repetitions: *reps, MaxRepetitions: *reps}
		check, err := cl.CreateFidelity(ctx, *device, api.FidelityRequest{Specs: list, Workload: w, TimeoutSeconds: *timeout})
		if err != nil {
			fmt.Fprintf(stderr, "hil fidelity: %v\n", err)
			return 1
		}
		checkID = check.ID
		fmt.Fprintf(stderr, "cross-check %s: %d specs x 2 runtimes queued on device %s\n", check.ID, len(check.Entries), check.DeviceID)
		if *noWait {
			fmt.Fprintln(stdout, check.ID)
			return 0
		}
	}
	var rep api.FidelityReport
	for {
		rep, err = cl.GetFidelity(ctx, checkID, ids[1:]...)
		if err != nil {
			fmt.Fprintf(stderr, "hil fidelity: %v\n", err)
			return 1
		}
		if rep.Done || *noWait {
			break
		}
		n, done := 0, 0
		for _, r := range rep.Rows {
			for _, s := range r.States {
				n++
				if s.Final() {
					done++
				}
			}
		}
		fmt.Fprintf(stderr, "%s: %d of %d jobs ended\n", time.Now().Format("15:04:05"), done, n)
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "hil fidelity: interrupted; see it again with --id %s\n", checkID)
			return 130
		case <-time.After(*poll):
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 1
		}
		return 0
	}
	if err := Print(stdout, rep); err != nil {
		return 1
	}
	return 0
}

// Print writes a report as two tables: per spec, then per metric.
func Print(w io.Writer, rep api.FidelityReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "spec\tparams (M)\t"
	if len(rep.Rows) > 0 {
		for _, f := range rep.Rows[0].Figures {
			head += fmt.Sprintf("%s native\t%s llama.cpp\tratio\t", f.Metric, f.Metric)
		}
	}
	fmt.Fprintln(tw, head)
	num := func(v *float64, format string) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf(format, *v)
	}
	var errs []string
	for _, r := range rep.Rows {
		line := fmt.Sprintf("%s\t%.1f\t", r.Name, float64(r.Params)/1e6)
		for _, f := range r.Figures {
			line += num(f.Native, "%.2f") + "\t" + num(f.LlamaCpp, "%.2f") + "\t" + num(f.Ratio, "%.3f") + "\t"
		}
		fmt.Fprintln(tw, line)
		rts := make([]string, 0, len(r.Errors))
		for rt := range r.Errors {
			rts = append(rts, rt)
		}
		sort.Strings(rts)
		for _, rt := range rts {
			errs = append(errs, fmt.Sprintf("%s on %s: %s", r.Name, rt, r.Errors[rt]))
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "metric (t/s)\tspecs\tSpearman\tratio median\tmin\tmax\t")
	for _, m := range rep.Metrics {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", m.Metric, m.N, num(m.Spearman, "%.3f"),
			num(m.RatioMedian, "%.3f"), num(m.RatioMin, "%.3f"), num(m.RatioMax, "%.3f"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range errs {
		fmt.Fprintln(w, "failed: "+e)
	}
	return nil
}

// loadSpecs resolves --specs: each item is a preset, a spec JSON file or a
// directory whose *.json files are specs (sorted by name).
func loadSpecs(list string) ([]api.FidelitySpec, error) {
	var out []api.FidelitySpec
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if _, err := arch.Preset(item); err == nil {
			out = append(out, api.FidelitySpec{Preset: item, Name: item})
			continue
		}
		fi, err := os.Stat(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a preset (%s) nor a file or directory: %w", item, strings.Join(arch.PresetNames(), ", "), err)
		}
		files := []string{item}
		if fi.IsDir() {
			if files, err = filepath.Glob(filepath.Join(item, "*.json")); err != nil {
				return nil, err
			}
			sort.Strings(files)
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: no *.json file", item)
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if _, err := arch.ParseValid(data); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, api.FidelitySpec{Name: strings.TrimSuffix(filepath.Base(f), ".json"), Spec: data})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no spec given")
	}
	return out, nil
}

func intList(dst *[]int) func(string) error {
	return func(v string) error {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a non-negative integer", f)
			}
			*dst = append(*dst, n)
		}
		return nil
	}
}
