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

// GGUFTensorName is the name t has in a GGUF file of family fam: the
// Tensors name, except that llama.cpp's lfm2 loader calls the final norm
// "token_embd_norm.weight".
func GGUFTensorName(t Tensor, fam Family) string {
	if fam == FamilyLFM2 && t.Name == "output_norm.weight" {
		return "token_embd_norm.weight"
	}
	return t.Name
}

type ggufKV struct {
	key string
	typ uint32 // value type; for arrays the element type
	arr bool
	val any // uint32, int32, float32, bool, string, []uint32, []int32, []float32, []string
}

// ggufMetadata is the key/value section for s in family fam.
func (s *Spec) ggufMetadata(fam Family, p Precision) []ggufKV {
	a := string(fam)
	u := func(k string, v int) ggufKV { return ggufKV{key: k, typ: ggufUint32, val: uint32(v)} }
	f := func(k string, v float64) ggufKV { return ggufKV{key: k, typ: ggufFloat32, val: float32(v)} }
	name := s.Name
	if name == "" {
		name = "hilsearch-" + s.Hash()[:12]
	}
	kvs := []ggufKV{
		{key: "general.architecture", typ: ggufString, val: a},
		{key: "general.name", typ: ggufString, val: name},
		u("general.file_type", int(ggufFileType(p))),
		u("general.quantization_version", 2),
		u("general.alignment", ggufAlignment),
		u(a+".vocab_size", s.Vocab),
		u(a+".context_length", s.MaxContext),
		u(a+".embedding_length", s.Hidden),
		u(a+".block_count", len(s.Layers)),
		u(a+".feed_forward_length", s.Layers[0].FFN),
		f(a+".attention.layer_norm_rms_epsilon", s.NormEps),
	}
	att := s.firstAttention()
	heads, theta := 0, 1e6
	if att != nil {
		heads, theta = att.Heads, att.RopeTheta
	}
	kvs = append(kvs, u(a+".attention.head_count", heads), f(a+".rope.freq_base", theta))
	switch fam {
	case FamilyLFM2:
		kvHeads := make([]uint32, len(s.Layers))
		for i, l := range s.Layers {
			if l.Mixer == MixerGQA {
				kvHeads[i] = uint32(l.GQA.KVHeads)
			}
		}
		kvs = append(kvs, ggufKV{key: a + ".attention.head_count_kv", typ: ggufUint32, arr: true, val: kvHeads})
		kvs = append(kvs, u(a+".shortconv.l_cache", s.firstConvKernel()))
	default:
		kvs = append(kvs,
			u(a+".attention.head_count_kv", att.KVHeads),
			u(a+".attention.key_length", att.HeadDim),
			u(a+".attention.value_length", att.HeadDim),
			u(a+".rope.dimension_count", att.HeadDim))
	}
	// Minimal SentencePiece-style vocabulary so llama.cpp's tools load it.
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
	kvs = append(kvs,
		ggufKV{key: "tokenizer.ggml.model", typ: ggufString, val: "llama"},
		ggufKV{key: "tokenizer.ggml.tokens", typ: ggufString, arr: true, val: tokens},
		ggufKV{key: "tokenizer.ggml.scores", typ: ggufFloat32, arr: true, val: scores},
		ggufKV{key: "tokenizer.ggml.token_type", typ: ggufInt32, arr: true, val: types},
		u("tokenizer.ggml.unknown_token_id", 0),
		u("tokenizer.ggml.bos_token_id", 1),
		u("tokenizer.ggml.eos_token_id", 2),
		ggufKV{key: "tokenizer.ggml.add_bos_token", typ: ggufBool, val: true},
		ggufKV{key: "tokenizer.ggml.add_eos_token", typ: ggufBool, val: false},
	)
	return kvs
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
	}
}

func alignUp(n int64) int64 { return (n + ggufAlignment - 1) / ggufAlignment * ggufAlignment }

// GGUFFamily is the llama.cpp architecture WriteGGUF would use for s, or
// the reason it cannot export s (matching ErrNotExportable): any Family
// error, an lfm2 spec without a gqa layer (llama.cpp's hybrid memory cannot
// run one), or a vocab below GGUFMinVocab.
func (s *Spec) GGUFFamily() (Family, error) {
	fam, err := s.Family()
	if err != nil {
		return "", fmt.Errorf("gguf: %w", err)
	}
	if fam == FamilyLFM2 && s.firstAttention() == nil {
		return "", fmt.Errorf("gguf: %w", notExportable("layers", "no gqa layer: llama.cpp's lfm2 hybrid memory needs at least one attention layer"))
	}
	if s.Vocab < GGUFMinVocab {
		return "", fmt.Errorf("gguf: %w", notExportable("vocab", "%d is below %d, the size of the GGUF export's minimal tokenizer", s.Vocab, GGUFMinVocab))
	}
	return fam, nil
}

// WriteGGUF writes s as a GGUF v3 file for llama.cpp: architecture lfm2,
// llama or qwen3 (Family; an lfm2 spec needs at least one gqa layer, since
// llama.cpp cannot run an all-conv one), the hyper-parameter keys its loader reads, a
// minimal SentencePiece-style tokenizer (see GGUFMinVocab), and every tensor
// of Tensors with seeded random values (FillRow) stored at
// Tensor.Type(p), quantised directly for q8_0/q4_0. The output is a pure
// function of (s, p, seed). The spec must be valid.
func (s *Spec) WriteGGUF(w io.Writer, p Precision, seed uint64) error {
	if !p.Valid() {
		return fmt.Errorf("gguf: unknown precision %q", p)
	}
	fam, err := s.GGUFFamily()
	if err != nil {
		return err
	}
	tensors := s.Tensors()
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
	for _, t := range tensors {
		g.str(GGUFTensorName(t, fam))
		g.u32(uint32(len(t.Shape)))
		for i := len(t.Shape) - 1; i >= 0; i-- { // ne[0] is the row length
			g.u64(uint64(t.Shape[i]))
		}
		g.u32(GGMLType(t.Type(p)))
		g.u64(uint64(off))
		off = alignUp(off + t.Bytes(p))
	}
	g.pad()
	var row []float32
	var enc []byte
	for _, t := range tensors {
		q := t.Type(p)
		n := t.Shape[len(t.Shape)-1]
		rows := t.Elements() / int64(n)
		if cap(row) < n {
			row = make([]float32, n)
		}
		row = row[:n]
		for r := range int(rows) {
			FillRow(t, seed, r, row)
			enc = EncodeRow(enc[:0], row, q)
			g.bytes(enc)
		}
		g.pad()
		if g.err != nil {
			return fmt.Errorf("gguf: write %s: %w", t.Name, g.err)
		}
	}
	if err := g.w.Flush(); err != nil {
		return fmt.Errorf("gguf: flush: %w", err)
	}
	return nil
}
