package kernels

import (
	"errors"
	"fmt"
)

// SetContext reallocates the model's caches for a context of n positions
// (a sliding-window layer keeps min(n, window)) and resets the sequence.
// Weights, scratch and workers are kept; the old caches become garbage, so
// a caller that measures memory per context can free them (runtime.GC,
// debug.FreeOSMemory) before the next phase. n may be above the context
// the model was built for: the batch (scratch rows) stays as built.
func (m *Model) SetContext(n int) error {
	if n < 1 {
		return fmt.Errorf("set context: %d positions, need at least 1", n)
	}
	m.Reset()
	if n == m.maxCtx {
		return nil
	}
	m.maxCtx = n
	m.mem.KV = 0
	for _, l := range m.layers {
		if l.cache == nil {
			continue
		}
		capacity := n
		if l.window > 0 {
			capacity = min(capacity, l.window)
		}
		*l.cache = *NewKVCache(l.G, l.hd, capacity, l.cache.F32)
		m.mem.KV += l.cache.Bytes()
	}
	return nil
}

// Snapshot is the decode state of a model at one position: what RestoreSnapshot
// needs to return the model there without recomputing the prefix.
//
// A cache that holds the model's whole context is append-only (a token at
// position p writes only slot p), so the positions before the snapshot stay
// intact in the cache itself and are not copied. The snapshot copies the
// recurrent state (conv, linear-attention and SSM state, a few hundred KiB)
// and the rings of sliding-window layers, which later tokens overwrite.
// Unlike a Checkpoint (Save/Restore, a full copy of the caches), it adds
// no KV-sized copy, so the peak RSS of a row measured at depth stays the
// model's own; it holds only within one sequence (ErrStaleSnapshot).
type Snapshot struct {
	m     *Model
	gen   uint64
	pos   int
	state [][]float32 // per layer: convState then state
	rings []*KVCache  // per layer: a copy of a ring cache, else nil
}

// Snapshot records the decode state at the current position.
func (m *Model) Snapshot() *Snapshot {
	s := &Snapshot{m: m, gen: m.seqGen, pos: m.pos, state: make([][]float32, len(m.layers)), rings: make([]*KVCache, len(m.layers))}
	for i, l := range m.layers {
		if n := len(l.convState) + len(l.state); n > 0 {
			s.state[i] = append(append(make([]float32, 0, n), l.convState...), l.state...)
		}
		if c := l.cache; c != nil && c.Cap < m.maxCtx {
			s.rings[i] = &KVCache{KVHeads: c.KVHeads, HeadDim: c.HeadDim, Cap: c.Cap, F32: c.F32,
				k16: clone16(c.k16), v16: clone16(c.v16), k32: clone32(c.k32), v32: clone32(c.v32)}
		}
	}
	return s
}

// ErrStaleSnapshot reports a Restore after the model was reset (or its
// context changed) since the snapshot: the cache no longer holds its prefix.
var ErrStaleSnapshot = errors.New("restore: the model was reset since the snapshot")

// RestoreSnapshot returns the model to the snapshot's position and state: the
// next Decode computes exactly what it computed right after the snapshot
// was taken. It copies; it does not recompute the prefix.
func (m *Model) RestoreSnapshot(s *Snapshot) error {
	if s == nil || s.m != m {
		return errors.New("restore: the snapshot is of another model")
	}
	if s.gen != m.seqGen {
		return ErrStaleSnapshot
	}
	for i, l := range m.layers {
		if st := s.state[i]; st != nil {
			copy(l.convState, st[:len(l.convState)])
			copy(l.state, st[len(l.convState):])
		}
		if r := s.rings[i]; r != nil {
			copy(l.cache.k16, r.k16)
			copy(l.cache.v16, r.v16)
			copy(l.cache.k32, r.k32)
			copy(l.cache.v32, r.v32)
		}
	}
	m.pos = s.pos
	return nil
}

// Bytes returns the memory the snapshot holds.
func (s *Snapshot) Bytes() int64 {
	var b int64
	for i := range s.state {
		b += 4 * int64(len(s.state[i]))
		if r := s.rings[i]; r != nil {
			b += r.Bytes()
		}
	}
	return b
}

func clone16(x []uint16) []uint16 {
	if x == nil {
		return nil
	}
	return append([]uint16(nil), x...)
}

func clone32(x []float32) []float32 {
	if x == nil {
		return nil
	}
	return append([]float32(nil), x...)
}
