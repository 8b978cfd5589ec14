// Package predictors keeps one fitted search.Predictor per (device,
// runtime, workload hash) in PostgreSQL. The job manager reports each
// stored measurement (Notify, which never blocks the result path); a
// single background loop (Run) refits the predictors it names from every
// measurement of that key and stores them, so a restart keeps them.
package predictors

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/internal/driver"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
)

// Key names one predictor.
type Key struct {
	DeviceID, Runtime, WorkloadHash string
}

// Refitter refits predictors in the background.
type Refitter struct {
	store *store.Store
	log   *slog.Logger

	mu      sync.Mutex
	pending map[Key]bool
	wake    chan struct{}
}

// New returns a refitter; call Run.
func New(s *store.Store, log *slog.Logger) *Refitter {
	if log == nil {
		log = slog.Default()
	}
	return &Refitter{store: s, log: log, pending: map[Key]bool{}, wake: make(chan struct{}, 1)}
}

// Notify marks a key for a refit; bursts coalesce into one. It never blocks.
func (r *Refitter) Notify(k Key) {
	r.mu.Lock()
	r.pending[k] = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run refits notified keys until ctx ends.
func (r *Refitter) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		r.mu.Lock()
		keys := r.pending
		r.pending = map[Key]bool{}
		r.mu.Unlock()
		for k := range keys {
			fctx, cancel := context.WithTimeout(ctx, time.Minute)
			n, err := Refit(fctx, r.store, k)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.log.Warn("refit predictor", "device", k.DeviceID, "runtime", k.Runtime, "workload", k.WorkloadHash, "err", err)
				continue
			}
			r.log.Debug("predictor refitted", "device", k.DeviceID, "runtime", k.Runtime, "workload", k.WorkloadHash, "measurements", n)
		}
	}
}

// Refit fits the predictor of k from every stored measurement of k and
// stores it; it returns the number of observations. Measurements whose job
// has no valid architecture, or that report no usable metric, are skipped.
// With no usable measurement nothing is stored.
func Refit(ctx context.Context, s *store.Store, k Key) (int, error) {
	rows, err := s.MeasurementsFor(ctx, k.DeviceID, k.Runtime, k.WorkloadHash)
	if err != nil {
		return 0, err
	}
	var obs []search.Observation
	var p *search.Predictor
	for _, row := range rows {
		spec, err := arch.Parse(row.Spec)
		if err != nil || spec.Validate() != nil {
			continue
		}
		vals := search.Values{}
		for mk, v := range driver.Values(&row.Measurement, row.Workload) {
			if v > 0 && !math.IsInf(v, 0) {
				vals[mk] = v
			}
		}
		if len(vals) == 0 {
			continue
		}
		if p == nil {
			p = &search.Predictor{Version: search.PredictorVersion, Workload: row.Workload}
		}
		o := search.Observation{Spec: *spec, Values: vals}
		if row.Kind == wire.JobKindProbe {
			o.Probe = strings.TrimPrefix(spec.Name, search.ProbeNamePrefix)
		}
		obs = append(obs, o)
	}
	if p == nil {
		return 0, nil
	}
	if err := p.Add(obs...); err != nil {
		return 0, fmt.Errorf("fit: %w", err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return 0, err
	}
	return len(obs), s.SavePredictor(ctx, store.PredictorRow{DeviceID: k.DeviceID, Runtime: k.Runtime,
		WorkloadHash: k.WorkloadHash, Measurements: len(obs), Body: body})
}

// Load returns the stored predictor of k, restored from its JSON (refitted
// when it was stored by another PredictorVersion), or store.ErrNotFound.
func Load(ctx context.Context, s *store.Store, k Key) (*search.Predictor, store.PredictorRow, error) {
	row, err := s.Predictor(ctx, k.DeviceID, k.Runtime, k.WorkloadHash)
	if err != nil {
		return nil, row, err
	}
	return Decode(row)
}

// Decode restores a stored predictor from its JSON, refitting it when it
// was stored by another PredictorVersion.
func Decode(row store.PredictorRow) (*search.Predictor, store.PredictorRow, error) {
	var p search.Predictor
	if err := json.Unmarshal(row.Body, &p); err != nil {
		return nil, row, fmt.Errorf("stored predictor: %w", err)
	}
	if p.Version != search.PredictorVersion {
		if err := p.Refit(); err != nil {
			return nil, row, fmt.Errorf("stored predictor: refit: %w", err)
		}
	}
	return &p, row, nil
}
