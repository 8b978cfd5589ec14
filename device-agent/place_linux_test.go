package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
	"github.com/hilsearch/hilsearch/device-agent/internal/placement"
	"github.com/hilsearch/hilsearch/kernels"
	"github.com/hilsearch/hilsearch/workload"
)

// TestWorkersRunOnlyOnChosenCPUs is the placement acceptance test: for
// several choices on this machine (auto, one CPU, the last CPU alone by
// mask, two workers sharing one CPU), a model built with the agent's
// pinning runs prefill and decode while another goroutine reads every
// worker thread's affinity (sched_getaffinity) and the CPU it last ran on
// (/proc/self/task/<tid>/stat field 39): each must only ever show the CPU
// the choice gave that worker.
func TestWorkersRunOnlyOnChosenCPUs(t *testing.T) {
	prof, err := hw.Collect(context.Background(), liveEnv())
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := placement.TaskAffinity(0)
	if err != nil {
		t.Fatal(err)
	}
	last := allowed[len(allowed)-1]
	cases := []struct {
		name    string
		threads workload.Threads
		mask    string
	}{
		{"auto", workload.ThreadsAuto, ""},
		{"one thread", 1, ""},
		{"last CPU by mask", workload.ThreadsAuto, placement.Mask([]int{last})},
		{"two workers on one CPU", 2, placement.Mask([]int{last})},
	}
	spec, err := arch.ParseValid([]byte(slowSpecJSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := choosePlacement(prof.CPU, tt.threads, tt.mask)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("choice %+v", c)
			if tt.mask != "" && !slices.Equal(c.CPUs, []int{last}) {
				t.Fatalf("mask %s chose %v", tt.mask, c.CPUs)
			}
			if tt.threads == 1 && len(c.CPUs) != 1 {
				t.Fatalf("one thread chose %v", c.CPUs)
			}
			var seen map[int][]int
			func() {
				p := pin(c)
				defer p.Release()
				if !p.Pinned {
					t.Fatalf("not pinned: %s", p.Note)
				}
				m, err := kernels.BuildWith(spec, arch.F32, 256, c.Threads, 1, kernels.Options{WorkerStart: p.Start(c.Threads)})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if err := p.Wait(); err != nil {
					t.Fatal(err)
				}
				tids := p.Threads()
				if len(tids) != c.Threads {
					t.Fatalf("%d worker threads pinned, want %d", len(tids), c.Threads)
				}
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(1)
				seen = map[int][]int{}
				errs := make(chan error, 1)
				go func() { // not pinned: watches the workers
					defer wg.Done()
					for {
						for w, tid := range tids {
							aff, err := placement.TaskAffinity(tid)
							if err != nil {
								errs <- err
								return
							}
							cpu, err := placement.TaskLastCPU(tid)
							if err != nil {
								errs <- err
								return
							}
							if !slices.Equal(aff, []int{c.Worker(w)}) {
								errs <- fmt.Errorf("worker %d (thread %d): affinity %v, want [%d]", w, tid, aff, c.Worker(w))
								return
							}
							seen[w] = append(seen[w], cpu)
						}
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
					}
				}()
				toks := promptTokens(spec.Vocab, 200, 3)
				deadline := time.Now().Add(400 * time.Millisecond)
				for time.Now().Before(deadline) {
					m.Reset()
					if _, err := m.Prefill(toks[:128]); err != nil {
						t.Fatal(err)
					}
					for _, tok := range toks[128:160] {
						if _, err := m.Decode(tok); err != nil {
							t.Fatal(err)
						}
					}
				}
				close(stop)
				wg.Wait()
				select {
				case err := <-errs:
					t.Fatal(err)
				default:
				}
			}()
			for w, cpus := range seen {
				for _, cpu := range cpus {
					if cpu != c.Worker(w) {
						t.Fatalf("worker %d ran on CPU %d, its choice is %d (samples %v)", w, cpu, c.Worker(w), cpus)
					}
				}
				t.Logf("worker %d: %d samples, all on CPU %d", w, len(cpus), c.Worker(w))
			}
			// The caller's thread got its mask back.
			if aff, err := placement.TaskAffinity(0); err != nil || !slices.Equal(aff, allowed) {
				t.Fatalf("after Release the test thread may run on %v (%v), want %v", aff, err, allowed)
			}
		})
	}
}

// TestMeasurementRecordsItsCores: a measured job with threads "auto" and
// with one thread names its cores, pinned, and the counts agree.
func TestMeasurementRecordsItsCores(t *testing.T) {
	for _, th := range []workload.Threads{workload.ThreadsAuto, 1} {
		job := tinyJob("cores")
		job.Workload.Threads = th
		res := measureJob(context.Background(), job, liveEnv())
		if res.Status != wire.ResultOK {
			t.Fatalf("%s: %s", res.FailKind, res.Error)
		}
		m := res.Measurement
		b, _ := json.Marshal(struct {
			T int
			C []int
			P string
		}{m.Threads, m.CPUs, m.Placement})
		t.Logf("threads %v: %s", th, b)
		if !m.Pinned || len(m.CPUs) == 0 || m.Threads != len(m.CPUs) || (th == 1 && m.Threads != 1) {
			t.Fatalf("threads %v: measurement threads %d cpus %v pinned %v (%s)", th, m.Threads, m.CPUs, m.Pinned, m.Placement)
		}
	}
}
