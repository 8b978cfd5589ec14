package hw

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// MemoryBucket rounds total bytes up the ladder of the package doc (powers
// of two and 1.5 times powers of two, from 512 MiB) and names the step:
// "512m", "768m", "1g", "1536m", "2g", "3g", …, "24g", … Zero gives "0g".
func MemoryBucket(total uint64) string {
	if total == 0 {
		return "0g"
	}
	const mib = 1 << 20
	for step := uint64(512 * mib); ; step *= 2 {
		for _, size := range []uint64{step, step + step/2} {
			if total <= size {
				if size%(1024*mib) == 0 {
					return fmt.Sprintf("%dg", size/(1024*mib))
				}
				return fmt.Sprintf("%dm", size/mib)
			}
		}
		if step > 1<<62/2 {
			return fmt.Sprintf("%dg", total/(1024*mib))
		}
	}
}

var (
	// modelNoiseRE removes trademark marks and the "@ 3.00GHz" clock suffix.
	modelNoiseRE = regexp.MustCompile(`(?i)\((r|tm|c)\)|®|™|@.*$`)
	// modelTailRE cuts graphics suffixes ("w/ Radeon 780M Graphics", "with
	// Radeon Graphics").
	modelTailRE = regexp.MustCompile(`(?i)\s+(w/|with)\s.*$`)
	// modelWordRE drops words that do not identify a model.
	modelWordRE = regexp.MustCompile(`(?i)\b(cpu|processor|[0-9]+-core)\b`)
	// nonSlugRE matches runs of characters not allowed in a slug.
	nonSlugRE = regexp.MustCompile(`[^a-z0-9]+`)
)

// Slug lower-cases s and replaces every run of characters outside [a-z0-9]
// with one '-', trimming '-' at both ends and cutting to at most max bytes
// (at a '-' when possible).
func Slug(s string, max int) string {
	s = strings.Trim(nonSlugRE.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if max > 0 && len(s) > max {
		s = s[:max]
		if i := strings.LastIndexByte(s, '-'); i > max/2 {
			s = s[:i]
		}
		s = strings.Trim(s, "-")
	}
	return s
}

// ModelSlug reduces a CPU model name to its identifying words as a slug:
// "AMD Ryzen 7 7840U w/ Radeon 780M Graphics" → "amd-ryzen-7-7840u",
// "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz" → "intel-xeon-e5-2680-v4".
func ModelSlug(model string) string {
	m := modelNoiseRE.ReplaceAllString(model, " ")
	m = modelTailRE.ReplaceAllString(m, "")
	m = modelWordRE.ReplaceAllString(m, " ")
	return Slug(m, 40)
}

// platformSlug is the first part of the class.
func platformSlug(os, arch string) string {
	if os == "android" {
		return "android"
	}
	switch arch {
	case "amd64":
		return "x86-64"
	case "386":
		return "x86"
	}
	return Slug(arch, 16)
}

// classModel is the model part of the class: the SoC model (or codename, or
// name) when a SoC is known, else the CPU model.
func classModel(p *Profile) string {
	if p.SoC != nil {
		for _, s := range []string{p.SoC.Model, p.SoC.Codename, p.SoC.Name} {
			if slug := Slug(s, 40); slug != "" {
				return slug
			}
		}
	}
	if slug := ModelSlug(p.CPU.Model); slug != "" {
		return slug
	}
	return "unknown"
}

// MaxClassLen is the longest class Class returns: the coordinator accepts
// NATS tokens of at most 63 bytes.
const MaxClassLen = 63

// Class returns the device class of p (see the package doc). It is at most
// MaxClassLen bytes of [a-z0-9-], starting with a letter or digit; the model
// part is shortened when needed.
func Class(p *Profile) string {
	prefix := platformSlug(p.OS, p.Arch) + "-"
	suffix := "-" + MemoryBucket(p.Memory.TotalBytes)
	model := classModel(p)
	if room := MaxClassLen - len(prefix) - len(suffix); len(model) > room {
		model = Slug(model, room)
		if model == "" {
			model = "unknown"[:min(room, 7)]
		}
	}
	return prefix + model + suffix
}

// ComputeFingerprint returns the fingerprint of p's hardware: platform,
// architecture, SoC, CPU model, clusters (count, core type, max clock,
// capacity), logical and physical core counts, features and memory bucket.
// Volatile facts (clocks now, temperatures, power, host name) are left out.
func ComputeFingerprint(p *Profile) Fingerprint {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	line("fingerprint", "1")
	line("os", p.OS)
	line("arch", p.Arch)
	if p.SoC != nil {
		line("soc", strings.Join([]string{p.SoC.Manufacturer, p.SoC.Model, p.SoC.Codename, p.SoC.Name}, "|"))
	} else {
		line("soc", "")
	}
	line("cpu", p.CPU.Vendor+"|"+p.CPU.Model)
	var cl []string
	for _, c := range p.CPU.Clusters {
		cl = append(cl, fmt.Sprintf("%dx%s@%dkhz/cap%d", c.Count, c.Part, c.MaxFreqKHz, c.Capacity))
	}
	line("clusters", strings.Join(cl, ","))
	line("cores", fmt.Sprintf("%d/%d", p.CPU.LogicalCores, p.CPU.PhysicalCores))
	line("features", strings.Join(p.CPU.Features, ","))
	line("memory", MemoryBucket(p.Memory.TotalBytes))
	sum := sha256.Sum256([]byte(b.String()))
	return Fingerprint{Hash: hex.EncodeToString(sum[:]), Canonical: b.String()}
}
