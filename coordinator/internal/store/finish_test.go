package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
)

// TestFinishTrialIsAtomic: a trial's end is written to the goptuna study
// (by tell, as the optimizer's Tell does) and to the trials row in one
// transaction: when either write fails neither is kept.
func TestFinishTrialIsAtomic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, _ := migrated(t, ctx)
	se, err := s.CreateSearch(ctx, store.NewSearchID(), "atomic", []byte(`{}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	study := s.StudyStorage()
	sid, err := study.CreateNewStudy("atomic")
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
	err = s.FinishTrial(ctx, study, func() error { _ = tell(); return boom }, se.ID, 0, []float64{1}, nil, 0, "")
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
