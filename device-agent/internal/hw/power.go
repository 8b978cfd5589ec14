package hw

import (
	"context"
	"strconv"
	"strings"
)

// Power states.
const (
	PowerAC      = "ac"
	PowerBattery = "battery"
	PowerUnknown = "unknown"
)

// readPowerSupplies reads /sys/class/power_supply/* (kernel
// Documentation/ABI/testing/sysfs-class-power: type, online, status,
// capacity in percent, temp in tenths of a degree Celsius). It returns nil
// when the class is empty or unreadable.
func readPowerSupplies(f files) *Power {
	base := "sys/class/power_supply"
	names := f.dirNames(base, "")
	if len(names) == 0 {
		return nil
	}
	p := &Power{Source: "sysfs"}
	for _, name := range names {
		dir := join(base, name)
		s := PowerSupply{Name: name, Type: f.str(join(dir, "type"))}
		if s.Type == "" && !f.exists(join(dir, "online")) && !f.exists(join(dir, "capacity")) {
			continue // not a supply directory, or unreadable
		}
		if v, ok := f.int64(join(dir, "online")); ok {
			on := v != 0
			s.Online = &on
		}
		s.Status = f.str(join(dir, "status"))
		if v, ok := f.int64(join(dir, "capacity")); ok {
			c := int(v)
			s.CapacityPercent = &c
		}
		if v, ok := f.int64(join(dir, "temp")); ok && strings.EqualFold(s.Type, "Battery") {
			t := float64(v) / 10
			s.TempC = &t
		}
		p.Supplies = append(p.Supplies, s)
	}
	if len(p.Supplies) == 0 {
		return nil
	}
	p.State = powerState(p.Supplies)
	return p
}

// powerState is "ac" when any non-battery supply is online, "battery" when a
// battery reports Discharging (or no supply is online while a battery is
// present), otherwise "unknown".
func powerState(supplies []PowerSupply) string {
	battery := false
	discharging := false
	for _, s := range supplies {
		if strings.EqualFold(s.Type, "Battery") {
			battery = true
			if strings.EqualFold(s.Status, "Discharging") {
				discharging = true
			}
			continue
		}
		if s.Online != nil && *s.Online {
			return PowerAC
		}
	}
	if battery && (discharging || anyOnlineKnown(supplies)) {
		return PowerBattery
	}
	return PowerUnknown
}

// anyOnlineKnown reports whether some external supply reports its online
// state (all of them offline, since powerState returned earlier otherwise).
func anyOnlineKnown(supplies []PowerSupply) bool {
	for _, s := range supplies {
		if !strings.EqualFold(s.Type, "Battery") && s.Online != nil {
			return true
		}
	}
	return false
}

// batteryStatus names BatteryManager status codes as dumpsys prints them.
var batteryStatus = map[string]string{
	"1": "Unknown", "2": "Charging", "3": "Discharging", "4": "Not charging", "5": "Full",
}

// parseDumpsysBattery reads the output of `dumpsys battery` (Android),
// whose lines are "  key: value"; "temperature" is in tenths of a degree.
func parseDumpsysBattery(out string) *Power {
	kv := parseKeyValues(out, ":")
	if _, ok := kv["level"]; !ok {
		return nil
	}
	p := &Power{Source: "dumpsys battery"}
	for _, ext := range []struct{ key, name, typ string }{
		{"AC powered", "ac", "Mains"}, {"USB powered", "usb", "USB"}, {"Wireless powered", "wireless", "Wireless"},
	} {
		if v, ok := kv[ext.key]; ok {
			on := v == "true"
			p.Supplies = append(p.Supplies, PowerSupply{Name: ext.name, Type: ext.typ, Online: &on})
		}
	}
	b := PowerSupply{Name: "battery", Type: "Battery", Status: batteryStatus[kv["status"]]}
	if v, err := strconv.Atoi(kv["level"]); err == nil {
		if scale, err := strconv.Atoi(kv["scale"]); err == nil && scale > 0 && scale != 100 {
			v = v * 100 / scale
		}
		b.CapacityPercent = &v
	}
	if v, err := strconv.Atoi(kv["temperature"]); err == nil {
		t := float64(v) / 10
		b.TempC = &t
	}
	p.Supplies = append(p.Supplies, b)
	p.State = powerState(p.Supplies)
	return p
}

// readPower reads the power state from sysfs and, on Android when sysfs
// gives nothing, from `dumpsys battery`; otherwise the state is unknown.
func readPower(ctx context.Context, env Env, f files, android bool) Power {
	if p := readPowerSupplies(f); p != nil {
		return *p
	}
	if android && env.Run != nil {
		if out, err := env.Run(ctx, "dumpsys", "battery"); err == nil {
			if p := parseDumpsysBattery(string(out)); p != nil {
				return *p
			}
		}
	}
	return Power{State: PowerUnknown}
}
