package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// JobRequest is the body of POST /api/v1/devices/{id}/jobs: measure one
// spec (inline, or a preset by name) with a workload on that device.
type JobRequest struct {
	Spec             json.RawMessage `json:"spec,omitempty"`
	Preset           string          `json:"preset,omitempty"`
	Workload         wire.Workload   `json:"workload"`
	TimeoutSeconds   int             `json:"timeout_seconds,omitempty"`
	MemoryLimitBytes int64           `json:"memory_limit_bytes,omitempty"`
}

// Workload limits that keep one job bounded.
const (
	maxThreads      = 256
	maxRepetitions  = 100
	maxDecodeTokens = 4096
	maxLengths      = 8
)

// ValidateWorkload checks a workload against the spec it will run, naming
// fields under prefix.
func ValidateWorkload(prefix string, w wire.Workload, spec *arch.Spec) []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{prefix + field, fmt.Sprintf(format, args...)})
	}
	if !arch.Precision(w.Precision).Valid() {
		add("precision", "must be one of f32, f16, q8_0, q4_0")
	}
	if w.KVType != "" && w.KVType != "f16" && w.KVType != "f32" {
		add("kv_type", "must be f16 or f32")
	}
	if w.Threads < 1 || w.Threads > maxThreads {
		add("threads", "must be between 1 and %d", maxThreads)
	}
	if len(w.PromptLengths) == 0 && len(w.DecodeDepths) == 0 {
		add("prompt_lengths", "give prompt lengths and/or decode depths")
	}
	if len(w.PromptLengths) > maxLengths || len(w.DecodeDepths) > maxLengths {
		add("prompt_lengths", "at most %d prompt lengths and %d decode depths", maxLengths, maxLengths)
	}
	for i, l := range w.PromptLengths {
		if l < 1 {
			add(fmt.Sprintf("prompt_lengths[%d]", i), "must be at least 1")
		}
	}
	for i, d := range w.DecodeDepths {
		if d < 0 {
			add(fmt.Sprintf("decode_depths[%d]", i), "must not be negative")
		}
	}
	if len(w.DecodeDepths) > 0 && (w.DecodeTokens < 1 || w.DecodeTokens > maxDecodeTokens) {
		add("decode_tokens", "must be between 1 and %d when decode depths are given", maxDecodeTokens)
	}
	if w.Repetitions < 0 || w.Repetitions > maxRepetitions {
		add("repetitions", "must be between 1 and %d", maxRepetitions)
	}
	if w.MaxRepetitions != 0 && (w.MaxRepetitions < w.Repetitions || w.MaxRepetitions > maxRepetitions) {
		add("max_repetitions", "must be between repetitions and %d", maxRepetitions)
	}
	if w.MaxRelSpread < 0 || w.MaxRelSpread > 1 {
		add("max_rel_spread", "must be between 0 and 1")
	}
	if spec != nil && len(errs) == 0 {
		if n := w.MaxContext(); n > spec.MaxContext {
			add("prompt_lengths", "the workload reaches context %d, beyond the spec's max_context %d", n, spec.MaxContext)
		}
	}
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
	errs = append(errs, ValidateWorkload("workload.", req.Workload, spec)...)
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
