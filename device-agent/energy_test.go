package agent

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// powerFS is a stand-in power source: the machine's real files with
// fixture powercap and/or power_supply directories laid over them, whose
// dynamic files (energy counters, battery current, the charger's online
// flag) are computed at each read. This machine exposes neither RAPL nor a
// battery, so the energy code is tested against this stand-in; its figures
// only reach test assertions.
type powerFS struct {
	base  fs.FS
	over  fstest.MapFS
	dyn   map[string]func() string
	mu    sync.Mutex
	reads map[string]int
}

func newPowerFS(base fs.FS) *powerFS {
	return &powerFS{base: base, over: fstest.MapFS{}, dyn: map[string]func() string{}, reads: map[string]int{}}
}

func (p *powerFS) put(name, v string) {
	p.over[name] = &fstest.MapFile{Data: []byte(v + "\n"), Mode: 0o444}
}

func (p *powerFS) dynamic(name string, f func() string) {
	p.put(name, f())
	p.dyn[name] = f
}

func (p *powerFS) Open(name string) (fs.File, error) {
	// The power directories are always the fixture's (a machine's real
	// battery would confuse the tests); cpufreq only where the fixture has
	// one (else the base's, e.g. clockFS).
	if _, err := fs.Stat(p.over, name); err != nil && (name == "sys/devices/system/cpu/cpufreq" || strings.HasPrefix(name, "sys/devices/system/cpu/cpufreq/")) {
		return p.base.Open(name)
	}
	for _, pre := range []string{"sys/class/powercap", "sys/class/power_supply", "sys/devices/system/cpu/cpufreq"} {
		if name == pre || strings.HasPrefix(name, pre+"/") {
			if f, ok := p.dyn[name]; ok {
				p.mu.Lock()
				p.reads[name]++
				p.mu.Unlock()
				return fstest.MapFS{name: &fstest.MapFile{Data: []byte(f() + "\n"), Mode: 0o444}}.Open(name)
			}
			return p.over.Open(name)
		}
	}
	return p.base.Open(name)
}

// rapl adds a package zone and its core subzone whose counters grow at
// watts, wrapping at 2^32 µJ.
func (p *powerFS) rapl(watts float64) {
	t0 := time.Now()
	const wrap = 1 << 32
	for _, z := range []struct {
		dir, name string
		share     float64
	}{{"intel-rapl:0", "package-0", 1}, {"intel-rapl:0/intel-rapl:0:0", "core", 1}} {
		d := "sys/class/powercap/" + z.dir + "/"
		p.put(d+"name", z.name)
		p.put(d+"max_energy_range_uj", fmt.Sprint(wrap))
		share := z.share
		p.dynamic(d+"energy_uj", func() string {
			uj := int64(watts*share*time.Since(t0).Seconds()*1e6) + wrap - 1e6 // wraps about 0.1 s in at 10 W
			return fmt.Sprint(uj % wrap)
		})
	}
	// powercap lists subzones as siblings too (intel-rapl:0:0 is a symlink
	// in sys/class/powercap); the meter must count only the package.
	d := "sys/class/powercap/intel-rapl:0:0/"
	p.put(d+"name", "core")
	p.dynamic(d+"energy_uj", func() string { return fmt.Sprint(int64(watts * time.Since(t0).Seconds() * 1e6)) })
}

// battery adds a discharging battery drawing µA at µV, and a USB supply
// whose online flag plugged returns.
func (p *powerFS) battery(microA, microV int64, plugged func() bool) {
	d := "sys/class/power_supply/battery/"
	p.put(d+"type", "Battery")
	p.put(d+"capacity", "80")
	p.put(d+"current_now", fmt.Sprint(microA))
	p.put(d+"voltage_now", fmt.Sprint(microV))
	p.dynamic(d+"status", func() string {
		if plugged() {
			return "Charging"
		}
		return "Discharging"
	})
	u := "sys/class/power_supply/usb/"
	p.put(u+"type", "USB")
	p.dynamic(u+"online", func() string {
		if plugged() {
			return "1"
		}
		return "0"
	})
}

// checkEnergy checks that every row's energy per token agrees with the
// stand-in's power and the row's own speed: at least watts×1000/tps mJ
// per token (the energy bracket contains the timed one) and, when upper
// is above 0, a median below upper times that (a bound loose enough for a
// loaded machine's preemptions, tight enough to catch a counter counted
// twice).
func checkEnergy(t *testing.T, m *wire.Measurement, source string, watts, upper float64) {
	t.Helper()
	check := func(name string, r wire.Row, tps wire.Stat) {
		t.Helper()
		e := r.Energy
		if e == nil || e.MJPerToken == nil {
			t.Fatalf("%s: energy %+v", name, e)
		}
		if e.Source != source || e.Unavailable != "" {
			t.Errorf("%s: source %q unavailable %q, want %q", name, e.Source, e.Unavailable, source)
		}
		if len(e.MJPerToken.Samples) != len(tps.Samples) {
			t.Fatalf("%s: %d energy samples for %d repetitions", name, len(e.MJPerToken.Samples), len(tps.Samples))
		}
		for i, v := range e.MJPerToken.Samples {
			if low := watts * 1000 / tps.Samples[i]; v < low*0.999 {
				t.Errorf("%s: repetition %d: %.4g mJ/token, below the timed phase's %.4g", name, i, v, low)
			}
		}
		want := watts * 1000 / tps.Median
		t.Logf("%s: %.4g mJ/token (stand-in power × time: %.4g)", name, e.MJPerToken.Median, want)
		if got := e.MJPerToken.Median; upper > 0 && got > want*upper {
			t.Errorf("%s: %.4g mJ/token, want about %.4g", name, got, want)
		}
	}
	for _, p := range m.Prefill {
		check(fmt.Sprintf("pp%d", p.PromptLength), p.Row, p.TokensPerSec)
	}
	for _, d := range m.Decode {
		check(fmt.Sprintf("tg%d@d%d", d.Tokens, d.Depth), d.Row, d.TokensPerSec)
	}
}

// TestEnergyPerTokenRAPL: a stand-in RAPL package zone drawing 10 W (its
// core subzone, listed twice as powercap does, also at 10 W so counting it
// would double the figure) gives every row
// 10 W × its time per token, counted once, across a counter wrap.
func TestEnergyPerTokenRAPL(t *testing.T) {
	env := liveEnv()
	p := newPowerFS(env.FS)
	p.rapl(10)
	env.FS = p
	job := tinyJob("rapl")
	job.Workload.PromptLengths = []int{64}
	job.Workload.DecodeTokens = 32
	res := measureJob(context.Background(), job, env)
	if res.Status != wire.ResultOK {
		t.Fatalf("%s: %s", res.FailKind, res.Error)
	}
	checkEnergy(t, res.Measurement, "rapl:package-0", 10, 1.9)
}

// TestEnergyPerTokenBattery: a stand-in battery discharging 0.5 A at 4 V
// (2 W) gives every row 2 W × its time per token; plugged in, no row has
// a figure and each says why; plugged in mid-run, the rows say their
// power state changed.
func TestEnergyPerTokenBattery(t *testing.T) {
	t.Run("discharging", func(t *testing.T) {
		env := liveEnv()
		p := newPowerFS(env.FS)
		p.battery(-500000, 4000000, func() bool { return false })
		env.FS = p
		job := tinyJob("bat") // long enough rows that the poller's start and stop are small beside them
		job.Workload.PromptLengths = []int{96}
		job.Workload.DecodeTokens = 32
		res := measureJob(context.Background(), job, env)
		if res.Status != wire.ResultOK {
			t.Fatalf("%s: %s", res.FailKind, res.Error)
		}
		// The poller's start and stop are not small beside these
		// millisecond rows (on a phone a row lasts seconds), so only the
		// lower bound is checked.
		checkEnergy(t, res.Measurement, "battery", 2, 0)
		if g := res.Measurement.Gates; g != nil && g.PowerChanged {
			t.Errorf("power changed: %+v", g)
		}
	})
	t.Run("plugged", func(t *testing.T) {
		env := liveEnv()
		p := newPowerFS(env.FS)
		p.battery(-500000, 4000000, func() bool { return true })
		env.FS = p
		res := measureJob(context.Background(), tinyJob("plugged"), env)
		if res.Status != wire.ResultOK {
			t.Fatalf("%s: %s", res.FailKind, res.Error)
		}
		for _, d := range res.Measurement.Decode {
			if e := d.Energy; e == nil || e.MJPerToken != nil || !strings.Contains(e.Unavailable, "external power") {
				t.Errorf("d%d: energy %+v, want unavailable on external power", d.Depth, e)
			}
		}
	})
	t.Run("plugged mid-row", func(t *testing.T) {
		env := liveEnv()
		p := newPowerFS(env.FS)
		var mu sync.Mutex
		n := 0
		p.battery(-500000, 4000000, func() bool {
			mu.Lock()
			defer mu.Unlock()
			n++
			return n > 40
		})
		env.FS = p
		res := measureJob(context.Background(), tinyJob("mid"), env)
		if res.Status != wire.ResultOK {
			t.Fatalf("%s: %s", res.FailKind, res.Error)
		}
		m := res.Measurement
		changed := 0
		for _, r := range append(rowsOf(m.Prefill, nil), rowsOf(nil, m.Decode)...) {
			if r.PowerChanged {
				changed++
			}
		}
		if changed != 1 || m.Gates == nil || !m.Gates.PowerChanged {
			t.Fatalf("%d rows say the power changed (want the one it changed in); gates %+v", changed, m.Gates)
		}
	})
}

func rowsOf(p []wire.PrefillResult, d []wire.DecodeResult) []wire.Row {
	var out []wire.Row
	for _, x := range p {
		out = append(out, x.Row)
	}
	for _, x := range d {
		out = append(out, x.Row)
	}
	return out
}

// TestEnergyUnavailableHere: this machine exposes no RAPL counter and no
// battery, so every row says energy is unavailable and why.
func TestEnergyUnavailableHere(t *testing.T) {
	env := liveEnv()
	if m := newEnergyMeter(context.Background(), newGuard(context.Background(), env, nil, 1).s); m.available() {
		t.Skipf("this machine has an energy source (%s)", m.source)
	}
	res := measureJob(context.Background(), tinyJob("none"), env)
	if res.Status != wire.ResultOK {
		t.Fatalf("%s: %s", res.FailKind, res.Error)
	}
	for _, r := range rowsOf(res.Measurement.Prefill, res.Measurement.Decode) {
		if r.Energy == nil || r.Energy.MJPerToken != nil || !strings.HasPrefix(r.Energy.Unavailable, "no energy source") {
			t.Errorf("energy %+v", r.Energy)
		}
	}
}

// TestSustainedDecode: a 3-second sustained run with stand-in sources: the
// clock of the used cores (clockFS) drops to 40 % of its maximum 1.5 s
// after the job starts, and RAPL (powerFS) draws 10 W. The trajectory has
// its windows, the early ones clean at 3000 MHz, the late ones throttled at
// 1200 MHz, the first and last spans' speeds, and energy per token.
func TestSustainedDecode(t *testing.T) {
	env := liveEnv()
	t0 := time.Now()
	cfs := newClockFS(env.FS, func(int) bool { return time.Since(t0) > 1500*time.Millisecond })
	p := newPowerFS(cfs)
	p.rapl(10)
	env.FS = p
	job := tinyJob("sustained")
	job.Workload.SustainedSeconds = 3
	res := measureJob(context.Background(), job, env)
	if res.Status != wire.ResultOK {
		t.Fatalf("%s: %s", res.FailKind, res.Error)
	}
	s := res.Measurement.Sustained
	if s == nil {
		t.Fatal("no sustained run")
	}
	t.Logf("sustained: %.2f s at d%d, first %.0f tok/s, last %.0f tok/s (ratio %.2f), %d windows of %.1f s",
		s.Seconds, s.Depth, s.FirstTPS, s.LastTPS, s.Ratio, len(s.Windows), s.WindowSeconds)
	if s.Depth != 0 || s.Tokens != job.Workload.DecodeTokens || s.Seconds < 3 || s.WindowSeconds != 0.5 || s.SpanSeconds != 1 {
		t.Errorf("run %+v", s)
	}
	if len(s.Windows) < 4 || s.FirstTPS <= 0 || s.LastTPS <= 0 || s.Ratio != s.LastTPS/s.FirstTPS {
		t.Fatalf("trajectory %+v", s)
	}
	total := 0
	for i, w := range s.Windows {
		total += w.Tokens
		if w.Tokens <= 0 || w.TokensPerSec <= 0 || (i > 0 && w.StartSeconds <= s.Windows[i-1].StartSeconds) {
			t.Errorf("window %d: %+v", i, w)
		}
	}
	first, last := s.Windows[0], s.Windows[len(s.Windows)-1]
	if first.Throttled || first.MinClockMHz != 3000 || !last.Throttled || last.MinClockMHz != 1200 {
		t.Errorf("first window %+v, last %+v: want clean at 3000 MHz, then throttled at 1200", first, last)
	}
	if !s.Throttled || !res.Measurement.Throttled {
		t.Errorf("run throttled %v, measurement %v", s.Throttled, res.Measurement.Throttled)
	}
	if s.Energy == nil || s.Energy.Source != "rapl:package-0" || s.Energy.MJPerToken == nil {
		t.Fatalf("energy %+v", s.Energy)
	}
	// 10 W over at least the decode time of the tokens.
	if low := 10 * 1000 * 3 / float64(total); s.Energy.MJPerToken.Median < low*0.999 {
		t.Errorf("%.4g mJ/token over %d tokens in 3 s at 10 W, want at least %.4g", s.Energy.MJPerToken.Median, total, low)
	}
}
