package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/driver"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
)

// referencePresets are the architectures shown as reference points.
func referencePresets() []string {
	var out []string
	for _, n := range arch.PresetNames() {
		if strings.HasPrefix(n, "lfm2-") {
			out = append(out, n)
		}
	}
	return out
}

// references computes every reference's state; with queue it also creates
// the missing measurement jobs (one per preset and target).
func (s *Server) references(ctx context.Context, se api.Search, queue bool, by int64) ([]api.Reference, int, error) {
	spec, err := s.specs.get(se)
	if err != nil {
		return nil, 0, err
	}
	wl := spec.Workload.Normalize()
	out := []api.Reference{}
	queued := 0
	next := make([]int, len(spec.Targets)) // per target: the device whose turn it is
	for _, name := range referencePresets() {
		p, err := arch.Preset(name)
		if err != nil {
			return nil, 0, err
		}
		ref := api.Reference{Preset: name, Params: p.Params().Total}
		if wl.MaxContext() > p.MaxContext {
			continue
		}
		measured := map[string]search.Values{}
		for ti, t := range spec.Targets {
			devs, err := s.d.Store.MatchDevices(ctx, t.Devices, t.Class, t.Tags)
			if err != nil {
				return nil, 0, err
			}
			var m *wire.Measurement
			for _, d := range devs {
				if m, err = s.d.Store.LatestMeasurement(ctx, p.Hash(), d.ID, wl.Hash()); err != nil {
					return nil, 0, err
				} else if m != nil {
					break
				}
			}
			if m != nil {
				measured[t.Name] = driver.Values(m, spec.Workload)
				continue
			}
			ref.Missing = append(ref.Missing, t.Name)
			if queue && len(devs) > 0 {
				// The references of a target take turns over its online
				// devices (all of them when none is online), so a second
				// matching device does not sit idle.
				pool := onlineFirst(devs)
				dev := pool[next[ti]%len(pool)]
				next[ti]++
				// A job stored but not yet published is published again by the
				// jobs manager: it counts as queued.
				_, err := s.d.Jobs.Create(ctx, []jobs.Request{{DeviceID: dev.ID, Spec: p, Workload: wl, CreatedBy: by}}, nil)
				if err != nil && !errors.Is(err, jobs.ErrNotPublished) {
					return nil, 0, err
				}
				queued++
			}
		}
		if len(ref.Missing) == 0 {
			o, err := spec.Outcome(ref.Params, measured)
			if err == nil {
				ref.Measured, ref.Values, ref.Feasible, ref.Violation = true, o.Values, o.Feasible(), o.Violation
			}
		}
		out = append(out, ref)
	}
	return out, queued, nil
}

func (s *Server) getReferences(c *gin.Context) {
	se, ok := s.loadSearch(c)
	if !ok {
		return
	}
	refs, _, err := s.references(c.Request.Context(), se, false, 0)
	if err != nil {
		s.internal(c, "references", err)
		return
	}
	c.JSON(http.StatusOK, api.ReferenceList{References: refs})
}

func (s *Server) measureReferences(c *gin.Context) {
	se, ok := s.loadSearch(c)
	if !ok {
		return
	}
	refs, queued, err := s.references(c.Request.Context(), se, true, principal(c).ID)
	if err != nil {
		s.internal(c, "measure references", err)
		return
	}
	c.JSON(http.StatusAccepted, api.ReferenceList{References: refs, QueuedJobs: queued})
}

// onlineFirst returns the devices that are not offline, or all of them when
// every one is.
func onlineFirst(devs []api.Device) []api.Device {
	var on []api.Device
	for _, d := range devs {
		if d.Status != api.DeviceOffline {
			on = append(on, d)
		}
	}
	if len(on) == 0 {
		return devs
	}
	return on
}
