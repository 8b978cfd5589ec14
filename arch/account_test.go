package arch

import "testing"

// Hand-computed accounting for one small spec of every mixer type. The
// arithmetic is written out in each case's comment; V = 100, d = 64.

func oneLayer(l Layer, tied bool) *Spec {
	return &Spec{Name: "t", Vocab: 100, Hidden: 64, TiedEmbeddings: tied, NormEps: 1e-5, MaxContext: 1024, Layers: []Layer{l}}
}

type accCase struct {
	name               string
	spec               *Spec
	params, nonEmb     int64
	prefill10          int64 // FLOPsPrefill(10)
	decode5            int64 // FLOPsDecode(5)
	kvPerTok, kv100    int64 // f16
	state              int64
	bytes              map[Precision]int64
	extraPrefill       map[int]int64
	extraDecode        map[int]int64
	extraKV            map[int]int64 // KVBytes(T, f16)
	extraKVPerTokenF32 int64
}

func accCases() []accCase {
	att := Attention{Heads: 4, KVHeads: 2, HeadDim: 16, QKNorm: true, RopeTheta: 1e4}
	return []accCase{
		{
			// conv k=3, F=128, tied.
			// params: embd 100·64=6400, attn_norm 64, in_proj 3·64·64=12288,
			// conv 64·3=192, out_proj 64·64=4096, ffn_norm 64,
			// ffn 3·64·128=24576, output_norm 64 → 47744; non-embedding 41344.
			// FLOPs/token: conv 8·64²+2·3·64+2·64 = 32768+384+128 = 33280;
			// ffn 6·64·128+128 = 49280; sum 82560. head 2·64·100 = 12800.
			// prefill(10) = 825600+12800 = 838400; decode = 82560+12800 = 95360.
			// state 4·(3-1)·64 = 512.
			// bytes: matrices embd+in+out+ffn = 6400+12288+4096+24576 = 47360
			// elements; f32 rest = 3 norms·64 + conv 192 = 384 elements = 1536 B.
			// f32 47744·4 = 190976; f16 47360·2+1536 = 96256;
			// q8_0 (34 B/32): embd 100·2·34=6800, in 192·68=13056, out 64·68=4352,
			// gate/up 128·68=8704 each, down 64·4·34=8704 → 50320+1536 = 51856;
			// q4_0 (18 B/32): 3600+6912+2304+3·4608 = 26640+1536 = 28176.
			name:   "conv",
			spec:   oneLayer(Layer{Mixer: MixerConv, Conv: &Conv{Kernel: 3}, FFN: 128}, true),
			params: 47744, nonEmb: 41344, prefill10: 838400, decode5: 95360,
			state: 512,
			bytes: map[Precision]int64{F32: 190976, F16: 96256, Q8_0: 51856, Q4_0: 28176},
		},
		{
			// gqa H4/G2/hd16 + QK-norm, no FFN, untied head.
			// params: embd 6400, attn_norm 64, q 64·64=4096, k 32·64=2048,
			// v 2048, q/k norm 16+16, o 4096, output_norm 64, output 6400 → 25248;
			// non-embedding 25248-12800 = 12448.
			// FLOPs/token 4·64·(4+2)·16 = 24576; per (query,key) 4·4·16 = 256.
			// prefill(10): 10·24576 + 256·(10·11/2=55) + 12800 = 272640.
			// decode(5): keys 6 → 24576+1536+12800 = 38912.
			// KV/token f16 2·2·16·2 = 128 (f32 256); KVBytes(100) = 12800.
			name:   "gqa",
			spec:   oneLayer(Layer{Mixer: MixerGQA, GQA: &att}, false),
			params: 25248, nonEmb: 12448, prefill10: 272640, decode5: 38912,
			kvPerTok: 128, kv100: 12800, extraKVPerTokenF32: 256,
			// bytes f32: 25248·4 = 100992.
			bytes:       map[Precision]int64{F32: 100992},
			extraDecode: map[int]int64{0: 24576 + 256 + 12800},
		},
		{
			// swa window 4 (same attention), no FFN, tied.
			// params 25248-6400 = 18848.
			// prefill(10): keys Σ min(t,4) = 1+2+3+4+6·4 = 34 →
			// 245760 + 256·34 + 12800 = 267264.
			// prefill(3): keys 6 → 73728+1536+12800 = 88064.
			// decode(5): keys min(6,4)=4 → 24576+1024+12800 = 38400;
			// decode(2): keys 3 → 24576+768+12800 = 38144.
			// KV: 128/token, KVBytes(100) = 128·4 = 512, KVBytes(3) = 384.
			name:   "swa",
			spec:   oneLayer(Layer{Mixer: MixerSWA, SWA: &SWA{Attention: att, Window: 4}}, true),
			params: 18848, nonEmb: 12448, prefill10: 267264, decode5: 38400,
			kvPerTok: 128, kv100: 512,
			extraPrefill: map[int]int64{3: 88064, 0: 0},
			extraDecode:  map[int]int64{2: 38144},
			extraKV:      map[int]int64{3: 384, 0: 0},
		},
		{
			// linear_attn H2/hd32 (w=64), no FFN, tied.
			// params: embd 6400, attn_norm 64, q/k/v/a/g 5·64·64=20480,
			// head norm 32, out 4096, output_norm 64 → 31136.
			// FLOPs/token: projections 12·64·64 = 49152, recurrence
			// 5·2·32² = 10240, output gate 64 → 59456.
			// prefill(10) = 594560+12800 = 607360; decode = 72256 at any T.
			// state 4·2·32·32 = 8192.
			name:   "linear_attn",
			spec:   oneLayer(Layer{Mixer: MixerLinearAttn, LinearAttn: &LinearAttn{Heads: 2, HeadDim: 32}}, true),
			params: 31136, nonEmb: 24736, prefill10: 607360, decode5: 72256,
			state:       8192,
			extraDecode: map[int]int64{1000: 72256},
		},
		{
			// ssm: expand 2 → d_in 128 = 4 heads·32, N 16, kc 4, no FFN, tied.
			// params: embd 6400, attn_norm 64, in_proj (2·128+2·16+4 = 292)·64
			// = 18688, conv (128+32=160)·4 = 640, conv bias 160, dt_bias 4,
			// A_log 4, D 4, norm 128, out 64·128 = 8192, output_norm 64 → 34348.
			// FLOPs/token: in_proj 2·64·292 = 37376, out_proj 2·128·64 = 16384,
			// conv 2·4·160 = 1280, scan 5·128·16 = 10240 (+3·128 = 384 for dt·x
			// and D·x), gate 128 → 65792.
			// prefill(10) = 657920+12800 = 670720; decode = 78592.
			// state 4·(128·16 + 3·160) = 4·2528 = 10112.
			// q4_0 bytes: embd 100·2·18 = 3600, in_proj 292·2·18 = 10512,
			// out 64·4·18 = 4608, f32 rest (64+640+160+12+128+64 = 1068)·4 = 4272
			// → 22992.
			name:   "ssm",
			spec:   oneLayer(Layer{Mixer: MixerSSM, SSM: &SSM{Heads: 4, HeadDim: 32, State: 16, Expand: 2, ConvKernel: 4}}, true),
			params: 34348, nonEmb: 27948, prefill10: 670720, decode5: 78592,
			state: 10112,
			bytes: map[Precision]int64{Q4_0: 22992},
		},
	}
}

func TestAccountingHandComputed(t *testing.T) {
	for _, c := range accCases() {
		t.Run(c.name, func(t *testing.T) {
			s := c.spec
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			pc := s.Params()
			if pc.Total != c.params || pc.NonEmbedding != c.nonEmb {
				t.Errorf("Params = %d (non-embedding %d), want %d (%d)", pc.Total, pc.NonEmbedding, c.params, c.nonEmb)
			}
			var sum int64
			for _, n := range pc.ByComponent {
				sum += n
			}
			if sum != pc.Total {
				t.Errorf("ByComponent sums to %d, Total %d", sum, pc.Total)
			}
			if got := s.FLOPsPrefill(10); got != c.prefill10 {
				t.Errorf("FLOPsPrefill(10) = %d, want %d", got, c.prefill10)
			}
			if got := s.FLOPsDecode(5); got != c.decode5 {
				t.Errorf("FLOPsDecode(5) = %d, want %d", got, c.decode5)
			}
			for L, w := range c.extraPrefill {
				if got := s.FLOPsPrefill(L); got != w {
					t.Errorf("FLOPsPrefill(%d) = %d, want %d", L, got, w)
				}
			}
			for T, w := range c.extraDecode {
				if got := s.FLOPsDecode(T); got != w {
					t.Errorf("FLOPsDecode(%d) = %d, want %d", T, got, w)
				}
			}
			if got := s.KVBytesPerToken(false); got != c.kvPerTok {
				t.Errorf("KVBytesPerToken(f16) = %d, want %d", got, c.kvPerTok)
			}
			if c.extraKVPerTokenF32 != 0 {
				if got := s.KVBytesPerToken(true); got != c.extraKVPerTokenF32 {
					t.Errorf("KVBytesPerToken(f32) = %d, want %d", got, c.extraKVPerTokenF32)
				}
			}
			if got := s.KVBytes(100, false); got != c.kv100 {
				t.Errorf("KVBytes(100) = %d, want %d", got, c.kv100)
			}
			for T, w := range c.extraKV {
				if got := s.KVBytes(T, false); got != w {
					t.Errorf("KVBytes(%d) = %d, want %d", T, got, w)
				}
			}
			if got := s.StateBytes(); got != c.state {
				t.Errorf("StateBytes = %d, want %d", got, c.state)
			}
			for p, w := range c.bytes {
				if got := s.WeightBytes(p); got != w {
					t.Errorf("WeightBytes(%s) = %d, want %d", p, got, w)
				}
			}
			m := s.MemoryEstimate(Q8_0, 100, false, 10)
			if m.Weights != s.WeightBytes(Q8_0) || m.KV != c.kv100 || m.State != c.state ||
				m.Scratch != s.ScratchBytes(100, 10)+s.PrefillPackBytes(Q8_0, 100, 10) || m.Total != m.Weights+m.KV+m.State+m.Scratch {
				t.Errorf("MemoryEstimate = %+v", m)
			}
		})
	}
}

// TestPresetAccountingLFM2 checks the LFM2 numbers of lfm2.md §3.2: KV
// bytes per token (f16) and llama.cpp's f32 conv state, and the decode
// FLOPs at T = 4096 of the 350M model (0.81 GFLOP there, rounded).
func TestPresetAccountingLFM2(t *testing.T) {
	for _, c := range []struct {
		name      string
		kv, state int64
	}{
		{"lfm2-350m", 12288, 80 << 10},
		{"lfm2-700m", 12288, 120 << 10},
		{"lfm2-1.2b", 12288, 160 << 10},
		{"lfm2-2.6b", 16384, 352 << 10},
	} {
		s, _ := Preset(c.name)
		if got := s.KVBytesPerToken(false); got != c.kv {
			t.Errorf("%s: KVBytesPerToken = %d, want %d", c.name, got, c.kv)
		}
		if got := s.StateBytes(); got != c.state {
			t.Errorf("%s: StateBytes = %d, want %d", c.name, got, c.state)
		}
	}
	s, _ := Preset("lfm2-350m")
	// 10 conv layers: 8d²+2kd+2d = 8388608+6144+2048 = 8396800 each;
	// 6 gqa: 4·1024·24·64 = 6291456 + 4·16·64·4097 = 16781312 → 23072768;
	// 16 FFN: 6·1024·4608+4608 = 28316160; head 2·1024·65536 = 134217728.
	// 83968000 + 138436608 + 453058560 + 134217728 = 809680896.
	conv := int64(10 * (8*1024*1024 + 2*3*1024 + 2*1024))
	gqa := int64(6 * (4*1024*24*64 + 4*16*64*4097))
	ffn := int64(16 * (6*1024*4608 + 4608))
	head := int64(2 * 1024 * 65536)
	if got, want := s.FLOPsDecode(4096), conv+gqa+ffn+head; got != want || want != 809680896 {
		t.Errorf("lfm2-350m FLOPsDecode(4096) = %d, want %d", got, want)
	}
	if got := float64(s.FLOPsDecode(4096)) / 1e9; got < 0.805 || got > 0.815 {
		t.Errorf("lfm2-350m decode %.3f GFLOP, lfm2.md says 0.81", got)
	}
}

func TestTensorTypeFallback(t *testing.T) {
	m := Tensor{Name: "x", Shape: []int{8, 48}, Matrix: true}
	if m.Type(Q4_0) != F16 || m.Type(Q8_0) != F16 || m.Type(F16) != F16 || m.Type(F32) != F32 {
		t.Errorf("row 48: types %s %s %s %s", m.Type(Q4_0), m.Type(Q8_0), m.Type(F16), m.Type(F32))
	}
	if got := m.Bytes(Q4_0); got != 8*48*2 {
		t.Errorf("row 48 q4_0 bytes %d, want f16 %d", got, 8*48*2)
	}
	v := Tensor{Name: "n", Shape: []int{64}}
	if v.Type(Q4_0) != F32 || v.Bytes(F16) != 256 {
		t.Errorf("vector: %s %d", v.Type(Q4_0), v.Bytes(F16))
	}
}

func TestSaturation(t *testing.T) {
	s := &Spec{Vocab: MaxVocab, Hidden: MaxHidden, NormEps: 1e-5, MaxContext: MaxContextLen}
	for range MaxLayers {
		s.Layers = append(s.Layers, Layer{Mixer: MixerGQA, GQA: &Attention{Heads: 1024, KVHeads: 1024, HeadDim: 64, RopeTheta: 1e4}, FFN: MaxFFN})
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := s.FLOPsPrefill(MaxContextLen); got <= 0 {
		t.Errorf("FLOPsPrefill at the limits = %d, want positive (saturated)", got)
	}
	if got := s.MemoryEstimate(F32, MaxContextLen, true, MaxContextLen).Total; got <= 0 {
		t.Errorf("MemoryEstimate at the limits = %d", got)
	}
}
