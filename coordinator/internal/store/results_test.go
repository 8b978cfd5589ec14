package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

// TestStoreResultsBatch: one batch mixing every case StoreResults tells
// apart — a measurement, a failure, a second result for a job the batch
// already decided, a replay of a job decided before, an unknown job,
// another device's job, a class job claimed by a device of its class, a
// measurement from the wrong runtime — gives each its outcome, stores one
// measurement per measured job and changes nothing else.
func TestStoreResultsBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, dsn := migrated(t, ctx)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i, d := range []string{"da", "db", "dc"} {
		class := "cls-x"
		if d == "db" {
			class = "cls-y"
		}
		if _, err := conn.Exec(ctx, `INSERT INTO devices (id, name, class, nkey) VALUES ($1, $1, $2, $3)`, d, class, "UKEY"+string(rune('A'+i))); err != nil {
			t.Fatal(err)
		}
	}
	job := func(id, dev, class, runtime string) api.Job {
		return api.Job{ID: id, DeviceID: dev, Class: class, Kind: "measure", Spec: []byte(`{}`), SpecHash: "s-" + id,
			Workload: workload.Workload{Runtime: runtime}, WorkloadHash: "w"}
	}
	jobs := []api.Job{job("j1", "da", "", ""), job("j2", "da", "", ""), job("j3", "da", "", ""), job("j4", "db", "", ""),
		job("j5", "da", "cls-x", ""), job("j6", "da", "", "llama.cpp"), job("j7", "da", "", "")}
	if err := s.CreateJobs(ctx, jobs, 0); err != nil {
		t.Fatal(err)
	}
	meas := func(job string) *wire.Measurement {
		return &wire.Measurement{SpecHash: "s-" + job, WorkloadHash: "w", AgentVersion: "test", KernelVariant: "go"}
	}
	ok := func(job string, attempt int) wire.Result {
		return wire.Result{JobID: job, Status: wire.ResultOK, Attempt: attempt, Measurement: meas(job)}
	}
	// j7 is decided before the batch.
	if out, err := s.StoreResults(ctx, []store.ResultIn{{DeviceID: "da", Result: ok("j7", 1)}}); err != nil || out[0].State != api.JobDone {
		t.Fatalf("first result of j7: %+v %v", out, err)
	}
	batch := []store.ResultIn{
		{DeviceID: "da", Result: ok("j1", 2)},
		{DeviceID: "da", Result: wire.Result{JobID: "j2", Status: wire.ResultFailed, FailKind: wire.FailTimeout, Error: "too slow", Attempt: 1}},
		{DeviceID: "da", Result: ok("j1", 3)},
		{DeviceID: "da", Result: ok("j7", 2)},
		{DeviceID: "da", Result: ok("j-unknown", 1)},
		{DeviceID: "da", Result: ok("j4", 1)},
		{DeviceID: "dc", Result: ok("j5", 1)},
		{DeviceID: "da", Result: ok("j6", 1)},
		{DeviceID: "da", Result: wire.Result{JobID: "j3", Status: wire.ResultOK, Attempt: 1}},
	}
	out, err := s.StoreResults(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ResultOut{{State: api.JobDone}, {State: api.JobFailed}, {}, {}, {Err: store.ErrNotFound},
		{Err: store.ErrResultMismatch}, {State: api.JobDone}, {State: api.JobFailed}, {State: api.JobFailed}}
	for i := range want {
		if out[i].State != want[i].State || !errors.Is(out[i].Err, want[i].Err) || (want[i].Err == nil) != (out[i].Err == nil) {
			t.Errorf("result %d (%s): %+v, want %+v", i, batch[i].Result.JobID, out[i], want[i])
		}
	}
	type row struct {
		state, device, failKind, errMsg string
		attempts, measurements          int
		measDevice                      string
	}
	get := func(id string) row {
		var r row
		if err := conn.QueryRow(ctx, `SELECT j.state, j.device_id, coalesce(j.fail_kind, ''), coalesce(j.error, ''), j.attempts,
			(SELECT count(*) FROM measurements m WHERE m.job_id = j.id), coalesce((SELECT device_id FROM measurements m WHERE m.job_id = j.id), '')
			FROM jobs j WHERE j.id = $1`, id).Scan(&r.state, &r.device, &r.failKind, &r.errMsg, &r.attempts, &r.measurements, &r.measDevice); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for id, w := range map[string]row{
		"j1": {state: "done", device: "da", attempts: 2, measurements: 1, measDevice: "da"},
		"j2": {state: "failed", device: "da", failKind: string(wire.FailTimeout), errMsg: "too slow", attempts: 1},
		"j3": {state: "failed", device: "da", failKind: string(wire.FailInternal), errMsg: "result has status ok but no measurement", attempts: 1},
		"j4": {state: "queued", device: "db"},
		"j5": {state: "done", device: "dc", attempts: 1, measurements: 1, measDevice: "dc"},
		"j6": {state: "failed", device: "da", failKind: string(wire.FailInternal), errMsg: "the agent measured with runtime native, the job asked for llama.cpp", attempts: 1},
		"j7": {state: "done", device: "da", attempts: 1, measurements: 1, measDevice: "da"},
	} {
		if got := get(id); got != w {
			t.Errorf("%s: %+v, want %+v", id, got, w)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM measurements`).Scan(&n); err != nil || n != 3 {
		t.Errorf("measurements: %d (%v), want 3", n, err)
	}
}

// BenchmarkStoreResults stores batches of 250 measurements (the size the
// jobs manager's result batches reach under a fleet's load) for fresh
// jobs; ns/op is per batch.
func BenchmarkStoreResults(b *testing.B) {
	ctx := context.Background()
	s, dsn := migrated(b, ctx)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO devices (id, name, class, nkey) VALUES ('da', 'da', 'c', 'UKEYA')`); err != nil {
		b.Fatal(err)
	}
	const batch = 250
	m := &wire.Measurement{SpecHash: "s", WorkloadHash: "w", AgentVersion: "bench", KernelVariant: "go"}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		jobs := make([]api.Job, batch)
		in := make([]store.ResultIn, batch)
		for k := range jobs {
			jobs[k] = api.Job{ID: store.NewJobID(), DeviceID: "da", Kind: "measure", Spec: []byte(`{}`), SpecHash: "s", WorkloadHash: "w"}
			in[k] = store.ResultIn{DeviceID: "da", Result: wire.Result{JobID: jobs[k].ID, Status: wire.ResultOK, Attempt: 1, Measurement: m}}
		}
		if err := s.CreateJobs(ctx, jobs, 0); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.StoreResults(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
