"""One evaluation: the narrow copy of a candidate, trained on MQAR.

evaluate(spec, settings, seed) builds the candidate's narrow copy (narrow),
trains it for a fixed number of steps on freshly drawn MQAR batches and
measures recall on a held-out set drawn from another stream of the same
seed. It is deterministic for a given (spec, settings, seed, thread count,
PyTorch build).
"""

import math
import os
import time

import torch
import torch.nn.functional as F

import model as mdl
import task
import weights

VERSION = "1.0.0"

# The reference settings (docs/evaluators.md §7-8): one evaluation of a
# 4-layer candidate trains 800 steps of 32 sequences on one CPU thread.
DEFAULTS = {
    "width_factor": 0.125,   # hidden, FFN and attention widths are scaled by this
    "min_head_dim": 16,      # narrow heads keep at least this width (or their own, if smaller)
    "vocab": 64,             # task vocabulary (keys: lower half, values: upper half)
    "seq_len": 32,
    "kv_pairs": 4,
    "power_a": 0.01,         # query-gap power law
    "steps": 800,
    "batch_size": 32,
    "lr": 5e-3,
    "weight_decay": 0.1,
    "warmup_steps": 50,
    "eval_examples": 512,
    "curve_points": 20,      # points of the training-loss curve
    "threads": 1,            # torch threads (1: deterministic, leaves the other cores alone); 0 = PyTorch's default
}

_INT = {"min_head_dim": (1, 1024), "vocab": (8, 65536), "seq_len": (8, 4096), "kv_pairs": (1, 1024),
        "steps": (1, 1_000_000), "batch_size": (1, 4096), "warmup_steps": (0, 1_000_000),
        "eval_examples": (1, 1_000_000), "curve_points": (0, 10_000), "threads": (0, 1024)}
_FLOAT = {"width_factor": (1e-4, 1.0), "power_a": (1e-6, 1.0), "lr": (1e-7, 1.0), "weight_decay": (0.0, 10.0)}


class SettingsError(ValueError):
    """Settings a job cannot run with; .errors lists (field, message)."""

    def __init__(self, errors):
        super().__init__("; ".join(f"settings.{f}: {m}" for f, m in errors))
        self.errors = errors


def resolve_settings(given):
    """The defaults overridden by `given` (a dict), checked: unknown fields,
    wrong types and out-of-range values are SettingsError."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise SettingsError([("", "must be a JSON object")])
    s = dict(DEFAULTS)
    errs = []
    for k, v in given.items():
        if k in _INT:
            lo, hi = _INT[k]
            if isinstance(v, bool) or not isinstance(v, int):
                errs.append((k, f"expected an integer, got {v!r}"))
            elif not lo <= v <= hi:
                errs.append((k, f"must be in [{lo}, {hi}], got {v}"))
            else:
                s[k] = v
        elif k in _FLOAT:
            lo, hi = _FLOAT[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                errs.append((k, f"expected a number, got {v!r}"))
            elif not lo <= v <= hi:
                errs.append((k, f"must be in [{lo}, {hi}], got {v}"))
            else:
                s[k] = float(v)
        else:
            errs.append((k, "unknown setting"))
    errs += task.check(s["seq_len"], s["kv_pairs"], s["vocab"])
    if errs:
        raise SettingsError(errs)
    return s


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def spec_errors(spec):
    """Checks the fields of an arch.Spec (dict) this evaluator reads and
    returns "path: message" errors. A mixer it does not implement raises
    model.UnsupportedMixer first, naming the layer and the mixer. (The
    coordinator sends specs arch.Validate accepted; this guards the worker
    against anything else.)"""
    if not isinstance(spec, dict):
        return ["arch: must be a JSON object"]
    layers = spec.get("layers")
    if not isinstance(layers, list) or not 1 <= len(layers) <= 512:
        return ["arch.layers: must be a list of 1 to 512 layers"]
    for i, layer in enumerate(layers):
        m = layer.get("mixer") if isinstance(layer, dict) else None
        if m not in mdl.MIXERS:
            raise mdl.UnsupportedMixer(m, i)
    errs = []
    if not _is_int(spec.get("hidden")) or not 1 <= spec["hidden"] <= 32768:
        errs.append("arch.hidden: must be an integer in [1, 32768]")
    eps = spec.get("norm_eps")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= 0.1:
        errs.append("arch.norm_eps: must be a number in (0, 0.1]")
    if not isinstance(spec.get("tied_embeddings"), bool):
        errs.append("arch.tied_embeddings: must be true or false")

    def ints(path, block, names, lo=1, hi=1024):
        for n in names:
            v = block.get(n)
            if not _is_int(v) or not lo <= v <= hi:
                errs.append(f"{path}.{n}: must be an integer in [{lo}, {hi}]")
                return False
        return True

    for i, layer in enumerate(layers):
        m, p = layer["mixer"], f"arch.layers[{i}]"
        if not _is_int(layer.get("ffn", 0)) or layer.get("ffn", 0) < 0:
            errs.append(f"{p}.ffn: must be a non-negative integer")
        b = layer.get(m)
        if not isinstance(b, dict):
            errs.append(f"{p}.{m}: missing (mixer is {m})")
            continue
        if m == "conv":
            ints(f"{p}.conv", b, ["kernel"], 1, 64)
        elif m in ("gqa", "swa"):
            if ints(f"{p}.{m}", b, ["heads", "kv_heads", "head_dim"]):
                if b["heads"] % b["kv_heads"]:
                    errs.append(f"{p}.{m}.kv_heads: {b['kv_heads']} does not divide heads {b['heads']}")
                if b["head_dim"] % 2:
                    errs.append(f"{p}.{m}.head_dim: must be even (RoPE), got {b['head_dim']}")
            t = b.get("rope_theta")
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
                errs.append(f"{p}.{m}.rope_theta: must be a positive number")
            if not isinstance(b.get("qk_norm", False), bool):
                errs.append(f"{p}.{m}.qk_norm: must be true or false")
            if m == "swa":
                ints(f"{p}.swa", b, ["window"], 1, 1 << 20)
        elif m == "linear_attn":
            ints(f"{p}.linear_attn", b, ["heads", "head_dim"])
        elif m == "ssm":
            if ints(f"{p}.ssm", b, ["heads", "head_dim", "state", "expand", "conv_kernel"]) and \
                    _is_int(spec.get("hidden")) and b["heads"] * b["head_dim"] != b["expand"] * spec["hidden"]:
                errs.append(f"{p}.ssm: heads·head_dim must equal expand·hidden")
    return errs


def _round_to(x, m):
    return max(m, m * round(x / m))


def _heads(heads, head_dim, f, min_hd):
    """Narrow (heads, head_dim): the head width shrinks by f down to min_hd
    (never grows, kept even), and the head count keeps heads·head_dim ≈ f×."""
    hd = min(head_dim, max(min_hd, head_dim * f))
    hd = max(2, 2 * round(hd / 2)) if head_dim % 2 == 0 else max(1, round(hd))
    h = max(1, round(heads * head_dim * f / hd))
    return h, hd


def narrow(spec, s):
    """The narrow copy of an arch.Spec (dict) under settings s: the same
    layers in the same order with the same mixers and kernel sizes, windows,
    QK-norm, RoPE base, SSM state size and expansion; widths scaled by
    width_factor f:

    - hidden d' = max(8, 8·round(f·d/8)); FFN F' = 0 if F = 0 else max(8, 8·round(f·F/8));
    - gqa/swa/linear_attn: head_dim' = min(hd, max(min_head_dim, f·hd)) (even for
      attention), heads' = max(1, round(f·H·hd/head_dim')); kv_heads' the divisor of
      heads' nearest below heads'·G/H (at least 1);
    - ssm: d_in' = expand·d'; head_dim' the largest divisor of d_in' ≤ min(P, max(min_head_dim, f·P));
      heads' = d_in'/head_dim';
    - vocab = the task's vocabulary, max_context = seq_len.

    The result is itself a valid arch.Spec (for the mixers arch knows)."""
    f, mh = s["width_factor"], s["min_head_dim"]
    d = _round_to(spec["hidden"] * f, 8)
    layers = []
    for layer in spec["layers"]:
        m = layer.get("mixer")
        out = {"mixer": m}
        ffn = layer.get("ffn", 0)
        out["ffn"] = 0 if ffn == 0 else _round_to(ffn * f, 8)
        if m == "conv":
            out["conv"] = dict(layer["conv"])
        elif m in ("gqa", "swa"):
            a = dict(layer[m])
            h, hd = _heads(a["heads"], a["head_dim"], f, mh)
            g = max(1, min(h, round(h * a["kv_heads"] / a["heads"])))
            while h % g:
                g -= 1
            a.update(heads=h, kv_heads=g, head_dim=hd)
            out[m] = a
        elif m == "linear_attn":
            a = layer["linear_attn"]
            h, hd = _heads(a["heads"], a["head_dim"], f, mh)
            if a["head_dim"] % 2:
                hd = max(1, round(min(a["head_dim"], max(mh, a["head_dim"] * f))))
            out["linear_attn"] = {"heads": h, "head_dim": hd}
        elif m == "ssm":
            sm = dict(layer["ssm"])
            din = sm["expand"] * d
            target = max(1, int(min(sm["head_dim"], max(mh, sm["head_dim"] * f))))
            p = max(q for q in range(1, target + 1) if din % q == 0)
            sm.update(heads=din // p, head_dim=p)
            out["ssm"] = sm
        else:
            out[m] = layer.get(m)
        layers.append(out)
    return {"name": (spec.get("name") or "candidate") + f"-narrow-{f:g}", "vocab": s["vocab"], "hidden": d,
            "tied_embeddings": bool(spec.get("tied_embeddings", True)), "norm_eps": spec["norm_eps"],
            "max_context": s["seq_len"], "layers": layers}


class InvalidSpec(ValueError):
    """The arch spec lacks fields this evaluator needs; .errors lists them."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


class Deadline(Exception):
    """The job's deadline or a cancellation stopped training."""


def _loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=task.IGNORE)


@torch.no_grad()
def _recall(net, inputs, targets, batch_size):
    net.eval()
    correct = total = 0
    loss_sum = 0.0
    for i in range(0, inputs.shape[0], batch_size):
        x, y = inputs[i:i + batch_size], targets[i:i + batch_size]
        logits = net(x)
        m = y != task.IGNORE
        correct += (logits.argmax(-1)[m] == y[m]).sum().item()
        n = m.sum().item()
        loss_sum += _loss(logits, y).item() * n
        total += n
    net.train()
    return correct / total, loss_sum / total


def evaluate(spec, settings, seed, should_stop=None):
    """Trains the narrow copy of spec (a dict) and returns the answer's
    parts: {"scores", "curves", "details"}. settings must come from
    resolve_settings. Raises model.UnsupportedMixer for a mixer it lacks and
    Deadline when should_stop() turns true (checked every step)."""
    s = settings
    errs = spec_errors(spec)
    if errs:
        raise InvalidSpec(errs)
    nspec = narrow(spec, s)
    if s["threads"]:
        torch.set_num_threads(s["threads"])
    started = time.monotonic()
    gen = torch.Generator().manual_seed(seed)
    eval_gen = torch.Generator().manual_seed((seed * 0x9E3779B97F4A7C15 + 1) % (1 << 63))
    net = mdl.Model(nspec)
    weights.init_for_training(net, gen, len(nspec["layers"]))
    params = sum(p.numel() for p in net.parameters())
    decay = [p for p in net.parameters() if p.dim() >= 2]
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": s["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=s["lr"], betas=(0.9, 0.98))
    steps, warm = s["steps"], min(s["warmup_steps"], s["steps"])

    def lr_at(step):  # linear warm-up, then cosine decay to 10 %
        if step < warm:
            return s["lr"] * (step + 1) / warm
        p = (step - warm) / max(1, steps - warm)
        return s["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    every = max(1, steps // s["curve_points"]) if s["curve_points"] else 0
    curve_x, curve_y, acc = [], [], []
    last = []
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise Deadline(f"stopped at step {step} of {steps}")
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = task.batch(s["batch_size"], s["seq_len"], s["kv_pairs"], s["vocab"], s["power_a"], gen)
        loss = _loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        v = loss.item()
        if not math.isfinite(v):
            raise FloatingPointError(f"training loss is {v} at step {step}")
        acc.append(v)
        last.append(v)
        last = last[-max(1, steps // 20):]
        if every and ((step + 1) % every == 0 or step + 1 == steps):
            curve_x.append(step + 1)
            curve_y.append(sum(acc) / len(acc))
            acc = []
    train_s = time.monotonic() - started
    ex, ey = task.batch(s["eval_examples"], s["seq_len"], s["kv_pairs"], s["vocab"], s["power_a"], eval_gen)
    accuracy, eval_loss = _recall(net, ex, ey, 64)
    curves = {}
    if every:
        curves["train_loss"] = {"x_label": "step", "x": curve_x, "y": curve_y}
    return {
        "scores": {"mqar_accuracy": accuracy, "mqar_loss": eval_loss},
        "curves": curves,
        "details": {
            "narrow_spec": nspec,
            "narrow_params": params,
            "settings": s,
            "final_train_loss": sum(last) / len(last),
            "train_seconds": round(train_s, 3),
            "eval_seconds": round(time.monotonic() - started - train_s, 3),
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
        },
    }
