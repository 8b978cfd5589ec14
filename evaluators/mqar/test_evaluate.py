"""Settings, the narrow copy, the MQAR data and a tiny training run."""

import importlib.util
import os
import unittest

import torch

import evaluate
import model
import task

TINY = {"width_factor": 0.25, "vocab": 16, "seq_len": 16, "kv_pairs": 2, "steps": 60, "batch_size": 16,
        "warmup_steps": 5, "eval_examples": 64, "curve_points": 6, "threads": 1, "lr": 1e-2}


def lfm2_350m():
    """LFM2-350M's layout (conv layers and GQA at 2, 5, 8, 10, 12, 14)."""
    layers = []
    for i in range(16):
        if i in (2, 5, 8, 10, 12, 14):
            layers.append({"mixer": "gqa", "gqa": {"heads": 16, "kv_heads": 8, "head_dim": 64, "qk_norm": True,
                                                   "rope_theta": 1e6}, "ffn": 4608})
        else:
            layers.append({"mixer": "conv", "conv": {"kernel": 3}, "ffn": 4608})
    return {"name": "lfm2-350m", "vocab": 65536, "hidden": 1024, "tied_embeddings": True, "norm_eps": 1e-5,
            "max_context": 128000, "layers": layers}


class SettingsTest(unittest.TestCase):
    def test_defaults_and_overrides(self):
        s = evaluate.resolve_settings({"steps": 10, "lr": 1})
        self.assertEqual((s["steps"], s["lr"], s["seq_len"]), (10, 1.0, evaluate.DEFAULTS["seq_len"]))
        self.assertEqual(evaluate.resolve_settings(None), evaluate.DEFAULTS)

    def test_every_problem_is_named(self):
        with self.assertRaises(evaluate.SettingsError) as cm:
            evaluate.resolve_settings({"steps": 1.5, "width_factor": 2, "colour": 1, "threads": True,
                                       "seq_len": 16, "kv_pairs": 8})
        msg = str(cm.exception)
        for part in ["settings.steps: expected an integer, got 1.5", "settings.width_factor: must be in",
                     "settings.colour: unknown setting", "settings.threads: expected an integer, got True",
                     "settings.seq_len: must be at least 4·kv_pairs = 32, got 16"]:
            self.assertIn(part, msg)
        with self.assertRaises(evaluate.SettingsError):
            evaluate.resolve_settings([1])


class NarrowTest(unittest.TestCase):
    def test_lfm2_350m_at_one_sixteenth(self):
        s = evaluate.resolve_settings({"width_factor": 1 / 16})
        n = evaluate.narrow(lfm2_350m(), s)
        self.assertEqual(n["hidden"], 64)
        self.assertEqual(n["vocab"], s["vocab"])
        self.assertEqual(n["max_context"], s["seq_len"])
        self.assertEqual([layer["mixer"] for layer in n["layers"]], [layer["mixer"] for layer in lfm2_350m()["layers"]])
        # heads·head_dim = 1024/16 = 64 with head_dim max(16, 64/16) = 16: 4 heads, kv in the ratio 2:1.
        self.assertEqual(n["layers"][2]["gqa"], {"heads": 4, "kv_heads": 2, "head_dim": 16, "qk_norm": True,
                                                 "rope_theta": 1e6})
        self.assertEqual(n["layers"][0], {"mixer": "conv", "conv": {"kernel": 3}, "ffn": 288})  # 4608/16

    def test_every_mixer(self):
        spec = {"vocab": 1000, "hidden": 768, "tied_embeddings": False, "norm_eps": 1e-6, "max_context": 4096,
                "layers": [
                    {"mixer": "swa", "swa": {"heads": 12, "kv_heads": 4, "head_dim": 64, "qk_norm": False,
                                             "rope_theta": 1e4, "window": 512}, "ffn": 0},
                    {"mixer": "linear_attn", "linear_attn": {"heads": 6, "head_dim": 128}, "ffn": 2048},
                    {"mixer": "ssm", "ssm": {"heads": 24, "head_dim": 64, "state": 64, "expand": 2,
                                             "conv_kernel": 4}, "ffn": 2304}]}
        n = evaluate.narrow(spec, evaluate.resolve_settings({"width_factor": 0.125}))
        self.assertEqual(n["hidden"], 96)
        self.assertFalse(n["tied_embeddings"])
        # swa: 12·64/8 = 96 wide, head_dim 16 → 6 heads; kv ratio 3 → 2 kv heads; window kept.
        self.assertEqual(n["layers"][0]["swa"], {"heads": 6, "kv_heads": 2, "head_dim": 16, "qk_norm": False,
                                                 "rope_theta": 1e4, "window": 512})
        self.assertEqual(n["layers"][0]["ffn"], 0)
        # linear_attn: 6·128/8 = 96 wide, head_dim 16 → 6 heads.
        self.assertEqual(n["layers"][1], {"mixer": "linear_attn", "linear_attn": {"heads": 6, "head_dim": 16},
                                          "ffn": 256})
        # ssm: d_in = 2·96 = 192, head dim 16 divides it → 12 heads; state and kernel kept.
        self.assertEqual(n["layers"][2]["ssm"], {"heads": 12, "head_dim": 16, "state": 64, "expand": 2,
                                                 "conv_kernel": 4})
        self.assertEqual(evaluate.spec_errors(n), [])


class ExperimentSpecTest(unittest.TestCase):
    def test_layouts_are_valid_and_build(self):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")
        spec = importlib.util.spec_from_file_location("mqar_main", path)
        main = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(main)
        s = evaluate.resolve_settings({})
        for layout in ["gqa", "conv", "swa", "linear_attn", "ssm", "conv/gqa"]:
            arch = main.experiment_spec(layout, 4)
            self.assertEqual(evaluate.spec_errors(arch), [], layout)
            self.assertEqual(len(arch["layers"]), 4)
            model.Model(evaluate.narrow(arch, s))
        self.assertEqual([la["mixer"] for la in main.experiment_spec("conv/gqa", 4)["layers"]],
                         ["conv", "gqa", "conv", "gqa"])


class TaskTest(unittest.TestCase):
    def test_batch_structure(self):
        g = torch.Generator().manual_seed(0)
        x, y = task.batch(50, 32, 4, 64, 0.01, g)
        self.assertEqual(x.shape, (50, 32))
        for i in range(50):
            keys, vals = x[i, 0:8:2].tolist(), x[i, 1:8:2].tolist()
            self.assertTrue(all(1 <= k < 32 for k in keys) and len(set(keys)) == 4)
            self.assertTrue(all(32 <= v < 64 for v in vals) and len(set(vals)) == 4)
            q = (y[i] != task.IGNORE).nonzero().flatten().tolist()
            self.assertEqual(len(q), 4)
            self.assertTrue(all(p >= 8 and p % 2 == 0 for p in q))
            for p in q:  # the query is a key, the target its value
                self.assertEqual(y[i, p].item(), vals[keys.index(x[i, p].item())])
            self.assertTrue((y[i, :8] == task.IGNORE).all())

    def test_power_law_favours_short_gaps(self):
        g = torch.Generator().manual_seed(1)
        _, y = task.batch(2000, 64, 4, 128, 0.01, g)
        pos = (y != task.IGNORE).nonzero()[:, 1]
        first, last = (pos < 16).sum().item(), (pos >= 56).sum().item()
        self.assertGreater(first, 3 * last)


class TrainingTest(unittest.TestCase):
    def spec(self, mixer):
        block = {"conv": {"kernel": 3}} if mixer == "conv" else \
            {"gqa": {"heads": 4, "kv_heads": 2, "head_dim": 16, "qk_norm": True, "rope_theta": 1e6}}
        return {"vocab": 64, "hidden": 128, "tied_embeddings": True, "norm_eps": 1e-5, "max_context": 64,
                "layers": [dict(mixer=mixer, ffn=128, **block) for _ in range(2)]}

    def test_tiny_training_learns_and_is_deterministic(self):
        s = evaluate.resolve_settings(TINY)
        a = evaluate.evaluate(self.spec("gqa"), s, seed=5)
        curve = a["curves"]["train_loss"]["y"]
        self.assertEqual(len(curve), 6)
        # Chance is ln(16) = 2.77 nats over the whole vocabulary; the model must
        # at least learn that answers are values (ln 8 = 2.08).
        self.assertGreater(curve[0], 2.3)
        self.assertLess(a["details"]["final_train_loss"], 2.0)
        self.assertLess(a["scores"]["mqar_loss"], 2.0)
        b = evaluate.evaluate(self.spec("gqa"), s, seed=5)
        self.assertEqual(a["scores"], b["scores"])
        c = evaluate.evaluate(self.spec("gqa"), s, seed=6)
        self.assertNotEqual(a["scores"]["mqar_loss"], c["scores"]["mqar_loss"])
        self.assertEqual(a["details"]["narrow_spec"]["hidden"], 32)

    def test_deadline_stops_training(self):
        s = evaluate.resolve_settings(TINY)
        calls = []
        with self.assertRaises(evaluate.Deadline):
            evaluate.evaluate(self.spec("conv"), s, 0, should_stop=lambda: calls.append(1) or len(calls) > 3)
        self.assertEqual(len(calls), 4)


if __name__ == "__main__":
    unittest.main()
