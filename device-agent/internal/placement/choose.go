package placement

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// Choice is where a job's workers run.
type Choice struct {
	// CPUs are logical CPU ids in the order workers take them, fastest
	// first (see Worker).
	CPUs []int `json:"cpus"`
	// Threads is the number of workers. It equals len(CPUs) unless an
	// explicit thread count was combined with a mask of fewer CPUs.
	Threads int `json:"threads"`
	// Rule says how the CPUs were chosen: "auto", "fastest" or "mask 0x…".
	Rule string `json:"rule"`
	// Note explains a choice that differs from what the rule usually
	// gives (only efficiency cores allowed, more threads than CPUs); empty
	// otherwise.
	Note string `json:"note,omitempty"`
}

// List returns the CPUs in the kernel's list format, sorted ("2-7").
func (c Choice) List() string {
	ids := slices.Clone(c.CPUs)
	slices.Sort(ids)
	return hw.FormatCPUList(ids)
}

// Worker returns the CPU of worker i when workers are pinned one per CPU:
// CPUs[i mod len(CPUs)]. It returns -1 when the choice is empty.
func (c Choice) Worker(i int) int {
	if len(c.CPUs) == 0 || i < 0 {
		return -1
	}
	return c.CPUs[i%len(c.CPUs)]
}

// ErrNoCPU is returned when the profile lists no usable CPU.
var ErrNoCPU = errors.New("placement: the profile lists no usable CPU")

// littleCores are the in-order Arm efficiency cores (hw.Core.Uarch names).
var littleCores = map[string]bool{
	"Cortex-A7": true, "Cortex-A32": true, "Cortex-A35": true, "Cortex-A53": true,
	"Cortex-A55": true, "Cortex-A510": true, "Cortex-A520": true,
}

// slot is one allowed logical CPU with what orders it.
type slot struct {
	cpu     int
	rank    int  // speed rank of its cluster, 0 = fastest
	sibling int  // 0 for the first hardware thread of a physical core
	eff     bool // in an efficiency cluster
}

// topology orders the allowed CPUs of cpu fastest first: every physical
// core's first hardware thread, clusters in speed order, before any SMT
// sibling; ties by CPU id. It also returns the allowed set for messages.
func topology(cpu hw.CPU) ([]slot, []int, error) {
	if len(cpu.Cores) == 0 {
		return nil, nil, ErrNoCPU
	}
	allowed, err := hw.ParseCPUList(cpu.AllowedCPUs)
	if err != nil {
		return nil, nil, fmt.Errorf("placement: allowed CPUs: %w", err)
	}
	if len(allowed) == 0 {
		for _, c := range cpu.Cores {
			allowed = append(allowed, c.ID)
		}
		slices.Sort(allowed)
	}

	// Speed rank of each cluster: capacity, then max clock, descending.
	rank := make([]int, len(cpu.Clusters))
	order := make([]int, len(cpu.Clusters))
	first := make([]int, len(cpu.Clusters))
	for i, cl := range cpu.Clusters {
		order[i] = i
		ids, _ := hw.ParseCPUList(cl.CPUs)
		first[i] = -1
		if len(ids) > 0 {
			first[i] = ids[0]
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		ca, cb := cpu.Clusters[a], cpu.Clusters[b]
		return cmp.Or(cmp.Compare(cb.Capacity, ca.Capacity), cmp.Compare(cb.MaxFreqKHz, ca.MaxFreqKHz), cmp.Compare(first[a], first[b]))
	})
	for r, i := range order {
		rank[i] = r
	}
	eff := efficiencyClusters(cpu.Clusters)

	// SMT siblings share (package, core id); an unknown core id makes
	// each CPU its own core.
	type phys struct{ pkg, core int }
	seen := map[phys]int{}
	byID := slices.Clone(cpu.Cores)
	slices.SortFunc(byID, func(a, b hw.Core) int { return cmp.Compare(a.ID, b.ID) })
	var slots []slot
	for _, c := range byID {
		s := slot{cpu: c.ID, rank: len(cpu.Clusters)}
		if c.Cluster >= 0 && c.Cluster < len(cpu.Clusters) {
			s.rank, s.eff = rank[c.Cluster], eff[c.Cluster]
		}
		if c.CoreID >= 0 && c.Package >= 0 {
			k := phys{c.Package, c.CoreID}
			s.sibling = seen[k]
			seen[k]++
		}
		if slices.Contains(allowed, c.ID) {
			slots = append(slots, s)
		}
	}
	if len(slots) == 0 {
		return nil, allowed, fmt.Errorf("%w: none of the cores is in the allowed set %s", ErrNoCPU, hw.FormatCPUList(allowed))
	}
	slices.SortStableFunc(slots, func(a, b slot) int {
		return cmp.Or(cmp.Compare(a.sibling, b.sibling), cmp.Compare(a.rank, b.rank), cmp.Compare(a.cpu, b.cpu))
	})
	return slots, allowed, nil
}

// efficiencyClusters marks the clusters Auto leaves out (see the package
// doc). When the rule would mark every cluster, it marks none.
func efficiencyClusters(cls []hw.Cluster) []bool {
	var maxCap int
	var maxKHz int64
	for _, cl := range cls {
		maxCap = max(maxCap, cl.Capacity)
		maxKHz = max(maxKHz, cl.MaxFreqKHz)
	}
	eff := make([]bool, len(cls))
	all := len(cls) > 0
	for i, cl := range cls {
		switch {
		case cl.Uarch != "":
			eff[i] = littleCores[cl.Uarch]
		case cl.Capacity > 0 && maxCap > 0:
			eff[i] = 2*cl.Capacity <= maxCap
		case cl.MaxFreqKHz > 0 && maxKHz > 0:
			eff[i] = 10*cl.MaxFreqKHz <= 6*maxKHz
		}
		all = all && eff[i]
	}
	if all {
		clear(eff)
	}
	return eff
}

// Auto chooses the prime and performance cores the process may use, one
// hardware thread per physical core (see the package doc).
func Auto(cpu hw.CPU) (Choice, error) {
	slots, allowed, err := topology(cpu)
	if err != nil {
		return Choice{}, err
	}
	c := Choice{Rule: "auto"}
	for _, s := range slots {
		if s.sibling == 0 && !s.eff {
			c.CPUs = append(c.CPUs, s.cpu)
		}
	}
	if len(c.CPUs) == 0 {
		for _, s := range slots {
			if s.sibling == 0 {
				c.CPUs = append(c.CPUs, s.cpu)
			}
		}
		c.Note = fmt.Sprintf("the process may use only efficiency cores (allowed CPUs %s)", hw.FormatCPUList(allowed))
	}
	c.Threads = len(c.CPUs)
	return c, nil
}

// Fastest chooses n CPUs, the fastest first (see the package doc). It
// fails when fewer than n CPUs are allowed.
func Fastest(cpu hw.CPU, n int) (Choice, error) {
	if n < 1 {
		return Choice{}, fmt.Errorf("placement: %d threads: must be at least 1", n)
	}
	slots, allowed, err := topology(cpu)
	if err != nil {
		return Choice{}, err
	}
	if n > len(slots) {
		return Choice{}, fmt.Errorf("placement: %d threads but only %d CPUs are allowed (%s)", n, len(slots), hw.FormatCPUList(allowed))
	}
	c := Choice{Rule: "fastest", Threads: n}
	for _, s := range slots[:n] {
		c.CPUs = append(c.CPUs, s.cpu)
	}
	return c, nil
}

// FromMask chooses the CPUs of a llama-bench `-C` hex mask (ParseMask),
// fastest first. Every CPU of the mask must be allowed.
func FromMask(cpu hw.CPU, mask string) (Choice, error) {
	ids, err := ParseMask(mask)
	if err != nil {
		return Choice{}, err
	}
	if len(ids) == 0 {
		return Choice{}, fmt.Errorf("placement: mask %q selects no CPU", mask)
	}
	slots, allowed, err := topology(cpu)
	if err != nil {
		return Choice{}, err
	}
	var missing []int
	for _, id := range ids {
		if !slices.ContainsFunc(slots, func(s slot) bool { return s.cpu == id }) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return Choice{}, fmt.Errorf("placement: mask %s names CPUs %s, which this process may not use (allowed %s)",
			mask, hw.FormatCPUList(missing), hw.FormatCPUList(allowed))
	}
	c := Choice{Rule: "mask " + mask}
	for _, s := range slots {
		if slices.Contains(ids, s.cpu) {
			c.CPUs = append(c.CPUs, s.cpu)
		}
	}
	c.Threads = len(c.CPUs)
	return c, nil
}

// Select chooses CPUs for a thread request as llama-bench takes it:
// threads is "auto" or a count, mask is a `-C` hex mask or "" (or all
// zeros, llama-bench's "no mask"). With a mask, a count is the number of
// workers spread over the mask's CPUs (more workers than CPUs is allowed
// and noted); "auto" gives one worker per CPU of the mask.
func Select(cpu hw.CPU, threads, mask string) (Choice, error) {
	threads = strings.TrimSpace(threads)
	n := 0
	if threads != "auto" {
		v, err := strconv.Atoi(threads)
		if err != nil || v < 1 {
			return Choice{}, fmt.Errorf("placement: threads %q: want \"auto\" or a count of at least 1", threads)
		}
		n = v
	}
	ids, err := ParseMask(mask)
	if strings.TrimSpace(mask) == "" || (err == nil && len(ids) == 0) {
		if n == 0 {
			return Auto(cpu)
		}
		return Fastest(cpu, n)
	}
	c, err := FromMask(cpu, mask)
	if err != nil {
		return Choice{}, err
	}
	if n > 0 {
		if n > len(c.CPUs) {
			c.Note = fmt.Sprintf("%d threads share the %d CPUs of the mask", n, len(c.CPUs))
		}
		c.Threads = n
	}
	return c, nil
}

// maxMaskDigits bounds a mask to 512 CPUs, as llama.cpp's 128 hex digits.
const maxMaskDigits = 128

// ParseMask parses a llama-bench `-C` CPU mask: hexadecimal, optionally
// prefixed with "0x", the lowest bit CPU 0 ("0xf0" is CPUs 4-7). It returns
// the sorted CPU ids; "0" and "0x0" give none (llama-bench's "no mask").
func ParseMask(s string) ([]int, error) {
	h := strings.TrimSpace(s)
	if len(h) >= 2 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X') {
		h = h[2:]
	}
	if h == "" {
		return nil, fmt.Errorf("placement: mask %q: no hex digits", s)
	}
	if len(h) > maxMaskDigits {
		return nil, fmt.Errorf("placement: mask %q: more than %d hex digits", s, maxMaskDigits)
	}
	var ids []int
	for i := len(h) - 1; i >= 0; i-- {
		d, err := strconv.ParseUint(h[i:i+1], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("placement: mask %q: %q is not a hex digit", s, h[i])
		}
		base := 4 * (len(h) - 1 - i)
		for bit := range 4 {
			if d&(1<<bit) != 0 {
				ids = append(ids, base+bit)
			}
		}
	}
	return ids, nil
}

// Mask formats CPU ids as a hex mask with the "0x" prefix, the inverse of
// ParseMask.
func Mask(ids []int) string {
	if len(ids) == 0 {
		return "0x0"
	}
	top := slices.Max(ids)
	digits := make([]byte, top/4+1)
	for _, id := range ids {
		if id >= 0 {
			digits[len(digits)-1-id/4] |= 1 << (id % 4)
		}
	}
	for i, d := range digits {
		digits[i] = "0123456789abcdef"[d]
	}
	return "0x" + string(digits)
}
