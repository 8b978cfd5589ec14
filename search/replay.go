package search

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/workload"
)

// ReplayTable is a table of real measurements of one device and runtime:
// every layer-order class of a space (set "replay"), the space's block
// probes ("probe") and held-out layouts ("holdout"), each measured once by
// the device agent's timing protocol. It is the data of ReplayStandIn and
// of the predictor's accuracy check.
type ReplayTable struct {
	// Machine, Date and Commit say where, when and with which runtime
	// code the rows were measured.
	Machine string `json:"machine"`
	Date    string `json:"date"`
	Commit  string `json:"commit"`
	// Runtime is the runtime measured ("native").
	Runtime string `json:"runtime"`
	// Space is the preset whose classes the replay rows are.
	Space string `json:"space"`
	// Workload is what every row was measured with.
	Workload workload.Workload `json:"workload"`
	// Note says anything a reader must know (load, noise).
	Note string `json:"note,omitempty"`
	// Rows are the measurements.
	Rows []ReplayRow `json:"rows"`
}

// ReplayRow is one measured network.
type ReplayRow struct {
	// Set is "replay", "probe" or "holdout".
	Set string `json:"set"`
	// Key is the network's ClassKey (a probe's name for probes).
	Key string `json:"key"`
	// Spec is the measured network.
	Spec arch.Spec `json:"spec"`
	// Values are the measured metrics (medians, as the coordinator
	// derives them from a measurement).
	Values Values `json:"values"`
	// Spread is each value's standard error (relative spread of the
	// median times the value; 0 where the agent gives none).
	Spread Values `json:"spread"`
	// Best holds the least-disturbed values of the same measurement: the
	// fastest repetition's prefill tokens/s and TTFT, the fastest decode
	// repetition's mean ms per token (as decode_ms_p50), and the peak RSS.
	// On a machine shared with other work these are closer to the
	// device's cost than the medians; the replay stand-in uses Values.
	Best Values `json:"best,omitempty"`
	// Load1 is the machine's 1-minute load average when the row started.
	Load1 float64 `json:"load1"`
}

//go:embed testdata/replay
var replayFS embed.FS

// ReplayTables lists the embedded replay tables by file name.
func ReplayTables() []string {
	names, _ := fs.Glob(replayFS, "testdata/replay/*.json")
	for i, n := range names {
		names[i] = n[len("testdata/replay/"):]
	}
	slices.Sort(names)
	return names
}

// LoadReplayTable returns an embedded replay table by file name.
func LoadReplayTable(name string) (*ReplayTable, error) {
	data, err := replayFS.ReadFile("testdata/replay/" + name)
	if err != nil {
		return nil, fmt.Errorf("replay table %q: %w", name, err)
	}
	var t ReplayTable
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("replay table %q: %w", name, err)
	}
	return &t, nil
}

// Observations returns the rows of the given sets as predictor
// observations (probe rows carry their probe name), with the medians, or
// with the Best values when best is set.
func (t *ReplayTable) Observations(best bool, sets ...string) []Observation {
	var out []Observation
	for _, r := range t.Rows {
		if !slices.Contains(sets, r.Set) {
			continue
		}
		o := Observation{Spec: r.Spec, Values: r.Values, Spread: r.Spread}
		if best {
			o.Values, o.Spread = r.Best, nil
		}
		if r.Set == "probe" {
			o.Probe = r.Key
		}
		out = append(out, o)
	}
	return out
}

// ReplayStandIn is a stand-in device that answers from a ReplayTable of
// real measurements: a candidate gets the measured values of the table
// row of its layer-order class (the runtime's costs are sums over layers,
// so the order of layers does not change them beyond noise). It is a
// replay of measurements made once, NEVER a new measurement; every target
// of a search gets the same device's values. A candidate with no row is an
// error.
type ReplayStandIn struct {
	table *ReplayTable
	byKey map[string]*ReplayRow
}

// NewReplayStandIn indexes a table.
func NewReplayStandIn(t *ReplayTable) *ReplayStandIn {
	r := &ReplayStandIn{table: t, byKey: map[string]*ReplayRow{}}
	for i := range t.Rows {
		row := &t.Rows[i]
		r.byKey[ClassKey(&row.Spec)] = row
	}
	return r
}

// Table returns the replayed table.
func (r *ReplayStandIn) Table() *ReplayTable { return r.table }

// Evaluate returns the replayed values of s for every target of spec.
func (r *ReplayStandIn) Evaluate(spec *Spec, s *arch.Spec) (map[string]Values, error) {
	row, ok := r.byKey[ClassKey(s)]
	if !ok {
		return nil, fmt.Errorf("replay stand-in: no measurement of class %q", ClassKey(s))
	}
	out := make(map[string]Values, len(spec.Targets))
	for _, t := range spec.Targets {
		out[t.Name] = row.Values
	}
	return out, nil
}
