package hw

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNoCPU is returned when neither the files nor the Host name a single CPU.
var ErrNoCPU = errors.New("no CPU found")

// Collect builds the profile of the machine env describes. Probes that fail
// leave their fields empty and may add a note; Collect itself fails only
// with ErrNoCPU or a cancelled ctx.
func Collect(ctx context.Context, env Env) (Profile, error) {
	f := files{env.FS}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	p := Profile{
		SchemaVersion: SchemaVersion,
		CollectedAt:   now().UTC().Truncate(time.Second),
		OS:            env.GOOS,
		Arch:          env.GOARCH,
	}
	note := func(format string, args ...any) { p.Notes = append(p.Notes, fmt.Sprintf(format, args...)) }

	android := env.GOOS == "android" || f.exists("system/bin/getprop") || f.exists("system/build.prop")
	if android {
		p.OS = "android"
	}
	var props map[string]string
	if android && env.Run != nil {
		out, err := env.Run(ctx, "getprop")
		if err != nil {
			note("getprop: %v", err)
		}
		props = parseGetprop(string(out))
	}

	var ci cpuInfo
	if text, err := f.read("proc/cpuinfo"); err == nil {
		ci = parseCPUInfo(text)
	} else {
		ci = cpuInfo{global: map[string]string{}}
		if env.GOOS == "linux" || android {
			note("/proc/cpuinfo: %v", err)
		}
	}

	// Host facts from files first; Host (gopsutil) fills the gaps.
	p.KernelVersion = f.str("proc/sys/kernel/osrelease")
	p.Hostname = f.str("proc/sys/kernel/hostname")
	if android {
		if rel := props["ro.build.version.release"]; rel != "" {
			p.Platform = "Android " + rel
		}
		if props["ro.product.model"] != "" {
			p.Machine = &Machine{Vendor: props["ro.product.manufacturer"], Model: props["ro.product.model"], Name: props["ro.product.device"]}
		}
	} else {
		p.Platform = osRelease(f)
		vendor := f.str("sys/devices/virtual/dmi/id/sys_vendor")
		model := f.str("sys/devices/virtual/dmi/id/product_name")
		if vendor != "" || model != "" {
			p.Machine = &Machine{Vendor: vendor, Model: model, Name: f.str("sys/devices/virtual/dmi/id/product_version")}
		}
	}

	// CPU.
	p.CPU.Vendor = ci.first("vendor_id")
	p.CPU.Model = ci.first("model name")
	cores, clusters, physical := readCores(f, ci)
	p.CPU.Cores, p.CPU.Clusters = cores, clusters
	if p.CPU.Cores == nil {
		p.CPU.Cores = []Core{}
	}
	if p.CPU.Clusters == nil {
		p.CPU.Clusters = []Cluster{}
	}
	p.CPU.LogicalCores, p.CPU.PhysicalCores = len(cores), physical
	if p.CPU.Vendor == "" && len(cores) > 0 {
		p.CPU.Vendor = armImplementer[cores[0].Implementer]
	}
	if p.CPU.Model == "" {
		p.CPU.Model = coreMix(clusters)
	}
	if status, err := f.read("proc/self/status"); err == nil {
		p.CPU.AllowedCPUs = parseKeyValues(status, ":")["Cpus_allowed_list"]
	}
	p.CPU.Boost = f.str(join(cpuDir, "cpufreq", "boost"))

	// Memory.
	if text, err := f.read("proc/meminfo"); err == nil {
		kv := parseKeyValues(text, ":")
		p.Memory.TotalBytes = kibibytes(kv["MemTotal"])
		p.Memory.AvailableBytes = kibibytes(kv["MemAvailable"])
	}

	// Gaps: ask the Host (gopsutil) once.
	if env.Host != nil && (p.Hostname == "" || p.KernelVersion == "" || p.Platform == "" ||
		p.CPU.Model == "" || p.CPU.LogicalCores == 0 || p.Memory.TotalBytes == 0) {
		hi, err := env.Host.Info(ctx)
		if err != nil {
			note("host info: %v", err)
		}
		fillFromHost(&p, hi)
	}
	if err := ctx.Err(); err != nil {
		return Profile{}, err
	}
	if p.CPU.LogicalCores == 0 {
		return Profile{}, ErrNoCPU
	}
	if p.CPU.Model == "" {
		note("cpu: no model name found")
	}
	if p.Memory.TotalBytes == 0 {
		note("memory: total unknown")
	}
	p.Memory.Bucket = MemoryBucket(p.Memory.TotalBytes)

	// Features.
	if env.ProcessFeatures != nil {
		p.CPU.Features, p.CPU.FeaturesSource = env.ProcessFeatures(), "x/sys/cpu"
	} else {
		p.CPU.Features, p.CPU.FeaturesSource = featuresFromWords(ci.featureWords()), "/proc/cpuinfo"
	}
	if p.CPU.Features == nil {
		p.CPU.Features = []string{}
	}
	p.ISALevel = VariantFor(p.CPU.Features)
	if env.Variant != nil {
		p.KernelVariant = env.Variant()
	} else {
		p.KernelVariant = p.ISALevel
	}

	p.SoC = detectSoC(f, props, ci)

	var notes []string
	p.Thermal, notes = readTemperatures(ctx, env, f)
	p.Notes = append(p.Notes, notes...)
	p.Power = readPower(ctx, env, f, android)

	p.Fingerprint = ComputeFingerprint(&p)
	p.Class = Class(&p)
	return p, nil
}

// kibibytes parses a /proc/meminfo value ("24684092 kB") into bytes.
func kibibytes(v string) uint64 {
	n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
	if err != nil {
		return 0
	}
	return n * 1024
}

// osRelease returns PRETTY_NAME from os-release(5), or NAME VERSION_ID.
func osRelease(f files) string {
	for _, path := range []string{"etc/os-release", "usr/lib/os-release"} {
		text, err := f.read(path)
		if err != nil {
			continue
		}
		kv := parseKeyValues(text, "=")
		unq := func(s string) string { return strings.Trim(s, `"'`) }
		if v := unq(kv["PRETTY_NAME"]); v != "" {
			return v
		}
		return strings.TrimSpace(unq(kv["NAME"]) + " " + unq(kv["VERSION_ID"]))
	}
	return ""
}

// fillFromHost copies Host facts into fields the files left empty.
func fillFromHost(p *Profile, hi HostInfo) {
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = strings.TrimSpace(v)
		}
	}
	set(&p.Hostname, hi.Hostname)
	set(&p.KernelVersion, hi.KernelVersion)
	set(&p.Platform, hi.Platform)
	set(&p.CPU.Vendor, hi.CPUVendor)
	set(&p.CPU.Model, hi.CPUModel)
	if p.CPU.LogicalCores == 0 && hi.LogicalCores > 0 {
		p.CPU.LogicalCores = hi.LogicalCores
		maxKHz := int64(hi.MaxMHz * 1000)
		cl := Cluster{CPUs: formatCPUList(seq(hi.LogicalCores)), Count: hi.LogicalCores, MaxFreqKHz: maxKHz}
		p.CPU.Clusters = []Cluster{cl}
		p.CPU.Cores = make([]Core, hi.LogicalCores)
		for i := range p.CPU.Cores {
			p.CPU.Cores[i] = Core{ID: i, CoreID: -1, Package: -1, MaxFreqKHz: maxKHz}
		}
	}
	if p.CPU.PhysicalCores == 0 {
		p.CPU.PhysicalCores = hi.PhysicalCores
	}
	if p.Memory.TotalBytes == 0 {
		p.Memory.TotalBytes, p.Memory.AvailableBytes = hi.MemTotal, hi.MemAvailable
	}
}

// seq returns 0..n-1.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
