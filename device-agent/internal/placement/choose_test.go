package placement

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// cl describes one cluster for cpuOf.
type cl struct {
	cpus     string
	uarch    string
	capacity int
	maxKHz   int64
}

// cpuOf builds the hw.CPU a profile would hold: clusters in the given
// order, one core per CPU with core id = CPU id (no SMT) unless smt maps a
// CPU to its core id.
func cpuOf(t *testing.T, allowed string, smt map[int]int, clusters ...cl) hw.CPU {
	t.Helper()
	var c hw.CPU
	c.AllowedCPUs = allowed
	for i, k := range clusters {
		ids, err := hw.ParseCPUList(k.cpus)
		if err != nil {
			t.Fatal(err)
		}
		c.Clusters = append(c.Clusters, hw.Cluster{CPUs: k.cpus, Count: len(ids), Uarch: k.uarch, Capacity: k.capacity, MaxFreqKHz: k.maxKHz})
		for _, id := range ids {
			core := id
			if v, ok := smt[id]; ok {
				core = v
			}
			c.Cores = append(c.Cores, hw.Core{ID: id, Cluster: i, CoreID: core, Package: 0, Uarch: k.uarch, Capacity: k.capacity, MaxFreqKHz: k.maxKHz})
		}
	}
	return c
}

// sm8650 is the Snapdragon 8 Gen 3 layout of the agent's profile fixture.
func sm8650(t *testing.T, allowed string) hw.CPU {
	return cpuOf(t, allowed, nil,
		cl{"7", "Cortex-X4", 1024, 3302400},
		cl{"2-4", "Cortex-A720", 870, 3148800},
		cl{"5-6", "Cortex-A720", 830, 2956800},
		cl{"0-1", "Cortex-A520", 325, 2265600})
}

func TestAutoTakesPrimeAndPerformanceCores(t *testing.T) {
	for _, tt := range []struct {
		name string
		cpu  hw.CPU
		want []int
		note string
	}{
		{"snapdragon 8 gen 3", sm8650(t, "0-7"), []int{7, 2, 3, 4, 5, 6}, ""},
		{"cpuset without the prime core", sm8650(t, "0-4"), []int{2, 3, 4}, ""},
		{"cpuset of efficiency cores only", sm8650(t, "0-1"), []int{0, 1}, "only efficiency cores"},
		{"no cpuset recorded", sm8650(t, ""), []int{7, 2, 3, 4, 5, 6}, ""},
		// Clusters listed slowest first: the order comes from capacity.
		{"unsorted clusters", cpuOf(t, "", nil, cl{"0-3", "Cortex-A55", 250, 1800000}, cl{"4-7", "Cortex-A78", 1024, 2400000}), []int{4, 5, 6, 7}, ""},
		// Dimensity 9400: no little cores. The A720s count as performance
		// cores by their type, even at under half the prime core's capacity.
		{"all big cores", cpuOf(t, "", nil, cl{"7", "Cortex-X925", 1024, 3626000}, cl{"4-6", "Cortex-X4", 920, 3302000}, cl{"0-3", "Cortex-A720", 480, 2400000}),
			[]int{7, 4, 5, 6, 0, 1, 2, 3}, ""},
		// Snapdragon 8 Elite: two Oryon clusters, both performance.
		{"oryon", cpuOf(t, "", nil, cl{"6-7", "Oryon", 1024, 4320000}, cl{"0-5", "Oryon", 837, 3532800}), []int{6, 7, 0, 1, 2, 3, 4, 5}, ""},
		// Little cores by capacity alone (core type unknown).
		{"capacity only", cpuOf(t, "", nil, cl{"4-7", "", 1024, 2800000}, cl{"0-3", "", 400, 2000000}), []int{4, 5, 6, 7}, ""},
		// Neither type nor capacity: the clock decides (at most 60 %).
		{"clock only", cpuOf(t, "", nil, cl{"0-1", "", 0, 2400000}, cl{"2-5", "", 0, 1400000}), []int{0, 1}, ""},
		{"clock only, close clocks", cpuOf(t, "", nil, cl{"0-3", "", 0, 4700000}, cl{"4-7", "", 0, 3500000}), []int{0, 1, 2, 3, 4, 5, 6, 7}, ""},
		// Every cluster little: use them all.
		{"all little", cpuOf(t, "", nil, cl{"4-7", "Cortex-A55", 1024, 2000000}, cl{"0-3", "Cortex-A55", 900, 1800000}), []int{4, 5, 6, 7, 0, 1, 2, 3}, ""},
		// SMT: one thread per physical core (CPUs i and i+4 are siblings).
		{"smt", cpuOf(t, "0-7", map[int]int{4: 0, 5: 1, 6: 2, 7: 3}, cl{"0-7", "", 0, 5132000}), []int{0, 1, 2, 3}, ""},
		// This machine's kind: a VM with no clocks, capacities or types.
		{"vm", cpuOf(t, "0-1", nil, cl{"0-1", "", 0, 0}), []int{0, 1}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Auto(tt.cpu)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.CPUs, tt.want) || c.Threads != len(tt.want) || c.Rule != "auto" {
				t.Errorf("Auto = %+v, want CPUs %v", c, tt.want)
			}
			if (tt.note == "") != (c.Note == "") || !strings.Contains(c.Note, tt.note) {
				t.Errorf("note %q, want one containing %q", c.Note, tt.note)
			}
		})
	}
}

func TestFastestFillsFastestCoresFirst(t *testing.T) {
	cpu := sm8650(t, "0-7")
	for n, want := range map[int][]int{1: {7}, 3: {7, 2, 3}, 6: {7, 2, 3, 4, 5, 6}, 8: {7, 2, 3, 4, 5, 6, 0, 1}} {
		c, err := Fastest(cpu, n)
		if err != nil || !slices.Equal(c.CPUs, want) || c.Threads != n {
			t.Errorf("Fastest(%d) = %+v, %v; want %v", n, c, err, want)
		}
	}
	// SMT siblings come after every physical core.
	smt := cpuOf(t, "", map[int]int{4: 0, 5: 1, 6: 2, 7: 3}, cl{"0-7", "", 0, 4000000})
	if c, err := Fastest(smt, 6); err != nil || !slices.Equal(c.CPUs, []int{0, 1, 2, 3, 4, 5}) {
		t.Errorf("Fastest(smt, 6) = %+v, %v", c, err)
	}
	for _, tt := range []struct {
		cpu  hw.CPU
		n    int
		want string
	}{
		{cpu, 9, "9 threads but only 8 CPUs are allowed (0-7)"},
		{sm8650(t, "0-3"), 5, "5 threads but only 4 CPUs are allowed (0-3)"},
		{cpu, 0, "must be at least 1"},
		{hw.CPU{}, 1, "no usable CPU"},
		{sm8650(t, "8-9"), 1, "none of the cores is in the allowed set 8-9"},
		{sm8650(t, "x"), 1, "allowed CPUs"},
	} {
		if _, err := Fastest(tt.cpu, tt.n); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Fastest(allowed %q, %d): err %v, want %q", tt.cpu.AllowedCPUs, tt.n, err, tt.want)
		}
	}
}

func TestParseMask(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
	}{
		{"0x0", nil}, {"0", nil}, {"0x1", []int{0}}, {"f0", []int{4, 5, 6, 7}}, {"0XF0", []int{4, 5, 6, 7}},
		{"0x80", []int{7}}, {"0x3c", []int{2, 3, 4, 5}}, {"100", []int{8}}, {" 0xa ", []int{1, 3}},
		{"0x8000000000000000000000000000000000", []int{135}},
	} {
		got, err := ParseMask(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseMask(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if len(tt.want) > 0 {
			if back, _ := ParseMask(Mask(got)); !slices.Equal(back, got) {
				t.Errorf("Mask round trip of %v: %s gives %v", got, Mask(got), back)
			}
		}
	}
	if Mask([]int{0, 1, 2, 3, 7}) != "0x8f" || Mask(nil) != "0x0" || Mask([]int{8}) != "0x100" {
		t.Errorf("Mask: %s %s %s", Mask([]int{0, 1, 2, 3, 7}), Mask(nil), Mask([]int{8}))
	}
	for _, bad := range []string{"", "0x", "0xg", "12-3", "0x" + strings.Repeat("f", 129)} {
		if _, err := ParseMask(bad); err == nil {
			t.Errorf("ParseMask(%q): no error", bad)
		}
	}
}

func TestFromMaskAndSelect(t *testing.T) {
	cpu := sm8650(t, "0-7")
	c, err := FromMask(cpu, "0x0f")
	if err != nil || !slices.Equal(c.CPUs, []int{2, 3, 0, 1}) || c.Threads != 4 || c.Rule != "mask 0x0f" || c.List() != "0-3" {
		t.Errorf("FromMask(0x0f) = %+v (list %s), %v", c, c.List(), err)
	}
	if _, err := FromMask(sm8650(t, "0-5"), "0xc0"); err == nil || !strings.Contains(err.Error(), "CPUs 6-7, which this process may not use (allowed 0-5)") {
		t.Errorf("mask outside the cpuset: %v", err)
	}
	if _, err := FromMask(cpu, "0x0"); err == nil || !strings.Contains(err.Error(), "selects no CPU") {
		t.Errorf("empty mask: %v", err)
	}

	for _, tt := range []struct {
		threads, mask string
		cpus          []int
		n             int
		note          bool
	}{
		{"auto", "", []int{7, 2, 3, 4, 5, 6}, 6, false},
		{"auto", "0x0", []int{7, 2, 3, 4, 5, 6}, 6, false},
		{"2", "", []int{7, 2}, 2, false},
		{"auto", "0x3", []int{0, 1}, 2, false},
		{"1", "0x3", []int{0, 1}, 1, false},
		{"4", "0x3", []int{0, 1}, 4, true},
	} {
		c, err := Select(cpu, tt.threads, tt.mask)
		if err != nil || !slices.Equal(c.CPUs, tt.cpus) || c.Threads != tt.n || (c.Note != "") != tt.note {
			t.Errorf("Select(%q, %q) = %+v, %v; want CPUs %v, %d threads, note %v", tt.threads, tt.mask, c, err, tt.cpus, tt.n, tt.note)
		}
	}
	for _, bad := range [][2]string{{"0", ""}, {"-1", ""}, {"many", ""}, {"auto", "zz"}, {"auto", "0x100"}} {
		if _, err := Select(cpu, bad[0], bad[1]); err == nil {
			t.Errorf("Select(%q, %q): no error", bad[0], bad[1])
		}
	}
}

func TestChoiceWorker(t *testing.T) {
	c := Choice{CPUs: []int{7, 2, 3}}
	var got []string
	for i := range 5 {
		got = append(got, fmt.Sprint(c.Worker(i)))
	}
	if strings.Join(got, ",") != "7,2,3,7,2" || (Choice{}).Worker(0) != -1 || c.List() != "2-3,7" {
		t.Errorf("workers %v, empty %d, list %s", got, (Choice{}).Worker(0), c.List())
	}
}
