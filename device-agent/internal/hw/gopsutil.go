package hw

import (
	"context"
	"errors"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/sensors"
)

// gopsutilHost is the live Host, backed by github.com/shirou/gopsutil/v4 (pure
// Go on every target; see go-ecosystem.md §4.1). On Linux and Android it is
// asked only for what the files do not give; on macOS and Windows it is the
// only source.
type gopsutilHost struct{}

// Info implements Host. It returns what it could read and the joined errors
// of the probes that failed.
func (gopsutilHost) Info(ctx context.Context) (HostInfo, error) {
	var hi HostInfo
	var errs []error
	if h, err := host.InfoWithContext(ctx); err == nil {
		hi.Hostname = h.Hostname
		hi.KernelVersion = h.KernelVersion
		hi.Platform = strings.TrimSpace(h.Platform + " " + h.PlatformVersion)
	} else {
		errs = append(errs, err)
	}
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		hi.CPUVendor = infos[0].VendorID
		hi.CPUModel = infos[0].ModelName
		hi.MaxMHz = infos[0].Mhz
	} else if err != nil {
		errs = append(errs, err)
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		hi.LogicalCores = n
	} else {
		errs = append(errs, err)
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil {
		hi.PhysicalCores = n
	} else {
		errs = append(errs, err)
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		hi.MemTotal, hi.MemAvailable = vm.Total, vm.Available
	} else {
		errs = append(errs, err)
	}
	return hi, errors.Join(errs...)
}

// Temperatures implements Host. gopsutil may return readings together with
// a warning error; the readings are kept.
func (gopsutilHost) Temperatures(ctx context.Context) ([]Sensor, error) {
	stats, err := sensors.TemperaturesWithContext(ctx)
	out := make([]Sensor, 0, len(stats))
	for _, s := range stats {
		out = append(out, Sensor{Name: s.SensorKey, Source: "gopsutil", TempC: s.Temperature})
	}
	return out, err
}
