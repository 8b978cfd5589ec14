package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/driver"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
	"github.com/hilsearch/hilsearch/workload"
)

// Drivers is what the API needs of the search drivers.
type Drivers interface {
	// Wake makes drivers re-check now.
	Wake()
	// Kick starts driving a search now if no coordinator does.
	Kick(id string)
}

// readSearchBody reads a search spec body (≤ MaxBody) and parses it.
func (s *Server) readSearchBody(c *gin.Context) (*search.Spec, bool) {
	body, ok := readBody(c)
	if !ok {
		return nil, false
	}
	spec, err := search.Parse(body)
	var ve *search.ValidationError
	switch {
	case errors.As(err, &ve):
		fail(c, ErrSearchInvalid, fieldErrors(ve.Fields))
		return nil, false
	case err != nil:
		fail(c, ErrSearchInvalid, []api.FieldError{{Message: err.Error()}})
		return nil, false
	}
	errs, err := s.resolveScores(c, spec)
	if err != nil {
		s.internal(c, "look evaluators up", err)
		return nil, false
	}
	if len(errs) > 0 {
		fail(c, ErrSearchInvalid, errs)
		return nil, false
	}
	return spec, true
}

// resolveScores checks the spec's "<score>@<evaluator>" references
// against the registered evaluators and sets their default directions.
func (s *Server) resolveScores(c *gin.Context, spec *search.Spec) ([]api.FieldError, error) {
	if len(spec.ScoreRefs()) == 0 {
		return nil, nil
	}
	if s.d.Evals == nil {
		return []api.FieldError{{Field: "objectives", Message: "this coordinator runs no evaluation manager, so no <score>@<evaluator> can be used"}}, nil
	}
	lookup, err := s.d.Evals.Lookup(c.Request.Context())
	if err != nil {
		return nil, err
	}
	return fieldErrors(spec.ResolveScores(lookup)), nil
}

// fieldErrors are a search spec's validation errors as the API's.
func fieldErrors(fs []search.FieldError) []api.FieldError {
	out := make([]api.FieldError, len(fs))
	for i, f := range fs {
		out[i] = api.FieldError{Field: f.Field, Message: f.Message}
	}
	return out
}

// checkTargets reports targets that match no live device, and targets
// none of whose devices offers the workload's runtime (a device's profile
// lists its runtimes; wire.ProfileRuntimes).
func (s *Server) checkTargets(ctx context.Context, spec *search.Spec) ([]api.FieldError, error) {
	var errs []api.FieldError
	rt := spec.Workload.RuntimeName()
	for i, t := range spec.Targets {
		devs, err := s.d.Store.MatchDevices(ctx, t.Devices, t.Class, t.Tags)
		if err != nil {
			return nil, err
		}
		if len(devs) == 0 {
			errs = append(errs, api.FieldError{Field: fmt.Sprintf("targets[%d]", i), Message: "no enrolled device matches this target"})
		}
		offers := 0
		for j, id := range t.Devices {
			found := false
			for _, d := range devs {
				found = found || d.ID == id
			}
			if !found {
				errs = append(errs, api.FieldError{Field: fmt.Sprintf("targets[%d].devices[%d]", i, j), Message: "no live device " + id})
			}
		}
		for _, d := range devs {
			if slices.Contains(wire.ProfileRuntimes(d.Profile), rt) {
				offers++
			}
		}
		if len(devs) > 0 && offers == 0 {
			errs = append(errs, api.FieldError{Field: fmt.Sprintf("targets[%d]", i),
				Message: fmt.Sprintf("target %q: no matching device offers runtime %s (workload.runtime); its agent must find a llama-bench (when it enrolls or starts)", t.Name, rt)})
		}
	}
	return errs, nil
}

// offlineTargets returns the targets that no online device matches, each
// with a sentence for people.
func (s *Server) offlineTargets(ctx context.Context, spec *search.Spec) (names, warnings []string, err error) {
	for _, t := range spec.Targets {
		devs, err := s.d.Store.MatchDevices(ctx, t.Devices, t.Class, t.Tags)
		if err != nil {
			return nil, nil, err
		}
		var offline []string
		for _, d := range devs {
			if d.Status == api.DeviceOffline {
				offline = append(offline, d.ID)
			}
		}
		if len(devs) > 0 && len(offline) == len(devs) {
			names = append(names, t.Name)
			warnings = append(warnings, fmt.Sprintf("target %s: every matching device is offline (%s); its trials will wait for a device of target %s", t.Name, strings.Join(offline, ", "), t.Name))
		}
	}
	return names, warnings, nil
}

// energyWarnings warns, for each target an energy metric refers to, about
// the matching devices whose newest measurement had no energy figure (the
// profile does not say whether a device has an energy source; a device's
// last measurement does): their trials would fail with that reason.
func (s *Server) energyWarnings(ctx context.Context, spec *search.Spec) ([]string, error) {
	uses := map[string]bool{}
	for r := range spec.MetricRefs {
		if r.Metric.Energy() {
			uses[r.Target] = true
		}
	}
	var out []string
	for _, t := range spec.Targets {
		if !uses[t.Name] {
			continue
		}
		devs, err := s.d.Store.MatchDevices(ctx, t.Devices, t.Class, t.Tags)
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			e, err := s.d.Store.LastEnergy(ctx, d.ID)
			if err != nil {
				return nil, err
			}
			if e != nil && e.MJPerToken == nil {
				out = append(out, fmt.Sprintf("target %s: device %s reported no energy in its last measurement (%s); its trials on energy metrics will fail", t.Name, d.ID, e.Unavailable))
			}
		}
	}
	return out, nil
}

// withWaiting fills WaitingFor of running searches.
func (s *Server) withWaiting(ctx context.Context, ss []api.Search) error {
	for i := range ss {
		if ss[i].State != api.SearchRunning {
			continue
		}
		spec, err := s.specs.get(ss[i])
		if err != nil {
			continue // a spec that no longer parses is reported by the driver
		}
		names, _, err := s.offlineTargets(ctx, spec)
		if err != nil {
			return err
		}
		ss[i].WaitingFor = names
	}
	return nil
}

func (s *Server) createSearch(c *gin.Context) {
	spec, ok := s.readSearchBody(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	errs, err := s.checkTargets(ctx, spec)
	if err != nil {
		s.internal(c, "check targets", err)
		return
	}
	if len(errs) == 0 && spec.Guard != nil {
		if errs, err = s.queueGuard(ctx, spec, principal(c).ID); err != nil {
			s.internal(c, "queue the search guard", err)
			return
		}
	}
	if len(errs) > 0 {
		fail(c, ErrSearchInvalid, errs)
		return
	}
	data, err := json.Marshal(spec)
	if err != nil {
		s.internal(c, "encode search", err)
		return
	}
	name := spec.Name
	if name == "" {
		name = fmt.Sprintf("%s search %s", spec.Algorithm, time.Now().UTC().Format("2006-01-02 15:04"))
	}
	se, err := s.d.Store.CreateSearch(ctx, store.NewSearchID(), name, data, principal(c).ID)
	if err != nil {
		s.internal(c, "create search", err)
		return
	}
	s.d.Log.Info("search created", "search", se.ID, "algorithm", spec.Algorithm, "max_trials", spec.Budget.MaxTrials)
	s.d.Events.Publish(api.SearchEvent{ID: se.ID, State: se.State})
	if s.d.Drivers != nil {
		s.d.Drivers.Kick(se.ID)
	}
	c.JSON(http.StatusCreated, se)
}

// validateSearch checks a spec without creating anything and previews the
// parameter counts of the space's extremes (for the dashboard form).
func (s *Server) validateSearch(c *gin.Context) {
	body, ok := readBody(c)
	if !ok {
		return
	}
	spec, err := search.Parse(body)
	var ve *search.ValidationError
	if errors.As(err, &ve) {
		c.JSON(http.StatusOK, api.SearchPreview{Errors: fieldErrors(ve.Fields)})
		return
	}
	if err != nil {
		c.JSON(http.StatusOK, api.SearchPreview{Errors: []api.FieldError{{Message: err.Error()}}})
		return
	}
	serrs, err := s.resolveScores(c, spec)
	if err != nil {
		s.internal(c, "look evaluators up", err)
		return
	}
	errs, err := s.checkTargets(c.Request.Context(), spec)
	if err != nil {
		s.internal(c, "check targets", err)
		return
	}
	errs = append(serrs, errs...)
	_, warnings, err := s.offlineTargets(c.Request.Context(), spec)
	if err != nil {
		s.internal(c, "check targets", err)
		return
	}
	ew, err := s.energyWarnings(c.Request.Context(), spec)
	if err != nil {
		s.internal(c, "check targets", err)
		return
	}
	warnings = append(warnings, ew...)
	p := api.SearchPreview{Valid: len(errs) == 0, Errors: errs, Spec: spec, Warnings: warnings}
	p.ParamsMin, p.ParamsMax, _ = spec.Space.ParamRange()
	for _, sh := range spec.Space.ExportShares() {
		p.Exportable = append(p.Exportable, api.ExportShare{Format: string(sh.Format), Share: sh.Share, Sampled: sh.Admissible, Reason: sh.Reason})
	}
	c.JSON(http.StatusOK, p)
}

func (s *Server) searchPresets(c *gin.Context) {
	out := map[string]search.Space{}
	for _, n := range search.PresetNames() {
		sp, err := search.SpacePreset(n)
		if err != nil {
			s.internal(c, "preset", err)
			return
		}
		out[n] = sp
	}
	c.JSON(http.StatusOK, api.SearchPresets{Spaces: out, ArchPresets: arch.PresetNames()})
}

func (s *Server) listSearches(c *gin.Context) {
	rt := c.Query("runtime")
	if rt != "" && !slices.Contains(workload.Runtimes, rt) {
		fail(c, ErrBadQuery, api.FieldError{Field: "runtime", Message: fmt.Sprintf("unknown runtime %q (one of %s)", rt, strings.Join(workload.Runtimes, ", "))})
		return
	}
	ss, err := s.d.Store.ListSearches(c.Request.Context())
	if err != nil {
		s.internal(c, "list searches", err)
		return
	}
	if rt != "" {
		// ?runtime= keeps the searches whose workload names it.
		ss = slices.DeleteFunc(ss, func(se api.Search) bool { return searchRuntime(se) != rt })
	}
	if err := s.withWaiting(c.Request.Context(), ss); err != nil {
		s.internal(c, "match devices", err)
		return
	}
	c.JSON(http.StatusOK, api.SearchList{Searches: ss})
}

// searchRuntime is the runtime a stored search's workload names (native
// when unset or when the stored spec does not parse).
func searchRuntime(se api.Search) string {
	var sp struct {
		Workload workload.Workload `json:"workload"`
	}
	_ = json.Unmarshal(se.Spec, &sp)
	return sp.Workload.RuntimeName()
}

func (s *Server) loadSearch(c *gin.Context) (api.Search, bool) {
	se, err := s.d.Store.GetSearch(c.Request.Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrSearchNotFound, nil)
		return se, false
	}
	if err != nil {
		s.internal(c, "get search", err)
		return se, false
	}
	return se, true
}

func (s *Server) getSearch(c *gin.Context) {
	if se, ok := s.loadSearch(c); ok {
		ss := []api.Search{se}
		if err := s.withWaiting(c.Request.Context(), ss); err != nil {
			s.internal(c, "match devices", err)
			return
		}
		g, err := s.guardReport(c.Request.Context(), se)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.internal(c, "search guard", err)
			return
		}
		ss[0].Guard = g
		if ss[0].Redispatches, err = s.d.Store.Redispatches(c.Request.Context(), se.ID); err != nil {
			s.internal(c, "search re-dispatches", err)
			return
		}
		sv, err := s.d.Store.ScreeningSavings(c.Request.Context(), se.ID)
		if err != nil {
			s.internal(c, "screening savings", err)
			return
		}
		ss[0].Savings = &sv
		c.JSON(http.StatusOK, ss[0])
	}
}

func (s *Server) transition(from []api.SearchState, to api.SearchState) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Param("id")
		err := s.d.Store.SetSearchState(c.Request.Context(), id, from, to, "")
		switch {
		case errors.Is(err, store.ErrNotFound):
			fail(c, ErrSearchNotFound, nil)
			return
		case errors.Is(err, store.ErrStateConflict):
			se, _ := s.d.Store.GetSearch(c.Request.Context(), id)
			fail(c, ErrSearchState, api.SearchStateConflict{State: se.State, AllowedFrom: from})
			return
		case err != nil:
			s.internal(c, "search state", err)
			return
		}
		s.d.Events.Publish(api.SearchEvent{ID: id, State: to})
		if s.d.Drivers != nil {
			s.d.Drivers.Wake()
			if to == api.SearchRunning {
				s.d.Drivers.Kick(id)
			}
		}
		se, ok := s.loadSearch(c)
		if ok {
			c.JSON(http.StatusOK, se)
		}
	}
}

func (s *Server) listTrials(c *gin.Context) {
	se, ok := s.loadSearch(c)
	if !ok {
		return
	}
	q := api.TrialQuery{State: api.TrialState(c.Query("state")), Mixer: c.Query("mixer"), Sort: c.DefaultQuery("sort", "number"), Limit: 50}
	var errs []api.FieldError
	switch q.State {
	case "", "running", "complete", "failed":
	default:
		errs = append(errs, api.FieldError{Field: "state", Message: "must be running, complete or failed"})
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			errs = append(errs, api.FieldError{Field: "limit", Message: "must be between 1 and 1000"})
		}
		q.Limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, api.FieldError{Field: "offset", Message: "must be a non-negative integer"})
		}
		q.Offset = n
	}
	if len(errs) > 0 {
		fail(c, ErrBadQuery, errs)
		return
	}
	trials, total, err := s.d.Store.ListTrials(c.Request.Context(), se.ID, q)
	if errors.Is(err, store.ErrBadSort) {
		fail(c, ErrBadQuery, api.FieldError{Field: "sort", Message: "number, params, created_at or objective:<i>, optionally prefixed by -"})
		return
	}
	if err != nil {
		s.internal(c, "list trials", err)
		return
	}
	if len(trials) > 0 {
		evs, err := s.d.Store.TrialEvaluations(c.Request.Context(), se.ID, -1)
		if err != nil {
			s.internal(c, "list evaluations", err)
			return
		}
		for i := range trials {
			trials[i].Evaluations = evs[trials[i].Number]
		}
	}
	// Ranks need every complete trial of the search; a page without a
	// complete trial needs none.
	if slices.ContainsFunc(trials, func(t api.Trial) bool { return t.State == api.TrialComplete }) {
		ranks, ok := s.trialRanks(c, se)
		if !ok {
			return
		}
		for i := range trials {
			if r, ok := ranks[trials[i].Number]; ok {
				trials[i].Rank = &r
			}
		}
	}
	c.JSON(http.StatusOK, api.TrialPage{Trials: trials, Total: total, Limit: q.Limit, Offset: q.Offset})
}

// trialNumberRule says what a trial number is: trials are numbered in a
// PostgreSQL int, so anything beyond its range names no trial.
const trialNumberRule = "a trial number: an integer between 0 and 2147483647"

// trialNumber parses a trial number in the range trials are stored in.
func trialNumber(s string) (int, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err == nil && n >= 0
}

// trialRanks returns the front number of every complete trial of a
// search, by trial number (search.Spec.Ranks).
func (s *Server) trialRanks(c *gin.Context, se api.Search) (map[int]int, bool) {
	spec, pts, res, ok := s.searchResults(c, se)
	if !ok {
		return nil, false
	}
	out := make(map[int]int, len(pts))
	for i, r := range spec.Ranks(res) {
		out[pts[i].Number] = r
	}
	return out, true
}

// exportChecks says which export formats can express a stored
// architecture (arch.Exportable per format).
func exportChecks(stored json.RawMessage) []api.ExportCheck {
	out := make([]api.ExportCheck, 0, len(arch.Formats))
	spec, err := arch.Parse(stored)
	for _, f := range arch.Formats {
		ch := api.ExportCheck{Format: string(f), Exportable: true}
		e := err
		if e == nil {
			e = arch.Exportable(spec, f)
		}
		if e != nil {
			ch.Exportable, ch.Reason = false, e.Error()
		}
		out = append(out, ch)
	}
	return out
}

// loadTrial reads trial n of a search, or writes the error response and
// returns false.
func (s *Server) loadTrial(c *gin.Context, searchID string, n int) (api.Trial, bool) {
	t, err := s.d.Store.GetTrial(c.Request.Context(), searchID, n)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrTrialNotFound, nil)
		return t, false
	}
	if err != nil {
		s.internal(c, "get trial", err)
		return t, false
	}
	return t, true
}

func (s *Server) getTrial(c *gin.Context) {
	se, ok := s.loadSearch(c)
	if !ok {
		return
	}
	n, ok := trialNumber(c.Param("number"))
	if !ok {
		fail(c, ErrBadPath, api.FieldError{Field: "number", Message: trialNumberRule})
		return
	}
	t, ok := s.loadTrial(c, se.ID, n)
	if !ok {
		return
	}
	if t.State == api.TrialComplete {
		ranks, ok := s.trialRanks(c, se)
		if !ok {
			return
		}
		if r, ok := ranks[t.Number]; ok {
			t.Rank = &r
		}
	}
	t.Exports = exportChecks(t.Arch)
	c.JSON(http.StatusOK, t)
}

func (s *Server) searchResults(c *gin.Context, se api.Search) (*search.Spec, []store.TrialPoint, []search.Result, bool) {
	spec, ok := s.searchSpec(c, se)
	if !ok {
		return nil, nil, nil, false
	}
	pts, err := s.d.Store.CompletePoints(c.Request.Context(), se.ID)
	if err != nil {
		s.internal(c, "trial points", err)
		return nil, nil, nil, false
	}
	return spec, pts, driver.Results(pts), true
}

func (s *Server) pareto(c *gin.Context) {
	se, ok := s.loadSearch(c)
	if !ok {
		return
	}
	spec, pts, res, ok := s.searchResults(c, se)
	if !ok {
		return
	}
	view := api.ParetoView{Objectives: spec.Objectives, Points: make([]api.ParetoPoint, len(pts)), Front: []int{}, RecommendedRule: search.RecommendRule}
	ranks := spec.Ranks(res)
	for i, p := range pts {
		view.Points[i] = api.ParetoPoint{Trial: p.Number, Values: p.Objectives, Std: p.Std, Remeasured: p.Remeasured, Feasible: p.Violation == 0, Violation: p.Violation, Rank: ranks[i], Params: p.Params, Layers: p.Layers}
	}
	front := spec.Front(res)
	for _, i := range front {
		view.Points[i].Front = true
		view.Front = append(view.Front, pts[i].Number)
	}
	if i := spec.Recommend(res); i >= 0 {
		n := pts[i].Number
		view.Recommended = &n
		view.Points[i].Recommended = true
	}
	archs, err := s.d.Store.TrialArchs(c.Request.Context(), se.ID, view.Front)
	if err != nil {
		s.internal(c, "front architectures", err)
		return
	}
	for _, i := range front {
		view.Points[i].Exports = exportChecks(archs[pts[i].Number])
	}
	c.JSON(http.StatusOK, view)
}

func (s *Server) hypervolume(c *gin.Context) {
	se, ok := s.loadSearch(c)
	if !ok {
		return
	}
	spec, pts, res, ok := s.searchResults(c, se)
	if !ok {
		return
	}
	outs := make([]search.Outcome, len(res))
	for i, r := range res {
		outs[i] = r.Outcome
	}
	view := api.HypervolumeView{Reference: spec.ReferencePoint(outs), History: []api.HypervolumePoint{}}
	if view.Reference != nil {
		view.Box = spec.HypervolumeBox(res, view.Reference)
		for i, hv := range spec.HypervolumeHistory(res, view.Reference) {
			p := api.HypervolumePoint{Trial: pts[i].Number, Complete: i + 1, Hypervolume: hv}
			if view.Box > 0 {
				p.Fraction = min(1, hv/view.Box)
			}
			view.History = append(view.History, p)
		}
	}
	c.JSON(http.StatusOK, view)
}

func (s *Server) export(c *gin.Context) {
	se, ok := s.loadSearch(c)
	if !ok {
		return
	}
	format := c.Query("format")
	if format == "csv" {
		s.exportCSV(c, se)
		return
	}
	var errs []api.FieldError
	switch format {
	case "json", "hf", "gguf":
	default:
		errs = append(errs, api.FieldError{Field: "format", Message: "must be json, hf, gguf or csv"})
	}
	n, ok := trialNumber(c.Query("trial"))
	if !ok {
		errs = append(errs, api.FieldError{Field: "trial", Message: "required for json, hf and gguf: " + trialNumberRule})
	}
	prec := arch.Precision(c.DefaultQuery("precision", "f16"))
	if !prec.Valid() {
		errs = append(errs, api.FieldError{Field: "precision", Message: "must be f32, f16, q8_0 or q4_0"})
	}
	if len(errs) > 0 {
		fail(c, ErrBadQuery, errs)
		return
	}
	t, ok := s.loadTrial(c, se.ID, n)
	if !ok {
		return
	}
	spec, err := arch.Parse(t.Arch)
	if err != nil {
		s.internal(c, "stored arch", err)
		return
	}
	if format != "json" {
		if err := arch.Exportable(spec, arch.Format(format)); err != nil {
			fail(c, ErrNotExportable, err.Error())
			return
		}
	}
	base := fmt.Sprintf("%s-trial-%d", se.ID, n)
	switch format {
	case "json":
		c.Header("Content-Disposition", `attachment; filename="`+base+`.json"`)
		c.Data(http.StatusOK, "application/json", t.Arch)
	case "hf":
		data, err := spec.HFConfig()
		if err != nil {
			fail(c, ErrNotExportable, err.Error())
			return
		}
		c.Header("Content-Disposition", `attachment; filename="config.json"`)
		c.Data(http.StatusOK, "application/json", data)
	case "gguf":
		var buf bytes.Buffer
		if err := spec.WriteGGUF(&buf, prec, 1); err != nil {
			fail(c, ErrNotExportable, err.Error())
			return
		}
		c.Header("Content-Disposition", `attachment; filename="`+base+`-`+string(prec)+`.gguf"`)
		c.Data(http.StatusOK, "application/octet-stream", buf.Bytes())
	}
}

// exportCSV writes every trial, one row each: its state, size, layers,
// the runtime that measured it (the search workload's), feasibility, front
// rank (0 = on the Pareto front) and recommendation, the formats that can
// export it, its objective values (params only once) and the values of the
// constraints' metrics. Numbers carry at most 10 significant digits, so
// arithmetic noise (0.17667850000000002) does not reach the file.
func (s *Server) exportCSV(c *gin.Context, se api.Search) {
	spec, pts, res, ok := s.searchResults(c, se)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	trials, _, err := s.d.Store.ListTrials(ctx, se.ID, api.TrialQuery{Limit: 1 << 20})
	if err != nil {
		s.internal(c, "list trials", err)
		return
	}
	evs, err := s.d.Store.TrialEvaluations(ctx, se.ID, -1)
	if err != nil {
		s.internal(c, "list evaluations", err)
		return
	}
	// One column per score of every evaluator the search uses
	// ("<score>@<evaluator>"), whether or not an objective names it.
	var scoreCols []search.ScoreRef
	for _, t := range trials {
		for _, e := range evs[t.Number] {
			for k := range e.Scores {
				if r := (search.ScoreRef{Score: k, Evaluator: e.Evaluator}); !slices.Contains(scoreCols, r) {
					scoreCols = append(scoreCols, r)
				}
			}
		}
	}
	slices.SortFunc(scoreCols, func(a, b search.ScoreRef) int {
		return strings.Compare(a.Evaluator+"\x00"+a.Score, b.Evaluator+"\x00"+b.Score)
	})
	for i := range trials {
		trials[i].Evaluations = evs[trials[i].Number]
	}
	rank := map[int]int{}
	for i, r := range spec.Ranks(res) {
		rank[pts[i].Number] = r
	}
	recommended := -1
	if i := spec.Recommend(res); i >= 0 {
		recommended = pts[i].Number
	}
	var targets map[int][]api.TrialTarget
	if len(spec.Constraints) > 0 {
		if targets, err = s.d.Store.TrialTargets(ctx, se.ID, api.TrialComplete, -1); err != nil {
			s.internal(c, "trial measurements", err)
			return
		}
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+se.ID+`-trials.csv"`)
	w := csv.NewWriter(c.Writer)
	head := []string{"trial", "state", "params", "layers", "arch_hash", "runtime", "feasible", "violation", "on_front", "rank", "recommended", "exports"}
	var objCols []int // objectives with a column: params is one already
	for i, o := range spec.Objectives {
		if o.Metric == string(search.MetricParams) {
			continue
		}
		objCols = append(objCols, i)
		head = append(head, search.MetricLabel(o.Metric, o.At))
	}
	for _, k := range spec.Constraints {
		bound := ""
		if k.Min != nil {
			bound += " min " + csvFloat(*k.Min)
		}
		if k.Max != nil {
			bound += " max " + csvFloat(*k.Max)
		}
		head = append(head, "constraint "+search.MetricLabel(k.Metric, k.At)+bound)
	}
	for _, r := range scoreCols {
		head = append(head, r.Score+"@"+r.Evaluator)
	}
	head = append(head, "error")
	_ = w.Write(head)
	for _, t := range trials {
		row := []string{strconv.Itoa(t.Number), string(t.State), strconv.FormatInt(t.Params, 10), strings.Join(t.Layers, " "), t.ArchHash,
			spec.Workload.RuntimeName(), "", "", "", "", strconv.FormatBool(t.Number == recommended), ""}
		if t.Violation != nil {
			row[6] = strconv.FormatBool(*t.Violation == 0)
			row[7] = csvFloat(*t.Violation)
		}
		if r, ok := rank[t.Number]; ok {
			row[8], row[9] = strconv.FormatBool(r == 0), strconv.Itoa(r)
		}
		var formats []string
		for _, ch := range exportChecks(t.Arch) {
			if ch.Exportable {
				formats = append(formats, ch.Format)
			}
		}
		row[11] = strings.Join(formats, " ")
		for _, i := range objCols {
			v := ""
			if i < len(t.Objectives) {
				v = csvFloat(t.Objectives[i])
			}
			row = append(row, v)
		}
		if len(spec.Constraints) > 0 {
			vals := constraintValues(spec, t, targets[t.Number])
			for i := range spec.Constraints {
				v := ""
				if vals != nil {
					v = csvFloat(vals[i])
				}
				row = append(row, v)
			}
		}
		for _, r := range scoreCols {
			v := ""
			for _, e := range t.Evaluations {
				if x, ok := e.Scores[r.Score]; ok && e.Evaluator == r.Evaluator {
					v = csvFloat(x)
				}
			}
			row = append(row, v)
		}
		e := ""
		if t.Error != nil {
			e = *t.Error
		}
		_ = w.Write(append(row, e))
	}
	w.Flush()
}

// constraintValues reads a complete trial's constraint metrics from its
// measurements; nil when the trial is not complete or a value is missing.
func constraintValues(spec *search.Spec, t api.Trial, tts []api.TrialTarget) []float64 {
	if t.State != api.TrialComplete {
		return nil
	}
	measured := map[string]search.Values{}
	for _, tt := range tts {
		if tt.Measurement != nil {
			measured[tt.Target] = driver.Values(tt.Measurement, spec.Workload)
		}
	}
	for _, e := range t.Evaluations {
		if e.State == api.EvalAnswered {
			measured[e.Evaluator] = driver.ScoreValues(e)
		}
	}
	vals, err := spec.ConstraintValues(t.Params, measured)
	if err != nil {
		return nil
	}
	return vals
}

// csvFloat formats a number with at most 10 significant digits.
func csvFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', 10, 64)
}

// events streams live updates as Server-Sent Events (trial, search, job,
// device). A keep-alive comment is sent every 15 s.
func (s *Server) events(c *gin.Context) {
	ch, cancel := s.d.Events.Subscribe()
	defer cancel()
	w := c.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	w.Flush()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case e, ok := <-ch:
			if !ok {
				return
			}
			data, _ := json.Marshal(e.Data)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, data)
		}
		w.Flush()
	}
}

// screened serves the candidates predictor screening left out, by round.
func (s *Server) screened(c *gin.Context) {
	se, ok := s.loadSearch(c)
	if !ok {
		return
	}
	list, err := s.d.Store.ListScreened(c.Request.Context(), se.ID)
	if err != nil {
		s.internal(c, "list screened", err)
		return
	}
	if list == nil {
		list = []api.ScreenedCandidate{}
	}
	c.JSON(http.StatusOK, api.ScreenedList{Screened: list})
}
