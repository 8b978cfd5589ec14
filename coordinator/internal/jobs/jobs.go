// Package jobs is the one owner of the measurement job state machine. Every
// job is created here (Create: validated with workload.Check, stored, then
// published), and every change of a job's state is made here: a heartbeat
// that names it (running), its agent's result (done or failed), a
// JetStream advisory (failed: terminated, or out of deliveries), its
// device going silent for longer than Deps.LostAfter (failed:
// device_lost; the driver re-dispatches the trial's target with
// Redispatch), a cancelled search or a revoked device (cancelled). Jobs stored but not
// published (NATS was down, or the coordinator died in between) are
// published again by a background loop. The search drivers and the HTTP
// handlers call this package; they never change a job themselves. The
// states are api.JobState; docs/coordinator.md draws the machine.
//
// The store's SQL guards every edge (a final state never changes, a result
// counts once), so replays and races between the NATS callbacks are
// harmless.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/internal/events"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

// Errors of Create.
var (
	// ErrDeviceNotFound: a request names a device that is unknown or
	// revoked. Nothing was stored.
	ErrDeviceNotFound = errors.New("no live device has this ID")
	// ErrNotPublished: the jobs are stored (queued) but could not all be
	// published now; the republish loop retries.
	ErrNotPublished = errors.New("job stored but not yet published")
)

// ValidationError lists what is wrong with a Create request; nothing was
// stored.
type ValidationError struct {
	Fields []api.FieldError
}

func (e *ValidationError) Error() string {
	msg := "invalid job"
	for _, f := range e.Fields {
		msg += "; " + f.Error()
	}
	return msg
}

// MaxTimeoutSeconds bounds Request.TimeoutSeconds.
const MaxTimeoutSeconds = 24 * 3600

// Request asks for one measurement job.
type Request struct {
	// DeviceID is the device that measures.
	DeviceID string
	// Spec is the architecture, already validated (arch.Spec.Validate).
	Spec *arch.Spec
	// Workload is what to measure; Create checks it against Spec and
	// stores it normalised.
	Workload workload.Workload
	// TimeoutSeconds and MemoryLimitBytes bound the measuring child (0:
	// the agent's defaults).
	TimeoutSeconds   int
	MemoryLimitBytes int64
	// CreatedBy is the API token that asked (0: the coordinator itself).
	CreatedBy int64
	// Target is, for a trial's job, the name of the trial target it
	// measures: Create links that target to the job.
	Target string
	// Kind is wire.JobKindMeasure (the default, "") or wire.JobKindProbe.
	Kind string
	// Class, when set, publishes the job on the shared subject of that
	// device class: any agent of the class may take it (DeviceID is the
	// device expected; the one that takes it claims the job).
	Class string
	// IdempotencyKey, when set (the API's Idempotency-Key header), makes
	// creating a single job idempotent for CreatedBy: asked again with
	// the same key, Create returns the job stored the first time.
	IdempotencyKey string
}

// Check reports what is wrong with r, naming the fields as the jobs API
// does: the workload (workload.Check, against Spec when it is set) and the
// limits. A missing Spec is the caller's to report.
func (r Request) Check() []api.FieldError {
	var fields []api.FieldError
	r.Workload.Check(r.Spec, func(f, msg string) { fields = append(fields, api.FieldError{Field: "workload." + f, Message: msg}) })
	if r.TimeoutSeconds < 0 || r.TimeoutSeconds > MaxTimeoutSeconds {
		fields = append(fields, api.FieldError{Field: "timeout_seconds", Message: fmt.Sprintf("must be between 0 (agent default) and %d", MaxTimeoutSeconds)})
	}
	if r.MemoryLimitBytes < 0 {
		fields = append(fields, api.FieldError{Field: "memory_limit_bytes", Message: "must not be negative"})
	}
	return fields
}

// Deps are what the manager uses.
type Deps struct {
	Store  *store.Store
	Bus    *bus.Bus
	Events *events.Hub
	Log    *slog.Logger
	// Ended is called when a job reached a final state by a result or an
	// advisory (the search drivers re-check then). May be nil.
	Ended func()
	// Measured is called after a result stored a new measurement, with the
	// device, the measurement's runtime and workload hash (the predictor
	// refit, #18). It must not block. May be nil.
	Measured func(deviceID, runtime, workloadHash string)
	// RepublishEvery is the period of the republish loop. Defaults to 2s.
	RepublishEvery time.Duration
	// LostAfter is how long a device may send no heartbeat before its
	// unfinished jobs fail with device_lost. Defaults to DefaultLostAfter.
	LostAfter time.Duration
	// PresenceEvery is how often queued heartbeats are written to
	// PostgreSQL, all in one transaction. Defaults to 500ms.
	PresenceEvery time.Duration
}

// DefaultLostAfter is the default Deps.LostAfter: six missed heartbeats
// (agents send one every 10 s), twice the window in which a device counts
// as online.
const DefaultLostAfter = 60 * time.Second

// Manager owns the job state machine. Create it with New, then Start it.
type Manager struct {
	d   Deps
	met metrics

	pmu     sync.Mutex
	pending map[string]queuedBeat // heartbeats since the last flush
	// history and running are used by FlushPresence only (one goroutine
	// at a time: the presence loop, or a caller after Start's).
	history map[string]time.Time // last heartbeats row per device
	running map[string]string    // the job last marked running per device

	// rtMu guards runtimes: per device, the runtimes list (canonical JSON)
	// last written to its profile from a heartbeat, so a beat that repeats
	// it writes nothing.
	rtMu     sync.Mutex
	runtimes map[string]string
}

// New returns a manager; call Start.
func New(d Deps) *Manager {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Ended == nil {
		d.Ended = func() {}
	}
	if d.Measured == nil {
		d.Measured = func(string, string, string) {}
	}
	if d.RepublishEvery == 0 {
		d.RepublishEvery = 2 * time.Second
	}
	if d.LostAfter <= 0 {
		d.LostAfter = DefaultLostAfter
	}
	if d.PresenceEvery <= 0 {
		d.PresenceEvery = 500 * time.Millisecond
	}
	return &Manager{d: d, met: newMetrics(d.LostAfter), pending: map[string]queuedBeat{},
		history: map[string]time.Time{}, running: map[string]string{}, runtimes: map[string]string{}}
}

// Start publishes the jobs stored but never published, subscribes to
// heartbeats and job advisories, and consumes results; the result consumer
// and the republish loop run until ctx ends (the subscriptions until the
// bus closes).
func (m *Manager) Start(ctx context.Context) error {
	if err := m.RepublishPending(ctx); err != nil {
		return err
	}
	if err := m.d.Bus.OnHeartbeat(m.onHeartbeat); err != nil {
		return err
	}
	if err := m.d.Bus.OnJobAdvisory(m.onAdvisory); err != nil {
		return err
	}
	if err := m.d.Bus.ConsumeResults(ctx, m.onResults); err != nil {
		return err
	}
	go m.republishLoop(ctx)
	go m.lostLoop(ctx)
	go m.presenceLoop(ctx)
	return nil
}

// Create validates every request (the spec's presence, the workload with
// workload.Check against the spec, the limits), stores the jobs in one
// transaction — with trial, when not nil, whose targets named by
// Request.Target are linked to their jobs — and publishes them. A
// *ValidationError or ErrDeviceNotFound means nothing was stored. With
// ErrNotPublished the jobs are stored and returned, and published later.
func (m *Manager) Create(ctx context.Context, reqs []Request, trial *store.TrialRow) ([]api.Job, error) {
	jobs, err := newJobs(reqs)
	if err != nil {
		return nil, err
	}
	var createdBy int64
	for i, r := range reqs {
		createdBy = r.CreatedBy
		if trial != nil {
			if err := link(trial, r, jobs[i].ID); err != nil {
				return nil, err
			}
		}
	}
	if trial != nil {
		err = m.d.Store.InsertTrial(ctx, *trial, jobs)
	} else {
		err = m.d.Store.CreateJobs(ctx, jobs, createdBy)
	}
	if errors.Is(err, store.ErrIdempotencyKeyUsed) && len(jobs) == 1 {
		return m.replay(ctx, createdBy, jobs[0])
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrDeviceNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return jobs, m.publishAll(ctx, jobs)
}

// Remeasure creates the jobs of re-measurement round `round` of a
// search's complete trial, one per request (Request.Target names the
// trial's target it measures again), stores them with the round
// (store.InsertRemeasure: store.ErrRoundExists when the round was
// dispatched before) and publishes them, as Create does.
func (m *Manager) Remeasure(ctx context.Context, searchID string, number, round int, reqs []Request) ([]api.Job, error) {
	jobs, err := newJobs(reqs)
	if err != nil {
		return nil, err
	}
	targets := make([]string, len(reqs))
	for i, r := range reqs {
		targets[i] = r.Target
	}
	err = m.d.Store.InsertRemeasure(ctx, searchID, number, round, targets, jobs)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrDeviceNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		m.d.Events.Publish(api.JobEvent{ID: j.ID, DeviceID: j.DeviceID, State: api.JobQueued})
	}
	return jobs, m.publishAll(ctx, jobs)
}

// newJobs validates every request (the spec's presence, the workload with
// workload.Check against the spec, the limits) and builds its job; a
// *ValidationError names what is wrong.
func newJobs(reqs []Request) ([]api.Job, error) {
	var fields []api.FieldError
	for _, r := range reqs {
		if r.Spec == nil {
			fields = append(fields, api.FieldError{Field: "spec", Message: "required"})
		}
		fields = append(fields, r.Check()...)
	}
	if len(fields) > 0 {
		return nil, &ValidationError{Fields: fields}
	}
	jobs := make([]api.Job, len(reqs))
	for i, r := range reqs {
		spec, err := r.Spec.JSON()
		if err != nil {
			return nil, fmt.Errorf("encode spec: %w", err)
		}
		jobs[i] = newJob(r, spec, r.Workload.Normalize())
	}
	return jobs, nil
}

// publishAll publishes stored jobs; ErrNotPublished when some failed (the
// republish loop retries them).
func (m *Manager) publishAll(ctx context.Context, jobs []api.Job) error {
	var errs []error
	for i := range jobs {
		if err := m.publish(ctx, jobs[i]); err != nil {
			m.d.Log.Warn("publish job; the republish loop retries", "job", jobs[i].ID, "err", err)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrNotPublished, errors.Join(errs...))
	}
	return nil
}

// ErrReplayed: Create was asked again with an idempotency key it had
// stored a job for; it returns that job (published, or published by the
// republish loop) and stores nothing.
var ErrReplayed = errors.New("the job was created before with this idempotency key")

// ErrIdempotencyKeyReused: an idempotency key came again with a different
// request (device, spec, workload or limits); nothing was stored.
var ErrIdempotencyKeyReused = errors.New("the idempotency key was used for a different job")

// replay returns, with ErrReplayed, the job createdBy stored before with
// want's idempotency key, or ErrIdempotencyKeyReused when that job is not
// the one want asks for.
func (m *Manager) replay(ctx context.Context, createdBy int64, want api.Job) ([]api.Job, error) {
	had, err := m.d.Store.JobByIdempotencyKey(ctx, createdBy, want.IdempotencyKey)
	if err != nil {
		return nil, fmt.Errorf("job of idempotency key: %w", err)
	}
	if had.DeviceID != want.DeviceID || had.Kind != want.Kind || had.SpecHash != want.SpecHash || had.WorkloadHash != want.WorkloadHash ||
		had.TimeoutS != want.TimeoutS || had.MemoryLimit != want.MemoryLimit {
		return nil, fmt.Errorf("%w (job %s)", ErrIdempotencyKeyReused, had.ID)
	}
	return []api.Job{had}, ErrReplayed
}

func newJob(r Request, spec []byte, w workload.Workload) api.Job {
	kind := r.Kind
	if kind == "" {
		kind = wire.JobKindMeasure
	}
	return api.Job{ID: store.NewJobID(), DeviceID: r.DeviceID, Class: r.Class, Kind: kind, Spec: spec, SpecHash: r.Spec.Hash(),
		Workload: w, WorkloadHash: w.Hash(), State: api.JobQueued, TimeoutS: r.TimeoutSeconds, MemoryLimit: r.MemoryLimitBytes, IdempotencyKey: r.IdempotencyKey}
}

// Redispatch replaces the lost job lost (failed with device_lost) of a
// running trial's target by a new job for r, stored and linked to the
// target in one transaction, then published. Of several calls for one lost
// job exactly one stores a job; the others get store.ErrAlreadyReplaced.
// ErrNotPublished: stored, published later by the republish loop.
func (m *Manager) Redispatch(ctx context.Context, searchID string, number int, lost string, r Request) (api.Job, error) {
	if r.Spec == nil {
		return api.Job{}, &ValidationError{Fields: []api.FieldError{{Field: "spec", Message: "required"}}}
	}
	if fields := r.Check(); len(fields) > 0 {
		return api.Job{}, &ValidationError{Fields: fields}
	}
	spec, err := r.Spec.JSON()
	if err != nil {
		return api.Job{}, fmt.Errorf("encode spec: %w", err)
	}
	j := newJob(r, spec, r.Workload.Normalize())
	j.Replaces = &lost
	err = m.d.Store.ReplaceTrialJob(ctx, searchID, number, r.Target, &j)
	if errors.Is(err, store.ErrNotFound) {
		return api.Job{}, fmt.Errorf("%w: %w", ErrDeviceNotFound, err)
	}
	if err != nil {
		return api.Job{}, err
	}
	m.d.Log.Info("job re-dispatched", "job", j.ID, "replaces", lost, "device", j.DeviceID, "class", j.Class, "search", searchID, "trial", number)
	m.d.Events.Publish(api.JobEvent{ID: j.ID, DeviceID: j.DeviceID, State: api.JobQueued})
	if err := m.publish(ctx, j); err != nil {
		return j, fmt.Errorf("%w: %w", ErrNotPublished, err)
	}
	return j, nil
}

// lostLoop fails the jobs of devices silent for longer than LostAfter,
// checking four times per LostAfter.
func (m *Manager) lostLoop(ctx context.Context) {
	t := time.NewTicker(max(m.d.LostAfter/4, 250*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := m.FailLost(ctx); err != nil && ctx.Err() == nil {
			m.d.Log.Warn("fail jobs of lost devices", "err", err)
		}
	}
}

// FailLost ends every unfinished job of a device silent for longer than
// LostAfter as failed (device_lost), withdraws its message from JOBS (so
// no agent measures it any more; a result that still arrives is ignored),
// and returns how many it ended.
func (m *Manager) FailLost(ctx context.Context) (int, error) {
	lost, err := m.d.Store.FailLostJobs(ctx, m.d.LostAfter)
	if err != nil {
		return 0, err
	}
	for _, l := range lost {
		if l.Seq != 0 {
			if err := m.d.Bus.DeleteJob(ctx, l.Seq); err != nil {
				m.d.Log.Warn("withdraw job of a lost device", "job", l.ID, "err", err)
			}
		}
		m.met.lost.Inc()
		m.d.Log.Warn("device lost: job failed", "job", l.ID, "device", l.DeviceID, "after", m.d.LostAfter)
		m.d.Events.Publish(api.JobEvent{ID: l.ID, DeviceID: l.DeviceID, State: api.JobFailed})
	}
	if len(lost) > 0 {
		m.d.Ended()
	}
	return len(lost), nil
}

// link points the trial target a request measures at its job.
func link(t *store.TrialRow, r Request, jobID string) error {
	for k := range t.Targets {
		tt := &t.Targets[k]
		if tt.Target == r.Target && tt.DeviceID == r.DeviceID && tt.JobID == nil && tt.MeasurementID == nil {
			id := jobID
			tt.JobID = &id
			return nil
		}
	}
	return fmt.Errorf("trial %d has no open target %q on device %s", t.Number, r.Target, r.DeviceID)
}

// publish sends a stored job to its device's subject (Nats-Msg-Id = job
// ID, so a second publish stores nothing new) and records the stream
// sequence, which maps advisories to jobs.
func (m *Manager) publish(ctx context.Context, j api.Job) error {
	data, err := json.Marshal(wire.Job{
		ID: j.ID, Kind: j.Kind, Spec: j.Spec, SpecHash: j.SpecHash, Workload: j.Workload,
		CreatedAt: j.CreatedAt, TimeoutSeconds: j.TimeoutS, MemoryLimitBytes: j.MemoryLimit,
	})
	if err != nil {
		return err
	}
	var seq uint64
	if j.Class != "" {
		seq, err = m.d.Bus.PublishClassJob(ctx, j.Class, j.Kind, j.ID, data)
	} else {
		seq, err = m.d.Bus.PublishJob(ctx, j.DeviceID, j.Kind, j.ID, data)
	}
	if err != nil {
		return err
	}
	return m.d.Store.SetJobSeq(ctx, j.ID, seq)
}

// RepublishPending publishes the queued jobs that never reached JetStream.
func (m *Manager) RepublishPending(ctx context.Context) error {
	jobs, err := m.d.Store.UnpublishedJobs(ctx)
	if err != nil {
		return fmt.Errorf("unpublished jobs: %w", err)
	}
	for _, j := range jobs {
		if err := m.publish(ctx, j); err != nil {
			return err
		}
		m.d.Log.Info("job re-published", "job", j.ID)
	}
	return nil
}

func (m *Manager) republishLoop(ctx context.Context) {
	t := time.NewTicker(m.d.RepublishEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.RepublishPending(ctx); err != nil && ctx.Err() == nil {
			m.d.Log.Warn("re-publish jobs", "err", err)
		}
	}
}

// onResults stores a batch of agents' results in one transaction
// (idempotently: a redelivered or replayed result changes nothing), which
// ends their jobs as done or failed.
func (m *Manager) onResults(ctx context.Context, batch []bus.ResultMsg) []bus.Disposition {
	disp := make([]bus.Disposition, len(batch))
	var in []store.ResultIn
	var idx []int
	for i, msg := range batch {
		if len(msg.Data) > wire.MaxResultBytes {
			m.met.results.WithLabelValues("too_large").Inc()
			m.d.Log.Warn("result refused: too large", "device", msg.DeviceID, "job", msg.JobID, "bytes", len(msg.Data), "limit", wire.MaxResultBytes)
			disp[i] = bus.Term
			continue
		}
		var r wire.Result
		if err := json.Unmarshal(msg.Data, &r); err != nil || r.JobID != msg.JobID {
			m.met.results.WithLabelValues("malformed").Inc()
			m.d.Log.Warn("malformed result", "device", msg.DeviceID, "job", msg.JobID, "err", err)
			disp[i] = bus.Term
			continue
		}
		in = append(in, store.ResultIn{DeviceID: msg.DeviceID, Result: r})
		idx = append(idx, i)
	}
	if len(in) == 0 {
		return disp
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	out, err := m.d.Store.StoreResults(sctx, in)
	if err != nil {
		m.met.results.WithLabelValues("retry").Add(float64(len(in)))
		m.d.Log.Error("store results", "results", len(in), "err", err)
		for _, i := range idx {
			disp[i] = bus.Retry
		}
		return disp
	}
	m.met.resultBatch.Observe(float64(len(in)))
	m.met.resultSeconds.Observe(time.Since(start).Seconds())
	ended := false
	for k, o := range out {
		i, r, deviceID := idx[k], in[k].Result, in[k].DeviceID
		disp[i] = bus.Ack
		switch {
		case o.Err != nil:
			m.met.results.WithLabelValues("refused").Inc()
			m.d.Log.Warn("result for an unknown job", "device", deviceID, "job", r.JobID, "err", o.Err)
			disp[i] = bus.Term
		case o.State == "":
			m.met.results.WithLabelValues("ignored").Inc()
		default:
			m.met.results.WithLabelValues("stored").Inc()
			m.d.Log.Info("result stored", "job", r.JobID, "device", deviceID, "status", r.Status, "fail_kind", r.FailKind)
			m.d.Events.Publish(api.JobEvent{ID: r.JobID, DeviceID: deviceID, State: o.State, Status: r.Status})
			ended = true
			if o.State == api.JobDone && r.Measurement != nil {
				m.d.Measured(deviceID, r.Measurement.RuntimeName(), r.Measurement.WorkloadHash)
			}
		}
	}
	if ended {
		m.d.Ended()
	}
	return disp
}

// onAdvisory fails a job that will never run: an agent terminated it or it
// ran out of deliveries. A job that already ended keeps its state.
func (m *Manager) onAdvisory(adv bus.JobAdvisory) {
	kind, msg := wire.FailInternal, "terminated by the agent"
	if adv.MaxDeliveries {
		kind, msg = wire.FailCrash, "delivered the maximum number of times without a result"
	} else if adv.Reason != "" {
		msg = "terminated by the agent: " + adv.Reason
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, deviceID, err := m.d.Store.FailJobBySeq(ctx, adv.StreamSeq, kind, msg)
	switch {
	case err != nil:
		m.d.Log.Error("job advisory", "seq", adv.StreamSeq, "err", err)
	case id != "":
		m.d.Log.Info("job ended by advisory", "job", id, "reason", msg)
		m.d.Events.Publish(api.JobEvent{ID: id, DeviceID: deviceID, State: api.JobFailed})
		m.d.Ended()
	}
}

// onHeartbeat checks a heartbeat and queues it for the next presence
// flush (the latest per device wins); nothing is written per beat. A
// heartbeat above wire.MaxHeartbeatBytes or not valid is dropped and
// counted.
func (m *Manager) onHeartbeat(deviceID string, data []byte) {
	if len(data) > wire.MaxHeartbeatBytes {
		m.met.hbRejected.WithLabelValues("too_large").Inc()
		m.d.Log.Warn("heartbeat refused: too large", "device", deviceID, "bytes", len(data), "limit", wire.MaxHeartbeatBytes)
		return
	}
	var hb wire.Heartbeat
	if err := json.Unmarshal(data, &hb); err != nil || (hb.Status != "idle" && hb.Status != "busy") {
		m.met.hbRejected.WithLabelValues("invalid").Inc()
		m.d.Log.Warn("bad heartbeat", "device", deviceID)
		return
	}
	m.met.heartbeats.Inc()
	m.pmu.Lock()
	m.pending[deviceID] = queuedBeat{hb: store.Heartbeat{At: time.Now().UTC(), Status: hb.Status, TempC: hb.TempC, Payload: data},
		job: hb.JobID, runtimes: hb.Runtimes}
	m.pmu.Unlock()
}

type queuedBeat struct {
	hb  store.Heartbeat
	job string // the job the agent is busy with
	// runtimes the agent reported, if it did (refreshRuntimes).
	runtimes *[]wire.RuntimeInfo
}

// presenceLoop flushes queued heartbeats every PresenceEvery until ctx
// ends.
func (m *Manager) presenceLoop(ctx context.Context) {
	t := time.NewTicker(m.d.PresenceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.FlushPresence(ctx); err != nil && ctx.Err() == nil {
			m.d.Log.Error("record presence", "err", err)
		}
	}
}

// HistoryEvery is the sampling of the heartbeats table: at most one row
// per device per HistoryEvery.
const HistoryEvery = time.Minute

// FlushPresence writes the heartbeats queued since the last flush in one
// transaction (store.RecordPresence), publishes their device events, and
// marks running the jobs they name for the first time.
func (m *Manager) FlushPresence(ctx context.Context) error {
	m.pmu.Lock()
	queued := m.pending
	m.pending = map[string]queuedBeat{}
	m.pmu.Unlock()
	if len(queued) == 0 {
		return nil
	}
	start := time.Now()
	batch := make([]store.Presence, 0, len(queued))
	for id, q := range queued {
		p := store.Presence{DeviceID: id, Heartbeat: q.hb}
		if last, ok := m.history[id]; !ok || q.hb.At.Sub(last) >= HistoryEvery {
			p.History = true
			m.history[id] = q.hb.At
		}
		batch = append(batch, p)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.d.Store.RecordPresence(fctx, batch); err != nil {
		// Put them back unless newer beats arrived meanwhile.
		m.pmu.Lock()
		for id, q := range queued {
			if _, ok := m.pending[id]; !ok {
				m.pending[id] = q
			}
		}
		m.pmu.Unlock()
		return err
	}
	m.met.flushSeconds.Observe(time.Since(start).Seconds())
	m.met.flushBatch.Observe(float64(len(batch)))
	for id, q := range queued {
		status := api.DeviceOnline
		if q.hb.Status == "busy" {
			status = api.DeviceBusy
		}
		m.d.Events.Publish(api.DeviceEvent{ID: id, Status: status, TempC: q.hb.TempC})
		if q.runtimes != nil {
			m.refreshRuntimes(fctx, id, *q.runtimes)
		}
		if q.hb.Status == "busy" && q.job != "" && m.running[id] != q.job {
			if err := m.d.Store.MarkJobRunning(fctx, q.job, id, 0); err != nil {
				m.d.Log.Error("mark job running", "job", q.job, "err", err)
				continue
			}
			m.running[id] = q.job
		}
	}
	return nil
}

// maxRuntimes bounds the runtimes list an agent may report.
const maxRuntimes = 8

// refreshRuntimes stores the runtimes an agent reported in its heartbeat
// as its device profile's "runtimes" when they differ from the stored ones
// (an agent restarted with or without a llama-bench), so the device need
// not re-enroll. Entries naming no known runtime besides native are
// dropped, and overlong fields cut.
func (m *Manager) refreshRuntimes(ctx context.Context, deviceID string, rts []wire.RuntimeInfo) {
	clean := []wire.RuntimeInfo{}
	for _, r := range rts {
		if r.Name == workload.RuntimeNative || !slices.Contains(workload.Runtimes, r.Name) || len(clean) == maxRuntimes {
			continue
		}
		r.Path, r.Version, r.BuildCommit, r.Backends = cut(r.Path, 1024), cut(r.Version, 512), cut(r.BuildCommit, 64), cut(r.Backends, 256)
		clean = append(clean, r)
	}
	data, _ := json.Marshal(clean)
	m.rtMu.Lock()
	same := m.runtimes[deviceID] == string(data)
	m.rtMu.Unlock()
	if same {
		return
	}
	changed, err := m.d.Store.SetDeviceRuntimes(ctx, deviceID, data)
	if err != nil {
		m.d.Log.Error("refresh device runtimes", "device", deviceID, "err", err)
		return
	}
	m.rtMu.Lock()
	m.runtimes[deviceID] = string(data)
	m.rtMu.Unlock()
	if changed {
		names := make([]string, len(clean))
		for i, r := range clean {
			names[i] = r.Name
		}
		m.d.Log.Info("device runtimes refreshed from its agent", "device", deviceID, "runtimes", names)
	}
}

// cut shortens s to at most n bytes.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// CancelForSearch withdraws a search's unfinished jobs: an undelivered one
// is deleted from JOBS, and every one is marked cancelled (a result that
// still arrives is ignored).
func (m *Manager) CancelForSearch(ctx context.Context, searchID string) error {
	jobs, err := m.d.Store.UnfinishedJobs(ctx, searchID)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if seq, err := m.d.Store.JobSeq(ctx, j.ID); err == nil && seq != 0 {
			if err := m.d.Bus.DeleteJob(ctx, seq); err != nil {
				m.d.Log.Warn("withdraw job", "job", j.ID, "err", err)
			}
		}
		if err := m.d.Store.CancelJob(ctx, j.ID); err != nil {
			return err
		}
		m.d.Events.Publish(api.JobEvent{ID: j.ID, DeviceID: j.DeviceID, State: api.JobCancelled})
	}
	return nil
}

// CancelForDevice marks every unfinished job of a revoked device cancelled
// (the bus purged its messages when it removed the agent) and returns how
// many there were.
func (m *Manager) CancelForDevice(ctx context.Context, deviceID string) (int64, error) {
	return m.d.Store.CancelDeviceJobs(ctx, deviceID)
}
