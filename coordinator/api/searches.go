package api

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
)

// Search is a stored search with its progress (GET
// /api/v1/searches/{id}). Spec is the normalised search spec as stored.
type Search struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Spec       json.RawMessage `json:"spec"`
	State      SearchState     `json:"state"`
	Error      *string         `json:"error,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Progress   Progress        `json:"progress"`
	// WaitingFor names the targets of a running search that no online
	// device matches: its trials wait until one of their devices is online.
	WaitingFor []string `json:"waiting_for,omitempty"`
	// Guard is the state of the search's fidelity guard (spec "guard"),
	// in GET /api/v1/searches/{id} only.
	Guard *GuardReport `json:"guard,omitempty"`
	// Savings estimates the device time predictor screening saved, in
	// GET /api/v1/searches/{id} only.
	Savings *ScreeningSavings `json:"savings,omitempty"`
	// Redispatches are the search's trial targets whose device was lost
	// mid-job and that went to another device, oldest first, in GET
	// /api/v1/searches/{id} only.
	Redispatches []Redispatch `json:"redispatches,omitempty"`
}

// Redispatch is one re-dispatch of a trial target: its job's device went
// silent past the coordinator's device-lost threshold, the job failed with
// device_lost and a new job went to another online device of the target.
type Redispatch struct {
	Trial      int       `json:"trial"`
	Target     string    `json:"target"`
	FromDevice string    `json:"from_device"`
	LostJob    string    `json:"lost_job"`
	ToDevice   string    `json:"to_device"`
	Job        string    `json:"job"`
	At         time.Time `json:"at"`
}

// ScreeningSavings is how many candidates predictor screening kept off
// the devices and an estimate of the device time that saved: Screened
// times the mean device time of the search's measured trials (a trial's
// device time is the sum over its targets of the measuring child's
// started_at..finished_at, re-measurements not counted). A screened
// candidate's own time is unknown; the estimate assumes it would have
// cost what the measured ones did.
type ScreeningSavings struct {
	Screened int `json:"screened"`
	// MeasuredTrials is the number of measured trials the mean is over.
	MeasuredTrials int `json:"measured_trials"`
	// MeanTrialSeconds is their mean device time, in seconds.
	MeanTrialSeconds float64 `json:"mean_trial_seconds"`
	// SavedSeconds is Screened × MeanTrialSeconds (0 before any trial
	// was measured).
	SavedSeconds float64 `json:"saved_seconds"`
}

// GuardReport is the state of a search's fidelity guard (search.Guard):
// the cross-check of the LFM2 presets on both runtimes of one device that
// runs before the search's first trial.
type GuardReport struct {
	CheckID     string  `json:"check_id"`
	DeviceID    string  `json:"device_id"`
	MinSpearman float64 `json:"min_spearman"`
	// Done: every job of the cross-check ended; the search's trials wait
	// until then.
	Done    bool             `json:"done"`
	Metrics []FidelityMetric `json:"metrics,omitempty"`
	// Warning names the metrics whose rank correlation is below
	// MinSpearman or could not be computed (once Done; empty when every
	// metric agrees).
	Warning string `json:"warning,omitempty"`
}

// Progress counts a search's trials.
type Progress struct {
	MaxTrials int `json:"max_trials"`
	Running   int `json:"running"`
	Complete  int `json:"complete"`
	Failed    int `json:"failed"`
	// Rejected counts candidates rejected before any device time.
	Rejected int `json:"rejected"`
	// Remeasured counts the re-measurements dispatched (noise-aware
	// front; at most the spec's remeasure.max).
	Remeasured int `json:"remeasured"`
	// Screened counts candidates the predictor screened out (proposed,
	// predicted, not measured; GET /api/v1/searches/{id}/screened).
	Screened int `json:"screened"`
}

// SearchList is the body of GET /api/v1/searches, newest first.
type SearchList struct {
	Searches []Search `json:"searches"`
}

// SearchPreview is the body of POST /api/v1/searches/validate.
type SearchPreview struct {
	Valid     bool         `json:"valid"`
	Errors    []FieldError `json:"errors,omitempty"`
	ParamsMin int64        `json:"params_min,omitempty"`
	ParamsMax int64        `json:"params_max,omitempty"`
	// Spec is the spec with its defaults filled in.
	Spec *search.Spec `json:"spec,omitempty"`
	// Warnings are problems that do not make the spec invalid, e.g. a
	// target whose devices are all offline.
	Warnings []string `json:"warnings,omitempty"`
	// Exportable estimates, per export format, which share of the space's
	// admissible candidates (parameter budget and attention-layer bounds
	// met) that format can express, from a fixed sample of the space.
	Exportable []ExportShare `json:"exportable,omitempty"`
}

// ExportShare is the share of a space's admissible candidates that one
// export format can express (search.Space.ExportShares): Sampled counts
// the admissible candidates of a fixed uniform sample of the space.
type ExportShare struct {
	Format  string  `json:"format"`
	Share   float64 `json:"share"`
	Sampled int     `json:"sampled"`
	// Reason is the most frequent objection among the candidates the
	// format cannot express (empty when every sampled one is exportable).
	Reason string `json:"reason,omitempty"`
}

// ExportCheck says whether a trial's architecture can be exported in a
// format (hf, gguf) and, when not, why (the arch.Exportable error).
type ExportCheck struct {
	Format     string `json:"format"`
	Exportable bool   `json:"exportable"`
	Reason     string `json:"reason,omitempty"`
}

// SearchPresets is the body of GET /api/v1/search-presets.
type SearchPresets struct {
	Spaces      map[string]search.Space `json:"spaces"`
	ArchPresets []string                `json:"arch_presets"`
}

// SearchStateConflict is the details of a 409 search_state_conflict.
type SearchStateConflict struct {
	State       SearchState   `json:"state"`
	AllowedFrom []SearchState `json:"allowed_from"`
}

// Trial is one measured candidate of a search. Number counts measured
// trials from 0 (candidates rejected before device time have none).
type Trial struct {
	SearchID string          `json:"search_id"`
	Number   int             `json:"number"`
	Arch     json.RawMessage `json:"arch"`
	ArchHash string          `json:"arch_hash"`
	Params   int64           `json:"params"`
	// Layers is the mixer of each layer.
	Layers []string   `json:"layers"`
	State  TrialState `json:"state"`
	// Objectives are the values in the spec's objective order and natural
	// units; Violation is 0 when every constraint is met.
	Objectives []float64 `json:"objectives,omitempty"`
	Violation  *float64  `json:"violation,omitempty"`
	// ObjectivesStd is one standard deviation of each objective, from the
	// measurements' spreads widened by the device's between-run noise as
	// the search has estimated it (0 for exact objectives), pooled over
	// re-measurements like Objectives.
	ObjectivesStd []float64 `json:"objectives_std,omitempty"`
	// Remeasured is the number of re-measurements pooled into Objectives
	// (noise-aware front: its front membership depended on noise).
	Remeasured int `json:"remeasured"`
	// Predicted and PredictedStd are the objectives the device predictors
	// predicted when screening chose this trial (same order and units;
	// one standard deviation); absent for a trial dispatched unscreened.
	Predicted    []float64 `json:"predicted,omitempty"`
	PredictedStd []float64 `json:"predicted_std,omitempty"`
	// Rank is the trial's front number among the search's complete
	// trials under constrained domination (0: on the Pareto front; see
	// search.Spec.Ranks); absent for a trial that is not complete.
	Rank *int `json:"rank,omitempty"`
	// Exports says which export formats can express the trial's
	// architecture (read with one trial, not in pages).
	Exports    []ExportCheck `json:"exports,omitempty"`
	Error      *string       `json:"error,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Targets    []TrialTarget `json:"targets,omitempty"`
	// Evaluations are the trial's quality evaluations, one per evaluator
	// the search uses (read with one trial, and with trial pages).
	Evaluations []Evaluation `json:"evaluations,omitempty"`
}

// TrialTarget links a trial's target to the job or cached measurement
// that answers it.
type TrialTarget struct {
	Target        string  `json:"target"`
	DeviceID      string  `json:"device_id"`
	JobID         *string `json:"job_id,omitempty"`
	MeasurementID *int64  `json:"measurement_id,omitempty"`
	// JobState, JobError and Measurement are the job's state and error and
	// the measurement, when read with the trial.
	JobState    JobState          `json:"job_state,omitempty"`
	JobError    *string           `json:"job_error,omitempty"`
	Measurement *wire.Measurement `json:"measurement,omitempty"`
}

// ScreenedCandidate is a candidate that predictor screening did not send to
// a device: its prediction, its expected hypervolume improvement and why it
// was left out. Round is the number of the trial its round dispatched.
type ScreenedCandidate struct {
	Round    int             `json:"round"`
	Arch     json.RawMessage `json:"arch"`
	ArchHash string          `json:"arch_hash"`
	Params   int64           `json:"params"`
	Layers   []string        `json:"layers"`
	// Predicted and PredictedStd are the predicted objectives (spec order,
	// natural units, one standard deviation); Violation the predicted
	// constraint violation (0: predicted feasible).
	Predicted    []float64 `json:"predicted"`
	PredictedStd []float64 `json:"predicted_std"`
	Violation    float64   `json:"violation"`
	// EHVI is the expected hypervolume improvement times the probability
	// of feasibility it was ranked by.
	EHVI      float64   `json:"ehvi"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

// ScreenedList is the body of GET /api/v1/searches/{id}/screened, by round.
type ScreenedList struct {
	Screened []ScreenedCandidate `json:"screened"`
}

// TrialPage is one page of GET /api/v1/searches/{id}/trials.
type TrialPage struct {
	// Trials is the page; Total counts every trial the query matches.
	Trials []Trial `json:"trials"`
	Total  int     `json:"total"`
	Limit  int     `json:"limit"`
	Offset int     `json:"offset"`
}

// TrialQuery selects, orders and pages a search's trials: the query
// parameters of GET /api/v1/searches/{id}/trials. Zero values leave the
// coordinator's defaults.
type TrialQuery struct {
	// State is running, complete or failed; "" for all.
	State TrialState
	// Mixer keeps trials with at least one layer of this mixer.
	Mixer string
	// Sort is number, params, created_at or objective:<i>, optionally
	// prefixed by "-" for descending.
	Sort   string
	Limit  int
	Offset int
}

// Values encodes q as query parameters.
func (q TrialQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("state", string(q.State))
	set("mixer", q.Mixer)
	set("sort", q.Sort)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	return v
}

// ParetoPoint is one complete trial in the Pareto view.
type ParetoPoint struct {
	// Trial is the trial number and Values its objective values.
	Trial  int       `json:"trial"`
	Values []float64 `json:"values"`
	// Std is one standard deviation of each value (Trial.ObjectivesStd);
	// Remeasured the re-measurements pooled into Values.
	Std        []float64 `json:"std,omitempty"`
	Remeasured int       `json:"remeasured"`
	// Feasible is Violation == 0; Front marks the constrained Pareto front.
	Feasible  bool    `json:"feasible"`
	Violation float64 `json:"violation"`
	Front     bool    `json:"front"`
	// Rank is the front number under constrained domination (0 = Front).
	Rank int `json:"rank"`
	// Recommended marks the front's recommended point (ParetoView.Recommended).
	Recommended bool     `json:"recommended,omitempty"`
	Params      int64    `json:"params"`
	Layers      []string `json:"layers"`
	// Exports says, for front points only, which export formats can
	// express the architecture.
	Exports []ExportCheck `json:"exports,omitempty"`
}

// ParetoView is the body of GET /api/v1/searches/{id}/pareto: every
// complete trial, and the trial numbers of the constrained Pareto front.
type ParetoView struct {
	// Objectives are the spec's objectives (directions filled in).
	Objectives []search.Objective `json:"objectives"`
	Points     []ParetoPoint      `json:"points"`
	Front      []int              `json:"front"`
	// Recommended is the trial number of the front's recommended point:
	// its knee (search.Spec.Recommend; docs/search.md). Null when no
	// feasible trial is complete.
	Recommended *int `json:"recommended"`
	// RecommendedRule says in one sentence how Recommended was chosen.
	RecommendedRule string `json:"recommended_rule"`
}

// HypervolumeView is the body of GET /api/v1/searches/{id}/hypervolume.
type HypervolumeView struct {
	// Reference is the reference point in minimisation form (maximised
	// objectives negated); null before any trial completed.
	Reference []float64 `json:"reference"`
	// Box is the volume of the box from the ideal point (the best
	// feasible value of each objective) to Reference, in the product of
	// the objectives' units; 0 when there is no such box. Each history
	// point's Fraction is its hypervolume divided by Box.
	Box float64 `json:"box"`
	// History has one entry per complete trial, in trial order.
	History []HypervolumePoint `json:"history"`
}

// Last returns the latest hypervolume point and whether there is one.
func (h *HypervolumeView) Last() (HypervolumePoint, bool) {
	if len(h.History) == 0 {
		return HypervolumePoint{}, false
	}
	return h.History[len(h.History)-1], true
}

// HypervolumePoint is the hypervolume after a trial.
type HypervolumePoint struct {
	// Trial is the trial that completed; Complete counts the complete
	// trials so far.
	Trial       int     `json:"trial"`
	Complete    int     `json:"complete"`
	Hypervolume float64 `json:"hypervolume"`
	// Fraction is Hypervolume / HypervolumeView.Box, in [0, 1]; 0 when
	// there is no box.
	Fraction float64 `json:"fraction"`
}

// ExportQuery selects an export: the query parameters of GET
// /api/v1/searches/{id}/export.
type ExportQuery struct {
	// Format is json, hf, gguf or csv.
	Format string
	// Trial is the trial to export (json, hf, gguf); ignored for csv.
	Trial int
	// Precision is the GGUF weight precision; "" leaves the default (f16).
	Precision string
}

// Values encodes q as query parameters.
func (q ExportQuery) Values() url.Values {
	v := url.Values{"format": {q.Format}}
	if q.Format != "csv" {
		v.Set("trial", strconv.Itoa(q.Trial))
	}
	if q.Precision != "" {
		v.Set("precision", q.Precision)
	}
	return v
}

// Reference is an LFM2 preset placed among a search's results: measured
// with the search's workload on its target devices.
type Reference struct {
	Preset string `json:"preset"`
	Params int64  `json:"params"`
	// Measured is true when every target has a measurement; Values and
	// Feasible are set then.
	Measured  bool      `json:"measured"`
	Values    []float64 `json:"values,omitempty"`
	Feasible  bool      `json:"feasible,omitempty"`
	Violation float64   `json:"violation,omitempty"`
	// Missing lists targets with no measurement yet (queued or not).
	Missing []string `json:"missing,omitempty"`
}

// ReferenceList is the body of GET and POST
// /api/v1/searches/{id}/references; QueuedJobs counts the jobs a POST
// created.
type ReferenceList struct {
	References []Reference `json:"references"`
	QueuedJobs int         `json:"queued_jobs,omitempty"`
}
