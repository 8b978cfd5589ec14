package search

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/search/internal/linfit"
	"github.com/hilsearch/hilsearch/workload"
)

// PredictorVersion is the version of the predictor's features. A stored
// predictor of another version is refitted from its observations by
// Refit (RestorePredictor does it).
const PredictorVersion = 1

// ErrNoModel is returned by Predict when the predictor has no fitted model
// of a metric the caller needs.
var ErrNoModel = errors.New("no fitted model for the metric")

// Observation is one measured network as the predictor sees it: a search
// candidate or a block probe, with its measured metrics (the medians the
// coordinator turns a measurement into, as for Spec.Outcome) and,
// optionally, their spread.
type Observation struct {
	// Spec is the measured network.
	Spec arch.Spec `json:"spec"`
	// Values are the measured metrics.
	Values Values `json:"values"`
	// Spread holds each metric's standard deviation, when known.
	Spread Values `json:"spread,omitempty"`
	// Probe names the block probe this measured, or "" for a candidate.
	Probe string `json:"probe,omitempty"`
}

// Estimate is a predicted metric with its uncertainty (one standard
// deviation, in the metric's units).
type Estimate struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

// Prediction holds the predicted metrics of one network on one device.
type Prediction map[MetricKey]Estimate

// Values returns the means as measured-like values (for Spec.Outcome).
func (p Prediction) Values() Values {
	v := make(Values, len(p))
	for k, e := range p {
		v[k] = e.Mean
	}
	return v
}

// MetricModel is the fitted model of one metric: a linear model in cost
// features with non-negative coefficients (time per unit, or bytes per
// byte), fitted by least squares on relative errors.
type MetricModel struct {
	// Features names the model's features.
	Features []string `json:"features"`
	// Coef holds one non-negative coefficient per feature.
	Coef []float64 `json:"coef"`
	// Cov is the coefficients' covariance in units of Sigma² (row-major).
	Cov []float64 `json:"cov"`
	// Sigma is the relative residual standard deviation.
	Sigma float64 `json:"sigma"`
	// LOORelRMS is the root mean square of the leave-one-out relative
	// errors: how far a network left out of the fit is predicted.
	LOORelRMS float64 `json:"loo_rel_rms"`
	// N counts the rows (Probes of them block probes); Active the
	// coefficients above zero.
	N      int `json:"n"`
	Probes int `json:"probes"`
	Active int `json:"active"`
	// Residuals are the rows' relative errors, in observation order.
	Residuals []Residual `json:"residuals"`
}

// Residual is one fitted row of a MetricModel.
type Residual struct {
	// Hash is the network's arch hash; Probe its probe name, if any.
	Hash  string `json:"hash"`
	Probe string `json:"probe,omitempty"`
	// Measured and Fitted are in the metric's units.
	Measured float64 `json:"measured"`
	Fitted   float64 `json:"fitted"`
	// LOORel is the leave-one-out relative error (prediction/measured − 1
	// of a fit without this row, to first order).
	LOORel float64 `json:"loo_rel"`
}

// Predictor predicts every metric of one device, runtime and workload
// from an architecture. Fit it with FitPredictor, add measurements with
// Add, predict with Predict; it marshals to JSON with everything needed to
// restore and refit it (its observations).
type Predictor struct {
	// Version is PredictorVersion when fitted.
	Version int `json:"version"`
	// Workload is what the observations were measured with; the features
	// of a metric depend on its context and on the workload's lengths.
	Workload workload.Workload `json:"workload"`
	// Models holds one model per metric observed.
	Models map[MetricKey]*MetricModel `json:"models"`
	// Observations are every row the models were fitted from.
	Observations []Observation `json:"observations"`

	// cache holds feature vectors by observation index and metric.
	cache map[featureKey][]float64
	// hashes caches the observations' arch hashes by index.
	hashes map[int]string
}

type featureKey struct {
	obs int
	k   MetricKey
}

// FitPredictor fits a predictor for workload w from observations (which
// it keeps). Observations with no metric are an error; a metric is modelled
// when at least two observations report it.
func FitPredictor(w workload.Workload, obs []Observation) (*Predictor, error) {
	p := &Predictor{Version: PredictorVersion, Workload: w}
	if err := p.Add(obs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Add appends observations and refits every model.
func (p *Predictor) Add(obs ...Observation) error {
	for i, o := range obs {
		if len(o.Values) == 0 {
			return fmt.Errorf("predictor: observation %d: no values", i)
		}
		if err := o.Spec.Validate(); err != nil {
			return fmt.Errorf("predictor: observation %d: %w", i, err)
		}
		for k, v := range o.Values {
			if !(v > 0) || math.IsInf(v, 0) {
				return fmt.Errorf("predictor: observation %d: %s = %g, want a positive value", i, k, v)
			}
		}
	}
	p.Observations = append(p.Observations, obs...)
	return p.refit()
}

// Refit recomputes every model from the observations (after they were
// changed, or to upgrade a predictor of another Version).
func (p *Predictor) Refit() error {
	p.cache, p.hashes = nil, nil
	return p.refit()
}

func (p *Predictor) refit() error {
	p.Version = PredictorVersion
	keys := map[MetricKey]bool{}
	for _, o := range p.Observations {
		for k := range o.Values {
			if k.Metric != MetricParams {
				keys[k] = true
			}
		}
	}
	p.Models = map[MetricKey]*MetricModel{}
	for k := range keys {
		m, err := p.fitMetric(k)
		if err != nil {
			return fmt.Errorf("predictor: %s: %w", k, err)
		}
		if m != nil {
			p.Models[k] = m
		}
	}
	return nil
}

// features returns the feature names and vector of metric k for s, whose
// tensors are ts (s.Tensors(), computed once per network).
func (p *Predictor) features(k MetricKey, s *arch.Spec, ts []arch.Tensor) ([]string, []float64) {
	w := &p.Workload
	names, ok := p.featureNames(k)
	if !ok {
		return nil, nil
	}
	switch k.Metric {
	case MetricPrefillTPS:
		return names, prefillFeatures(s, ts, w.Precision, k.At)
	case MetricTTFT:
		return names, ttftFeatures(s, ts, w.Precision, k.At)
	case MetricDecodeP50, MetricDecodeP95:
		return names, decodeFeatures(s, ts, w.Precision, k.At)
	default: // MetricPeakRSS
		return names, rssFeatures(s, ts, w.Precision, k.At, w.MaxContext(), slices.Max(append([]int{1}, w.PromptLengths...)))
	}
}

// featureNames returns the feature names of metric k.
func (p *Predictor) featureNames(k MetricKey) ([]string, bool) {
	switch k.Metric {
	case MetricPrefillTPS:
		return prefillFeatureNames, true
	case MetricTTFT:
		return ttftFeatureNames, true
	case MetricDecodeP50, MetricDecodeP95:
		return decodeFeatureNames, true
	case MetricPeakRSS:
		return rssFeatureNames, true
	}
	return nil, false
}

// target turns a measured value into the modelled quantity: prefill is
// modelled as time (ms), every other metric as itself.
func target(k MetricKey, v float64) float64 {
	if k.Metric == MetricPrefillTPS {
		return 1000 * float64(k.At) / v
	}
	return v
}

func untarget(k MetricKey, t float64) float64 {
	if k.Metric == MetricPrefillTPS {
		return 1000 * float64(k.At) / t
	}
	return t
}

func (p *Predictor) fitMetric(k MetricKey) (*MetricModel, error) {
	var X [][]float64
	var y, w []float64
	var rows []Residual
	names, ok := p.featureNames(k)
	if !ok {
		return nil, nil
	}
	probes := 0
	for i := range p.Observations {
		o := &p.Observations[i]
		v, ok := o.Values[k]
		if !ok {
			continue
		}
		fk := featureKey{i, k}
		x, ok := p.cache[fk]
		if !ok {
			_, x = p.features(k, &o.Spec, o.Spec.Tensors())
			if p.cache == nil {
				p.cache = map[featureKey][]float64{}
			}
			p.cache[fk] = x
		}
		t := target(k, v)
		X, y, w = append(X, x), append(y, t), append(w, 1/(t*t))
		h, ok := p.hashes[i]
		if !ok {
			h = o.Spec.Hash()
			if p.hashes == nil {
				p.hashes = map[int]string{}
			}
			p.hashes[i] = h
		}
		rows = append(rows, Residual{Hash: h, Probe: o.Probe, Measured: v})
		if o.Probe != "" {
			probes++
		}
	}
	if len(X) < 2 {
		return nil, nil
	}
	fit, loo, hw, scale, err := robustFit(X, y, w)
	if err != nil {
		return nil, err
	}
	m := &MetricModel{Features: names, Coef: fit.Coef, Cov: fit.Cov, Sigma: scale, N: fit.N, Probes: probes, Active: fit.Active}
	var ss float64
	for i := range rows {
		f, _ := fit.Predict(X[i])
		rows[i].Fitted = untarget(k, f)
		// loo[i] is a weighted residual of the target: undo the robust
		// weight to get the relative error.
		rel := -loo[i] / math.Sqrt(hw[i])
		if k.Metric == MetricPrefillTPS {
			rel = 1/(1+rel) - 1 // time error to rate error
		}
		rows[i].LOORel = rel
		ss += rel * rel
	}
	m.LOORelRMS = math.Sqrt(ss / float64(len(rows)))
	m.Residuals = rows
	return m, nil
}

// Robust fitting: rows whose relative residual is beyond huberC robust
// standard deviations get Huber weights (a measurement disturbed by other
// work on the device should not drag the model), for irlsRounds rounds.
const (
	huberC     = 2.0
	irlsRounds = 5
)

// robustFit fits y ≈ X·c with base weights w0 (1/y², relative errors) by
// iteratively reweighted least squares with Huber weights on the relative
// residuals. It returns the fit, its leave-one-out residuals (weighted),
// the Huber weights and the robust relative scale (1.4826·MAD).
func robustFit(X [][]float64, y, w0 []float64) (*linfit.Model, []float64, []float64, float64, error) {
	n := len(y)
	hw := make([]float64, n)
	w := make([]float64, n)
	for i := range hw {
		hw[i] = 1
	}
	var fit *linfit.Model
	var loo []float64
	scale := 0.0
	for round := 0; round < irlsRounds; round++ {
		for i := range w {
			w[i] = w0[i] * hw[i]
		}
		var err error
		fit, loo, err = linfit.Fit(X, y, w, linfit.Options{})
		if err != nil {
			return nil, nil, nil, 0, err
		}
		abs := make([]float64, n)
		for i := range abs {
			f, _ := fit.Predict(X[i])
			abs[i] = math.Abs(y[i]-f) * math.Sqrt(w0[i])
		}
		scale = max(1.4826*median(abs), 1e-4)
		for i := range hw {
			hw[i] = 1
			if abs[i] > huberC*scale {
				hw[i] = huberC * scale / abs[i]
			}
		}
	}
	return fit, loo, hw, scale, nil
}

// minRelStd is the smallest relative uncertainty a prediction reports.
const minRelStd = 0.01

// Predict returns every modelled metric of s. The uncertainty combines the
// coefficients' covariance with the larger of the residual and the
// leave-one-out spread (relative), so a model fitted from few rows says
// so; a model with fewer rows than active coefficients reports 50%.
func (p *Predictor) Predict(s *arch.Spec) (Prediction, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	out := make(Prediction, len(p.Models))
	ts := s.Tensors()
	for k, m := range p.Models {
		e, err := p.estimate(k, m, s, ts)
		if err != nil {
			return nil, err
		}
		out[k] = e
	}
	return out, nil
}

func (p *Predictor) estimate(k MetricKey, m *MetricModel, s *arch.Spec, ts []arch.Tensor) (Estimate, error) {
	_, x := p.features(k, s, ts)
	if len(x) != len(m.Coef) {
		return Estimate{}, fmt.Errorf("predict %s: %d features, the model has %d (refit it)", k, len(x), len(m.Coef))
	}
	fit := linfit.Model{Coef: m.Coef, Cov: m.Cov, Sigma: m.Sigma}
	t, varCoef := fit.Predict(x)
	if !(t > 0) {
		return Estimate{}, fmt.Errorf("predict %s: the model gives %g", k, t)
	}
	rel := max(m.Sigma, m.LOORelRMS, minRelStd)
	if m.N < m.Active+2 {
		rel = max(rel, 0.5)
	}
	std := math.Sqrt(varCoef + rel*rel*t*t)
	mean := untarget(k, t)
	if k.Metric == MetricPrefillTPS {
		std = mean * std / t
	}
	return Estimate{Mean: mean, Std: std}, nil
}

// PredictMetric predicts one metric of s.
func (p *Predictor) PredictMetric(s *arch.Spec, k MetricKey) (Estimate, error) {
	m, ok := p.Models[k]
	if !ok {
		return Estimate{}, fmt.Errorf("predict %s: %w", k, ErrNoModel)
	}
	if err := s.Validate(); err != nil {
		return Estimate{}, fmt.Errorf("predict: %w", err)
	}
	return p.estimate(k, m, s, s.Tensors())
}
