"""Multi-query associative recall (MQAR; Arora et al., "Zoology", 2023).

A sequence starts with N key-value pairs k1 v1 k2 v2 … kN vN (keys from the
lower half of the vocabulary, values from the upper half, all distinct within
a sequence). Each key then appears once more, at a later position; at that
position the model must predict the key's value. The query positions are
drawn without replacement with probability ∝ (g+1)^(a−1) over the even
offsets g of the remaining positions (a power law that favours queries close
to the pairs, as in Zoology's generator). Every other position holds a
uniformly random token and is not scored.
"""

import torch

IGNORE = -100


def check(seq_len, kv_pairs, vocab):
    """Errors (field, message) for an impossible task shape."""
    errs = []
    if kv_pairs < 1:
        errs.append(("kv_pairs", f"must be at least 1, got {kv_pairs}"))
    if seq_len < 4 * kv_pairs:
        errs.append(("seq_len", f"must be at least 4·kv_pairs = {4 * kv_pairs}, got {seq_len}"))
    if vocab // 2 - 1 < kv_pairs or vocab - vocab // 2 < kv_pairs:
        errs.append(("vocab", f"too small for {kv_pairs} distinct keys and values: {vocab}"))
    return errs


def batch(n, seq_len, kv_pairs, vocab, power_a, generator):
    """n sequences: (inputs [n, seq_len], targets [n, seq_len]) where targets
    hold the value at each query position and IGNORE elsewhere."""
    half = vocab // 2
    keys = torch.rand(n, half - 1, generator=generator).argsort(dim=1)[:, :kv_pairs] + 1
    values = torch.rand(n, vocab - half, generator=generator).argsort(dim=1)[:, :kv_pairs] + half
    inputs = torch.randint(0, vocab, (n, seq_len), generator=generator)
    inputs[:, 0:2 * kv_pairs:2] = keys
    inputs[:, 1:2 * kv_pairs:2] = values
    slots = (seq_len - 2 * kv_pairs) // 2
    p = (torch.arange(slots, dtype=torch.float64) + 1) ** (power_a - 1)
    gaps = torch.multinomial(p.expand(n, slots), kv_pairs, replacement=False, generator=generator)
    qpos = 2 * kv_pairs + 2 * gaps
    inputs.scatter_(1, qpos, keys)
    targets = torch.full((n, seq_len), IGNORE, dtype=torch.long)
    targets.scatter_(1, qpos, values)
    return inputs, targets
