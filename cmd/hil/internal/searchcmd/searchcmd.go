package searchcmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hilsearch/hilsearch/cmd/hil/internal/client"
	"github.com/hilsearch/hilsearch/search"
)

// Main runs "hil search <subcommand>" and returns the exit code: 0 on
// success, 1 when the operation failed, 2 on a usage error (130 when
// "watch" is interrupted).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{}
	fs := flag.NewFlagSet("hil search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	g.register(fs)
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	args = fs.Args()
	if len(args) == 0 || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "hil search: unknown subcommand %q\n", args[0])
		usage(stderr)
		return 2
	}
	return sub.run(ctx, &env{g: g, name: "hil search " + args[0], stdout: stdout, stderr: stderr}, args[1:])
}

// subcommand is one "hil search" subcommand.
type subcommand struct {
	run   func(ctx context.Context, e *env, args []string) int
	usage string
}

// subcommands is filled in init to break the cycle with usage.
var subcommands map[string]subcommand

func init() {
	subcommands = map[string]subcommand{
		"create": {create, "create FILE|- [--preset lfm2-like|hybrid-zoo] [--dry-run] [--json]"},
		"list":   {list, "list [--json]"},
		"show":   {show, "show ID [--json]"},
		"watch":  {watch, "watch ID [--poll 5s]"},
		"pause":  {transition("pause"), "pause ID"},
		"resume": {transition("resume"), "resume ID"},
		"cancel": {transition("cancel"), "cancel ID"},
		"export": {export, "export ID --format json|hf|gguf|csv [--trial N] [--precision P] [-o FILE]"},
		"bench":  {func(ctx context.Context, e *env, args []string) int { return bench(ctx, args, e.stdout, e.stderr) }, "bench [flags]"},
	}
}

func usage(w io.Writer) {
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: hil search [--coordinator URL] [--token TOKEN] <subcommand> [arguments]")
	fmt.Fprintln(w, "subcommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  hil search %s\n", subcommands[n].usage)
	}
	fmt.Fprintf(w, `global flags (also accepted after the subcommand):
  --coordinator URL  coordinator address (env HIL_COORDINATOR; default %s)
  --token TOKEN      API token (env HIL_TOKEN)
run 'hil search <subcommand> -h' for a subcommand's flags
`, client.DefaultURL)
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hil search bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, `print {"<run>": {"<trials>": median fraction}} only; screened runs are "<algorithm>+screened"`)
	seeds := fs.Int("seeds", 10, "seeds per algorithm")
	evals := fs.String("evals", "25,50,100,200", "comma-separated measured-trial counts to report")
	algos := fs.String("algorithms", "random,sobol,nsga2,tpe-parego", "comma-separated algorithms")
	standIn := fs.String("standin", search.StandInAnalytic, "stand-in: analytic (arch's roofline) or replay (a table of real measurements)")
	screening := fs.String("screening", search.BenchScreenBoth, "predictor screening: off, on or both")
	quiet := fs.Bool("q", false, "no progress on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: hil search bench [flags]

Runs every algorithm against a stand-in device (never a measurement) and
prints the median over seeds of the hypervolume after each number of
measured trials as a fraction of the exact Pareto front's (every
layer-order class of the space evaluated). Stand-ins: "analytic" is the
lfm2-like space on search.AnalyticStandIn (arch's FLOP and byte counts);
"replay" is the lfm2-tiny space on search.ReplayStandIn, a replay of real
measurements of one machine (its table is named in the output). Runs with
predictor screening ("<algorithm>+screened") send only the candidates of
each proposed batch with the largest expected hypervolume improvement to
the stand-in; screened-out candidates are not measured trials.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	cfg := search.BenchConfig{Seeds: *seeds, StandIn: *standIn, Screening: *screening}
	for _, f := range strings.Split(*evals, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "hil search bench: -evals: bad count %q\n", f)
			return 2
		}
		cfg.Checkpoints = append(cfg.Checkpoints, n)
	}
	for _, a := range strings.Split(*algos, ",") {
		a = strings.TrimSpace(a)
		ok := false
		for _, k := range search.Algorithms {
			ok = ok || string(k) == a
		}
		if !ok {
			fmt.Fprintf(stderr, "hil search bench: -algorithms: unknown algorithm %q\n", a)
			return 2
		}
		cfg.Algorithms = append(cfg.Algorithms, search.Algorithm(a))
	}
	switch {
	case *seeds < 1:
		fmt.Fprintln(stderr, "hil search bench: -seeds must be positive")
		return 2
	case *standIn != search.StandInAnalytic && *standIn != search.StandInReplay:
		fmt.Fprintf(stderr, "hil search bench: -standin %q: want analytic or replay\n", *standIn)
		return 2
	case *screening != search.BenchScreenOff && *screening != search.BenchScreenOn && *screening != search.BenchScreenBoth:
		fmt.Fprintf(stderr, "hil search bench: -screening %q: want off, on or both\n", *screening)
		return 2
	}
	start := time.Now()
	if !*quiet {
		cfg.Progress = func(run string, seed int) {
			fmt.Fprintf(stderr, "\r%-22s seed %2d/%d  %5.1fs", run, seed, *seeds, time.Since(start).Seconds())
		}
	}
	res, err := search.Bench(ctx, cfg)
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "hil search bench: %v\n", err)
		return 1
	}
	var runs []string
	for _, screened := range []bool{false, true} {
		for _, a := range cfg.Algorithms {
			k := string(a)
			if screened {
				k += search.ScreenedSuffix
			}
			if _, ok := res.Median[k]; ok {
				runs = append(runs, k)
			}
		}
	}
	if *asJSON {
		out := map[string]map[string]float64{}
		for run, m := range res.Median {
			out[run] = map[string]float64{}
			for k, v := range m {
				out[run][strconv.Itoa(k)] = v
			}
		}
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "hil search bench: %v\n", err)
			return 1
		}
		return 0
	}
	what := "AnalyticStandIn, not a measurement"
	if res.Table != nil {
		what = fmt.Sprintf("ReplayStandIn: measurements of %s on %s, commit %s", res.Table.Machine, res.Table.Date, res.Table.Commit)
	}
	fmt.Fprintf(stdout, "median fraction of the exact front's hypervolume over %d seeds (%s)\n", *seeds, what)
	fmt.Fprintf(stdout, "%-22s", "run \\ measured trials")
	for _, k := range cfg.Checkpoints {
		fmt.Fprintf(stdout, " %7d", k)
	}
	fmt.Fprintf(stdout, " %9s %9s\n", "rejected", "screened")
	for _, run := range runs {
		fmt.Fprintf(stdout, "%-22s", run)
		for _, k := range cfg.Checkpoints {
			fmt.Fprintf(stdout, " %7.4f", res.Median[run][k])
		}
		fmt.Fprintf(stdout, " %9d %9d\n", res.Rejected[run], res.Screened[run])
	}
	fmt.Fprintf(stdout, "exact front: %d points of %d layer-order classes; reference point %v", res.ExactFront, res.Classes, res.Reference)
	if res.Probes > 0 {
		fmt.Fprintf(stdout, "; %d block probes per screened run", res.Probes)
	}
	fmt.Fprintf(stdout, "; %.1fs\n", time.Since(start).Seconds())
	return 0
}
