package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

// JobRequest is the body of POST /api/v1/devices/{id}/jobs: measure one
// spec (inline, or a preset by name) with a workload on that device.
type JobRequest struct {
	Spec             json.RawMessage   `json:"spec,omitempty"`
	Preset           string            `json:"preset,omitempty"`
	Workload         workload.Workload `json:"workload"`
	TimeoutSeconds   int               `json:"timeout_seconds,omitempty"`
	MemoryLimitBytes int64             `json:"memory_limit_bytes,omitempty"`
}

// workloadErrors checks a workload against the spec it will run
// (workload.Check, the one validator), naming fields under "workload.".
func workloadErrors(w workload.Workload, spec *arch.Spec) []FieldError {
	var errs []FieldError
	w.Check(spec, func(field, msg string) { errs = append(errs, FieldError{"workload." + field, msg}) })
	return errs
}

// resolveSpec turns an inline spec or a preset name into a valid spec.
func resolveSpec(raw json.RawMessage, preset string) (*arch.Spec, []FieldError) {
	switch {
	case len(raw) > 0 && preset != "":
		return nil, []FieldError{{"spec", "give spec or preset, not both"}}
	case preset != "":
		s, err := arch.Preset(preset)
		if err != nil {
			return nil, []FieldError{{"preset", "unknown preset; one of " + strings.Join(arch.PresetNames(), ", ")}}
		}
		return s, nil
	case len(raw) > 0:
		s, err := arch.Parse(raw)
		if err == nil {
			err = s.Validate()
		}
		if err != nil {
			return nil, []FieldError{{"spec", err.Error()}}
		}
		return s, nil
	}
	return nil, []FieldError{{"spec", "required (or preset)"}}
}

func (s *Server) createJob(c *gin.Context) {
	var req JobRequest
	if !decodeJSON(c, &req) {
		return
	}
	spec, errs := resolveSpec(req.Spec, req.Preset)
	errs = append(errs, workloadErrors(req.Workload, spec)...)
	if req.TimeoutSeconds < 0 || req.TimeoutSeconds > 24*3600 {
		errs = append(errs, FieldError{"timeout_seconds", "must be between 0 (agent default) and 86400"})
	}
	if req.MemoryLimitBytes < 0 {
		errs = append(errs, FieldError{"memory_limit_bytes", "must not be negative"})
	}
	if len(errs) > 0 {
		failFields(c, errs...)
		return
	}
	specJSON, err := spec.JSON()
	if err != nil {
		s.internal(c, "encode spec", err)
		return
	}
	w := req.Workload.Normalize()
	ctx := c.Request.Context()
	job, err := s.d.Store.CreateJob(ctx, store.Job{
		ID: store.NewJobID(), DeviceID: c.Param("id"), Kind: wire.JobKindMeasure,
		Spec: specJSON, SpecHash: spec.Hash(), Workload: w, WorkloadHash: w.Hash(),
		TimeoutS: req.TimeoutSeconds, MemoryLimit: req.MemoryLimitBytes,
	}, principal(c).ID)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrDeviceNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "create job", err)
		return
	}
	if err := s.d.PublishJob(ctx, job); err != nil {
		// The job stays queued; the coordinator re-publishes unpublished
		// jobs at start, and JetStream de-duplicates by job ID.
		s.d.Log.Error("publish job", "job", job.ID, "err", err)
		fail(c, ErrUnavailable, FieldError{"job", "stored as " + job.ID + " but not yet published; it will be at the next start"})
		return
	}
	c.JSON(http.StatusAccepted, job)
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
