package arch

// ScratchBytes estimates the runtime's activation buffers (allocated once)
// for a context of T tokens and prefills of up to promptL tokens. The
// runtime (package kernels) processes a prompt in batches of at most 512
// rows, so with P = clamp(promptL, 1, min(T, 512)) rows (promptL <= 0 means
// decode only, one row):
//
//	4·( P·(2d + A + B + C + hd) + V ) + P·K + 4·P·K/32 + 16·⌊P/4⌋·K + 12·K
//
// 2d is the residual stream and the normalised input; A the widest
// projection output per token (conv 3d: B|C|x̃; gqa/swa (H+2G)·hd: q|k|v;
// linear_attn 5·H·hd: q|k|v|a|g; ssm 2·d_in+2N+H; SwiGLU 2F: gate|up);
// B the widest mixer intermediate (d; H·hd for attention and linear_attn;
// d_in+2N for ssm's xBC copy); C the second intermediate (d; d_in+2N for
// ssm's convolved xBC); hd the RoPE cos/sin table of the widest attention
// head; V the logits of one position; K the widest matrix input (d, H·hd,
// d_in, F) rounded up to 32, for the 8-bit activations and their f32
// block scales, the copies of each 4-token group packed into 64-bit lanes
// (16 bytes per group and column) and the pair-packed rows of the up to
// three tokens outside full groups (12 bytes per column). Attention keeps no score rows (the softmax is online over
// 64-key tiles); per-thread rows (a few tens of KiB) are not counted.
//
// This function is the one place the estimate lives; the runtime in package
// kernels allocates within 5% of it for the same arguments (tested there).
func (s *Spec) ScratchBytes(T, promptL int) int64 {
	d := int64(s.Hidden)
	P := min(max(int64(promptL), 1), max(int64(T), 1), 512)
	A, B, C, K, hd := int64(1), d, d, d, int64(2)
	for _, l := range s.Layers {
		switch l.Mixer {
		case MixerConv:
			A = max(A, 3*d)
		case MixerGQA, MixerSWA:
			a := l.attention()
			A = max(A, int64(a.Heads+2*a.KVHeads)*int64(a.HeadDim))
			B = max(B, int64(a.Heads)*int64(a.HeadDim))
			K = max(K, int64(a.Heads)*int64(a.HeadDim))
			hd = max(hd, int64(a.HeadDim))
		case MixerLinearAttn:
			w := int64(l.LinearAttn.Heads) * int64(l.LinearAttn.HeadDim)
			A = max(A, 5*w)
			B = max(B, w)
			K = max(K, w)
		case MixerSSM:
			m := l.SSM
			din, n := int64(m.Heads)*int64(m.HeadDim), int64(m.State)
			A = max(A, 2*din+2*n+int64(m.Heads))
			B = max(B, din+2*n)
			C = max(C, din+2*n)
			K = max(K, din)
		}
		A = max(A, 2*int64(l.FFN))
		K = max(K, int64(l.FFN))
	}
	K = (K + QuantBlock - 1) / QuantBlock * QuantBlock
	rows := satMul(P, 2*d+A+B+C+hd)
	f32 := satMul(4, satAdd(rows, int64(s.Vocab)))
	act := satAdd(satAdd(satMul(P, K), satMul(4*P, K/QuantBlock)), satAdd(satMul(16*(P/4), K), 12*K))
	return satAdd(f32, act)
}

// PrefillPackBytes estimates the buffers of the runtime's prefill GEMM at
// precision p: the activations of up to P rows (P as in ScratchBytes)
// repacked for the register-blocked micro-kernels, K the widest matrix
// input rounded up to 32. Quantised weights: groups of 8 rows, 320 bytes
// per group and 32-column block (8 tokens × 32 int8, 8 scales, 8 block
// sums), when P ≥ 8. Float weights: groups of 16 rows of f32, when P ≥ 16.
// Zero below one group (decode only). The runtime allocates these on every
// CPU so that the estimate does not depend on the machine.
func (s *Spec) PrefillPackBytes(p Precision, T, promptL int) int64 {
	P := min(max(int64(promptL), 1), max(int64(T), 1), 512)
	K := s.widestInput()
	switch p {
	case Q8_0, Q4_0:
		if P < 8 {
			return 0
		}
		return satMul((P+7)/8, satMul(K/QuantBlock, 320))
	case F32, F16:
		if P < 16 {
			return 0
		}
		return satMul(4*((P+15)/16*16), K)
	}
	return 0
}

// widestInput is K of ScratchBytes: the widest matrix input, rounded up
// to a multiple of 32.
func (s *Spec) widestInput() int64 {
	K := int64(s.Hidden)
	for _, l := range s.Layers {
		switch l.Mixer {
		case MixerGQA, MixerSWA:
			a := l.attention()
			K = max(K, int64(a.Heads)*int64(a.HeadDim))
		case MixerLinearAttn:
			K = max(K, int64(l.LinearAttn.Heads)*int64(l.LinearAttn.HeadDim))
		case MixerSSM:
			K = max(K, int64(l.SSM.Heads)*int64(l.SSM.HeadDim))
		}
		K = max(K, int64(l.FFN))
	}
	return (K + QuantBlock - 1) / QuantBlock * QuantBlock
}
