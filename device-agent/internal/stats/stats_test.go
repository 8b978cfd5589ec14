package stats

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// k is 1.2533141·1.4826, the factor of RelMedianErr.
const k = medianEfficiency * madToSigma

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestSummarizeHandComputed(t *testing.T) {
	tests := []struct {
		name    string
		samples []float64
		want    Summary
	}{
		{
			// Sorted 1 2 3 4 5. Deviations from the mean -2..2: ss=10, var=10/4.
			// P25: h=4·0.25=1 → x[1]=2; P75: h=3 → 4; P95: h=3.8 → 4+0.8·1.
			// |x-3| = 2 1 0 1 2 → sorted 0 1 1 2 2 → MAD 1.
			name:    "odd count unsorted",
			samples: []float64{4, 1, 3, 2, 5},
			want: Summary{N: 5, Median: 3, Mean: 3, Stddev: math.Sqrt(2.5), Min: 1, Max: 5,
				P25: 2, P50: 3, P75: 4, P95: 4.8, MAD: 1, RelIQR: 2.0 / 3, RelMAD: 1.0 / 3,
				RelMedianErr: k / math.Sqrt(5) / 3},
		},
		{
			// Median h=1.5 → 25; P25 h=0.75 → 17.5; P75 h=2.25 → 32.5; P95 h=2.85 → 38.5.
			// ss = 225+25+25+225 = 500, var = 500/3. |x-25| = 15 5 5 15 → MAD 10.
			name:    "even count",
			samples: []float64{10, 20, 30, 40},
			want: Summary{N: 4, Median: 25, Mean: 25, Stddev: math.Sqrt(500.0 / 3), Min: 10, Max: 40,
				P25: 17.5, P50: 25, P75: 32.5, P95: 38.5, MAD: 10, RelIQR: 15.0 / 25, RelMAD: 10.0 / 25,
				RelMedianErr: k * 10 / 2 / 25},
		},
		{
			name:    "single sample",
			samples: []float64{7},
			want:    Summary{N: 1, Median: 7, Mean: 7, Min: 7, Max: 7, P25: 7, P50: 7, P75: 7, P95: 7},
		},
		{
			// One preempted run (250): mean and stddev move, median and MAD do not.
			// Sorted 99 100 100 101 250; mean 650/5=130; |x-100| → 0 0 1 1 150 → MAD 1.
			// ss = 31²+30²+30²+29²+120² = 961+900+900+841+14400 = 18002.
			// P95: h=3.8 → 101+0.8·149 = 220.2.
			name:    "outlier",
			samples: []float64{100, 101, 99, 100, 250},
			want: Summary{N: 5, Median: 100, Mean: 130, Stddev: math.Sqrt(18002.0 / 4), Min: 99, Max: 250,
				P25: 100, P50: 100, P75: 101, P95: 220.2, MAD: 1, RelIQR: 0.01, RelMAD: 0.01,
				RelMedianErr: k / math.Sqrt(5) / 100},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := slices.Clone(tt.samples)
			got, err := Summarize(tt.samples)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(orig, tt.samples) {
				t.Errorf("Summarize modified its input: %v, was %v", tt.samples, orig)
			}
			if got.N != tt.want.N {
				t.Errorf("N = %d, want %d", got.N, tt.want.N)
			}
			fields := []struct {
				name      string
				got, want float64
			}{
				{"median", got.Median, tt.want.Median}, {"mean", got.Mean, tt.want.Mean},
				{"stddev", got.Stddev, tt.want.Stddev}, {"min", got.Min, tt.want.Min},
				{"max", got.Max, tt.want.Max}, {"p25", got.P25, tt.want.P25},
				{"p50", got.P50, tt.want.P50}, {"p75", got.P75, tt.want.P75},
				{"p95", got.P95, tt.want.P95}, {"mad", got.MAD, tt.want.MAD},
				{"rel_iqr", got.RelIQR, tt.want.RelIQR}, {"rel_mad", got.RelMAD, tt.want.RelMAD},
				{"rel_median_err", got.RelMedianErr, tt.want.RelMedianErr},
			}
			for _, f := range fields {
				if !near(f.got, f.want) {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
		})
	}
}

func TestRelMedianErrNumbers(t *testing.T) {
	// The stopping rule in numbers: samples 100 110 90 105 95 have median 100
	// and MAD 5, so RelMedianErr = 1.8582·5/√5/100 ≈ 0.0415 (above 3 %); the
	// same pattern four times (n=20, MAD still 5) gives ≈ 0.0208.
	five := []float64{100, 110, 90, 105, 95}
	s, err := Summarize(five)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.RelMedianErr-0.041549798650) > 1e-9 {
		t.Errorf("n=5: RelMedianErr = %v, want 0.0415498", s.RelMedianErr)
	}
	twenty := slices.Concat(five, five, five, five)
	s, err = Summarize(twenty)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.RelMedianErr-0.020774899325) > 1e-9 {
		t.Errorf("n=20: RelMedianErr = %v, want 0.0207749", s.RelMedianErr)
	}
	if math.Abs(s.RelMAD-0.05) > 1e-12 {
		t.Errorf("n=20: RelMAD = %v, want 0.05 (does not shrink with n)", s.RelMAD)
	}
}

func TestSummarizeErrors(t *testing.T) {
	if _, err := Summarize(nil); !errors.Is(err, ErrNoSamples) {
		t.Errorf("Summarize(nil) error = %v, want ErrNoSamples", err)
	}
	_, err := Summarize([]float64{1, math.NaN()})
	if err == nil || !strings.Contains(err.Error(), "sample 1") {
		t.Errorf("NaN sample: error = %v, want one naming sample 1", err)
	}
	if _, err := Summarize([]float64{math.Inf(1)}); err == nil {
		t.Error("Inf sample: no error")
	}
}

func TestSummarizeZeroMedian(t *testing.T) {
	s, err := Summarize([]float64{-1, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Median != 0 || s.RelIQR != 0 || s.RelMAD != 0 || s.RelMedianErr != 0 {
		t.Errorf("zero median: %+v, want median and relative spreads 0", s)
	}
	if s.MAD != 1 {
		t.Errorf("MAD = %v, want 1", s.MAD)
	}
}

func TestPercentile(t *testing.T) {
	x := []float64{15, 20, 35, 40, 50}
	// h = 4p: p=0.4 → h=1.6 → 20+0.6·15 = 29; p=0.9 → h=3.6 → 40+0.6·10 = 46.
	for _, tt := range []struct{ p, want float64 }{{0, 15}, {0.4, 29}, {0.5, 35}, {0.9, 46}, {1, 50}} {
		got, err := Percentile(x, tt.p)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, tt.want) {
			t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		if _, err := Percentile(x, p); err == nil {
			t.Errorf("Percentile(%v): no error", p)
		}
	}
	if _, err := Percentile(nil, 0.5); !errors.Is(err, ErrNoSamples) {
		t.Errorf("Percentile(nil) error = %v, want ErrNoSamples", err)
	}
}
