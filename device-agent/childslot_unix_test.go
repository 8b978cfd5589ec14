//go:build unix

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// An earlier child that is still alive (here a process that inherited the
// lock, standing for a measuring child orphaned by an earlier run of the
// agent) blocks the next measurement; once it is gone the measurement runs.
func TestNoMeasurementWhileEarlierChildAlive(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "measure.lock")
	slot, err := acquireChildSlot(lock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	earlier := exec.Command("sleep", "60")
	slot.inherit(earlier)
	if err := earlier.Start(); err != nil {
		t.Fatal(err)
	}
	slot.started()
	t.Cleanup(func() { _ = earlier.Process.Kill(); _ = earlier.Wait() })

	cc := realChild(t)
	cc.LockPath, cc.LockWait = lock, 300*time.Millisecond
	j := tinyJob("jguard")
	if _, err := superviseChild(context.Background(), cc, jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute}); !errors.Is(err, errChildAlive) {
		t.Fatalf("with an earlier child alive: err %v, want errChildAlive", err)
	}
	_ = earlier.Process.Kill()
	_ = earlier.Wait()
	res, err := superviseChild(context.Background(), cc, jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute})
	if err != nil || res.Status != wire.ResultOK {
		t.Fatalf("after the earlier child died: %v %+v", err, res)
	}
}

// While a measuring child runs it holds the lock itself, so a second
// measurement (another goroutine, or a restarted agent) cannot start.
func TestRunningChildHoldsTheSlot(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "measure.lock")
	cc := realChild(t)
	cc.LockPath = lock
	j := &wire.Job{ID: "jslow", Kind: wire.JobKindMeasure, Spec: json.RawMessage(slowSpecJSON), Workload: slowWorkload()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := superviseChild(ctx, cc, jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute})
		done <- err
	}()
	// Wait until the child holds the lock, then try to take it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := acquireChildSlot(lock, 0)
		if errors.Is(err, errChildAlive) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s.release()
		if time.Now().After(deadline) {
			t.Fatal("the measuring child never held the lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, errInterrupted) {
		t.Fatalf("err %v", err)
	}
	s, err := acquireChildSlot(lock, 2*time.Second)
	if err != nil {
		t.Fatalf("lock not freed after the child was killed: %v", err)
	}
	s.release()
}
