package hw

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

const cpuDir = "sys/devices/system/cpu"

// policyInfo is one cpufreq policy directory.
type policyInfo struct {
	name                   string
	cpus                   []int
	maxKHz, minKHz, curKHz int64
	governor, driver, epp  string
}

// readPolicies reads /sys/devices/system/cpu/cpufreq/policy* (kernel
// Documentation/admin-guide/pm/cpufreq.rst).
func readPolicies(f files) []policyInfo {
	var out []policyInfo
	base := join(cpuDir, "cpufreq")
	for _, name := range f.dirNames(base, "policy") {
		dir := join(base, name)
		p := policyInfo{name: name}
		list := f.str(join(dir, "related_cpus"))
		if list == "" {
			list = f.str(join(dir, "affected_cpus"))
		}
		cpus, err := parseCPUList(list)
		if err != nil || len(cpus) == 0 {
			// policyN governs cpuN at least.
			if n, err := strconv.Atoi(strings.TrimPrefix(name, "policy")); err == nil {
				cpus = []int{n}
			}
		}
		p.cpus = cpus
		p.maxKHz, _ = f.int64(join(dir, "cpuinfo_max_freq"))
		p.minKHz, _ = f.int64(join(dir, "cpuinfo_min_freq"))
		p.curKHz, _ = f.int64(join(dir, "scaling_cur_freq"))
		p.governor = f.str(join(dir, "scaling_governor"))
		p.driver = f.str(join(dir, "scaling_driver"))
		p.epp = f.str(join(dir, "energy_performance_preference"))
		out = append(out, p)
	}
	return out
}

// onlineCPUs returns the logical CPUs the kernel has online, from sysfs,
// else from the processor blocks of /proc/cpuinfo.
func onlineCPUs(f files, ci cpuInfo) []int {
	for _, p := range []string{"online", "present", "possible"} {
		if ids, err := parseCPUList(f.str(join(cpuDir, p))); err == nil && len(ids) > 0 {
			return ids
		}
	}
	var ids []int
	for _, p := range ci.procs {
		if n, err := strconv.Atoi(p["processor"]); err == nil {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// readCores builds the per-CPU records and groups them into clusters.
func readCores(f files, ci cpuInfo) ([]Core, []Cluster, int) {
	ids := onlineCPUs(f, ci)
	policies := readPolicies(f)
	policyOf := map[int]*policyInfo{}
	for i := range policies {
		for _, c := range policies[i].cpus {
			policyOf[c] = &policies[i]
		}
	}
	cores := make([]Core, 0, len(ids))
	physical := map[[2]int]bool{}
	for _, id := range ids {
		c := Core{ID: id, CoreID: -1, Package: -1}
		dir := join(cpuDir, fmt.Sprintf("cpu%d", id))
		if v, ok := f.int64(join(dir, "topology", "core_id")); ok {
			c.CoreID = int(v)
		}
		if v, ok := f.int64(join(dir, "topology", "physical_package_id")); ok {
			c.Package = int(v)
		}
		if c.CoreID < 0 || c.Package < 0 {
			c.CoreID, c.Package = coreFromCPUInfo(ci.proc(id), id)
		}
		physical[[2]int{c.Package, c.CoreID}] = true
		if v, ok := f.int64(join(dir, "cpu_capacity")); ok {
			c.Capacity = int(v)
		}
		if p := policyOf[id]; p != nil {
			c.Policy, c.MaxFreqKHz, c.MinFreqKHz, c.CurFreqKHz, c.Governor = p.name, p.maxKHz, p.minKHz, p.curKHz, p.governor
		} else {
			// Kernels without policy directories keep cpufreq under cpuN.
			fd := join(dir, "cpufreq")
			c.MaxFreqKHz, _ = f.int64(join(fd, "cpuinfo_max_freq"))
			c.MinFreqKHz, _ = f.int64(join(fd, "cpuinfo_min_freq"))
			c.CurFreqKHz, _ = f.int64(join(fd, "scaling_cur_freq"))
			c.Governor = f.str(join(fd, "scaling_governor"))
		}
		if blk := ci.proc(id); blk != nil {
			if c.CurFreqKHz == 0 {
				// Without cpufreq (VMs), x86 reports the current clock here.
				if mhz, err := strconv.ParseFloat(blk["cpu MHz"], 64); err == nil && mhz > 0 {
					c.CurFreqKHz = int64(mhz * 1000)
				}
			}
			c.Implementer = strings.ToLower(blk["CPU implementer"])
			c.Part = strings.ToLower(blk["CPU part"])
			c.Uarch = armPart[partKey(c.Implementer, c.Part)]
		}
		cores = append(cores, c)
	}
	clusters := clusterCores(cores, policyOf)
	return cores, clusters, len(physical)
}

// coreFromCPUInfo derives (core id, package) from the x86 "core id" and
// "physical id" lines; without them every CPU is its own core.
func coreFromCPUInfo(blk map[string]string, id int) (coreID, pkg int) {
	coreID, pkg = id, 0
	if blk == nil {
		return
	}
	if v, err := strconv.Atoi(blk["core id"]); err == nil {
		coreID = v
	}
	if v, err := strconv.Atoi(blk["physical id"]); err == nil {
		pkg = v
	}
	return
}

// clusterCores groups cores with the same core type (implementer:part, or
// none on x86), maximum frequency and capacity, and orders the clusters
// fastest first (capacity, then max frequency, descending; then by first
// CPU). It sets each core's Cluster index.
func clusterCores(cores []Core, policyOf map[int]*policyInfo) []Cluster {
	type key struct {
		part     string
		maxKHz   int64
		capacity int
	}
	idx := map[key]int{}
	var clusters []Cluster
	var members [][]int
	for _, c := range cores {
		k := key{partKey(c.Implementer, c.Part), c.MaxFreqKHz, c.Capacity}
		i, ok := idx[k]
		if !ok {
			i = len(clusters)
			idx[k] = i
			clusters = append(clusters, Cluster{
				Uarch: c.Uarch, Part: k.part, MaxFreqKHz: c.MaxFreqKHz, MinFreqKHz: c.MinFreqKHz,
				Capacity: c.Capacity, Governor: c.Governor,
			})
			members = append(members, nil)
		}
		members[i] = append(members[i], c.ID)
		if p := policyOf[c.ID]; p != nil {
			cl := &clusters[i]
			if !slices.Contains(cl.Policies, p.name) {
				cl.Policies = append(cl.Policies, p.name)
			}
			if cl.Driver == "" {
				cl.Driver = p.driver
			}
			if cl.EnergyPreference == "" {
				cl.EnergyPreference = p.epp
			}
		}
	}
	order := make([]int, len(clusters))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ca, cb := clusters[a], clusters[b]
		return cmp.Or(
			cmp.Compare(cb.Capacity, ca.Capacity),
			cmp.Compare(cb.MaxFreqKHz, ca.MaxFreqKHz),
			cmp.Compare(members[a][0], members[b][0]),
		)
	})
	sorted := make([]Cluster, len(clusters))
	newIndex := make([]int, len(clusters))
	for to, from := range order {
		cl := clusters[from]
		cl.CPUs = formatCPUList(members[from])
		cl.Count = len(members[from])
		sorted[to] = cl
		newIndex[from] = to
	}
	for i := range cores {
		k := key{partKey(cores[i].Implementer, cores[i].Part), cores[i].MaxFreqKHz, cores[i].Capacity}
		cores[i].Cluster = newIndex[idx[k]]
	}
	return sorted
}

// coreMix describes Arm cores by type, biggest cluster type first:
// "1x Cortex-X4 + 5x Cortex-A720 + 2x Cortex-A520".
func coreMix(clusters []Cluster) string {
	var names []string
	count := map[string]int{}
	for _, cl := range clusters {
		n := cl.Uarch
		if n == "" && cl.Part != "" {
			n = "part " + cl.Part
		}
		if n == "" {
			return ""
		}
		if count[n] == 0 {
			names = append(names, n)
		}
		count[n] += cl.Count
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%dx %s", count[n], n)
	}
	return strings.Join(parts, " + ")
}
