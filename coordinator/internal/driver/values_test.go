package driver

import (
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
	"github.com/hilsearch/hilsearch/workload"
)

// TestValuesPeakPerContext: with per-context peaks each context gets its
// row's own peak_rss_mb; without, every context gets the job's peak.
func TestValuesPeakPerContext(t *testing.T) {
	w := workload.Workload{PromptLengths: []int{512}, DecodeDepths: []int{8192}}
	m := &wire.Measurement{PeakRSSBytes: 300 << 20,
		Prefill: []wire.PrefillResult{{PromptLength: 512, Row: wire.Row{PeakRSSBytes: 200 << 20}}},
		Decode:  []wire.DecodeResult{{Depth: 8192, Row: wire.Row{PeakRSSBytes: 300 << 20}}}}
	key := func(at int) search.MetricKey { return search.MetricKey{Metric: search.MetricPeakRSS, At: at} }
	v := Values(m, w)
	if v[key(512)] != 300 || v[key(8192)] != 300 {
		t.Fatalf("without per-context peaks: %v %v, want the job's 300 at both", v[key(512)], v[key(8192)])
	}
	m.PeakRSSPerContext = true
	v = Values(m, w)
	if v[key(512)] != 200 || v[key(8192)] != 300 {
		t.Fatalf("per-context peaks: %v %v, want 200 and 300", v[key(512)], v[key(8192)])
	}
}
