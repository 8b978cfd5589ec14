package search

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hilsearch/hilsearch/arch"
)

// Class is one layer-order class of a space: the architectures that differ
// only in the order of their layers. Every cost the analytic stand-in or a
// runtime reports is a sum over layers plus terms that do not depend on
// the order, so all members of a class have the same objective values;
// Canonical is the member used to evaluate the class.
type Class struct {
	// Key names the class, e.g. "d512 n8 ffn x3 conv.kernel=3 | conv:6 gqa:2".
	Key string `json:"key"`
	// Genome decodes to Canonical.
	Genome Genome `json:"genome"`
	// Canonical is the class's representative: the minority mixers spread
	// evenly over the layers.
	Canonical arch.Spec `json:"-"`
	// Params is its parameter count.
	Params int64 `json:"params"`
}

// errPerLayerFFN is returned by Classes for spaces with per-layer FFN widths.
var errPerLayerFFN = errors.New("classes: spaces with a per-layer FFN width are not enumerated")

// MaxClasses bounds Classes' enumeration.
const MaxClasses = 1_000_000

// Classes enumerates the admissible layer-order classes of a valid space
// without per-layer FFN widths: every choice of the global genes, every
// layer count and every count of each mixer kind, in that order. Classes
// whose networks are equal (a global gene the class does not use) appear
// once. Enumerating classes instead of genomes is exact for evaluators
// that are invariant to the order of layers (ClassKey says which class a
// candidate belongs to).
func (sp *Space) Classes() ([]Class, error) {
	if sp.FFN.PerLayer {
		return nil, errPerLayerFFN
	}
	genes := sp.Genes()
	var global []int // gene indices of the globals
	for i, g := range genes {
		if !strings.HasPrefix(g.Name, "layer.") {
			global = append(global, i)
		}
	}
	mixers := sp.allowedMixers()
	var out []Class
	seen := map[string]bool{}
	g := make(Genome, len(genes))
	var rec func(j int) error
	rec = func(j int) error {
		if j < len(global) {
			for c := range genes[global[j]].Choices {
				g[global[j]] = c
				if err := rec(j + 1); err != nil {
					return err
				}
			}
			return nil
		}
		n := sp.Layers.Min + g[0] // gene 0 is the layer count
		return compositions(n, len(mixers), func(counts []int) error {
			gg := append(Genome(nil), g...)
			for i, k := range spread(counts) {
				gg[layerGene(genes, i)] = k
			}
			s, err := sp.Decode(gg)
			if err != nil {
				return err
			}
			params, reason := sp.Admit(&s)
			if reason != "" {
				return nil
			}
			h := s.Hash()
			if seen[h] {
				return nil
			}
			seen[h] = true
			if len(out) >= MaxClasses {
				return fmt.Errorf("classes: more than %d", MaxClasses)
			}
			out = append(out, Class{Key: ClassKey(&s), Genome: gg, Canonical: s, Params: params})
			return nil
		})
	}
	if err := rec(0); err != nil {
		return nil, err
	}
	return out, nil
}

// layerGene is the genome index of layer slot i's mixer gene.
func layerGene(genes []Gene, i int) int {
	name := fmt.Sprintf(geneLayerMixerFm, i)
	for j, g := range genes {
		if g.Name == name {
			return j
		}
	}
	panic("search: no gene " + name)
}

// compositions calls f with every vector of k non-negative counts summing
// to n (the slice is reused between calls).
func compositions(n, k int, f func([]int) error) error {
	c := make([]int, k)
	var rec func(i, left int) error
	rec = func(i, left int) error {
		if i == k-1 {
			c[i] = left
			return f(c)
		}
		for v := left; v >= 0; v-- {
			c[i] = v
			if err := rec(i+1, left-v); err != nil {
				return err
			}
		}
		return nil
	}
	return rec(0, n)
}

// spread lays counts[k] layers of kind k out over sum(counts) slots, each
// kind as evenly as possible: slot i takes the kind furthest behind its
// share (ties to the lower kind).
func spread(counts []int) []int {
	n := 0
	for _, c := range counts {
		n += c
	}
	placed := make([]int, len(counts))
	out := make([]int, n)
	for i := range out {
		best, bestLag := -1, 0.0
		for k, c := range counts {
			if placed[k] >= c {
				continue
			}
			lag := float64(c*(i+1))/float64(n) - float64(placed[k])
			if best < 0 || lag > bestLag+1e-12 {
				best, bestLag = k, lag
			}
		}
		out[i] = best
		placed[best]++
	}
	return out
}

// ClassKey names the layer-order class of s: its width, vocabulary, and
// the multiset of its layers (each block's full shape with its FFN width).
func ClassKey(s *arch.Spec) string {
	counts := map[string]int{}
	var order []string
	for _, l := range s.Layers {
		k := fmt.Sprintf("%s+ffn%d", blockName(l), l.FFN)
		if l.Mixer == arch.MixerGQA && l.GQA.QKNorm || l.Mixer == arch.MixerSWA && l.SWA.QKNorm {
			k += "+qkn"
		}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	slices.Sort(order)
	var b strings.Builder
	fmt.Fprintf(&b, "v%d d%d", s.Vocab, s.Hidden)
	if !s.TiedEmbeddings {
		b.WriteString(" untied")
	}
	for _, k := range order {
		fmt.Fprintf(&b, " %s×%d", k, counts[k])
	}
	return b.String()
}
