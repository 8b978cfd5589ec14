package hw

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCollectLive(t *testing.T) {
	p, err := Collect(context.Background(), LiveEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(p.CPU.Model) == "" {
		t.Errorf("live profile names no CPU model: %+v", p.CPU)
	}
	if p.CPU.LogicalCores < 1 || len(p.CPU.Cores) < 1 || len(p.CPU.Clusters) < 1 {
		t.Errorf("live profile: %d logical cores, %d core records, %d clusters; want ≥1 each",
			p.CPU.LogicalCores, len(p.CPU.Cores), len(p.CPU.Clusters))
	}
	// NumCPU counts the CPUs in the affinity mask: never more than are online.
	if runtime.NumCPU() > p.CPU.LogicalCores {
		t.Errorf("logical cores %d < runtime.NumCPU %d", p.CPU.LogicalCores, runtime.NumCPU())
	}
	if p.Memory.TotalBytes == 0 {
		t.Error("live profile: memory total is 0")
	}
	if !classRE.MatchString(p.Class) {
		t.Errorf("class %q is not a [a-z0-9-] token", p.Class)
	}
	if p.OS != runtime.GOOS && p.OS != "android" {
		t.Errorf("os = %q, want %q", p.OS, runtime.GOOS)
	}
	t.Logf("live: %s, %d cores, class %s, features %v, isa %s", p.CPU.Model, p.CPU.LogicalCores, p.Class, p.CPU.Features, p.ISALevel)
}

func TestLiveFeaturesAgreeWithCPUInfo(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("compares x/sys/cpu with /proc/cpuinfo on linux/amd64 and linux/arm64 only")
	}
	text, err := files{LiveEnv(nil).FS}.read("proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	fromFile := featuresFromWords(parseCPUInfo(text).featureWords())
	// x/sys/cpu may see fewer features (the OS must enable their state) but
	// never more than the kernel lists.
	for _, f := range processFeatures() {
		if !slices.Contains(fromFile, f) {
			t.Errorf("x/sys/cpu reports %q, /proc/cpuinfo does not (%v)", f, fromFile)
		}
	}
}

var classRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestMemoryBucket(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	for _, tt := range []struct {
		total uint64
		want  string
	}{
		{0, "0g"}, {1, "512m"}, {512 * mib, "512m"}, {512*mib + 1, "768m"}, {900 * mib, "1g"},
		{1100 * mib, "1536m"}, {1800 * mib, "2g"}, {3 * gib, "3g"}, {3*gib + 1, "4g"},
		{11257412 * 1024, "12g"}, {15654312 * 1024, "16g"}, {24684092 * 1024, "24g"},
		{31999000 * 1024, "32g"}, {40 * gib, "48g"}, {100 * gib, "128g"}, {1536 * gib, "1536g"},
	} {
		if got := MemoryBucket(tt.total); got != tt.want {
			t.Errorf("MemoryBucket(%d) = %q, want %q", tt.total, got, tt.want)
		}
	}
}

func TestModelSlug(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"AMD Ryzen 7 7840U w/ Radeon 780M Graphics", "amd-ryzen-7-7840u"},
		{"AMD Ryzen 9 7950X 16-Core Processor", "amd-ryzen-9-7950x"},
		{"AMD EPYC", "amd-epyc"},
		{"AMD EPYC 9654 96-Core Processor", "amd-epyc-9654"},
		{"Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "intel-xeon-e5-2680-v4"},
		{"11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "11th-gen-intel-core-i7-1185g7"},
		{"Intel(R) Core(TM) Ultra 7 155H", "intel-core-ultra-7-155h"},
		{"Apple M2", "apple-m2"},
		{"AMD Ryzen 5 PRO 4650U with Radeon Graphics", "amd-ryzen-5-pro-4650u"},
		{"  ", ""},
	} {
		if got := ModelSlug(tt.in); got != tt.want {
			t.Errorf("ModelSlug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Slug(strings.Repeat("abc-", 30), 40); len(got) > 40 || !classRE.MatchString(got) {
		t.Errorf("Slug cut = %q (%d bytes)", got, len(got))
	}
}

func TestClassShapes(t *testing.T) {
	const gib = 1 << 30
	for _, tt := range []struct {
		p    Profile
		want string
	}{
		{Profile{OS: "linux", Arch: "amd64", CPU: CPU{Model: "AMD EPYC"}, Memory: Memory{TotalBytes: 23 * gib}}, "x86-64-amd-epyc-24g"},
		{Profile{OS: "android", Arch: "arm64", SoC: &SoC{Model: "SM8650"}, Memory: Memory{TotalBytes: 11 * gib}}, "android-sm8650-12g"},
		{Profile{OS: "linux", Arch: "arm64", SoC: &SoC{Model: "RK3588"}, CPU: CPU{Model: "4x Cortex-A76 + 4x Cortex-A55"}, Memory: Memory{TotalBytes: 15 * gib}}, "arm64-rk3588-16g"},
		{Profile{OS: "android", Arch: "arm64", SoC: &SoC{Codename: "zuma", Name: "Google Tensor G3"}, Memory: Memory{TotalBytes: 11 * gib}}, "android-zuma-12g"},
		{Profile{OS: "darwin", Arch: "arm64", CPU: CPU{Model: "Apple M2"}, Memory: Memory{TotalBytes: 16 * gib}}, "arm64-apple-m2-16g"},
		{Profile{OS: "windows", Arch: "amd64", Memory: Memory{TotalBytes: 8 * gib}}, "x86-64-unknown-8g"},
		// 16-byte platform, 40-byte model, 6-byte bucket: the model is cut to fit 63 bytes.
		{Profile{OS: "linux", Arch: "abcdefghijklmnop", CPU: CPU{Model: strings.Repeat("X", 50)}, Memory: Memory{TotalBytes: 9000 * gib}},
			"abcdefghijklmnop-" + strings.Repeat("x", 39) + "-12288g"},
	} {
		got := Class(&tt.p)
		if got != tt.want {
			t.Errorf("Class(%s/%s) = %q, want %q", tt.p.OS, tt.p.Arch, got, tt.want)
		}
		if !classRE.MatchString(got) || len(got) > MaxClassLen {
			t.Errorf("class %q is not a single [a-z0-9-] token of at most %d bytes", got, MaxClassLen)
		}
	}
}

func TestVariantFor(t *testing.T) {
	for _, tt := range []struct {
		features []string
		want     string
	}{
		{[]string{"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni"}, VariantAVX512VNNI},
		{[]string{"avx2", "fma", "avx512f", "avx512bw", "avx512vl"}, VariantAVX512},
		{[]string{"avx2", "fma", "avx512f"}, VariantAVX2}, // AVX-512F alone (Knights Landing) is not enough
		{[]string{"avx2", "fma", "avxvnni"}, VariantAVX2},
		{[]string{"avx2"}, VariantGo},
		{[]string{"neon", "dotprod", "i8mm", "fp16"}, VariantNEONI8MM},
		{[]string{"neon", "dotprod"}, VariantNEONDotProd},
		{[]string{"neon", "i8mm"}, VariantNEON},
		{[]string{"neon"}, VariantNEON},
		{nil, VariantGo},
	} {
		if got := VariantFor(tt.features); got != tt.want {
			t.Errorf("VariantFor(%v) = %q, want %q", tt.features, got, tt.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
	}{
		{"0-3,6,8-9", []int{0, 1, 2, 3, 6, 8, 9}}, {"0 1 2", []int{0, 1, 2}}, {"7\n", []int{7}}, {"", nil},
		{"3,1-2,1", []int{1, 2, 3}},
	} {
		got, err := parseCPUList(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if tt.want != nil {
			if back, _ := parseCPUList(formatCPUList(got)); !slices.Equal(back, tt.want) {
				t.Errorf("formatCPUList round trip of %v = %v", got, back)
			}
		}
	}
	if got := formatCPUList([]int{0, 1, 2, 3, 6, 8, 9}); got != "0-3,6,8-9" {
		t.Errorf("formatCPUList = %q", got)
	}
	for _, bad := range []string{"a", "1-", "3-1", "0-x"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q): no error", bad)
		}
	}
}

func TestCPUInfoHardwareLineAndOldLayout(t *testing.T) {
	// An older vendor arm64 kernel: a global Hardware line after the blocks.
	// Without capacities or clocks the clusters stay in CPU order.
	text := "processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\nCPU part\t: 0xd05\n\n" +
		"processor\t: 1\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\nCPU part\t: 0xd0d\n\n" +
		"Hardware\t: Qualcomm Technologies, Inc SM8250\n"
	fsys := fstest.MapFS{"proc/cpuinfo": {Data: []byte(text)}}
	p, err := Collect(context.Background(), Env{FS: fsys, GOOS: "linux", GOARCH: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if p.SoC == nil || p.SoC.Model != "SM8250" || p.SoC.Name != "Snapdragon 865" || p.SoC.Source != "/proc/cpuinfo Hardware" {
		t.Errorf("soc = %+v, want SM8250 from the Hardware line", p.SoC)
	}
	if p.CPU.LogicalCores != 2 || p.CPU.Model != "1x Cortex-A55 + 1x Cortex-A77" {
		t.Errorf("cpu = %d cores, model %q", p.CPU.LogicalCores, p.CPU.Model)
	}
	if !slices.Equal(p.CPU.Features, []string{"dotprod", "neon"}) || p.ISALevel != VariantNEONDotProd {
		t.Errorf("features %v, isa %s", p.CPU.Features, p.ISALevel)
	}
	if p.Class != "arm64-sm8250-0g" || !slices.Contains(p.Notes, "memory: total unknown") {
		t.Errorf("class %q notes %q", p.Class, p.Notes)
	}
}

func TestCollectNoCPU(t *testing.T) {
	_, err := Collect(context.Background(), Env{FS: fstest.MapFS{}, GOOS: "linux", GOARCH: "amd64"})
	if !errors.Is(err, ErrNoCPU) {
		t.Errorf("empty root: err = %v, want ErrNoCPU", err)
	}
}

// infoHost is a Host for a platform without /proc (macOS, Windows).
type infoHost struct{}

func (infoHost) Info(context.Context) (HostInfo, error) {
	return HostInfo{Hostname: "mbp", Platform: "darwin 15.1", KernelVersion: "24.1.0", CPUModel: "Apple M2",
		LogicalCores: 8, PhysicalCores: 8, MaxMHz: 3504, MemTotal: 16 << 30, MemAvailable: 9 << 30}, nil
}
func (infoHost) Temperatures(context.Context) ([]Sensor, error) {
	return []Sensor{{Name: "PMU tdie1", Source: "gopsutil", TempC: 48.5}, {Name: "broken", TempC: 0}}, nil
}

func TestCollectFromHostOnly(t *testing.T) {
	p, err := Collect(context.Background(), Env{Host: infoHost{}, GOOS: "darwin", GOARCH: "arm64",
		ProcessFeatures: func() []string { return []string{"dotprod", "fp16", "neon"} }})
	if err != nil {
		t.Fatal(err)
	}
	if p.CPU.Model != "Apple M2" || p.CPU.LogicalCores != 8 || len(p.CPU.Cores) != 8 || p.CPU.Clusters[0].MaxFreqKHz != 3504000 {
		t.Errorf("cpu = %+v", p.CPU)
	}
	if p.Class != "arm64-apple-m2-16g" || p.ISALevel != VariantNEONDotProd || p.CPU.FeaturesSource != "x/sys/cpu" {
		t.Errorf("class %q isa %q source %q", p.Class, p.ISALevel, p.CPU.FeaturesSource)
	}
	want := []Sensor{{Name: "PMU tdie1", Source: "gopsutil", TempC: 48.5}}
	if !slices.Equal(p.Thermal, want) {
		t.Errorf("thermal = %+v, want %+v", p.Thermal, want)
	}
	if p.Power.State != PowerUnknown || p.Power.Source != "" {
		t.Errorf("power = %+v, want unknown with no source", p.Power)
	}
	if p.Hostname != "mbp" || p.Platform != "darwin 15.1" {
		t.Errorf("host = %q %q", p.Hostname, p.Platform)
	}
}

func TestPowerState(t *testing.T) {
	on, off := true, false
	for _, tt := range []struct {
		name     string
		supplies []PowerSupply
		want     string
	}{
		{"usb online", []PowerSupply{{Type: "Battery", Status: "Charging"}, {Type: "USB", Online: &on}}, PowerAC},
		{"mains offline, discharging", []PowerSupply{{Type: "Mains", Online: &off}, {Type: "Battery", Status: "Discharging"}}, PowerBattery},
		{"mains offline, status unknown", []PowerSupply{{Type: "Mains", Online: &off}, {Type: "Battery", Status: "Unknown"}}, PowerBattery},
		{"battery alone, full", []PowerSupply{{Type: "Battery", Status: "Full"}}, PowerUnknown},
		{"ups without battery", []PowerSupply{{Type: "UPS"}}, PowerUnknown},
	} {
		if got := powerState(tt.supplies); got != tt.want {
			t.Errorf("%s: powerState = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseGetprop(t *testing.T) {
	out := "[ro.soc.model]: [SM8650]\n[empty]: []\n[with ]: [brackets] ]\ngarbage line\n[ro.x]: [a]\n"
	got := parseGetprop(out)
	if got["ro.soc.model"] != "SM8650" || got["empty"] != "" || got["ro.x"] != "a" {
		t.Errorf("parseGetprop = %v", got)
	}
	if _, ok := got["empty"]; !ok {
		t.Error("empty value dropped")
	}
}

func TestTakeSnapshot(t *testing.T) {
	fsys := fstest.MapFS{
		"sys/devices/system/cpu/online":                           {Data: []byte("0-1\n")},
		"sys/devices/system/cpu/cpufreq/policy0/related_cpus":     {Data: []byte("0 1\n")},
		"sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq": {Data: []byte("1800000\n")},
		"sys/class/thermal/thermal_zone0/type":                    {Data: []byte("battery\n")},
		"sys/class/thermal/thermal_zone0/temp":                    {Data: []byte("30000\n")},
		"sys/class/thermal/thermal_zone1/type":                    {Data: []byte("cpu-0-0\n")},
		"sys/class/thermal/thermal_zone1/temp":                    {Data: []byte("55500\n")},
		"sys/class/thermal/thermal_zone2/type":                    {Data: []byte("unused\n")},
		"sys/class/thermal/thermal_zone2/temp":                    {Data: []byte("0\n")},
	}
	s := TakeSnapshot(context.Background(), Env{FS: fsys, GOOS: "linux"})
	if len(s.Thermal) != 2 || s.CPUTempC == nil || *s.CPUTempC != 55.5 {
		t.Errorf("snapshot thermal = %+v cpu %v, want 2 sensors and cpu 55.5", s.Thermal, s.CPUTempC)
	}
	if want := []CoreFreq{{0, 1800000}, {1, 1800000}}; !slices.Equal(s.Freqs, want) {
		t.Errorf("freqs = %v, want %v", s.Freqs, want)
	}
	if c, ok := CPUTempC([]Sensor{{Name: "battery", TempC: 30}, {Name: "skin", TempC: 35}}); ok {
		t.Errorf("CPUTempC of battery and skin only = %v, want none", c)
	}
	if c, ok := CPUTempC([]Sensor{{Name: "acpitz", TempC: 40}, {Name: "battery", TempC: 45}}); !ok || c != 40 {
		t.Errorf("CPUTempC fallback = %v %v, want 40", c, ok)
	}
}
