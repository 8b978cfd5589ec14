package hw

import (
	"strconv"
	"strings"
)

// cpuInfo is /proc/cpuinfo parsed (proc(5)): one key/value block per logical
// CPU, plus the keys outside any processor block (the "Hardware" and
// "Revision" lines of older Arm vendor kernels).
type cpuInfo struct {
	procs  []map[string]string // blocks that have a "processor" key, in file order
	global map[string]string   // keys of blocks without one
}

// parseCPUInfo parses the text of /proc/cpuinfo. Blocks are separated by
// blank lines; each line is "key<tabs or spaces>: value".
func parseCPUInfo(text string) cpuInfo {
	ci := cpuInfo{global: map[string]string{}}
	block := map[string]string{}
	flush := func() {
		if len(block) == 0 {
			return
		}
		if _, ok := block["processor"]; ok {
			ci.procs = append(ci.procs, block)
		} else {
			for k, v := range block {
				ci.global[k] = v
			}
		}
		block = map[string]string{}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "processor" {
			if _, seen := block["processor"]; seen {
				flush() // a kernel that separates blocks without blank lines
			}
		}
		block[k] = v
	}
	flush()
	return ci
}

// proc returns the block of logical CPU id, or nil.
func (ci cpuInfo) proc(id int) map[string]string {
	for _, p := range ci.procs {
		if n, err := strconv.Atoi(p["processor"]); err == nil && n == id {
			return p
		}
	}
	return nil
}

// first returns the value of key in the first processor block that has it,
// or in the global keys.
func (ci cpuInfo) first(key string) string {
	for _, p := range ci.procs {
		if v := p[key]; v != "" {
			return v
		}
	}
	return ci.global[key]
}

// isX86 reports whether the blocks look like x86 ("flags", "vendor_id").
func (ci cpuInfo) isX86() bool { return ci.first("flags") != "" || ci.first("vendor_id") != "" }

// featureWords returns the feature words common to all processor blocks:
// "flags" on x86, "Features" on Arm. The kernel reports the same set for
// every CPU on current kernels; the intersection guards against old
// heterogeneous reports.
func (ci cpuInfo) featureWords() []string {
	key := "Features"
	if ci.isX86() {
		key = "flags"
	}
	var common map[string]bool
	for _, p := range ci.procs {
		v, ok := p[key]
		if !ok {
			continue
		}
		set := map[string]bool{}
		for _, w := range strings.Fields(v) {
			if common == nil || common[w] {
				set[w] = true
			}
		}
		common = set
	}
	if common == nil {
		if v := ci.global[key]; v != "" {
			return strings.Fields(v)
		}
		return nil
	}
	out := make([]string, 0, len(common))
	for w := range common {
		out = append(out, w)
	}
	return out
}
