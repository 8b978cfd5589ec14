package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// Evaluators and evaluation jobs (docs/evaluators.md, migration 009). The
// evaluation job state machine is driven by internal/evals only; these
// are its queries.

// ErrEvaluatorExists: an evaluator of that name is registered.
var ErrEvaluatorExists = errors.New("an evaluator of that name is registered")

// NewEvalJobID returns a fresh evaluation job ID ("e" and 16 hex digits).
func NewEvalJobID() string { return "e" + NewDeviceID()[1:] }

// EvaluatorRow is a registered evaluator with its secrets.
type EvaluatorRow struct {
	api.Evaluator
	URL string
	// Secret is the current webhook secret; PrevSecret is still accepted
	// until PrevUntil.
	Secret     string
	PrevSecret string
	PrevUntil  *time.Time
}

// Secrets are the webhook secrets accepted at now, the current one first.
func (e EvaluatorRow) Secrets(now time.Time) [][]byte {
	out := [][]byte{[]byte(e.Secret)}
	if e.PrevSecret != "" && e.PrevUntil != nil && now.Before(*e.PrevUntil) {
		out = append(out, []byte(e.PrevSecret))
	}
	return out
}

const evaluatorCols = `name, transport, version, registration, created_at, revoked_at, coalesce(url, ''), coalesce(secret, ''),
	coalesce(prev_secret, ''), prev_until`

func scanEvaluator(row pgx.Row) (EvaluatorRow, error) {
	var e EvaluatorRow
	var reg []byte
	err := row.Scan(&e.Name, &e.Transport, &e.Version, &reg, &e.CreatedAt, &e.RevokedAt, &e.URL, &e.Secret, &e.PrevSecret, &e.PrevUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(reg, &e.Registration); err != nil {
		return e, fmt.Errorf("decode registration of evaluator %s: %w", e.Name, err)
	}
	e.Registration.Version = e.Version
	if e.PrevUntil != nil && time.Now().Before(*e.PrevUntil) {
		e.SecretRotatedUntil = e.PrevUntil
	}
	return e, nil
}

// CreateEvaluator registers an evaluator (secret: webhook only). A name
// whose evaluator was revoked is registered anew; a live one gives
// ErrEvaluatorExists.
func (s *Store) CreateEvaluator(ctx context.Context, reg wire.EvaluatorRegistration, secret string) (EvaluatorRow, error) {
	body, err := json.Marshal(reg)
	if err != nil {
		return EvaluatorRow{}, err
	}
	row := s.pool.QueryRow(ctx, `INSERT INTO evaluators (name, transport, registration, version, url, secret)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''))
		ON CONFLICT (name) DO UPDATE SET transport = $2, registration = $3, version = $4, url = NULLIF($5, ''),
			secret = NULLIF($6, ''), prev_secret = NULL, prev_until = NULL, created_at = now(), revoked_at = NULL
			WHERE evaluators.revoked_at IS NOT NULL
		RETURNING `+evaluatorCols, reg.Name, reg.Transport, body, reg.Version, reg.URL, secret)
	e, err := scanEvaluator(row)
	if errors.Is(err, ErrNotFound) {
		return e, ErrEvaluatorExists
	}
	return e, err
}

// GetEvaluator returns a registered evaluator, revoked or not.
func (s *Store) GetEvaluator(ctx context.Context, name string) (EvaluatorRow, error) {
	return scanEvaluator(s.pool.QueryRow(ctx, `SELECT `+evaluatorCols+` FROM evaluators WHERE name = $1`, name))
}

// ListEvaluators returns the live evaluators, by name.
func (s *Store) ListEvaluators(ctx context.Context) ([]api.Evaluator, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+evaluatorCols+` FROM evaluators WHERE revoked_at IS NULL ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []api.Evaluator{}
	for rows.Next() {
		e, err := scanEvaluator(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e.Evaluator)
	}
	return out, rows.Err()
}

// RotateEvaluatorSecret makes secret current and keeps the previous one
// valid until keepUntil; ErrNotFound for no live webhook evaluator.
func (s *Store) RotateEvaluatorSecret(ctx context.Context, name, secret string, keepUntil time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE evaluators SET prev_secret = secret, prev_until = $3, secret = $2
		WHERE name = $1 AND revoked_at IS NULL AND transport = 'webhook'`, name, secret, keepUntil)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	return err
}

// RevokeEvaluator marks a live evaluator revoked; ErrNotFound otherwise.
func (s *Store) RevokeEvaluator(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE evaluators SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL`, name)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	return err
}

// SetEvaluatorVersion records the version a worker answered with.
func (s *Store) SetEvaluatorVersion(ctx context.Context, name, version string) error {
	_, err := s.pool.Exec(ctx, `UPDATE evaluators SET version = $2 WHERE name = $1`, name, version)
	return err
}

// EvalJobRow is one stored evaluation job.
type EvalJobRow struct {
	ID           string
	SearchID     string
	Trial        int
	Evaluator    string
	State        api.EvalState
	Attempt      int
	ArchHash     string
	SettingsHash string
	// Job is the job message; its created_at and deadline are set when it
	// is first sent, and the same bytes are sent on every delivery of
	// the attempt.
	Job       json.RawMessage
	TimeoutS  int
	Deadline  *time.Time
	NextTryAt *time.Time
	Scores    map[string]float64
	Answer    json.RawMessage
	Error     *string
	CreatedAt time.Time
}

const evalJobCols = `id, search_id, trial, evaluator, state, attempt, arch_hash, settings_hash, job, timeout_s, deadline, next_try_at,
	scores, answer, error, created_at`

func scanEvalJob(row pgx.Row) (EvalJobRow, error) {
	var j EvalJobRow
	var scores []byte
	err := row.Scan(&j.ID, &j.SearchID, &j.Trial, &j.Evaluator, &j.State, &j.Attempt, &j.ArchHash, &j.SettingsHash, &j.Job, &j.TimeoutS,
		&j.Deadline, &j.NextTryAt, &scores, &j.Answer, &j.Error, &j.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, ErrNotFound
	}
	if err == nil && scores != nil {
		err = json.Unmarshal(scores, &j.Scores)
	}
	return j, err
}

// InsertEvalJob stores a new evaluation job unless the trial already has
// one for the evaluator; it reports whether it stored it. A job answered
// from the cache is stored in state answered with its scores.
func (s *Store) InsertEvalJob(ctx context.Context, j EvalJobRow) (bool, error) {
	var scores []byte
	if j.Scores != nil {
		var err error
		if scores, err = json.Marshal(j.Scores); err != nil {
			return false, err
		}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO evaluation_jobs (id, search_id, trial, evaluator, state, arch_hash, settings_hash, job, timeout_s, scores, answer)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (search_id, trial, evaluator) DO NOTHING`,
		j.ID, j.SearchID, j.Trial, j.Evaluator, j.State, j.ArchHash, j.SettingsHash, j.Job, j.TimeoutS, scores, nullJSON(j.Answer))
	return err == nil && tag.RowsAffected() == 1, err
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

// GetEvalJob returns one evaluation job.
func (s *Store) GetEvalJob(ctx context.Context, id string) (EvalJobRow, error) {
	return scanEvalJob(s.pool.QueryRow(ctx, `SELECT `+evalJobCols+` FROM evaluation_jobs WHERE id = $1`, id))
}

// OpenEvalJobs returns the queued and dispatched evaluation jobs, oldest
// first.
func (s *Store) OpenEvalJobs(ctx context.Context) ([]EvalJobRow, error) {
	return s.evalJobs(ctx, `state IN ('queued', 'dispatched') ORDER BY created_at, id`)
}

// OpenEvalJobsOf returns the open evaluation jobs of a search (or, with
// searchID "", of an evaluator), of one trial when trial >= 0.
func (s *Store) OpenEvalJobsOf(ctx context.Context, searchID, evaluator string, trial int) ([]EvalJobRow, error) {
	return s.evalJobs(ctx, `state IN ('queued', 'dispatched') AND ($1 = '' OR search_id = $1) AND ($2 = '' OR evaluator = $2)
		AND ($3 < 0 OR trial = $3) ORDER BY id`, searchID, evaluator, trial)
}

func (s *Store) evalJobs(ctx context.Context, where string, args ...any) ([]EvalJobRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+evalJobCols+` FROM evaluation_jobs WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EvalJobRow
	for rows.Next() {
		j, err := scanEvalJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// SetEvalJobSent stores the bytes of a job's attempt and its deadline
// before the job is first sent (the job stays queued until the worker
// accepts it).
func (s *Store) SetEvalJobSent(ctx context.Context, id string, job json.RawMessage, deadline time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE evaluation_jobs SET job = $2, deadline = $3, updated_at = now() WHERE id = $1 AND state = 'queued'`, id, job, deadline)
	return err
}

// SetEvalJobDispatched moves a queued job to dispatched once the worker
// accepted attempt. An answer may arrive before this (the worker answers
// at once): a job answered, or queued again for its next attempt, in the
// meantime is left as it is.
func (s *Store) SetEvalJobDispatched(ctx context.Context, id string, attempt int) error {
	_, err := s.pool.Exec(ctx, `UPDATE evaluation_jobs SET state = 'dispatched', updated_at = now()
		WHERE id = $1 AND state = 'queued' AND attempt = $2 AND deadline IS NOT NULL`, id, attempt)
	return err
}

// SetEvalJobNextTry delays a queued job's next delivery.
func (s *Store) SetEvalJobNextTry(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE evaluation_jobs SET next_try_at = $2, updated_at = now() WHERE id = $1 AND state = 'queued'`, id, at)
	return err
}

// FailEvalJob moves an open job to failed (or cancelled) with reason; it
// reports whether the job was open.
func (s *Store) FailEvalJob(ctx context.Context, id string, to api.EvalState, reason string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE evaluation_jobs SET state = $2, error = $3, updated_at = now()
		WHERE id = $1 AND state IN ('queued', 'dispatched')`, id, to, reason)
	return err == nil && tag.RowsAffected() == 1, err
}

// AnswerOutcome is what storing an answer did.
type AnswerOutcome string

// Answer outcomes (the callback's reply states, docs/evaluators.md §4.4).
const (
	AnswerStored    AnswerOutcome = "stored"
	AnswerDuplicate AnswerOutcome = "duplicate"
	AnswerLate      AnswerOutcome = "late"
	AnswerRetry     AnswerOutcome = "retry_scheduled"
)

// StoreEvalAnswer stores a valid answer for job in one transaction: an ok
// answer is cached under its version whatever the job's state (the work
// was done); an open job takes the answer (answered, failed, or queued
// again after retryDelay for a retryable failure while attempts are left
// below maxAttempts). The first final answer wins.
func (s *Store) StoreEvalAnswer(ctx context.Context, j EvalJobRow, a *wire.EvalAnswer, body json.RawMessage, failure string, maxAttempts int, retryDelay time.Duration) (AnswerOutcome, error) {
	var out AnswerOutcome
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var state api.EvalState
		var attempt int
		var hadAnswer bool
		err := tx.QueryRow(ctx, `SELECT state, attempt, answer IS NOT NULL FROM evaluation_jobs WHERE id = $1 FOR UPDATE`, j.ID).Scan(&state, &attempt, &hadAnswer)
		if err != nil {
			return err
		}
		var scores []byte
		if a.Status == wire.ResultOK {
			if scores, err = json.Marshal(a.Scores); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO evaluations (arch_hash, evaluator, settings_hash, version, scores, answer, job_id)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, j.ArchHash, j.Evaluator, j.SettingsHash, a.EvaluatorVersion, scores, body, j.ID); err != nil {
				return err
			}
		}
		open := state == api.EvalQueued || state == api.EvalDispatched
		switch {
		case !open && hadAnswer:
			out = AnswerDuplicate
			return nil
		case !open:
			out = AnswerLate
			return nil
		case a.Status == wire.ResultOK:
			_, err = tx.Exec(ctx, `UPDATE evaluation_jobs SET state = 'answered', scores = $2, answer = $3, updated_at = now() WHERE id = $1`, j.ID, scores, body)
			out = AnswerStored
		case a.Error != nil && a.Error.Retryable && attempt+1 < maxAttempts:
			_, err = tx.Exec(ctx, `UPDATE evaluation_jobs SET state = 'queued', attempt = attempt + 1, deadline = NULL, next_try_at = $2, updated_at = now()
				WHERE id = $1`, j.ID, time.Now().Add(retryDelay))
			out = AnswerRetry
		default:
			_, err = tx.Exec(ctx, `UPDATE evaluation_jobs SET state = 'failed', error = $2, answer = $3, updated_at = now() WHERE id = $1`, j.ID, failure, body)
			out = AnswerStored
		}
		return err
	})
	return out, err
}

// CachedEvaluation looks the cache up: the scores of an ok answer for the
// key, with the answer.
func (s *Store) CachedEvaluation(ctx context.Context, archHash, evaluator, settingsHash, version string) (map[string]float64, json.RawMessage, bool, error) {
	var scores []byte
	var answer json.RawMessage
	err := s.pool.QueryRow(ctx, `SELECT scores, answer FROM evaluations WHERE arch_hash = $1 AND evaluator = $2 AND settings_hash = $3 AND version = $4`,
		archHash, evaluator, settingsHash, version).Scan(&scores, &answer)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	var m map[string]float64
	if err := json.Unmarshal(scores, &m); err != nil {
		return nil, nil, false, err
	}
	return m, answer, true, nil
}

// TrialEvaluations returns a search's evaluations by trial number (number
// -1: every trial).
func (s *Store) TrialEvaluations(ctx context.Context, searchID string, number int) (map[int][]api.Evaluation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+evalJobCols+` FROM evaluation_jobs WHERE search_id = $1 AND ($2 < 0 OR trial = $2) ORDER BY trial, evaluator`, searchID, number)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int][]api.Evaluation{}
	for rows.Next() {
		j, err := scanEvalJob(rows)
		if err != nil {
			return nil, err
		}
		out[j.Trial] = append(out[j.Trial], j.Evaluation())
	}
	return out, rows.Err()
}

// Evaluation is the job as the API shows it.
func (j EvalJobRow) Evaluation() api.Evaluation {
	e := api.Evaluation{JobID: j.ID, Evaluator: j.Evaluator, State: j.State, Attempt: j.Attempt, Scores: j.Scores, Error: j.Error, Deadline: j.Deadline}
	if len(j.Answer) > 0 {
		var a struct {
			Version string          `json:"evaluator_version"`
			Details json.RawMessage `json:"details"`
		}
		if json.Unmarshal(j.Answer, &a) == nil {
			e.Version, e.Details = a.Version, a.Details
		}
	}
	// An answered job that was never sent was answered from the cache.
	e.Cached = j.State == api.EvalAnswered && j.Deadline == nil
	return e
}

// RecordDelivery records a webhook delivery ID; false when it was seen
// within the replay window (window: how long IDs are kept).
func (s *Store) RecordDelivery(ctx context.Context, id string, window time.Duration) (bool, error) {
	if _, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE seen_at < now() - make_interval(secs => $1)`, window.Seconds()); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO webhook_deliveries (delivery_id) VALUES ($1) ON CONFLICT DO NOTHING`, id)
	return err == nil && tag.RowsAffected() == 1, err
}

// DispatchedEvalJobs counts an evaluator's outstanding jobs (sent, not
// answered).
func (s *Store) DispatchedEvalJobs(ctx context.Context, evaluator string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM evaluation_jobs WHERE evaluator = $1 AND state IN ('queued', 'dispatched') AND deadline IS NOT NULL`, evaluator).Scan(&n)
	return n, err
}

// ReplaceEvaluator registers reg with secret whether or not a live
// evaluator of its name exists (a restarted local worker with a new URL
// and secret); the name keeps its jobs and cache.
func (s *Store) ReplaceEvaluator(ctx context.Context, reg wire.EvaluatorRegistration, secret string) (EvaluatorRow, error) {
	body, err := json.Marshal(reg)
	if err != nil {
		return EvaluatorRow{}, err
	}
	return scanEvaluator(s.pool.QueryRow(ctx, `INSERT INTO evaluators (name, transport, registration, version, url, secret)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''))
		ON CONFLICT (name) DO UPDATE SET transport = $2, registration = $3, version = $4, url = NULLIF($5, ''),
			secret = NULLIF($6, ''), prev_secret = NULL, prev_until = NULL, revoked_at = NULL
		RETURNING `+evaluatorCols, reg.Name, reg.Transport, body, reg.Version, reg.URL, secret))
}
