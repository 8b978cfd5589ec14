package arch

import (
	"io"
	"testing"
)

// BenchmarkWriteGGUF measures the export of lfm2-350m (354M weights) at each
// precision; SetBytes counts the weights, so MB/s reads as Mweights/s.
func BenchmarkWriteGGUF(b *testing.B) {
	s, _ := Preset("lfm2-350m")
	for _, p := range []Precision{F16, Q8_0, Q4_0} {
		b.Run("precision="+string(p), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(s.Params().Total)
			for b.Loop() {
				if err := s.WriteGGUF(io.Discard, p, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAccounting measures the analytic functions the search calls per
// candidate.
func BenchmarkAccounting(b *testing.B) {
	s, _ := Preset("lfm2-2.6b")
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Params().Total
		_ = s.WeightBytes(Q4_0)
		_ = s.FLOPsPrefill(512)
		_ = s.FLOPsDecode(4096)
		_ = s.KVBytesPerToken(false)
		_ = s.StateBytes()
		_ = s.Hash()
	}
}
