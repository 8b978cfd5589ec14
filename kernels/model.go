package kernels

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hilsearch/hilsearch/arch"
)

// MaxBatch is the largest number of prompt tokens one forward pass
// processes; longer prompts run in consecutive batches (llama.cpp's
// micro-batch default is also 512).
const MaxBatch = 512

// ErrContextFull reports a prefill or decode beyond the model's context.
var ErrContextFull = errors.New("context full")

// Options tune Build beyond its required arguments.
type Options struct {
	// KVF32 stores the attention KV cache in f32 instead of f16.
	KVF32 bool
	// Batch is the most prompt tokens one forward pass processes (the
	// scratch rows); 0 means min(maxContext, MaxBatch). Longer prompts run
	// in several passes.
	Batch int
	// WorkerStart runs first on each worker thread but the caller's
	// (workers 1 to threads-1), locked to its OS thread: the device agent
	// pins the thread there (NewPoolWith). The goroutine that calls
	// Prefill and Decode is worker 0.
	WorkerStart func(worker int)
}

// Breakdown is a model's memory by purpose, in bytes.
type Breakdown struct {
	// Weights is every weight tensor at its storage precision.
	Weights int64 `json:"weights"`
	// KV is the attention KV cache for the model's full context.
	KV int64 `json:"kv"`
	// State is the recurrent state of conv, linear_attn and ssm layers.
	State int64 `json:"state"`
	// Scratch is the activation buffers allocated once by Build.
	Scratch int64 `json:"scratch"`
}

// KVState is the decode state: KV cache plus recurrent state.
func (b Breakdown) KVState() int64 { return b.KV + b.State }

// Total is the sum of all parts.
func (b Breakdown) Total() int64 { return b.Weights + b.KV + b.State + b.Scratch }

// Model is a network built for CPU execution: weights, caches and scratch
// allocated once, and a worker pool. Its methods must not be called
// concurrently.
type Model struct {
	spec   *arch.Spec
	prec   arch.Precision
	maxCtx int
	batch  int
	e      *Engine

	embed     *Matrix
	head      *Matrix
	finalNorm []float32
	layers    []*layer
	pos       int
	seqGen    uint64 // counts Resets: a Snapshot holds within one sequence
	mem       Breakdown
	one       [1]int32 // Decode's token, kept here so it does not escape

	// scratch, [batch × width] row-major
	x, h, a, b, c []float32
	wa, wb, wc    int
	logits        []float32
	rope          *RopeTable

	// per-token op in flight (see tokItems)
	op    tokOp
	fs    fwdState
	cur   *layer
	n     int
	tokFn func(worker, lo, hi int)
	chFn  func(worker, lo, hi int)

	prof     bool
	profNS   map[string]int64
	profTime time.Time
}

type layer struct {
	kind             arch.Mixer
	opNorm, ffnNorm  []float32
	inProj, outProj  *Matrix // conv in/out, ssm in/out, attention out
	wq, wk, wv       *Matrix
	wa, wg           *Matrix // linear_attn gates
	convW, convB     []float32
	convState        []float32
	k                int // conv taps
	qNorm, kNorm     []float32
	H, G, hd         int
	theta            float64
	window           int
	cache            *KVCache
	headNorm         []float32 // linear_attn per-head norm, ssm norm
	state            []float32 // linear_attn S, ssm h
	dtBias, aLog, dd []float32
	P, N, din        int
	gate, up, down   *Matrix
	F                int
}

// Build allocates a model for spec at precision p with seeded-random
// weights (the same seed gives bit-identical weights), a KV cache of
// maxContext positions in f16, recurrent state, scratch, and a pool of
// threads workers.
func Build(spec *arch.Spec, p arch.Precision, maxContext, threads int, seed uint64) (*Model, error) {
	return BuildWith(spec, p, maxContext, threads, seed, Options{})
}

// BuildWith is Build with options.
func BuildWith(spec *arch.Spec, p arch.Precision, maxContext, threads int, seed uint64, opt Options) (*Model, error) {
	if spec == nil {
		return nil, errors.New("build: spec is nil")
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if !p.Valid() {
		return nil, fmt.Errorf("build: precision %q is not one of f32, f16, q8_0, q4_0", p)
	}
	if maxContext < 1 {
		return nil, fmt.Errorf("build: max context %d must be at least 1", maxContext)
	}
	if threads < 1 {
		return nil, fmt.Errorf("build: threads %d must be at least 1", threads)
	}
	d := spec.Hidden
	batch := min(maxContext, MaxBatch)
	if opt.Batch > 0 {
		batch = min(batch, opt.Batch)
	}
	m := &Model{spec: spec, prec: p, maxCtx: maxContext, batch: batch, profNS: map[string]int64{}}
	// widths of the scratch rows and engine limits
	m.wa, m.wb, m.wc = 1, d, d
	maxCols, maxGroup, maxHeads, maxHD, worker := d, 1, 1, 2, 0
	for _, l := range spec.Layers {
		switch l.Mixer {
		case arch.MixerConv:
			m.wa = max(m.wa, 3*d)
		case arch.MixerGQA, arch.MixerSWA:
			a := l.GQA
			if l.Mixer == arch.MixerSWA {
				a = &l.SWA.Attention
			}
			m.wa = max(m.wa, (a.Heads+2*a.KVHeads)*a.HeadDim)
			m.wb = max(m.wb, a.Heads*a.HeadDim)
			maxCols = max(maxCols, a.Heads*a.HeadDim)
			maxGroup = max(maxGroup, a.Heads/a.KVHeads)
			maxHeads = max(maxHeads, a.Heads)
			maxHD = max(maxHD, a.HeadDim)
		case arch.MixerLinearAttn:
			w := l.LinearAttn.Heads * l.LinearAttn.HeadDim
			m.wa = max(m.wa, 5*w)
			m.wb = max(m.wb, w)
			maxCols = max(maxCols, w)
			worker = max(worker, GLAScratchFloats(l.LinearAttn.HeadDim))
		case arch.MixerSSM:
			s := l.SSM
			din := s.Heads * s.HeadDim
			m.wa = max(m.wa, 2*din+2*s.State+s.Heads)
			m.wb = max(m.wb, din+2*s.State)
			m.wc = max(m.wc, din+2*s.State)
			maxCols = max(maxCols, din)
		}
		m.wa = max(m.wa, 2*l.FFN)
		maxCols = max(maxCols, l.FFN)
	}
	U := m.batch
	m.x = make([]float32, U*d)
	m.h = make([]float32, U*d)
	m.a = make([]float32, U*m.wa)
	m.b = make([]float32, U*m.wb)
	m.c = make([]float32, U*m.wc)
	m.logits = make([]float32, spec.Vocab)
	m.rope = NewRopeTable(U, maxHD)
	m.e = NewEngine(EngineConfig{Threads: threads, MaxTokens: U, MaxCols: maxCols, MaxGroup: maxGroup, MaxHeads: maxHeads, MaxHeadDim: maxHD, WorkerFloats: worker, Prec: p, WorkerStart: opt.WorkerStart})
	m.tokFn = m.tokItems
	m.chFn = m.chanItems

	if err := m.allocWeights(seed); err != nil {
		m.e.Close()
		return nil, err
	}
	for _, l := range m.layers {
		if l.cache != nil {
			l.cache.F32 = opt.KVF32
			capacity := l.cache.Cap
			*l.cache = *NewKVCache(l.G, l.hd, capacity, opt.KVF32)
			m.mem.KV += l.cache.Bytes()
		}
		m.mem.State += 4 * int64(len(l.convState)+len(l.state))
	}
	m.mem.Scratch = 4*int64(len(m.x)+len(m.h)+len(m.a)+len(m.b)+len(m.c)+len(m.logits)) + m.rope.Bytes() + m.e.ScratchBytes()
	return m, nil
}

// allocWeights creates every tensor of spec.Tensors() and draws its values.
func (m *Model) allocWeights(seed uint64) error {
	s := m.spec
	m.layers = make([]*layer, len(s.Layers))
	for i, l := range s.Layers {
		ly := &layer{kind: l.Mixer, F: l.FFN}
		switch l.Mixer {
		case arch.MixerConv:
			ly.k = l.Conv.Kernel
			ly.convState = make([]float32, (ly.k-1)*s.Hidden)
		case arch.MixerGQA, arch.MixerSWA:
			a := l.GQA
			capacity := m.maxCtx
			if l.Mixer == arch.MixerSWA {
				a = &l.SWA.Attention
				ly.window = l.SWA.Window
				capacity = min(capacity, ly.window)
			}
			ly.H, ly.G, ly.hd, ly.theta = a.Heads, a.KVHeads, a.HeadDim, a.RopeTheta
			ly.cache = &KVCache{KVHeads: a.KVHeads, HeadDim: a.HeadDim, Cap: capacity}
		case arch.MixerLinearAttn:
			ly.H, ly.hd = l.LinearAttn.Heads, l.LinearAttn.HeadDim
			ly.state = make([]float32, ly.H*ly.hd*ly.hd)
		case arch.MixerSSM:
			q := l.SSM
			ly.H, ly.P, ly.N, ly.k = q.Heads, q.HeadDim, q.State, q.ConvKernel
			ly.din = q.Heads * q.HeadDim
			ly.state = make([]float32, ly.H*ly.N*ly.P)
			ly.convState = make([]float32, (ly.k-1)*(ly.din+2*ly.N))
		}
		m.layers[i] = ly
	}
	for _, t := range s.Tensors() {
		rows, cols := 1, t.Shape[len(t.Shape)-1]
		if len(t.Shape) == 2 {
			rows = t.Shape[0]
		}
		kind := initNorm
		switch {
		case t.Name == "token_embd.weight" || t.Name == "output.weight":
			kind = initEmbed
		case t.Matrix:
			kind = initLinear
		case strings.HasSuffix(t.Name, "conv.weight") || strings.HasSuffix(t.Name, "conv1d.weight"):
			kind = initConv
		case strings.HasSuffix(t.Name, "conv1d.bias"):
			kind = initBias
		case strings.HasSuffix(t.Name, "ssm_dt.bias"):
			kind = initDtBias
		case strings.HasSuffix(t.Name, "ssm_a"):
			kind = initALog
		case strings.HasSuffix(t.Name, "ssm_d"):
			kind = initD
		}
		var mat *Matrix
		var vec []float32
		if t.Matrix {
			mat = allocMatrix(rows, cols, t.Type(m.prec))
			if err := m.fillMatrix(mat, kind, seed, t.Name); err != nil {
				return err
			}
			m.mem.Weights += mat.Bytes()
		} else {
			vec = make([]float32, rows*cols)
			for r := 0; r < rows; r++ {
				fillRow(vec[r*cols:(r+1)*cols], kind, seed, t.Name, r)
			}
			m.mem.Weights += 4 * int64(len(vec))
		}
		if t.Layer < 0 {
			switch t.Name {
			case "token_embd.weight":
				m.embed = mat
			case "output.weight":
				m.head = mat
			case "output_norm.weight":
				m.finalNorm = vec
			default:
				return fmt.Errorf("build: unknown tensor %s", t.Name)
			}
			continue
		}
		ly := m.layers[t.Layer]
		name := strings.TrimPrefix(t.Name, fmt.Sprintf("blk.%d.", t.Layer))
		switch name {
		case "attn_norm.weight":
			ly.opNorm = vec
		case "ffn_norm.weight":
			ly.ffnNorm = vec
		case "shortconv.in_proj.weight", "ssm_in.weight":
			ly.inProj = mat
		case "shortconv.conv.weight", "ssm_conv1d.weight":
			ly.convW = vec
		case "ssm_conv1d.bias":
			ly.convB = vec
		case "shortconv.out_proj.weight", "attn_output.weight", "linattn.out.weight", "ssm_out.weight":
			ly.outProj = mat
		case "attn_q.weight", "linattn.q.weight":
			ly.wq = mat
		case "attn_k.weight", "linattn.k.weight":
			ly.wk = mat
		case "attn_v.weight", "linattn.v.weight":
			ly.wv = mat
		case "linattn.a.weight":
			ly.wa = mat
		case "linattn.g.weight":
			ly.wg = mat
		case "attn_q_norm.weight":
			ly.qNorm = vec
		case "attn_k_norm.weight":
			ly.kNorm = vec
		case "linattn.norm.weight", "ssm_norm.weight":
			ly.headNorm = vec
		case "ssm_dt.bias":
			ly.dtBias = vec
		case "ssm_a":
			ly.aLog = vec
		case "ssm_d":
			ly.dd = vec
		case "ffn_gate.weight":
			ly.gate = mat
		case "ffn_up.weight":
			ly.up = mat
		case "ffn_down.weight":
			ly.down = mat
		default:
			return fmt.Errorf("build: unknown tensor %s", t.Name)
		}
	}
	if m.head == nil {
		m.head = m.embed
	}
	return nil
}

// fillMatrix draws every row of mat in parallel (rows are seeded
// independently, so the result does not depend on the thread count).
func (m *Model) fillMatrix(mat *Matrix, kind initKind, seed uint64, name string) error {
	if mat.quantised() && mat.Cols%QK != 0 {
		return fmt.Errorf("build: tensor %s: %d columns is not a multiple of %d", name, mat.Cols, QK)
	}
	// chunks of whole tiled groups (fillGrain is a multiple of
	// qgemm.TileRows), each repacked once its rows are drawn
	m.e.Run(mat.Rows, fillGrain, func(worker, lo, hi int) {
		row := m.e.row[worker][:mat.Cols]
		for r := lo; r < hi; r++ {
			fillRow(row, kind, seed, name, r)
			mat.setRow(r, row)
		}
		mat.tile(lo, hi)
	})
	return nil
}

// Memory returns the model's memory breakdown.
func (m *Model) Memory() Breakdown { return m.mem }

// Batch returns the largest number of tokens one forward pass processes.
func (m *Model) Batch() int { return m.batch }

// MaxContext returns the number of positions the caches hold.
func (m *Model) MaxContext() int { return m.maxCtx }

// Pos returns the number of tokens processed since the last Reset.
func (m *Model) Pos() int { return m.pos }

// Threads returns the worker count.
func (m *Model) Threads() int { return m.e.Threads() }

// Close stops the model's workers. The model must not be used afterwards.
func (m *Model) Close() { m.e.Close() }

// Reset clears the KV cache position and every recurrent state, so the
// next Prefill starts a new sequence.
func (m *Model) Reset() {
	m.pos = 0
	m.seqGen++
	for _, l := range m.layers {
		clear(l.convState)
		clear(l.state)
	}
}

// Prefill processes tokens after those already in the context and returns
// the logits of the last one. The returned slice is owned by the model and
// overwritten by the next call.
func (m *Model) Prefill(tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, errors.New("prefill: no tokens")
	}
	if m.pos+len(tokens) > m.maxCtx {
		return nil, fmt.Errorf("prefill of %d tokens at position %d: %w (max context %d)", len(tokens), m.pos, ErrContextFull, m.maxCtx)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= m.spec.Vocab {
			return nil, fmt.Errorf("prefill: token %d at index %d is outside the vocabulary [0, %d)", t, i, m.spec.Vocab)
		}
	}
	for i := 0; i < len(tokens); i += m.batch {
		j := min(len(tokens), i+m.batch)
		if err := m.forward(tokens[i:j], j == len(tokens)); err != nil {
			return nil, err
		}
	}
	return m.logits, nil
}

// Decode processes one token and returns its logits (owned by the model).
func (m *Model) Decode(token int32) ([]float32, error) {
	m.one[0] = token
	return m.Prefill(m.one[:])
}

// Checkpoint is a copy of a model's sequence state (position, KV caches,
// recurrent states) taken by Save; Restore puts it back, so that one
// prefix can be continued several times without being prefilled again
// (the benchmark's context depth).
type Checkpoint struct {
	pos    int
	layers []layerState
}

type layerState struct {
	convState, state []float32
	k16, v16         []uint16
	k32, v32         []float32
}

// Bytes returns the checkpoint's storage size.
func (c *Checkpoint) Bytes() int64 {
	var b int64
	for _, l := range c.layers {
		b += 4*int64(len(l.convState)+len(l.state)+len(l.k32)+len(l.v32)) + 2*int64(len(l.k16)+len(l.v16))
	}
	return b
}

// Save copies the current sequence state into a new Checkpoint (it
// allocates as much as the model's KV caches and states).
func (m *Model) Save() *Checkpoint {
	c := &Checkpoint{pos: m.pos, layers: make([]layerState, len(m.layers))}
	for i, l := range m.layers {
		s := &c.layers[i]
		s.convState, s.state = slices.Clone(l.convState), slices.Clone(l.state)
		if l.cache != nil {
			s.k16, s.v16 = slices.Clone(l.cache.k16), slices.Clone(l.cache.v16)
			s.k32, s.v32 = slices.Clone(l.cache.k32), slices.Clone(l.cache.v32)
		}
	}
	return c
}

// Restore puts the sequence state saved by Save back. It fails, changing
// nothing, if c was not saved from a model of the same shape.
func (m *Model) Restore(c *Checkpoint) error {
	if c == nil || len(c.layers) != len(m.layers) {
		return errors.New("restore: checkpoint of another model")
	}
	for i, l := range m.layers {
		s := &c.layers[i]
		ok := len(s.convState) == len(l.convState) && len(s.state) == len(l.state)
		if l.cache != nil {
			ok = ok && len(s.k16) == len(l.cache.k16) && len(s.v16) == len(l.cache.v16) &&
				len(s.k32) == len(l.cache.k32) && len(s.v32) == len(l.cache.v32)
		}
		if !ok {
			return errors.New("restore: checkpoint of another model")
		}
	}
	m.pos = c.pos
	for i, l := range m.layers {
		s := &c.layers[i]
		copy(l.convState, s.convState)
		copy(l.state, s.state)
		if l.cache != nil {
			copy(l.cache.k16, s.k16)
			copy(l.cache.v16, s.v16)
			copy(l.cache.k32, s.k32)
			copy(l.cache.v32, s.v32)
		}
	}
	return nil
}
