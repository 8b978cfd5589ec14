package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/internal/studystore"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// runningTrial stores a search named name, its study, and its trial 0,
// running in both.
func runningTrial(t *testing.T, ctx context.Context, s *store.Store, name string) (api.Search, *studystore.Storage, int) {
	t.Helper()
	se, err := s.CreateSearch(ctx, store.NewSearchID(), name, []byte(`{}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	study := s.StudyStorage()
	sid, err := study.CreateNewStudy(name)
	if err != nil {
		t.Fatal(err)
	}
	tid, err := study.CreateNewTrial(sid)
	if err != nil {
		t.Fatal(err)
	}
	row := store.TrialRow{StudyTrial: tid, Trial: api.Trial{SearchID: se.ID, Number: 0, Arch: []byte(`{}`), ArchHash: "h", Layers: []string{"conv"}}}
	if err := s.InsertTrial(ctx, row, nil); err != nil {
		t.Fatal(err)
	}
	return se, study, tid
}

// TestFinishTrialIsAtomic: a trial's end is written to the goptuna study
// (by tell, as the optimizer's Tell does) and to the trials row in one
// transaction: when either write fails neither is kept.
func TestFinishTrialIsAtomic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, _ := migrated(t, ctx)
	se, study, tid := runningTrial(t, ctx, s, "atomic")
	states := func() (goptuna.TrialState, api.TrialState) {
		ft, err := study.GetTrial(tid)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := s.GetTrial(ctx, se.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return ft.State, tr.State
	}
	tell := func() error {
		if err := study.SetTrialSystemAttr(tid, "hil:values", "[1]"); err != nil {
			return err
		}
		return study.SetTrialState(tid, goptuna.TrialStateComplete)
	}

	// The optimizer's write succeeds, then tell fails: nothing is kept.
	boom := errors.New("boom")
	err := s.FinishTrial(ctx, study, func() error { _ = tell(); return boom }, se.ID, 0, []float64{1}, nil, 0, "")
	if !errors.Is(err, boom) {
		t.Fatalf("FinishTrial: %v, want boom", err)
	}
	if g, r := states(); g != goptuna.TrialStateRunning || r != api.TrialRunning {
		t.Fatalf("after a failed finish: study %v, trial %s; want both running", g, r)
	}
	// Both writes succeed: both are kept.
	if err := s.FinishTrial(ctx, study, tell, se.ID, 0, []float64{1}, nil, 0, ""); err != nil {
		t.Fatal(err)
	}
	if g, r := states(); g != goptuna.TrialStateComplete || r != api.TrialComplete {
		t.Fatalf("after finishing: study %v, trial %s; want complete", g, r)
	}
	if attrs, err := study.GetTrialSystemAttrs(tid); err != nil || attrs["hil:values"] != "[1]" {
		t.Fatalf("study attrs %v %v", attrs, err)
	}
}

// TestPoolRemeasureIsAtomic: a pooled re-measurement round is written to
// the remeasures row, the trials row and (by revise, as the optimizer's
// Revise does) the goptuna study in one transaction: when revise fails
// nothing is kept and the round is still running, to be pooled again; a
// round pooled once is never pooled (nor revised) again.
func TestPoolRemeasureIsAtomic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, dsn := migrated(t, ctx)
	testenv.Exec(t, dsn, `INSERT INTO devices (id, name, class, nkey) VALUES ('d1', 'd1', 'cls', 'UKEYA')`)
	se, study, tid := runningTrial(t, ctx, s, "pool")
	tell := func() error {
		if err := study.SetTrialSystemAttr(tid, "hil:values", "[10]"); err != nil {
			return err
		}
		return study.SetTrialState(tid, goptuna.TrialStateComplete)
	}
	if err := s.FinishTrial(ctx, study, tell, se.ID, 0, []float64{10}, []float64{2}, 0, ""); err != nil {
		t.Fatal(err)
	}
	job := api.Job{ID: "r1", DeviceID: "d1", Kind: "measure", Spec: []byte(`{}`), SpecHash: "s", WorkloadHash: "w"}
	if err := s.InsertRemeasure(ctx, se.ID, 0, 1, []string{"phone"}, []api.Job{job}); err != nil {
		t.Fatal(err)
	}
	state := func() (string, []float64, int, string) {
		t.Helper()
		rs, err := s.Remeasurements(ctx, se.ID, 0)
		if err != nil || len(rs) != 1 {
			t.Fatalf("remeasurements %v %v", rs, err)
		}
		tr, err := s.GetTrial(ctx, se.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := study.GetTrialSystemAttrs(tid)
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].State, tr.Objectives, tr.Remeasured, attrs["hil:values"]
	}
	calls := 0
	revise := func(studyTrial int) error {
		calls++
		if studyTrial != tid {
			t.Errorf("revise of goptuna trial %d, want %d", studyTrial, tid)
		}
		return study.ReviseTrial(studyTrial, 12, map[string]string{"hil:values": "[12]"})
	}

	boom := errors.New("boom")
	err := s.PoolRemeasure(ctx, study, func(st int) error { _ = revise(st); return boom }, se.ID, 0, 1, []float64{12}, []float64{1}, 0)
	if !errors.Is(err, boom) {
		t.Fatalf("PoolRemeasure: %v, want boom", err)
	}
	if st, obj, n, vals := state(); st != store.RemeasureRunning || obj[0] != 10 || n != 0 || vals != "[10]" {
		t.Fatalf("after a failed pooling: round %s, objectives %v, remeasured %d, optimizer %s; want running, 10, 0, [10]", st, obj, n, vals)
	}
	if err := s.PoolRemeasure(ctx, study, revise, se.ID, 0, 1, []float64{12}, []float64{1}, 0); err != nil {
		t.Fatal(err)
	}
	if st, obj, n, vals := state(); st != store.RemeasurePooled || obj[0] != 12 || n != 1 || vals != "[12]" {
		t.Fatalf("after pooling: round %s, objectives %v, remeasured %d, optimizer %s; want pooled, 12, 1, [12]", st, obj, n, vals)
	}
	// Pooled once: a second pooling (a restarted coordinator's) does nothing.
	if err := s.PoolRemeasure(ctx, study, revise, se.ID, 0, 1, []float64{99}, []float64{1}, 0); err != nil {
		t.Fatal(err)
	}
	if st, obj, n, _ := state(); calls != 2 || st != store.RemeasurePooled || obj[0] != 12 || n != 1 {
		t.Fatalf("pooled again: %d revise calls, round %s, objectives %v, remeasured %d", calls, st, obj, n)
	}
}
