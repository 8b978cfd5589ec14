package arch

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// GGUF constants (GGUF v3, little-endian).
const (
	ggufMagic     = "GGUF"
	ggufVersion   = 3
	ggufAlignment = 32

	// metadata value types
	ggufUint32  = 4
	ggufInt32   = 5
	ggufFloat32 = 6
	ggufBool    = 7
	ggufString  = 8
	ggufArray   = 9
)

// GGMLType is the tensor type code GGUF stores for a precision (ggml_type:
// f32 0, f16 1, q4_0 2, q8_0 8).
func GGMLType(p Precision) uint32 {
	switch p {
	case F16:
		return 1
	case Q4_0:
		return 2
	case Q8_0:
		return 8
	}
	return 0
}

// ggufFileType is general.file_type (llama_ftype: all f32 0, mostly f16 1,
// mostly q4_0 2, mostly q8_0 7).
func ggufFileType(p Precision) uint32 {
	switch p {
	case F16:
		return 1
	case Q4_0:
		return 2
	case Q8_0:
		return 7
	}
	return 0
}

// GGUFMinVocab is the smallest vocab the GGUF export accepts: its SPM-style
// tokenizer has <unk>, <s>, </s> and the 256 byte tokens <0x00>..<0xFF>.
const GGUFMinVocab = 259

type ggufKV struct {
	key string
	typ uint32 // value type; for arrays the element type
	arr bool
	val any // uint32, int32, float32, bool, string, []uint32, []int32, []float32, []string, []bool
}

// ggufMetadata is the key/value section for s in family fam: general.*,
// the hyper-parameter keys the family's load_arch_hparams and the generic
// loader (src/llama-model.cpp load_hparams) read, and the tokenizer.
func (s *Spec) ggufMetadata(fam Family, p Precision) []ggufKV {
	a := string(fam)
	u := func(k string, v int) ggufKV { return ggufKV{key: a + "." + k, typ: ggufUint32, val: uint32(v)} }
	f := func(k string, v float64) ggufKV { return ggufKV{key: a + "." + k, typ: ggufFloat32, val: float32(v)} }
	perLayer := func(k string, v func(l *Layer) int) ggufKV {
		arr := make([]uint32, len(s.Layers))
		for i := range s.Layers {
			arr[i] = uint32(v(&s.Layers[i]))
		}
		return ggufKV{key: a + "." + k, typ: ggufUint32, arr: true, val: arr}
	}
	heads := func(l *Layer) int {
		if at := l.attention(); at != nil {
			return at.Heads
		}
		return 0
	}
	kvHeads := func(l *Layer) int { // 0 marks a recurrent layer (lfm2, granitehybrid)
		if at := l.attention(); at != nil {
			return at.KVHeads
		}
		return 0
	}
	ffn := func(l *Layer) int { return l.FFN }

	name := s.Name
	if name == "" {
		name = "hilsearch-" + s.Hash()[:12]
	}
	kvs := []ggufKV{
		{key: "general.architecture", typ: ggufString, val: a},
		{key: "general.name", typ: ggufString, val: name},
		{key: "general.file_type", typ: ggufUint32, val: ggufFileType(p)},
		{key: "general.quantization_version", typ: ggufUint32, val: uint32(2)},
		{key: "general.alignment", typ: ggufUint32, val: uint32(ggufAlignment)},
		u("vocab_size", s.Vocab),
		u("context_length", s.MaxContext),
		u("embedding_length", s.Hidden),
		u("block_count", len(s.Layers)),
		f("attention.layer_norm_rms_epsilon", s.NormEps),
	}
	att := s.firstAttention()
	hd, theta := 0, 1e6
	if att != nil {
		hd, theta = att.HeadDim, att.RopeTheta
	}
	headLengths := func(rot int) []ggufKV {
		return []ggufKV{u("attention.key_length", hd), u("attention.value_length", hd), u("rope.dimension_count", rot), f("rope.freq_base", theta)}
	}
	ssmKeys := func() []ggufKV {
		m := s.firstSSM()
		return []ggufKV{u("ssm.conv_kernel", m.ConvKernel), u("ssm.inner_size", m.Heads*m.HeadDim), u("ssm.state_size", m.State),
			u("ssm.time_step_rank", m.Heads), u("ssm.group_count", 1)}
	}
	switch fam {
	case FamilyLFM2:
		// n_embd_head = hidden / head_count; head_count_kv 0 marks a conv layer.
		kvs = append(kvs, u("feed_forward_length", s.Layers[0].FFN), u("attention.head_count", att.Heads),
			perLayer("attention.head_count_kv", kvHeads), f("rope.freq_base", theta), u("shortconv.l_cache", s.firstConvKernel()))
		if w := s.firstWindow(); w > 0 {
			kvs = append(kvs, u("attention.sliding_window", w)) // every attention layer slides
		}
	case FamilyLlama, FamilyQwen3:
		kvs = append(kvs, u("feed_forward_length", s.Layers[0].FFN), u("attention.head_count", att.Heads), u("attention.head_count_kv", att.KVHeads))
		kvs = append(kvs, headLengths(hd)...)
	case FamilyDeci, FamilyOpenELM:
		kvs = append(kvs, perLayer("feed_forward_length", ffn), perLayer("attention.head_count", heads), perLayer("attention.head_count_kv", kvHeads))
		kvs = append(kvs, headLengths(hd)...)
	case FamilyStep35:
		// step35 halves rope.dimension_count for its full-attention layers
		// (load_arch_hparams: n_rot_full /= 2); writing 2·head_dim rotates
		// the whole head there, and rope.dimension_count_swa = head_dim
		// does so on the sliding layers. MoE is off (no expert tensors).
		pattern := make([]bool, len(s.Layers))
		for i, l := range s.Layers {
			pattern[i] = l.Mixer == MixerSWA
		}
		kvs = append(kvs, u("feed_forward_length", s.Layers[0].FFN), u("expert_feed_forward_length", 0),
			perLayer("attention.head_count", heads), perLayer("attention.head_count_kv", kvHeads))
		kvs = append(kvs, headLengths(2*hd)...)
		kvs = append(kvs, u("rope.dimension_count_swa", hd), f("rope.freq_base_swa", theta), u("attention.sliding_window", s.firstWindow()),
			ggufKV{key: a + ".attention.sliding_window_pattern", typ: ggufBool, arr: true, val: pattern})
	case FamilyMamba2:
		kvs = append(kvs, u("feed_forward_length", 0), u("attention.head_count", 0))
		kvs = append(kvs, ssmKeys()...)
	case FamilyGraniteHybrid:
		// head_count_kv 0 marks a Mamba2 layer; rope.scaling.finetuned is
		// granitehybrid's RoPE switch (true = RoPE on every attention layer).
		kvs = append(kvs, u("feed_forward_length", s.Layers[0].FFN), u("attention.head_count", att.Heads), perLayer("attention.head_count_kv", kvHeads),
			ggufKV{key: a + ".rope.scaling.finetuned", typ: ggufBool, val: true})
		kvs = append(kvs, headLengths(hd)...)
		kvs = append(kvs, ssmKeys()...)
	}
	return append(kvs, s.ggufTokenizer()...)
}

// ggufTokenizer is a minimal SentencePiece-style vocabulary so llama.cpp's
// tools load the file.
func (s *Spec) ggufTokenizer() []ggufKV {
	n := s.Vocab
	tokens := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	for i := range n {
		switch {
		case i == 0:
			tokens[i], types[i] = "<unk>", 2
		case i == 1:
			tokens[i], types[i] = "<s>", 3
		case i == 2:
			tokens[i], types[i] = "</s>", 3
		case i < 3+256:
			tokens[i], types[i] = fmt.Sprintf("<0x%02X>", i-3), 6
		default:
			tokens[i], types[i], scores[i] = fmt.Sprintf("tok%d", i), 1, -float32(i)
		}
	}
	u := func(k string, v int) ggufKV { return ggufKV{key: k, typ: ggufUint32, val: uint32(v)} }
	return []ggufKV{
		{key: "tokenizer.ggml.model", typ: ggufString, val: "llama"},
		{key: "tokenizer.ggml.tokens", typ: ggufString, arr: true, val: tokens},
		{key: "tokenizer.ggml.scores", typ: ggufFloat32, arr: true, val: scores},
		{key: "tokenizer.ggml.token_type", typ: ggufInt32, arr: true, val: types},
		u("tokenizer.ggml.unknown_token_id", 0),
		u("tokenizer.ggml.bos_token_id", 1),
		u("tokenizer.ggml.eos_token_id", 2),
		{key: "tokenizer.ggml.add_bos_token", typ: ggufBool, val: true},
		{key: "tokenizer.ggml.add_eos_token", typ: ggufBool, val: false},
	}
}

// ggufTensor is one tensor of a GGUF file: its name, ggml dims (ne[0] is
// the row length), storage type, and the Tensors rows it holds — one source
// or several concatenated (a fused projection), each possibly reordered
// (RoPE pair layout) or transformed element-wise (A = -exp(A_log)).
type ggufTensor struct {
	name  string
	ne    []uint64
	typ   Precision
	parts []ggufPart
}

type ggufPart struct {
	src   Tensor
	rowOf func(r int) int         // source row of output row r; nil = r
	value func(x float32) float32 // element transform; nil = identity
}

func (g *ggufTensor) bytes(p Precision) int64 {
	var n int64
	for _, pt := range g.parts {
		n += pt.src.Bytes(p)
	}
	return n
}

// normRope reports whether llama.cpp applies NORM RoPE (adjacent pairs)
// in family fam (llama_model_rope_type in src/llama-model.cpp); our
// runtime, HF and the NEOX families rotate (i, i+hd/2).
func normRope(fam Family) bool {
	return fam == FamilyLlama || fam == FamilyDeci || fam == FamilyGraniteHybrid
}

// neoxToNorm reorders the rows of a q or k projection with heads of width
// hd so that NORM RoPE's pair (2i, 2i+1) holds our rotate-half pair
// (i, i+hd/2); attention scores are unchanged because q and k are permuted
// alike (convert_hf_to_gguf's LlamaModel.permute does the same for HF
// checkpoints).
func neoxToNorm(hd int) func(int) int {
	return func(r int) int {
		h, i := r/hd, r%hd
		return h*hd + (i%2)*(hd/2) + i/2
	}
}

func neOf(shape []int) []uint64 {
	ne := make([]uint64, len(shape))
	for i, x := range shape {
		ne[len(shape)-1-i] = uint64(x)
	}
	return ne
}

// ggufTensors lists the tensors of s as family fam's loader creates them
// (load_arch_tensors in src/models/<arch>.cpp): Tensors, renamed, fused,
// reordered and reshaped where that family wants it, with the same
// elements, so llama.cpp's parameter count equals Params().Total.
func (s *Spec) ggufTensors(fam Family, p Precision) []ggufTensor {
	ts := s.Tensors()
	byName := make(map[string]Tensor, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	out := make([]ggufTensor, 0, len(ts))
	for _, t := range ts {
		g := ggufTensor{name: t.Name, ne: neOf(t.Shape), typ: t.Type(p), parts: []ggufPart{{src: t}}}
		prefix, base := "", t.Name
		if t.Layer >= 0 {
			prefix = fmt.Sprintf("blk.%d.", t.Layer)
			base = t.Name[len(prefix):]
		}
		switch {
		case fam == FamilyLFM2 && t.Name == "output_norm.weight":
			g.name = "token_embd_norm.weight" // LLM_TENSOR_OUTPUT_NORM_LFM2
		case fam == FamilyOpenELM && (base == "attn_k.weight" || base == "attn_v.weight"):
			continue // fused into attn_qkv below
		case fam == FamilyOpenELM && base == "attn_q.weight":
			k, v := byName[prefix+"attn_k.weight"], byName[prefix+"attn_v.weight"]
			g.name = prefix + "attn_qkv.weight"
			g.ne = []uint64{uint64(s.Hidden), uint64(t.Shape[0] + k.Shape[0] + v.Shape[0])}
			g.parts = []ggufPart{{src: t}, {src: k}, {src: v}}
		case normRope(fam) && (base == "attn_q.weight" || base == "attn_k.weight"):
			g.parts[0].rowOf = neoxToNorm(s.Layers[t.Layer].attention().HeadDim)
		case base == "ssm_a":
			g.ne = []uint64{1, uint64(t.Shape[0])}
			g.parts[0].value = func(x float32) float32 { return -float32(math.Exp(float64(x))) } // llama.cpp stores A, not A_log
		case base == "ssm_d":
			g.ne = []uint64{1, uint64(t.Shape[0])}
		case base == "ssm_norm.weight":
			g.ne = []uint64{uint64(t.Shape[0]), 1} // {d_inner / n_group, n_group}
		}
		out = append(out, g)
	}
	return out
}

// ggufWriter tracks the first write error.
type ggufWriter struct {
	w   *bufio.Writer
	n   int64 // bytes written so far
	err error
	buf [8]byte
}

func (g *ggufWriter) bytes(b []byte) {
	if g.err == nil {
		_, g.err = g.w.Write(b)
		g.n += int64(len(b))
	}
}

// pad writes zeros up to the next multiple of the alignment.
func (g *ggufWriter) pad() {
	var zero [ggufAlignment]byte
	g.bytes(zero[:alignUp(g.n)-g.n])
}

func (g *ggufWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(g.buf[:4], v)
	g.bytes(g.buf[:4])
}

func (g *ggufWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(g.buf[:8], v)
	g.bytes(g.buf[:8])
}

func (g *ggufWriter) str(s string) {
	g.u64(uint64(len(s)))
	g.bytes([]byte(s))
}

func (g *ggufWriter) scalar(typ uint32, v any) {
	switch typ {
	case ggufUint32:
		g.u32(v.(uint32))
	case ggufInt32:
		g.u32(uint32(v.(int32)))
	case ggufFloat32:
		g.u32(math.Float32bits(v.(float32)))
	case ggufBool:
		if v.(bool) {
			g.bytes([]byte{1})
		} else {
			g.bytes([]byte{0})
		}
	case ggufString:
		g.str(v.(string))
	}
}

func (g *ggufWriter) kv(kv ggufKV) {
	g.str(kv.key)
	if !kv.arr {
		g.u32(kv.typ)
		g.scalar(kv.typ, kv.val)
		return
	}
	g.u32(ggufArray)
	g.u32(kv.typ)
	switch a := kv.val.(type) {
	case []uint32:
		g.u64(uint64(len(a)))
		for _, v := range a {
			g.u32(v)
		}
	case []int32:
		g.u64(uint64(len(a)))
		for _, v := range a {
			g.u32(uint32(v))
		}
	case []float32:
		g.u64(uint64(len(a)))
		for _, v := range a {
			g.u32(math.Float32bits(v))
		}
	case []string:
		g.u64(uint64(len(a)))
		for _, v := range a {
			g.str(v)
		}
	case []bool:
		g.u64(uint64(len(a)))
		for _, v := range a {
			g.scalar(ggufBool, v)
		}
	}
}

func alignUp(n int64) int64 { return (n + ggufAlignment - 1) / ggufAlignment * ggufAlignment }

// WriteGGUF writes s as a GGUF v3 file for llama.cpp: the architecture
// GGUFFamily chooses, the hyper-parameter keys its loader reads, a minimal
// SentencePiece-style tokenizer (see GGUFMinVocab), and every tensor of
// Tensors — laid out as that architecture's loader creates it (ggufTensors)
// — with seeded random values (FillRow) stored at Tensor.Type(p), quantised
// directly for q8_0/q4_0. The output is a pure function of (s, p, seed).
// The spec must be valid.
func (s *Spec) WriteGGUF(w io.Writer, p Precision, seed uint64) error {
	return s.WriteGGUFWeights(w, p, func(t Tensor, row int, dst []float32) { FillRow(t, seed, row, dst) })
}

// RowFiller writes the values of row row of tensor t (one of Spec.Tensors,
// in our layout: A_log for ssm_a, rotate-half q/k rows) into dst.
type RowFiller func(t Tensor, row int, dst []float32)

// WriteGGUFWeights is WriteGGUF with the weights given by fill instead of
// FillRow, e.g. to hand llama.cpp the weights another runtime holds.
func (s *Spec) WriteGGUFWeights(w io.Writer, p Precision, fill RowFiller) error {
	if !p.Valid() {
		return fmt.Errorf("gguf: unknown precision %q", p)
	}
	fam, err := s.GGUFFamily()
	if err != nil {
		return err
	}
	tensors := s.ggufTensors(fam, p)
	kvs := s.ggufMetadata(fam, p)

	g := &ggufWriter{w: bufio.NewWriterSize(w, 1<<20)}
	g.bytes([]byte(ggufMagic))
	g.u32(ggufVersion)
	g.u64(uint64(len(tensors)))
	g.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		g.kv(kv)
	}
	var off int64
	for i := range tensors {
		t := &tensors[i]
		g.str(t.name)
		g.u32(uint32(len(t.ne)))
		for _, n := range t.ne {
			g.u64(n)
		}
		g.u32(GGMLType(t.typ))
		g.u64(uint64(off))
		off = alignUp(off + t.bytes(p))
	}
	g.pad()
	var row []float32
	var enc []byte
	for i := range tensors {
		t := &tensors[i]
		for _, pt := range t.parts {
			n := pt.src.Shape[len(pt.src.Shape)-1]
			rows := int(pt.src.Elements() / int64(n))
			if cap(row) < n {
				row = make([]float32, n)
			}
			row = row[:n]
			for r := range rows {
				src := r
				if pt.rowOf != nil {
					src = pt.rowOf(r)
				}
				fill(pt.src, src, row)
				if pt.value != nil {
					for j, x := range row {
						row[j] = pt.value(x)
					}
				}
				enc = EncodeRow(enc[:0], row, t.typ)
				g.bytes(enc)
			}
		}
		g.pad()
		if g.err != nil {
			return fmt.Errorf("gguf: write %s: %w", t.name, g.err)
		}
	}
	if err := g.w.Flush(); err != nil {
		return fmt.Errorf("gguf: flush: %w", err)
	}
	return nil
}
