package search

import (
	"cmp"
	"math/rand/v2"
	"regexp"
	"slices"

	"github.com/hilsearch/hilsearch/arch"
)

// RejectNotExportable marks a candidate that the spec's export format
// (Spec.Export) cannot express, rejected before any device time.
const RejectNotExportable = "not_exportable"

// Admit checks every constraint that needs no device: the space's
// parameter budget and attention-layer bounds (Space.Admit) and, when the
// spec names an export format, that the format can express a (see
// arch.Exportable). It returns the parameter count and "" when a is
// admissible, or the rejection reason.
func (s *Spec) Admit(a *arch.Spec) (params int64, reason string) {
	params, reason = s.Space.Admit(a)
	if reason == "" && s.Export != "" && arch.Exportable(a, s.Export) != nil {
		reason = RejectNotExportable
	}
	return params, reason
}

// ExportShareSamples is how many genomes ExportShares draws.
const ExportShareSamples = 1000

// ExportShare is the estimated share of a space's admissible candidates
// that one export format can express.
type ExportShare struct {
	Format arch.Format
	// Share is exportable / Admissible.
	Share float64
	// Admissible counts the sampled candidates that meet the parameter
	// budget and attention-layer bounds.
	Admissible int
	// Reason is the most frequent objection (layer indices folded to
	// [i]) among the admissible candidates the format cannot express.
	Reason string
}

var layerIndex = regexp.MustCompile(`\[\d+\]`)

// ExportShares estimates, for every export format, which share of the
// space's admissible candidates that format can express: it draws
// ExportShareSamples genomes uniformly (every gene's choice equally
// likely, from a fixed seed, so the answer is repeatable), keeps those
// that pass Space.Admit, and asks arch.Exportable. The space must be
// valid.
func (sp *Space) ExportShares() []ExportShare {
	genes := sp.Genes()
	r := rand.New(rand.NewPCG(1, 2))
	g := make(Genome, len(genes))
	out := make([]ExportShare, len(arch.Formats))
	reasons := make([]map[string]int, len(arch.Formats))
	exportable := make([]int, len(arch.Formats))
	for i, f := range arch.Formats {
		out[i].Format = f
		reasons[i] = map[string]int{}
	}
	admissible := 0
	for range ExportShareSamples {
		for j, gene := range genes {
			g[j] = r.IntN(len(gene.Choices))
		}
		a, err := sp.Decode(g)
		if err != nil {
			continue
		}
		if _, reason := sp.Admit(&a); reason != "" {
			continue
		}
		admissible++
		for i, f := range arch.Formats {
			if err := arch.Exportable(&a, f); err != nil {
				reasons[i][layerIndex.ReplaceAllString(err.Error(), "[i]")]++
			} else {
				exportable[i]++
			}
		}
	}
	for i := range out {
		out[i].Admissible = admissible
		if admissible > 0 {
			out[i].Share = float64(exportable[i]) / float64(admissible)
		}
		type kv struct {
			msg string
			n   int
		}
		var all []kv
		for m, n := range reasons[i] {
			all = append(all, kv{m, n})
		}
		slices.SortFunc(all, func(a, b kv) int {
			if c := cmp.Compare(b.n, a.n); c != 0 {
				return c
			}
			return cmp.Compare(a.msg, b.msg)
		})
		if len(all) > 0 {
			out[i].Reason = all[0].msg
		}
	}
	return out
}
