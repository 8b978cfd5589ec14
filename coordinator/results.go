package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// consumeResults stores every result from RESULTS, then acks it. Storing
// is idempotent, so a redelivered or replayed result changes nothing.
// It returns when ctx ends.
func (a *App) consumeResults(ctx context.Context) error {
	cons, err := a.Bus.Results(ctx)
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { a.onResult(ctx, m) },
		jetstream.PullMaxMessages(16),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				a.log.Debug("results consumer", "err", err)
			}
		}))
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		cc.Stop()
	}()
	return nil
}

func (a *App) onResult(ctx context.Context, m jetstream.Msg) {
	// results.<deviceID>.<jobID>: the subject names the publishing device,
	// which NATS permissions guarantee.
	parts := strings.Split(m.Subject(), ".")
	if len(parts) != 3 {
		a.log.Warn("result on unexpected subject", "subject", m.Subject())
		_ = m.Term()
		return
	}
	deviceID := parts[1]
	var r wire.Result
	if err := json.Unmarshal(m.Data(), &r); err != nil || r.JobID != parts[2] {
		a.log.Warn("malformed result", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stored, err := a.Store.StoreResult(sctx, deviceID, r)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrResultMismatch):
		a.log.Warn("result for an unknown job", "device", deviceID, "job", r.JobID, "err", err)
		_ = m.Term()
		return
	case err != nil:
		a.log.Error("store result", "job", r.JobID, "err", err)
		_ = m.NakWithDelay(2 * time.Second)
		return
	}
	if stored {
		a.log.Info("result stored", "job", r.JobID, "device", deviceID, "status", r.Status, "fail_kind", r.FailKind)
		a.Events.Publish("job", map[string]any{"id": r.JobID, "device_id": deviceID, "status": r.Status})
		a.Drivers.Wake()
	}
	_ = m.Ack()
}

// advisory is the part of a JetStream consumer advisory we read.
type advisory struct {
	Stream    string `json:"stream"`
	Consumer  string `json:"consumer"`
	StreamSeq uint64 `json:"stream_seq"`
	Reason    string `json:"reason"`
}

// onJobAdvisory ends jobs that will never run: an agent terminated them or
// they ran out of deliveries. A job that already has a result keeps it.
func (a *App) onJobAdvisory(m *nats.Msg) {
	var adv advisory
	if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
		return
	}
	kind, msg := wire.FailInternal, "terminated by the agent"
	if strings.Contains(m.Subject, "MAX_DELIVERIES") {
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
