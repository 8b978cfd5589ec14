package hw

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sampler reads what changes while a measurement runs: the current and
// maximum clock of each CPU (cpufreq), temperatures (thermal zones and
// hwmon), the battery's current, voltage, status and charge
// (power_supply), and the energy counters of Linux RAPL (powercap). All of
// it comes from Env.FS. NewSampler looks up once which files exist and can
// be read, so a Sample costs only the reads of the values; it is meant to be
// called around every timed repetition.
//
// Units follow the kernel ABI (Documentation/ABI/testing/
// sysfs-devices-system-cpu, sysfs-class-power, sysfs-class-powercap,
// driver-api/thermal/sysfs-api.rst, hwmon/sysfs-interface.rst): clocks in
// kHz, temperatures in millidegrees (reported here in °C), currents in µA,
// voltages in µV, energy in µJ. A Sampler is safe for use by one goroutine
// at a time.
type Sampler struct {
	f       files
	now     func() time.Time
	domains []freqDomain
	temps   []tempSource
	battery *batteryPaths
	rapl    []raplZone
	// throttleC is the lowest passive trip point of the CPU thermal
	// zones, 0 when none is readable.
	throttleC float64
	// Notes says what could not be read at discovery, for people.
	Notes []string
}

// freqDomain is one cpufreq policy: CPUs that share a clock.
type freqDomain struct {
	cpus    []int
	maxKHz  int64  // cpuinfo_max_freq, the hardware maximum
	curPath string // scaling_cur_freq
	capPath string // scaling_max_freq, the policy's current ceiling
}

// tempSource is one temperature file (millidegrees Celsius).
type tempSource struct {
	name, source, path string
}

// batteryPaths are the power_supply directories of the battery and of the
// external supplies (their "online" files).
type batteryPaths struct {
	name, dir string
	external  []string
}

// raplZone is one powercap zone with an energy counter.
type raplZone struct {
	zone, name, path string
	maxRange         int64
}

// NewSampler finds the readable sources of env. It never fails: a machine
// without cpufreq, thermal, power_supply or powercap files gives samples
// without those parts (and Notes say what was unreadable).
func NewSampler(ctx context.Context, env Env) *Sampler {
	s := &Sampler{f: files{env.FS}, now: env.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.domains = findFreqDomains(s.f)
	s.temps, s.throttleC = s.findTemps()
	s.battery = findBattery(s.f)
	s.rapl = s.findRAPL()
	return s
}

// findFreqDomains lists the cpufreq policies, or, on kernels without
// policy directories, one domain per cpuN/cpufreq.
func findFreqDomains(f files) []freqDomain {
	var out []freqDomain
	for _, p := range readPolicies(f) {
		dir := join(cpuDir, "cpufreq", p.name)
		if len(p.cpus) == 0 || !f.exists(join(dir, "scaling_cur_freq")) {
			continue
		}
		out = append(out, freqDomain{cpus: p.cpus, maxKHz: p.maxKHz,
			curPath: join(dir, "scaling_cur_freq"), capPath: join(dir, "scaling_max_freq")})
	}
	if len(out) > 0 {
		return out
	}
	for _, name := range f.dirNames(cpuDir, "cpu") {
		id, err := strconv.Atoi(strings.TrimPrefix(name, "cpu"))
		dir := join(cpuDir, name, "cpufreq")
		if err != nil || !f.exists(join(dir, "scaling_cur_freq")) {
			continue
		}
		maxKHz, _ := f.int64(join(dir, "cpuinfo_max_freq"))
		out = append(out, freqDomain{cpus: []int{id}, maxKHz: maxKHz,
			curPath: join(dir, "scaling_cur_freq"), capPath: join(dir, "scaling_max_freq")})
	}
	return out
}

// findTemps lists the thermal zones and hwmon inputs whose temperature is
// readable and plausible now, and the lowest passive trip point of the
// zones that measure the CPU.
func (s *Sampler) findTemps() ([]tempSource, float64) {
	f := s.f
	var out []tempSource
	var throttle float64
	denied := 0
	base := "sys/class/thermal"
	for _, zone := range f.dirNames(base, "thermal_zone") {
		dir := join(base, zone)
		milli, ok := f.int64(join(dir, "temp"))
		if !ok {
			denied++
			continue
		}
		if !plausibleMilliC(milli) {
			continue
		}
		name := f.str(join(dir, "type"))
		if name == "" {
			name = zone
		}
		out = append(out, tempSource{name: name, source: zone, path: join(dir, "temp")})
		if !cpuSensorRE.MatchString(name) {
			continue
		}
		for i := 0; ; i++ {
			typ, err := f.read(join(dir, fmt.Sprintf("trip_point_%d_type", i)))
			if err != nil {
				break
			}
			t, ok := f.int64(join(dir, fmt.Sprintf("trip_point_%d_temp", i)))
			if typ == "passive" && ok && plausibleMilliC(t) && (throttle == 0 || float64(t)/1000 < throttle) {
				throttle = float64(t) / 1000
			}
		}
	}
	if denied > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("thermal: %d thermal zones unreadable", denied))
	}
	hbase := "sys/class/hwmon"
	for _, mon := range f.dirNames(hbase, "hwmon") {
		dir := join(hbase, mon)
		chip := f.str(join(dir, "name"))
		if chip == "" {
			chip = mon
		}
		for _, in := range f.dirNames(dir, "temp") {
			if !strings.HasSuffix(in, "_input") {
				continue
			}
			milli, ok := f.int64(join(dir, in))
			if !ok || !plausibleMilliC(milli) {
				continue
			}
			name := chip
			if label := f.str(join(dir, strings.TrimSuffix(in, "_input")+"_label")); label != "" {
				name += "_" + strings.ReplaceAll(strings.ToLower(label), " ", "_")
			}
			out = append(out, tempSource{name: name, source: "hwmon:" + chip, path: join(dir, in)})
		}
	}
	return out, throttle
}

// plausibleMilliC drops unpopulated (0) and broken readings, as
// readThermalZones does.
func plausibleMilliC(milli int64) bool {
	c := float64(milli) / 1000
	return milli != 0 && c > -40 && c <= 150
}

// findBattery returns the battery supply (type Battery, preferring the
// directory named "battery", Android's) and the external supplies.
func findBattery(f files) *batteryPaths {
	base := "sys/class/power_supply"
	var b *batteryPaths
	var external []string
	for _, name := range f.dirNames(base, "") {
		dir := join(base, name)
		typ := f.str(join(dir, "type"))
		switch {
		case strings.EqualFold(typ, "Battery"):
			if b == nil || name == "battery" {
				b = &batteryPaths{name: name, dir: dir}
			}
		case f.exists(join(dir, "online")):
			external = append(external, dir)
		}
	}
	if b != nil {
		b.external = external
	}
	return b
}

// findRAPL lists the powercap zones with a readable energy counter.
func (s *Sampler) findRAPL() []raplZone {
	base := "sys/class/powercap"
	var out []raplZone
	denied := 0
	for _, zone := range s.f.dirNames(base, "") {
		dir := join(base, zone)
		if !s.f.exists(join(dir, "energy_uj")) {
			continue
		}
		if _, ok := s.f.int64(join(dir, "energy_uj")); !ok {
			denied++
			continue
		}
		maxRange, _ := s.f.int64(join(dir, "max_energy_range_uj"))
		out = append(out, raplZone{zone: zone, name: s.f.str(join(dir, "name")), path: join(dir, "energy_uj"), maxRange: maxRange})
	}
	if denied > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("powercap: %d energy counters unreadable (root only since Linux 5.10)", denied))
	}
	return out
}

// Sample is the state of the changing sources at one moment.
type Sample struct {
	// At is when the sample was taken.
	At time.Time `json:"at"`
	// Clocks lists every CPU with a cpufreq clock, by CPU id.
	Clocks []CoreClock `json:"clocks"`
	// Thermal lists the temperatures, thermal zones first, then hwmon.
	Thermal []Sensor `json:"thermal"`
	// Battery is the battery's state; nil without a battery supply.
	Battery *BatterySample `json:"battery,omitempty"`
	// Energy lists the RAPL energy counters.
	Energy []EnergyCounter `json:"energy,omitempty"`
}

// CoreClock is one CPU's clock.
type CoreClock struct {
	// CPU is the logical CPU id.
	CPU int `json:"cpu"`
	// CurKHz is scaling_cur_freq: the clock now (on x86 the average over
	// the last tick), in kHz.
	CurKHz int64 `json:"cur_khz"`
	// MaxKHz is cpuinfo_max_freq, the hardware maximum, in kHz.
	MaxKHz int64 `json:"max_khz,omitempty"`
	// CapKHz is scaling_max_freq, the ceiling the policy allows now; thermal
	// and power limits lower it. 0 when unreadable.
	CapKHz int64 `json:"cap_khz,omitempty"`
}

// BatterySample is the battery's power_supply state.
type BatterySample struct {
	// Name is the supply directory, e.g. "battery" or "BAT0".
	Name string `json:"name"`
	// Status is "Charging", "Discharging", "Full", "Not charging", …
	Status string `json:"status,omitempty"`
	// CapacityPercent is the charge level.
	CapacityPercent *int `json:"capacity_percent,omitempty"`
	// CurrentMicroA is current_now as the driver reports it: µA by the ABI,
	// negative while discharging on recent kernels; some vendor drivers
	// report discharge as positive, or mA.
	CurrentMicroA *int64 `json:"current_ua,omitempty"`
	// VoltageMicroV is voltage_now in µV.
	VoltageMicroV *int64 `json:"voltage_uv,omitempty"`
	// TempC is the battery temperature (temp, tenths of a degree).
	TempC *float64 `json:"temp_c,omitempty"`
	// Plugged says whether an external supply (USB, mains, wireless) is
	// online; nil when no external supply reports it.
	Plugged *bool `json:"plugged,omitempty"`
}

// PowerW returns |current × voltage| in watts, when both are read.
func (b *BatterySample) PowerW() (float64, bool) {
	if b == nil || b.CurrentMicroA == nil || b.VoltageMicroV == nil {
		return 0, false
	}
	return math.Abs(float64(*b.CurrentMicroA)*1e-6) * float64(*b.VoltageMicroV) * 1e-6, true
}

// EnergyCounter is one RAPL zone's cumulative energy.
type EnergyCounter struct {
	// Zone is the powercap directory, e.g. "intel-rapl:0".
	Zone string `json:"zone"`
	// Name is the zone's name, e.g. "package-0", "core", "dram".
	Name string `json:"name,omitempty"`
	// MicroJ is energy_uj.
	MicroJ int64 `json:"energy_uj"`
	// MaxMicroJ is max_energy_range_uj, where the counter wraps to 0.
	MaxMicroJ int64 `json:"max_energy_range_uj,omitempty"`
}

// EnergyUsedMicroJ returns the energy a zone counted from before to after,
// allowing for one wrap of the counter at MaxMicroJ. ok is false for
// different zones, or a counter that went back without a known range.
func EnergyUsedMicroJ(before, after EnergyCounter) (uj int64, ok bool) {
	if before.Zone != after.Zone {
		return 0, false
	}
	if d := after.MicroJ - before.MicroJ; d >= 0 {
		return d, true
	}
	if before.MaxMicroJ <= 0 {
		return 0, false
	}
	return before.MaxMicroJ - before.MicroJ + after.MicroJ, true
}

// Sample reads every source.
func (s *Sampler) Sample(ctx context.Context) Sample {
	return Sample{At: s.now().UTC(), Clocks: s.Clocks(ctx), Thermal: s.Temperatures(ctx), Battery: s.Battery(ctx), Energy: s.Energy(ctx)}
}

// Clocks reads every CPU's current clock and ceiling, by CPU id.
func (s *Sampler) Clocks(ctx context.Context) []CoreClock {
	out := []CoreClock{}
	for _, d := range s.domains {
		cur, ok := s.f.int64(d.curPath)
		if !ok {
			continue
		}
		ceiling, _ := s.f.int64(d.capPath)
		for _, c := range d.cpus {
			out = append(out, CoreClock{CPU: c, CurKHz: cur, MaxKHz: d.maxKHz, CapKHz: ceiling})
		}
	}
	slices.SortFunc(out, func(a, b CoreClock) int { return a.CPU - b.CPU })
	return out
}

// Temperatures reads the temperature sources found at discovery; readings
// that became implausible are left out.
func (s *Sampler) Temperatures(ctx context.Context) []Sensor {
	out := []Sensor{}
	for _, t := range s.temps {
		if milli, ok := s.f.int64(t.path); ok && plausibleMilliC(milli) {
			out = append(out, Sensor{Name: t.name, Source: t.source, TempC: float64(milli) / 1000})
		}
	}
	return out
}

// Battery reads the battery supply; nil when there is none.
func (s *Sampler) Battery(ctx context.Context) *BatterySample {
	if s.battery == nil {
		return nil
	}
	dir := s.battery.dir
	b := &BatterySample{Name: s.battery.name, Status: s.f.str(join(dir, "status"))}
	if v, ok := s.f.int64(join(dir, "capacity")); ok {
		c := int(v)
		b.CapacityPercent = &c
	}
	if v, ok := s.f.int64(join(dir, "current_now")); ok {
		b.CurrentMicroA = &v
	}
	if v, ok := s.f.int64(join(dir, "voltage_now")); ok {
		b.VoltageMicroV = &v
	}
	if v, ok := s.f.int64(join(dir, "temp")); ok {
		t := float64(v) / 10
		b.TempC = &t
	}
	for _, ext := range s.battery.external {
		if v, ok := s.f.int64(join(ext, "online")); ok {
			on := v != 0 || (b.Plugged != nil && *b.Plugged)
			b.Plugged = &on
		}
	}
	return b
}

// Energy reads the RAPL energy counters.
func (s *Sampler) Energy(ctx context.Context) []EnergyCounter {
	var out []EnergyCounter
	for _, z := range s.rapl {
		if v, ok := s.f.int64(z.path); ok {
			out = append(out, EnergyCounter{Zone: z.zone, Name: z.name, MicroJ: v, MaxMicroJ: z.maxRange})
		}
	}
	return out
}

// ThrottlePointC returns the lowest passive trip point among the thermal
// zones that measure the CPU (the temperature at which the kernel starts
// to cap clocks); ok is false when none is readable.
func (s *Sampler) ThrottlePointC() (c float64, ok bool) {
	return s.throttleC, s.throttleC != 0
}
