package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// fixture is a recorded device: a root file system and command outputs.
type fixture struct {
	root fstest.MapFS
	cmds map[string][]byte // "getprop", "dumpsys battery"
}

// loadFixture reads testdata/profile/<name>.txtar: a free-text header, then
// files each introduced by a line "-- path --". Paths under root/ form the
// file system seen from "/"; cmd/<command line> is that command's output.
func loadFixture(t *testing.T, name string) fixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "profile", name+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	fx := fixture{root: fstest.MapFS{}, cmds: map[string][]byte{}}
	marker := regexp.MustCompile(`^-- (.+) --$`)
	var cur string
	var buf bytes.Buffer
	flush := func() {
		switch {
		case cur == "":
		case strings.HasPrefix(cur, "root/"):
			fx.root[strings.TrimPrefix(cur, "root/")] = &fstest.MapFile{Data: bytes.Clone(buf.Bytes()), Mode: 0o444}
		case strings.HasPrefix(cur, "cmd/"):
			fx.cmds[strings.TrimPrefix(cur, "cmd/")] = bytes.Clone(buf.Bytes())
		default:
			t.Fatalf("%s: file %q is neither under root/ nor cmd/", name, cur)
		}
		buf.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if m := marker.FindStringSubmatch(strings.TrimRight(line, "\n")); m != nil {
			flush()
			cur = m[1]
			continue
		}
		if cur != "" {
			buf.WriteString(line)
		}
	}
	flush()
	return fx
}

// env returns an Env that reads the fixture; features come from its
// /proc/cpuinfo and the kernel variant is predicted from them.
func (fx fixture) env(goos, goarch string) hw.Env {
	return hw.Env{
		FS: fx.root,
		Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
			line := strings.Join(append([]string{name}, args...), " ")
			out, ok := fx.cmds[line]
			if !ok {
				return nil, fmt.Errorf("run %s: %w", line, fs.ErrNotExist)
			}
			return out, nil
		},
		GOOS:   goos,
		GOARCH: goarch,
		Now:    func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) },
	}
}

// profileJSON runs `device-agent profile --json` against env and decodes it.
func profileJSON(t *testing.T, env hw.Env) hw.Profile {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := profileCommand(context.Background(), []string{"--json"}, IO{Stdout: &out, Stderr: &errOut}, env); err != nil {
		t.Fatalf("profile --json: %v (stderr %q)", err, errOut.String())
	}
	var p hw.Profile
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode profile JSON: %v", err)
	}
	return p
}

type wantCluster struct {
	cpus   string
	count  int
	uarch  string
	maxKHz int64
}

func checkClusters(t *testing.T, got []hw.Cluster, want []wantCluster) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("clusters = %+v, want %d clusters", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.CPUs != w.cpus || g.Count != w.count || g.Uarch != w.uarch || g.MaxFreqKHz != w.maxKHz {
			t.Errorf("cluster %d = {cpus %s count %d uarch %q max %d}, want {cpus %s count %d uarch %q max %d}",
				i, g.CPUs, g.Count, g.Uarch, g.MaxFreqKHz, w.cpus, w.count, w.uarch, w.maxKHz)
		}
	}
}

func TestProfileAndroidSnapdragon(t *testing.T) {
	fx := loadFixture(t, "android-sm8650")
	p := profileJSON(t, fx.env("android", "arm64"))

	if p.OS != "android" || p.Arch != "arm64" || p.Platform != "Android 14" {
		t.Errorf("os/arch/platform = %s/%s/%q, want android/arm64/\"Android 14\"", p.OS, p.Arch, p.Platform)
	}
	if p.SoC == nil {
		t.Fatal("no SoC identified")
	}
	wantSoC := hw.SoC{Model: "SM8650", Manufacturer: "QTI", Name: "Snapdragon 8 Gen 3", Codename: "pineapple",
		Family: "Snapdragon", SocID: "557", Source: "getprop ro.soc.model"}
	if *p.SoC != wantSoC {
		t.Errorf("soc = %+v, want %+v", *p.SoC, wantSoC)
	}
	checkClusters(t, p.CPU.Clusters, []wantCluster{
		{"7", 1, "Cortex-X4", 3302400},
		{"2-4", 3, "Cortex-A720", 3148800},
		{"5-6", 2, "Cortex-A720", 2956800},
		{"0-1", 2, "Cortex-A520", 2265600},
	})
	if got := p.CPU.Clusters[0]; got.Part != "0x41:0xd82" || got.Capacity != 1024 || got.Governor != "walt" ||
		got.Driver != "qcom-cpufreq-hw" || !slices.Equal(got.Policies, []string{"policy7"}) {
		t.Errorf("prime cluster = %+v", got)
	}
	if p.CPU.Model != "1x Cortex-X4 + 5x Cortex-A720 + 2x Cortex-A520" || p.CPU.Vendor != "ARM" {
		t.Errorf("cpu model/vendor = %q/%q", p.CPU.Model, p.CPU.Vendor)
	}
	if p.CPU.LogicalCores != 8 || p.CPU.PhysicalCores != 8 || p.CPU.AllowedCPUs != "0-7" {
		t.Errorf("cores = %d logical, %d physical, allowed %q; want 8, 8, 0-7",
			p.CPU.LogicalCores, p.CPU.PhysicalCores, p.CPU.AllowedCPUs)
	}
	wantParts := []string{"0xd80", "0xd80", "0xd81", "0xd81", "0xd81", "0xd81", "0xd81", "0xd82"}
	for i, c := range p.CPU.Cores {
		if c.ID != i || c.Part != wantParts[i] {
			t.Errorf("core %d: id %d part %q, want part %s", i, c.ID, c.Part, wantParts[i])
		}
	}
	if c := p.CPU.Cores[7]; c.Cluster != 0 || c.CurFreqKHz != 2860800 || c.Policy != "policy7" {
		t.Errorf("core 7 = %+v, want cluster 0, cur 2860800 kHz, policy7", c)
	}
	if want := []string{"bf16", "dotprod", "fp16", "i8mm", "neon"}; !slices.Equal(p.CPU.Features, want) ||
		p.CPU.FeaturesSource != "/proc/cpuinfo" {
		t.Errorf("features = %v from %s, want %v from /proc/cpuinfo", p.CPU.Features, p.CPU.FeaturesSource, want)
	}
	if p.ISALevel != "neon-i8mm" || p.KernelVariant != "neon-i8mm" {
		t.Errorf("isa level/kernel variant = %s/%s, want neon-i8mm", p.ISALevel, p.KernelVariant)
	}
	if p.Memory.TotalBytes != 11257412*1024 || p.Memory.Bucket != "12g" {
		t.Errorf("memory = %d bytes bucket %s, want %d, 12g", p.Memory.TotalBytes, p.Memory.Bucket, 11257412*1024)
	}
	if p.Class != "android-sm8650-12g" {
		t.Errorf("class = %q, want android-sm8650-12g", p.Class)
	}
	if p.Machine == nil || p.Machine.Model != "SM-S928B" || p.Machine.Vendor != "samsung" {
		t.Errorf("machine = %+v", p.Machine)
	}
	if len(p.Thermal) != 6 || p.Thermal[4].Name != "cpu-1-7-0" || p.Thermal[4].TempC != 44.1 {
		t.Errorf("thermal = %+v, want 6 zones with cpu-1-7-0 at 44.1", p.Thermal)
	}
	if c, ok := hw.CPUTempC(p.Thermal); !ok || c != 44.1 {
		t.Errorf("CPUTempC = %v, %v; want 44.1", c, ok)
	}
	if !slices.Contains(p.Notes, "thermal: 1 thermal zones unreadable") {
		t.Errorf("notes = %q, want the unreadable zone noted", p.Notes)
	}
	if p.Power.State != hw.PowerAC || p.Power.Source != "sysfs" || len(p.Power.Supplies) != 2 {
		t.Fatalf("power = %+v, want ac from sysfs with 2 supplies", p.Power)
	}
	if b := p.Power.Supplies[0]; b.Name != "battery" || *b.CapacityPercent != 82 || *b.TempC != 31.2 {
		t.Errorf("battery = %+v", b)
	}
	if p.KernelVersion != "6.1.75-android14-11-g8a3e7f1d2c4b" || !strings.Contains(p.Fingerprint.Canonical, "1x0x41:0xd82@3302400khz") {
		t.Errorf("kernel %q, fingerprint %q", p.KernelVersion, p.Fingerprint.Canonical)
	}
}

func TestProfileAndroidFallbacks(t *testing.T) {
	t.Run("no getprop: socinfo names the SoC", func(t *testing.T) {
		fx := loadFixture(t, "android-sm8650")
		env := fx.env("android", "arm64")
		env.Run = nil
		p := profileJSON(t, env)
		if p.SoC == nil || p.SoC.Model != "SM8650" || p.SoC.Source != "/sys/devices/soc0/machine" ||
			p.SoC.Name != "Snapdragon 8 Gen 3" || p.SoC.Codename != "" || p.SoC.Manufacturer != "Qualcomm" {
			t.Errorf("soc = %+v, want SM8650 from soc0", p.SoC)
		}
		if p.Class != "android-sm8650-12g" {
			t.Errorf("class = %q", p.Class)
		}
	})
	t.Run("codename only", func(t *testing.T) {
		fx := loadFixture(t, "android-sm8650")
		for name := range fx.root {
			if strings.HasPrefix(name, "sys/devices/soc0/") {
				delete(fx.root, name)
			}
		}
		fx.cmds["getprop"] = []byte("[ro.board.platform]: [pineapple]\n[ro.build.version.release]: [14]\n")
		p := profileJSON(t, fx.env("android", "arm64"))
		if p.SoC == nil || p.SoC.Model != "SM8650" || p.SoC.Source != "getprop ro.board.platform" || p.SoC.Name != "Snapdragon 8 Gen 3" {
			t.Errorf("soc = %+v, want SM8650 from the codename table", p.SoC)
		}
	})
	t.Run("device tree only, linux binary detects android by getprop file", func(t *testing.T) {
		fx := loadFixture(t, "android-sm8650")
		for name := range fx.root {
			if strings.HasPrefix(name, "sys/devices/soc0/") || strings.HasPrefix(name, "sys/class/power_supply/") {
				delete(fx.root, name)
			}
		}
		fx.root["proc/device-tree/compatible"] = &fstest.MapFile{Data: []byte("qcom,pineapple-mtp\x00qcom,pineapple\x00qcom,sm8650\x00")}
		fx.root["system/bin/getprop"] = &fstest.MapFile{Mode: 0o755}
		delete(fx.cmds, "getprop")
		p := profileJSON(t, fx.env("linux", "arm64"))
		if p.OS != "android" {
			t.Errorf("os = %q, want android", p.OS)
		}
		if p.SoC == nil || p.SoC.Model != "SM8650" || p.SoC.Source != "/proc/device-tree/compatible" || p.SoC.Manufacturer != "qcom" {
			t.Errorf("soc = %+v, want SM8650 from the device tree", p.SoC)
		}
		// No power_supply in sysfs: dumpsys battery answers.
		if p.Power.Source != "dumpsys battery" || p.Power.State != hw.PowerAC {
			t.Fatalf("power = %+v, want ac from dumpsys battery", p.Power)
		}
		last := p.Power.Supplies[len(p.Power.Supplies)-1]
		if last.Status != "Charging" || *last.CapacityPercent != 82 || *last.TempC != 31.2 {
			t.Errorf("battery from dumpsys = %+v", last)
		}
	})
}

// fakeHost stands for gopsutil's hwmon reading.
type fakeHost struct{ temps []hw.Sensor }

func (fakeHost) Info(context.Context) (hw.HostInfo, error) {
	return hw.HostInfo{}, fmt.Errorf("fake host: no info")
}
func (h fakeHost) Temperatures(context.Context) ([]hw.Sensor, error) { return h.temps, nil }

func TestProfileRyzenLaptop(t *testing.T) {
	fx := loadFixture(t, "ryzen-7840u")
	env := fx.env("linux", "amd64")
	env.Host = fakeHost{temps: []hw.Sensor{
		{Name: "k10temp_tctl", Source: "gopsutil", TempC: 52.125},
		{Name: "acpitz", Source: "gopsutil", TempC: 46.85}, // duplicate of thermal_zone0
	}}
	p := profileJSON(t, env)

	if p.OS != "linux" || p.Platform != "Ubuntu 24.04.1 LTS" || p.Hostname != "fw13" {
		t.Errorf("os/platform/hostname = %s/%q/%q", p.OS, p.Platform, p.Hostname)
	}
	if p.SoC != nil {
		t.Errorf("soc = %+v, want none on a PC", p.SoC)
	}
	if p.CPU.Model != "AMD Ryzen 7 7840U w/ Radeon 780M Graphics" || p.CPU.Vendor != "AuthenticAMD" {
		t.Errorf("cpu = %q (%q)", p.CPU.Model, p.CPU.Vendor)
	}
	if p.CPU.LogicalCores != 16 || p.CPU.PhysicalCores != 8 || p.CPU.AllowedCPUs != "0-15" {
		t.Errorf("cores = %d logical, %d physical, allowed %q; want 16, 8, 0-15",
			p.CPU.LogicalCores, p.CPU.PhysicalCores, p.CPU.AllowedCPUs)
	}
	checkClusters(t, p.CPU.Clusters, []wantCluster{{"0-15", 16, "", 5132000}})
	if c := p.CPU.Clusters[0]; c.Driver != "amd-pstate-epp" || c.Governor != "powersave" ||
		c.EnergyPreference != "balance_performance" || len(c.Policies) != 16 {
		t.Errorf("cluster = %+v", c)
	}
	if c := p.CPU.Cores[13]; c.CoreID != 5 || c.CurFreqKHz != 1400000 {
		t.Errorf("core 13 = %+v, want core_id 5 (sibling of cpu5), cur 1400000", c)
	}
	wantFeat := []string{"avx", "avx2", "avx512bf16", "avx512bw", "avx512dq", "avx512f", "avx512vl", "avx512vnni", "f16c", "fma"}
	if !slices.Equal(p.CPU.Features, wantFeat) {
		t.Errorf("features = %v, want %v (Zen 4 has no VEX avx_vnni)", p.CPU.Features, wantFeat)
	}
	if p.ISALevel != "avx512vnni" {
		t.Errorf("isa level = %q, want avx512vnni", p.ISALevel)
	}
	if p.Memory.Bucket != "16g" || p.Class != "x86-64-amd-ryzen-7-7840u-16g" {
		t.Errorf("bucket %q class %q, want 16g and x86-64-amd-ryzen-7-7840u-16g", p.Memory.Bucket, p.Class)
	}
	if p.Machine == nil || p.Machine.Vendor != "Framework" {
		t.Errorf("machine = %+v", p.Machine)
	}
	wantTemps := []hw.Sensor{{Name: "acpitz", Source: "thermal_zone0", TempC: 46.85}, {Name: "k10temp_tctl", Source: "hwmon", TempC: 52.125}}
	if !slices.Equal(p.Thermal, wantTemps) {
		t.Errorf("thermal = %+v, want %+v", p.Thermal, wantTemps)
	}
	if p.Power.State != hw.PowerBattery {
		t.Errorf("power = %+v, want battery", p.Power)
	}
}

func TestProfileFingerprintStableAndSensitive(t *testing.T) {
	fx := loadFixture(t, "ryzen-7840u")
	a := profileJSON(t, fx.env("linux", "amd64"))
	// Volatile facts change: clocks now, temperature, battery.
	fx.root["sys/devices/system/cpu/cpufreq/policy3/scaling_cur_freq"] = &fstest.MapFile{Data: []byte("4200000\n")}
	fx.root["sys/class/thermal/thermal_zone0/temp"] = &fstest.MapFile{Data: []byte("61000\n")}
	fx.root["sys/class/power_supply/BAT1/capacity"] = &fstest.MapFile{Data: []byte("40\n")}
	b := profileJSON(t, fx.env("linux", "amd64"))
	if a.Fingerprint != b.Fingerprint || a.Class != b.Class {
		t.Errorf("fingerprint changed with volatile facts:\n%s\nvs\n%s", a.Fingerprint.Canonical, b.Fingerprint.Canonical)
	}
	// More memory: new fingerprint and class.
	fx.root["proc/meminfo"] = &fstest.MapFile{Data: []byte("MemTotal:       31999000 kB\n")}
	c := profileJSON(t, fx.env("linux", "amd64"))
	if c.Fingerprint.Hash == a.Fingerprint.Hash || c.Class != "x86-64-amd-ryzen-7-7840u-32g" {
		t.Errorf("with 32 GB: hash %s (was %s), class %q", c.Fingerprint.Hash, a.Fingerprint.Hash, c.Class)
	}
}

func TestProfileText(t *testing.T) {
	fx := loadFixture(t, "android-sm8650")
	var out bytes.Buffer
	if err := profileCommand(context.Background(), nil, IO{Stdout: &out, Stderr: &out}, fx.env("android", "arm64")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SM8650 (Snapdragon 8 Gen 3, pineapple)", "cpus 7: 1 x Cortex-X4, max 3302 MHz", "class        android-sm8650-12g"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}
	if err := profileCommand(context.Background(), []string{"extra"}, IO{Stdout: &out, Stderr: &out}, fx.env("android", "arm64")); err != errUsage {
		t.Errorf("extra argument: err = %v, want errUsage", err)
	}
}
