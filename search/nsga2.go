package search

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/c-bata/goptuna"
	"github.com/hilsearch/hilsearch/search/pareto"
)

// nsga2 is NSGA-II (Deb et al. 2002) as a goptuna relative sampler over the
// fixed-length genome.
//
// Generations are formed asynchronously, as trials complete: once at least
// Population completed trials are not yet in any selection pool, they and
// the current population form a pool, and the next population is the best
// Population members of it by constrained non-dominated rank, then crowding
// distance (ties by trial number). This is (μ+λ) selection, so it is fully
// elitist (STAR used elitism 2 in a generational GA). Each population and
// its pool are stored in the study's system attributes, so a restarted
// coordinator uses exactly the population it had, whatever completes later.
// A trial whose outcome is revised (Optimizer.Revise: its repeated
// measurements pooled) is ranked by the revised outcome from then on, and
// the populations it helped select are selected again (reselect).
//
// Before the first population exists trials are sampled uniformly. After,
// each offspring is made from two parents chosen by binary tournament
// (rank, then crowding distance), a 2-point crossover with probability
// Crossover (the genome is globals then layer slots, so a crossover swaps a
// run of layers), and per-gene mutation with probability Mutation to a
// different choice. An offspring that is inadmissible (budget, attention
// layers) or equal to an evaluated or population genome is remade, up to
// maxRemake times. Every draw comes from a random stream keyed by the seed
// and the trial number: a fixed seed reproduces the search.
type nsga2 struct {
	spec   *Spec
	genes  []Gene
	seed   int64
	pop    int
	pc, pm float64
	admit  func(Genome) bool
	// keys caches the architecture key of each trial number's genome
	// (genomes of trials never change).
	keys map[int]string
}

const maxRemake = 64

func newNSGA2(s *Spec, genes []Gene, admit func(Genome) bool) *nsga2 {
	return &nsga2{spec: s, genes: genes, seed: s.Seed, pop: s.NSGA2.Population, pc: s.NSGA2.Crossover, pm: s.NSGA2.Mutation, admit: admit}
}

// generation is one NSGA-II selection, stored as JSON.
type generation struct {
	// Pool lists the trial numbers that entered this selection for the
	// first time.
	Pool []int `json:"pool"`
	// Members lists the selected population's trial numbers, ascending.
	Members []int `json:"members"`
}

// individual is a completed trial in minimisation form.
type individual struct {
	number    int
	genome    Genome
	objs      []float64
	violation float64
}

// Populations returns NSGA-II's stored populations (trial numbers, oldest
// first) of a study.
func Populations(study *goptuna.Study) ([][]int, error) {
	gens, err := loadGenerations(study)
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(gens))
	for i, g := range gens {
		out[i] = g.Members
	}
	return out, nil
}

func loadGenerations(study *goptuna.Study) ([]generation, error) {
	attrs, err := study.Storage.GetStudySystemAttrs(study.ID)
	if err != nil {
		return nil, fmt.Errorf("nsga2: study attributes: %w", err)
	}
	var gens []generation
	if raw, ok := attrs[StudyAttrPopulations]; ok && raw != "" {
		if err := json.Unmarshal([]byte(raw), &gens); err != nil {
			return nil, fmt.Errorf("nsga2: %s: %w", StudyAttrPopulations, err)
		}
	}
	return gens, nil
}

// SampleRelative implements goptuna.RelativeSampler.
func (n *nsga2) SampleRelative(study *goptuna.Study, trial goptuna.FrozenTrial, space map[string]interface{}) (map[string]float64, error) {
	trials, err := study.GetTrials()
	if err != nil {
		return nil, fmt.Errorf("nsga2: trials: %w", err)
	}
	results, err := completedResults(trials, n.genes)
	if err != nil {
		return nil, fmt.Errorf("nsga2: %w", err)
	}
	byNumber := make(map[int]individual, len(results))
	for _, r := range results {
		byNumber[r.Number] = individual{number: r.Number, genome: r.Genome, objs: n.spec.Minimized(r.Outcome.Values), violation: r.Outcome.Violation}
	}
	gens, err := loadGenerations(study)
	if err != nil {
		return nil, err
	}
	revised := map[int]bool{}
	for _, t := range trials {
		if _, ok := t.SystemAttrs[AttrFirstOutcome]; ok && t.State == goptuna.TrialStateComplete {
			revised[t.Number] = true
		}
	}
	changed := n.reselect(gens, byNumber, revised)
	if n.advance(&gens, results, byNumber) || changed {
		raw, err := json.Marshal(gens)
		if err != nil {
			return nil, fmt.Errorf("nsga2: %w", err)
		}
		if err := study.Storage.SetStudySystemAttr(study.ID, StudyAttrPopulations, string(raw)); err != nil {
			return nil, fmt.Errorf("nsga2: store populations: %w", err)
		}
	}
	r := trialRand(n.seed, trial.Number, "nsga2")
	var child Genome
	if len(gens) == 0 {
		child = n.randomGenome(r)
	} else {
		pop := make([]individual, 0, n.pop)
		for _, num := range gens[len(gens)-1].Members {
			pop = append(pop, byNumber[num])
		}
		seen := make(map[string]bool, len(results))
		for _, e := range results {
			seen[n.trialKey(e.Number, e.Genome)] = true
		}
		for _, t := range trials { // in flight or screened out, with every gene set
			if t.State == goptuna.TrialStateComplete || !proposed(t) || t.Number == trial.Number {
				continue
			}
			if g, ok := genomeOf(t, n.genes); ok {
				seen[n.trialKey(t.Number, g)] = true
			}
		}
		child = n.offspring(r, pop, seen)
	}
	out := make(map[string]float64, len(n.genes))
	for i, g := range n.genes {
		if _, ok := space[g.Name]; ok {
			out[g.Name] = float64(child[i])
		}
	}
	return out, nil
}

// advance forms every population that the completed trials allow. It
// reports whether gens changed.
func (n *nsga2) advance(gens *[]generation, results []Result, byNumber map[int]individual) bool {
	seen := map[int]bool{}
	for _, g := range *gens {
		for _, num := range g.Pool {
			seen[num] = true
		}
	}
	var fresh []int
	for _, r := range results {
		if !seen[r.Number] {
			fresh = append(fresh, r.Number)
		}
	}
	if len(fresh) < n.pop {
		return false
	}
	var prev []int
	if len(*gens) > 0 {
		prev = (*gens)[len(*gens)-1].Members
	}
	*gens = append(*gens, generation{Pool: fresh, Members: n.selectMembers(prev, fresh, byNumber)})
	return true
}

// selectMembers is one selection: the trial numbers, ascending, of the
// best Population of the previous population's members and a pool.
func (n *nsga2) selectMembers(prev, pool []int, byNumber map[int]individual) []int {
	inds := make([]individual, 0, len(prev)+len(pool))
	for _, num := range slices.Concat(prev, pool) {
		inds = append(inds, byNumber[num])
	}
	sel := selectBest(inds, n.pop)
	members := make([]int, len(sel))
	for i, ind := range sel {
		members[i] = ind.number
	}
	slices.Sort(members)
	return members
}

// reselect re-forms the populations that a revised trial's outcome
// (Optimizer.Revise) took part in choosing: from the first generation whose
// pool holds a revised trial on, each population is again the best
// Population members of the previous population and the generation's
// pool, with the outcomes as they are now. The pools (which trials entered
// which selection) are kept. It is a function of the stored pools and
// outcomes, so a restarted coordinator re-forms the same populations; it
// reports whether a population changed. Without revisions it does
// nothing, so populations are then exactly those first formed.
func (n *nsga2) reselect(gens []generation, byNumber map[int]individual, revised map[int]bool) bool {
	from := slices.IndexFunc(gens, func(g generation) bool {
		return slices.ContainsFunc(g.Pool, func(num int) bool { return revised[num] })
	})
	if from < 0 {
		return false
	}
	changed := false
	for i := from; i < len(gens); i++ {
		var prev []int
		if i > 0 {
			prev = gens[i-1].Members
		}
		members := n.selectMembers(prev, gens[i].Pool, byNumber)
		if !slices.Equal(members, gens[i].Members) {
			gens[i].Members, changed = members, true
		}
	}
	return changed
}

// rankCrowding returns each individual's constrained non-dominated rank and
// crowding distance within its front.
func rankCrowding(pop []individual) (rank []int, crowd []float64) {
	pts := make([][]float64, len(pop))
	viol := make([]float64, len(pop))
	for i, ind := range pop {
		pts[i], viol[i] = ind.objs, ind.violation
	}
	rank = make([]int, len(pop))
	crowd = make([]float64, len(pop))
	for k, f := range pareto.ConstrainedSort(pts, viol) {
		d := pareto.CrowdingDistance(pts, f)
		for j, i := range f {
			rank[i], crowd[i] = k, d[j]
		}
	}
	return rank, crowd
}

// selectBest keeps the best n of pool by rank, then crowding distance
// (larger first), then trial number.
func selectBest(pool []individual, n int) []individual {
	slices.SortFunc(pool, func(a, b individual) int { return a.number - b.number })
	rank, crowd := rankCrowding(pool)
	idx := make([]int, len(pool))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if c := cmp.Compare(rank[a], rank[b]); c != 0 {
			return c
		}
		if c := cmp.Compare(crowd[b], crowd[a]); c != 0 {
			return c
		}
		return cmp.Compare(pool[a].number, pool[b].number)
	})
	out := make([]individual, 0, n)
	for _, i := range idx[:min(n, len(idx))] {
		out = append(out, pool[i])
	}
	return out
}

func (n *nsga2) randomGenome(r *rand.Rand) Genome {
	var g Genome
	for try := 0; try < maxRemake; try++ {
		g = make(Genome, len(n.genes))
		for i, gene := range n.genes {
			g[i] = r.IntN(len(gene.Choices))
		}
		if n.admit(g) {
			break
		}
	}
	return g
}

// offspring makes one child of the population; seen holds the keys of the
// architectures evaluated so far.
func (n *nsga2) offspring(r *rand.Rand, pop []individual, seen map[string]bool) Genome {
	rank, crowd := rankCrowding(pop)
	tournament := func() Genome {
		a, b := r.IntN(len(pop)), r.IntN(len(pop))
		switch {
		case rank[a] != rank[b]:
			if rank[b] < rank[a] {
				a = b
			}
		case crowd[a] != crowd[b]:
			if crowd[b] > crowd[a] {
				a = b
			}
		}
		return pop[a].genome
	}
	var child Genome
	for try := 0; try < maxRemake; try++ {
		p1, p2 := tournament(), tournament()
		child = slices.Clone(p1)
		if r.Float64() < n.pc && len(child) > 1 {
			i, j := r.IntN(len(child)+1), r.IntN(len(child)+1)
			if i > j {
				i, j = j, i
			}
			copy(child[i:j], p2[i:j])
		}
		for i, gene := range n.genes {
			if len(gene.Choices) > 1 && r.Float64() < n.pm {
				c := r.IntN(len(gene.Choices) - 1)
				if c >= child[i] {
					c++
				}
				child[i] = c
			}
		}
		if n.admit(child) && !seen[n.key(child)] {
			break
		}
	}
	return child
}

// key identifies the architecture a genome decodes to (genes a candidate
// does not use are ignored).
func (n *nsga2) key(g Genome) string {
	s, err := n.spec.Space.Decode(g)
	if err != nil {
		return fmt.Sprint(g)
	}
	return s.Hash()
}

// trialKey is key(g) for trial number `number`, cached.
func (n *nsga2) trialKey(number int, g Genome) string {
	if k, ok := n.keys[number]; ok {
		return k
	}
	if n.keys == nil {
		n.keys = map[int]string{}
	}
	k := n.key(g)
	n.keys[number] = k
	return k
}

// genomeOf reads a trial's genome; ok is false while genes are missing.
func genomeOf(t goptuna.FrozenTrial, genes []Gene) (Genome, bool) {
	g := make(Genome, len(genes))
	for i, gene := range genes {
		v, ok := t.InternalParams[gene.Name]
		if !ok {
			return nil, false
		}
		g[i] = int(v)
	}
	return g, true
}
