// Package evals owns the evaluation job state machine (docs/evaluators.md
// §2): it creates a trial's evaluation jobs (or answers them from the
// cache), delivers them to webhook evaluators with signed requests,
// takes their signed answers, retries, and times them out. Nothing else
// changes an evaluation job's state; the search driver only reads them.
package evals

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
)

// Protocol constants (docs/evaluators.md §3.4, §4.3).
const (
	// MaxAttempts bounds the attempts of a job failed retryably.
	MaxAttempts = 3
	// RetryDelay is the wait before a retryable failure's next attempt.
	RetryDelay = 10 * time.Second
	// DefaultTimeout is a job's deadline after dispatch when neither the
	// search nor the registration gives one.
	DefaultTimeout = 1800 * time.Second
	// DefaultGrace is how long after its deadline a job's answer is
	// still awaited.
	DefaultGrace = 60 * time.Second
	// maxDeliveries bounds transport-level retries of one attempt.
	maxDeliveries = 8
	// SecretOverlap is how long a rotated-out secret stays valid.
	SecretOverlap = 24 * time.Hour
)

// Deps are what the manager uses.
type Deps struct {
	Store *store.Store
	Log   *slog.Logger
	// PublicURL is the coordinator's URL as evaluators reach it; answer
	// callbacks go to <PublicURL>/api/v1/evaluations/<job>/answer. It is
	// asked at each dispatch (the listener starts after the manager).
	PublicURL func() string
	// Grace is DefaultGrace unless set (tests shorten it; negative: 0).
	Grace time.Duration
	// Wake tells the drivers that an evaluation ended.
	Wake func()
	// Client sends webhook requests (default: 10 s timeout).
	Client *http.Client
	// Poll is how often the loop looks at open jobs (default 1 s).
	Poll time.Duration
}

// Manager is the evaluation jobs' one owner.
type Manager struct {
	d    Deps
	kick chan struct{}
	mu   sync.Mutex
	// tries counts failed deliveries of a job's current attempt (transport
	// retries; not persisted).
	tries   map[string]int
	lastErr map[string]string
}

// New returns a manager; call Run.
func New(d Deps) *Manager {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Grace == 0 {
		d.Grace = DefaultGrace
	}
	if d.Grace < 0 {
		d.Grace = 0
	}
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if d.Poll == 0 {
		d.Poll = time.Second
	}
	if d.Wake == nil {
		d.Wake = func() {}
	}
	if d.PublicURL == nil {
		d.PublicURL = func() string { return "" }
	}
	return &Manager{d: d, kick: make(chan struct{}, 1), tries: map[string]int{}, lastErr: map[string]string{}}
}

// NewSecret returns a fresh webhook secret: "hilwhs_" and 256 random bits
// in base64url.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "hilwhs_" + base64.RawURLEncoding.EncodeToString(b[:])
}

func newDeliveryID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CheckRegistration checks a registration and fills its defaults; the
// messages name each field.
func CheckRegistration(r *wire.EvaluatorRegistration) []api.FieldError {
	var errs []api.FieldError
	add := func(f, m string) { errs = append(errs, api.FieldError{Field: f, Message: m}) }
	if r.Protocol != wire.EvalProtocol {
		add("protocol", fmt.Sprintf("must be %d", wire.EvalProtocol))
	}
	if r.Type != wire.TypeRegistration {
		add("type", fmt.Sprintf("must be %q", wire.TypeRegistration))
	}
	if !search.ValidEvaluatorName(r.Name) {
		add("name", "lower-case letters, digits and '-', at most 63, starting with a letter or digit")
	}
	if r.Version == "" || len(r.Version) > 64 {
		add("version", "required, at most 64 characters")
	}
	switch r.Transport {
	case wire.TransportWebhook:
		if !strings.HasPrefix(r.URL, "http://") && !strings.HasPrefix(r.URL, "https://") || len(r.URL) > 2048 {
			add("url", "a webhook evaluator needs an http:// or https:// URL")
		}
	case wire.TransportNATS:
		if r.URL != "" {
			add("url", "a NATS evaluator has no URL")
		}
	default:
		add("transport", fmt.Sprintf("must be %q or %q", wire.TransportWebhook, wire.TransportNATS))
	}
	if len(r.Scores) == 0 || len(r.Scores) > 64 {
		add("scores", "between 1 and 64 scores")
	}
	seen := map[string]bool{}
	for i, sc := range r.Scores {
		f := fmt.Sprintf("scores[%d]", i)
		if !search.ValidScoreName(sc.Name) {
			add(f+".name", "lower-case letters, digits and '_', starting with a letter")
		} else if seen[sc.Name] {
			add(f+".name", "duplicate score "+sc.Name)
		}
		seen[sc.Name] = true
		if sc.Direction != string(search.Maximize) && sc.Direction != string(search.Minimize) {
			add(f+".direction", `must be "maximize" or "minimize"`)
		}
	}
	if r.Accepts != nil {
		for i, m := range r.Accepts.Mixers {
			if !slices.Contains(arch.Mixers, arch.Mixer(m)) {
				add(fmt.Sprintf("accepts.mixers[%d]", i), fmt.Sprintf("unknown mixer %q", m))
			}
		}
	}
	if r.TimeoutSeconds < 0 || r.TimeoutSeconds > 7*24*3600 {
		add("timeout_seconds", "between 1 and 604800 (0: 1800)")
	}
	if r.TimeoutSeconds == 0 {
		r.TimeoutSeconds = int(DefaultTimeout / time.Second)
	}
	if r.MaxConcurrency < 0 || r.MaxConcurrency > 1024 {
		add("max_concurrency", "between 1 and 1024 (0: 1)")
	}
	if r.MaxConcurrency == 0 {
		r.MaxConcurrency = 1
	}
	return errs
}

// Lookup returns the scores an evaluator declares, for
// search.Spec.ResolveScores.
func (m *Manager) Lookup(ctx context.Context) (func(string) (map[string]search.ScoreDecl, bool), error) {
	evs, err := m.d.Store.ListEvaluators(ctx)
	if err != nil {
		return nil, err
	}
	return func(name string) (map[string]search.ScoreDecl, bool) {
		for _, e := range evs {
			if e.Name == name {
				out := map[string]search.ScoreDecl{}
				for _, s := range e.Registration.Scores {
					out[s.Name] = search.ScoreDecl{Direction: search.Direction(s.Direction)}
				}
				return out, true
			}
		}
		return nil, false
	}, nil
}

// Ensure creates the evaluation jobs of a trial for every evaluator the
// search uses that the trial does not have yet: answered at once from the
// cache, failed at once for a mixer the evaluator does not accept, else
// queued. It is idempotent.
func (m *Manager) Ensure(ctx context.Context, searchID string, spec *search.Spec, trial int, cand *arch.Spec) error {
	names := spec.EvaluatorNames()
	if len(names) == 0 {
		return nil
	}
	archJSON, err := cand.JSON()
	if err != nil {
		return err
	}
	var hf json.RawMessage
	if b, err := cand.HFConfig(); err == nil {
		hf = b
	}
	hash := cand.Hash()
	for _, name := range names {
		ev, err := m.d.Store.GetEvaluator(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			ev.Name = name
		} else if err != nil {
			return err
		}
		settings, seed, timeout := spec.EvaluatorUseOf(name)
		sh, err := wire.SettingsHash(seed, settings)
		if err != nil {
			return err
		}
		if timeout == 0 {
			timeout = time.Duration(ev.Registration.TimeoutSeconds) * time.Second
		}
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		tr := trial
		job := wire.EvalJob{Protocol: wire.EvalProtocol, Type: wire.TypeEvalJob, JobID: store.NewEvalJobID(), Evaluator: name,
			SearchID: searchID, Trial: &tr, Arch: archJSON, ArchHash: hash, HFConfig: hf, Seed: seed, Settings: settings, SettingsHash: sh}
		body, err := json.Marshal(job)
		if err != nil {
			return err
		}
		row := store.EvalJobRow{ID: job.JobID, SearchID: searchID, Trial: trial, Evaluator: name, State: api.EvalQueued,
			ArchHash: hash, SettingsHash: sh, Job: body, TimeoutS: int(math.Ceil(timeout.Seconds()))}
		failure := ""
		switch {
		case ev.RevokedAt != nil || ev.Transport == "":
			failure = fmt.Sprintf("evaluator %s is not registered", name)
		case ev.Registration.Accepts != nil && len(ev.Registration.Accepts.Mixers) > 0:
			for i, l := range cand.Layers {
				if !slices.Contains(ev.Registration.Accepts.Mixers, string(l.Mixer)) {
					failure = fmt.Sprintf("evaluator %s: %s: layers[%d].mixer: mixer '%s' is not implemented by this evaluator", name, wire.EvalUnsupported, i, l.Mixer)
					break
				}
			}
		}
		if failure == "" && ev.Transport == wire.TransportNATS {
			failure = fmt.Sprintf("evaluator %s: the NATS transport is not built yet in this coordinator (use a webhook evaluator)", name)
		}
		if failure == "" {
			scores, answer, hit, err := m.d.Store.CachedEvaluation(ctx, hash, name, sh, ev.Version)
			if err != nil {
				return err
			}
			if hit {
				row.State, row.Scores, row.Answer = api.EvalAnswered, scores, answer
			}
		}
		stored, err := m.d.Store.InsertEvalJob(ctx, row)
		if err != nil {
			return err
		}
		if stored && failure != "" {
			if _, err := m.d.Store.FailEvalJob(ctx, row.ID, api.EvalFailed, failure); err != nil {
				return err
			}
		}
		if stored {
			m.d.Log.Info("evaluation job created", "job", row.ID, "search", searchID, "trial", trial, "evaluator", name, "state", row.State, "failure", failure)
		}
	}
	m.Kick()
	return nil
}

// Kick makes the loop look at the open jobs now.
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run delivers queued jobs and times out late ones until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	for {
		if err := m.step(ctx); err != nil && ctx.Err() == nil {
			m.d.Log.Warn("evaluation jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-time.After(m.d.Poll):
		}
	}
}

func (m *Manager) step(ctx context.Context) error {
	open, err := m.d.Store.OpenEvalJobs(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	evs := map[string]store.EvaluatorRow{}
	outstanding := map[string]int{}
	for _, j := range open {
		if j.Deadline != nil {
			outstanding[j.Evaluator]++
		}
	}
	for _, j := range open {
		ev, ok := evs[j.Evaluator]
		if !ok {
			if ev, err = m.d.Store.GetEvaluator(ctx, j.Evaluator); err != nil {
				return err
			}
			evs[j.Evaluator] = ev
		}
		switch {
		case j.Deadline != nil && now.After(j.Deadline.Add(m.d.Grace)):
			reason := fmt.Sprintf("evaluator %s gave no answer within %s", j.Evaluator, time.Duration(j.TimeoutS)*time.Second)
			if m.lastErr[j.ID] != "" && j.State == api.EvalQueued {
				reason = fmt.Sprintf("evaluator %s unreachable: %s", j.Evaluator, m.lastErr[j.ID])
			}
			if err := m.fail(ctx, j, ev, api.EvalFailed, reason); err != nil {
				return err
			}
		case j.State == api.EvalQueued && (j.NextTryAt == nil || !now.Before(*j.NextTryAt)):
			if j.Deadline == nil && outstanding[j.Evaluator] >= max(ev.Registration.MaxConcurrency, 1) {
				continue // wait for a free slot; the deadline starts at dispatch
			}
			if j.Deadline == nil {
				outstanding[j.Evaluator]++
			}
			if err := m.deliver(ctx, j, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// fail ends an open job (timeout, cancel, revocation) and withdraws it
// from the worker.
func (m *Manager) fail(ctx context.Context, j store.EvalJobRow, ev store.EvaluatorRow, to api.EvalState, reason string) error {
	changed, err := m.d.Store.FailEvalJob(ctx, j.ID, to, reason)
	if err != nil || !changed {
		return err
	}
	m.forget(j.ID)
	m.d.Log.Info("evaluation job ended", "job", j.ID, "state", to, "reason", reason)
	if ev.Transport == wire.TransportWebhook && ev.URL != "" && j.Deadline != nil {
		c := wire.EvalCancel{Protocol: wire.EvalProtocol, Type: wire.TypeEvalCancel, JobID: j.ID, Evaluator: j.Evaluator, Reason: reason}
		body, _ := json.Marshal(c)
		go func() { // best effort, not retried
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if code, _, err := m.post(cctx, ev, body); err != nil || code/100 != 2 {
				m.d.Log.Info("evaluation cancel not delivered", "job", j.ID, "status", code, "err", err)
			}
		}()
	}
	m.d.Wake()
	return nil
}

func (m *Manager) forget(id string) {
	m.mu.Lock()
	delete(m.tries, id)
	delete(m.lastErr, id)
	m.mu.Unlock()
}

// post sends a signed request to the evaluator's URL.
func (m *Manager) post(ctx context.Context, ev store.EvaluatorRow, body []byte) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ev.URL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	ts := time.Now().Unix()
	del := newDeliveryID()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(wire.HeaderDelivery, del)
	req.Header.Set(wire.HeaderSignature, wire.SignatureHeader(ev.Secrets(time.Now()), ts, del, body))
	resp, err := m.d.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header, nil
}

// deliver sends a queued job (its attempt's bytes are fixed before the
// first send) and acts on the worker's reply (§4.3).
func (m *Manager) deliver(ctx context.Context, j store.EvalJobRow, ev store.EvaluatorRow) error {
	if ev.RevokedAt != nil {
		return m.fail(ctx, j, ev, api.EvalFailed, "evaluator removed")
	}
	if ev.Transport != wire.TransportWebhook {
		return m.fail(ctx, j, ev, api.EvalFailed, fmt.Sprintf("evaluator %s: the NATS transport is not built yet in this coordinator", j.Evaluator))
	}
	body := []byte(j.Job)
	if j.Deadline == nil {
		var job wire.EvalJob
		if err := json.Unmarshal(j.Job, &job); err != nil {
			return m.fail(ctx, j, ev, api.EvalFailed, "stored job unreadable: "+err.Error())
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		job.CreatedAt = now
		job.Deadline = now.Add(time.Duration(j.TimeoutS) * time.Second)
		job.CallbackURL = strings.TrimRight(m.d.PublicURL(), "/") + "/api/v1/evaluations/" + j.ID + "/answer"
		var err error
		if body, err = json.Marshal(job); err != nil {
			return err
		}
		if err := m.d.Store.SetEvalJobSent(ctx, j.ID, body, job.Deadline); err != nil {
			return err
		}
	}
	code, hdr, err := m.post(ctx, ev, body)
	switch {
	case err == nil && code == http.StatusAccepted || err == nil && code == http.StatusOK:
		m.forget(j.ID)
		return m.d.Store.SetEvalJobDispatched(ctx, j.ID, j.Attempt)
	case err == nil && (code == 400 || code == 401 || code == 409 || code == 413):
		what := "refused the job"
		if code == 401 {
			what = "refused the signature"
		}
		return m.fail(ctx, j, ev, api.EvalFailed, fmt.Sprintf("evaluator %s %s: HTTP %d", j.Evaluator, what, code))
	}
	// Transient: retry later, with backoff, up to maxDeliveries.
	m.mu.Lock()
	m.tries[j.ID]++
	n := m.tries[j.ID]
	last := fmt.Sprintf("HTTP %d", code)
	if err != nil {
		last = err.Error()
	}
	m.lastErr[j.ID] = last
	m.mu.Unlock()
	if n >= maxDeliveries {
		return m.fail(ctx, j, ev, api.EvalFailed, fmt.Sprintf("evaluator %s unreachable: %s", j.Evaluator, last))
	}
	wait := min(time.Duration(1<<(n-1))*time.Second, 60*time.Second)
	if code == 429 || code == 503 {
		wait = 30 * time.Second
		if s, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil && s >= 0 && s <= 3600 {
			wait = time.Duration(s) * time.Second
		}
	}
	m.d.Log.Info("evaluation job delivery failed; retrying", "job", j.ID, "err", last, "in", wait)
	return m.d.Store.SetEvalJobNextTry(ctx, j.ID, time.Now().Add(wait))
}

// CancelForSearch cancels a search's open evaluation jobs.
func (m *Manager) CancelForSearch(ctx context.Context, searchID string) error {
	return m.failOpen(ctx, searchID, "", -1, api.EvalCancelled, "search cancelled")
}

// CancelForTrial cancels a failed trial's open evaluation jobs (their
// scores can no longer change the trial), freeing their evaluators' slots.
func (m *Manager) CancelForTrial(ctx context.Context, searchID string, trial int, reason string) error {
	return m.failOpen(ctx, searchID, "", trial, api.EvalCancelled, "trial failed: "+reason)
}

// Revoke removes an evaluator: it is revoked and its open jobs fail with
// "evaluator removed".
func (m *Manager) Revoke(ctx context.Context, name string) error {
	if err := m.d.Store.RevokeEvaluator(ctx, name); err != nil {
		return err
	}
	return m.failOpen(ctx, "", name, -1, api.EvalFailed, "evaluator removed")
}

func (m *Manager) failOpen(ctx context.Context, searchID, evaluator string, trial int, to api.EvalState, reason string) error {
	open, err := m.d.Store.OpenEvalJobsOf(ctx, searchID, evaluator, trial)
	if err != nil {
		return err
	}
	for _, j := range open {
		ev, err := m.d.Store.GetEvaluator(ctx, j.Evaluator)
		if err != nil {
			return err
		}
		if err := m.fail(ctx, j, ev, to, reason); err != nil {
			return err
		}
	}
	return nil
}
