"""PyTorch blocks of an arch.Spec, following the block math of arch/doc.go.

Every mixer of hilsearch's candidates is here: conv (LFM2 double-gated short
convolution), gqa (QK-norm, RoPE), swa, linear_attn (gated linear
attention) and ssm (Mamba2-style). Parameter names and shapes are the
GGUF-style names of arch.Spec.Tensors ([out, in] matrices), so a spec's
tensors map one to one onto this model's state_dict (see tensor_names).

The forward pass processes whole sequences (training); the recurrences are
computed in their parallel (chunked) forms, which the tests check against
the token-by-token recurrences of arch/doc.go.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

MIXERS = ("conv", "gqa", "swa", "linear_attn", "ssm")

# Chunk length of the gated linear attention's parallel form. Inside a chunk
# the per-channel decays are materialised as a [C, C, hd] tensor.
GLA_CHUNK = 16


class UnsupportedMixer(Exception):
    """A layer uses a mixer this evaluator cannot build."""

    def __init__(self, mixer, layer):
        super().__init__(f"layers[{layer}].mixer: mixer {mixer!r} is not implemented by this evaluator")
        self.mixer = mixer
        self.layer = layer


def rms_norm(x, weight, eps):
    """y = w ⊙ x / sqrt(mean(x²) + eps) over the last dimension."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def causal_depthwise_conv(x, weight, bias=None):
    """z[t, c] = bias[c] + Σ_{j<k} w[c, j]·x[t-(k-1)+j, c]; tap 0 is the
    oldest, positions before the start are 0. x is [B, T, C], weight [C, k]."""
    k = weight.shape[1]
    xt = F.pad(x.transpose(1, 2), (k - 1, 0))
    return F.conv1d(xt, weight.unsqueeze(1), bias, groups=weight.shape[0]).transpose(1, 2)


def rope(x, theta):
    """Rotate-half RoPE over whole heads; x is [B, T, heads, hd], positions
    0..T-1: (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin)."""
    T, hd = x.shape[1], x.shape[-1]
    half = hd // 2
    inv = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cos(ang).to(x.dtype)[None, :, None, :]
    sin = torch.sin(ang).to(x.dtype)[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class ShortConv(nn.Module):
    """conv: [B|C|x̃] = in_proj·h; y = B ⊙ x̃; z = causal depthwise conv of y
    (kernel k, no bias, no activation); out = out_proj·(C ⊙ z)."""

    def __init__(self, d, kernel):
        super().__init__()
        self.d = d
        self.in_proj = nn.Parameter(torch.empty(3 * d, d))
        self.conv = nn.Parameter(torch.empty(d, kernel))
        self.out_proj = nn.Parameter(torch.empty(d, d))

    def tensors(self):
        return {"shortconv.in_proj.weight": self.in_proj, "shortconv.conv.weight": self.conv,
                "shortconv.out_proj.weight": self.out_proj}

    def forward(self, h):
        b, c, x = (h @ self.in_proj.T).split(self.d, dim=-1)
        z = causal_depthwise_conv(b * x, self.conv)
        return (c * z) @ self.out_proj.T


class Attention(nn.Module):
    """gqa / swa: q, k, v projections, optional per-head QK RMSNorm with
    shared weights, RoPE, causal softmax attention (query head i uses kv head
    i // (H/G)), each query seeing at most `window` positions (its own
    included) when window is set; out = Wo·concat."""

    def __init__(self, d, heads, kv_heads, head_dim, qk_norm, rope_theta, eps, window=None):
        super().__init__()
        self.H, self.G, self.hd = heads, kv_heads, head_dim
        self.theta, self.eps, self.window = rope_theta, eps, window
        self.wq = nn.Parameter(torch.empty(heads * head_dim, d))
        self.wk = nn.Parameter(torch.empty(kv_heads * head_dim, d))
        self.wv = nn.Parameter(torch.empty(kv_heads * head_dim, d))
        self.q_norm = nn.Parameter(torch.empty(head_dim)) if qk_norm else None
        self.k_norm = nn.Parameter(torch.empty(head_dim)) if qk_norm else None
        self.wo = nn.Parameter(torch.empty(d, heads * head_dim))

    def tensors(self):
        t = {"attn_q.weight": self.wq, "attn_k.weight": self.wk, "attn_v.weight": self.wv}
        if self.q_norm is not None:
            t["attn_q_norm.weight"] = self.q_norm
            t["attn_k_norm.weight"] = self.k_norm
        t["attn_output.weight"] = self.wo
        return t

    def forward(self, h):
        B, T, _ = h.shape
        q = (h @ self.wq.T).view(B, T, self.H, self.hd)
        k = (h @ self.wk.T).view(B, T, self.G, self.hd)
        v = (h @ self.wv.T).view(B, T, self.G, self.hd)
        if self.q_norm is not None:
            q = rms_norm(q, self.q_norm, self.eps)
            k = rms_norm(k, self.k_norm, self.eps)
        q, k = rope(q, self.theta), rope(k, self.theta)
        rep = self.H // self.G
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, hd]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        t_idx = torch.arange(T)
        allowed = t_idx[None, :] <= t_idx[:, None]
        if self.window is not None:
            allowed &= t_idx[None, :] > t_idx[:, None] - self.window
        scores = scores.masked_fill(~allowed, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v
        return o.transpose(1, 2).reshape(B, T, self.H * self.hd) @ self.wo.T


def gla_recurrent(q, k, v, a):
    """Gated linear attention token by token (arch/doc.go's definition), the
    reference for gla_chunked. q, k, v, a are [B, T, H, hd]; per head
    S_t = diag(α_t)·S_{t-1} + k_tᵀ v_t with α = exp(logsigmoid(a)/16),
    o_t = (q_t/sqrt(hd))·S_t."""
    B, T, H, hd = q.shape
    S = q.new_zeros(B, H, hd, hd)
    alpha = torch.exp(F.logsigmoid(a) / 16)
    out = []
    for t in range(T):
        S = alpha[:, t, :, :, None] * S + k[:, t, :, :, None] * v[:, t, :, None, :]
        out.append(torch.einsum("bhc,bhcv->bhv", q[:, t] / math.sqrt(hd), S))
    return torch.stack(out, dim=1)


def gla_chunked(q, k, v, a, chunk=GLA_CHUNK):
    """The same function as gla_recurrent in chunked parallel form. With b_t
    the cumulative log decay inside a chunk, o_t = q_t·(e^{b_t}⊙S_prev) +
    Σ_{s≤t} (Σ_c q_tc k_sc e^{b_tc−b_sc}) v_s; every exponent is ≤ 0, so the
    form is stable for any decay."""
    B, T, H, hd = q.shape
    q = q / math.sqrt(hd)
    logd = F.logsigmoid(a) / 16
    S = q.new_zeros(B, H, hd, hd)
    outs = []
    for t0 in range(0, T, chunk):
        qc, kc, vc = q[:, t0:t0 + chunk], k[:, t0:t0 + chunk], v[:, t0:t0 + chunk]
        b = torch.cumsum(logd[:, t0:t0 + chunk], dim=1)  # [B, C, H, hd]
        C = qc.shape[1]
        mask = torch.tril(torch.ones(C, C, dtype=torch.bool))
        diff = b[:, :, None] - b[:, None, :]  # [B, t, s, H, hd] = b_t - b_s
        diff = diff.masked_fill(~mask[None, :, :, None, None], float("-inf"))
        w = torch.einsum("bthc,btshc,bshc->bhts", qc, torch.exp(diff), kc)
        o = torch.einsum("bhts,bshv->bthv", w, vc)
        o = o + torch.einsum("bthc,bhcv->bthv", qc * torch.exp(b), S)
        outs.append(o)
        bl = b[:, -1]  # [B, H, hd]
        kd = kc * torch.exp(bl[:, None] - b)  # k_s e^{b_L - b_s}
        S = torch.exp(bl)[..., None] * S + torch.einsum("bshc,bshv->bhcv", kd, vc)
    return torch.cat(outs, dim=1)


class LinearAttn(nn.Module):
    """linear_attn: q, k, v, a, g = W·h; gated linear attention per head;
    o = RMSNorm_head(o) ⊙ silu(g); out = Wo·o."""

    def __init__(self, d, heads, head_dim, eps):
        super().__init__()
        self.H, self.hd, self.eps = heads, head_dim, eps
        w = heads * head_dim
        self.wq, self.wk, self.wv, self.wa, self.wg = (nn.Parameter(torch.empty(w, d)) for _ in range(5))
        self.norm = nn.Parameter(torch.empty(head_dim))
        self.wo = nn.Parameter(torch.empty(d, w))

    def tensors(self):
        return {"linattn.q.weight": self.wq, "linattn.k.weight": self.wk, "linattn.v.weight": self.wv,
                "linattn.a.weight": self.wa, "linattn.g.weight": self.wg, "linattn.norm.weight": self.norm,
                "linattn.out.weight": self.wo}

    def forward(self, h):
        B, T, _ = h.shape
        q, k, v, a = ((h @ w.T).view(B, T, self.H, self.hd) for w in (self.wq, self.wk, self.wv, self.wa))
        o = rms_norm(gla_chunked(q, k, v, a), self.norm, self.eps).reshape(B, T, self.H * self.hd)
        return (o * F.silu(h @ self.wg.T)) @ self.wo.T


def ssm_scan_recurrent(x, Bm, Cm, dt, A, D):
    """Mamba2 scan token by token (arch/doc.go), the reference for ssm_scan.
    x [B, T, H, P], Bm and Cm [B, T, N] (one group), dt [B, T, H] (after
    softplus), A [H] (negative), D [H]: h_t = exp(dt·A)·h_{t-1} + dt·B_t x_tᵀ,
    y_t = C_tᵀ h_t + D·x_t."""
    Bsz, T, H, P = x.shape
    N = Bm.shape[-1]
    h = x.new_zeros(Bsz, H, N, P)
    ys = []
    for t in range(T):
        dA = torch.exp(dt[:, t] * A)  # [B, H]
        h = dA[..., None, None] * h + (dt[:, t, :, None, None] * Bm[:, t, None, :, None]) * x[:, t, :, None, :]
        ys.append(torch.einsum("bn,bhnp->bhp", Cm[:, t], h) + D[:, None] * x[:, t])
    return torch.stack(ys, dim=1)


def ssm_scan(x, Bm, Cm, dt, A, D):
    """The same function as ssm_scan_recurrent in its quadratic (SSD) form:
    y_t = Σ_{s≤t} (C_t·B_s)·exp(Σ_{r=s+1..t} dt_r A)·dt_s x_s + D x_t."""
    T = x.shape[1]
    cum = torch.cumsum(dt * A, dim=1)  # [B, T, H]
    diff = cum[:, :, None, :] - cum[:, None, :, :]  # [B, t, s, H]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    decay = torch.exp(diff.masked_fill(~mask[None, :, :, None], float("-inf")))
    cb = Cm @ Bm.transpose(1, 2)  # [B, t, s]
    w = cb[..., None] * decay * dt[:, None, :, :]  # [B, t, s, H]
    return torch.einsum("btsh,bshp->bthp", w, x) + D[None, None, :, None] * x


class SSM(nn.Module):
    """ssm (Mamba2, one B/C group): [z|xBC|dt] = in_proj·h; xBC =
    silu(conv(xBC) + bias); dt = softplus(dt + dt_bias); A = −exp(A_log);
    the selective scan; y = RMSNorm(y ⊙ silu(z)) over d_in; out_proj·y."""

    def __init__(self, d, heads, head_dim, state, conv_kernel, eps):
        super().__init__()
        self.H, self.P, self.N, self.eps = heads, head_dim, state, eps
        self.din = heads * head_dim
        cw = self.din + 2 * state
        self.in_proj = nn.Parameter(torch.empty(2 * self.din + 2 * state + heads, d))
        self.conv = nn.Parameter(torch.empty(cw, conv_kernel))
        self.conv_bias = nn.Parameter(torch.empty(cw))
        self.dt_bias = nn.Parameter(torch.empty(heads))
        self.a_log = nn.Parameter(torch.empty(heads))
        self.d = nn.Parameter(torch.empty(heads))
        self.norm = nn.Parameter(torch.empty(self.din))
        self.out_proj = nn.Parameter(torch.empty(d, self.din))

    def tensors(self):
        return {"ssm_in.weight": self.in_proj, "ssm_conv1d.weight": self.conv, "ssm_conv1d.bias": self.conv_bias,
                "ssm_dt.bias": self.dt_bias, "ssm_a": self.a_log, "ssm_d": self.d, "ssm_norm.weight": self.norm,
                "ssm_out.weight": self.out_proj}

    def forward(self, h):
        B, T, _ = h.shape
        z, xbc, dt = (h @ self.in_proj.T).split([self.din, self.din + 2 * self.N, self.H], dim=-1)
        xbc = F.silu(causal_depthwise_conv(xbc, self.conv, self.conv_bias))
        x, Bm, Cm = xbc.split([self.din, self.N, self.N], dim=-1)
        dt = F.softplus(dt + self.dt_bias)
        y = ssm_scan(x.view(B, T, self.H, self.P), Bm, Cm, dt, -torch.exp(self.a_log), self.d)
        y = rms_norm(y.reshape(B, T, self.din) * F.silu(z), self.norm, self.eps)
        return y @ self.out_proj.T


class SwiGLU(nn.Module):
    """W2·(silu(W1 x) ⊙ W3 x)."""

    def __init__(self, d, f):
        super().__init__()
        self.gate = nn.Parameter(torch.empty(f, d))
        self.up = nn.Parameter(torch.empty(f, d))
        self.down = nn.Parameter(torch.empty(d, f))

    def tensors(self):
        return {"ffn_gate.weight": self.gate, "ffn_up.weight": self.up, "ffn_down.weight": self.down}

    def forward(self, x):
        return (F.silu(x @ self.gate.T) * (x @ self.up.T)) @ self.down.T


def build_mixer(layer, i, d, eps):
    """The mixer module of layer i of a spec (a dict parsed from arch.Spec
    JSON); UnsupportedMixer for a kind this module lacks."""
    m = layer.get("mixer")
    if m == "conv":
        return ShortConv(d, layer["conv"]["kernel"])
    if m in ("gqa", "swa"):
        a = layer[m]
        return Attention(d, a["heads"], a["kv_heads"], a["head_dim"], a.get("qk_norm", False), a["rope_theta"], eps,
                         window=a["window"] if m == "swa" else None)
    if m == "linear_attn":
        a = layer["linear_attn"]
        return LinearAttn(d, a["heads"], a["head_dim"], eps)
    if m == "ssm":
        s = layer["ssm"]
        return SSM(d, s["heads"], s["head_dim"], s["state"], s["conv_kernel"], eps)
    raise UnsupportedMixer(m, i)


class Layer(nn.Module):
    def __init__(self, layer, i, d, eps):
        super().__init__()
        self.eps = eps
        self.attn_norm = nn.Parameter(torch.empty(d))
        self.mixer = build_mixer(layer, i, d, eps)
        f = layer.get("ffn", 0)
        self.ffn_norm = nn.Parameter(torch.empty(d)) if f > 0 else None
        self.ffn = SwiGLU(d, f) if f > 0 else None

    def tensors(self):
        t = {"attn_norm.weight": self.attn_norm}
        t.update(self.mixer.tensors())
        if self.ffn is not None:
            t["ffn_norm.weight"] = self.ffn_norm
            t.update(self.ffn.tensors())
        return t

    def forward(self, x):
        u = x + self.mixer(rms_norm(x, self.attn_norm, self.eps))
        if self.ffn is None:
            return u
        return u + self.ffn(rms_norm(u, self.ffn_norm, self.eps))


class Model(nn.Module):
    """A whole arch.Spec: embedding, layers (pre-norm mixer, pre-norm
    SwiGLU), final RMSNorm, LM head (the embedding when tied).

    The constructor checks every mixer first, so a spec with an unsupported
    mixer raises UnsupportedMixer naming the first such layer."""

    def __init__(self, spec):
        super().__init__()
        for i, layer in enumerate(spec["layers"]):
            if layer.get("mixer") not in MIXERS:
                raise UnsupportedMixer(layer.get("mixer"), i)
        d, eps = spec["hidden"], spec["norm_eps"]
        self.eps = eps
        self.embed = nn.Parameter(torch.empty(spec["vocab"], d))
        self.layers = nn.ModuleList(Layer(layer, i, d, eps) for i, layer in enumerate(spec["layers"]))
        self.final_norm = nn.Parameter(torch.empty(d))
        self.output = None if spec["tied_embeddings"] else nn.Parameter(torch.empty(spec["vocab"], d))

    def tensors(self):
        """Every parameter under its arch.Spec.Tensors name, in that order."""
        t = {"token_embd.weight": self.embed}
        for i, layer in enumerate(self.layers):
            for name, p in layer.tensors().items():
                t[f"blk.{i}.{name}"] = p
        t["output_norm.weight"] = self.final_norm
        if self.output is not None:
            t["output.weight"] = self.output
        return t

    def forward(self, tokens):
        """Logits [B, T, V] of token ids [B, T]."""
        x = self.embed[tokens]
        for layer in self.layers:
            x = layer(x)
        x = rms_norm(x, self.final_norm, self.eps)
        head = self.embed if self.output is None else self.output
        return x @ head.T
