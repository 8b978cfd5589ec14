package hw

import "time"

// SchemaVersion is the version of the Profile JSON layout. It changes only
// when a field is renamed, removed or changes meaning; added fields keep it.
const SchemaVersion = 1

// Profile is the hardware profile of one device, sent at enrollment and
// stored by the coordinator as JSONB. Field names are stable snake_case.
type Profile struct {
	// SchemaVersion is SchemaVersion at the time of collection.
	SchemaVersion int `json:"schema_version"`
	// CollectedAt is when the profile was taken (UTC).
	CollectedAt time.Time `json:"collected_at"`
	// OS is the operating system: "linux", "android", "darwin", "windows", …
	// It is "android" for a linux binary running on Android too.
	OS string `json:"os"`
	// Arch is the Go architecture of the agent binary: "amd64", "arm64", …
	Arch string `json:"arch"`
	// Platform is the distribution or OS release, e.g. "Debian GNU/Linux 12
	// (bookworm)" or "Android 14".
	Platform string `json:"platform,omitempty"`
	// KernelVersion is the OS kernel release, e.g. "6.1.75-android14-11".
	KernelVersion string `json:"kernel_version,omitempty"`
	// Hostname is the host name (not secret; helps people find the device).
	Hostname string `json:"hostname,omitempty"`
	// Machine names the device: DMI vendor and product on PCs, ro.product.*
	// on Android. Nil when unknown.
	Machine *Machine `json:"machine,omitempty"`
	// CPU describes the processor, its cores and features.
	CPU CPU `json:"cpu"`
	// SoC is the system-on-chip, when one is identified (phones, boards).
	SoC *SoC `json:"soc,omitempty"`
	// Memory is the main memory.
	Memory Memory `json:"memory"`
	// Thermal lists the temperature sensors that could be read, in a stable
	// order (thermal zones by number, then hwmon sensors by name). Empty,
	// not null, when none is readable.
	Thermal []Sensor `json:"thermal"`
	// Power is the power state (AC or battery); State is "unknown" and
	// Source empty when nothing could be read (desktops and VMs usually have
	// no power_supply entries).
	Power Power `json:"power"`
	// KernelVariant is the inner-loop implementation the agent's runtime
	// uses (kernels.Variant of the linked kernels package), e.g. "go" or
	// "avx512vnni". For a profile built from recorded files, where no
	// runtime runs, it is the prediction VariantFor makes from the features.
	KernelVariant string `json:"kernel_variant"`
	// ISALevel is the best kernel tier the CPU features allow (VariantFor),
	// whatever the linked runtime implements: "avx512vnni", "avx512",
	// "avx2", "neon-i8mm", "neon-dotprod", "neon" or "go".
	ISALevel string `json:"isa_level"`
	// Fingerprint identifies the hardware configuration.
	Fingerprint Fingerprint `json:"fingerprint"`
	// Class groups interchangeable devices (see the package doc); it is a
	// valid NATS subject token.
	Class string `json:"class"`
	// Notes lists what could not be read and why, for people; never parsed.
	Notes []string `json:"notes,omitempty"`
}

// Machine names the physical or virtual device.
type Machine struct {
	// Vendor is the maker, e.g. "LENOVO" or "samsung".
	Vendor string `json:"vendor,omitempty"`
	// Model is the product name, e.g. "21K5CTO1WW" or "SM-S928B".
	Model string `json:"model,omitempty"`
	// Name is a marketing or device name when the OS reports one
	// (ro.product.device on Android, DMI product_version on PCs).
	Name string `json:"name,omitempty"`
}

// CPU describes the processor as the agent sees it.
type CPU struct {
	// Vendor is the CPU vendor: "AuthenticAMD", "GenuineIntel", "ARM",
	// "Qualcomm", "Apple", …
	Vendor string `json:"vendor,omitempty"`
	// Model is the model name ("AMD Ryzen 7 7840U w/ Radeon 780M Graphics").
	// Arm cores have no model name in /proc/cpuinfo; then it lists the core
	// types in cluster order, biggest first when capacities or clocks are
	// known ("1x Cortex-X4 + 5x Cortex-A720 + 2x Cortex-A520").
	Model string `json:"model"`
	// LogicalCores is the number of CPUs the OS schedules on (hardware threads).
	LogicalCores int `json:"logical_cores"`
	// PhysicalCores is the number of distinct cores (SMT siblings counted once).
	PhysicalCores int `json:"physical_cores"`
	// AllowedCPUs is Cpus_allowed_list of the agent process: the CPUs its
	// cpuset and affinity let it use, e.g. "0-7".
	AllowedCPUs string `json:"cpus_allowed_list,omitempty"`
	// Clusters groups the cores of one type and clock (see Cluster), the
	// fastest first.
	Clusters []Cluster `json:"clusters"`
	// Cores describes each logical CPU, by id.
	Cores []Core `json:"cores"`
	// Features lists the ISA features relevant to the kernels, sorted, with
	// these names: x86 "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq",
	// "avx512bw", "avx512vl", "avx512vnni", "avx512bf16", "avxvnni"; arm64
	// "neon", "dotprod", "i8mm", "fp16", "bf16", "sve", "sve2".
	Features []string `json:"features"`
	// FeaturesSource says where Features came from: "x/sys/cpu" (what the
	// running process may use, including OS support) or "/proc/cpuinfo".
	FeaturesSource string `json:"features_source"`
	// Boost is the state of /sys/devices/system/cpu/cpufreq/boost when
	// present ("1" enabled, "0" disabled).
	Boost string `json:"boost,omitempty"`
}

// Cluster is a set of logical CPUs of the same core type with the same
// maximum frequency and capacity; on phones it is a big.LITTLE cluster (or a
// frequency domain within one), on a homogeneous PC all CPUs form one.
type Cluster struct {
	// CPUs is the CPU list in kernel list format, e.g. "2-4".
	CPUs string `json:"cpus"`
	// Count is the number of logical CPUs.
	Count int `json:"count"`
	// Uarch is the microarchitecture when known, e.g. "Cortex-A720".
	Uarch string `json:"uarch,omitempty"`
	// Part is "<implementer>:<part>" from /proc/cpuinfo on Arm, e.g.
	// "0x41:0xd81".
	Part string `json:"part,omitempty"`
	// MaxFreqKHz is cpuinfo_max_freq, the hardware maximum, in kHz.
	MaxFreqKHz int64 `json:"max_freq_khz,omitempty"`
	// MinFreqKHz is cpuinfo_min_freq in kHz.
	MinFreqKHz int64 `json:"min_freq_khz,omitempty"`
	// Capacity is the scheduler's cpu_capacity (1024 = the biggest core).
	Capacity int `json:"capacity,omitempty"`
	// Governor is the cpufreq governor, e.g. "schedutil".
	Governor string `json:"governor,omitempty"`
	// Driver is the cpufreq driver, e.g. "amd-pstate-epp" or "qcom-cpufreq-hw".
	Driver string `json:"driver,omitempty"`
	// EnergyPreference is energy_performance_preference (amd-pstate,
	// intel_pstate), e.g. "balance_performance".
	EnergyPreference string `json:"energy_performance_preference,omitempty"`
	// Policies names the cpufreq policies the CPUs belong to, e.g. "policy2".
	Policies []string `json:"policies,omitempty"`
}

// Core describes one logical CPU.
type Core struct {
	// ID is the logical CPU number.
	ID int `json:"id"`
	// Cluster is the index of the core's cluster in CPU.Clusters.
	Cluster int `json:"cluster"`
	// CoreID is the physical core id (topology/core_id); SMT siblings share it.
	CoreID int `json:"core_id"`
	// Package is the physical package (socket) id.
	Package int `json:"package"`
	// Implementer is the Arm "CPU implementer", e.g. "0x41".
	Implementer string `json:"implementer,omitempty"`
	// Part is the Arm "CPU part", e.g. "0xd82".
	Part string `json:"part,omitempty"`
	// Uarch is the microarchitecture named from Implementer and Part.
	Uarch string `json:"uarch,omitempty"`
	// Capacity is cpu_capacity, when the kernel exposes it.
	Capacity int `json:"capacity,omitempty"`
	// MaxFreqKHz is cpuinfo_max_freq in kHz.
	MaxFreqKHz int64 `json:"max_freq_khz,omitempty"`
	// MinFreqKHz is cpuinfo_min_freq in kHz.
	MinFreqKHz int64 `json:"min_freq_khz,omitempty"`
	// CurFreqKHz is scaling_cur_freq at collection time, in kHz.
	CurFreqKHz int64 `json:"cur_freq_khz,omitempty"`
	// Governor is the cpufreq governor.
	Governor string `json:"governor,omitempty"`
	// Policy is the cpufreq policy directory name, e.g. "policy0".
	Policy string `json:"policy,omitempty"`
}

// SoC identifies a system-on-chip.
type SoC struct {
	// Model is the part number, e.g. "SM8650".
	Model string `json:"model,omitempty"`
	// Manufacturer is the maker as reported, e.g. "QTI".
	Manufacturer string `json:"manufacturer,omitempty"`
	// Name is the marketing name when known, e.g. "Snapdragon 8 Gen 3".
	Name string `json:"name,omitempty"`
	// Codename is the platform codename, e.g. "pineapple".
	Codename string `json:"codename,omitempty"`
	// Family is the socinfo family, e.g. "Snapdragon".
	Family string `json:"family,omitempty"`
	// SocID is the socinfo numeric id as reported.
	SocID string `json:"soc_id,omitempty"`
	// Source says which probe identified the model, e.g.
	// "getprop ro.soc.model", "/sys/devices/soc0/machine".
	Source string `json:"source"`
}

// Memory describes main memory.
type Memory struct {
	// TotalBytes is the memory the OS manages (MemTotal), in bytes.
	TotalBytes uint64 `json:"total_bytes"`
	// AvailableBytes is the memory available for new work at collection
	// time (MemAvailable), in bytes.
	AvailableBytes uint64 `json:"available_bytes,omitempty"`
	// Bucket is TotalBytes rounded up the size ladder, e.g. "12g".
	Bucket string `json:"bucket"`
}

// Sensor is one temperature reading.
type Sensor struct {
	// Name is the sensor's type or label, e.g. "cpu-1-0-usr", "Tctl".
	Name string `json:"name"`
	// Source is where it was read: "thermal_zone3", "hwmon:k10temp".
	Source string `json:"source"`
	// TempC is the temperature in degrees Celsius.
	TempC float64 `json:"temp_c"`
}

// Power describes the power supply state.
type Power struct {
	// State is "ac" when a mains or USB supply is online, "battery" when a
	// battery discharges with no supply online, otherwise "unknown".
	State string `json:"state"`
	// Supplies lists the power supplies found.
	Supplies []PowerSupply `json:"supplies,omitempty"`
	// Source is "sysfs" (/sys/class/power_supply) or "dumpsys battery";
	// empty when nothing was found.
	Source string `json:"source,omitempty"`
}

// PowerSupply is one entry of /sys/class/power_supply (or the equivalent
// from dumpsys).
type PowerSupply struct {
	// Name is the supply's directory name, e.g. "BAT0", "usb", "ADP1".
	Name string `json:"name"`
	// Type is "Mains", "Battery", "USB", …
	Type string `json:"type,omitempty"`
	// Online is set for external supplies: whether it is connected.
	Online *bool `json:"online,omitempty"`
	// Status is the battery status: "Charging", "Discharging", "Full", …
	Status string `json:"status,omitempty"`
	// CapacityPercent is the battery charge in percent.
	CapacityPercent *int `json:"capacity_percent,omitempty"`
	// TempC is the battery temperature, when reported.
	TempC *float64 `json:"temp_c,omitempty"`
}

// Fingerprint identifies a hardware configuration: Canonical lists the
// identifying facts, one "key=value" per line in a fixed order, and Hash is
// the hex SHA-256 of Canonical. Two devices with the same hash have the same
// platform, CPU or SoC model, core layout with clocks, features and memory
// size bucket.
type Fingerprint struct {
	// Hash is the hex SHA-256 of Canonical.
	Hash string `json:"hash"`
	// Canonical is the text that was hashed.
	Canonical string `json:"canonical"`
}
