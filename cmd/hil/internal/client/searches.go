package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/hilsearch/hilsearch/search"
)

// Search states as the coordinator reports them.
const (
	StateRunning   = "running"
	StatePaused    = "paused"
	StateCancelled = "cancelled"
	StateFinished  = "finished"
	StateFailed    = "failed"
)

// Search is a search as GET /api/v1/searches/{id} returns it.
type Search struct {
	// ID is the coordinator's search ID ("s…").
	ID   string `json:"id"`
	Name string `json:"name"`
	// Spec is the normalised search spec the coordinator stored.
	Spec json.RawMessage `json:"spec"`
	// State is one of the State* constants.
	State string `json:"state"`
	// Error says why a failed search failed.
	Error      *string    `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Progress counts the trials.
	Progress Progress `json:"progress"`
}

// Done reports whether the search is in a final state.
func (s *Search) Done() bool {
	return s.State == StateFinished || s.State == StateFailed || s.State == StateCancelled
}

// Progress counts a search's trials.
type Progress struct {
	// MaxTrials is the budget of measured trials.
	MaxTrials int `json:"max_trials"`
	// Running, Complete and Failed count measured trials by state.
	Running  int `json:"running"`
	Complete int `json:"complete"`
	Failed   int `json:"failed"`
	// Rejected counts candidates rejected before any device time.
	Rejected int `json:"rejected"`
}

// Preview is the answer of POST /api/v1/searches/validate.
type Preview struct {
	Valid     bool                `json:"valid"`
	Errors    []search.FieldError `json:"errors,omitempty"`
	ParamsMin int64               `json:"params_min,omitempty"`
	ParamsMax int64               `json:"params_max,omitempty"`
	Spec      json.RawMessage     `json:"spec,omitempty"`
}

// Trial is one trial of a search.
type Trial struct {
	// SearchID and Number identify the trial.
	SearchID string `json:"search_id"`
	Number   int    `json:"number"`
	// Arch is the candidate's arch.Spec (JSON) and ArchHash its canonical hash.
	Arch     json.RawMessage `json:"arch"`
	ArchHash string          `json:"arch_hash"`
	Params   int64           `json:"params"`
	// Layers is the mixer of each layer.
	Layers []string `json:"layers"`
	// State is running, complete or failed.
	State string `json:"state"`
	// Objectives are the values in the spec's objective order and units.
	Objectives []float64  `json:"objectives,omitempty"`
	Violation  *float64   `json:"violation,omitempty"`
	Error      *string    `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// TrialQuery filters, sorts and pages GET .../trials. Zero values are
// left to the coordinator's defaults.
type TrialQuery struct {
	// State is running, complete or failed.
	State string
	// Sort is number, params, created_at or objective:<i>, optionally
	// prefixed by "-".
	Sort   string
	Limit  int
	Offset int
}

// TrialPage is one page of trials.
type TrialPage struct {
	// Trials is the page; Total counts every trial the filter matches.
	Trials []Trial `json:"trials"`
	Total  int     `json:"total"`
	Limit  int     `json:"limit"`
	Offset int     `json:"offset"`
}

// ParetoPoint is one complete trial in the Pareto view.
type ParetoPoint struct {
	// Trial is the trial number and Values its objective values.
	Trial  int       `json:"trial"`
	Values []float64 `json:"values"`
	// Feasible is Violation == 0 (every constraint met); Front marks the
	// constrained Pareto front.
	Feasible  bool     `json:"feasible"`
	Violation float64  `json:"violation"`
	Front     bool     `json:"front"`
	Params    int64    `json:"params"`
	Layers    []string `json:"layers"`
}

// ParetoView is the answer of GET .../pareto: every complete trial, and
// the trial numbers of the constrained Pareto front.
type ParetoView struct {
	// Objectives are the spec's objectives (directions filled in).
	Objectives []search.Objective `json:"objectives"`
	Points     []ParetoPoint      `json:"points"`
	Front      []int              `json:"front"`
}

// HypervolumeView is the answer of GET .../hypervolume.
type HypervolumeView struct {
	// Reference is the reference point in minimisation form (maximised
	// objectives negated); nil before any trial completed.
	Reference []float64 `json:"reference"`
	// History has one entry per complete trial, in trial order.
	History []HypervolumePoint `json:"history"`
}

// HypervolumePoint is the hypervolume after a trial.
type HypervolumePoint struct {
	// Trial is the trial that completed, Complete the number of complete
	// trials so far.
	Trial       int     `json:"trial"`
	Complete    int     `json:"complete"`
	Hypervolume float64 `json:"hypervolume"`
}

// Last returns the latest hypervolume and whether there is one.
func (h *HypervolumeView) Last() (float64, bool) {
	if len(h.History) == 0 {
		return 0, false
	}
	return h.History[len(h.History)-1].Hypervolume, true
}

// CreateSearch creates a search from a search spec (JSON). An invalid spec
// gives an *Error with Code "search_invalid" and Fields.
func (c *Client) CreateSearch(ctx context.Context, spec []byte) (Search, error) {
	var s Search
	err := c.do(ctx, "POST", "/searches", nil, spec, &s)
	return s, err
}

// ValidateSearch checks a search spec without creating anything. A spec
// with errors is not an error here: see Preview.Valid and Preview.Errors.
func (c *Client) ValidateSearch(ctx context.Context, spec []byte) (Preview, error) {
	var p Preview
	err := c.do(ctx, "POST", "/searches/validate", nil, spec, &p)
	return p, err
}

// ListSearches returns every search, newest first as the coordinator
// orders them.
func (c *Client) ListSearches(ctx context.Context) ([]Search, error) {
	var out struct {
		Searches []Search `json:"searches"`
	}
	err := c.do(ctx, "GET", "/searches", nil, nil, &out)
	return out.Searches, err
}

// GetSearch returns one search.
func (c *Client) GetSearch(ctx context.Context, id string) (Search, error) {
	var s Search
	err := c.do(ctx, "GET", "/searches/"+url.PathEscape(id), nil, nil, &s)
	return s, err
}

// PauseSearch pauses a running search and returns it.
func (c *Client) PauseSearch(ctx context.Context, id string) (Search, error) {
	return c.transition(ctx, id, "pause")
}

// ResumeSearch resumes a paused search and returns it.
func (c *Client) ResumeSearch(ctx context.Context, id string) (Search, error) {
	return c.transition(ctx, id, "resume")
}

// CancelSearch cancels a running or paused search and returns it.
func (c *Client) CancelSearch(ctx context.Context, id string) (Search, error) {
	return c.transition(ctx, id, "cancel")
}

func (c *Client) transition(ctx context.Context, id, action string) (Search, error) {
	var s Search
	err := c.do(ctx, "POST", "/searches/"+url.PathEscape(id)+"/"+action, nil, nil, &s)
	return s, err
}

// ListTrials returns one page of a search's trials.
func (c *Client) ListTrials(ctx context.Context, id string, q TrialQuery) (TrialPage, error) {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	var p TrialPage
	err := c.do(ctx, "GET", "/searches/"+url.PathEscape(id)+"/trials", v, nil, &p)
	return p, err
}

// Pareto returns the search's complete trials and its Pareto front.
func (c *Client) Pareto(ctx context.Context, id string) (ParetoView, error) {
	var p ParetoView
	err := c.do(ctx, "GET", "/searches/"+url.PathEscape(id)+"/pareto", nil, nil, &p)
	return p, err
}

// Hypervolume returns the search's hypervolume history.
func (c *Client) Hypervolume(ctx context.Context, id string) (HypervolumeView, error) {
	var h HypervolumeView
	err := c.do(ctx, "GET", "/searches/"+url.PathEscape(id)+"/hypervolume", nil, nil, &h)
	return h, err
}

// ExportQuery selects an export.
type ExportQuery struct {
	// Format is json, hf, gguf or csv.
	Format string
	// Trial is the trial to export (json, hf, gguf); ignored for csv.
	Trial int
	// Precision is the GGUF weight precision; "" leaves the coordinator's
	// default (f16).
	Precision string
}

// Export streams an export of a search to w and returns the file name the
// coordinator suggests (Content-Disposition), or "".
func (c *Client) Export(ctx context.Context, id string, q ExportQuery, w io.Writer) (string, error) {
	v := url.Values{"format": {q.Format}}
	if q.Format != "csv" {
		v.Set("trial", strconv.Itoa(q.Trial))
	}
	if q.Precision != "" {
		v.Set("precision", q.Precision)
	}
	resp, err := c.request(ctx, "GET", "/searches/"+url.PathEscape(id)+"/export", v, nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return "", fmt.Errorf("export %s: %w", q.Format, err)
	}
	return filename(resp.Header.Get("Content-Disposition")), nil
}
