package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// resolveSpec turns an inline spec or a preset name into a valid spec.
func resolveSpec(raw json.RawMessage, preset string) (*arch.Spec, []api.FieldError) {
	switch {
	case len(raw) > 0 && preset != "":
		return nil, []api.FieldError{{Field: "spec", Message: "give spec or preset, not both"}}
	case preset != "":
		s, err := arch.Preset(preset)
		if err != nil {
			return nil, []api.FieldError{{Field: "preset", Message: "unknown preset; one of " + strings.Join(arch.PresetNames(), ", ")}}
		}
		return s, nil
	case len(raw) > 0:
		s, err := arch.Parse(raw)
		if err == nil {
			err = s.Validate()
		}
		if err != nil {
			return nil, []api.FieldError{{Field: "spec", Message: err.Error()}}
		}
		return s, nil
	}
	return nil, []api.FieldError{{Field: "spec", Message: "required (or preset)"}}
}

func (s *Server) createJob(c *gin.Context) {
	var req api.JobRequest
	if !decodeJSON(c, &req) {
		return
	}
	spec, errs := resolveSpec(req.Spec, req.Preset)
	key := c.GetHeader("Idempotency-Key")
	if msg := checkIdempotencyKey(key); msg != "" {
		errs = append(errs, api.FieldError{Field: "Idempotency-Key", Message: msg})
		if spec != nil {
			failFields(c, errs...)
			return
		}
	}
	r := jobs.Request{DeviceID: c.Param("id"), Spec: spec, Workload: req.Workload,
		TimeoutSeconds: req.TimeoutSeconds, MemoryLimitBytes: req.MemoryLimitBytes, CreatedBy: principal(c).ID, IdempotencyKey: key}
	if spec == nil {
		// Report every problem at once: the spec's, and the rest of the
		// request's (the workload checked without the spec).
		failFields(c, append(errs, r.Check()...)...)
		return
	}
	if dev, err := s.d.Store.GetDevice(c.Request.Context(), r.DeviceID); err == nil {
		if rt := req.Workload.RuntimeName(); !slices.Contains(wire.ProfileRuntimes(dev.Profile), rt) {
			failFields(c, api.FieldError{Field: "workload.runtime", Message: "device " + dev.ID + " offers no runtime " + rt + " (its profile lists " +
				strings.Join(wire.ProfileRuntimes(dev.Profile), ", ") + ")"})
			return
		}
	}
	created, err := s.d.Jobs.Create(c.Request.Context(), []jobs.Request{r}, nil)
	var ve *jobs.ValidationError
	switch {
	case errors.As(err, &ve):
		failFields(c, ve.Fields...)
	case errors.Is(err, jobs.ErrReplayed):
		// Asked again with the key of a job stored before (its answer
		// was lost): that job, not a second one.
		c.Header("Idempotent-Replayed", "true")
		c.JSON(http.StatusOK, created[0])
	case errors.Is(err, jobs.ErrIdempotencyKeyReused):
		fail(c, ErrIdempotencyReused, api.FieldError{Field: "Idempotency-Key", Message: err.Error()})
	case errors.Is(err, jobs.ErrDeviceNotFound):
		fail(c, ErrDeviceNotFound, nil)
	case errors.Is(err, jobs.ErrNotPublished):
		// The job stays queued; the jobs manager publishes it again shortly,
		// and JetStream de-duplicates by job ID.
		s.d.Log.Error("publish job", "job", created[0].ID, "err", err)
		e := ErrUnavailable
		if atCapacity(err) {
			e = ErrCapacity
		}
		fail(c, e, api.FieldError{Field: "job", Message: "stored as " + created[0].ID + " but not yet published; it will be retried"})
	case err != nil:
		s.internal(c, "create job", err)
	default:
		c.JSON(http.StatusAccepted, created[0])
	}
}

// checkIdempotencyKey says what is wrong with an Idempotency-Key header
// ("" when it is absent or fine): 1 to 200 printable ASCII characters.
func checkIdempotencyKey(key string) string {
	if len(key) > 200 {
		return "at most 200 characters"
	}
	for _, r := range key {
		if r < 0x21 || r > 0x7e {
			return "printable ASCII characters only (no spaces)"
		}
	}
	return ""
}

func (s *Server) getJob(c *gin.Context) {
	j, err := s.d.Store.GetJob(c.Request.Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrJobNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "get job", err)
		return
	}
	c.JSON(http.StatusOK, j)
}
