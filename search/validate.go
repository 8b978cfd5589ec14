package search

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/workload"
)

// Defaults applied by Parse (and by ApplyDefaults) to zero fields.
const (
	// DefaultAlgorithm is the algorithm of a spec that names none.
	DefaultAlgorithm = AlgoNSGA2
	// DefaultNormEps is Space.NormEps's default (LFM2's).
	DefaultNormEps = 1e-5
	// DefaultRopeTheta is the RoPE base of gqa and swa (LFM2's).
	DefaultRopeTheta = 1e6
	// DefaultFFNMultipleOf rounds ratio FFN widths (LFM2's).
	DefaultFFNMultipleOf = 256
	// DefaultPopulation is NSGA-II's population (STAR's).
	DefaultPopulation = 16
	// DefaultCrossover is NSGA-II's crossover probability.
	DefaultCrossover = 0.9
	// DefaultMutation is NSGA-II's per-gene mutation probability (STAR's).
	DefaultMutation = 0.1
	// DefaultStartupTrials is TPE's number of random trials first.
	DefaultStartupTrials = 10
	// DefaultEICandidates is TPE's candidates per gene (see TPEOptions).
	DefaultEICandidates = 1
	// DefaultRho is ParEGO's augmentation weight.
	DefaultRho = 0.05
	// MaxObjectives is the largest number of objectives; hypervolume is
	// computed exactly up to it.
	MaxObjectives = 5
)

var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ApplyDefaults fills zero fields with their defaults. Parse calls it; call
// it yourself for a Spec built in Go before Validate.
func (s *Spec) ApplyDefaults() { s.applyDefaults() }

func (s *Spec) applyDefaults() {
	sp := &s.Space
	if sp.NormEps == 0 {
		sp.NormEps = DefaultNormEps
	}
	if sp.MaxContext == 0 {
		sp.MaxContext = max(DefaultMaxContext, buildContext(&s.Workload))
	}
	if len(sp.FFN.Ratios) > 0 && sp.FFN.MultipleOf == 0 {
		sp.FFN.MultipleOf = DefaultFFNMultipleOf
	}
	if sp.Mixers.GQA != nil && sp.Mixers.GQA.RopeTheta == 0 {
		sp.Mixers.GQA.RopeTheta = DefaultRopeTheta
	}
	if sp.Mixers.SWA != nil && sp.Mixers.SWA.RopeTheta == 0 {
		sp.Mixers.SWA.RopeTheta = DefaultRopeTheta
	}
	for i := range s.Objectives {
		o := &s.Objectives[i]
		m, _ := splitMetric(o.Metric)
		if o.Direction == "" && m.Valid() {
			o.Direction = m.NaturalDirection()
		}
		if o.At == 0 {
			o.At = defaultAt(&s.Workload, m)
		}
	}
	for i := range s.Constraints {
		c := &s.Constraints[i]
		m, _ := splitMetric(c.Metric)
		if c.At == 0 {
			c.At = defaultAt(&s.Workload, m)
		}
	}
	if s.Budget.MaxInFlightPerDevice == 0 {
		s.Budget.MaxInFlightPerDevice = 1
	}
	if s.Algorithm == "" {
		s.Algorithm = DefaultAlgorithm
	}
	if s.Algorithm == AlgoNSGA2 {
		if s.NSGA2 == nil {
			s.NSGA2 = &NSGA2Options{}
		}
		if s.NSGA2.Population == 0 {
			s.NSGA2.Population = DefaultPopulation
		}
		if s.NSGA2.Crossover == 0 {
			s.NSGA2.Crossover = DefaultCrossover
		}
		if s.NSGA2.Mutation == 0 {
			s.NSGA2.Mutation = DefaultMutation
		}
	}
	if s.Guard != nil && s.Guard.MinSpearman == 0 {
		s.Guard.MinSpearman = DefaultMinSpearman
	}
	if s.Algorithm == AlgoTPEParEGO {
		if s.TPE == nil {
			s.TPE = &TPEOptions{}
		}
		if s.TPE.StartupTrials == 0 {
			s.TPE.StartupTrials = DefaultStartupTrials
		}
		if s.TPE.EICandidates == 0 {
			s.TPE.EICandidates = DefaultEICandidates
		}
		if s.TPE.Rho == 0 {
			s.TPE.Rho = DefaultRho
		}
	}
}

// DefaultMaxContext is the default max_context of a space's candidates:
// 128,000 positions, the max_position_embeddings of the released LFM2
// models (arch's LFM2 presets). It is what the HF and GGUF exports write
// as the context length, so it is a property of the family, not of the
// workload: a candidate measured at 512 tokens is still a model for long
// contexts. A workload longer than it raises it (buildContext).
const DefaultMaxContext = 128000

// buildContext is the context the workload needs the candidates to hold:
// room to decode the workload's decode tokens after every prompt length
// and every depth.
func buildContext(w *workload.Workload) int {
	m := 0
	for _, v := range w.PromptLengths {
		m = max(m, v+w.DecodeTokens)
	}
	for _, v := range w.DecodeDepths {
		m = max(m, v+w.DecodeTokens)
	}
	return m
}

// contexts lists the values At may take for k.
func contexts(w *workload.Workload, k AtKind) []int {
	switch k {
	case AtPrompt:
		return w.PromptLengths
	case AtDepth:
		return w.DecodeDepths
	case AtContext:
		c := append(slices.Clone(w.PromptLengths), w.DecodeDepths...)
		slices.Sort(c)
		return slices.Compact(c)
	}
	return nil
}

func defaultAt(w *workload.Workload, m Metric) int {
	k := m.AtKind()
	c := contexts(w, k)
	if len(c) == 0 {
		return 0
	}
	if k == AtContext {
		return c[len(c)-1]
	}
	return c[0]
}

// Upper bounds of a spec's counts. Trials are numbered in a PostgreSQL
// int and every count is work the coordinator does, so a spec beyond them
// is refused, never stored.
const (
	// MaxTrials bounds budget.max_trials and tpe.startup_trials.
	MaxTrials = 1_000_000
	// MaxInFlightPerDevice bounds budget.max_in_flight_per_device.
	MaxInFlightPerDevice = 1024
	// MaxPopulation bounds nsga2.population.
	MaxPopulation = 10_000
	// MaxEICandidates bounds tpe.ei_candidates.
	MaxEICandidates = 100_000
)

// Validate checks the spec (after defaults) and reports every problem in a
// *ValidationError naming the field. It includes the analytic check that
// some candidate of the space can meet the parameter budget.
func (s *Spec) Validate() error {
	var fe fieldErrs
	s.Space.validate(&fe, "space")
	validateWorkload(&s.Workload, &fe)
	targets := map[string]bool{}
	if len(s.Targets) == 0 && s.needsTargets() {
		fe.add("targets", "at least one target is needed for device metrics")
	}
	for i, t := range s.Targets {
		f := fmt.Sprintf("targets[%d]", i)
		switch {
		case !targetName.MatchString(t.Name):
			fe.add(f+".name", fmt.Sprintf("invalid target name %q (lower-case letters, digits, '-', '_')", t.Name))
		case targets[t.Name]:
			fe.add(f+".name", fmt.Sprintf("duplicate target %q", t.Name))
		}
		targets[t.Name] = true
		if len(t.Devices) == 0 && t.Class == "" && len(t.Tags) == 0 {
			fe.add(f, "select devices, a class or tags")
		}
		for j, d := range t.Devices {
			if d == "" {
				fe.add(fmt.Sprintf("%s.devices[%d]", f, j), "empty device id")
			}
		}
	}
	if s.Export != "" && !slices.Contains(arch.Formats, s.Export) {
		fe.add("export", fmt.Sprintf("must be %q or %q (or absent), got %q", arch.FormatHF, arch.FormatGGUF, s.Export))
	}
	if len(s.Objectives) == 0 {
		fe.add("objectives", "missing: at least one objective is needed")
	}
	if len(s.Objectives) > MaxObjectives {
		fe.add("objectives", fmt.Sprintf("at most %d objectives are supported, got %d", MaxObjectives, len(s.Objectives)))
	}
	seen := map[string]int{}
	for i, o := range s.Objectives {
		f := fmt.Sprintf("objectives[%d]", i)
		s.validateMetricRef(&fe, f, o.Metric, o.At, targets)
		// An unknown metric has no natural direction to default to: its
		// own error is enough. A score's defaults to the one its evaluator
		// declares (ResolveScores).
		if m, _ := splitMetric(o.Metric); (o.Direction != "" || m.Valid()) && o.Direction != Minimize && o.Direction != Maximize {
			fe.add(f+".direction", fmt.Sprintf("must be %q or %q, got %q", Minimize, Maximize, o.Direction))
		}
		key := fmt.Sprintf("%s:%d", o.Metric, o.At)
		if j, dup := seen[key]; dup {
			fe.add(f+".metric", fmt.Sprintf("same objective as objectives[%d]", j))
		}
		seen[key] = i
	}
	s.validateEvaluators(&fe, targets)
	for i, c := range s.Constraints {
		f := fmt.Sprintf("constraints[%d]", i)
		s.validateMetricRef(&fe, f, c.Metric, c.At, targets)
		switch {
		case c.Min == nil && c.Max == nil:
			fe.add(f, "give min, max or both")
		case c.Min != nil && c.Max != nil && *c.Min > *c.Max:
			fe.add(f+".min", fmt.Sprintf("min %g is above max %g", *c.Min, *c.Max))
		}
		for _, b := range []*float64{c.Min, c.Max} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				fe.add(f, "bounds must be finite")
			}
		}
	}
	b := s.Budget
	if b.MaxTrials == 0 {
		fe.add("budget.max_trials", "missing (how many trials to measure, at least 1)")
	} else if b.MaxTrials < 1 || b.MaxTrials > MaxTrials {
		fe.add("budget.max_trials", fmt.Sprintf("must be between 1 and %d, got %d", MaxTrials, b.MaxTrials))
	}
	if b.MaxWallTime != "" {
		if d, err := time.ParseDuration(b.MaxWallTime); err != nil {
			fe.add("budget.max_wall_time", fmt.Sprintf("not a duration: %q", b.MaxWallTime))
		} else if d <= 0 {
			fe.add("budget.max_wall_time", "must be positive")
		}
	}
	if b.MaxInFlightPerDevice < 1 || b.MaxInFlightPerDevice > MaxInFlightPerDevice {
		fe.add("budget.max_in_flight_per_device", fmt.Sprintf("must be between 1 and %d, got %d", MaxInFlightPerDevice, b.MaxInFlightPerDevice))
	}
	if !slices.Contains(Algorithms, s.Algorithm) {
		fe.add("algorithm", fmt.Sprintf("unknown algorithm %q (known: random, sobol, nsga2, tpe-parego)", s.Algorithm))
	}
	if s.NSGA2 != nil {
		if s.Algorithm != AlgoNSGA2 {
			fe.add("nsga2", "only allowed with algorithm nsga2")
		} else {
			if s.NSGA2.Population < 4 || s.NSGA2.Population > MaxPopulation {
				fe.add("nsga2.population", fmt.Sprintf("must be between 4 and %d, got %d", MaxPopulation, s.NSGA2.Population))
			}
			if !(s.NSGA2.Crossover >= 0 && s.NSGA2.Crossover <= 1) {
				fe.add("nsga2.crossover", "must be a probability in [0, 1]")
			}
			if !(s.NSGA2.Mutation > 0 && s.NSGA2.Mutation <= 1) {
				fe.add("nsga2.mutation", "must be a probability in (0, 1]")
			}
		}
	}
	if s.TPE != nil {
		if s.Algorithm != AlgoTPEParEGO {
			fe.add("tpe", "only allowed with algorithm tpe-parego")
		} else {
			if s.TPE.StartupTrials < 1 || s.TPE.StartupTrials > MaxTrials {
				fe.add("tpe.startup_trials", fmt.Sprintf("must be between 1 and %d", MaxTrials))
			}
			if s.TPE.EICandidates < 1 || s.TPE.EICandidates > MaxEICandidates {
				fe.add("tpe.ei_candidates", fmt.Sprintf("must be between 1 and %d", MaxEICandidates))
			}
			if !(s.TPE.Rho >= 0 && s.TPE.Rho <= 1) {
				fe.add("tpe.rho", "must be in [0, 1]")
			}
		}
	}
	if sc := s.Screening; sc != nil {
		switch {
		case sc.WarmupTrials < 0:
			fe.add("screening.warmup_trials", "must not be negative")
		case sc.Batch < 0 || sc.Batch > MaxScreenBatch:
			fe.add("screening.batch", fmt.Sprintf("must be between 1 and %d", MaxScreenBatch))
		case sc.Samples < 0 || sc.Samples > MaxScreenSamples:
			fe.add("screening.samples", fmt.Sprintf("must be between 1 and %d", MaxScreenSamples))
		}
	}
	if r := s.Remeasure; r != nil {
		switch {
		case r.Max < 0:
			fe.add("remeasure.max", "must not be negative (0: the default, a tenth of max_trials)")
		case r.MaxPerTrial < 0 || r.MaxPerTrial > MaxRemeasurePerTrial:
			fe.add("remeasure.max_per_trial", fmt.Sprintf("must be between 1 and %d (0: the default, %d)", MaxRemeasurePerTrial, DefaultMaxRemeasure))
		case !(r.Z >= 0 && r.Z <= MaxNoiseZ):
			fe.add("remeasure.z", fmt.Sprintf("must be between 0 and %d standard deviations (0: the default, %d)", MaxNoiseZ, DefaultNoiseZ))
		}
	}
	if g := s.Guard; g != nil && !(g.MinSpearman >= -1 && g.MinSpearman <= 1) {
		fe.add("guard.min_spearman", "must be in [-1, 1]")
	}
	if len(fe.list) == 0 && s.Export != "" {
		s.checkExportable(&fe)
	}
	return fe.err()
}

// checkExportable refuses an export requirement that no sampled candidate
// of the (valid) space meets: such a search would reject every candidate
// and fail without measuring anything.
func (s *Spec) checkExportable(fe *fieldErrs) {
	for _, x := range s.Space.ExportShares() {
		if x.Format == s.Export && x.Admissible > 0 && x.Share == 0 {
			fe.add("export", fmt.Sprintf("none of %d sampled candidates of the space can be exported as %s, most often because %s", x.Admissible, x.Format, x.Reason))
		}
	}
}

func (s *Spec) needsTargets() bool {
	for _, o := range s.Objectives {
		if m, _ := splitMetric(o.Metric); m != MetricParams && !s.isScoreRef(o.Metric) {
			return true
		}
	}
	return false
}

// validateMetricRef checks "metric@target" and its At.
func (s *Spec) validateMetricRef(fe *fieldErrs, f, ref string, at int, targets map[string]bool) {
	m, t := splitMetric(ref)
	switch {
	case ref == "":
		fe.add(f+".metric", "missing")
		return
	case s.isScoreRef(ref):
		validateScoreRef(fe, f, ref, at)
		return
	case !m.Valid():
		fe.add(f+".metric", fmt.Sprintf("unknown metric %q", string(m)))
		return
	case m == MetricParams:
		if t != "" {
			fe.add(f+".metric", "params takes no target")
		}
		if at != 0 {
			fe.add(f+".at", "params takes no at")
		}
		return
	case t == "":
		fe.add(f+".metric", fmt.Sprintf("metric %q needs a target: %q", string(m), string(m)+"@<target>"))
		return
	case !targets[t]:
		fe.add(f+".metric", fmt.Sprintf("target %q is not in targets", t))
	}
	if m == MetricDecodeP95 && s.Workload.RuntimeName() == workload.RuntimeLlamaCpp {
		fe.add(f+".metric", "runtime llama.cpp (llama-bench) times whole repetitions, not single tokens, so it gives no decode_ms_p95; use decode_ms_p50")
	}
	ctx := contexts(&s.Workload, m.AtKind())
	if !slices.Contains(ctx, at) {
		what := map[AtKind]string{AtPrompt: "workload.prompt_lengths", AtDepth: "workload.decode_depths", AtContext: "workload.prompt_lengths or workload.decode_depths"}[m.AtKind()]
		fe.add(f+".at", fmt.Sprintf("%d is not one of %s %v", at, what, ctx))
	}
}

// validateWorkload checks the workload with the one workload validator
// (workload.Check), then what a search needs on top: its metrics are read
// at prompt lengths and at decode depths, so it needs at least one of each.
func validateWorkload(w *workload.Workload, fe *fieldErrs) {
	if reflect.ValueOf(*w).IsZero() {
		fe.add("workload", "missing (give precision, threads, prompt_lengths, decode_depths and decode_tokens)")
		return
	}
	none := len(w.PromptLengths) == 0 && len(w.DecodeDepths) == 0
	w.Check(nil, func(field, msg string) {
		// Check accepts either list; a search needs both, said below.
		if none && field == "prompt_lengths" {
			return
		}
		fe.add("workload."+field, msg)
	})
	if len(w.PromptLengths) == 0 {
		fe.add("workload.prompt_lengths", "missing: at least one prompt length is needed")
	}
	if len(w.DecodeDepths) == 0 {
		fe.add("workload.decode_depths", "missing: at least one decode depth is needed (0 = empty context)")
	}
}

// positiveInts checks that every value is >= lo and that there are no
// duplicates.
func positiveInts(fe *fieldErrs, f string, v []int, lo int) {
	seen := map[int]bool{}
	for i, x := range v {
		if x < lo {
			fe.add(fmt.Sprintf("%s[%d]", f, i), fmt.Sprintf("must be at least %d, got %d", lo, x))
		}
		if seen[x] {
			fe.add(fmt.Sprintf("%s[%d]", f, i), fmt.Sprintf("duplicate value %d", x))
		}
		seen[x] = true
	}
}

func choices(fe *fieldErrs, f string, v []int, lo int) {
	if len(v) == 0 {
		fe.add(f, "no choices")
		return
	}
	positiveInts(fe, f, v, lo)
}

func (sp *Space) validate(fe *fieldErrs, f string) {
	n0 := len(fe.list)
	if sp.Vocab < 1 {
		fe.add(f+".vocab", fmt.Sprintf("must be at least 1, got %d", sp.Vocab))
	}
	if sp.NormEps <= 0 {
		fe.add(f+".norm_eps", "must be positive")
	}
	if sp.MaxContext < 1 {
		fe.add(f+".max_context", fmt.Sprintf("must be at least 1, got %d", sp.MaxContext))
	}
	if sp.Layers.Min < 1 {
		fe.add(f+".layers.min", fmt.Sprintf("must be at least 1, got %d", sp.Layers.Min))
	}
	if sp.Layers.Max < sp.Layers.Min {
		fe.add(f+".layers.max", fmt.Sprintf("%d is below min %d", sp.Layers.Max, sp.Layers.Min))
	}
	if sp.Layers.Max > MaxLayers {
		fe.add(f+".layers.max", fmt.Sprintf("at most %d layers, got %d", MaxLayers, sp.Layers.Max))
	}
	choices(fe, f+".hidden", sp.Hidden, 1)
	for i, h := range sp.Hidden {
		if h%arch.QuantBlock != 0 {
			fe.add(fmt.Sprintf("%s.hidden[%d]", f, i), fmt.Sprintf("%d is not a multiple of %d", h, arch.QuantBlock))
		}
	}
	m := sp.Mixers
	mf := f + ".mixers"
	if m.Conv == nil && m.GQA == nil && m.SWA == nil && m.LinearAttn == nil && m.SSM == nil {
		fe.add(mf, "empty space: no mixer is allowed")
	}
	if m.Conv != nil {
		choices(fe, mf+".conv.kernels", m.Conv.Kernels, 2)
	}
	if m.GQA != nil {
		m.GQA.validate(fe, mf+".gqa")
	}
	if m.SWA != nil {
		m.SWA.AttentionSpace.validate(fe, mf+".swa")
		choices(fe, mf+".swa.windows", m.SWA.Windows, 1)
	}
	if m.LinearAttn != nil {
		choices(fe, mf+".linear_attn.heads", m.LinearAttn.Heads, 1)
		choices(fe, mf+".linear_attn.head_dims", m.LinearAttn.HeadDims, 1)
	}
	if m.SSM != nil {
		sf := mf + ".ssm"
		choices(fe, sf+".head_dims", m.SSM.HeadDims, 1)
		choices(fe, sf+".states", m.SSM.States, 1)
		choices(fe, sf+".expands", m.SSM.Expands, 1)
		choices(fe, sf+".conv_kernels", m.SSM.ConvKernels, 2)
		for _, h := range sp.Hidden {
			for _, e := range m.SSM.Expands {
				for i, p := range m.SSM.HeadDims {
					if p > 0 && (e*h)%p != 0 {
						fe.add(fmt.Sprintf("%s.head_dims[%d]", sf, i), fmt.Sprintf("%d does not divide expand·hidden = %d·%d", p, e, h))
					}
				}
			}
		}
	}
	ff := f + ".ffn"
	switch {
	case len(sp.FFN.Widths) > 0 && len(sp.FFN.Ratios) > 0:
		fe.add(ff, "give widths or ratios, not both")
	case len(sp.FFN.Widths) > 0:
		positiveInts(fe, ff+".widths", sp.FFN.Widths, 0)
		for i, w := range sp.FFN.Widths {
			if w%arch.QuantBlock != 0 {
				fe.add(fmt.Sprintf("%s.widths[%d]", ff, i), fmt.Sprintf("%d is not a multiple of %d", w, arch.QuantBlock))
			}
		}
	case len(sp.FFN.Ratios) > 0:
		for i, r := range sp.FFN.Ratios {
			if !(r >= 0 && r <= 64) {
				fe.add(fmt.Sprintf("%s.ratios[%d]", ff, i), fmt.Sprintf("must be in [0, 64], got %g", r))
			}
		}
		if sp.FFN.MultipleOf < 1 || sp.FFN.MultipleOf%arch.QuantBlock != 0 {
			fe.add(ff+".multiple_of", fmt.Sprintf("must be a positive multiple of %d, got %d", arch.QuantBlock, sp.FFN.MultipleOf))
		}
	default:
		fe.add(ff, "empty space: give widths or ratios")
	}
	if sp.Params.Min < 0 {
		fe.add(f+".params.min", "must not be negative")
	}
	if sp.Params.Max < 1 {
		fe.add(f+".params.max", fmt.Sprintf("must be positive, got %d", sp.Params.Max))
	} else if sp.Params.Max < sp.Params.Min {
		fe.add(f+".params.max", fmt.Sprintf("%d is below min %d", sp.Params.Max, sp.Params.Min))
	}
	if a := sp.AttentionLayers; a != nil {
		af := f + ".attention_layers"
		hasAttn := m.GQA != nil || m.SWA != nil
		hasOther := m.Conv != nil || m.LinearAttn != nil || m.SSM != nil
		switch {
		case a.Min < 0:
			fe.add(af+".min", "must not be negative")
		case a.Max < a.Min:
			fe.add(af+".max", fmt.Sprintf("%d is below min %d", a.Max, a.Min))
		case a.Min > sp.Layers.Max:
			fe.add(af+".min", fmt.Sprintf("%d is above the largest layer count %d", a.Min, sp.Layers.Max))
		case a.Min > 0 && !hasAttn:
			fe.add(af+".min", "no attention mixer (gqa, swa) is allowed")
		case !hasOther && a.Max < sp.Layers.Min:
			fe.add(af+".max", "only attention mixers are allowed, so every layer is attention")
		}
	}
	if len(fe.list) > n0 {
		return // the extremes are meaningless for a broken space
	}
	for _, p := range sp.probeSpecs() {
		if err := p.Validate(); err != nil {
			fe.add(f, fmt.Sprintf("the space holds invalid networks (hidden %d, %s layer): %v", p.Hidden, p.Layers[0].Mixer, err))
			return
		}
	}
	lo, hi, err := sp.ParamRange()
	if err != nil {
		fe.add(f, err.Error())
		return
	}
	if hi < sp.Params.Min || lo > sp.Params.Max {
		fe.add(f+".params", fmt.Sprintf("no candidate can meet the budget [%d, %d]: the space spans [%d, %d] parameters", sp.Params.Min, sp.Params.Max, lo, hi))
	}
}

func (a *AttentionSpace) validate(fe *fieldErrs, f string) {
	choices(fe, f+".heads", a.Heads, 1)
	choices(fe, f+".kv_heads", a.KVHeads, 1)
	choices(fe, f+".head_dims", a.HeadDims, 1)
	for i, hd := range a.HeadDims {
		if hd%2 != 0 {
			fe.add(fmt.Sprintf("%s.head_dims[%d]", f, i), fmt.Sprintf("%d is odd (RoPE needs pairs)", hd))
		}
	}
	if len(a.Heads) > 0 && len(a.KVHeads) > 0 && len(a.pairs()) == 0 {
		fe.add(f+".kv_heads", "no kv_heads value divides any heads value")
	}
	if a.RopeTheta <= 0 {
		fe.add(f+".rope_theta", "must be positive")
	}
}

// pairs lists the valid (heads, kv_heads) pairs in a fixed order.
func (a *AttentionSpace) pairs() [][2]int {
	var out [][2]int
	for _, h := range a.Heads {
		for _, g := range a.KVHeads {
			if g > 0 && h > 0 && h%g == 0 {
				out = append(out, [2]int{h, g})
			}
		}
	}
	return out
}
