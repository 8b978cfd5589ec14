package searchcmd

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/search"
)

// list runs "hil search list".
func list(ctx context.Context, e *env, args []string) int {
	fs := e.flags(subcommands["list"].usage)
	asJSON := fs.Bool("json", false, "print the searches as JSON")
	if _, code := e.parse(fs, args, 0, ""); code >= 0 {
		return code
	}
	c, err := e.g.client()
	if err != nil {
		return e.fail(err)
	}
	ss, err := c.ListSearches(ctx)
	if err != nil {
		return e.fail(err)
	}
	if *asJSON {
		if ss == nil {
			ss = []api.Search{}
		}
		if err := writeJSON(e.stdout, ss); err != nil {
			return e.fail(err)
		}
		return 0
	}
	if len(ss) == 0 {
		fmt.Fprintln(e.stderr, "no searches")
		return 0
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tPROGRESS\tCREATED")
	for _, s := range ss {
		st := string(s.State)
		if len(s.WaitingFor) > 0 {
			st += " (" + waitingText(s) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, oneLine(s.Name), st, progressText(s.Progress), s.CreatedAt.UTC().Format(time.DateTime))
	}
	if err := tw.Flush(); err != nil {
		return e.fail(err)
	}
	return 0
}

// oneLine keeps a user-given name on one table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// waitingText is "waiting for a device of target pixel" (one clause per
// target no online device matches), or "".
func waitingText(s api.Search) string {
	parts := make([]string, len(s.WaitingFor))
	for i, t := range s.WaitingFor {
		parts[i] = "waiting for a device of target " + t
	}
	return strings.Join(parts, "; ")
}

// progressText is "12/20 complete, 1 failed, 2 running, 30 rejected",
// plus ", 40 screened" once predictor screening left candidates out and
// ", 2 re-measured" once the noise-aware front re-measured trials.
func progressText(p api.Progress) string {
	s := fmt.Sprintf("%d/%d complete, %d failed, %d running, %d rejected", p.Complete, p.MaxTrials, p.Failed, p.Running, p.Rejected)
	if p.Screened > 0 {
		s += fmt.Sprintf(", %d screened", p.Screened)
	}
	if p.Remeasured > 0 {
		s += fmt.Sprintf(", %d re-measured", p.Remeasured)
	}
	return s
}

// savingsText is "40 candidates screened out: about 1h20m0s of device
// time saved (40 × 2m0s, the mean of 20 measured trials)", or "" when
// nothing was screened.
func savingsText(v *api.ScreeningSavings) string {
	if v == nil || v.Screened == 0 {
		return ""
	}
	s := fmt.Sprintf("%d candidates screened out", v.Screened)
	if v.MeasuredTrials == 0 {
		return s + " (no measured trial to estimate the device time saved from)"
	}
	sec := func(x float64) time.Duration {
		d := time.Duration(x * float64(time.Second))
		switch {
		case d >= time.Minute:
			return d.Round(time.Second)
		case d >= time.Second:
			return d.Round(10 * time.Millisecond)
		}
		return d.Round(time.Microsecond)
	}
	return s + fmt.Sprintf(": about %s of device time saved (%d × %s, the mean of %d measured trials)",
		sec(v.SavedSeconds), v.Screened, sec(v.MeanTrialSeconds), v.MeasuredTrials)
}

// show runs "hil search show ID".
func show(ctx context.Context, e *env, args []string) int {
	fs := e.flags(subcommands["show"].usage)
	asJSON := fs.Bool("json", false, `print {"search", "pareto", "hypervolume"} as JSON`)
	pos, code := e.parse(fs, args, 1, "one search ID")
	if code >= 0 {
		return code
	}
	c, err := e.g.client()
	if err != nil {
		return e.fail(err)
	}
	s, err := c.GetSearch(ctx, pos[0])
	if err != nil {
		return e.fail(err)
	}
	pv, err := c.Pareto(ctx, s.ID)
	if err != nil {
		return e.fail(err)
	}
	hv, err := c.Hypervolume(ctx, s.ID)
	if err != nil {
		return e.fail(err)
	}
	if *asJSON {
		if err := writeJSON(e.stdout, map[string]any{"search": s, "pareto": pv, "hypervolume": hv}); err != nil {
			return e.fail(err)
		}
		return 0
	}
	w := e.stdout
	fmt.Fprintf(w, "search      %s  %s\n", s.ID, oneLine(s.Name))
	state := string(s.State)
	if s.Error != nil && *s.Error != "" {
		state += ": " + *s.Error
	}
	fmt.Fprintf(w, "state       %s\n", state)
	if t := waitingText(s); t != "" {
		fmt.Fprintf(w, "            %s\n", t)
	}
	fmt.Fprintf(w, "progress    %s\n", progressText(s.Progress))
	for _, r := range s.Redispatches {
		fmt.Fprintf(w, "            %s\n", redispatchText(r))
	}
	if t := savingsText(s.Savings); t != "" {
		fmt.Fprintf(w, "screening   %s\n", t)
	}
	fmt.Fprintf(w, "created     %s\n", s.CreatedAt.UTC().Format(time.DateTime))
	if s.FinishedAt != nil {
		fmt.Fprintf(w, "finished    %s\n", s.FinishedAt.UTC().Format(time.DateTime))
	}
	fmt.Fprintln(w, "objectives")
	for i, o := range pv.Objectives {
		fmt.Fprintf(w, "  %d. %s\n", i+1, objectiveName(o))
	}
	if last, ok := hv.Last(); ok {
		fmt.Fprintf(w, "hypervolume %s after %d complete trials (%.6g of a box of %.6g from the ideal point to the reference point %s, minimisation form)\n",
			hvFraction(hv, last), last.Complete, last.Hypervolume, hv.Box, floats(hv.Reference))
	} else {
		fmt.Fprintln(w, "hypervolume none yet (no complete trial)")
	}
	feasible := 0
	for _, p := range pv.Points {
		if p.Feasible {
			feasible++
		}
	}
	fmt.Fprintf(w, "Pareto front: %d of %d complete trials (%d feasible)\n", len(pv.Front), len(pv.Points), feasible)
	if pv.Recommended != nil {
		fmt.Fprintf(w, "recommended trial %d (marked *): %s\n", *pv.Recommended, pv.RecommendedRule)
	} else if len(pv.Points) > 0 {
		fmt.Fprintln(w, "recommended none: no complete trial meets the constraints")
	}
	if len(pv.Front) == 0 {
		return 0
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// The params column is left out when params is an objective.
	paramsCol := true
	head := []string{"  TRIAL"}
	for _, o := range pv.Objectives {
		head = append(head, o.Metric+atSuffix(o))
		paramsCol = paramsCol && o.Metric != "params"
	}
	if paramsCol {
		head = append(head, "PARAMS")
	}
	head = append(head, "FEASIBLE", "REMEASURED", "EXPORTS", "LAYERS")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, p := range frontPoints(pv) {
		mark := "  "
		if p.Recommended {
			mark = "* "
		}
		row := []string{mark + strconv.Itoa(p.Trial)}
		for i, v := range p.Values {
			if i < len(p.Std) && p.Std[i] > 0 {
				row = append(row, value(v)+" ± "+strconv.FormatFloat(p.Std[i], 'g', 2, 64))
			} else {
				row = append(row, value(v))
			}
		}
		if paramsCol {
			row = append(row, human(p.Params))
		}
		row = append(row, strconv.FormatBool(p.Feasible), strconv.Itoa(p.Remeasured), exportsText(p.Exports), layerStrip(p.Layers))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return e.fail(err)
	}
	fmt.Fprintln(w, "layers: "+legend)
	return 0
}

func atSuffix(o search.Objective) string {
	if o.Metric == "params" {
		return ""
	}
	return fmt.Sprintf(" at %d", o.At)
}

// value formats an objective value: integers (params) in full, others
// with 6 significant digits.
func value(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func objectiveName(o search.Objective) string {
	dir := o.Direction
	if dir == "" {
		dir = search.Minimize
	}
	return fmt.Sprintf("%s%s, %s", o.Metric, atSuffix(o), dir)
}

// frontPoints returns the front's points sorted by the first objective,
// best first.
func frontPoints(pv api.ParetoView) []api.ParetoPoint {
	var out []api.ParetoPoint
	for _, p := range pv.Points {
		if p.Front {
			out = append(out, p)
		}
	}
	minimized := func(p api.ParetoPoint) float64 {
		if len(p.Values) == 0 || len(pv.Objectives) == 0 {
			return 0
		}
		if pv.Objectives[0].Direction == search.Maximize {
			return -p.Values[0]
		}
		return p.Values[0]
	}
	// Insertion sort: fronts are small, and the order must be stable.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && minimized(out[j]) < minimized(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// exportsText lists the formats a front point exports to ("hf gguf"), or
// "none".
func exportsText(checks []api.ExportCheck) string {
	var ok []string
	for _, c := range checks {
		if c.Exportable {
			ok = append(ok, c.Format)
		}
	}
	if len(ok) == 0 {
		return "none"
	}
	return strings.Join(ok, " ")
}

// legend explains the letters of layerStrip.
const legend = "C conv, G gqa, W swa, L linear_attn, M ssm (Mamba2)"

// layerStrip writes one letter per layer, e.g. CCGCCGCCGCGCGCGC.
func layerStrip(layers []string) string {
	var b strings.Builder
	for _, l := range layers {
		switch l {
		case "conv":
			b.WriteByte('C')
		case "gqa":
			b.WriteByte('G')
		case "swa":
			b.WriteByte('W')
		case "linear_attn":
			b.WriteByte('L')
		case "ssm":
			b.WriteByte('M')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// hvFraction is the hypervolume as a fraction of the box from the ideal
// point to the reference point ("0.734"), or "-" when there is no box
// (no feasible trial).
func hvFraction(hv api.HypervolumeView, p api.HypervolumePoint) string {
	if hv.Box <= 0 {
		return "-"
	}
	return strconv.FormatFloat(p.Fraction, 'f', 3, 64)
}

func floats(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = strconv.FormatFloat(f, 'g', 5, 64)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// transition returns the runner of "hil search pause|resume|cancel ID".
func transition(action string) func(ctx context.Context, e *env, args []string) int {
	return func(ctx context.Context, e *env, args []string) int {
		fs := e.flags(subcommands[action].usage)
		pos, code := e.parse(fs, args, 1, "one search ID")
		if code >= 0 {
			return code
		}
		c, err := e.g.client()
		if err != nil {
			return e.fail(err)
		}
		var s api.Search
		switch action {
		case "pause":
			s, err = c.PauseSearch(ctx, pos[0])
		case "resume":
			s, err = c.ResumeSearch(ctx, pos[0])
		case "cancel":
			s, err = c.CancelSearch(ctx, pos[0])
		}
		if err != nil {
			return e.fail(err)
		}
		fmt.Fprintf(e.stdout, "%s %s\n", s.ID, s.State)
		return 0
	}
}
