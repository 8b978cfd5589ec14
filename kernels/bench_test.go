package kernels

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// BenchmarkModel times prefill and decode of a preset; run with e.g.
//
//	go test -run ^$ -bench Model/arch=lfm2-350m/prec=q4_0 -benchtime 3x -cpuprofile cpu.out ./kernels
//
// (the preset is built once per sub-benchmark, which takes a few seconds).
func BenchmarkModel(b *testing.B) {
	for _, name := range []string{"lfm2-350m", "lfm2-1.2b"} {
		for _, p := range []arch.Precision{arch.Q4_0, arch.Q8_0, arch.F16, arch.F32} {
			b.Run(fmt.Sprintf("arch=%s/prec=%s", name, p), func(b *testing.B) {
				spec, err := arch.Preset(name)
				if err != nil {
					b.Fatal(err)
				}
				m, err := Build(spec, p, 640, 2, 1)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				toks := make([]int32, 512)
				for i := range toks {
					toks[i] = int32(i * 7919 % spec.Vocab)
				}
				b.Run("op=pp512", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						m.Reset()
						if _, err := m.Prefill(toks); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run("op=tg32", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						m.Reset()
						for _, t := range toks[:32] {
							if _, err := m.Decode(t); err != nil {
								b.Fatal(err)
							}
						}
					}
				})
			})
		}
	}
}

// BenchmarkMatVec times one matrix × vector product per precision.
func BenchmarkMatVec(b *testing.B) {
	const rows, cols = 4096, 1024
	g := rng(1)
	src := randVec(&g, rows*cols, 1)
	x := randVec(&g, cols, 1)
	for _, p := range arch.Precisions {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("prec=%s/n=%d", p, n), func(b *testing.B) {
				w, _ := NewMatrix(rows, cols, p, src)
				e := NewEngine(EngineConfig{Threads: 1, MaxTokens: n, MaxCols: cols, MaxGroup: 1, MaxHeadDim: 2})
				defer e.Close()
				xs := make([]float32, n*cols)
				for i := range xs {
					xs[i] = x[i%cols]
				}
				dst := make([]float32, n*rows)
				b.ReportAllocs()
				b.SetBytes(w.Bytes())
				for b.Loop() {
					if err := e.MatMul(dst, w, xs, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(rows*cols*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
		}
	}
}

// BenchmarkMatVecStream times decode-sized matrix × vector products
// through the engine with 1 and 2 threads, cycling over 1 GiB of copies
// of the matrix (more than the last-level cache) so that the weights
// stream from memory as in a forward pass (MB/s = weight bytes read).
func BenchmarkMatVecStream(b *testing.B) {
	g := rng(1)
	for _, sh := range [][2]int{{4608, 1024}, {1024, 4608}, {8192, 2048}, {65536, 1024}} {
		rows, cols := sh[0], sh[1]
		src := randVec(&g, rows*cols, 1)
		x := randVec(&g, cols, 1)
		for _, p := range arch.Precisions {
			w, _ := NewMatrix(rows, cols, p, src)
			// many copies so that the weights stream from memory
			ws := []*Matrix{w}
			for len(ws) < 1<<30/int(w.Bytes()) {
				w2, _ := NewMatrix(rows, cols, p, src)
				ws = append(ws, w2)
			}
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%dx%d/t=%d", p, rows, cols, th), func(b *testing.B) {
					e := NewEngine(EngineConfig{Threads: th, MaxTokens: 1, MaxCols: cols, MaxGroup: 1, MaxHeadDim: 2, Prec: p})
					defer e.Close()
					dst := make([]float32, rows)
					b.SetBytes(w.Bytes())
					i := 0
					for b.Loop() {
						if err := e.MatMul(dst, ws[i%len(ws)], x, 1); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		}
	}
}

// BenchmarkDecodeLayout times decode (one token per op, 2 threads, q4_0)
// of depth-benchmark layouts (testdata/layouts) after a prefix of d
// tokens, and reports the pool dispatches per token. With locked=true
// every worker is locked to its OS thread, the caller included, as the
// device agent's pinned workers are. For a profile:
//
//	go test -run ^$ -bench DecodeLayout/layout=b350m-l24a03/d=0 -benchtime 256x -cpuprofile cpu.out ./kernels
//
// Every 64 tokens the model returns to the prefix (RestoreSnapshot).
func BenchmarkDecodeLayout(b *testing.B) {
	for _, name := range []string{"b350m-l24a03", "b350m-l16a02"} {
		spec := benchLayout(b, name)
		for _, d := range []int{0, 1024} {
			for _, locked := range []bool{false, true} {
				b.Run(fmt.Sprintf("layout=%s/d=%d/locked=%v", name, d, locked), func(b *testing.B) {
					benchDecode(b, spec, d, locked)
				})
			}
		}
	}
}

// benchLayout reads the depth-benchmark layout name (testdata/layouts).
func benchLayout(b *testing.B, name string) *arch.Spec {
	data, err := layoutFS.ReadFile("testdata/layouts/" + name + ".json")
	if err != nil {
		b.Fatal(err)
	}
	spec, err := arch.ParseValid(data)
	if err != nil {
		b.Fatal(err)
	}
	return spec
}

func benchDecode(b *testing.B, spec *arch.Spec, d int, locked bool) {
	var opt Options
	if locked {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		opt.WorkerStart = func(int) {} // the pool locks each worker's thread first
	}
	m, err := BuildWith(spec, arch.Q4_0, d+64, 2, 1, opt)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	toks := make([]int32, d+64)
	for i := range toks {
		toks[i] = int32(i * 7919 % spec.Vocab)
	}
	if d > 0 {
		if _, err := m.Prefill(toks[:d]); err != nil {
			b.Fatal(err)
		}
	}
	snap := m.Snapshot()
	runs := m.e.pool.dispatches
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%64 == 0 {
			if err := m.RestoreSnapshot(snap); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := m.Decode(toks[d+i%64]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(m.e.pool.dispatches-runs)/float64(i), "dispatches/token")
}

// BenchmarkPrefillLayout times a 512-token prompt of the deepest narrow
// layout (24 thin layers), the depth table's slowest prefill relative to
// llama.cpp; run with -cpuprofile to see where its time goes.
func BenchmarkPrefillLayout(b *testing.B) {
	for _, name := range []string{"b350m-l24a03", "b350m-l16a02"} {
		spec := benchLayout(b, name)
		b.Run("layout="+name, func(b *testing.B) {
			m, err := Build(spec, arch.Q4_0, 512, 2, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			toks := make([]int32, 512)
			for i := range toks {
				toks[i] = int32(i * 7919 % spec.Vocab)
			}
			for b.Loop() {
				m.Reset()
				if _, err := m.Prefill(toks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(toks))/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
