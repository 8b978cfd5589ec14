package evals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// MaxAnswer is the largest answer body (docs/evaluators.md §1).
const MaxAnswer = 1 << 20

// Reply is the coordinator's reply to an answer callback: an HTTP status
// and either a state (2xx) or an error code and message.
type Reply struct {
	Status  int
	State   string
	Code    string
	Message string
}

// Answer takes a webhook answer callback for job id (§4.4): it verifies
// the signature with the job's evaluator's secrets, refuses stale and
// replayed deliveries, checks the answer and stores it. A refused request
// changes nothing. err is only for a failing database.
func (m *Manager) Answer(ctx context.Context, id string, hdr http.Header, body []byte) (Reply, error) {
	if hdr.Get(wire.HeaderSignature) == "" {
		// An unsigned request is unauthenticated whatever it names: it
		// learns nothing about which evaluation jobs exist.
		return Reply{Status: 401, Code: "unauthorized", Message: "the answer callback is not signed"}, nil
	}
	j, err := m.d.Store.GetEvalJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Reply{Status: 404, Code: "job_not_found", Message: "no evaluation job has this ID"}, nil
	}
	if err != nil {
		return Reply{}, err
	}
	ev, err := m.d.Store.GetEvaluator(ctx, j.Evaluator)
	if err != nil {
		return Reply{}, err
	}
	if ev.Transport != wire.TransportWebhook || ev.Secret == "" {
		return Reply{Status: 401, Code: "unauthorized", Message: "this job's evaluator does not answer by webhook"}, nil
	}
	now := time.Now()
	err = wire.VerifyWebhook(ev.Secrets(now), hdr.Get(wire.HeaderTimestamp), hdr.Get(wire.HeaderDelivery), hdr.Get(wire.HeaderSignature), body, now)
	switch {
	case errors.Is(err, wire.ErrStale):
		return Reply{Status: 401, Code: "stale", Message: err.Error()}, nil
	case err != nil:
		return Reply{Status: 401, Code: "unauthorized", Message: "the signature does not match"}, nil
	}
	fresh, err := m.d.Store.RecordDelivery(ctx, hdr.Get(wire.HeaderDelivery), wire.ReplayMemory)
	if err != nil {
		return Reply{}, err
	}
	if !fresh {
		return Reply{Status: 401, Code: "replayed", Message: "this delivery ID was already used"}, nil
	}
	a, problem := checkAnswer(body, j, ev)
	if problem != "" {
		// A signed but invalid answer fails the job with the message.
		failure := fmt.Sprintf("evaluator %s: invalid answer: %s", j.Evaluator, problem)
		if j.State == api.EvalQueued || j.State == api.EvalDispatched {
			if err := m.fail(ctx, j, ev, api.EvalFailed, failure); err != nil {
				return Reply{}, err
			}
		}
		return Reply{Status: 400, Code: "invalid_answer", Message: problem}, nil
	}
	failure := ""
	if a.Status == wire.ResultFailed {
		failure = fmt.Sprintf("evaluator %s: %s: %s", j.Evaluator, a.Error.Kind, a.Error.Message)
	}
	out, err := m.d.Store.StoreEvalAnswer(ctx, j, a, body, failure, MaxAttempts, RetryDelay)
	if err != nil {
		return Reply{}, err
	}
	if a.Status == wire.ResultOK && a.EvaluatorVersion != ev.Version {
		m.d.Log.Info("evaluator answered with another version; later lookups use it", "evaluator", ev.Name, "registered", ev.Version, "answered", a.EvaluatorVersion)
		if err := m.d.Store.SetEvaluatorVersion(ctx, ev.Name, a.EvaluatorVersion); err != nil {
			return Reply{}, err
		}
	}
	m.forget(j.ID)
	m.d.Log.Info("evaluation answer", "job", j.ID, "status", a.Status, "outcome", out)
	if out == store.AnswerStored {
		m.d.Wake()
	}
	if out == store.AnswerRetry {
		m.Kick()
		return Reply{Status: 202, State: string(out)}, nil
	}
	return Reply{Status: 200, State: string(out)}, nil
}

// checkAnswer decodes and checks an answer against its job and the
// evaluator's declared scores; problem says what is wrong.
func checkAnswer(body []byte, j store.EvalJobRow, ev store.EvaluatorRow) (*wire.EvalAnswer, string) {
	if len(body) > MaxAnswer {
		return nil, "the answer exceeds 1 MiB"
	}
	// PostgreSQL's jsonb stores neither invalid UTF-8 nor NUL.
	if !utf8.Valid(body) {
		return nil, "the answer is not valid UTF-8"
	}
	if bytes.Contains(body, []byte(`\u0000`)) {
		return nil, "the answer contains a NUL character (\\u0000)"
	}
	var a wire.EvalAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&a); err != nil {
		return nil, "not an evaluation_answer: " + err.Error()
	}
	if dec.More() {
		return nil, "data after the answer"
	}
	switch {
	case a.Protocol != wire.EvalProtocol:
		return nil, fmt.Sprintf("protocol must be %d", wire.EvalProtocol)
	case a.Type != wire.TypeEvalAnswer:
		return nil, fmt.Sprintf("type must be %q", wire.TypeEvalAnswer)
	case a.JobID != j.ID:
		return nil, fmt.Sprintf("job_id %q is not this job (%s)", a.JobID, j.ID)
	case a.Evaluator != j.Evaluator:
		return nil, fmt.Sprintf("evaluator %q is not this job's (%s)", a.Evaluator, j.Evaluator)
	case a.EvaluatorVersion == "" || len(a.EvaluatorVersion) > 64:
		return nil, "evaluator_version: required, at most 64 characters"
	}
	switch a.Status {
	case wire.ResultOK:
		if a.Error != nil {
			return nil, "an ok answer carries no error"
		}
		for _, sc := range ev.Registration.Scores {
			v, ok := a.Scores[sc.Name]
			if !ok {
				return nil, fmt.Sprintf("scores: the declared score %s is missing", sc.Name)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Sprintf("scores.%s: not a finite number", sc.Name)
			}
		}
	case wire.ResultFailed:
		if a.Error == nil || a.Error.Kind == "" || a.Error.Message == "" {
			return nil, "a failed answer needs error.kind and error.message"
		}
		if len(a.Scores) > 0 {
			return nil, "a failed answer carries no scores"
		}
	default:
		return nil, fmt.Sprintf("status must be %q or %q", wire.ResultOK, wire.ResultFailed)
	}
	return &a, ""
}
