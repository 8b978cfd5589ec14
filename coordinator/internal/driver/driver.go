// Package driver runs searches: one driver goroutine per running search,
// holding a PostgreSQL advisory lock so that of several coordinators
// against one database exactly one drives each search. A driver asks the
// optimizer for candidates, dispatches measurement jobs (or reuses cached
// measurements), collects results, and tells the optimizer the outcomes.
// All its state lives in PostgreSQL, so it resumes after a restart.
package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/evals"
	"github.com/hilsearch/hilsearch/coordinator/internal/events"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/internal/studystore"
	"github.com/hilsearch/hilsearch/search"
	"github.com/hilsearch/hilsearch/workload"
)

// Deps are what drivers use.
type Deps struct {
	Store *store.Store
	// Storage returns a goptuna storage (on PostgreSQL) for one driver.
	Storage func() *studystore.Storage
	// Jobs creates and cancels the measurement jobs (the job state
	// machine's owner).
	Jobs *jobs.Manager
	// Evals creates and ends the evaluation jobs (their state machine's
	// owner); nil when the coordinator runs none (a search naming a score
	// is then refused at creation).
	Evals  *evals.Manager
	Events *events.Hub
	Log    *slog.Logger
	// Poll is how often drivers re-check without a wake-up. Defaults to 1s.
	Poll time.Duration
	// Predictor returns the fitted predictor of a device, runtime and
	// workload hash, or nil when there is none yet. Nil turns predictor
	// screening off.
	Predictor func(ctx context.Context, deviceID, runtime, workloadHash string) (*search.Predictor, error)
}

// Manager starts a driver for every active search whose advisory lock it
// can take.
type Manager struct {
	d       Deps
	mu      sync.Mutex
	drivers map[string]*driver
	wg      sync.WaitGroup
	// ctx is Run's context: every driver runs under it, however started.
	ctx context.Context
}

// NewManager returns a manager; call Run.
func NewManager(d Deps) *Manager {
	if d.Poll == 0 {
		d.Poll = time.Second
	}
	return &Manager{d: d, drivers: map[string]*driver{}}
}

// Run scans for searches to drive until ctx ends, then waits for its
// drivers to stop.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		m.scan(ctx)
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return
		case <-t.C:
		}
	}
}

// Wake makes every driver re-check at once (a result arrived, a state
// changed) and the manager pick up new searches.
func (m *Manager) Wake() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.drivers {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// Driving lists the searches this manager drives now.
func (m *Manager) Driving() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id := range m.drivers {
		ids = append(ids, id)
	}
	return ids
}

// Kick starts driving a search now if its lock is free. It does nothing
// before Run has started or after it has ended (Run's scan finds the
// search).
func (m *Manager) Kick(id string) {
	m.mu.Lock()
	ctx := m.ctx
	m.mu.Unlock()
	if ctx != nil && ctx.Err() == nil {
		m.tryStart(ctx, id)
	}
}

func (m *Manager) scan(ctx context.Context) {
	ids, err := m.d.Store.ActiveSearches(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.d.Log.Warn("list active searches", "err", err)
		}
		return
	}
	for _, id := range ids {
		m.tryStart(ctx, id)
	}
}

func lockKey(searchID string) string { return "hilsearch:search:" + searchID }

func (m *Manager) tryStart(ctx context.Context, id string) {
	m.mu.Lock()
	if _, ok := m.drivers[id]; ok {
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	// The search's advisory lock is held for as long as the driver runs.
	lock, err := m.d.Store.TryLock(ctx, lockKey(id))
	if err != nil || lock == nil {
		return
	}
	d := &driver{id: id, m: m, wake: make(chan struct{}, 1), log: m.d.Log.With("search", id)}
	m.mu.Lock()
	m.drivers[id] = d
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.drivers, id)
			m.mu.Unlock()
			lock.Release()
		}()
		if err := d.run(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("search driver failed", "err", err)
			if serr := m.d.Store.SetSearchState(context.Background(), id, []api.SearchState{api.SearchRunning, api.SearchPaused}, api.SearchFailed, err.Error()); serr == nil {
				m.d.Events.Publish(api.SearchEvent{ID: id, State: api.SearchFailed})
			}
		}
	}()
}

type driver struct {
	id   string
	m    *Manager
	wake chan struct{}
	log  *slog.Logger
	spec *search.Spec
	// study is this driver's own goptuna storage (studystore.Storage's
	// Atomically needs it unshared).
	study *studystore.Storage
	opt   *search.Optimizer
	wl    workload.Workload
	// noise is each target's between-run noise per metric as last
	// estimated from the search's repeats (setNoise); a trial's stored
	// spread is widened by it.
	noise map[string]search.Values
}

func (d *driver) st() *store.Store { return d.m.d.Store }

// The optimizer revises re-measured trials (poolRound) through the study
// storage.
var _ search.Reviser = (*studystore.Storage)(nil)

func (d *driver) run(ctx context.Context) error {
	se, err := d.st().GetSearch(ctx, d.id)
	if err != nil {
		return err
	}
	if d.spec, err = search.Parse(se.Spec); err != nil {
		return fmt.Errorf("stored spec: %w", err)
	}
	study, err := d.st().SearchStudy(ctx, d.id)
	if err != nil {
		return err
	}
	d.study = d.m.d.Storage()
	if d.opt, err = search.NewOptimizer(d.spec, d.study, study); err != nil {
		return err
	}
	d.wl = d.spec.Workload.Normalize()
	if err := d.reconcile(ctx); err != nil {
		return err
	}
	if err := d.reviseRemeasured(ctx); err != nil {
		return err
	}
	if err := d.refreshNoise(ctx); err != nil {
		return err
	}
	d.log.Info("driving search", "algorithm", d.spec.Algorithm, "max_trials", d.spec.Budget.MaxTrials)
	for {
		done, err := d.step(ctx)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-time.After(d.m.d.Poll):
		}
	}
}

// reconcile fails goptuna trials left running by a coordinator that died
// between asking for a candidate and storing its trial.
func (d *driver) reconcile(ctx context.Context) error {
	have, err := d.st().TrialStudyIDs(ctx, d.id)
	if err != nil {
		return err
	}
	trials, err := d.opt.Study().GetTrials()
	if err != nil {
		return err
	}
	for _, t := range trials {
		if t.State == goptuna.TrialStateRunning && !have[t.ID] {
			if err := d.opt.Fail(t.ID, "orphaned: the coordinator stopped before dispatching it"); err != nil {
				return err
			}
			d.log.Info("orphaned optimizer trial failed", "trial", t.Number)
		}
	}
	return nil
}

// reviseRemeasured gives the optimizer the pooled outcome of every
// re-measured trial (search.Optimizer.Revise). A round pooled by poolRound
// revises the optimizer in the transaction that marks it pooled, so this
// writes nothing for it (Revise of the outcome a trial holds is a no-op);
// it catches up the trials pooled by a coordinator that kept the first
// outcome in the optimizer (before #18's revision). A trial it cannot
// revise is logged and left as it is.
func (d *driver) reviseRemeasured(ctx context.Context) error {
	pts, err := d.st().CompletePoints(ctx, d.id)
	if err != nil {
		return err
	}
	for _, p := range pts {
		if p.Remeasured == 0 {
			continue
		}
		if err := d.opt.Revise(p.StudyTrial, search.Outcome{Values: p.Objectives, Violation: p.Violation}); err != nil {
			d.log.Warn("re-measured trial's pooled outcome not given to the optimizer", "trial", p.Number, "err", err)
		}
	}
	return nil
}

// step does one round: collect results, end and start re-measurements
// (remeasure), then dispatch new trials. It returns done when the search
// has ended; a search at its budget ends once its trials and
// re-measurements have.
func (d *driver) step(ctx context.Context) (bool, error) {
	se, err := d.st().GetSearch(ctx, d.id)
	if err != nil {
		return false, err
	}
	switch se.State {
	case api.SearchCancelled:
		return true, d.cancelOutstanding(ctx)
	case api.SearchFinished, api.SearchFailed:
		return true, nil
	}
	outOfTime := false
	if w := d.spec.Budget.MaxWallTime; w != "" {
		if lim, err := time.ParseDuration(w); err == nil && time.Since(se.CreatedAt) > lim {
			outOfTime = true
		}
	}
	if err := d.collect(ctx, outOfTime); err != nil {
		return false, err
	}
	remeasuring, err := d.remeasure(ctx, se.State == api.SearchRunning && !outOfTime)
	if err != nil {
		return false, err
	}
	if se.State != api.SearchRunning {
		return false, nil
	}
	running, complete, failed, err := d.st().TrialCounts(ctx, d.id)
	if err != nil {
		return false, err
	}
	total := running + complete + failed
	if total >= d.spec.Budget.MaxTrials || outOfTime {
		if running == 0 && remeasuring == 0 {
			reason := ""
			if complete == 0 {
				// Finished, but with nothing to show: say why, for
				// `hil search watch` and the dashboard.
				reason, err = d.noCompleteTrial(ctx, failed, outOfTime)
				if err != nil {
					return false, err
				}
			}
			if err := d.st().SetSearchState(ctx, d.id, []api.SearchState{api.SearchRunning}, api.SearchFinished, reason); err != nil && !errors.Is(err, store.ErrStateConflict) {
				return false, err
			}
			d.log.Info("search finished", "complete", complete, "failed", failed, "out_of_time", outOfTime)
			d.m.d.Events.Publish(api.SearchEvent{ID: d.id, State: api.SearchFinished})
			return true, nil
		}
		return false, nil
	}
	if pending, err := d.guardPending(ctx); err != nil || pending {
		return false, err
	}
	return false, d.dispatch(ctx, total, complete)
}

// guardPending reports whether the search's fidelity guard (spec "guard")
// still has jobs that have not ended: until then the search starts no
// trial, so the cross-check runs before the search spends device time on
// candidates. A guard whose cross-check is gone holds nothing back.
func (d *driver) guardPending(ctx context.Context) (bool, error) {
	g := d.spec.Guard
	if g == nil || g.CheckID == "" {
		return false, nil
	}
	f, byID, err := d.st().GetFidelity(ctx, g.CheckID)
	if errors.Is(err, store.ErrNotFound) {
		d.log.Warn("the search guard's cross-check is gone; not waiting for it", "check", g.CheckID)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range f.Entries {
		for _, id := range e.Jobs {
			if j, ok := byID[id]; ok && !j.State.Final() {
				return true, nil
			}
		}
	}
	return false, nil
}

// noCompleteTrial explains why a search ends without any complete trial.
func (d *driver) noCompleteTrial(ctx context.Context, failed int, outOfTime bool) (string, error) {
	if failed > 0 {
		msg := fmt.Sprintf("no trial completed: all %d failed", failed)
		ts, _, err := d.st().ListTrials(ctx, d.id, api.TrialQuery{State: api.TrialFailed, Sort: "-number", Limit: 1})
		if err != nil {
			return "", err
		}
		if len(ts) == 1 && ts[0].Error != nil {
			msg += fmt.Sprintf(" (the last, trial %d: %s)", ts[0].Number, *ts[0].Error)
		}
		return msg, nil
	}
	msg := "no trial completed: none started"
	if outOfTime {
		msg = "no trial completed: max_wall_time " + d.spec.Budget.MaxWallTime + " ran out before any trial started"
	}
	var waiting []string
	for _, t := range d.spec.Targets {
		devs, err := d.st().MatchDevices(ctx, t.Devices, t.Class, t.Tags)
		if err != nil {
			return "", err
		}
		online := false
		for _, dev := range devs {
			online = online || dev.Status != api.DeviceOffline
		}
		if !online {
			waiting = append(waiting, t.Name)
		}
	}
	if len(waiting) > 0 {
		msg += "; no device of target " + strings.Join(waiting, ", ") + " was online"
	}
	return msg, nil
}
