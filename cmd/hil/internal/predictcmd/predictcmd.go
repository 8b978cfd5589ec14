// Package predictcmd implements "hil predict": it fetches a device's fitted
// predictor (GET /api/v1/devices/{id}/predictor) and predicts every metric
// of one architecture with it, each with its uncertainty, exactly as the
// coordinator's screening does (search.Predictor.Predict).
package predictcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/cmd/hil/internal/client"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/search"
)

// Main runs "hil predict" and returns the exit code: 0 on success, 1 when
// the operation failed, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hil predict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	coord := fs.String("coordinator", "", "coordinator `URL` (env HIL_COORDINATOR; default "+client.DefaultURL+")")
	var token string
	fs.Func("token", "API `token` (env HIL_TOKEN)", func(v string) error { token = v; return nil })
	device := fs.String("device", "", "device `ID` whose predictor to use (required)")
	archArg := fs.String("arch", "", "architecture: a spec JSON `file` or a preset name (or give it as the argument)")
	runtime := fs.String("runtime", "", "the predictor's runtime, when the device has several")
	wh := fs.String("workload-hash", "", "the predictor's workload hash, when the device has several")
	asJSON := fs.Bool("json", false, "print the prediction as JSON: {\"<metric>:<at>\": {\"mean\": …, \"std\": …}}")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hil predict --device ID [--arch] spec.json|preset [flags]\n\n"+
			"Predicts every metric of an architecture on a device from the device's fitted predictor\n"+
			"(mean ± one standard deviation). The predictor is fitted from what the device measured\n"+
			"under one runtime and workload; see GET /api/v1/devices/{id}/predictor for its fit.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *archArg == "" && fs.NArg() == 1 {
		*archArg = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hil predict: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *device == "" || *archArg == "" {
		fmt.Fprintln(stderr, "hil predict: --device and an architecture are required")
		return 2
	}
	spec, err := loadArch(*archArg)
	if err != nil {
		fmt.Fprintf(stderr, "hil predict: %v\n", err)
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
		fmt.Fprintf(stderr, "hil predict: %v\n", err)
		return 2
	}
	list, err := cl.DevicePredictors(ctx, *device)
	if err != nil {
		fmt.Fprintf(stderr, "hil predict: %v\n", err)
		return 1
	}
	dp, err := choose(list, *runtime, *wh)
	if err != nil {
		fmt.Fprintf(stderr, "hil predict: %v\n", err)
		return 1
	}
	pred, err := dp.Predictor.Predict(spec)
	if err != nil {
		fmt.Fprintf(stderr, "hil predict: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(pred); err != nil {
			fmt.Fprintf(stderr, "hil predict: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "device %s, runtime %s, workload %s: fitted %s from %d measurements\n",
		list.DeviceID, dp.Runtime, dp.WorkloadHash, dp.FittedAt.Format("2006-01-02 15:04:05Z07:00"), dp.Measurements)
	Print(stdout, pred, dp.Predictor)
	return 0
}

// choose picks the predictor of the given runtime and workload hash (either
// may be empty); several matching is an error that lists them.
func choose(list api.DevicePredictors, runtime, wh string) (api.DevicePredictor, error) {
	var match []api.DevicePredictor
	for _, p := range list.Predictors {
		if (runtime == "" || p.Runtime == runtime) && (wh == "" || p.WorkloadHash == wh) && p.Predictor != nil {
			match = append(match, p)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		if len(list.Predictors) == 0 {
			return api.DevicePredictor{}, fmt.Errorf("device %s has no fitted predictor yet (it fits from the device's measurements)", list.DeviceID)
		}
		return api.DevicePredictor{}, fmt.Errorf("no predictor of device %s matches --runtime %q --workload-hash %q; it has %s", list.DeviceID, runtime, wh, names(list.Predictors))
	}
	return api.DevicePredictor{}, fmt.Errorf("device %s has %d predictors; choose one with --runtime and --workload-hash: %s", list.DeviceID, len(match), names(match))
}

func names(ps []api.DevicePredictor) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Runtime+" "+p.WorkloadHash)
	}
	return strings.Join(s, ", ")
}

// loadArch reads a spec JSON file, or a preset by name.
func loadArch(arg string) (*arch.Spec, error) {
	data, err := os.ReadFile(arg)
	if err != nil {
		if p, perr := arch.Preset(arg); perr == nil {
			return p, nil
		}
		return nil, fmt.Errorf("architecture %q: neither a readable file nor a preset (%s): %w", arg, strings.Join(arch.PresetNames(), ", "), err)
	}
	s, err := arch.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return s, nil
}

// Print writes one line per metric: the prediction, its standard deviation
// (absolute and relative) and the model's leave-one-out error and rows.
func Print(w io.Writer, pred search.Prediction, p *search.Predictor) {
	keys := make([]search.MetricKey, 0, len(pred))
	for k := range pred {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b search.MetricKey) int {
		if c := strings.Compare(string(a.Metric), string(b.Metric)); c != 0 {
			return c
		}
		return a.At - b.At
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tat\tpredicted\t± std\t± %\tLOO rms %\trows\t")
	for _, k := range keys {
		e := pred[k]
		m := p.Models[k]
		fmt.Fprintf(tw, "%s\t%d\t%.4g\t%.3g\t%.1f\t%.1f\t%d\t\n", k.Metric, k.At, e.Mean, e.Std, 100*e.Std/e.Mean, 100*m.LOORelRMS, m.N)
	}
	tw.Flush()
}
