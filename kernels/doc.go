// Package kernels runs candidate networks on the CPU: the ops (matrix
// products over f32, f16, q8_0 and q4_0 weights, RMSNorm, RoPE, causal and
// sliding-window GQA attention over a KV cache, the gated short conv, gated
// linear attention, the Mamba2 selective scan, SwiGLU, embedding lookup and
// the LM head), a persistent worker pool, and a runtime (Build) that
// allocates a model from an arch.Spec with seeded-random weights and runs
// Prefill and Decode on it.
//
// The block math is the contract written in package arch's documentation.
// Inner loops live in kernels/internal/asm behind function variables chosen
// once at start-up (Variant reports which); see docs/kernels.md.
//
// Results are deterministic: the same spec, precision and seed give
// bit-identical logits for any thread count, because every output element
// is computed by exactly one worker in a fixed order. The package does no
// I/O.
package kernels
