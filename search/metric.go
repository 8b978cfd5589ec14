package search

import (
	"fmt"
	"strconv"
	"strings"
)

// Metric names a quantity an objective or constraint refers to.
type Metric string

// The metrics a device measures, plus the parameter count.
const (
	// MetricPrefillTPS is prompt tokens per second for a prefill of At
	// tokens from an empty cache (llama-bench pp<At>). Larger is better.
	MetricPrefillTPS Metric = "prefill_tps"
	// MetricTTFT is time to first token in ms: a prefill of At tokens plus
	// the first decode step.
	MetricTTFT Metric = "ttft_ms"
	// MetricDecodeP50 is the median decode latency in ms per token at a
	// context depth of At tokens.
	MetricDecodeP50 Metric = "decode_ms_p50"
	// MetricDecodeP95 is the 95th-percentile decode latency in ms per token
	// at a context depth of At tokens.
	MetricDecodeP95 Metric = "decode_ms_p95"
	// MetricPeakRSS is the measuring child's peak resident set in MiB when
	// run at a context of At tokens.
	MetricPeakRSS Metric = "peak_rss_mb"
	// MetricPrefillEnergy is the energy per prompt token in mJ/token of a
	// prefill of At tokens from an empty cache (the row's median over its
	// kept repetitions; wire.Energy). Only devices with an energy source
	// (Linux RAPL, a battery's current and voltage) give it; a trial
	// measured on one without fails with the agent's reason.
	MetricPrefillEnergy Metric = "prefill_energy_mj_per_token"
	// MetricDecodeEnergy is the energy per generated token in mJ/token at
	// a context depth of At tokens, under the same conditions.
	MetricDecodeEnergy Metric = "decode_energy_mj_per_token"
	// MetricParams is the exact parameter count of the candidate. It needs
	// no device and takes no target.
	MetricParams Metric = "params"
)

// Metrics lists every metric in a fixed order.
var Metrics = []Metric{MetricPrefillTPS, MetricTTFT, MetricDecodeP50, MetricDecodeP95, MetricPeakRSS, MetricPrefillEnergy, MetricDecodeEnergy, MetricParams}

// Energy reports whether m is an energy metric, which only devices with
// an energy source measure.
func (m Metric) Energy() bool { return m == MetricPrefillEnergy || m == MetricDecodeEnergy }

// Valid reports whether m is a known metric.
func (m Metric) Valid() bool {
	for _, k := range Metrics {
		if m == k {
			return true
		}
	}
	return false
}

// NaturalDirection is the direction in which m improves.
func (m Metric) NaturalDirection() Direction {
	if m == MetricPrefillTPS || m == MetricParams {
		return Maximize
	}
	return Minimize
}

// AtKind says what the At of a metric refers to.
type AtKind int

// The meanings of At.
const (
	AtNone    AtKind = iota // params: no At
	AtPrompt                // a prompt length of the workload
	AtDepth                 // a decode depth of the workload
	AtContext               // a prompt length or decode depth of the workload
)

// AtKind returns what At means for m.
func (m Metric) AtKind() AtKind {
	switch m {
	case MetricPrefillTPS, MetricTTFT, MetricPrefillEnergy:
		return AtPrompt
	case MetricDecodeP50, MetricDecodeP95, MetricDecodeEnergy:
		return AtDepth
	case MetricPeakRSS:
		return AtContext
	}
	return AtNone
}

// Direction says whether an objective is minimised or maximised.
type Direction string

// Directions.
const (
	Minimize Direction = "minimize"
	Maximize Direction = "maximize"
)

// MetricKey identifies one measured value on one target: a metric at a
// prompt length, depth or context.
type MetricKey struct {
	// Metric is the measured quantity.
	Metric Metric `json:"metric"`
	// At is the prompt length, depth or context it was measured at.
	At int `json:"at"`
}

// String renders "metric:at".
func (k MetricKey) String() string { return fmt.Sprintf("%s:%d", k.Metric, k.At) }

// MarshalText renders "metric:at", so Values encode as a JSON object.
func (k MetricKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses "metric:at".
func (k *MetricKey) UnmarshalText(b []byte) error {
	m, at, ok := strings.Cut(string(b), ":")
	n, err := strconv.Atoi(at)
	if !ok || err != nil || !Metric(m).Valid() {
		return fmt.Errorf("metric key %q: want <metric>:<at>", b)
	}
	k.Metric, k.At = Metric(m), n
	return nil
}

// Values holds the measured metrics of one candidate on one target.
type Values map[MetricKey]float64

// splitMetric splits "metric@target" into its parts. The target is empty
// when there is no "@".
func splitMetric(s string) (Metric, string) {
	m, t, _ := strings.Cut(s, "@")
	return Metric(m), t
}

// Unit is the unit of m's values: "tokens/s", "ms", "ms/token", "MiB",
// "mJ/token" or "parameters".
func (m Metric) Unit() string {
	switch m {
	case MetricPrefillTPS:
		return "tokens/s"
	case MetricTTFT:
		return "ms"
	case MetricDecodeP50, MetricDecodeP95:
		return "ms/token"
	case MetricPeakRSS:
		return "MiB"
	case MetricPrefillEnergy, MetricDecodeEnergy:
		return "mJ/token"
	case MetricParams:
		return "parameters"
	}
	return ""
}

// MetricLabel names a metric reference ("<metric>@<target>" or "params")
// measured at at, for column headers: "decode_ms_p50@phone at depth 512",
// "prefill_tps@phone at prompt 256", "peak_rss_mb@phone at context 512",
// "params".
func MetricLabel(ref string, at int) string {
	m, _ := splitMetric(ref)
	switch m.AtKind() {
	case AtPrompt:
		return fmt.Sprintf("%s at prompt %d", ref, at)
	case AtDepth:
		return fmt.Sprintf("%s at depth %d", ref, at)
	case AtContext:
		return fmt.Sprintf("%s at context %d", ref, at)
	}
	return ref
}

// SplitMetric splits a metric reference "<metric>@<target>" into the
// metric and the target ("" for params).
func SplitMetric(ref string) (Metric, string) { return splitMetric(ref) }

// MetricRef is one metric reference of a spec's objectives or
// constraints: the reference as written, split, with its At.
type MetricRef struct {
	Ref    string
	Metric Metric
	Target string
	At     int
}

// MetricRefs yields the objectives' references, then the constraints',
// in order (repeats included).
func (s *Spec) MetricRefs(yield func(MetricRef) bool) {
	ref := func(r string, at int) MetricRef {
		m, t := splitMetric(r)
		return MetricRef{Ref: r, Metric: m, Target: t, At: at}
	}
	for _, o := range s.Objectives {
		if !yield(ref(o.Metric, o.At)) {
			return
		}
	}
	for _, c := range s.Constraints {
		if !yield(ref(c.Metric, c.At)) {
			return
		}
	}
}
