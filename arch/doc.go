// Package arch describes candidate hybrid language-model backbones and counts
// their cost exactly. It does no I/O.
//
// # Block math (the contract shared by accounting, kernels and exports)
//
// Notation: d = Hidden, V = Vocab, F = Layer.FFN. Matrices are [out, in],
// row-major; y = W·x. No linear layer has a bias unless listed.
//
//	x = Embed[token]                                   embedding [V, d]
//	for each layer:
//	    u = x + Mixer(RMSNorm_op(x))                   op_norm [d]
//	    x = u + SwiGLU(RMSNorm_ffn(u))   (if F > 0)    ffn_norm [d]
//	logits = Head · RMSNorm_final(x)                   final_norm [d]; Head = Embed if tied, else output [V, d]
//
// RMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps), weight only.
// SwiGLU: W2·(silu(W1 x) ⊙ W3 x); ffn_gate W1 [F, d], ffn_up W3 [F, d], ffn_down W2 [d, F].
//
// conv (kernel k): [B|C|x̃] = in_proj·h with in_proj [3d, d]; y = B ⊙ x̃;
// z_t = Σ_{j<k} w[:, j] ⊙ y_{t-(k-1)+j} (tap 0 oldest, y before start = 0),
// conv weight [d, k]; out = out_proj·(C ⊙ z), out_proj [d, d]. No activation.
// Decode state: the last k-1 values of y per channel, f32.
//
// gqa (H heads, G kv heads, head dim hd): q = Wq h [H·hd, d], k = Wk h [G·hd, d],
// v = Wv h [G·hd, d]; if QKNorm, per-head RMSNorm of q and k with shared
// weights q_norm [hd], k_norm [hd], before RoPE; RoPE rotate-half over the
// whole head with RopeTheta; causal softmax(q·kᵀ/sqrt(hd))·v, query head i uses
// kv head i/(H/G); out = Wo·concat [d, H·hd]. KV cache 2·G·hd values per token.
//
// swa: gqa, with each query attending to at most Window positions (its own
// included). KV cache holds min(T, Window) positions.
//
// linear_attn (H heads, head dim hd; dk = dv = hd): q, k, v, a, g = W·h each
// [H·hd, d]; decay α = exp(logsigmoid(a)/16) per key channel; per head
// S_t = diag(α_t)·S_{t-1} + k_tᵀ v_t (S is hd×hd), o_t = (q_t/sqrt(hd))·S_t;
// o = RMSNorm_head(o) (weight norm [hd] shared by heads) ⊙ silu(g);
// out = Wo·o [d, H·hd]. State H·hd·hd values, f32. Prefill is chunked.
//
// ssm (Mamba2; H heads, head dim P, state N, expand e, conv kernel kc,
// d_in = e·d = H·P, one B/C group): [z|xBC|dt] = in_proj·h with in_proj
// [2·d_in + 2N + H, d], where xBC has d_in + 2N channels; xBC = silu(conv(xBC))
// with conv weight [d_in+2N, kc] and conv bias [d_in+2N]; dt = softplus(dt +
// dt_bias [H]); A = -exp(A_log [H]); per head h_t = exp(dt·A)·h_{t-1} +
// dt·B_t x_tᵀ (h is N×P), y_t = C_tᵀ h_t + D[head]·x_t with D [H];
// y = RMSNorm(y ⊙ silu(z)) with norm [d_in]; out = out_proj·y [d, d_in].
// State: H·P·N (ssm) + (kc-1)·(d_in+2N) (conv) values, f32.
//
// # Where the rest lives
//
// Spec.Tensors is the single list of weight tensors (GGUF-style names,
// [out, in] shapes, which ones are quantisable matrices); Params,
// WeightBytes, the runtime's allocation and WriteGGUF all iterate it.
// FillRow defines the seeded random values of each tensor row of a GGUF
// export (the kernels runtime draws its own; see FillRow). The FLOP
// counting rule (2 per multiply-accumulate, 1 per element-wise gate product;
// norms, RoPE, softmax and activations not counted) and every per-block
// formula are in docs/arch.md. Parse, Validate, Hash and the presets are in
// this package too; nothing here does I/O.
package arch
