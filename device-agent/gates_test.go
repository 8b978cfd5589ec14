package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// gateRunner is a runner whose machine is a stand-in: fixture cpufreq and
// power_supply files (powerFS over an empty file system) and a scripted
// CPU sensor (tempHost).
func gateRunner(t *testing.T, o runOptions, p *powerFS, h *tempHost) (*runner, *logBuffer) {
	t.Helper()
	a, logs := testRunner(t, h, o)
	a.env = hw.Env{FS: p, Host: h, GOOS: "darwin", GOARCH: "arm64"}
	return a, logs
}

// cappedPolicy adds a cpufreq policy over CPU 0 (maximum 3 GHz) whose
// ceiling reads 1.5 GHz while capped returns true for the read count.
func cappedPolicy(p *powerFS, capped func(read int) bool) {
	d := "sys/devices/system/cpu/cpufreq/policy0/"
	p.put(d+"related_cpus", "0")
	p.put(d+"cpuinfo_max_freq", "3000000")
	p.put(d+"scaling_cur_freq", "3000000")
	n := 0
	p.dynamic(d+"scaling_max_freq", func() string {
		n++
		if capped(n) {
			return "1500000"
		}
		return "3000000"
	})
}

// TestCooldownWaitsForClocks: the temperature is back at idle but a
// stand-in policy's ceiling stays lowered (thermal cap) for a few reads;
// the wait lasts until it is lifted, and says so in the gates. When it is
// never lifted, the wait is bounded and the gates say it timed out.
func TestCooldownWaitsForClocks(t *testing.T) {
	o := defaultRunOptions()
	o.coolPoll = time.Millisecond
	t.Run("recovers", func(t *testing.T) {
		p := newPowerFS(fstest.MapFS{})
		reads := 0
		cappedPolicy(p, func(n int) bool { reads = n; return n <= 5 })
		a, _ := gateRunner(t, o, p, &tempHost{temps: []float64{40}})
		a.cpuTemp(context.Background())
		g := a.waitCool(context.Background(), a.log)
		if g.CooldownTimedOut || reads < 6 || g.CooldownTempC == nil || *g.CooldownTempC != 40 {
			t.Fatalf("gates %+v after %d ceiling reads; want a wait until the 6th", g, reads)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		p := newPowerFS(fstest.MapFS{})
		cappedPolicy(p, func(int) bool { return true })
		o := o
		o.coolMaxWait = 30 * time.Millisecond
		a, logs := gateRunner(t, o, p, &tempHost{temps: []float64{40}})
		g := a.waitCool(context.Background(), a.log)
		if !g.CooldownTimedOut || g.CooldownWaitMS < 30 || !strings.Contains(logs.String(), "cpu0 capped at 1500 of 3000 MHz") {
			t.Fatalf("gates %+v; log:\n%s", g, logs.String())
		}
	})
}

// TestBatteryGate: with --min-battery 50, a stand-in battery at 30 %
// refuses a job while discharging and lets it run when plugged in; at
// 80 % it runs. The gates record the state either way.
func TestBatteryGate(t *testing.T) {
	for _, tc := range []struct {
		percent int
		plugged bool
		refuse  bool
	}{{30, false, true}, {30, true, false}, {80, false, false}} {
		t.Run(fmt.Sprintf("%d%% plugged %v", tc.percent, tc.plugged), func(t *testing.T) {
			o := defaultRunOptions()
			o.minBattery = 50
			p := newPowerFS(fstest.MapFS{})
			p.battery(-500000, 4000000, func() bool { return tc.plugged })
			p.put("sys/class/power_supply/battery/capacity", fmt.Sprint(tc.percent))
			a, _ := gateRunner(t, o, p, &tempHost{})
			var g wire.Gates
			refuse := a.batteryGate(context.Background(), &g)
			if (refuse != "") != tc.refuse {
				t.Fatalf("refuse %q, want refused %v", refuse, tc.refuse)
			}
			if g.BatteryPercent == nil || *g.BatteryPercent != tc.percent || g.Plugged == nil || *g.Plugged != tc.plugged ||
				g.Charging != tc.plugged || g.MinBatteryPercent != 50 {
				t.Fatalf("gates %+v", g)
			}
		})
	}
}

// TestRecordGatesKeepsTheChildsPowerChange: the agent's record replaces
// the child's, except the mid-row power change the child found.
func TestRecordGatesKeepsTheChildsPowerChange(t *testing.T) {
	m := &wire.Measurement{Gates: &wire.Gates{PowerChanged: true}}
	recordGates(m, wire.Gates{CooldownWaitMS: 7, MinBatteryPercent: 20})
	if g := m.Gates; !g.PowerChanged || g.CooldownWaitMS != 7 || g.MinBatteryPercent != 20 {
		t.Fatalf("gates %+v", g)
	}
	recordGates(nil, wire.Gates{}) // a failed result has no measurement
}
