package hw

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// Runner runs a command and returns its standard output. An error means the
// command is missing, failed or timed out.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Host supplies facts that the files under Env.FS cannot give: on Linux and
// Android the sensors gopsutil reads from hwmon, and on other operating
// systems everything. Every method may return zero values and an error.
type Host interface {
	// Info returns host facts; empty fields are unknown.
	Info(ctx context.Context) (HostInfo, error)
	// Temperatures returns hwmon (Linux) or platform sensors.
	Temperatures(ctx context.Context) ([]Sensor, error)
}

// HostInfo is what Host.Info reports.
type HostInfo struct {
	// Hostname is the host name.
	Hostname string
	// Platform is the OS distribution and version.
	Platform string
	// KernelVersion is the kernel release.
	KernelVersion string
	// CPUVendor is the CPU vendor.
	CPUVendor string
	// CPUModel is the CPU model name.
	CPUModel string
	// LogicalCores is the logical CPU count.
	LogicalCores int
	// PhysicalCores is the physical core count.
	PhysicalCores int
	// MaxMHz is the CPU's maximum clock in MHz, when known.
	MaxMHz float64
	// MemTotal is the total memory in bytes.
	MemTotal uint64
	// MemAvailable is the available memory in bytes.
	MemAvailable uint64
}

// Env is everything Collect reads from. The zero value reads nothing; use
// LiveEnv for the running machine.
type Env struct {
	// FS is the root file system; paths are relative to "/", e.g.
	// "proc/cpuinfo". Nil reads no files.
	FS fs.FS
	// Run runs commands (getprop, dumpsys). Nil runs none.
	Run Runner
	// Host supplies facts files cannot give. Nil means none.
	Host Host
	// GOOS is the operating system the agent binary was built for.
	GOOS string
	// GOARCH is the architecture the agent binary was built for.
	GOARCH string
	// ProcessFeatures returns the ISA features the running process may use
	// (names as in CPU.Features). Nil derives features from /proc/cpuinfo.
	ProcessFeatures func() []string
	// Variant returns the kernel variant of the linked runtime
	// (kernels.Variant). Nil predicts it with VariantFor.
	Variant func() string
	// Now returns the collection time. Nil means time.Now.
	Now func() time.Time
}

// LiveEnv returns the Env of the running machine: the real root file
// system, os/exec with a timeout per command, gopsutil, and the features
// golang.org/x/sys/cpu detected. variant is the linked runtime's
// kernels.Variant (nil to predict it from the features).
func LiveEnv(variant func() string) Env {
	return Env{
		FS:              os.DirFS("/"),
		Run:             execRunner,
		Host:            gopsutilHost{},
		GOOS:            runtime.GOOS,
		GOARCH:          runtime.GOARCH,
		ProcessFeatures: processFeatures,
		Variant:         variant,
		Now:             time.Now,
	}
}

// commandTimeout bounds each external command; getprop and dumpsys answer in
// milliseconds when they work.
const commandTimeout = 5 * time.Second

// execRunner runs name with os/exec. On Android the tools live in
// /system/bin, which a stripped PATH (some adb shells, services) may lack.
func execRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	path, err := exec.LookPath(name)
	if err != nil {
		alt := "/system/bin/" + name
		if _, statErr := os.Stat(alt); statErr != nil {
			return nil, fmt.Errorf("run %s: %w", name, err)
		}
		path = alt
	}
	out, err := exec.CommandContext(ctx, path, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return out, fmt.Errorf("run %s: %w: %s", name, err, firstLine(string(ee.Stderr)))
		}
		return out, fmt.Errorf("run %s: %w", name, err)
	}
	return out, nil
}
