package agent

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// clockFS is a stand-in frequency source: the machine's real files, with a
// fixture cpufreq policy over CPUs 0-1 (maximum 3 GHz) whose current clock
// (scaling_cur_freq) reads low for the reads low says, counted from 0. It
// stands in for a phone whose clock drops mid-run; this machine has no
// cpufreq.
type clockFS struct {
	base  fs.FS
	over  fstest.MapFS
	low   func(read int) bool
	mu    sync.Mutex
	reads int
	log   []bool
}

const clockDir = "sys/devices/system/cpu/cpufreq"

func newClockFS(base fs.FS, low func(read int) bool) *clockFS {
	c := &clockFS{base: base, low: low, over: fstest.MapFS{}}
	d := clockDir + "/policy0/"
	put := func(name, v string) { c.over[d+name] = &fstest.MapFile{Data: []byte(v + "\n"), Mode: 0o444} }
	put("related_cpus", "0 1")
	put("affected_cpus", "0 1")
	put("cpuinfo_max_freq", "3000000")
	put("scaling_max_freq", "3000000")
	put("scaling_cur_freq", "3000000")
	return c
}

func (c *clockFS) Open(name string) (fs.File, error) {
	if name != clockDir && !strings.HasPrefix(name, clockDir+"/") {
		return c.base.Open(name)
	}
	if strings.HasSuffix(name, "/scaling_cur_freq") {
		c.mu.Lock()
		low := c.low(c.reads)
		c.reads++
		c.log = append(c.log, low)
		c.mu.Unlock()
		v := "3000000"
		if low {
			v = "1200000" // 40 % of the maximum
		}
		return fstest.MapFS{name: &fstest.MapFile{Data: []byte(v + "\n"), Mode: 0o444}}.Open(name)
	}
	return c.over.Open(name)
}

// TestThrottledRepetitionsAreDiscarded: the clock of the used cores drops
// for a few samples in the middle of a job; the repetitions those samples
// close are discarded and repeated, so every row still has its clean
// repetitions, the counts say how many were thrown away, and no row is
// marked throttled. When the clock stays low, a row discards up to its
// bound, then keeps throttled samples and says so.
func TestThrottledRepetitionsAreDiscarded(t *testing.T) {
	t.Run("a dip", func(t *testing.T) {
		env := liveEnv()
		cfs := newClockFS(env.FS, func(r int) bool { return r >= 14 && r < 20 })
		env.FS = cfs
		job := tinyJob("dip")
		res := measureJob(context.Background(), job, env)
		if res.Status != wire.ResultOK {
			t.Fatalf("%s: %s", res.FailKind, res.Error)
		}
		m := res.Measurement
		t.Logf("clock reads (true = low): %v", cfs.log)
		sum := 0
		check := func(name string, r wire.Row, reps int) {
			t.Logf("%s: %d repetitions kept, %d discarded, throttled %v %q", name, reps, r.Discarded, r.Throttled, r.ThrottleReasons)
			sum += r.Discarded
			if r.Throttled || reps < job.Workload.Normalize().Repetitions {
				t.Errorf("%s: throttled %v with %d clean repetitions", name, r.Throttled, reps)
			}
			if r.Discarded > 0 && (len(r.ThrottleReasons) == 0 || !strings.Contains(r.ThrottleReasons[0], "below 90% of 3000 MHz")) {
				t.Errorf("%s: reasons %q", name, r.ThrottleReasons)
			}
		}
		for _, p := range m.Prefill {
			check("pp", p.Row, p.Repetitions)
		}
		for _, d := range m.Decode {
			check("tg", d.Row, d.Repetitions)
		}
		if sum == 0 || sum != m.Discarded || m.Throttled {
			t.Fatalf("discarded %d in the rows, measurement says %d (throttled %v); want some", sum, m.Discarded, m.Throttled)
		}
	})
	t.Run("stays low", func(t *testing.T) {
		env := liveEnv()
		start := -1
		cfs := newClockFS(env.FS, nil)
		cfs.low = func(r int) bool {
			if start < 0 && r >= 14 {
				start = r
			}
			return start >= 0
		}
		env.FS = cfs
		job := tinyJob("low")
		job.Workload.MaxRepetitions = 7
		res := measureJob(context.Background(), job, env)
		if res.Status != wire.ResultOK {
			t.Fatalf("%s: %s", res.FailKind, res.Error)
		}
		m := res.Measurement
		last := m.Decode[len(m.Decode)-1]
		t.Logf("last row: %d repetitions, %d discarded, throttled %v", last.Repetitions, last.Discarded, last.Throttled)
		if !m.Throttled || !last.Throttled || last.Discarded != 7 || last.Repetitions < 5 {
			t.Fatalf("measurement throttled %v; last row throttled %v, discarded %d (want the bound, 7), %d repetitions",
				m.Throttled, last.Throttled, last.Discarded, last.Repetitions)
		}
	})
}
