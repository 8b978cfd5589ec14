package arch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/x448/float16"
)

// This file holds an independent GGUF v3 reader (written for the test, it
// shares no code with gguf.go) and checks our exports against the tensor
// names, shapes and types llama.cpp's loaders create (src/llama-model.cpp,
// load_tensors, cases LLM_ARCH_LFM2, LLM_ARCH_LLAMA and LLM_ARCH_QWEN3 at
// llama.cpp commit 10e9780154365b191fb43ca4830659ef12def80f), and the
// metadata keys its load_hparams reads.

type tReader struct {
	b   []byte
	off int
	err error
}

func (r *tReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || r.off+n > len(r.b) {
		r.err = fmt.Errorf("read %d bytes at %d: past end %d", n, r.off, len(r.b))
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *tReader) u32() uint32 {
	p := r.take(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

func (r *tReader) u64() uint64 {
	p := r.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (r *tReader) str() string { return string(r.take(int(r.u64()))) }

// value reads one metadata value of GGUF type typ.
func (r *tReader) value(typ uint32) any {
	switch typ {
	case 0, 1, 7: // uint8, int8, bool
		p := r.take(1)
		if p == nil {
			return nil
		}
		if typ == 7 {
			return p[0] != 0
		}
		return p[0]
	case 2, 3:
		return r.take(2)
	case 4:
		return r.u32()
	case 5:
		return int32(r.u32())
	case 6:
		return math.Float32frombits(r.u32())
	case 8:
		return r.str()
	case 9:
		et := r.u32()
		n := r.u64()
		if n > uint64(len(r.b)) {
			r.err = fmt.Errorf("array of %d elements", n)
			return nil
		}
		out := make([]any, 0, n)
		for range n {
			out = append(out, r.value(et))
		}
		return out
	case 10, 11:
		return r.u64()
	case 12:
		return math.Float64frombits(r.u64())
	}
	r.err = fmt.Errorf("unknown metadata type %d", typ)
	return nil
}

type tTensor struct {
	name   string
	ne     []uint64
	typ    uint32
	offset uint64
}

type tFile struct {
	kv      map[string]any
	kvType  map[string]uint32
	tensors []tTensor
	data    int // start of the data section
	raw     []byte
}

func readGGUF(t *testing.T, b []byte, size int64) *tFile {
	t.Helper()
	r := &tReader{b: b}
	if string(r.take(4)) != "GGUF" {
		t.Fatal("bad magic")
	}
	if v := r.u32(); v != 3 {
		t.Fatalf("version %d, want 3", v)
	}
	nt, nkv := r.u64(), r.u64()
	f := &tFile{kv: map[string]any{}, kvType: map[string]uint32{}, raw: b}
	for range nkv {
		k := r.str()
		typ := r.u32()
		if _, dup := f.kv[k]; dup {
			t.Fatalf("duplicate key %s", k)
		}
		f.kvType[k] = typ
		f.kv[k] = r.value(typ)
	}
	for range nt {
		var tt tTensor
		tt.name = r.str()
		nd := r.u32()
		for range nd {
			tt.ne = append(tt.ne, r.u64())
		}
		tt.typ = r.u32()
		tt.offset = r.u64()
		f.tensors = append(f.tensors, tt)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	align := 32
	if a, ok := f.kv["general.alignment"].(uint32); ok {
		align = int(a)
	}
	f.data = (r.off + align - 1) / align * align
	for _, tt := range f.tensors {
		if tt.offset%uint64(align) != 0 {
			t.Errorf("%s: offset %d not aligned to %d", tt.name, tt.offset, align)
		}
		end := uint64(f.data) + tt.offset + tSize(tt)
		if end > uint64(size) {
			t.Fatalf("%s: data ends at %d past the file end %d", tt.name, end, size)
		}
	}
	return f
}

// tSize is the byte size of a tensor from ggml's type traits (block size,
// bytes per block): f32 (1,4), f16 (1,2), q4_0 (32,18), q8_0 (32,34).
func tSize(tt tTensor) uint64 {
	blk, bytesPer := map[uint32][2]uint64{0: {1, 4}, 1: {1, 2}, 2: {32, 18}, 8: {32, 34}}[tt.typ][0], map[uint32][2]uint64{0: {1, 4}, 1: {1, 2}, 2: {32, 18}, 8: {32, 34}}[tt.typ][1]
	if blk == 0 {
		return 0
	}
	n := uint64(1)
	for _, x := range tt.ne {
		n *= x
	}
	return n / blk * bytesPer
}

// want is one tensor llama.cpp's loader creates: name and ggml ne (ne[0]
// is the row length), and whether it is a 2-D weight stored at the export
// precision (else f32).
type want struct {
	name  string
	ne    []uint64
	quant bool
}

// expectLFM2 lists the tensors of llama.cpp's LLM_ARCH_LFM2 loader.
func expectLFM2(s *Spec) []want {
	d, V := uint64(s.Hidden), uint64(s.Vocab)
	out := []want{
		{"token_embd.weight", []uint64{d, V}, true},
		{"token_embd_norm.weight", []uint64{d}, false},
	}
	for i, l := range s.Layers {
		F := uint64(l.FFN)
		p := fmt.Sprintf("blk.%d.", i)
		out = append(out,
			want{p + "ffn_norm.weight", []uint64{d}, false},
			want{p + "ffn_gate.weight", []uint64{d, F}, true},
			want{p + "ffn_down.weight", []uint64{F, d}, true},
			want{p + "ffn_up.weight", []uint64{d, F}, true},
			want{p + "attn_norm.weight", []uint64{d}, false})
		if l.Mixer == MixerGQA {
			hd := d / uint64(l.GQA.Heads) // llama.cpp: n_embd_head_k = n_embd / n_head
			kv := uint64(l.GQA.KVHeads) * hd
			out = append(out,
				want{p + "attn_q_norm.weight", []uint64{hd}, false},
				want{p + "attn_k_norm.weight", []uint64{hd}, false},
				want{p + "attn_q.weight", []uint64{d, d}, true},
				want{p + "attn_k.weight", []uint64{d, kv}, true},
				want{p + "attn_v.weight", []uint64{d, kv}, true},
				want{p + "attn_output.weight", []uint64{d, d}, true})
		} else {
			out = append(out,
				want{p + "shortconv.conv.weight", []uint64{uint64(l.Conv.Kernel), d}, false},
				want{p + "shortconv.in_proj.weight", []uint64{d, 3 * d}, true},
				want{p + "shortconv.out_proj.weight", []uint64{d, d}, true})
		}
	}
	return out
}

// expectLlama lists the tensors of llama.cpp's LLM_ARCH_LLAMA loader
// (qkNorm adds the two norms of LLM_ARCH_QWEN3).
func expectLlama(s *Spec, qkNorm bool) []want {
	d, V := uint64(s.Hidden), uint64(s.Vocab)
	out := []want{
		{"token_embd.weight", []uint64{d, V}, true},
		{"output_norm.weight", []uint64{d}, false},
	}
	for i, l := range s.Layers {
		a := l.GQA
		F, hd := uint64(l.FFN), uint64(a.HeadDim)
		q, kv := hd*uint64(a.Heads), hd*uint64(a.KVHeads)
		p := fmt.Sprintf("blk.%d.", i)
		out = append(out,
			want{p + "attn_norm.weight", []uint64{d}, false},
			want{p + "attn_q.weight", []uint64{d, q}, true},
			want{p + "attn_k.weight", []uint64{d, kv}, true},
			want{p + "attn_v.weight", []uint64{d, kv}, true},
			want{p + "attn_output.weight", []uint64{q, d}, true},
			want{p + "ffn_norm.weight", []uint64{d}, false},
			want{p + "ffn_gate.weight", []uint64{d, F}, true},
			want{p + "ffn_down.weight", []uint64{F, d}, true},
			want{p + "ffn_up.weight", []uint64{d, F}, true})
		if qkNorm {
			out = append(out,
				want{p + "attn_k_norm.weight", []uint64{hd}, false},
				want{p + "attn_q_norm.weight", []uint64{hd}, false})
		}
	}
	return out
}

var ggmlCode = map[Precision]uint32{F32: 0, F16: 1, Q4_0: 2, Q8_0: 8}

func checkTensors(t *testing.T, f *tFile, exp []want, p Precision) {
	t.Helper()
	got := map[string]tTensor{}
	for _, tt := range f.tensors {
		if _, dup := got[tt.name]; dup {
			t.Errorf("duplicate tensor %s", tt.name)
		}
		got[tt.name] = tt
	}
	if len(got) != len(exp) {
		t.Errorf("file has %d tensors, llama.cpp expects %d", len(got), len(exp))
	}
	for _, w := range exp {
		tt, ok := got[w.name]
		if !ok {
			t.Errorf("missing tensor %s", w.name)
			continue
		}
		if fmt.Sprint(tt.ne) != fmt.Sprint(w.ne) {
			t.Errorf("%s: ne %v, want %v", w.name, tt.ne, w.ne)
		}
		typ := uint32(0)
		if w.quant {
			typ = ggmlCode[p]
		}
		if tt.typ != typ {
			t.Errorf("%s: type %d, want %d at %s", w.name, tt.typ, typ, p)
		}
	}
}

// checkKeys verifies the metadata llama.cpp's load_hparams and vocab
// loader read, with the GGUF types its get_key accepts.
func checkKeys(t *testing.T, f *tFile, s *Spec, fam string) {
	t.Helper()
	u32 := func(k string, v uint32) {
		t.Helper()
		if f.kvType[k] != 4 || f.kv[k] != v {
			t.Errorf("%s = %v (type %d), want uint32 %d", k, f.kv[k], f.kvType[k], v)
		}
	}
	f32 := func(k string, v float64) {
		t.Helper()
		if f.kvType[k] != 6 || f.kv[k] != float32(v) {
			t.Errorf("%s = %v (type %d), want float32 %v", k, f.kv[k], f.kvType[k], v)
		}
	}
	if f.kv["general.architecture"] != fam {
		t.Errorf("general.architecture = %v, want %s", f.kv["general.architecture"], fam)
	}
	u32(fam+".context_length", uint32(s.MaxContext))
	u32(fam+".embedding_length", uint32(s.Hidden))
	u32(fam+".block_count", uint32(len(s.Layers)))
	u32(fam+".feed_forward_length", uint32(s.Layers[0].FFN))
	f32(fam+".attention.layer_norm_rms_epsilon", s.NormEps)
	var a *Attention
	for _, l := range s.Layers {
		if l.Mixer == MixerGQA {
			a = l.GQA
			break
		}
	}
	u32(fam+".attention.head_count", uint32(a.Heads))
	f32(fam+".rope.freq_base", a.RopeTheta)
	if fam == "lfm2" {
		u32(fam+".shortconv.l_cache", 3)
		arr, _ := f.kv[fam+".attention.head_count_kv"].([]any)
		if len(arr) != len(s.Layers) {
			t.Fatalf("head_count_kv has %d entries, want %d", len(arr), len(s.Layers))
		}
		for i, l := range s.Layers {
			w := uint32(0) // llama.cpp marks recurrent layers by 0 KV heads
			if l.Mixer == MixerGQA {
				w = uint32(l.GQA.KVHeads)
			}
			if arr[i] != w {
				t.Errorf("head_count_kv[%d] = %v, want %d", i, arr[i], w)
			}
		}
	} else {
		u32(fam+".attention.head_count_kv", uint32(a.KVHeads))
		u32(fam+".attention.key_length", uint32(a.HeadDim))
		u32(fam+".attention.value_length", uint32(a.HeadDim))
		u32(fam+".rope.dimension_count", uint32(a.HeadDim))
	}
	if f.kv["tokenizer.ggml.model"] != "llama" {
		t.Errorf("tokenizer.ggml.model = %v", f.kv["tokenizer.ggml.model"])
	}
	toks, _ := f.kv["tokenizer.ggml.tokens"].([]any)
	scores, _ := f.kv["tokenizer.ggml.scores"].([]any)
	types, _ := f.kv["tokenizer.ggml.token_type"].([]any)
	if len(toks) != s.Vocab || len(scores) != s.Vocab || len(types) != s.Vocab {
		t.Fatalf("tokenizer arrays %d/%d/%d, want %d", len(toks), len(scores), len(types), s.Vocab)
	}
	seen := map[any]bool{}
	for _, tk := range toks {
		if seen[tk] || tk == "" {
			t.Fatalf("token %q repeated or empty", tk)
		}
		seen[tk] = true
	}
	if toks[1] != "<s>" || toks[2] != "</s>" || toks[3+'\n'] != "<0x0A>" {
		t.Errorf("special tokens %v %v %v", toks[1], toks[2], toks[3+'\n'])
	}
	u32("tokenizer.ggml.bos_token_id", 1)
	u32("tokenizer.ggml.eos_token_id", 2)
}

// headerOnly keeps the first limit bytes written and counts the rest.
type headerOnly struct {
	buf   bytes.Buffer
	limit int
	n     int64
}

func (h *headerOnly) Write(p []byte) (int, error) {
	if room := h.limit - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(room, len(p))])
	}
	h.n += int64(len(p))
	return len(p), nil
}

// TestGGUFPresetsMatchLlamaCpp exports the lfm2-350m, llama-3.2-1b and
// qwen3-0.6b presets at q4_0 and checks every tensor and key against
// llama.cpp's loader, plus the total file size.
func TestGGUFPresetsMatchLlamaCpp(t *testing.T) {
	if testing.Short() {
		t.Skip("writes full-size models")
	}
	for _, c := range []struct {
		preset, fam string
	}{{"lfm2-350m", "lfm2"}, {"llama-3.2-1b", "llama"}, {"qwen3-0.6b", "qwen3"}} {
		t.Run(c.preset, func(t *testing.T) {
			s, _ := Preset(c.preset)
			h := &headerOnly{limit: 8 << 20}
			if err := s.WriteGGUF(h, Q4_0, 1); err != nil {
				t.Fatal(err)
			}
			f := readGGUF(t, h.buf.Bytes(), h.n)
			switch c.fam {
			case "lfm2":
				checkTensors(t, f, expectLFM2(s), Q4_0)
			default:
				checkTensors(t, f, expectLlama(s, c.fam == "qwen3"), Q4_0)
			}
			checkKeys(t, f, s, c.fam)
			var end uint64
			for _, tt := range f.tensors {
				end = max(end, (tt.offset+tSize(tt)+31)/32*32)
			}
			if got, wantN := h.n, int64(f.data)+int64(end); got != wantN {
				t.Errorf("file size %d, want %d", got, wantN)
			}
			if got, want := int64(end), s.WeightBytes(Q4_0); got < want || got > want+32*int64(len(f.tensors)) {
				t.Errorf("data section %d, WeightBytes(q4_0) %d", got, want)
			}
		})
	}
}

// tinyLFM2 is a small conv+GQA spec for full-data checks.
func tinyLFM2() *Spec {
	return &Spec{Name: "tiny", Vocab: 300, Hidden: 64, TiedEmbeddings: true, NormEps: 1e-5, MaxContext: 256,
		Layers: []Layer{
			{Mixer: MixerConv, Conv: &Conv{Kernel: 3}, FFN: 96},
			{Mixer: MixerGQA, GQA: &Attention{Heads: 4, KVHeads: 2, HeadDim: 16, QKNorm: true, RopeTheta: 1e6}, FFN: 96},
			{Mixer: MixerConv, Conv: &Conv{Kernel: 3}, FFN: 96},
		}}
}

// dequant decodes one tensor's data with an independent implementation of
// the ggml formats.
func dequant(raw []byte, typ uint32, n int) []float32 {
	out := make([]float32, 0, n)
	h := func(b []byte) float32 { return float16.Frombits(binary.LittleEndian.Uint16(b)).Float32() }
	switch typ {
	case 0:
		for i := range n {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	case 1:
		for i := range n {
			out = append(out, h(raw[2*i:]))
		}
	case 8:
		for b := 0; b < n/32; b++ {
			blk := raw[34*b:]
			d := h(blk)
			for j := range 32 {
				out = append(out, d*float32(int8(blk[2+j])))
			}
		}
	case 2:
		for b := 0; b < n/32; b++ {
			blk := raw[18*b:]
			d := h(blk)
			var v [32]float32
			for j := range 16 {
				v[j] = d * float32(int(blk[2+j]&15)-8)
				v[j+16] = d * float32(int(blk[2+j]>>4)-8)
			}
			out = append(out, v[:]...)
		}
	}
	return out
}

// TestGGUFDataRoundTrip writes a tiny spec at every precision, decodes
// every tensor and compares with the FillRow values within each
// format's rounding bound; it also checks determinism per seed.
func TestGGUFDataRoundTrip(t *testing.T) {
	s := tinyLFM2()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range Precisions {
		t.Run(string(p), func(t *testing.T) {
			var a, b, c bytes.Buffer
			if err := s.WriteGGUF(&a, p, 7); err != nil {
				t.Fatal(err)
			}
			_ = s.WriteGGUF(&b, p, 7)
			_ = s.WriteGGUF(&c, p, 8)
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("same seed gave different files")
			}
			if bytes.Equal(a.Bytes(), c.Bytes()) {
				t.Error("different seeds gave the same file")
			}
			f := readGGUF(t, a.Bytes(), int64(a.Len()))
			checkTensors(t, f, expectLFM2(s), p)
			checkKeys(t, f, s, "lfm2")
			byName := map[string]Tensor{}
			for _, tn := range s.Tensors() {
				byName[GGUFTensorName(tn, FamilyLFM2)] = tn
			}
			for _, tt := range f.tensors {
				tn := byName[tt.name]
				n := int(tn.Elements())
				got := dequant(f.raw[f.data+int(tt.offset):], tt.typ, n)
				ref := make([]float32, n)
				row := tn.Shape[len(tn.Shape)-1]
				for r := 0; r < n/row; r++ {
					FillRow(tn, 7, r, ref[r*row:(r+1)*row])
				}
				for i := range n {
					var bound float64
					switch tt.typ {
					case 1:
						bound = 1e-3*math.Abs(float64(ref[i])) + 3e-8 // half the f16 subnormal step
					case 8, 2:
						blk := ref[i/32*32 : i/32*32+32]
						var amax float64
						for _, v := range blk {
							amax = max(amax, math.Abs(float64(v)))
						}
						if tt.typ == 8 {
							bound = amax/127/2 + 1e-3*amax // rounding + f16 scale
						} else {
							// x/d spans [-8, 8] but codes stop at 7: the top
							// half-step clamps, so the error reaches d = amax/8.
							bound = amax/8 + 1e-3*amax
						}
					}
					if diff := math.Abs(float64(got[i] - ref[i])); diff > bound {
						t.Fatalf("%s[%d] (row len %d) = %v, want %v ± %v", tt.name, i, row, got[i], ref[i], bound)
					}
				}
			}
		})
	}
}

// TestGGUFRejects checks the exporter's errors.
func TestGGUFRejects(t *testing.T) {
	s := tinyLFM2()
	s.Vocab = 100
	if err := s.WriteGGUF(&bytes.Buffer{}, Q8_0, 1); err == nil {
		t.Error("vocab 100 accepted")
	}
	s = tinyLFM2()
	s.Layers[1] = Layer{Mixer: MixerSWA, SWA: &SWA{Attention: *s.Layers[1].GQA, Window: 32}, FFN: 96}
	if err := s.WriteGGUF(&bytes.Buffer{}, Q8_0, 1); err == nil {
		t.Error("swa accepted")
	}
	if err := tinyLFM2().WriteGGUF(&bytes.Buffer{}, "q5_k", 1); err == nil {
		t.Error("unknown precision accepted")
	}
}
