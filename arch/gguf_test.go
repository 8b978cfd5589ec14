package arch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x448/float16"
)

// This file holds an independent GGUF v3 reader (written for the test, it
// shares no code with gguf.go) and checks our exports against the tensor
// names, shapes and types llama.cpp's loaders create (load_arch_tensors in
// src/models/{lfm2,llama,qwen3,deci,openelm,step35,mamba2,granite-hybrid}.cpp
// at llama.cpp commit d775b8967a46d8beb110d444aa3b8938179e0dd8), the
// metadata keys their load_arch_hparams and the generic load_hparams read,
// and the weight values against FillRow.

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

func u64(xs ...int) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = uint64(x)
	}
	return out
}

// expectTensors lists the tensors llama.cpp's loader for fam creates for s,
// transcribed from load_arch_tensors of src/models/<fam>.cpp.
func expectTensors(s *Spec, fam string) []want {
	d, V := s.Hidden, s.Vocab
	out := []want{{"token_embd.weight", u64(d, V), true}}
	if fam == "lfm2" {
		out = append(out, want{"token_embd_norm.weight", u64(d), false}) // LLM_TENSOR_OUTPUT_NORM_LFM2
	} else {
		out = append(out, want{"output_norm.weight", u64(d), false})
	}
	if !s.TiedEmbeddings {
		out = append(out, want{"output.weight", u64(d, V), true})
	}
	for i, l := range s.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		w := func(name string, quant bool, ne ...int) { out = append(out, want{p + name, u64(ne...), quant}) }
		w("attn_norm.weight", false, d)
		if l.FFN > 0 {
			F := l.FFN
			if fam == "lfm2" || fam == "step35" || fam == "granitehybrid" || fam == "llama" || fam == "qwen3" {
				F = s.Layers[0].FFN // these loaders build every FFN from layer 0's width
			}
			w("ffn_norm.weight", false, d)
			w("ffn_gate.weight", true, d, F)
			w("ffn_up.weight", true, d, F)
			w("ffn_down.weight", true, F, d)
		}
		switch l.Mixer {
		case MixerConv:
			w("shortconv.conv.weight", false, l.Conv.Kernel, d)
			w("shortconv.in_proj.weight", true, d, 3*d)
			w("shortconv.out_proj.weight", true, d, d)
		case MixerGQA, MixerSWA:
			a := l.attention()
			hd := a.HeadDim
			if fam == "lfm2" {
				hd = d / a.Heads // lfm2: n_embd_head_k = n_embd / n_head
			}
			q, kv := a.Heads*hd, a.KVHeads*hd
			if fam == "openelm" {
				w("attn_qkv.weight", true, d, q+2*kv)
			} else {
				w("attn_q.weight", true, d, q)
				w("attn_k.weight", true, d, kv)
				w("attn_v.weight", true, d, kv)
			}
			w("attn_output.weight", true, q, d)
			if a.QKNorm {
				w("attn_q_norm.weight", false, hd)
				w("attn_k_norm.weight", false, hd)
			}
		case MixerSSM:
			m := l.SSM
			din := m.Heads * m.HeadDim
			w("ssm_in.weight", true, d, 2*din+2*m.State+m.Heads)
			w("ssm_conv1d.weight", false, m.ConvKernel, din+2*m.State)
			w("ssm_conv1d.bias", false, din+2*m.State)
			w("ssm_dt.bias", false, m.Heads)
			w("ssm_a", false, 1, m.Heads)
			w("ssm_d", false, 1, m.Heads)
			w("ssm_norm.weight", false, din, 1)
			w("ssm_out.weight", true, din, d)
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

// checkKeys verifies the metadata the family's load_arch_hparams, the
// generic load_hparams and the vocab loader read, with the GGUF types
// their get_key/get_key_or_arr accept.
func checkKeys(t *testing.T, f *tFile, s *Spec, fam string) {
	t.Helper()
	u32 := func(k string, v int) {
		t.Helper()
		k = fam + "." + k
		if f.kvType[k] != 4 || f.kv[k] != uint32(v) {
			t.Errorf("%s = %v (type %d), want uint32 %d", k, f.kv[k], f.kvType[k], v)
		}
	}
	f32 := func(k string, v float64) {
		t.Helper()
		k = fam + "." + k
		if f.kvType[k] != 6 || f.kv[k] != float32(v) {
			t.Errorf("%s = %v (type %d), want float32 %v", k, f.kv[k], f.kvType[k], v)
		}
	}
	arr := func(k string, v func(l Layer) any) {
		t.Helper()
		k = fam + "." + k
		got, _ := f.kv[k].([]any)
		if f.kvType[k] != 9 || len(got) != len(s.Layers) {
			t.Errorf("%s = %v (type %d), want an array of %d", k, f.kv[k], f.kvType[k], len(s.Layers))
			return
		}
		for i, l := range s.Layers {
			if w := v(l); got[i] != w {
				t.Errorf("%s[%d] = %v (%T), want %v (%T)", k, i, got[i], got[i], w, w)
			}
		}
	}
	absent := func(k string) {
		t.Helper()
		if _, ok := f.kv[fam+"."+k]; ok {
			t.Errorf("%s.%s is written; the family needs it absent", fam, k)
		}
	}
	heads := func(l Layer) any {
		if a := l.attention(); a != nil {
			return uint32(a.Heads)
		}
		return uint32(0)
	}
	kvHeads := func(l Layer) any { // 0 marks a recurrent layer
		if a := l.attention(); a != nil {
			return uint32(a.KVHeads)
		}
		return uint32(0)
	}
	if f.kv["general.architecture"] != fam {
		t.Errorf("general.architecture = %v, want %s", f.kv["general.architecture"], fam)
	}
	u32("context_length", s.MaxContext)
	u32("embedding_length", s.Hidden)
	u32("block_count", len(s.Layers))
	f32("attention.layer_norm_rms_epsilon", s.NormEps)
	a := s.firstAttention()
	switch fam {
	case "lfm2":
		u32("feed_forward_length", s.Layers[0].FFN)
		u32("attention.head_count", a.Heads)
		f32("rope.freq_base", a.RopeTheta)
		u32("shortconv.l_cache", s.firstConvKernel())
		arr("attention.head_count_kv", kvHeads)
		if w := s.firstWindow(); w > 0 {
			u32("attention.sliding_window", w)
		} else {
			absent("attention.sliding_window")
		}
	case "llama", "qwen3", "deci", "openelm", "step35", "granitehybrid":
		if fam == "deci" || fam == "openelm" {
			arr("feed_forward_length", func(l Layer) any { return uint32(l.FFN) })
		} else {
			u32("feed_forward_length", s.Layers[0].FFN)
		}
		switch fam {
		case "llama", "qwen3":
			u32("attention.head_count", a.Heads)
			u32("attention.head_count_kv", a.KVHeads)
		case "granitehybrid":
			u32("attention.head_count", a.Heads)
			arr("attention.head_count_kv", kvHeads)
		default:
			arr("attention.head_count", heads)
			arr("attention.head_count_kv", kvHeads)
		}
		u32("attention.key_length", a.HeadDim)
		u32("attention.value_length", a.HeadDim)
		f32("rope.freq_base", a.RopeTheta)
		if fam == "step35" {
			// step35 halves rope.dimension_count for full-attention layers.
			u32("rope.dimension_count", 2*a.HeadDim)
			u32("rope.dimension_count_swa", a.HeadDim)
			f32("rope.freq_base_swa", a.RopeTheta)
			u32("expert_feed_forward_length", 0)
			u32("attention.sliding_window", s.firstWindow())
			arr("attention.sliding_window_pattern", func(l Layer) any { return l.Mixer == MixerSWA })
		} else {
			u32("rope.dimension_count", a.HeadDim)
		}
		if fam == "granitehybrid" {
			if f.kvType[fam+".rope.scaling.finetuned"] != 7 || f.kv[fam+".rope.scaling.finetuned"] != true {
				t.Errorf("rope.scaling.finetuned = %v, want bool true (RoPE on)", f.kv[fam+".rope.scaling.finetuned"])
			}
			for _, k := range []string{"logit_scale", "residual_scale", "embedding_scale", "attention.scale"} {
				absent(k) // each would scale away from our math
			}
		}
	case "mamba2":
		u32("feed_forward_length", 0)
		u32("attention.head_count", 0)
	}
	if m := s.firstSSM(); m != nil {
		u32("ssm.conv_kernel", m.ConvKernel)
		u32("ssm.inner_size", m.Heads*m.HeadDim)
		u32("ssm.state_size", m.State)
		u32("ssm.time_step_rank", m.Heads) // = number of SSM heads
		u32("ssm.group_count", 1)
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
	if f.kv["tokenizer.ggml.bos_token_id"] != uint32(1) || f.kv["tokenizer.ggml.eos_token_id"] != uint32(2) {
		t.Errorf("bos/eos = %v/%v", f.kv["tokenizer.ggml.bos_token_id"], f.kv["tokenizer.ggml.eos_token_id"])
	}
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
			checkTensors(t, f, expectTensors(s, c.fam), Q4_0)
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

// exportSpecs reads testdata/export/*.json, one spec per newly mapped
// block type (docs/arch.md §8), keyed by name.
func exportSpecs(t *testing.T) map[string]*Spec {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "export", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no export specs: %v", err)
	}
	out := map[string]*Spec{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseValid(b)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[s.Name] = s
	}
	return out
}

// wantFamilies is the family each export spec maps to, per format ("" =
// refused; the reason is checked in TestExportRefusals).
var wantFamilies = map[string]struct{ gguf, hf string }{
	"lfm2-swa":          {"lfm2", ""},
	"lfm2-kv-heads":     {"lfm2", ""},
	"gqa-widths":        {"deci", ""},
	"gqa-widths-qknorm": {"openelm", ""},
	"gqa-swa":           {"step35", "qwen3"},
	"gqa-swa-plain":     {"step35", "ministral"},
	"gqa-swa-mixed":     {"step35", ""},
	"ssm":               {"mamba2", "mamba2"},
	"ssm-gqa":           {"granitehybrid", "granitemoehybrid"},
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

// expectedValues is what a GGUF tensor of family fam must hold, built from
// FillRow of our tensors by the layout rules llama.cpp expects, stated here
// independently of gguf.go: lfm2 names the final norm token_embd_norm;
// openelm stores q, k, v rows in one attn_qkv; the NORM-RoPE families
// (llama, deci, granitehybrid) rotate adjacent pairs (2j, 2j+1) where we
// rotate (j, j+hd/2) at the same frequency, so their q/k row 2j of a head
// is our row j and row 2j+1 is our row j+hd/2; ssm_a holds A = -exp(A_log).
func expectedValues(s *Spec, fam, name string, seed uint64) []float32 {
	byName := map[string]Tensor{}
	for _, tn := range s.Tensors() {
		byName[tn.Name] = tn
	}
	rows := func(tn Tensor, order func(r int) int) []float32 {
		row := tn.Shape[len(tn.Shape)-1]
		n := int(tn.Elements())
		out := make([]float32, n)
		for r := 0; r < n/row; r++ {
			FillRow(tn, seed, order(r), out[r*row:(r+1)*row])
		}
		return out
	}
	same := func(r int) int { return r }
	if fam == "lfm2" && name == "token_embd_norm.weight" {
		name = "output_norm.weight"
	}
	if strings.HasSuffix(name, "attn_qkv.weight") {
		p := strings.TrimSuffix(name, "attn_qkv.weight")
		var out []float32
		for _, part := range []string{"attn_q.weight", "attn_k.weight", "attn_v.weight"} {
			out = append(out, rows(byName[p+part], same)...)
		}
		return out
	}
	tn := byName[name]
	norm := fam == "llama" || fam == "deci" || fam == "granitehybrid"
	if norm && (strings.HasSuffix(name, ".attn_q.weight") || strings.HasSuffix(name, ".attn_k.weight")) {
		hd := s.Layers[tn.Layer].attention().HeadDim
		return rows(tn, func(r int) int {
			head, i := r/hd, r%hd
			if i%2 == 0 {
				return head*hd + i/2
			}
			return head*hd + i/2 + hd/2
		})
	}
	v := rows(tn, same)
	if strings.HasSuffix(name, ".ssm_a") {
		for i, x := range v {
			v[i] = -float32(math.Exp(float64(x)))
		}
	}
	return v
}

// checkData decodes every tensor of f and compares it with expectedValues
// within each format's rounding bound.
func checkData(t *testing.T, f *tFile, s *Spec, fam string, seed uint64) {
	t.Helper()
	for _, tt := range f.tensors {
		n := 1
		for _, x := range tt.ne {
			n *= int(x)
		}
		got := dequant(f.raw[f.data+int(tt.offset):], tt.typ, n)
		ref := expectedValues(s, fam, tt.name, seed)
		if len(ref) != n {
			t.Fatalf("%s: %d values, expected %d", tt.name, n, len(ref))
		}
		for i := range n {
			var bound float64
			switch tt.typ {
			case 0:
				bound = 1e-6 * math.Abs(float64(ref[i])) // -exp computed in float64 and rounded
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
				t.Fatalf("%s[%d] = %v, want %v ± %v", tt.name, i, got[i], ref[i], bound)
			}
		}
	}
}

// TestGGUFDataRoundTrip writes a tiny lfm2 spec at every precision, checks
// determinism per seed, and decodes every tensor against FillRow.
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
			checkTensors(t, f, expectTensors(s, "lfm2"), p)
			checkKeys(t, f, s, "lfm2")
			checkData(t, f, s, "lfm2", 7)
		})
	}
}

// TestGGUFFamiliesMatchLlamaCpp exports every spec of testdata/export (and
// a small all-gqa llama spec, whose q/k rows are reordered for NORM RoPE)
// and checks the family, every tensor, key and weight value.
func TestGGUFFamiliesMatchLlamaCpp(t *testing.T) {
	specs := exportSpecs(t)
	llama := &Spec{Name: "llama-small", Vocab: 300, Hidden: 64, TiedEmbeddings: false, NormEps: 1e-6, MaxContext: 128}
	for range 2 {
		llama.Layers = append(llama.Layers, Layer{Mixer: MixerGQA, GQA: &Attention{Heads: 4, KVHeads: 2, HeadDim: 16, RopeTheta: 5e5}, FFN: 96})
	}
	specs[llama.Name] = llama
	fams := map[string]string{llama.Name: "llama"}
	for n, w := range wantFamilies {
		if w.gguf != "" {
			fams[n] = w.gguf
		}
	}
	for name, s := range specs {
		fam, ok := fams[name]
		if !ok {
			t.Errorf("%s: no expected family in wantFamilies", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			got, err := s.GGUFFamily()
			if err != nil || string(got) != fam {
				t.Fatalf("GGUFFamily = %q, %v; want %s", got, err, fam)
			}
			for _, p := range []Precision{Q8_0, F32} {
				var buf bytes.Buffer
				if err := s.WriteGGUF(&buf, p, 3); err != nil {
					t.Fatal(err)
				}
				f := readGGUF(t, buf.Bytes(), int64(buf.Len()))
				checkTensors(t, f, expectTensors(s, fam), p)
				checkKeys(t, f, s, fam)
				checkData(t, f, s, fam, 3)
				var elems int64
				for _, tt := range f.tensors {
					n := int64(1)
					for _, x := range tt.ne {
						n *= int64(x)
					}
					elems += n
				}
				if elems != s.Params().Total {
					t.Errorf("%s: file holds %d weights, Params().Total = %d", p, elems, s.Params().Total)
				}
			}
		})
	}
}

// TestGGUFRejects checks the exporter's errors.
func TestGGUFRejects(t *testing.T) {
	s := tinyLFM2()
	s.Vocab = 100
	if err := s.WriteGGUF(&bytes.Buffer{}, Q8_0, 1); !errors.Is(err, ErrNotExportable) {
		t.Errorf("vocab 100: %v", err)
	}
	s = tinyLFM2()
	s.Layers[1] = Layer{Mixer: MixerLinearAttn, LinearAttn: &LinearAttn{Heads: 2, HeadDim: 32}, FFN: 96}
	if err := s.WriteGGUF(&bytes.Buffer{}, Q8_0, 1); !errors.Is(err, ErrNotExportable) {
		t.Errorf("linear_attn: %v", err)
	}
	if err := tinyLFM2().WriteGGUF(&bytes.Buffer{}, "q5_k", 1); err == nil {
		t.Error("unknown precision accepted")
	}
}
