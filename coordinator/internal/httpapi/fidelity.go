package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

// maxFidelitySpecs bounds one cross-check (two jobs per spec).
const maxFidelitySpecs = 64

// createFidelity queues every spec of the request on both runtimes of the
// device (one job each) and stores the cross-check.
func (s *Server) createFidelity(c *gin.Context) {
	var req api.FidelityRequest
	if !decodeJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	var errs []api.FieldError
	switch {
	case len(req.Specs) == 0:
		errs = append(errs, api.FieldError{Field: "specs", Message: "give at least one spec or preset"})
	case len(req.Specs) > maxFidelitySpecs:
		errs = append(errs, api.FieldError{Field: "specs", Message: fmt.Sprintf("at most %d specs, got %d", maxFidelitySpecs, len(req.Specs))})
	}
	if req.Workload.Runtime != "" {
		errs = append(errs, api.FieldError{Field: "workload.runtime", Message: "leave it unset: a cross-check runs every spec on each runtime"})
	}
	dev, err := s.d.Store.GetDevice(ctx, c.Param("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		fail(c, ErrDeviceNotFound, nil)
		return
	case err != nil:
		s.internal(c, "get device", err)
		return
	}
	if rts := wire.ProfileRuntimes(dev.Profile); !slices.Contains(rts, workload.RuntimeLlamaCpp) {
		errs = append(errs, api.FieldError{Field: "device", Message: "device " + dev.ID + " offers no llama.cpp runtime (its profile lists " + strings.Join(rts, ", ") + ")"})
	}
	check, ferrs, err := s.queueFidelity(ctx, dev.ID, req.Specs, req.Workload, req.TimeoutSeconds, principal(c).ID, len(errs) > 0)
	errs = append(errs, ferrs...)
	var ve *jobs.ValidationError
	switch {
	case len(errs) > 0:
		failFields(c, errs...)
		return
	case errors.As(err, &ve):
		failFields(c, ve.Fields...)
		return
	case errors.Is(err, jobs.ErrDeviceNotFound):
		fail(c, ErrDeviceNotFound, nil)
		return
	case err != nil:
		s.internal(c, "create fidelity check", err)
		return
	}
	s.d.Log.Info("fidelity check created", "id", check.ID, "device", dev.ID, "specs", len(check.Entries))
	c.JSON(http.StatusAccepted, check)
}

// queueFidelity resolves specs, creates one job per spec and runtime on
// the device and stores the cross-check. Bad specs come back as field
// errors (and nothing is created); so does any earlier error the caller
// found (refuse: resolve the specs for their errors, create nothing).
func (s *Server) queueFidelity(ctx context.Context, deviceID string, specs []api.FidelitySpec, w workload.Workload, timeout int, by int64, refuse bool) (api.FidelityCheck, []api.FieldError, error) {
	check := api.FidelityCheck{ID: store.NewFidelityID(), DeviceID: deviceID, Workload: w.Normalize()}
	var errs []api.FieldError
	var reqs []jobs.Request
	names := map[string]bool{}
	for i, fs := range specs {
		spec, ferrs := resolveSpec(fs.Spec, fs.Preset)
		for _, e := range ferrs {
			e.Field = fmt.Sprintf("specs[%d].%s", i, e.Field)
			errs = append(errs, e)
		}
		if spec == nil {
			continue
		}
		name := fs.Name
		if name == "" {
			name = spec.Name
		}
		if name == "" {
			name = fs.Preset
		}
		if name == "" || names[name] {
			name = fmt.Sprintf("%s#%d", name, i)
		}
		names[name] = true
		e := api.FidelityEntry{Name: name, SpecHash: spec.Hash(), Params: spec.Params().Total, Jobs: map[string]string{}}
		for _, rt := range workload.Runtimes {
			jw := w
			jw.Runtime = rt
			reqs = append(reqs, jobs.Request{DeviceID: deviceID, Spec: spec, Workload: jw, TimeoutSeconds: timeout, CreatedBy: by})
		}
		check.Entries = append(check.Entries, e)
	}
	if len(errs) > 0 || refuse {
		return check, errs, nil
	}
	created, err := s.d.Jobs.Create(ctx, reqs, nil)
	if errors.Is(err, jobs.ErrNotPublished) {
		s.d.Log.Warn("fidelity jobs stored but not all published; they will be retried", "err", err)
	} else if err != nil {
		return check, nil, err
	}
	for i, j := range created {
		check.Entries[i/len(workload.Runtimes)].Jobs[j.Workload.RuntimeName()] = j.ID
	}
	if err := s.d.Store.CreateFidelity(ctx, &check, by); err != nil {
		return check, nil, err
	}
	return check, nil, nil
}

// getFidelity answers a cross-check's report; ?with=ID,… adds the specs
// of other cross-checks of the same device and workload (checks run in
// parts, e.g. each under a benchmark lock), so that the correlations cover
// them all.
func (s *Server) getFidelity(c *gin.Context) {
	ctx := c.Request.Context()
	f, byID, err := s.d.Store.GetFidelity(ctx, c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrFidelityNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "get fidelity check", err)
		return
	}
	if with := c.Query("with"); with != "" {
		for _, id := range strings.Split(with, ",") {
			g, more, err := s.d.Store.GetFidelity(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				fail(c, ErrBadQuery, api.FieldError{Field: "with", Message: "no cross-check " + id})
				return
			}
			if err != nil {
				s.internal(c, "get fidelity check", err)
				return
			}
			if g.DeviceID != f.DeviceID || g.Workload.Hash() != f.Workload.Hash() {
				fail(c, ErrBadQuery, api.FieldError{Field: "with", Message: "cross-check " + id + " ran on another device or workload"})
				return
			}
			f.Entries = append(f.Entries, g.Entries...)
			for k, v := range more {
				byID[k] = v
			}
		}
	}
	c.JSON(http.StatusOK, FidelityReport(f, byID))
}

// FidelityReport computes a cross-check's report from its jobs: per spec
// the median of each metric on both runtimes and their ratio (native /
// llama.cpp), and per metric the Spearman rank correlation over the specs
// measured on both.
func FidelityReport(f api.FidelityCheck, jobsByID map[string]api.Job) api.FidelityReport {
	w := f.Workload
	var metrics []string
	for _, l := range w.PromptLengths {
		metrics = append(metrics, fmt.Sprintf("pp%d", l))
	}
	for _, d := range w.DecodeDepths {
		metrics = append(metrics, fmt.Sprintf("tg%d@d%d", w.DecodeTokens, d))
	}
	r := api.FidelityReport{FidelityCheck: f, Done: true, Rows: []api.FidelityRow{}}
	pairs := make([][][2]float64, len(metrics))
	for _, e := range f.Entries {
		row := api.FidelityRow{Name: e.Name, Params: e.Params, States: map[string]api.JobState{}}
		vals := map[string]map[string]float64{}
		for rt, id := range e.Jobs {
			j, ok := jobsByID[id]
			if !ok {
				continue
			}
			row.States[rt] = j.State
			if !j.State.Final() {
				r.Done = false
			}
			if j.Error != nil {
				if row.Errors == nil {
					row.Errors = map[string]string{}
				}
				row.Errors[rt] = *j.Error
			}
			if j.Measurement != nil {
				vals[rt] = figures(j.Measurement)
			}
		}
		for i, m := range metrics {
			fig := api.FidelityFigure{Metric: m}
			if v, ok := vals[workload.RuntimeNative][m]; ok {
				fig.Native = &v
			}
			if v, ok := vals[workload.RuntimeLlamaCpp][m]; ok {
				fig.LlamaCpp = &v
			}
			if fig.Native != nil && fig.LlamaCpp != nil && *fig.LlamaCpp > 0 {
				ratio := *fig.Native / *fig.LlamaCpp
				fig.Ratio = &ratio
				pairs[i] = append(pairs[i], [2]float64{*fig.Native, *fig.LlamaCpp})
			}
			row.Figures = append(row.Figures, fig)
		}
		r.Rows = append(r.Rows, row)
	}
	for i, m := range metrics {
		fm := api.FidelityMetric{Metric: m, N: len(pairs[i])}
		if len(pairs[i]) > 0 {
			a, b := make([]float64, len(pairs[i])), make([]float64, len(pairs[i]))
			ratios := make([]float64, len(pairs[i]))
			for k, p := range pairs[i] {
				a[k], b[k], ratios[k] = p[0], p[1], p[0]/p[1]
			}
			fm.Spearman = Spearman(a, b)
			sort.Float64s(ratios)
			med := ratios[len(ratios)/2]
			if len(ratios)%2 == 0 {
				med = (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
			}
			lo, hi := ratios[0], ratios[len(ratios)-1]
			fm.RatioMedian, fm.RatioMin, fm.RatioMax = &med, &lo, &hi
		}
		r.Metrics = append(r.Metrics, fm)
	}
	return r
}

// figures are a measurement's tokens/s medians by report metric name.
func figures(m *wire.Measurement) map[string]float64 {
	out := map[string]float64{}
	for _, p := range m.Prefill {
		out[fmt.Sprintf("pp%d", p.PromptLength)] = p.TokensPerSec.Median
	}
	for _, d := range m.Decode {
		out[fmt.Sprintf("tg%d@d%d", d.Tokens, d.Depth)] = d.TokensPerSec.Median
	}
	return out
}

// Spearman is the rank correlation of a and b (ties get their mean rank;
// Pearson's correlation of the ranks), or nil below 3 values or when
// either side's ranks do not vary.
func Spearman(a, b []float64) *float64 {
	if len(a) != len(b) || len(a) < 3 {
		return nil
	}
	ra, rb := ranks(a), ranks(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var sab, saa, sbb float64
	for i := range ra {
		sab += (ra[i] - ma) * (rb[i] - mb)
		saa += (ra[i] - ma) * (ra[i] - ma)
		sbb += (rb[i] - mb) * (rb[i] - mb)
	}
	if saa == 0 || sbb == 0 {
		return nil
	}
	rho := sab / math.Sqrt(saa*sbb)
	return &rho
}

// ranks returns the 1-based ranks of x, ties averaged.
func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return x[idx[i]] < x[idx[j]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		mean := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = mean
		}
		i = j + 1
	}
	return r
}
