package httpapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
	"github.com/hilsearch/hilsearch/workload"
)

// guardPresets are the presets a guard cross-checks: the LFM2 references
// that hold the workload's context.
func guardPresets(w workload.Workload) []api.FidelitySpec {
	var out []api.FidelitySpec
	for _, name := range referencePresets() {
		if p, err := arch.Preset(name); err == nil && p.MaxContext >= w.Normalize().MaxContext() {
			out = append(out, api.FidelitySpec{Preset: name, Name: name})
		}
	}
	return out
}

// queueGuard queues the cross-check of a new search's guard on the
// guard's device (or the first device of its targets that offers
// llama.cpp, online ones first) and records it in spec.Guard.CheckID.
// Problems of the request come back as field errors, nothing created.
func (s *Server) queueGuard(ctx context.Context, spec *search.Spec, by int64) ([]api.FieldError, error) {
	g := spec.Guard
	if g.CheckID != "" {
		return []api.FieldError{{Field: "guard.check_id", Message: "set by the coordinator: leave it out"}}, nil
	}
	offers := func(d api.Device) bool {
		return slices.Contains(wire.ProfileRuntimes(d.Profile), workload.RuntimeLlamaCpp)
	}
	var dev *api.Device
	if g.Device != "" {
		d, err := s.d.Store.GetDevice(ctx, g.Device)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && d.RevokedAt != nil):
			return []api.FieldError{{Field: "guard.device", Message: "no live device " + g.Device}}, nil
		case err != nil:
			return nil, err
		case !offers(d):
			return []api.FieldError{{Field: "guard.device", Message: "device " + d.ID + " offers no llama.cpp runtime (its profile lists " + strings.Join(wire.ProfileRuntimes(d.Profile), ", ") + ")"}}, nil
		}
		dev = &d
	} else {
		var cands []api.Device
		for _, t := range spec.Targets {
			devs, err := s.d.Store.MatchDevices(ctx, t.Devices, t.Class, t.Tags)
			if err != nil {
				return nil, err
			}
			for _, d := range devs {
				if offers(d) {
					cands = append(cands, d)
				}
			}
		}
		if len(cands) == 0 {
			return []api.FieldError{{Field: "guard", Message: "no device of the targets offers llama.cpp to cross-check on (name one in guard.device)"}}, nil
		}
		dev = &onlineFirst(cands)[0]
	}
	w := spec.Workload
	w.Runtime = ""
	presets := guardPresets(w)
	if len(presets) < 3 {
		return []api.FieldError{{Field: "guard", Message: fmt.Sprintf("only %d LFM2 presets hold the workload's context; a rank correlation needs 3", len(presets))}}, nil
	}
	check, errs, err := s.queueFidelity(ctx, dev.ID, presets, w, 0, by, false)
	if err != nil || len(errs) > 0 {
		return errs, err
	}
	g.CheckID = check.ID
	s.d.Log.Info("search guard queued", "check", check.ID, "device", dev.ID, "presets", len(presets))
	return nil, nil
}

// guardReport is the state of a stored search's guard, or nil without one.
func (s *Server) guardReport(ctx context.Context, se api.Search) (*api.GuardReport, error) {
	spec, err := s.specs.get(se)
	if err != nil || spec.Guard == nil || spec.Guard.CheckID == "" {
		return nil, nil // a stored spec that does not parse has no guard to show
	}
	f, byID, err := s.d.Store.GetFidelity(ctx, spec.Guard.CheckID)
	if err != nil {
		return nil, err
	}
	rep := FidelityReport(f, byID)
	g := &api.GuardReport{CheckID: f.ID, DeviceID: f.DeviceID, MinSpearman: spec.Guard.MinSpearman, Done: rep.Done, Metrics: rep.Metrics}
	if rep.Done {
		g.Warning = GuardWarning(rep.Metrics, spec.Guard.MinSpearman, f.DeviceID)
	}
	return g, nil
}

// GuardWarning says which metrics' rank correlation is below min or could
// not be computed, or "" when every metric agrees.
func GuardWarning(ms []api.FidelityMetric, min float64, deviceID string) string {
	var bad []string
	for _, m := range ms {
		switch {
		case m.Spearman == nil:
			bad = append(bad, fmt.Sprintf("%s: no rank correlation (%d presets measured on both runtimes)", m.Metric, m.N))
		case *m.Spearman < min:
			bad = append(bad, fmt.Sprintf("%s: Spearman %.2f < %.2f", m.Metric, *m.Spearman, min))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return "the native runtime may rank candidates differently from llama.cpp on device " + deviceID + ": " + strings.Join(bad, "; ")
}
