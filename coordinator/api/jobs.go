package api

import (
	"encoding/json"
	"time"

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

// Job is a measurement job (GET /api/v1/jobs/{id}).
type Job struct {
	ID       string `json:"id"`
	DeviceID string `json:"device_id"`
	// Class is set for a job published on the shared subject of a device
	// class: any agent of the class may take it, and DeviceID becomes the
	// one that did (until then, the device the coordinator expected).
	Class string `json:"class,omitempty"`
	// Replaces is the job whose device was lost (fail_kind device_lost)
	// and which this job re-dispatches.
	Replaces *string `json:"replaces,omitempty"`
	// IdempotencyKey is the Idempotency-Key header the job was created
	// with (POST /devices/{id}/jobs): the same token asking again with it
	// gets this job, not a second one.
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Kind           string          `json:"kind"`
	Spec           json.RawMessage `json:"spec"`
	SpecHash       string          `json:"spec_hash"`
	// Workload is normalised (defaults filled in); WorkloadHash keys the
	// measurement.
	Workload     workload.Workload `json:"workload"`
	WorkloadHash string            `json:"workload_hash"`
	State        JobState          `json:"state"`
	TimeoutS     int               `json:"timeout_seconds"`
	MemoryLimit  int64             `json:"memory_limit_bytes"`
	// Attempts is the highest JetStream delivery count reported.
	Attempts   int        `json:"attempts"`
	FailKind   *string    `json:"fail_kind,omitempty"`
	Error      *string    `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Measurement is set once the job is done.
	Measurement *wire.Measurement `json:"measurement,omitempty"`
}
