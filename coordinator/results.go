package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// consumeResults stores every result from RESULTS, then acks it. Storing
// is idempotent, so a redelivered or replayed result changes nothing.
// It returns when ctx ends.
func (a *App) consumeResults(ctx context.Context) error {
	return a.Bus.ConsumeResults(ctx, a.onResult)
}

func (a *App) onResult(ctx context.Context, deviceID, jobID string, data []byte) bus.Disposition {
	var r wire.Result
	if err := json.Unmarshal(data, &r); err != nil || r.JobID != jobID {
		a.log.Warn("malformed result", "device", deviceID, "job", jobID, "err", err)
		return bus.Term
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stored, err := a.Store.StoreResult(sctx, deviceID, r)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrResultMismatch):
		a.log.Warn("result for an unknown job", "device", deviceID, "job", r.JobID, "err", err)
		return bus.Term
	case err != nil:
		a.log.Error("store result", "job", r.JobID, "err", err)
		return bus.Retry
	}
	if stored {
		a.log.Info("result stored", "job", r.JobID, "device", deviceID, "status", r.Status, "fail_kind", r.FailKind)
		a.Events.Publish("job", map[string]any{"id": r.JobID, "device_id": deviceID, "status": r.Status})
		a.Drivers.Wake()
	}
	return bus.Ack
}

// onJobAdvisory ends jobs that will never run: an agent terminated them or
// they ran out of deliveries. A job that already has a result keeps it.
func (a *App) onJobAdvisory(adv bus.JobAdvisory) {
	kind, msg := wire.FailInternal, "terminated by the agent"
	if adv.MaxDeliveries {
		kind, msg = wire.FailCrash, "delivered the maximum number of times without a result"
	} else if adv.Reason != "" {
		msg = "terminated by the agent: " + adv.Reason
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := a.Store.FailJobBySeq(ctx, adv.StreamSeq, kind, msg)
	if err != nil {
		a.log.Error("job advisory", "seq", adv.StreamSeq, "err", err)
	} else if id != "" {
		a.log.Info("job ended by advisory", "job", id, "reason", msg)
		a.Drivers.Wake()
	}
}

// publishJob sends a stored job to its device's subject (Nats-Msg-Id = job
// ID) and records the stream sequence, which maps advisories to jobs.
func (a *App) publishJob(ctx context.Context, j store.Job) error {
	data, err := json.Marshal(wire.Job{
		ID: j.ID, Kind: j.Kind, Spec: j.Spec, SpecHash: j.SpecHash, Workload: j.Workload,
		CreatedAt: j.CreatedAt, TimeoutSeconds: j.TimeoutS, MemoryLimitBytes: j.MemoryLimit,
	})
	if err != nil {
		return err
	}
	seq, err := a.Bus.PublishJob(ctx, j.DeviceID, j.Kind, j.ID, data)
	if err != nil {
		return err
	}
	return a.Store.SetJobSeq(ctx, j.ID, seq)
}

// republishJobs publishes jobs that were stored but never reached
// JetStream (the coordinator died in between).
func (a *App) republishJobs(ctx context.Context) error {
	jobs, err := a.Store.UnpublishedJobs(ctx)
	if err != nil {
		return fmt.Errorf("unpublished jobs: %w", err)
	}
	for _, j := range jobs {
		if err := a.publishJob(ctx, j); err != nil {
			return err
		}
		a.log.Info("job re-published", "job", j.ID)
	}
	return nil
}
