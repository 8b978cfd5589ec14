package agent

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// tempHost reports one CPU sensor whose readings come from a script; the
// last reading repeats.
type tempHost struct {
	mu    sync.Mutex
	temps []float64
	reads int
}

func (h *tempHost) Info(context.Context) (hw.HostInfo, error) { return hw.HostInfo{}, nil }

func (h *tempHost) Temperatures(context.Context) ([]hw.Sensor, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.temps) == 0 {
		return nil, errors.New("no sensor")
	}
	t := h.temps[min(h.reads, len(h.temps)-1)]
	h.reads++
	return []hw.Sensor{{Name: "cpu_package", TempC: t}}, nil
}

func (h *tempHost) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reads
}

// logBuffer collects log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testRunner(t *testing.T, host hw.Host, o runOptions) (*runner, *logBuffer) {
	t.Helper()
	var lb logBuffer
	log := slog.New(slog.NewTextHandler(&lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.stateDir = t.TempDir()
	env := hw.Env{Host: host, GOOS: "darwin", GOARCH: "arm64"} // non-Linux: sensors come from Host
	a, err := newRunner(context.Background(), testConfig(t), o, childCommand{}, env, log)
	if err != nil {
		t.Fatal(err)
	}
	return a, &lb
}

func TestWaitCool(t *testing.T) {
	o := defaultRunOptions()
	o.coolPoll = time.Millisecond

	t.Run("cools down", func(t *testing.T) {
		h := &tempHost{temps: []float64{40}}
		a, _ := testRunner(t, h, o)
		if tc := a.cpuTemp(context.Background()); tc == nil || *tc != 40 {
			t.Fatalf("idle reading %v", tc)
		}
		h.mu.Lock()
		h.temps, h.reads = []float64{52, 49, 47, 44.5, 30}, 0
		h.mu.Unlock()
		a.waitCool(context.Background(), a.log)
		// 44.5 is within 5 °C of the 40 °C baseline: the fourth reading.
		if n := h.count(); n != 4 {
			t.Fatalf("waited for %d readings, want 4", n)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		h := &tempHost{temps: []float64{40}}
		o := o
		o.coolMaxWait = 20 * time.Millisecond
		a, logs := testRunner(t, h, o)
		a.cpuTemp(context.Background())
		h.mu.Lock()
		h.temps = []float64{70}
		h.mu.Unlock()
		a.waitCool(context.Background(), a.log)
		if !strings.Contains(logs.String(), "still warm") {
			t.Fatalf("no warning after the bounded wait:\n%s", logs.String())
		}
	})
	t.Run("no sensor", func(t *testing.T) {
		h := &tempHost{}
		a, _ := testRunner(t, h, o)
		if a.cpuTemp(context.Background()) != nil {
			t.Fatal("temperature without a sensor")
		}
		a.waitCool(context.Background(), a.log)
		if n := h.count(); n > 2 {
			t.Fatalf("polled %d times without a sensor", n)
		}
	})
	t.Run("baseline only while idle", func(t *testing.T) {
		h := &tempHost{temps: []float64{45}}
		a, _ := testRunner(t, h, o)
		a.cpuTemp(context.Background())
		a.mu.Lock()
		a.jobID = "j1"
		a.mu.Unlock()
		h.mu.Lock()
		h.temps = []float64{35}
		h.mu.Unlock()
		a.cpuTemp(context.Background()) // busy: does not lower the baseline
		if *a.baseline != 45 {
			t.Fatalf("baseline %v changed while busy", *a.baseline)
		}
		a.mu.Lock()
		a.jobID = ""
		a.mu.Unlock()
		a.cpuTemp(context.Background())
		if *a.baseline != 35 {
			t.Fatalf("baseline %v, want the cooler idle reading 35", *a.baseline)
		}
	})
}

func TestLimits(t *testing.T) {
	a, _ := testRunner(t, &tempHost{}, defaultRunOptions())
	a.memTotal = 8 << 30
	lim := a.limits(&wire.Job{})
	if lim.Timeout != 30*time.Minute || lim.MemoryCap != 6<<30 {
		t.Fatalf("defaults %+v", lim)
	}
	lim = a.limits(&wire.Job{TimeoutSeconds: 90, MemoryLimitBytes: 1 << 30})
	if lim.Timeout != 90*time.Second || lim.MemoryCap != 1<<30 {
		t.Fatalf("job limits %+v", lim)
	}
}

// progressMsg is a jetstream.Msg that counts InProgress calls (the other
// methods are not used by keepAlive).
type progressMsg struct {
	jetstream.Msg
	n atomic.Int32
}

func (m *progressMsg) InProgress() error { m.n.Add(1); return nil }

func TestKeepAlive(t *testing.T) {
	m := &progressMsg{}
	stop := keepAlive(m, 300*time.Millisecond) // every 100 ms
	deadline := time.Now().Add(10 * time.Second)
	for m.n.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	n := m.n.Load()
	if n < 2 {
		t.Fatalf("%d progress reports", n)
	}
	time.Sleep(250 * time.Millisecond)
	if m.n.Load() != n {
		t.Fatal("progress reports continued after stop")
	}
}
