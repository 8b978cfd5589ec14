package api

import (
	"encoding/json"
	"time"

	"github.com/hilsearch/hilsearch/workload"
)

// FidelitySpec is one network of a cross-check: an inline spec or a preset.
type FidelitySpec struct {
	// Name labels the spec in the report; defaults to the spec's name or
	// the preset.
	Name   string          `json:"name,omitempty"`
	Spec   json.RawMessage `json:"spec,omitempty"`
	Preset string          `json:"preset,omitempty"`
}

// FidelityRequest is the body of POST /api/v1/devices/{id}/fidelity: time
// every spec with the workload on both runtimes of the device (native and
// llama.cpp). The workload's runtime must be unset.
type FidelityRequest struct {
	Specs    []FidelitySpec    `json:"specs"`
	Workload workload.Workload `json:"workload"`
	// TimeoutSeconds bounds each job (0: the agent's default).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// FidelityEntry is one spec of a cross-check and its job per runtime.
type FidelityEntry struct {
	Name     string `json:"name"`
	SpecHash string `json:"spec_hash"`
	Params   int64  `json:"params"`
	// Jobs maps a runtime to its job ID.
	Jobs map[string]string `json:"jobs"`
}

// FidelityCheck is a stored cross-check (the answer of POST).
type FidelityCheck struct {
	ID        string            `json:"id"`
	DeviceID  string            `json:"device_id"`
	Workload  workload.Workload `json:"workload"`
	Entries   []FidelityEntry   `json:"entries"`
	CreatedAt time.Time         `json:"created_at"`
}

// FidelityFigure is one metric of one spec on both runtimes.
type FidelityFigure struct {
	// Metric is "pp<L>" (prompt tokens/s) or "tg<N>@d<D>" (generated
	// tokens/s at depth D).
	Metric string `json:"metric"`
	// Native and LlamaCpp are the medians; nil until measured.
	Native   *float64 `json:"native"`
	LlamaCpp *float64 `json:"llama_cpp"`
	// Ratio is Native / LlamaCpp, when both are measured.
	Ratio *float64 `json:"ratio"`
}

// FidelityRow is one spec of the report.
type FidelityRow struct {
	Name   string `json:"name"`
	Params int64  `json:"params"`
	// States maps a runtime to its job's state; Errors to a failed job's
	// reason.
	States  map[string]JobState `json:"states"`
	Errors  map[string]string   `json:"errors,omitempty"`
	Figures []FidelityFigure    `json:"figures"`
}

// FidelityMetric summarises one metric over the specs measured on both
// runtimes.
type FidelityMetric struct {
	Metric string `json:"metric"`
	// N is the number of specs measured on both runtimes.
	N int `json:"n"`
	// Spearman is the rank correlation of the two runtimes' figures (nil
	// below 3 specs or when one side has no spread).
	Spearman *float64 `json:"spearman"`
	// RatioMedian, RatioMin and RatioMax summarise Native/LlamaCpp.
	RatioMedian *float64 `json:"ratio_median"`
	RatioMin    *float64 `json:"ratio_min"`
	RatioMax    *float64 `json:"ratio_max"`
}

// FidelityReport is the body of GET /api/v1/fidelity/{id}.
type FidelityReport struct {
	FidelityCheck
	// Done: every job ended (done, failed or cancelled).
	Done    bool             `json:"done"`
	Rows    []FidelityRow    `json:"rows"`
	Metrics []FidelityMetric `json:"metrics"`
}
