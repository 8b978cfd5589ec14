package search

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/sobol"
	"github.com/hilsearch/hilsearch/arch"
)

// Trial system-attribute keys written by the optimizer. A goptuna.Storage
// implementation must persist system attributes of trials and studies.
const (
	// AttrValues holds the outcome's objective values (JSON array, natural units).
	AttrValues = "hil:values"
	// AttrViolation holds the outcome's constraint violation.
	AttrViolation = "hil:violation"
	// AttrParams holds the candidate's parameter count.
	AttrParams = "hil:params"
	// AttrRejected holds the reason a candidate was rejected before any
	// device time (RejectParamBudget, RejectAttentionLayers,
	// RejectNotExportable, RejectDuplicate).
	AttrRejected = "hil:rejected"
	// AttrFailed holds the reason a trial failed.
	AttrFailed = "hil:failed"
	// AttrScreened holds the predicted outcome (JSON Outcome) of a
	// candidate that predictor screening did not send to a device.
	AttrScreened = "hil:screened"
	// AttrWeights holds TPE-ParEGO's scalarisation weights of the trial.
	AttrWeights = "parego:weights"
	// StudyAttrPopulations holds NSGA-II's populations (study attribute).
	StudyAttrPopulations = "nsga2:populations"
)

// DefaultMaxAttempts bounds the candidates one Ask may reject.
const DefaultMaxAttempts = 1000

// Candidate is one architecture handed out by Ask.
type Candidate struct {
	// TrialID is goptuna's trial ID; pass it to Tell or Fail.
	TrialID int
	// Number is the trial's number within the study (0-based, consecutive,
	// rejected candidates included).
	Number int
	// Genome is the sampled choice per gene (Space.Genes order).
	Genome Genome
	// Choices maps each gene name to its chosen label.
	Choices map[string]string
	// Arch is the decoded architecture.
	Arch arch.Spec
	// Params is its exact parameter count.
	Params int64
	// Rejected counts the candidates this Ask rejected before this one.
	Rejected int
}

// Optimizer drives one search's trials through a goptuna study with an
// ask/tell interface. Its state lives in the storage: a new Optimizer over
// the same storage and study name continues where an old one stopped. It is
// safe for concurrent use, but two Optimizers must never drive one study
// at the same time (the coordinator holds an advisory lock per search).
type Optimizer struct {
	mu       sync.Mutex
	spec     *Spec
	space    *Space
	genes    []Gene
	dists    map[string]interface{}
	storage  goptuna.Storage
	study    *goptuna.Study
	sampler  goptuna.Sampler
	relative goptuna.RelativeSampler
	view     *scalarView // tpe-parego only
	sobol    *sobolState // sobol only
	// hashes caches the architecture hash of every trial number whose
	// trial is running or complete (derived from the storage).
	hashes map[int]string
	// MaxAttempts bounds the candidates one Ask may reject. Defaults to
	// DefaultMaxAttempts.
	MaxAttempts int
}

// NewOptimizer opens (or creates) the goptuna study named study in storage
// for the spec s and returns an optimizer for it. It fills s's zero fields
// with their defaults (ApplyDefaults) and validates it.
func NewOptimizer(s *Spec, storage goptuna.Storage, study string) (*Optimizer, error) {
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("new optimizer: %w", err)
	}
	o := &Optimizer{
		spec:        s,
		space:       &s.Space,
		genes:       s.Space.Genes(),
		dists:       s.Space.SearchSpace(),
		storage:     storage,
		MaxAttempts: DefaultMaxAttempts,
		hashes:      map[int]string{},
	}
	st := storage
	switch s.Algorithm {
	case AlgoRandom:
		o.sampler = newSeededRandom(s.Seed)
	case AlgoSobol:
		o.sampler = newSeededRandom(s.Seed)
		o.sobol = &sobolState{}
	case AlgoNSGA2:
		o.sampler = newSeededRandom(s.Seed)
		o.relative = newNSGA2(s, o.genes, o.admissible)
	case AlgoTPEParEGO:
		o.view = &scalarView{Storage: storage}
		st = o.view
		o.sampler = newSeededTPE(s.Seed, s.TPE.StartupTrials, s.TPE.EICandidates)
	default:
		return nil, fmt.Errorf("new optimizer: algorithm %q: %w", s.Algorithm, ErrInvalidSpec)
	}
	opts := []goptuna.StudyOption{
		goptuna.StudyOptionStorage(st),
		goptuna.StudyOptionSampler(o.sampler),
		goptuna.StudyOptionDirection(goptuna.StudyDirectionMinimize),
		goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionLoadIfExists(true),
		goptuna.StudyOptionDefineSearchSpace(o.dists),
	}
	if o.relative != nil {
		opts = append(opts, goptuna.StudyOptionRelativeSampler(o.relative))
	}
	gs, err := goptuna.CreateStudy(study, opts...)
	if err != nil {
		return nil, fmt.Errorf("new optimizer: open study %q: %w", study, err)
	}
	o.study = gs
	return o, nil
}

// Study returns the underlying goptuna study.
func (o *Optimizer) Study() *goptuna.Study { return o.study }

// Spec returns the search spec.
func (o *Optimizer) Spec() *Spec { return o.spec }

// admissible reports whether a genome decodes to an admissible candidate.
func (o *Optimizer) admissible(g Genome) bool {
	s, err := o.space.Decode(g)
	if err != nil {
		return false
	}
	_, reason := o.spec.Admit(&s)
	return reason == ""
}

// Ask samples the next admissible candidate. Candidates that break the
// parameter budget or attention-layer bounds, or that the spec's export
// format cannot express (Spec.Admit), are stored as pruned trials
// with AttrRejected and never returned; after MaxAttempts of them Ask
// returns ErrSpaceExhausted.
func (o *Optimizer) Ask(ctx context.Context) (Candidate, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rejected := 0
	for attempt := 0; attempt < o.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return Candidate{}, fmt.Errorf("ask: %w", err)
		}
		c, reason, err := o.sampleOne()
		if err != nil {
			return Candidate{}, fmt.Errorf("ask: %w", err)
		}
		if reason == "" {
			c.Rejected = rejected
			return c, nil
		}
		rejected++
	}
	return Candidate{}, fmt.Errorf("ask: %d candidates rejected: %w", rejected, ErrSpaceExhausted)
}

// sampleOne creates one trial, samples every gene and checks admission. A
// rejected trial is finished as pruned with the reason.
func (o *Optimizer) sampleOne() (Candidate, string, error) {
	id, err := o.storage.CreateNewTrial(o.study.ID)
	if err != nil {
		return Candidate{}, "", fmt.Errorf("create trial: %w", err)
	}
	number, err := o.storage.GetTrialNumberFromID(id)
	if err != nil {
		return Candidate{}, "", fmt.Errorf("trial %d number: %w", id, err)
	}
	if o.view != nil {
		if err := o.view.prepare(o, id, number); err != nil {
			return Candidate{}, "", err
		}
		defer o.view.release()
	}
	frozen, err := o.storage.GetTrial(id)
	if err != nil {
		return Candidate{}, "", fmt.Errorf("get trial %d: %w", id, err)
	}
	var rel map[string]float64
	switch {
	case o.relative != nil:
		rel, err = o.relative.SampleRelative(o.study, frozen, o.dists)
	case o.sobol != nil:
		rel, err = o.sobol.sample(o.study, frozen, o.dists, number)
	}
	if err != nil {
		return Candidate{}, "", fmt.Errorf("trial %d: relative sampling: %w", number, err)
	}
	g := make(Genome, len(o.genes))
	choices := make(map[string]string, len(o.genes))
	for i, gene := range o.genes {
		d := o.dists[gene.Name]
		v, ok := rel[gene.Name]
		if !ok {
			v, err = o.sampler.Sample(o.study, frozen, gene.Name, d)
			if err != nil {
				return Candidate{}, "", fmt.Errorf("trial %d: sample %s: %w", number, gene.Name, err)
			}
		}
		c := int(v)
		if c < 0 || c >= len(gene.Choices) || float64(c) != v {
			return Candidate{}, "", fmt.Errorf("trial %d: sampler gave %s = %g, outside its %d choices", number, gene.Name, v, len(gene.Choices))
		}
		if err := o.storage.SetTrialParam(id, gene.Name, v, d); err != nil {
			return Candidate{}, "", fmt.Errorf("trial %d: set %s: %w", number, gene.Name, err)
		}
		g[i] = c
		choices[gene.Name] = gene.Choices[c]
	}
	s, err := o.space.Decode(g)
	if err != nil {
		return Candidate{}, "", err
	}
	params, reason := o.spec.Admit(&s)
	if reason == "" {
		dup, err := o.duplicate(s.Hash(), number)
		if err != nil {
			return Candidate{}, "", err
		}
		if dup {
			reason = RejectDuplicate
		}
	}
	if err := o.storage.SetTrialSystemAttr(id, AttrParams, strconv.FormatInt(params, 10)); err != nil {
		return Candidate{}, "", fmt.Errorf("trial %d: %w", number, err)
	}
	if reason != "" {
		if err := o.storage.SetTrialSystemAttr(id, AttrRejected, reason); err != nil {
			return Candidate{}, "", fmt.Errorf("trial %d: %w", number, err)
		}
		if err := o.storage.SetTrialState(id, goptuna.TrialStatePruned); err != nil {
			return Candidate{}, "", fmt.Errorf("trial %d: reject: %w", number, err)
		}
		return Candidate{}, reason, nil
	}
	o.hashes[number] = s.Hash()
	return Candidate{TrialID: id, Number: number, Genome: g, Choices: choices, Arch: s, Params: params}, "", nil
}

// proposed reports whether a trial's architecture counts as proposed for
// the duplicate check: running, complete, or screened out.
func proposed(t goptuna.FrozenTrial) bool {
	if t.State == goptuna.TrialStateRunning || t.State == goptuna.TrialStateComplete {
		return true
	}
	_, screened := t.SystemAttrs[AttrScreened]
	return t.State == goptuna.TrialStatePruned && screened
}

// duplicate reports whether an architecture with hash h is already
// running, complete or screened out in the study (trial `self` excluded).
func (o *Optimizer) duplicate(h string, self int) (bool, error) {
	trials, err := o.storage.GetAllTrials(o.study.ID)
	if err != nil {
		return false, fmt.Errorf("duplicate check: %w", err)
	}
	for _, t := range trials {
		if t.Number == self || !proposed(t) {
			continue
		}
		th, ok := o.hashes[t.Number]
		if !ok {
			g, complete := genomeOf(t, o.genes)
			if !complete {
				continue // a trial being sampled by a crashed process
			}
			a, err := o.space.Decode(g)
			if err != nil {
				return false, fmt.Errorf("duplicate check: trial %d: %w", t.Number, err)
			}
			th = a.Hash()
			o.hashes[t.Number] = th
		}
		if th == h {
			return true, nil
		}
	}
	return false, nil
}

// Tell records a finished trial's outcome and completes it.
func (o *Optimizer) Tell(trialID int, out Outcome) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.checkOutcome(out); err != nil {
		return fmt.Errorf("tell trial %d: %w", trialID, err)
	}
	if err := o.running(trialID); err != nil {
		return fmt.Errorf("tell: %w", err)
	}
	value, attrs, err := o.outcomeRecord(out)
	if err != nil {
		return fmt.Errorf("tell trial %d: %w", trialID, err)
	}
	for _, k := range []string{AttrValues, AttrViolation} {
		if err := o.storage.SetTrialSystemAttr(trialID, k, attrs[k]); err != nil {
			return fmt.Errorf("tell trial %d: %w", trialID, err)
		}
	}
	if err := o.storage.SetTrialValue(trialID, value); err != nil {
		return fmt.Errorf("tell trial %d: %w", trialID, err)
	}
	if err := o.storage.SetTrialState(trialID, goptuna.TrialStateComplete); err != nil {
		return fmt.Errorf("tell trial %d: %w", trialID, err)
	}
	return nil
}

// outcomeRecord is how a trial's outcome is stored in its goptuna trial:
// goptuna's single value (the first objective, minimised) and the system
// attributes AttrValues and AttrViolation, which the samplers read.
func (o *Optimizer) outcomeRecord(out Outcome) (float64, map[string]string, error) {
	vals, err := json.Marshal(out.Values)
	if err != nil {
		return 0, nil, err
	}
	return o.spec.Minimized(out.Values)[0], map[string]string{
		AttrValues:    string(vals),
		AttrViolation: strconv.FormatFloat(out.Violation, 'g', -1, 64),
	}, nil
}

// checkOutcome refuses an outcome that does not fit the spec's objectives
// or holds a value that is not finite.
func (o *Optimizer) checkOutcome(out Outcome) error {
	if len(out.Values) != len(o.spec.Objectives) {
		return fmt.Errorf("%w: %d values for %d objectives", ErrBadOutcome, len(out.Values), len(o.spec.Objectives))
	}
	for i, v := range out.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: value %d is %g", ErrBadOutcome, i, v)
		}
	}
	if !(out.Violation >= 0) || math.IsInf(out.Violation, 0) {
		return fmt.Errorf("%w: violation %g", ErrBadOutcome, out.Violation)
	}
	return nil
}

// Fail marks a trial failed with a reason (for example a measurement error).
// Failed trials are ignored by every optimizer.
func (o *Optimizer) Fail(trialID int, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.running(trialID); err != nil {
		return fmt.Errorf("fail: %w", err)
	}
	if err := o.storage.SetTrialSystemAttr(trialID, AttrFailed, reason); err != nil {
		return fmt.Errorf("fail trial %d: %w", trialID, err)
	}
	if err := o.storage.SetTrialState(trialID, goptuna.TrialStateFail); err != nil {
		return fmt.Errorf("fail trial %d: %w", trialID, err)
	}
	return nil
}

func (o *Optimizer) running(trialID int) error {
	t, err := o.storage.GetTrial(trialID)
	if err != nil {
		return fmt.Errorf("trial %d: %w: %w", trialID, ErrUnknownTrial, err)
	}
	sid, err := o.storage.GetStudyIDFromTrialID(trialID)
	if err != nil {
		return fmt.Errorf("trial %d: %w: %w", trialID, ErrUnknownTrial, err)
	}
	if sid != o.study.ID || t.State != goptuna.TrialStateRunning {
		return fmt.Errorf("trial %d (state %s): %w", trialID, t.State, ErrUnknownTrial)
	}
	return nil
}

// Rejections counts the rejected candidates of the study by reason.
func (o *Optimizer) Rejections() (map[string]int, error) {
	trials, err := o.storage.GetAllTrials(o.study.ID)
	if err != nil {
		return nil, fmt.Errorf("rejections: %w", err)
	}
	out := map[string]int{}
	for _, t := range trials {
		if r, ok := t.SystemAttrs[AttrRejected]; ok {
			out[r]++
		}
	}
	return out, nil
}

// Result is a completed trial as the optimizers see it.
type Result struct {
	// Number is the trial number.
	Number int
	// Genome is the trial's choice per gene.
	Genome Genome
	// Outcome is what Tell recorded.
	Outcome Outcome
}

// Results returns the completed trials of the study in number order.
func (o *Optimizer) Results() ([]Result, error) {
	trials, err := o.storage.GetAllTrials(o.study.ID)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	return completedResults(trials, o.genes)
}

// completedResults decodes the completed trials (with recorded values) in
// number order.
func completedResults(trials []goptuna.FrozenTrial, genes []Gene) ([]Result, error) {
	var out []Result
	for _, t := range trials {
		if t.State != goptuna.TrialStateComplete {
			continue
		}
		raw, ok := t.SystemAttrs[AttrValues]
		if !ok {
			continue
		}
		var r Result
		r.Number = t.Number
		if err := json.Unmarshal([]byte(raw), &r.Outcome.Values); err != nil {
			return nil, fmt.Errorf("trial %d: %s: %w", t.Number, AttrValues, err)
		}
		if v, ok := t.SystemAttrs[AttrViolation]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("trial %d: %s: %w", t.Number, AttrViolation, err)
			}
			r.Outcome.Violation = f
		}
		r.Genome = make(Genome, len(genes))
		for i, g := range genes {
			v, ok := t.InternalParams[g.Name]
			if !ok {
				return nil, fmt.Errorf("trial %d: gene %s not sampled", t.Number, g.Name)
			}
			r.Genome[i] = int(v)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Result) int { return a.Number - b.Number })
	return out, nil
}

// trialRand is the random source of one trial: a PCG stream keyed by the
// search seed, the trial number and a purpose, so that a trial's draws do
// not depend on which process makes them or in what order.
func trialRand(seed int64, number int, purpose string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(purpose))
	return rand.New(rand.NewPCG(uint64(seed)^h.Sum64(), uint64(number)))
}

// seededRandom is goptuna's RandomSampler with one change: categorical
// draws come from a per-trial, per-parameter stream of the search seed.
// goptuna v0.9.0's RandomSampler draws categorical indices from the global
// math/rand source and ignores its seed, so a search could not be
// reproduced (nor resumed identically after a restart).
type seededRandom struct {
	seed  int64
	inner *goptuna.RandomSampler
}

func newSeededRandom(seed int64) *seededRandom {
	return &seededRandom{seed: seed, inner: goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(seed))}
}

// Sample implements goptuna.Sampler.
func (s *seededRandom) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist interface{}) (float64, error) {
	if d, ok := dist.(goptuna.CategoricalDistribution); ok {
		return float64(trialRand(s.seed, trial.Number, "random:"+name).IntN(len(d.Choices))), nil
	}
	return s.inner.Sample(study, trial, name, dist)
}

// sobolState wraps goptuna's Sobol sampler. Its engine keeps the sequence
// position in memory; trial n takes point n of the sequence, so after a
// restart the engine is advanced to the trial's number first.
type sobolState struct {
	s     *sobol.Sampler
	drawn int
}

func (st *sobolState) sample(study *goptuna.Study, trial goptuna.FrozenTrial, space map[string]interface{}, number int) (map[string]float64, error) {
	if st.s == nil || st.drawn > number {
		st.s, st.drawn = sobol.NewSampler(), 0
	}
	for st.drawn < number {
		if _, err := st.s.SampleRelative(study, trial, space); err != nil {
			return nil, err
		}
		st.drawn++
	}
	st.drawn++
	return st.s.SampleRelative(study, trial, space)
}
