package placement

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// spin burns CPU until stop is closed, so the thread keeps being scheduled.
func spin(stop <-chan struct{}) {
	x := 1.0
	for {
		select {
		case <-stop:
			return
		default:
		}
		for range 10000 {
			x = x*1.0000001 + 1e-9
		}
	}
}

// TestPinnedThreadsRunOnlyOnTheirCPU pins one goroutine per allowed CPU
// (up to 4) and, from the test goroutine, reads every pinned thread's
// affinity (sched_getaffinity) and the CPU it last ran on (stat field 39)
// while they spin: each must show only its CPU.
func TestPinnedThreadsRunOnlyOnTheirCPU(t *testing.T) {
	all, err := TaskAffinity(0)
	if err != nil {
		t.Fatal(err)
	}
	cpus := all[:min(len(all), 4)]
	t.Logf("process may run on %v; pinning one thread to each of %v", all, cpus)

	stop := make(chan struct{})
	tids := make([]int, len(cpus))
	after := make([][]int, len(cpus))
	var ready, done sync.WaitGroup
	errs := make(chan error, len(cpus))
	for i, cpu := range cpus {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			unpin, err := PinThread([]int{cpu})
			if err != nil {
				errs <- err
				ready.Done()
				return
			}
			tids[i] = ThreadID()
			ready.Done()
			spin(stop)
			unpin()
			// unpin restored the thread's previous mask; read it before the
			// runtime may hand the (now unlocked) thread to anything else.
			after[i], _ = TaskAffinity(0)
		}()
	}
	ready.Wait()
	select {
	case err := <-errs:
		close(stop)
		t.Fatal(err)
	default:
	}

	samples := make([]map[int]int, len(cpus))
	for i := range samples {
		samples[i] = map[int]int{}
	}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		for i, tid := range tids {
			aff, err := TaskAffinity(tid)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(aff, []int{cpus[i]}) {
				t.Errorf("thread %d pinned to CPU %d has affinity %v", tid, cpus[i], aff)
			}
			last, err := TaskLastCPU(tid)
			if err != nil {
				t.Fatal(err)
			}
			samples[i][last]++
		}
	}
	close(stop)
	done.Wait()
	for i, cpu := range cpus {
		if len(samples[i]) != 1 || samples[i][cpu] < 3 {
			t.Errorf("thread pinned to CPU %d ran on %v (CPU: samples)", cpu, samples[i])
		}
		if !slices.Equal(after[i], all) {
			t.Errorf("after unpin the thread's affinity is %v, want the process's %v", after[i], all)
		}
	}
	t.Logf("last-CPU samples per pinned thread: %v", samples)
}

func TestPinThreadRefusesBadCPUs(t *testing.T) {
	all, err := TaskAffinity(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, cpus := range [][]int{nil, {-1}, {maxCPU}} {
		if _, err := PinThread(cpus); err == nil {
			t.Errorf("PinThread(%v): no error", cpus)
		}
	}
	// A CPU the process may not use (beyond its mask): the kernel refuses.
	outside := slices.Max(all) + 1
	errc := make(chan error, 1)
	go func() {
		unpin, err := PinThread([]int{outside})
		if err == nil {
			unpin()
		}
		errc <- err
	}()
	if err := <-errc; err == nil {
		t.Errorf("PinThread to CPU %d outside %v: no error", outside, all)
	} else if errors.Is(err, ErrUnsupported) {
		t.Errorf("error %v claims pinning is unsupported", err)
	}
	if !Supported {
		t.Error("Supported is false on linux")
	}
}

func TestStatProcessor(t *testing.T) {
	rest := "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35"
	for _, tt := range []struct {
		line string
		want int
	}{
		{"123 (agent) " + rest + " 6 0 0\n", 6},
		{"123 (we(ird) na)me) " + rest + " 11 0\n", 11},
	} {
		got, err := statProcessor(tt.line)
		if err != nil || got != tt.want {
			t.Errorf("statProcessor(%q) = %d, %v; want %d", tt.line, got, err, tt.want)
		}
	}
	for _, bad := range []string{"no paren", "1 (x) S 1 2", fmt.Sprintf("1 (x) %s x", rest)} {
		if _, err := statProcessor(bad); err == nil {
			t.Errorf("statProcessor(%q): no error", bad)
		}
	}
}
