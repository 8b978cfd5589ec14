package api

import (
	"encoding/json"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// Evaluator is a registered evaluator as the API shows it (GET
// /api/v1/evaluators): its registration, never its secret.
type Evaluator struct {
	Name         string                     `json:"name"`
	Transport    string                     `json:"transport"`
	Version      string                     `json:"version"`
	Registration wire.EvaluatorRegistration `json:"registration"`
	CreatedAt    time.Time                  `json:"created_at"`
	RevokedAt    *time.Time                 `json:"revoked_at,omitempty"`
	// SecretRotatedUntil is when the previous secret stops being accepted,
	// while a rotation is under way.
	SecretRotatedUntil *time.Time `json:"secret_rotated_until,omitempty"`
}

// EvaluatorCreated answers POST /api/v1/evaluators: the secret is shown
// once (webhook evaluators only).
type EvaluatorCreated struct {
	Evaluator Evaluator `json:"evaluator"`
	Secret    string    `json:"secret,omitempty"`
}

// EvaluatorSecret answers POST /api/v1/evaluators/{name}/secret.
type EvaluatorSecret struct {
	Secret string `json:"secret"`
}

// EvalState is an evaluation job's state (docs/evaluators.md §2).
type EvalState string

// Evaluation job states.
const (
	EvalQueued     EvalState = "queued"
	EvalDispatched EvalState = "dispatched"
	EvalAnswered   EvalState = "answered"
	EvalFailed     EvalState = "failed"
	EvalCancelled  EvalState = "cancelled"
)

// Evaluation is one trial's evaluation by one evaluator, read with the
// trial.
type Evaluation struct {
	JobID     string             `json:"job_id"`
	Evaluator string             `json:"evaluator"`
	State     EvalState          `json:"state"`
	Attempt   int                `json:"attempt"`
	Scores    map[string]float64 `json:"scores,omitempty"`
	// Cached says the scores came from the evaluation cache, without a job
	// being sent.
	Cached   bool            `json:"cached,omitempty"`
	Version  string          `json:"version,omitempty"`
	Details  json.RawMessage `json:"details,omitempty"`
	Error    *string         `json:"error,omitempty"`
	Deadline *time.Time      `json:"deadline,omitempty"`
}

// EvalAnswerReply is the coordinator's reply to an answer callback
// (docs/evaluators.md §4.4).
type EvalAnswerReply struct {
	State string `json:"state"`
}
