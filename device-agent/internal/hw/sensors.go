package hw

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// readThermalZones reads /sys/class/thermal/thermal_zone*/{type,temp}
// (kernel Documentation/driver-api/thermal/sysfs-api.rst: temp is in
// millidegrees Celsius). Zones that cannot be read are counted in denied;
// readings of exactly 0 or outside (-40, 150] °C are dropped as unpopulated
// or broken sensors.
func readThermalZones(f files) (sensors []Sensor, denied int) {
	base := "sys/class/thermal"
	for _, zone := range f.dirNames(base, "thermal_zone") {
		milli, ok := f.int64(join(base, zone, "temp"))
		if !ok {
			denied++
			continue
		}
		c := float64(milli) / 1000
		if milli == 0 || c <= -40 || c > 150 {
			continue
		}
		name := f.str(join(base, zone, "type"))
		if name == "" {
			name = zone
		}
		sensors = append(sensors, Sensor{Name: name, Source: zone, TempC: c})
	}
	return sensors, denied
}

// readTemperatures returns the thermal zones, then the sensors of env.Host
// (hwmon through gopsutil on Linux, platform sensors elsewhere) that are not
// duplicates of a zone. gopsutil reads the zones itself when there is no
// hwmon class, so on Linux it is asked only when /sys/class/hwmon has
// entries.
func readTemperatures(ctx context.Context, env Env, f files) ([]Sensor, []string) {
	var notes []string
	sensors, denied := readThermalZones(f)
	if denied > 0 {
		notes = append(notes, fmt.Sprintf("thermal: %d thermal zones unreadable", denied))
	}
	linuxLike := env.GOOS == "linux" || env.GOOS == "android"
	askHost := env.Host != nil && (!linuxLike || len(f.dirNames("sys/class/hwmon", "hwmon")) > 0)
	if askHost {
		extra, err := env.Host.Temperatures(ctx)
		if err != nil && len(extra) == 0 {
			notes = append(notes, fmt.Sprintf("thermal: %v", err))
		}
		seen := map[string]bool{}
		for _, s := range sensors {
			seen[s.Name] = true
		}
		slices.SortFunc(extra, func(a, b Sensor) int { return strings.Compare(a.Name, b.Name) })
		for _, s := range extra {
			if seen[s.Name] || s.TempC == 0 || s.TempC <= -40 || s.TempC > 150 || math.IsNaN(s.TempC) {
				continue
			}
			if linuxLike {
				s.Source = "hwmon"
			}
			sensors = append(sensors, s)
		}
	}
	if sensors == nil {
		sensors = []Sensor{}
	}
	return sensors, notes
}

// cpuSensorRE matches the names of sensors that measure the CPU or SoC die:
// phone zones ("cpu-1-0-usr", "cpuss-0", "soc_thermal", "mtktscpu"), PC
// hwmon labels ("k10temp_tctl", "coretemp_package_id_0", "x86_pkg_temp").
var cpuSensorRE = regexp.MustCompile(`(?i)cpu|soc|tctl|tdie|tccd|package|pkg|core|cluster|big|little|mid`)

// CPUTempC returns the hottest reading among the sensors that measure the
// CPU or SoC (by name); when no name matches, the hottest of all sensors
// except batteries and skin sensors. ok is false when there is none.
func CPUTempC(sensors []Sensor) (c float64, ok bool) {
	pick := func(match func(string) bool) {
		for _, s := range sensors {
			if match(s.Name) && (!ok || s.TempC > c) {
				c, ok = s.TempC, true
			}
		}
	}
	pick(cpuSensorRE.MatchString)
	if !ok {
		pick(func(n string) bool {
			n = strings.ToLower(n)
			return !strings.Contains(n, "batt") && !strings.Contains(n, "skin")
		})
	}
	return c, ok
}

// CoreFreq is the current clock of one logical CPU.
type CoreFreq struct {
	// CPU is the logical CPU number.
	CPU int `json:"cpu"`
	// CurKHz is scaling_cur_freq in kHz.
	CurKHz int64 `json:"cur_khz"`
}

// Snapshot is the thermal and clock state at one moment, taken before and
// after a measurement and sent with heartbeats.
type Snapshot struct {
	// At is when the snapshot was taken.
	At time.Time `json:"at"`
	// Thermal lists the readable temperature sensors.
	Thermal []Sensor `json:"thermal"`
	// CPUTempC is CPUTempC(Thermal); absent when no sensor is readable.
	CPUTempC *float64 `json:"cpu_temp_c,omitempty"`
	// Freqs lists the current clock of each CPU that reports one.
	Freqs []CoreFreq `json:"freqs"`
}

// TakeSnapshot reads temperatures and current clocks; it is much cheaper
// than Collect and never fails (unreadable values are left out).
func TakeSnapshot(ctx context.Context, env Env) Snapshot {
	f := files{env.FS}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	s := Snapshot{At: now().UTC(), Freqs: []CoreFreq{}}
	s.Thermal, _ = readTemperatures(ctx, env, f)
	if c, ok := CPUTempC(s.Thermal); ok {
		s.CPUTempC = &c
	}
	ci := cpuInfo{global: map[string]string{}}
	if text, err := f.read("proc/cpuinfo"); err == nil {
		ci = parseCPUInfo(text)
	}
	cores, _, _ := readCores(f, ci)
	for _, c := range cores {
		if c.CurFreqKHz > 0 {
			s.Freqs = append(s.Freqs, CoreFreq{CPU: c.ID, CurKHz: c.CurFreqKHz})
		}
	}
	return s
}
