"""The PyTorch model against hilsearch's Go runtime on the same network.

testdata/hybrid.json has every mixer; testdata/hybrid_logits.json holds the
Go runtime's logits for it with the runtime's seeded weights (seed 7,
kernels/weights.go, reproduced bit for bit by runtime_weights below), made by

    go run ./evaluators/mqar/testdata/runtimelogits -spec evaluators/mqar/testdata/hybrid.json \
        -seed 7 -tokens 3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3,8,3,2,7,9,5,0,2,8,8,4,1,9,7 \
        > evaluators/mqar/testdata/hybrid_logits.json

When `go` is on PATH the test also runs that command and compares, so a
change of the runtime's block math fails here.
"""

import json
import math
import os
import shutil
import struct
import subprocess
import unittest

import torch

import model as mdl

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9, 5, 0, 2, 8, 8,
          4, 1, 9, 7]
SEED = 7


_M64 = (1 << 64) - 1


def _f32(x):
    """x rounded to float32 (one rounding of the exact float64 result of a
    float32 +, -, ×, / is the float32 result)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & _M64
    return h


def runtime_row(name, n, seed, row):
    """kernels/weights.go fillRow: splitmix64 seeded with seed ^ FNV-1a(name)
    ^ row·0x632be59bd9b4e019 (one output discarded), uniform u in [-1, 1)
    from the top 53 bits, every step in float32."""
    state = [(seed ^ _fnv1a64(name) ^ (row * 0x632BE59BD9B4E019)) & _M64]

    def nxt():
        state[0] = (state[0] + 0x9E3779B97F4A7C15) & _M64
        z = state[0]
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)

    nxt()

    def u():
        return _f32(_f32(float(nxt() >> 11)) / 2.0 ** 52 - 1)

    f = _f32
    if name in ("token_embd.weight", "output.weight"):
        return [f(f(1.7320508) * u()) for _ in range(n)]
    if name.endswith("conv1d.bias"):
        return [f(f(0.1) * u()) for _ in range(n)]
    if name.endswith("ssm_dt.bias"):
        out = []
        for _ in range(n):
            dt = f(f(0.01) + f(f(f(0.09) * f(u() + 1)) / 2))
            out.append(f(math.log(math.expm1(dt))))
        return out
    if name.endswith("ssm_a"):
        return [f(math.log(1 + 15 * f(u() + 1) / 2)) for _ in range(n)]
    if name.endswith("ssm_d"):
        return [f(1 + f(f(0.5) * u())) for _ in range(n)]
    if name.endswith("norm.weight"):
        return [f(1 + f(f(0.1) * u())) for _ in range(n)]
    a = f(f(1.7320508) / f(math.sqrt(n)))  # matrices and convolution kernels
    return [f(a * u()) for _ in range(n)]


@torch.no_grad()
def runtime_weights(net, seed):
    for name, p in net.tensors().items():
        n = p.shape[-1]
        rows = [runtime_row(name, n, seed, r) for r in range(p.numel() // n)]
        p.copy_(torch.tensor(rows, dtype=torch.float64).view(p.shape))


def _python_logits():
    with open(os.path.join(HERE, "testdata", "hybrid.json")) as f:
        spec = json.load(f)
    net = mdl.Model(spec).double()
    runtime_weights(net, SEED)
    with torch.no_grad():
        return net(torch.tensor([TOKENS]))[0]


class RuntimeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.py = _python_logits()

    def check(self, go):
        dec = torch.tensor(go["decode"], dtype=torch.float64)
        self.assertEqual(dec.shape, self.py.shape)
        scale = self.py.abs().max().item()
        # f32 runtime against a float64 model of f32 weights: differences are
        # rounding (a few 1e-6 of the logit scale); a block-math difference
        # is of the order of the logits themselves.
        err = (dec - self.py).abs().max().item()
        self.assertLess(err, 1e-4 * scale, f"decode logits differ by {err} (scale {scale})")
        pre = torch.tensor(go["prefill"], dtype=torch.float64)
        err = (pre - self.py[-1]).abs().max().item()
        self.assertLess(err, 1e-4 * scale, f"prefill logits differ by {err}")

    def test_matches_recorded_runtime(self):
        with open(os.path.join(HERE, "testdata", "hybrid_logits.json")) as f:
            self.check(json.load(f))

    def test_matches_live_runtime(self):
        root = os.path.dirname(os.path.dirname(HERE))
        if shutil.which("go") is None or not os.path.exists(os.path.join(root, "go.mod")):
            self.skipTest("go or the repository's go.mod not found")
        out = subprocess.run(["go", "run", "./evaluators/mqar/testdata/runtimelogits", "-spec",
                              "evaluators/mqar/testdata/hybrid.json", "-seed", str(SEED), "-tokens",
                              ",".join(map(str, TOKENS))], cwd=root, capture_output=True, text=True, timeout=600)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.check(json.loads(out.stdout))


if __name__ == "__main__":
    unittest.main()
