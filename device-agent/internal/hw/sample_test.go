package hw

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// put adds text files to a MapFS.
func put(m fstest.MapFS, kv ...string) fstest.MapFS {
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1] + "\n"), Mode: 0o444}
	}
	return m
}

// phoneFS is a Snapdragon 8 Gen 3 phone's changing sources, after the
// kernel ABI documents (sysfs-devices-system-cpu, cpufreq.rst,
// thermal sysfs-api.rst, sysfs-class-power). Values are plausible, not
// copied from a device: a prime core (cpu7), two A720 domains, two A520s,
// CPU zones with a passive trip at 95 °C, a skin zone whose passive trip
// (45 °C) is not a CPU's, one zone the shell may not read, and a battery
// discharging at 1.23 A while USB is unplugged.
func phoneFS() fstest.MapFS {
	m := fstest.MapFS{}
	for _, p := range []struct{ name, cpus, max, cur string }{
		{"policy0", "0 1", "2265600", "1171200"}, {"policy2", "2 3 4", "3148800", "3148800"},
		{"policy5", "5 6", "2956800", "2956800"}, {"policy7", "7", "3302400", "3302400"},
	} {
		d := "sys/devices/system/cpu/cpufreq/" + p.name + "/"
		put(m, d+"related_cpus", p.cpus, d+"cpuinfo_max_freq", p.max, d+"scaling_max_freq", p.max, d+"scaling_cur_freq", p.cur)
	}
	z := "sys/class/thermal/"
	put(m,
		z+"thermal_zone0/type", "aoss-0", z+"thermal_zone0/temp", "34200",
		z+"thermal_zone1/type", "cpu-1-4-0", z+"thermal_zone1/temp", "52300",
		z+"thermal_zone1/trip_point_0_type", "passive", z+"thermal_zone1/trip_point_0_temp", "95000",
		z+"thermal_zone1/trip_point_1_type", "critical", z+"thermal_zone1/trip_point_1_temp", "115000",
		z+"thermal_zone2/type", "cpu-1-7-0", z+"thermal_zone2/temp", "55100",
		z+"thermal_zone2/trip_point_0_type", "hot", z+"thermal_zone2/trip_point_0_temp", "90000",
		z+"thermal_zone2/trip_point_1_type", "passive", z+"thermal_zone2/trip_point_1_temp", "96000",
		z+"thermal_zone3/type", "skin-msm-therm", z+"thermal_zone3/temp", "31000",
		z+"thermal_zone3/trip_point_0_type", "passive", z+"thermal_zone3/trip_point_0_temp", "45000",
		z+"thermal_zone4/type", "pm8550-tz", // temp unreadable
		z+"thermal_zone5/type", "unused", z+"thermal_zone5/temp", "0",
	)
	b := "sys/class/power_supply/"
	put(m,
		b+"battery/type", "Battery", b+"battery/status", "Discharging", b+"battery/capacity", "76",
		b+"battery/current_now", "-1230000", b+"battery/voltage_now", "3987000", b+"battery/temp", "305",
		b+"bms/type", "Battery", // a second battery-type supply (Qualcomm's fuel gauge); "battery" wins
		b+"usb/type", "USB", b+"usb/online", "0",
		b+"wireless/type", "Wireless", b+"wireless/online", "0",
	)
	return m
}

// laptopFS is a Ryzen 7 7840U laptop (amd-pstate, one policy per CPU,
// 4 of its 16 CPUs listed): k10temp and NVMe hwmon sensors, an ACPI zone
// with only a critical trip, RAPL package and core counters next to one
// the user may not read, and a battery on mains.
func laptopFS() fstest.MapFS {
	m := fstest.MapFS{}
	for i, cur := range []string{"4301000", "4299000", "1400000", "4302000"} {
		d := "sys/devices/system/cpu/cpufreq/policy" + string(rune('0'+i)) + "/"
		put(m, d+"related_cpus", string(rune('0'+i)), d+"cpuinfo_max_freq", "5132000", d+"scaling_max_freq", "5132000", d+"scaling_cur_freq", cur)
	}
	put(m,
		"sys/class/thermal/thermal_zone0/type", "acpitz", "sys/class/thermal/thermal_zone0/temp", "46850",
		"sys/class/thermal/thermal_zone0/trip_point_0_type", "critical", "sys/class/thermal/thermal_zone0/trip_point_0_temp", "110000",
		"sys/class/hwmon/hwmon0/name", "nvme", "sys/class/hwmon/hwmon0/temp1_input", "38850", "sys/class/hwmon/hwmon0/temp1_label", "Composite",
		"sys/class/hwmon/hwmon2/name", "k10temp", "sys/class/hwmon/hwmon2/temp1_input", "61250", "sys/class/hwmon/hwmon2/temp1_label", "Tctl",
		"sys/class/hwmon/hwmon2/temp3_input", "0", // unpopulated
		"sys/class/powercap/intel-rapl/enabled", "1",
		"sys/class/powercap/intel-rapl:0/name", "package-0", "sys/class/powercap/intel-rapl:0/energy_uj", "65532600000",
		"sys/class/powercap/intel-rapl:0/max_energy_range_uj", "65532610987",
		"sys/class/powercap/intel-rapl:0:0/name", "core", "sys/class/powercap/intel-rapl:0:0/energy_uj", "23456789",
		"sys/class/powercap/intel-rapl:0:0/max_energy_range_uj", "65532610987",
		"sys/class/power_supply/BAT1/type", "Battery", "sys/class/power_supply/BAT1/status", "Charging",
		"sys/class/power_supply/BAT1/capacity", "64", "sys/class/power_supply/BAT1/current_now", "1850000",
		"sys/class/power_supply/BAT1/voltage_now", "15400000",
		"sys/class/power_supply/ACAD/type", "Mains", "sys/class/power_supply/ACAD/online", "1",
	)
	// A counter only root may read: a directory where the file should be
	// stands for the EACCES (MapFS cannot refuse a read).
	m["sys/class/powercap/intel-rapl:1/energy_uj/x"] = &fstest.MapFile{Data: []byte("1")}
	return m
}

func TestSamplerPhone(t *testing.T) {
	ctx := context.Background()
	fsys := phoneFS()
	s := NewSampler(ctx, Env{FS: fsys})
	got := s.Sample(ctx)
	wantClocks := []CoreClock{
		{0, 1171200, 2265600, 2265600}, {1, 1171200, 2265600, 2265600},
		{2, 3148800, 3148800, 3148800}, {3, 3148800, 3148800, 3148800}, {4, 3148800, 3148800, 3148800},
		{5, 2956800, 2956800, 2956800}, {6, 2956800, 2956800, 2956800}, {7, 3302400, 3302400, 3302400},
	}
	if !slices.Equal(got.Clocks, wantClocks) {
		t.Errorf("clocks = %v\nwant     %v", got.Clocks, wantClocks)
	}
	wantTemps := []Sensor{{"aoss-0", "thermal_zone0", 34.2}, {"cpu-1-4-0", "thermal_zone1", 52.3}, {"cpu-1-7-0", "thermal_zone2", 55.1}, {"skin-msm-therm", "thermal_zone3", 31}}
	if !slices.Equal(got.Thermal, wantTemps) {
		t.Errorf("thermal = %v, want %v", got.Thermal, wantTemps)
	}
	if c, ok := s.ThrottlePointC(); !ok || c != 95 {
		t.Errorf("throttle point = %v %v, want 95 (the lowest passive trip of a CPU zone; the skin zone's 45 does not count)", c, ok)
	}
	if !slices.Contains(s.Notes, "thermal: 1 thermal zones unreadable") {
		t.Errorf("notes %q", s.Notes)
	}
	b := got.Battery
	if b == nil || b.Name != "battery" || b.Status != "Discharging" || *b.CapacityPercent != 76 || *b.CurrentMicroA != -1230000 ||
		*b.VoltageMicroV != 3987000 || *b.TempC != 30.5 || b.Plugged == nil || *b.Plugged {
		t.Fatalf("battery = %+v", b)
	}
	if w, ok := b.PowerW(); !ok || math.Abs(w-1.23*3.987) > 1e-9 {
		t.Errorf("power = %v W, want %v", w, 1.23*3.987)
	}
	if len(got.Energy) != 0 {
		t.Errorf("energy counters on a phone without powercap: %v", got.Energy)
	}

	// Plugging USB in shows up in the next sample.
	put(fsys, "sys/class/power_supply/usb/online", "1")
	if b := s.Battery(ctx); b.Plugged == nil || !*b.Plugged {
		t.Errorf("plugged after USB online: %+v", b.Plugged)
	}
}

func TestSamplerLaptop(t *testing.T) {
	ctx := context.Background()
	fsys := laptopFS()
	s := NewSampler(ctx, Env{FS: fsys})
	got := s.Sample(ctx)
	if len(got.Clocks) != 4 || got.Clocks[2] != (CoreClock{2, 1400000, 5132000, 5132000}) {
		t.Errorf("clocks = %v", got.Clocks)
	}
	wantTemps := []Sensor{{"acpitz", "thermal_zone0", 46.85}, {"nvme_composite", "hwmon:nvme", 38.85}, {"k10temp_tctl", "hwmon:k10temp", 61.25}}
	if !slices.Equal(got.Thermal, wantTemps) {
		t.Errorf("thermal = %v, want %v", got.Thermal, wantTemps)
	}
	if c, ok := s.ThrottlePointC(); ok {
		t.Errorf("throttle point %v from a zone with only a critical trip", c)
	}
	wantEnergy := []EnergyCounter{{"intel-rapl:0", "package-0", 65532600000, 65532610987}, {"intel-rapl:0:0", "core", 23456789, 65532610987}}
	if !slices.Equal(got.Energy, wantEnergy) {
		t.Errorf("energy = %v, want %v", got.Energy, wantEnergy)
	}
	if !slices.ContainsFunc(s.Notes, func(n string) bool { return strings.HasPrefix(n, "powercap: 1 energy counters unreadable") }) {
		t.Errorf("notes %q", s.Notes)
	}
	if b := got.Battery; b == nil || b.Name != "BAT1" || b.Plugged == nil || !*b.Plugged || b.TempC != nil {
		t.Errorf("battery = %+v", b)
	}

	// The package counter wraps between two samples.
	put(fsys, "sys/class/powercap/intel-rapl:0/energy_uj", "1000")
	after := s.Energy(ctx)
	if uj, ok := EnergyUsedMicroJ(got.Energy[0], after[0]); !ok || uj != 65532610987-65532600000+1000 {
		t.Errorf("energy across the wrap = %d %v", uj, ok)
	}
	if uj, ok := EnergyUsedMicroJ(got.Energy[1], after[1]); !ok || uj != 0 {
		t.Errorf("unchanged core counter = %d %v", uj, ok)
	}
	if _, ok := EnergyUsedMicroJ(got.Energy[0], after[1]); ok {
		t.Error("energy between different zones")
	}
	if _, ok := EnergyUsedMicroJ(EnergyCounter{Zone: "z", MicroJ: 5}, EnergyCounter{Zone: "z", MicroJ: 1}); ok {
		t.Error("a counter that went back without a range")
	}
}

func TestSamplerPerCPUFallbackAndEmpty(t *testing.T) {
	ctx := context.Background()
	// Old kernels keep cpufreq under cpuN/ without policy directories.
	fsys := put(fstest.MapFS{},
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "1800000", "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "2000000",
		"sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", "1700000",
		"sys/devices/system/cpu/cpu10/cpufreq/scaling_cur_freq", "1600000",
		"sys/devices/system/cpu/cpufreq/boost", "1",
	)
	got := NewSampler(ctx, Env{FS: fsys}).Clocks(ctx)
	want := []CoreClock{{CPU: 0, CurKHz: 1800000, MaxKHz: 2000000}, {CPU: 1, CurKHz: 1700000}, {CPU: 10, CurKHz: 1600000}}
	if !slices.Equal(got, want) {
		t.Errorf("clocks = %v, want %v", got, want)
	}
	// A VM (this machine's kind): nothing to read, nothing fails.
	s := NewSampler(ctx, Env{FS: fstest.MapFS{}})
	if smp := s.Sample(ctx); len(smp.Clocks) != 0 || len(smp.Thermal) != 0 || smp.Battery != nil || smp.Energy != nil || smp.At.IsZero() {
		t.Errorf("empty sample = %+v", smp)
	}
	if s := NewSampler(ctx, Env{}); len(s.Sample(ctx).Clocks) != 0 {
		t.Error("nil FS gave clocks")
	}
}

func TestSamplerLive(t *testing.T) {
	ctx := context.Background()
	s := NewSampler(ctx, LiveEnv(nil))
	smp := s.Sample(ctx)
	p, _ := s.ThrottlePointC()
	t.Logf("live: %d clocks, %d temperatures, battery %v, %d energy counters, throttle point %v, notes %q",
		len(smp.Clocks), len(smp.Thermal), smp.Battery != nil, len(smp.Energy), p, s.Notes)
	for _, c := range smp.Clocks {
		if c.CurKHz <= 0 {
			t.Errorf("clock %+v", c)
		}
	}
}

func TestDetectThrottle(t *testing.T) {
	ctx := context.Background()
	fsys := phoneFS()
	s := NewSampler(ctx, Env{FS: fsys})
	point, _ := s.ThrottlePointC()
	lim := ThrottleLimits{ThrottleC: point}
	perf := []int{7, 2, 3, 4, 5, 6}
	before := s.Sample(ctx)

	clean := DetectThrottle(before, s.Sample(ctx), perf, lim)
	if clean.Throttled || !clean.ClockChecked || !clean.TempChecked {
		t.Fatalf("all cores at their maximum: %+v", clean)
	}

	// The prime core's clock drops mid-run.
	put(fsys, "sys/devices/system/cpu/cpufreq/policy7/scaling_cur_freq", "1996800")
	v := DetectThrottle(before, s.Sample(ctx), perf, lim)
	if !v.Throttled || len(v.Reasons) != 1 || v.Reasons[0] != "cpu7 ran at 1996 MHz, below 90% of 3302 MHz" {
		t.Errorf("prime core at 60%%: %+v", v)
	}
	// Workers on the little cores only: the prime core does not count, and
	// the little cores' low clock is compared with their own maximum.
	if v := DetectThrottle(before, s.Sample(ctx), []int{0, 1}, lim); !v.Throttled || !strings.HasPrefix(v.Reasons[0], "cpu0 ran at 1171 MHz, below 90% of 2265 MHz") {
		t.Errorf("little cores at half clock: %+v", v)
	}
	put(fsys, "sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq", "2265600")
	if v := DetectThrottle(before, s.Sample(ctx), []int{0, 1}, lim); v.Throttled {
		t.Errorf("little cores at full clock, prime core slow but unused: %+v", v)
	}
	// A lower ratio tolerates the drop.
	if v := DetectThrottle(before, s.Sample(ctx), perf, ThrottleLimits{MinClockRatio: 0.5}); v.Throttled {
		t.Errorf("ratio 0.5: %+v", v)
	}
	put(fsys, "sys/devices/system/cpu/cpufreq/policy7/scaling_cur_freq", "3302400")

	// Thermal capping lowers scaling_max_freq: caught even if the sample
	// after the run finds the core idle-fast.
	put(fsys, "sys/devices/system/cpu/cpufreq/policy2/scaling_max_freq", "2419200")
	v = DetectThrottle(before, s.Sample(ctx), perf, lim)
	if !v.Throttled || len(v.Reasons) != 3 || !strings.Contains(v.Reasons[0], "cpu2 capped at 2419 MHz (scaling_max_freq)") {
		t.Errorf("capped policy: %+v", v)
	}
	put(fsys, "sys/devices/system/cpu/cpufreq/policy2/scaling_max_freq", "3148800")

	// The temperature reaches the passive trip point.
	put(fsys, "sys/class/thermal/thermal_zone2/temp", "95400")
	v = DetectThrottle(before, s.Sample(ctx), perf, lim)
	if !v.Throttled || len(v.Reasons) != 1 || v.Reasons[0] != "CPU temperature 95.4 °C after the repetition reached the throttle point 95.0 °C" {
		t.Errorf("hot: %+v", v)
	}
	if v := DetectThrottle(before, s.Sample(ctx), perf, ThrottleLimits{}); v.Throttled || v.TempChecked {
		t.Errorf("hot but no throttle point given: %+v", v)
	}

	// A laptop: all-core boost stays below cpuinfo_max_freq, so the
	// reference must come from a warm-up, else every run looks throttled.
	lfs := laptopFS()
	ls := NewSampler(ctx, Env{FS: lfs})
	lb := ls.Sample(ctx)
	la := ls.Sample(ctx)
	if v := DetectThrottle(lb, la, []int{0, 1, 3}, ThrottleLimits{}); !v.Throttled || len(v.Reasons) != 3 {
		t.Errorf("laptop against cpuinfo_max_freq: %+v", v)
	}
	ref := map[int]int64{0: 4400000, 1: 4400000, 2: 4400000, 3: 4400000}
	if v := DetectThrottle(lb, la, []int{0, 1, 3}, ThrottleLimits{ReferenceKHz: ref}); v.Throttled || !v.ClockChecked {
		t.Errorf("laptop against its warm-up clock: %+v", v)
	}
	if v := DetectThrottle(lb, la, []int{0, 1, 2, 3}, ThrottleLimits{ReferenceKHz: ref}); !v.Throttled || v.Reasons[0] != "cpu2 ran at 1400 MHz, below 90% of 4400 MHz" {
		t.Errorf("laptop with one slow core: %+v", v)
	}

	// No clocks and no sensors: the verdict says it could not tell.
	if v := DetectThrottle(Sample{}, Sample{}, []int{0, 1}, ThrottleLimits{ThrottleC: 90}); v.Throttled || v.ClockChecked || v.TempChecked {
		t.Errorf("nothing readable: %+v", v)
	}
}
