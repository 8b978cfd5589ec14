package search

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// randomSpecs draws n distinct admissible architectures of a preset.
func randomSpecs(t *testing.T, preset string, n int, seed uint64) []arch.Spec {
	t.Helper()
	s := &Spec{Workload: ReplayWorkload(), Objectives: []Objective{{Metric: "params"}}, Budget: Budget{MaxTrials: 1}, Algorithm: AlgoRandom}
	s.Space = mustPreset(t, preset)
	s.ApplyDefaults()
	genes := s.Space.Genes()
	r := rand.New(rand.NewPCG(seed, 1))
	seen := map[string]bool{}
	var out []arch.Spec
	for len(out) < n {
		g := make(Genome, len(genes))
		for i, gene := range genes {
			g[i] = r.IntN(len(gene.Choices))
		}
		a, err := s.Space.Decode(g)
		if err != nil {
			t.Fatal(err)
		}
		if _, reason := s.Space.Admit(&a); reason != "" || seen[a.Hash()] {
			continue
		}
		seen[a.Hash()] = true
		out = append(out, a)
	}
	return out
}

// synthetic makes exact observations of specs from known coefficients.
func synthetic(p *Predictor, specs []arch.Spec, truth map[MetricKey][]float64) []Observation {
	var obs []Observation
	for i := range specs {
		v := Values{}
		for k, c := range truth {
			_, x := p.features(k, &specs[i], specs[i].Tensors())
			var y float64
			for j := range x {
				y += c[j] * x[j]
			}
			v[k] = untarget(k, y)
		}
		obs = append(obs, Observation{Spec: specs[i], Values: v})
	}
	return obs
}

// syntheticTruth gives every metric of the replay workload positive
// coefficients of realistic magnitude (ms per unit), with some zeros.
func syntheticTruth(t *testing.T, p *Predictor) map[MetricKey][]float64 {
	r := rand.New(rand.NewPCG(9, 9))
	truth := map[MetricKey][]float64{}
	w := p.Workload
	keys := []MetricKey{{MetricPrefillTPS, 256}, {MetricTTFT, 256}, {MetricPeakRSS, 512}}
	for _, d := range w.DecodeDepths {
		keys = append(keys, MetricKey{MetricDecodeP50, d}, MetricKey{MetricDecodeP95, d})
	}
	ref := randomSpecs(t, PresetHybridTiny, 1, 77)[0]
	for _, k := range keys {
		names, _ := p.featureNames(k)
		_, x := p.features(k, &ref, ref.Tensors())
		c := make([]float64, len(names))
		for j := range c {
			if j%4 == 3 {
				continue // a zero coefficient
			}
			// Each feature contributes 1–20% of the reference network's value.
			c[j] = (0.01 + 0.2*r.Float64()) / math.Max(x[j], 1)
		}
		truth[k] = c
	}
	return truth
}

func TestPredictorRecoversKnownCoefficients(t *testing.T) {
	p := &Predictor{Workload: ReplayWorkload()}
	truth := syntheticTruth(t, p)
	sp := mustPreset(t, PresetHybridTiny)
	var specs []arch.Spec
	for _, pr := range sp.Probes() {
		specs = append(specs, pr.Spec(2048))
	}
	specs = append(specs, randomSpecs(t, PresetHybridTiny, 60, 1)...)
	p, err := FitPredictor(ReplayWorkload(), synthetic(p, specs, truth))
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range truth {
		m := p.Models[k]
		if m == nil {
			t.Fatalf("%s: no model", k)
		}
		ref := randomSpecs(t, PresetHybridTiny, 1, 77)[0]
		_, x := p.features(k, &ref, ref.Tensors())
		var total float64
		for j := range c {
			total += c[j] * x[j]
		}
		for j := range c {
			// Compare each term's share of a typical network's value.
			got, want := m.Coef[j]*x[j]/total, c[j]*x[j]/total
			if math.Abs(got-want) > 1e-4 {
				t.Errorf("%s: %s share %.6f, want %.6f", k, m.Features[j], got, want)
			}
		}
	}
	// Unseen networks are predicted exactly, with a small uncertainty.
	test := randomSpecs(t, PresetHybridTiny, 20, 2)
	want := synthetic(p, test, truth)
	for i := range test {
		pr, err := p.Predict(&test[i])
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want[i].Values {
			e := pr[k]
			if math.Abs(e.Mean/v-1) > 1e-4 {
				t.Errorf("%s of test %d: predicted %g, want %g", k, i, e.Mean, v)
			}
			if !(e.Std > 0) || e.Std > 0.05*v {
				t.Errorf("%s of test %d: std %g for value %g", k, i, e.Std, v)
			}
		}
	}
}

func TestPredictorJSONRoundTripAndRefit(t *testing.T) {
	p := &Predictor{Workload: ReplayWorkload()}
	truth := syntheticTruth(t, p)
	specs := randomSpecs(t, PresetHybridTiny, 40, 3)
	obs := synthetic(p, specs, truth)
	p, err := FitPredictor(ReplayWorkload(), obs[:30])
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q Predictor
	if err := json.Unmarshal(raw, &q); err != nil {
		t.Fatal(err)
	}
	probe := &specs[35]
	a, _ := p.Predict(probe)
	b, err := q.Predict(probe)
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range a {
		if b[k] != e {
			t.Errorf("%s: restored predictor gives %v, fitted %v", k, b[k], e)
		}
	}
	// Incremental: adding the rest equals fitting everything at once.
	if err := q.Add(obs[30:]...); err != nil {
		t.Fatal(err)
	}
	all, err := FitPredictor(ReplayWorkload(), obs)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := q.Predict(probe)
	d, _ := all.Predict(probe)
	for k := range c {
		if math.Abs(c[k].Mean/d[k].Mean-1) > 1e-12 {
			t.Errorf("%s: incremental %v, batch %v", k, c[k], d[k])
		}
	}
}

func TestPredictorRejectsBadObservations(t *testing.T) {
	spec := randomSpecs(t, PresetLFM2Tiny, 1, 4)[0]
	for name, o := range map[string]Observation{
		"no values":      {Spec: spec},
		"negative value": {Spec: spec, Values: Values{{MetricDecodeP50, 0}: -1}},
		"invalid spec":   {Spec: arch.Spec{}, Values: Values{{MetricDecodeP50, 0}: 1}},
	} {
		p := &Predictor{Workload: ReplayWorkload()}
		if err := p.Add(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if len(p.Observations) != 0 {
			t.Errorf("%s: a rejected observation was kept", name)
		}
	}
}
