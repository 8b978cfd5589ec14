package stats

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNoSamples is returned when a summary is asked of an empty sample set.
var ErrNoSamples = errors.New("no samples")

// Summary describes a set of repeated measurements of one metric. All fields
// are in the unit of the samples except N and the Rel* ratios.
type Summary struct {
	// N is the number of samples.
	N int `json:"n"`
	// Median is the 50th percentile (equal to P50).
	Median float64 `json:"median"`
	// Mean is the arithmetic mean.
	Mean float64 `json:"mean"`
	// Stddev is the sample standard deviation (divisor n-1); 0 when N is 1.
	Stddev float64 `json:"stddev"`
	// Min is the smallest sample.
	Min float64 `json:"min"`
	// Max is the largest sample.
	Max float64 `json:"max"`
	// P25 is the 25th percentile (type-7 interpolation, see the package doc).
	P25 float64 `json:"p25"`
	// P50 is the 50th percentile.
	P50 float64 `json:"p50"`
	// P75 is the 75th percentile.
	P75 float64 `json:"p75"`
	// P95 is the 95th percentile.
	P95 float64 `json:"p95"`
	// MAD is the median absolute deviation from the median, unscaled.
	MAD float64 `json:"mad"`
	// RelIQR is (P75-P25)/|Median|.
	RelIQR float64 `json:"rel_iqr"`
	// RelMAD is MAD/|Median|.
	RelMAD float64 `json:"rel_mad"`
	// RelMedianErr is the robust relative standard error of the median,
	// 1.2533·1.4826·MAD/√N/|Median|; the repetition controller compares it
	// with its threshold.
	RelMedianErr float64 `json:"rel_median_err"`
}

// Constants of the robust standard error of the median (see the package doc).
const (
	madToSigma       = 1.4826    // σ ≈ 1.4826·MAD for normal noise
	medianEfficiency = 1.2533141 // √(π/2): SE(median)/SE(mean) for large n
)

// Summarize computes the Summary of samples. It does not modify samples. It
// fails on an empty slice and on NaN or infinite samples, naming the index.
func Summarize(samples []float64) (Summary, error) {
	if len(samples) == 0 {
		return Summary{}, ErrNoSamples
	}
	for i, v := range samples {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Summary{}, fmt.Errorf("sample %d is %v: samples must be finite", i, v)
		}
	}
	x := slices.Clone(samples)
	slices.Sort(x)
	n := len(x)
	s := Summary{
		N:   n,
		Min: x[0],
		Max: x[n-1],
		P25: quantileSorted(x, 0.25),
		P50: quantileSorted(x, 0.50),
		P75: quantileSorted(x, 0.75),
		P95: quantileSorted(x, 0.95),
	}
	s.Median = s.P50
	s.Mean = mean(x)
	if n > 1 {
		var ss float64
		for _, v := range x {
			d := v - s.Mean
			ss += d * d
		}
		s.Stddev = math.Sqrt(ss / float64(n-1))
	}
	dev := make([]float64, n)
	for i, v := range x {
		dev[i] = math.Abs(v - s.Median)
	}
	slices.Sort(dev)
	s.MAD = quantileSorted(dev, 0.5)
	if m := math.Abs(s.Median); m > 0 {
		s.RelIQR = (s.P75 - s.P25) / m
		s.RelMAD = s.MAD / m
		s.RelMedianErr = medianEfficiency * madToSigma * s.MAD / math.Sqrt(float64(n)) / m
	}
	return s, nil
}

// Percentile returns the p-th quantile (p in [0,1]) of samples with type-7
// linear interpolation (see the package doc). It does not modify samples.
func Percentile(samples []float64, p float64) (float64, error) {
	if len(samples) == 0 {
		return 0, ErrNoSamples
	}
	if math.IsNaN(p) || p < 0 || p > 1 {
		return 0, fmt.Errorf("percentile p=%v: must be within [0,1]", p)
	}
	x := slices.Clone(samples)
	slices.Sort(x)
	return quantileSorted(x, p), nil
}

// quantileSorted is the type-7 quantile of the sorted, non-empty x.
func quantileSorted(x []float64, p float64) float64 {
	h := float64(len(x)-1) * p
	lo := int(math.Floor(h))
	if lo >= len(x)-1 {
		return x[len(x)-1]
	}
	frac := h - float64(lo)
	return x[lo] + frac*(x[lo+1]-x[lo])
}

// mean sums in sorted order, which keeps the rounding error of timing sums
// (all of one sign) small.
func mean(x []float64) float64 {
	var sum float64
	for _, v := range x {
		sum += v
	}
	return sum / float64(len(x))
}
