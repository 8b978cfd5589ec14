"""Block math against hand-computed cases and against the recurrences of
arch/doc.go."""

import math
import unittest

import torch
import torch.nn.functional as F

import model as mdl

torch.set_default_dtype(torch.float32)


def t(x):
    return torch.tensor(x, dtype=torch.float64)


class ConvTest(unittest.TestCase):
    def test_causal_conv_tap0_is_oldest(self):
        # one channel, taps [1, 10, 100]: z_t = 1·y_{t-2} + 10·y_{t-1} + 100·y_t
        z = mdl.causal_depthwise_conv(t([[[1.0], [2.0], [3.0]]]), t([[1.0, 10.0, 100.0]]))
        self.assertEqual(z.flatten().tolist(), [100.0, 210.0, 321.0])

    def test_conv_bias(self):
        z = mdl.causal_depthwise_conv(t([[[1.0], [2.0]]]), t([[1.0, 1.0]]), t([0.5]))
        self.assertEqual(z.flatten().tolist(), [1.5, 3.5])

    def test_short_conv_block(self):
        # d = 1: [B|C|x̃] = [2h, 3h, h]; y = B·x̃ = 2h²; taps [1, 1]: z_t = y_{t-1} + y_t;
        # out = 1·(C·z). h = [1, 2]: y = [2, 8], z = [2, 10], C = [3, 6], out = [6, 60].
        blk = mdl.ShortConv(1, 2).double()
        with torch.no_grad():
            blk.in_proj.copy_(t([[2.0], [3.0], [1.0]]))
            blk.conv.copy_(t([[1.0, 1.0]]))
            blk.out_proj.copy_(t([[1.0]]))
        self.assertEqual(blk(t([[[1.0], [2.0]]])).flatten().tolist(), [6.0, 60.0])


class AttentionTest(unittest.TestCase):
    def test_rms_norm(self):
        y = mdl.rms_norm(t([3.0, 4.0]), t([1.0, 2.0]), 0.0)
        r = math.sqrt(12.5)
        self.assertAlmostEqual(y[0].item(), 3 / r, places=12)
        self.assertAlmostEqual(y[1].item(), 8 / r, places=12)

    def test_rope_rotate_half(self):
        # hd = 4, theta = 100: frequencies 1 and 100^(-1/2) = 0.1; x = (x1, x2) = ([1, 1], [0, 0])
        # at position 2 → (cos 2, cos 0.2, sin 2, sin 0.2).
        x = t([[[[0.0] * 4], [[0.0] * 4], [[1.0, 1.0, 0.0, 0.0]]]])
        y = mdl.rope(x, 100.0)[0, 2, 0].tolist()
        for got, want in zip(y, [math.cos(2), math.cos(0.2), math.sin(2), math.sin(0.2)]):
            self.assertAlmostEqual(got, want, places=12)
        self.assertEqual(mdl.rope(x, 100.0)[0, 0].tolist(), x[0, 0].tolist())  # position 0 unrotated

    def _identity_attn(self, window=None, heads=1, kv=1):
        blk = mdl.Attention(2, heads, kv, 2, False, 1e6, 1e-5, window).double()
        with torch.no_grad():
            blk.wq.copy_(torch.eye(2, dtype=torch.float64).repeat(heads, 1))
            blk.wk.copy_(torch.eye(2, dtype=torch.float64).repeat(kv, 1))
            blk.wv.copy_(torch.eye(2, dtype=torch.float64).repeat(kv, 1))
            blk.wo.copy_(torch.eye(2, dtype=torch.float64).repeat(1, heads) / heads)
        return blk

    def test_attention_by_hand(self):
        # Identity projections, hd = 2 (one RoPE frequency, 1 rad per position).
        # h0 = [1, 0], h1 = [0, 1]: q1 = k1 = [-sin 1, cos 1], k0 = [1, 0];
        # scores of query 1: q1·k0/√2 = -sin(1)/√2, q1·k1/√2 = 1/√2.
        blk = self._identity_attn()
        o = blk(t([[[1.0, 0.0], [0.0, 1.0]]]))[0]
        self.assertEqual(o[0].tolist(), [1.0, 0.0])  # position 0 sees only itself
        w0 = math.exp(-math.sin(1) / math.sqrt(2))
        w1 = math.exp(1 / math.sqrt(2))
        self.assertAlmostEqual(o[1, 0].item(), w0 / (w0 + w1), places=12)
        self.assertAlmostEqual(o[1, 1].item(), w1 / (w0 + w1), places=12)

    def test_sliding_window_of_one_sees_itself(self):
        o = self._identity_attn(window=1)(t([[[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]]]))[0]
        self.assertEqual(o.tolist(), [[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]])

    def test_window_equals_global_when_wider_than_sequence(self):
        torch.manual_seed(1)
        x = torch.randn(2, 7, 2, dtype=torch.float64)
        self.assertTrue(torch.allclose(self._identity_attn(window=7)(x), self._identity_attn()(x)))
        self.assertFalse(torch.allclose(self._identity_attn(window=3)(x), self._identity_attn()(x)))

    def test_query_heads_share_kv_head(self):
        # H = 2, G = 1 with identical query projections: both heads equal the
        # single-head result, and Wo averages them.
        torch.manual_seed(2)
        x = torch.randn(1, 5, 2, dtype=torch.float64)
        self.assertTrue(torch.allclose(self._identity_attn(heads=2, kv=1)(x), self._identity_attn()(x)))

    def test_kv_head_of_query_head_is_i_over_group(self):
        # H = 4, G = 2: query heads 0, 1 use kv head 0 and 2, 3 use kv head 1.
        torch.manual_seed(3)
        blk = mdl.Attention(8, 4, 2, 2, True, 1e4, 1e-5).double()
        for p in blk.parameters():
            torch.nn.init.normal_(p)
        x = torch.randn(1, 6, 8, dtype=torch.float64)
        with torch.no_grad():
            blk.wo.copy_(torch.eye(8, dtype=torch.float64))
            full = blk(x)  # the concatenated head outputs
        for head, kvh in [(0, 0), (1, 0), (2, 1), (3, 1)]:
            one = mdl.Attention(8, 1, 1, 2, True, 1e4, 1e-5).double()
            with torch.no_grad():
                one.wq.copy_(blk.wq[2 * head:2 * head + 2])
                one.wk.copy_(blk.wk[2 * kvh:2 * kvh + 2])
                one.wv.copy_(blk.wv[2 * kvh:2 * kvh + 2])
                one.q_norm.copy_(blk.q_norm)
                one.k_norm.copy_(blk.k_norm)
                one.wo.copy_(torch.eye(8, 2, dtype=torch.float64))  # the head's output in dims 0, 1
                self.assertTrue(torch.allclose(one(x)[..., :2], full[..., 2 * head:2 * head + 2], atol=1e-12), head)
        with torch.no_grad():  # and not the other kv head
            one.wk.copy_(blk.wk[0:2])
            one.wv.copy_(blk.wv[0:2])
            self.assertFalse(torch.allclose(one(x)[..., :2], full[..., 6:8], atol=1e-3))

    def test_qk_norm_before_rope(self):
        # q = k = 3·h at position 0: QK-norm removes the scale, so a query
        # scaled by 3 attends exactly like the unscaled one.
        blk = mdl.Attention(2, 1, 1, 2, True, 1e6, 0.0).double()
        with torch.no_grad():
            for p in (blk.wq, blk.wk, blk.wv, blk.wo):
                p.copy_(torch.eye(2, dtype=torch.float64))
            blk.q_norm.fill_(1)
            blk.k_norm.fill_(1)
        x = t([[[1.0, 0.0], [0.0, 1.0]]])
        o1 = blk(x)
        with torch.no_grad():
            blk.wq.mul_(3)
            blk.wk.mul_(3)
        self.assertTrue(torch.allclose(o1, blk(x)))


class LinearAttentionTest(unittest.TestCase):
    def test_gla_by_hand(self):
        # H = 1, hd = 1, a = 0: α = exp(logsigmoid(0)/16) = 2^(-1/16).
        # k = [1, 2], v = [3, 5], q = [1, 1]: S1 = 3, o1 = 3; S2 = 3α + 10, o2 = 3α + 10.
        q, k, v, a = (t(x).view(1, 2, 1, 1) for x in ([1.0, 1.0], [1.0, 2.0], [3.0, 5.0], [0.0, 0.0]))
        alpha = 2 ** (-1 / 16)
        for f in (mdl.gla_recurrent, mdl.gla_chunked):
            o = f(q, k, v, a).flatten().tolist()
            self.assertAlmostEqual(o[0], 3.0, places=12)
            self.assertAlmostEqual(o[1], 3 * alpha + 10, places=12)

    def test_gla_scale_is_one_over_sqrt_hd(self):
        # hd = 4, one token: o = (q/2)·kᵀv.
        q = torch.ones(1, 1, 1, 4, dtype=torch.float64)
        o = mdl.gla_chunked(q, q, t([1.0, 2.0, 3.0, 4.0]).view(1, 1, 1, 4), torch.zeros_like(q))
        self.assertEqual(o.flatten().tolist(), [2.0, 4.0, 6.0, 8.0])

    def test_chunked_equals_recurrent(self):
        torch.manual_seed(4)
        for T, chunk in [(1, 16), (16, 16), (37, 16), (37, 5)]:
            q, k, v = (torch.randn(2, T, 3, 4, dtype=torch.float64) for _ in range(3))
            a = torch.randn(2, T, 3, 4, dtype=torch.float64) * 3
            a[:, T // 2:, 0] = -60.0  # steep decay: e^{-60/16·t} underflows in a factorised form
            want = mdl.gla_recurrent(q, k, v, a)
            got = mdl.gla_chunked(q, k, v, a, chunk)
            self.assertTrue(torch.allclose(got, want, atol=1e-10), (T, chunk))

    def test_block_output_gate_and_head_norm(self):
        # The block is Wo·(RMSNorm_head(o) ⊙ silu(g)): with Wo = I and the
        # gate weights zero, silu(0) = 0 silences it.
        blk = mdl.LinearAttn(4, 2, 2, 1e-5).double()
        for p in blk.parameters():
            torch.nn.init.normal_(p)
        x = torch.randn(1, 3, 4, dtype=torch.float64)
        with torch.no_grad():
            blk.wo.copy_(torch.eye(4, dtype=torch.float64))
            blk.wg.zero_()
        self.assertEqual(blk(x).abs().max().item(), 0.0)
        with torch.no_grad():
            blk.wg.copy_(torch.eye(4, dtype=torch.float64) * 50)  # silu(50 x) ≈ 50 x for x > 0
        B, T = 1, 3
        q, k, v, a = ((x @ w.T).view(B, T, 2, 2) for w in (blk.wq, blk.wk, blk.wv, blk.wa))
        o = mdl.rms_norm(mdl.gla_recurrent(q, k, v, a), blk.norm, 1e-5).reshape(B, T, 4)
        self.assertTrue(torch.allclose(blk(x), o * F.silu(50 * x)))


class SSMTest(unittest.TestCase):
    def test_scan_by_hand(self):
        # H = P = N = 1, A = -1, D = 0.1, dt = 0.5, B = 1, C = [1, 2], x = [1, 2]:
        # h1 = 0.5, y1 = 0.5 + 0.1 = 0.6; h2 = e^{-0.5}·0.5 + 0.5·2 = 0.5e^{-0.5} + 1, y2 = 2·h2 + 0.2.
        x = t([1.0, 2.0]).view(1, 2, 1, 1)
        Bm = t([1.0, 1.0]).view(1, 2, 1)
        Cm = t([1.0, 2.0]).view(1, 2, 1)
        dt = t([0.5, 0.5]).view(1, 2, 1)
        for f in (mdl.ssm_scan_recurrent, mdl.ssm_scan):
            y = f(x, Bm, Cm, dt, t([-1.0]), t([0.1])).flatten().tolist()
            self.assertAlmostEqual(y[0], 0.6, places=12)
            self.assertAlmostEqual(y[1], 2 * (0.5 * math.exp(-0.5) + 1) + 0.2, places=12)

    def test_scan_equals_recurrent(self):
        torch.manual_seed(5)
        T, H, P, N = 23, 3, 4, 5
        x = torch.randn(2, T, H, P, dtype=torch.float64)
        Bm, Cm = torch.randn(2, T, N, dtype=torch.float64), torch.randn(2, T, N, dtype=torch.float64)
        dt = F.softplus(torch.randn(2, T, H, dtype=torch.float64))
        A = -torch.exp(torch.randn(H, dtype=torch.float64) * 2)
        D = torch.randn(H, dtype=torch.float64)
        self.assertTrue(torch.allclose(mdl.ssm_scan(x, Bm, Cm, dt, A, D), mdl.ssm_scan_recurrent(x, Bm, Cm, dt, A, D),
                                       atol=1e-10))

    def test_block_split_order(self):
        # in_proj rows are [z (d_in) | x (d_in) | B (N) | C (N) | dt (H)]; with
        # everything but the x rows zero, B = C = 0 and y = D·x only.
        blk = mdl.SSM(2, 1, 2, 1, 1, 0.0).double()
        with torch.no_grad():
            blk.in_proj.zero_()
            blk.in_proj[0:2] = torch.eye(2, dtype=torch.float64) * 40  # z: silu(40x) ≈ 40x
            blk.in_proj[2:4] = torch.eye(2, dtype=torch.float64)  # x
            blk.conv.fill_(1.0)
            blk.conv_bias.zero_()
            blk.dt_bias.zero_()
            blk.a_log.zero_()
            blk.d.fill_(2.0)
            blk.norm.fill_(1.0)
            blk.out_proj.copy_(torch.eye(2, dtype=torch.float64))
        h = t([[[1.0, 2.0]]])
        xs = F.silu(h)  # conv with one tap of weight 1 and no bias, then silu
        y = 2.0 * xs * F.silu(40 * h)
        want = y / torch.sqrt(y.pow(2).mean(-1, keepdim=True))
        self.assertTrue(torch.allclose(blk(h), want, atol=1e-12))


class ModelTest(unittest.TestCase):
    def test_unknown_mixer_is_named(self):
        spec = {"vocab": 8, "hidden": 4, "tied_embeddings": True, "norm_eps": 1e-5,
                "layers": [{"mixer": "conv", "conv": {"kernel": 3}, "ffn": 0},
                           {"mixer": "deltanet", "deltanet": {}, "ffn": 0}]}
        with self.assertRaises(mdl.UnsupportedMixer) as cm:
            mdl.Model(spec)
        self.assertEqual(str(cm.exception), "layers[1].mixer: mixer 'deltanet' is not implemented by this evaluator")

    def test_tensor_names_follow_arch(self):
        spec = {"vocab": 8, "hidden": 4, "tied_embeddings": False, "norm_eps": 1e-5,
                "layers": [{"mixer": "gqa", "gqa": {"heads": 2, "kv_heads": 1, "head_dim": 2, "qk_norm": True,
                                                    "rope_theta": 1e4}, "ffn": 6},
                           {"mixer": "ssm", "ssm": {"heads": 2, "head_dim": 4, "state": 3, "expand": 2,
                                                    "conv_kernel": 4}, "ffn": 0}]}
        shapes = {k: list(v.shape) for k, v in mdl.Model(spec).tensors().items()}
        self.assertEqual(shapes, {
            "token_embd.weight": [8, 4],
            "blk.0.attn_norm.weight": [4], "blk.0.attn_q.weight": [4, 4], "blk.0.attn_k.weight": [2, 4],
            "blk.0.attn_v.weight": [2, 4], "blk.0.attn_q_norm.weight": [2], "blk.0.attn_k_norm.weight": [2],
            "blk.0.attn_output.weight": [4, 4], "blk.0.ffn_norm.weight": [4], "blk.0.ffn_gate.weight": [6, 4],
            "blk.0.ffn_up.weight": [6, 4], "blk.0.ffn_down.weight": [4, 6],
            "blk.1.attn_norm.weight": [4], "blk.1.ssm_in.weight": [2 * 8 + 2 * 3 + 2, 4],
            "blk.1.ssm_conv1d.weight": [8 + 6, 4], "blk.1.ssm_conv1d.bias": [14], "blk.1.ssm_dt.bias": [2],
            "blk.1.ssm_a": [2], "blk.1.ssm_d": [2], "blk.1.ssm_norm.weight": [8], "blk.1.ssm_out.weight": [4, 8],
            "output_norm.weight": [4], "output.weight": [8, 4]})
        self.assertEqual(sum(p.numel() for p in mdl.Model(spec).parameters()),
                         sum(math.prod(s) for s in shapes.values()))


if __name__ == "__main__":
    unittest.main()
