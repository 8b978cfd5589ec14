package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
	"github.com/hilsearch/hilsearch/device-agent/internal/placement"
)

// TestProfileSoCFixtures profiles phones of every SoC family the table
// covers (testdata/profile/android-*.txtar) and checks the SoC, the class,
// the clusters, the cores thread placement would take for "auto", and what
// the Sampler reads from the same files.
func TestProfileSoCFixtures(t *testing.T) {
	for _, tt := range []struct {
		fixture  string
		soc      hw.SoC
		class    string
		model    string
		clusters []wantCluster
		auto     string  // placement.Auto's CPUs, kernel list format
		tripC    float64 // the Sampler's throttle point; 0 for none
	}{
		{"android-sm8650",
			hw.SoC{Model: "SM8650", Manufacturer: "QTI", Name: "Snapdragon 8 Gen 3", Codename: "pineapple", Family: "Snapdragon", SocID: "557", Source: "getprop ro.soc.model"},
			"android-sm8650-12g", "1x Cortex-X4 + 5x Cortex-A720 + 2x Cortex-A520",
			[]wantCluster{{"7", 1, "Cortex-X4", 3302400}, {"2-4", 3, "Cortex-A720", 3148800}, {"5-6", 2, "Cortex-A720", 2956800}, {"0-1", 2, "Cortex-A520", 2265600}},
			"2-7", 0},
		{"android-sm8750",
			hw.SoC{Model: "SM8750", Manufacturer: "QTI", Name: "Snapdragon 8 Elite", Codename: "sun", Family: "Snapdragon", SocID: "618", Source: "getprop ro.soc.model"},
			"android-sm8750-12g", "8x Oryon",
			[]wantCluster{{"6-7", 2, "Oryon", 4320000}, {"0-5", 6, "Oryon", 3532800}},
			"0-7", 95},
		{"android-sm8550",
			hw.SoC{Model: "SM8550", Manufacturer: "QTI", Name: "Snapdragon 8 Gen 2", Codename: "kalama", Family: "Snapdragon", SocID: "519", Source: "getprop ro.soc.model"},
			"android-sm8550-8g", "1x Cortex-X3 + 2x Cortex-A715 + 2x Cortex-A710 + 3x Cortex-A510",
			[]wantCluster{{"7", 1, "Cortex-X3", 3187200}, {"3-4", 2, "Cortex-A715", 2803200}, {"5-6", 2, "Cortex-A710", 2803200}, {"0-2", 3, "Cortex-A510", 2016000}},
			"3-7", 95},
		{"android-sm8450",
			hw.SoC{Model: "SM8450", Name: "Snapdragon 8 Gen 1", Codename: "taro", Source: "getprop ro.board.platform"},
			"android-sm8450-8g", "1x Cortex-X2 + 3x Cortex-A710 + 4x Cortex-A510",
			[]wantCluster{{"7", 1, "Cortex-X2", 2995200}, {"4-6", 3, "Cortex-A710", 2496000}, {"0-3", 4, "Cortex-A510", 1785600}},
			"4-7", 95},
		{"android-sm7550",
			hw.SoC{Model: "SM7550", Manufacturer: "QTI", Name: "Snapdragon 7 Gen 3", Codename: "crow", Family: "Snapdragon", SocID: "608", Source: "getprop ro.soc.model"},
			"android-sm7550-8g", "4x Cortex-A715 + 4x Cortex-A510",
			[]wantCluster{{"7", 1, "Cortex-A715", 2630400}, {"4-6", 3, "Cortex-A715", 2400000}, {"0-3", 4, "Cortex-A510", 1804800}},
			"4-7", 95},
		{"android-mt6991",
			hw.SoC{Model: "MT6991", Manufacturer: "Mediatek", Name: "Dimensity 9400", Codename: "mt6991", Source: "getprop ro.soc.model"},
			"android-mt6991-16g", "1x Cortex-X925 + 3x Cortex-X4 + 4x Cortex-A720",
			[]wantCluster{{"7", 1, "Cortex-X925", 3626000}, {"4-6", 3, "Cortex-X4", 3300000}, {"0-3", 4, "Cortex-A720", 2400000}},
			"0-7", 105},
		{"android-mt6989",
			hw.SoC{Model: "MT6989", Manufacturer: "Mediatek", Name: "Dimensity 9300", Codename: "mt6989", Source: "getprop ro.soc.model"},
			"android-mt6989-12g", "4x Cortex-X4 + 4x Cortex-A720",
			[]wantCluster{{"7", 1, "Cortex-X4", 3250000}, {"4-6", 3, "Cortex-X4", 2850000}, {"0-3", 4, "Cortex-A720", 2000000}},
			"0-7", 105},
		{"android-s5e9945",
			hw.SoC{Model: "s5e9945", Manufacturer: "Samsung", Name: "Exynos 2400", Codename: "s5e9945", Source: "getprop ro.soc.model"},
			"android-s5e9945-8g", "1x Cortex-X4 + 5x Cortex-A720 + 4x Cortex-A520",
			[]wantCluster{{"9", 1, "Cortex-X4", 3207000}, {"7-8", 2, "Cortex-A720", 2900000}, {"4-6", 3, "Cortex-A720", 2592000}, {"0-3", 4, "Cortex-A520", 1959000}},
			"4-9", 90},
		{"android-zuma",
			hw.SoC{Model: "Tensor G3", Manufacturer: "Google", Name: "Google Tensor G3", Codename: "zuma", Source: "getprop ro.soc.model"},
			"android-tensor-g3-8g", "1x Cortex-X3 + 4x Cortex-A715 + 4x Cortex-A510",
			[]wantCluster{{"8", 1, "Cortex-X3", 2915000}, {"4-7", 4, "Cortex-A715", 2367000}, {"0-3", 4, "Cortex-A510", 1704000}},
			"4-8", 90},
		{"android-zumapro",
			hw.SoC{Model: "Tensor G4", Manufacturer: "Google", Name: "Google Tensor G4", Codename: "zumapro", Source: "getprop ro.soc.model"},
			"android-tensor-g4-12g", "1x Cortex-X4 + 3x Cortex-A720 + 4x Cortex-A520",
			[]wantCluster{{"7", 1, "Cortex-X4", 3105000}, {"4-6", 3, "Cortex-A720", 2600000}, {"0-3", 4, "Cortex-A520", 1950000}},
			"4-7", 90},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			fx := loadFixture(t, tt.fixture)
			env := fx.env("android", "arm64")
			p := profileJSON(t, env)
			if p.SoC == nil || *p.SoC != tt.soc {
				t.Errorf("soc = %+v\nwant  %+v", p.SoC, tt.soc)
			}
			if p.Class != tt.class || p.CPU.Model != tt.model {
				t.Errorf("class %q model %q, want %q %q", p.Class, p.CPU.Model, tt.class, tt.model)
			}
			checkClusters(t, p.CPU.Clusters, tt.clusters)
			if p.OS != "android" || p.ISALevel != "neon-i8mm" || p.Power.State != hw.PowerAC {
				t.Errorf("os %s isa %s power %s", p.OS, p.ISALevel, p.Power.State)
			}

			c, err := placement.Auto(p.CPU)
			if err != nil || c.List() != tt.auto || c.Note != "" {
				t.Errorf("auto placement = %+v (%s), %v; want CPUs %s", c, c.List(), err, tt.auto)
			}
			// The fastest core comes first, whatever its CPU number.
			if prime, _ := hw.ParseCPUList(p.CPU.Clusters[0].CPUs); len(c.CPUs) == 0 || c.CPUs[0] != prime[0] {
				t.Errorf("auto placement starts at CPU %v, want the prime core %v", c.CPUs, prime)
			}

			s := hw.NewSampler(context.Background(), env)
			smp := s.Sample(context.Background())
			if len(smp.Clocks) != p.CPU.LogicalCores {
				t.Fatalf("sampler: %d clocks for %d cores", len(smp.Clocks), p.CPU.LogicalCores)
			}
			for _, clk := range smp.Clocks {
				// The SM8650 fixture predates scaling_max_freq: no ceiling there.
				wantCap := p.CPU.Cores[clk.CPU].MaxFreqKHz
				if tt.fixture == "android-sm8650" {
					wantCap = 0
				}
				if core := p.CPU.Cores[clk.CPU]; clk.MaxKHz != core.MaxFreqKHz || clk.CurKHz != core.CurFreqKHz || clk.CapKHz != wantCap {
					t.Errorf("sampler clock %+v, profile core %+v", clk, core)
				}
			}
			if tc, ok := s.ThrottlePointC(); tc != tt.tripC || ok != (tt.tripC != 0) {
				t.Errorf("throttle point %v %v, want %v", tc, ok, tt.tripC)
			}
			if b := smp.Battery; tt.fixture != "android-sm8650" && (b == nil || b.Plugged == nil || !*b.Plugged || b.CurrentMicroA == nil) {
				t.Errorf("battery = %+v", b)
			}
		})
	}
}

// TestSoCByCodename names SoCs from the platform codename alone (no
// ro.soc.model, no soc0), for the codenames the table knows.
func TestSoCByCodename(t *testing.T) {
	for codename, want := range map[string]hw.SoC{
		"gs101":      {Name: "Google Tensor", Codename: "gs101"},
		"gs201":      {Name: "Google Tensor G2", Codename: "gs201"},
		"zuma":       {Name: "Google Tensor G3", Codename: "zuma"},
		"zumapro":    {Name: "Google Tensor G4", Codename: "zumapro"},
		"laguna":     {Name: "Google Tensor G5", Codename: "laguna"},
		"mt6991":     {Model: "MT6991", Name: "Dimensity 9400", Codename: "mt6991"},
		"MT6897":     {Model: "MT6897", Name: "Dimensity 8300", Codename: "MT6897"},
		"s5e9925":    {Model: "S5E9925", Name: "Exynos 2200", Codename: "s5e9925"},
		"exynos2100": {Name: "Exynos 2100", Codename: "exynos2100"},
		"crow":       {Model: "SM7550", Name: "Snapdragon 7 Gen 3", Codename: "crow"},
		"ukee":       {Model: "SM7475", Name: "Snapdragon 7+ Gen 2", Codename: "ukee"},
		"sun":        {Model: "SM8750", Name: "Snapdragon 8 Elite", Codename: "sun"},
	} {
		fx := loadFixture(t, "android-sm8650")
		for name := range fx.root {
			if strings.HasPrefix(name, "sys/devices/soc0/") {
				delete(fx.root, name)
			}
		}
		fx.cmds["getprop"] = []byte("[ro.board.platform]: [" + codename + "]\n")
		p := profileJSON(t, fx.env("android", "arm64"))
		want.Source = "getprop ro.board.platform"
		if p.SoC == nil || *p.SoC != want {
			t.Errorf("codename %s: soc = %+v, want %+v", codename, p.SoC, want)
		}
		id := want.Model
		if id == "" {
			id = codename
		}
		if wantClass := "android-" + hw.Slug(id, 0) + "-12g"; p.Class != wantClass {
			t.Errorf("codename %s: class %s, want %s", codename, p.Class, wantClass)
		}
	}
}
